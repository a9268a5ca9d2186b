// A module without nsa ops goes through --nsa-to-nvvm unchanged (the
// default #nsa.target is still built), and the exporter refuses it cleanly.
// RUN: nsa-opt %s --nsa-to-nvvm | FileCheck %s
// RUN: not nsa-opt %s --nsa-to-nvvm --nsa-export-bundle=dir=%t.nsab -o /dev/null 2>&1 | FileCheck %s --check-prefix=EXPORT

// CHECK: func.func @identity(%{{.*}}: memref<?x?x8x64xf32>) -> memref<?x?x8x64xf32>
// EXPORT: error: expected one gpu.module (run nsa-merge-gpu-modules), found 0
func.func @identity(%q: tensor<?x?x8x64xf32>) -> tensor<?x?x8x64xf32> {
  return %q : tensor<?x?x8x64xf32>
}
