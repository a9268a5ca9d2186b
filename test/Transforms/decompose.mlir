// RUN: nsa-opt %s --nsa-decompose --split-input-file | FileCheck %s

// Static shapes: the compressed block count is static in the intermediate
// types (T = 100, l = 32, d = 16: 5 blocks), every branch reads the shared
// k and v, and the composite's results are the combine and the three lse.

// CHECK-LABEL: func @shared_kv_static
// CHECK-SAME: (%[[Q:.*]]: tensor<2x100x8x64xf32>, %[[K:.*]]: tensor<2x100x2x64xf32>, %[[V:.*]]: tensor<2x100x2x32xf32>, %[[G:.*]]: tensor<2x100x8x3xf32>)
// CHECK-NOT: nsa.attention
// CHECK: %[[KC:.*]], %[[VC:.*]] = nsa.compress %[[K]], %[[V]] {config = #nsa.config<>} : tensor<2x100x2x64xf32>, tensor<2x100x2x32xf32> -> tensor<2x5x2x64xf32>, tensor<2x5x2x32xf32>
// CHECK: %[[OC:.*]], %[[LC:.*]] = nsa.compressed_attention %[[Q]], %[[KC]], %[[VC]] {config = #nsa.config<>} {{.*}} -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
// CHECK: %[[P:.*]] = nsa.compressed_probs %[[Q]], %[[KC]], %[[LC]] {config = #nsa.config<>} {{.*}} -> tensor<2x100x8x5xf32>
// CHECK: %[[I:.*]] = nsa.select %[[P]] {config = #nsa.config<>} : tensor<2x100x8x5xf32> -> tensor<2x100x2x16xi32>
// CHECK: %[[OS:.*]], %[[LS:.*]] = nsa.selected_attention %[[Q]], %[[K]], %[[V]], %[[I]]
// CHECK: %[[OW:.*]], %[[LW:.*]] = nsa.window %[[Q]], %[[K]], %[[V]]
// CHECK: %[[O:.*]] = nsa.combine %[[OC]], %[[OS]], %[[OW]], %[[G]]
// CHECK: return %[[O]], %[[LC]], %[[LS]], %[[LW]]
func.func @shared_kv_static(%q: tensor<2x100x8x64xf32>, %k: tensor<2x100x2x64xf32>,
                            %v: tensor<2x100x2x32xf32>, %g: tensor<2x100x8x3xf32>)
    -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>, tensor<2x100x8xf32>, tensor<2x100x8xf32>) {
  %o:4 = nsa.attention %q, keys(%k) values(%v) gates(%g) {config = #nsa.config<>}
      : (tensor<2x100x8x64xf32>, tensor<2x100x2x64xf32>, tensor<2x100x2x32xf32>, tensor<2x100x8x3xf32>)
      -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>, tensor<2x100x8xf32>, tensor<2x100x8xf32>)
  return %o#0, %o#1, %o#2, %o#3
      : tensor<2x100x8x32xf32>, tensor<2x100x8xf32>, tensor<2x100x8xf32>, tensor<2x100x8xf32>
}

// -----

// Dynamic T: block counts become dynamic; a static T on the keys alone is
// enough to make them static again (next function).

