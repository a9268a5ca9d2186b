// RUN: nsa-opt %s --nsa-tile --nsa-fuse-gqa-group --nsa-fuse-combine -split-input-file | FileCheck %s

// nsa-fuse-combine moves nsa.combine into the window's tile loop: the loop
// stores nsa.combine_tile of its finalized tile and the slices, at the same
// rows and heads, of the compressed and selected outputs and of the gates,
// into a fresh tensor that replaces the combine's result. The window output
// itself is never materialized.

#cfg = #nsa.config<cmp_block = 8, cmp_stride = 8, slc_block = 8, top_n = 4, window = 16>
module attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 32>} {
// CHECK-LABEL: func @fused_into_window
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<1x64x4x16xbf16>, %[[K:[a-z0-9_]+]]: tensor<1x64x2x16xbf16>, %[[V:[a-z0-9_]+]]: tensor<1x64x2x8xbf16>, %[[C:[a-z0-9_]+]]: tensor<1x64x4x8xbf16>, %[[S:[a-z0-9_]+]]: tensor<1x64x4x8xbf16>, %[[G:[a-z0-9_]+]]: tensor<1x64x4x3xbf16>)
// CHECK: %[[INIT:[a-z0-9_]+]] = tensor.empty() : tensor<1x64x4x8xbf16>
// CHECK: %[[LOOP:[a-z0-9_]+]]:2 = scf.forall (%[[B:[a-z0-9_]+]], %{{.*}}, %{{.*}}) in {{.*}} shared_outs(%[[OUT:[a-z0-9_]+]] = %[[INIT]], %{{.*}} = %{{.*}})
// CHECK: nsa.attend_tile
// CHECK-SAME: window = 16
// CHECK: %[[TILE:[a-z0-9_]+]], %[[LSE:[a-z0-9_]+]] = nsa.finalize_tile %{{.*}} to bf16 :
// CHECK-NEXT: %[[CT:[a-z0-9_]+]] = tensor.extract_slice %[[C]][%[[B]], %[[T:[a-z0-9_]+]], %[[H:[a-z0-9_]+]], 0] [1, %[[R:[a-z0-9_]+]], 2, 8] [1, 1, 1, 1] : tensor<1x64x4x8xbf16> to tensor<?x2x8xbf16>
// CHECK-NEXT: %[[ST:[a-z0-9_]+]] = tensor.extract_slice %[[S]][%[[B]], %[[T]], %[[H]], 0] [1, %[[R]], 2, 8] [1, 1, 1, 1] : tensor<1x64x4x8xbf16> to tensor<?x2x8xbf16>
// CHECK-NEXT: %[[GT:[a-z0-9_]+]] = tensor.extract_slice %[[G]][%[[B]], %[[T]], %[[H]], 0] [1, %[[R]], 2, 3] [1, 1, 1, 1] : tensor<1x64x4x3xbf16> to tensor<?x2x3xbf16>
// CHECK-NEXT: %[[COMBINED:[a-z0-9_]+]] = nsa.combine_tile %[[CT]], %[[ST]], %[[TILE]], %[[GT]] : tensor<?x2x8xbf16>, tensor<?x2x8xbf16>, tensor<?x2x8xbf16>, tensor<?x2x3xbf16>
// CHECK-NEXT: scf.forall.in_parallel {
// CHECK-NEXT: tensor.parallel_insert_slice %[[COMBINED]] into %[[OUT]][%[[B]], %[[T]], %[[H]], 0] [1, %[[R]], 2, 8]
// CHECK-NEXT: tensor.parallel_insert_slice %[[LSE]]
// CHECK: return %[[LOOP]]#0, %[[LOOP]]#1
// CHECK-NOT: nsa.combine
func.func @fused_into_window(%q: tensor<1x64x4x16xbf16>, %k: tensor<1x64x2x16xbf16>, %v: tensor<1x64x2x8xbf16>,
                             %c: tensor<1x64x4x8xbf16>, %s: tensor<1x64x4x8xbf16>, %g: tensor<1x64x4x3xbf16>)
    -> (tensor<1x64x4x8xbf16>, tensor<1x64x4xf32>) {
  %w, %lw = nsa.window %q, %k, %v {config = #cfg}
      : tensor<1x64x4x16xbf16>, tensor<1x64x2x16xbf16>, tensor<1x64x2x8xbf16> -> tensor<1x64x4x8xbf16>, tensor<1x64x4xf32>
  %o = nsa.combine %c, %s, %w, %g : tensor<1x64x4x8xbf16>, tensor<1x64x4x8xbf16>, tensor<1x64x4x8xbf16>, tensor<1x64x4x3xbf16> -> tensor<1x64x4x8xbf16>
  return %o, %lw : tensor<1x64x4x8xbf16>, tensor<1x64x4xf32>
}
}

