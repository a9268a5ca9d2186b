// The README's main job compiles examples/sample_nsa.mlir; keep it working.
// RUN: nsa-opt %nsa_src_root/examples/sample_nsa.mlir --nsa-decompose | FileCheck %s

// CHECK-LABEL: func.func @nsa_layer
// CHECK-NOT: nsa.attention
// CHECK: nsa.compress
// CHECK: nsa.compressed_attention
// CHECK: nsa.compressed_probs
// CHECK: nsa.select {{.*}} -> tensor<?x?x4x16xi32>
// CHECK: nsa.selected_attention
// CHECK: nsa.window
// CHECK: nsa.combine
