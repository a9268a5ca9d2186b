// RUN: nsa-opt %s | nsa-opt | FileCheck %s
// RUN: nsa-opt %s --mlir-print-op-generic | nsa-opt | FileCheck %s
// RUN: nsa-opt %s | nsa-opt --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// The tile level round-trips through the custom and the generic form:
// #nsa.target (defaults are not printed) and the tile ops, with static and
// dynamic tile extents and one or several heads per tile (G). The GENERIC
// run shows the result types that the ops infer.

// Default parameters are elided, whether written or not; every non-default
// parameter is printed, in declaration order.
// CHECK-LABEL: func @targets
// CHECK-SAME: t0_default = #nsa.target<>
// CHECK-SAME: t1_explicit_defaults = #nsa.target<>
// CHECK-SAME: t2_all = #nsa.target<chip = "sm_80", block_q = 128, block_kv = 32, num_warps = 8, num_stages = 3, shared_memory = 166912>
// CHECK-SAME: t3_some = #nsa.target<chip = "sm_89", block_kv = 16, shared_memory = 101376>
// CHECK-SAME: t4_one = #nsa.target<block_q = 1>
// CHECK-SAME: t5_wgmma = #nsa.target<min_ctas_per_sm = 2, mma = wgmma>
// CHECK-SAME: t6_selected_warps = #nsa.target<num_warps = 8, selected_num_warps = 8>
// GENERIC-LABEL: sym_name = "targets"
// GENERIC: }) {t0_default = #nsa.target<>, t1_explicit_defaults = #nsa.target<>, t2_all = #nsa.target<chip = "sm_80", block_q = 128, block_kv = 32, num_warps = 8, num_stages = 3, shared_memory = 166912>
func.func @targets() attributes {
    t0_default = #nsa.target<>,
    t1_explicit_defaults = #nsa.target<chip = "sm_90a", block_q = 64, block_kv = 64,
                                       num_warps = 4, num_stages = 1, shared_memory = 232448,
                                       selected_num_warps = 4>,
    t2_all = #nsa.target<chip = "sm_80", block_q = 128, block_kv = 32, num_warps = 8,
                         num_stages = 3, shared_memory = 166912>,
    t3_some = #nsa.target<shared_memory = 101376, block_kv = 16, chip = "sm_89">,
    t4_one = #nsa.target<block_q = 1>,
    t5_wgmma = #nsa.target<mma = wgmma, min_ctas_per_sm = 2>,
    t6_selected_warps = #nsa.target<selected_num_warps = 8, num_warps = 8>} {
  return
}

// The module-level form the passes read.
// CHECK-LABEL: module @with_target attributes {nsa.target = #nsa.target<chip = "sm_86", num_stages = 4, shared_memory = 65536>}
module @with_target attributes {
    nsa.target = #nsa.target<chip = "sm_86", num_stages = 4, shared_memory = 65536>} {
}