// -----

// The window output is also returned: it must be materialized, so the
// compressed loop takes the combine (its loop comes after the other
// operands here), as branch operand 0.

#cfg = #nsa.config<cmp_block = 8, cmp_stride = 8, slc_block = 8, top_n = 4, window = 16>
module attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 32>} {
// CHECK-LABEL: func @window_output_used_twice
// CHECK-SAME: %{{[a-z0-9_]+}}: tensor<1x64x4x8xbf16>, %[[W:[a-z0-9_]+]]: tensor<1x64x4x8xbf16>, %{{[a-z0-9_]+}}: tensor<1x64x4x3xbf16>)
// CHECK: nsa.attend_tile
// CHECK-SAME: key_offset = 7 : i64, key_stride = 8 : i64
// CHECK: %[[TILE:[a-z0-9_]+]], %{{.*}} = nsa.finalize_tile
// CHECK: %[[WT:[a-z0-9_]+]] = tensor.extract_slice %[[W]]
// CHECK: nsa.combine_tile %[[TILE]], %{{.*}}, %[[WT]], %{{.*}} :
// CHECK-NOT: nsa.combine
func.func @window_output_used_twice(%q: tensor<1x64x4x16xbf16>, %kc: tensor<1x8x2x16xbf16>, %vc: tensor<1x8x2x8xbf16>,
                                    %s: tensor<1x64x4x8xbf16>, %w: tensor<1x64x4x8xbf16>, %g: tensor<1x64x4x3xbf16>)
    -> (tensor<1x64x4x8xbf16>, tensor<1x64x4x8xbf16>) {
  %c, %lc = nsa.compressed_attention %q, %kc, %vc {config = #cfg}
      : tensor<1x64x4x16xbf16>, tensor<1x8x2x16xbf16>, tensor<1x8x2x8xbf16> -> tensor<1x64x4x8xbf16>, tensor<1x64x4xf32>
  %o = nsa.combine %c, %s, %w, %g : tensor<1x64x4x8xbf16>, tensor<1x64x4x8xbf16>, tensor<1x64x4x8xbf16>, tensor<1x64x4x3xbf16> -> tensor<1x64x4x8xbf16>
  return %o, %w : tensor<1x64x4x8xbf16>, tensor<1x64x4x8xbf16>
}
}

// -----

// No loop qualifies: the window output has a second use, and the compressed
// loop runs before the window output exists. The combine stays.

#cfg = #nsa.config<cmp_block = 8, cmp_stride = 8, slc_block = 8, top_n = 4, window = 16>
module attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 32>} {
// CHECK-LABEL: func @not_fused
// CHECK: nsa.combine %{{.*}} -> tensor<1x64x4x8xbf16>
// CHECK-NOT: nsa.combine_tile
func.func @not_fused(%q: tensor<1x64x4x16xbf16>, %k: tensor<1x64x2x16xbf16>, %v: tensor<1x64x2x8xbf16>,
                     %kc: tensor<1x8x2x16xbf16>, %vc: tensor<1x8x2x8xbf16>,
                     %s: tensor<1x64x4x8xbf16>, %g: tensor<1x64x4x3xbf16>)
    -> (tensor<1x64x4x8xbf16>, tensor<1x64x4x8xbf16>) {
  %c, %lc = nsa.compressed_attention %q, %kc, %vc {config = #cfg}
      : tensor<1x64x4x16xbf16>, tensor<1x8x2x16xbf16>, tensor<1x8x2x8xbf16> -> tensor<1x64x4x8xbf16>, tensor<1x64x4xf32>
  %w, %lw = nsa.window %q, %k, %v {config = #cfg}
      : tensor<1x64x4x16xbf16>, tensor<1x64x2x16xbf16>, tensor<1x64x2x8xbf16> -> tensor<1x64x4x8xbf16>, tensor<1x64x4xf32>
  %o = nsa.combine %c, %s, %w, %g : tensor<1x64x4x8xbf16>, tensor<1x64x4x8xbf16>, tensor<1x64x4x8xbf16>, tensor<1x64x4x3xbf16> -> tensor<1x64x4x8xbf16>
  return %o, %w : tensor<1x64x4x8xbf16>, tensor<1x64x4x8xbf16>
}
}
