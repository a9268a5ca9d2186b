// RUN: nsa-opt %s | nsa-opt | FileCheck %s
// RUN: nsa-opt %s --mlir-print-op-generic | nsa-opt | FileCheck %s

// Every op and every form of #nsa.config round-trips through the custom and
// the generic form.

// CHECK-LABEL: func @attention_shared_kv
func.func @attention_shared_kv(%q: tensor<?x?x8x64xbf16>, %k: tensor<?x?x2x64xbf16>,
                               %v: tensor<?x?x2x64xbf16>, %g: tensor<?x?x8x3xbf16>) {
  // CHECK: nsa.attention %arg0, keys(%arg1) values(%arg2) gates(%arg3) {config = #nsa.config<>}
  // CHECK-SAME: (tensor<?x?x8x64xbf16>, tensor<?x?x2x64xbf16>, tensor<?x?x2x64xbf16>, tensor<?x?x8x3xbf16>)
  // CHECK-SAME: -> (tensor<?x?x8x64xbf16>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>)
  %o:4 = nsa.attention %q, keys(%k) values(%v) gates(%g) {config = #nsa.config<>}
      : (tensor<?x?x8x64xbf16>, tensor<?x?x2x64xbf16>, tensor<?x?x2x64xbf16>, tensor<?x?x8x3xbf16>)
      -> (tensor<?x?x8x64xbf16>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>)
  return
}

// CHECK-LABEL: func @attention_per_branch_kv_weighted
func.func @attention_per_branch_kv_weighted(
    %q: tensor<2x100x4x192xf16>, %k0: tensor<2x100x4x192xf16>, %k1: tensor<2x100x4x192xf16>,
    %k2: tensor<2x100x4x192xf16>, %v0: tensor<2x100x4x128xf16>, %v1: tensor<2x100x4x128xf16>,
    %v2: tensor<2x100x4x128xf16>, %g: tensor<2x100x4x3xf16>, %wk: tensor<4x32xf16>,
    %wv: tensor<4x32xf16>) {
  // CHECK: nsa.attention %arg0, keys(%arg1, %arg2, %arg3) values(%arg4, %arg5, %arg6) gates(%arg7) cmp_weights(%arg8, %arg9) {config = #nsa.config<compression = weighted>}
  %o:4 = nsa.attention %q, keys(%k0, %k1, %k2) values(%v0, %v1, %v2) gates(%g)
      cmp_weights(%wk, %wv) {config = #nsa.config<compression = weighted>}
      : (tensor<2x100x4x192xf16>, tensor<2x100x4x192xf16>, tensor<2x100x4x192xf16>,
         tensor<2x100x4x192xf16>, tensor<2x100x4x128xf16>, tensor<2x100x4x128xf16>,
         tensor<2x100x4x128xf16>, tensor<2x100x4x3xf16>, tensor<4x32xf16>, tensor<4x32xf16>)
      -> (tensor<2x100x4x128xf16>, tensor<2x100x4xf32>, tensor<2x100x4xf32>, tensor<2x100x4xf32>)
  return
}

// CHECK-LABEL: func @configs
// CHECK: #nsa.config<cmp_block = 64, cmp_stride = 64, top_n = 8, window = 128, scale = 1.250000e-01 : f64, num_init_blocks = 0, num_local_blocks = 1, score_mapping = identity>
// CHECK: #nsa.config<cmp_block = 8, cmp_stride = 4, slc_block = 16, top_n = 4, window = 32, compression = weighted>
func.func @configs(%q: tensor<1x17x2x16xf32>, %k: tensor<1x17x1x16xf32>, %v: tensor<1x17x1x8xf32>) {
  %o1:2 = nsa.window %q, %k, %v {config = #nsa.config<cmp_block = 64, cmp_stride = 64, slc_block = 64,
      top_n = 8, window = 128, scale = 0.125, num_init_blocks = 0, num_local_blocks = 1,
      compression = mean, score_mapping = identity>}
      : tensor<1x17x2x16xf32>, tensor<1x17x1x16xf32>, tensor<1x17x1x8xf32>
      -> tensor<1x17x2x8xf32>, tensor<1x17x2xf32>
  %o2:2 = nsa.window %q, %k, %v {config = #nsa.config<window = 32, top_n = 4, slc_block = 16,
      cmp_stride = 4, cmp_block = 8, compression = weighted>}
      : tensor<1x17x2x16xf32>, tensor<1x17x1x16xf32>, tensor<1x17x1x8xf32>
      -> tensor<1x17x2x8xf32>, tensor<1x17x2xf32>
  return
}

// CHECK-LABEL: func @branch_ops
func.func @branch_ops(%q: tensor<2x100x8x64xf32>, %k: tensor<2x100x2x64xf32>,
                      %v: tensor<2x100x2x32xf32>, %g: tensor<2x100x8x3xf32>) {
  // CHECK: nsa.compress %arg1, %arg2 {config = #nsa.config<>} : tensor<2x100x2x64xf32>, tensor<2x100x2x32xf32> -> tensor<2x5x2x64xf32>, tensor<2x5x2x32xf32>
  %kc, %vc = nsa.compress %k, %v {config = #nsa.config<>}
      : tensor<2x100x2x64xf32>, tensor<2x100x2x32xf32> -> tensor<2x5x2x64xf32>, tensor<2x5x2x32xf32>
  // CHECK: nsa.compressed_attention
  // CHECK-SAME: -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
  %oc, %lc = nsa.compressed_attention %q, %kc, %vc {config = #nsa.config<>}
      : tensor<2x100x8x64xf32>, tensor<2x5x2x64xf32>, tensor<2x5x2x32xf32>
      -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
  // CHECK: nsa.compressed_probs
  // CHECK-SAME: -> tensor<2x100x8x5xf32>
  %p = nsa.compressed_probs %q, %kc, %lc {config = #nsa.config<>}
      : tensor<2x100x8x64xf32>, tensor<2x5x2x64xf32>, tensor<2x100x8xf32> -> tensor<2x100x8x5xf32>
  // CHECK: nsa.select %{{[0-9]+}} {config = #nsa.config<>} : tensor<2x100x8x5xf32> -> tensor<2x100x2x16xi32>
  %idx = nsa.select %p {config = #nsa.config<>} : tensor<2x100x8x5xf32> -> tensor<2x100x2x16xi32>
  // CHECK: nsa.selected_attention
  // CHECK-SAME: tensor<2x100x2x16xi32> -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
  %os, %ls = nsa.selected_attention %q, %k, %v, %idx {config = #nsa.config<>}
      : tensor<2x100x8x64xf32>, tensor<2x100x2x64xf32>, tensor<2x100x2x32xf32>, tensor<2x100x2x16xi32>
      -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
  // CHECK: nsa.window
  %ow, %lw = nsa.window %q, %k, %v {config = #nsa.config<>}
      : tensor<2x100x8x64xf32>, tensor<2x100x2x64xf32>, tensor<2x100x2x32xf32>
      -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
  // CHECK: nsa.combine %{{[a-z_0-9]+}}, %{{[a-z_0-9]+}}, %{{[a-z_0-9]+}}, %arg3 : tensor<2x100x8x32xf32>, tensor<2x100x8x32xf32>, tensor<2x100x8x32xf32>, tensor<2x100x8x3xf32> -> tensor<2x100x8x32xf32>
  %o = nsa.combine %oc, %os, %ow, %g
      : tensor<2x100x8x32xf32>, tensor<2x100x8x32xf32>, tensor<2x100x8x32xf32>, tensor<2x100x8x3xf32>
      -> tensor<2x100x8x32xf32>
  return
}

// CHECK-LABEL: func @compress_weighted_dynamic
func.func @compress_weighted_dynamic(%k: tensor<?x?x2x64xbf16>, %v: tensor<?x?x2x64xbf16>,
                                     %wk: tensor<2x32xbf16>, %wv: tensor<2x32xbf16>) {
  // CHECK: nsa.compress %arg0, %arg1 weights(%arg2, %arg3) {config = #nsa.config<compression = weighted>}
  // CHECK-SAME: : tensor<?x?x2x64xbf16>, tensor<?x?x2x64xbf16>, tensor<2x32xbf16>, tensor<2x32xbf16> -> tensor<?x?x2x64xbf16>, tensor<?x?x2x64xbf16>
  %kc, %vc = nsa.compress %k, %v weights(%wk, %wv) {config = #nsa.config<compression = weighted>}
      : tensor<?x?x2x64xbf16>, tensor<?x?x2x64xbf16>, tensor<2x32xbf16>, tensor<2x32xbf16>
      -> tensor<?x?x2x64xbf16>, tensor<?x?x2x64xbf16>
  return
}

// Short sequences: T < l gives zero compressed blocks.
// CHECK-LABEL: func @no_compressed_blocks
func.func @no_compressed_blocks(%k: tensor<1x17x1x16xf32>, %v: tensor<1x17x1x16xf32>) {
  // CHECK: -> tensor<1x0x1x16xf32>, tensor<1x0x1x16xf32>
  %kc, %vc = nsa.compress %k, %v {config = #nsa.config<>}
      : tensor<1x17x1x16xf32>, tensor<1x17x1x16xf32> -> tensor<1x0x1x16xf32>, tensor<1x0x1x16xf32>
  return
}