// One query row, one head (the selected branch after nsa-tile), all static.
// CHECK-LABEL: func @static_single_head
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<1x1x64xf32>, %[[K:[a-z0-9_]+]]: tensor<32x64xf32>, %[[V:[a-z0-9_]+]]: tensor<32x16xf32>, %[[P:[a-z0-9_]+]]: index, %[[KP:[a-z0-9_]+]]: index)
// CHECK: %[[M:[a-z0-9_]+]], %[[S:[a-z0-9_]+]], %[[A:[a-z0-9_]+]] = nsa.init_tile_state %[[Q]] value_dim = 16 : tensor<1x1x64xf32>
// CHECK: %[[M1:[a-z0-9_]+]], %[[S1:[a-z0-9_]+]], %[[A1:[a-z0-9_]+]] = nsa.attend_tile %[[Q]], %[[K]], %[[V]] state(%[[M]], %[[S]], %[[A]]) at(%[[P]], %[[KP]])
// CHECK-SAME: {key_offset = 0 : i64, key_stride = 1 : i64, scale = 1.250000e-01 : f64}
// CHECK-SAME: : tensor<1x1x64xf32>, tensor<32x64xf32>, tensor<32x16xf32>, tensor<1x1xf32>, tensor<1x1x16xf32>
// CHECK: %[[O:[a-z0-9_]+]], %[[L:[a-z0-9_]+]] = nsa.finalize_tile %[[M1]], %[[S1]], %[[A1]] to f32 : tensor<1x1xf32>, tensor<1x1x16xf32>
// CHECK: return %[[O]], %[[L]] : tensor<1x1x16xf32>, tensor<1x1xf32>
// GENERIC-LABEL: sym_name = "static_single_head"
// GENERIC: "nsa.init_tile_state"(%{{.*}}) <{value_dim = 16 : i64}> : (tensor<1x1x64xf32>) -> (tensor<1x1xf32>, tensor<1x1xf32>, tensor<1x1x16xf32>)
// GENERIC: "nsa.attend_tile"({{.*}}) <{key_offset = 0 : i64, key_stride = 1 : i64, scale = 1.250000e-01 : f64}>
// GENERIC-SAME: -> (tensor<1x1xf32>, tensor<1x1xf32>, tensor<1x1x16xf32>)
// GENERIC: "nsa.finalize_tile"({{.*}}) <{element_type = f32}> : (tensor<1x1xf32>, tensor<1x1xf32>, tensor<1x1x16xf32>) -> (tensor<1x1x16xf32>, tensor<1x1xf32>)
func.func @static_single_head(%q: tensor<1x1x64xf32>, %k: tensor<32x64xf32>, %v: tensor<32x16xf32>,
                              %pos: index, %kpos: index) -> (tensor<1x1x16xf32>, tensor<1x1xf32>) {
  %m, %s, %a = nsa.init_tile_state %q value_dim = 16 : tensor<1x1x64xf32>
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %s, %a) at(%pos, %kpos)
      {scale = 0.125 : f64, key_stride = 1 : i64, key_offset = 0 : i64}
      : tensor<1x1x64xf32>, tensor<32x64xf32>, tensor<32x16xf32>, tensor<1x1xf32>, tensor<1x1x16xf32>
  %o, %l = nsa.finalize_tile %m1, %s1, %a1 to f32 : tensor<1x1xf32>, tensor<1x1x16xf32>
  return %o, %l : tensor<1x1x16xf32>, tensor<1x1xf32>
}