// CHECK-LABEL: func @dynamic_seq
// CHECK: nsa.compress {{.*}} -> tensor<?x?x4x128xbf16>, tensor<?x?x4x128xbf16>
// CHECK: nsa.compressed_probs {{.*}} -> tensor<?x?x64x?xf32>
// CHECK: nsa.select {{.*}} {config = #nsa.config<cmp_block = 64, cmp_stride = 64, top_n = 8>} : tensor<?x?x64x?xf32> -> tensor<?x?x4x8xi32>
func.func @dynamic_seq(%q: tensor<?x?x64x128xbf16>, %k: tensor<?x?x4x128xbf16>,
                       %v: tensor<?x?x4x128xbf16>, %g: tensor<?x?x64x3xbf16>)
    -> tensor<?x?x64x128xbf16> {
  %o:4 = nsa.attention %q, keys(%k) values(%v) gates(%g)
      {config = #nsa.config<cmp_block = 64, cmp_stride = 64, top_n = 8>}
      : (tensor<?x?x64x128xbf16>, tensor<?x?x4x128xbf16>, tensor<?x?x4x128xbf16>, tensor<?x?x64x3xbf16>)
      -> (tensor<?x?x64x128xbf16>, tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>)
  return %o#0 : tensor<?x?x64x128xbf16>
}

// CHECK-LABEL: func @static_keys_only
// CHECK: nsa.compress {{.*}} -> tensor<1x63x1x16xf32>, tensor<1x63x1x16xf32>
// CHECK: nsa.select {{.*}} : tensor<1x1024x4x63xf32> -> tensor<1x1024x1x16xi32>
func.func @static_keys_only(%q: tensor<1x?x4x16xf32>, %k: tensor<1x1024x1x16xf32>,
                            %g: tensor<1x?x4x3xf32>) -> tensor<1x?x4x16xf32> {
  %o:4 = nsa.attention %q, keys(%k) values(%k) gates(%g) {config = #nsa.config<>}
      : (tensor<1x?x4x16xf32>, tensor<1x1024x1x16xf32>, tensor<1x1024x1x16xf32>, tensor<1x?x4x3xf32>)
      -> (tensor<1x?x4x16xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32>, tensor<1x?x4xf32>)
  return %o#0 : tensor<1x?x4x16xf32>
}

// -----

// Per-branch keys and values (the paper's separate projections) and learned
// compression weights: each branch reads its own pair, the weights go to
// nsa.compress.

// CHECK-LABEL: func @per_branch_weighted
// CHECK-SAME: (%[[Q:[^:]*]]: {{[^,]*}}, %[[K0:[^:]*]]: {{[^,]*}}, %[[K1:[^:]*]]: {{[^,]*}}, %[[K2:[^:]*]]: {{[^,]*}}, %[[V0:[^:]*]]: {{[^,]*}}, %[[V1:[^:]*]]: {{[^,]*}}, %[[V2:[^:]*]]: {{[^,]*}}, %[[G:[^:]*]]: {{[^,]*}}, %[[WK:[^:]*]]: {{[^,]*}}, %[[WV:[^:]*]]: {{[^,]*}})
// CHECK: nsa.compress %[[K0]], %[[V0]] weights(%[[WK]], %[[WV]]) {config = #nsa.config<compression = weighted>}
// CHECK: nsa.selected_attention %[[Q]], %[[K1]], %[[V1]],
// CHECK: nsa.window %[[Q]], %[[K2]], %[[V2]]
// CHECK: nsa.combine {{.*}}, %[[G]]
func.func @per_branch_weighted(
    %q: tensor<1x40x4x32xf16>, %k0: tensor<1x40x4x32xf16>, %k1: tensor<1x40x4x32xf16>,
    %k2: tensor<1x40x4x32xf16>, %v0: tensor<1x40x4x16xf16>, %v1: tensor<1x40x4x16xf16>,
    %v2: tensor<1x40x4x16xf16>, %g: tensor<1x40x4x3xf16>, %wk: tensor<4x32xf16>,
    %wv: tensor<4x32xf16>) -> tensor<1x40x4x16xf16> {
  %o:4 = nsa.attention %q, keys(%k0, %k1, %k2) values(%v0, %v1, %v2) gates(%g)
      cmp_weights(%wk, %wv) {config = #nsa.config<compression = weighted>}
      : (tensor<1x40x4x32xf16>, tensor<1x40x4x32xf16>, tensor<1x40x4x32xf16>,
         tensor<1x40x4x32xf16>, tensor<1x40x4x16xf16>, tensor<1x40x4x16xf16>,
         tensor<1x40x4x16xf16>, tensor<1x40x4x3xf16>, tensor<4x32xf16>, tensor<4x32xf16>)
      -> (tensor<1x40x4x16xf16>, tensor<1x40x4xf32>, tensor<1x40x4xf32>, tensor<1x40x4xf32>)
  return %o#0 : tensor<1x40x4x16xf16>
}

// -----

// Ops other than nsa.attention are left alone.

// CHECK-LABEL: func @leaves_branch_ops
// CHECK: nsa.window
// CHECK-NOT: nsa.compress
func.func @leaves_branch_ops(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>)
    -> tensor<1x16x4x16xf32> {
  %o, %l = nsa.window %q, %k, %k {config = #nsa.config<>}
      : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32>
      -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return %o : tensor<1x16x4x16xf32>
}