// A GQA-fused tile (G = 4 heads) of bf16 activations with dynamic row and
// key counts: the compressed step (stride, offset), a window step, and a bf16
// finalize. The state stays f32; only the output takes the element type.
// CHECK-LABEL: func @dynamic_grouped
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<?x4x64xbf16>, %[[K:[a-z0-9_]+]]: tensor<?x64xbf16>, %[[V:[a-z0-9_]+]]: tensor<?x32xbf16>, %[[P:[a-z0-9_]+]]: index, %[[KP:[a-z0-9_]+]]: index)
// CHECK: %[[M:[a-z0-9_]+]], %[[S:[a-z0-9_]+]], %[[A:[a-z0-9_]+]] = nsa.init_tile_state %[[Q]] value_dim = 32 : tensor<?x4x64xbf16>
// CHECK: %[[M1:[a-z0-9_]+]], %[[S1:[a-z0-9_]+]], %[[A1:[a-z0-9_]+]] = nsa.attend_tile %[[Q]], %[[K]], %[[V]] state(%[[M]], %[[S]], %[[A]]) at(%[[P]], %[[KP]])
// CHECK-SAME: {key_offset = 31 : i64, key_stride = 16 : i64, scale = 2.500000e-01 : f64}
// CHECK-SAME: : tensor<?x4x64xbf16>, tensor<?x64xbf16>, tensor<?x32xbf16>, tensor<?x4xf32>, tensor<?x4x32xf32>
// CHECK: %[[M2:[a-z0-9_]+]], %[[S2:[a-z0-9_]+]], %[[A2:[a-z0-9_]+]] = nsa.attend_tile %[[Q]], %[[K]], %[[V]] state(%[[M1]], %[[S1]], %[[A1]]) at(%[[P]], %[[KP]])
// CHECK-SAME: {key_offset = 0 : i64, key_stride = 1 : i64, scale = 2.500000e-01 : f64, window = 512 : i64}
// CHECK: %[[O:[a-z0-9_]+]], %[[L:[a-z0-9_]+]] = nsa.finalize_tile %[[M2]], %[[S2]], %[[A2]] to bf16 : tensor<?x4xf32>, tensor<?x4x32xf32>
// CHECK: return %[[O]], %[[L]] : tensor<?x4x32xbf16>, tensor<?x4xf32>
// GENERIC-LABEL: sym_name = "dynamic_grouped"
// GENERIC: "nsa.init_tile_state"(%{{.*}}) <{value_dim = 32 : i64}> : (tensor<?x4x64xbf16>) -> (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4x32xf32>)
// GENERIC: "nsa.attend_tile"({{.*}}) <{key_offset = 31 : i64, key_stride = 16 : i64, scale = 2.500000e-01 : f64}>
// GENERIC-SAME: : (tensor<?x4x64xbf16>, tensor<?x64xbf16>, tensor<?x32xbf16>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4x32xf32>, index, index) -> (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4x32xf32>)
// GENERIC: "nsa.attend_tile"({{.*}}) <{key_offset = 0 : i64, key_stride = 1 : i64, scale = 2.500000e-01 : f64, window = 512 : i64}>
// GENERIC: "nsa.finalize_tile"({{.*}}) <{element_type = bf16}> : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4x32xf32>) -> (tensor<?x4x32xbf16>, tensor<?x4xf32>)
func.func @dynamic_grouped(%q: tensor<?x4x64xbf16>, %k: tensor<?x64xbf16>, %v: tensor<?x32xbf16>,
                           %pos: index, %kpos: index) -> (tensor<?x4x32xbf16>, tensor<?x4xf32>) {
  %m, %s, %a = nsa.init_tile_state %q value_dim = 32 : tensor<?x4x64xbf16>
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %s, %a) at(%pos, %kpos)
      {scale = 0.25 : f64, key_stride = 16 : i64, key_offset = 31 : i64}
      : tensor<?x4x64xbf16>, tensor<?x64xbf16>, tensor<?x32xbf16>, tensor<?x4xf32>, tensor<?x4x32xf32>
  %m2, %s2, %a2 = nsa.attend_tile %q, %k, %v state(%m1, %s1, %a1) at(%pos, %kpos)
      {scale = 0.25 : f64, key_stride = 1 : i64, key_offset = 0 : i64, window = 512 : i64}
      : tensor<?x4x64xbf16>, tensor<?x64xbf16>, tensor<?x32xbf16>, tensor<?x4xf32>, tensor<?x4x32xf32>
  %o, %l = nsa.finalize_tile %m2, %s2, %a2 to bf16 : tensor<?x4xf32>, tensor<?x4x32xf32>
  return %o, %l : tensor<?x4x32xbf16>, tensor<?x4xf32>
}

// Static rows, G = 2, a static KV tile whose key count differs from the row
// count, and finalize to f16.
// CHECK-LABEL: func @static_rows_dynamic_keys
// CHECK: nsa.init_tile_state %arg0 value_dim = 8 : tensor<16x2x32xf16>
// CHECK: nsa.attend_tile {{.*}} : tensor<16x2x32xf16>, tensor<?x32xf16>, tensor<?x8xf16>, tensor<16x2xf32>, tensor<16x2x8xf32>
// CHECK: nsa.attend_tile {{.*}} : tensor<16x2x32xf16>, tensor<64x32xf16>, tensor<64x8xf16>, tensor<16x2xf32>, tensor<16x2x8xf32>
// CHECK: nsa.finalize_tile {{.*}} to f16 : tensor<16x2xf32>, tensor<16x2x8xf32>
// CHECK: return {{.*}} : tensor<16x2x8xf16>, tensor<16x2xf32>
// GENERIC-LABEL: sym_name = "static_rows_dynamic_keys"
// GENERIC: "nsa.init_tile_state"(%{{.*}}) <{value_dim = 8 : i64}> : (tensor<16x2x32xf16>) -> (tensor<16x2xf32>, tensor<16x2xf32>, tensor<16x2x8xf32>)
// GENERIC: "nsa.finalize_tile"({{.*}}) <{element_type = f16}> : (tensor<16x2xf32>, tensor<16x2xf32>, tensor<16x2x8xf32>) -> (tensor<16x2x8xf16>, tensor<16x2xf32>)
func.func @static_rows_dynamic_keys(%q: tensor<16x2x32xf16>, %k: tensor<?x32xf16>, %v: tensor<?x8xf16>,
                                    %k2: tensor<64x32xf16>, %v2: tensor<64x8xf16>,
                                    %pos: index) -> (tensor<16x2x8xf16>, tensor<16x2xf32>) {
  %m, %s, %a = nsa.init_tile_state %q value_dim = 8 : tensor<16x2x32xf16>
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %s, %a) at(%pos, %pos)
      {scale = 1.0 : f64, key_stride = 1 : i64, key_offset = 0 : i64}
      : tensor<16x2x32xf16>, tensor<?x32xf16>, tensor<?x8xf16>, tensor<16x2xf32>, tensor<16x2x8xf32>
  %m2, %s2, %a2 = nsa.attend_tile %q, %k2, %v2 state(%m1, %s1, %a1) at(%pos, %pos)
      {scale = 1.0 : f64, key_stride = 1 : i64, key_offset = 0 : i64}
      : tensor<16x2x32xf16>, tensor<64x32xf16>, tensor<64x8xf16>, tensor<16x2xf32>, tensor<16x2x8xf32>
  %o, %l = nsa.finalize_tile %m2, %s2, %a2 to f16 : tensor<16x2xf32>, tensor<16x2x8xf32>
  return %o, %l : tensor<16x2x8xf16>, tensor<16x2xf32>
}

// nsa.probs_tile: [R, G, Dk] query, [N, Dk] keys, [R, G] lse -> [R, G, N].
// CHECK-LABEL: func @probs_tile
// CHECK: nsa.probs_tile %arg0, %arg1, %arg2 at(%arg3, %arg3) {key_offset = 31 : i64, key_stride = 16 : i64, scale = 1.250000e-01 : f64} : tensor<?x4x64xbf16>, tensor<?x64xbf16>, tensor<?x4xf32> -> tensor<?x4x?xf32>
// GENERIC-LABEL: sym_name = "probs_tile"
// GENERIC: "nsa.probs_tile"({{.*}}) <{key_offset = 31 : i64, key_stride = 16 : i64, scale = 1.250000e-01 : f64}> : (tensor<?x4x64xbf16>, tensor<?x64xbf16>, tensor<?x4xf32>, index, index) -> tensor<?x4x?xf32>
func.func @probs_tile(%q: tensor<?x4x64xbf16>, %k: tensor<?x64xbf16>, %lse: tensor<?x4xf32>,
                      %pos: index) -> tensor<?x4x?xf32> {
  %p = nsa.probs_tile %q, %k, %lse at(%pos, %pos)
      {scale = 0.125 : f64, key_stride = 16 : i64, key_offset = 31 : i64}
      : tensor<?x4x64xbf16>, tensor<?x64xbf16>, tensor<?x4xf32> -> tensor<?x4x?xf32>
  return %p : tensor<?x4x?xf32>
}

// With group_sum the G heads are summed: [R, 1, N].
// CHECK-LABEL: func @probs_tile_group_sum
// CHECK: nsa.probs_tile %arg0, %arg1, %arg2 at(%arg3, %arg3) group_sum {key_offset = 63 : i64, key_stride = 64 : i64, scale = 1.250000e-01 : f64} : tensor<64x16x64xbf16>, tensor<?x64xbf16>, tensor<64x16xf32> -> tensor<64x1x?xf32>
// GENERIC-LABEL: sym_name = "probs_tile_group_sum"
// GENERIC: "nsa.probs_tile"({{.*}}) <{group_sum, key_offset = 63 : i64, key_stride = 64 : i64, scale = 1.250000e-01 : f64}>
func.func @probs_tile_group_sum(%q: tensor<64x16x64xbf16>, %k: tensor<?x64xbf16>,
                                %lse: tensor<64x16xf32>, %pos: index) -> tensor<64x1x?xf32> {
  %p = nsa.probs_tile %q, %k, %lse at(%pos, %pos) group_sum
      {scale = 0.125 : f64, key_stride = 64 : i64, key_offset = 63 : i64}
      : tensor<64x16x64xbf16>, tensor<?x64xbf16>, tensor<64x16xf32> -> tensor<64x1x?xf32>
  return %p : tensor<64x1x?xf32>
}

// A prefetch hint for the rows of a KV tile of dynamic length.
// CHECK-LABEL: func @prefetch
// CHECK: nsa.prefetch_tile %{{.*}}, %{{.*}} : tensor<?x64xbf16>, tensor<?x32xbf16>
// GENERIC-LABEL: sym_name = "prefetch"
// GENERIC: "nsa.prefetch_tile"(%{{.*}}, %{{.*}}) : (tensor<?x64xbf16>, tensor<?x32xbf16>) -> ()
func.func @prefetch(%k: tensor<?x64xbf16>, %v: tensor<?x32xbf16>) {
  nsa.prefetch_tile %k, %v : tensor<?x64xbf16>, tensor<?x32xbf16>
  return
}

// nsa.combine_tile (nsa-fuse-combine): the output takes the window tile's
// type.
// CHECK-LABEL: func @combine_tile
// CHECK-SAME: (%[[C:[a-z0-9_]+]]: tensor<?x4x32xbf16>, %[[S:[a-z0-9_]+]]: tensor<?x4x32xbf16>, %[[W:[a-z0-9_]+]]: tensor<?x4x32xbf16>, %[[G:[a-z0-9_]+]]: tensor<?x4x3xbf16>)
// CHECK: %[[O:[a-z0-9_]+]] = nsa.combine_tile %[[C]], %[[S]], %[[W]], %[[G]] : tensor<?x4x32xbf16>, tensor<?x4x32xbf16>, tensor<?x4x32xbf16>, tensor<?x4x3xbf16>
// CHECK: return %[[O]] : tensor<?x4x32xbf16>
// GENERIC-LABEL: sym_name = "combine_tile"
// GENERIC: "nsa.combine_tile"({{.*}}) : (tensor<?x4x32xbf16>, tensor<?x4x32xbf16>, tensor<?x4x32xbf16>, tensor<?x4x3xbf16>) -> tensor<?x4x32xbf16>
func.func @combine_tile(%c: tensor<?x4x32xbf16>, %s: tensor<?x4x32xbf16>, %w: tensor<?x4x32xbf16>,
                        %g: tensor<?x4x3xbf16>) -> tensor<?x4x32xbf16> {
  %o = nsa.combine_tile %c, %s, %w, %g : tensor<?x4x32xbf16>, tensor<?x4x32xbf16>, tensor<?x4x32xbf16>, tensor<?x4x3xbf16>
  return %o : tensor<?x4x32xbf16>
}
