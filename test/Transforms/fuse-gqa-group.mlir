// RUN: nsa-opt %s --nsa-tile --nsa-fuse-gqa-group | FileCheck %s
// RUN: nsa-opt %s --nsa-tile --nsa-fuse-gqa-group --canonicalize | FileCheck %s --check-prefix=CANON

// nsa-fuse-gqa-group turns the tile loop over query heads hq into one over
// KV heads h (bound Hq / G): the query tile, the softmax state and the output
// slices widen from 1 head to the G heads h*G .. h*G + G - 1, and each KV
// tile is extracted once and feeds one nsa.attend_tile for the whole group.
// Hq = 8, H = 2: G = 4, so the loop runs over 2 KV heads.
// The hand-written error cases are in fuse-gqa-group-invalid.mlir.

// CHECK-DAG: #[[$MULG:[a-z0-9_]+]] = affine_map<(d0) -> (d0 * 4)>
// CHECK-DAG: #[[$MUL16:[a-z0-9_]+]] = affine_map<(d0) -> (d0 * 16)>
// CHECK-DAG: #[[$DIVG:[a-z0-9_]+]] = affine_map<(d0) -> (d0 floordiv 4)>
// CHECK-DAG: #[[$ID:[a-z0-9_]+]] = affine_map<(d0) -> (d0)>
// CANON-DAG: #[[$CMULG:[a-z0-9_]+]] = affine_map<(d0) -> (d0 * 4)>

module attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 32>} {

// CHECK-LABEL: func @window
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<2x100x8x64xf32>, %[[K:[a-z0-9_]+]]: tensor<2x100x2x64xf32>, %[[V:[a-z0-9_]+]]: tensor<2x100x2x32xf32>)
// CHECK: %[[R:[a-z0-9_]+]]:2 = scf.forall (%[[BI:[a-z0-9_]+]], %[[TI:[a-z0-9_]+]], %[[H:[a-z0-9_]+]]) in (%{{.*}}, %{{.*}}, 2) shared_outs(%[[OA:[a-z0-9_]+]] = %{{.*}}, %[[LA:[a-z0-9_]+]] = %{{.*}}) -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>) {
// The group's first query head h * G replaces hq everywhere.
// CHECK-NEXT: %[[HQ0:[a-z0-9_]+]] = affine.apply #[[$MULG]](%[[H]])
// CHECK-NEXT: %[[T0:[a-z0-9_]+]] = affine.apply #[[$MUL16]](%[[TI]])
// CHECK-NEXT: %[[ROWS:[a-z0-9_]+]] = affine.min
// CHECK-NEXT: %[[KVH:[a-z0-9_]+]] = affine.apply #[[$DIVG]](%[[HQ0]])
// The query tile: rows x G heads.
// CHECK-NEXT: %[[QT:[a-z0-9_]+]] = tensor.extract_slice %[[Q]][%[[BI]], %[[T0]], %[[HQ0]], 0] [1, %[[ROWS]], 4, 64] [1, 1, 1, 1] : tensor<2x100x8x64xf32> to tensor<?x4x64xf32>
// CHECK-NEXT: %[[M:[a-z0-9_]+]], %[[S:[a-z0-9_]+]], %[[A:[a-z0-9_]+]] = nsa.init_tile_state %[[QT]] value_dim = 32 : tensor<?x4x64xf32>
// CHECK: %[[ST:[a-z0-9_]+]]:3 = scf.for %[[KV:[a-z0-9_]+]] = %{{.*}} to %{{.*}} step %c32 iter_args(%[[M0:[a-z0-9_]+]] = %[[M]], %[[S0:[a-z0-9_]+]] = %[[S]], %[[A0:[a-z0-9_]+]] = %[[A]]) -> (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4x32xf32>) {
// The whole KV-tile body: ONE key slice and ONE value slice of KV head
// hq0 / G, both feeding ONE attend_tile whose query is the 4-head tile.
// CHECK-NEXT: %[[N:[a-z0-9_]+]] = affine.min
// CHECK-NEXT: %[[KT:[a-z0-9_]+]] = tensor.extract_slice %[[K]][%[[BI]], %[[KV]], %[[KVH]], 0] [1, %[[N]], 1, 64] [1, 1, 1, 1] : tensor<2x100x2x64xf32> to tensor<?x64xf32>
// CHECK-NEXT: %[[VT:[a-z0-9_]+]] = tensor.extract_slice %[[V]][%[[BI]], %[[KV]], %[[KVH]], 0] [1, %[[N]], 1, 32] [1, 1, 1, 1] : tensor<2x100x2x32xf32> to tensor<?x32xf32>
// CHECK-NEXT: %[[M1:[a-z0-9_]+]], %[[S1:[a-z0-9_]+]], %[[A1:[a-z0-9_]+]] = nsa.attend_tile %[[QT]], %[[KT]], %[[VT]] state(%[[M0]], %[[S0]], %[[A0]]) at(%[[T0]], %[[KV]])
// CHECK-SAME: window = 48 : i64} : tensor<?x4x64xf32>, tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x4xf32>, tensor<?x4x32xf32>
// CHECK-NEXT: scf.yield %[[M1]], %[[S1]], %[[A1]] : tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4x32xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %[[O:[a-z0-9_]+]], %[[L:[a-z0-9_]+]] = nsa.finalize_tile %[[ST]]#0, %[[ST]]#1, %[[ST]]#2 to f32 : tensor<?x4xf32>, tensor<?x4x32xf32>
// CHECK-NEXT: scf.forall.in_parallel {
// CHECK-NEXT: tensor.parallel_insert_slice %[[O]] into %[[OA]][%[[BI]], %[[T0]], %[[HQ0]], 0] [1, %[[ROWS]], 4, 32] [1, 1, 1, 1] : tensor<?x4x32xf32> into tensor<2x100x8x32xf32>
// CHECK-NEXT: tensor.parallel_insert_slice %[[L]] into %[[LA]][%[[BI]], %[[T0]], %[[HQ0]]] [1, %[[ROWS]], 4] [1, 1, 1] : tensor<?x4xf32> into tensor<2x100x8xf32>
// CHECK-NEXT: }
// CHECK-NEXT: } {nsa.gqa_fused}
// CHECK-NOT: nsa.gqa_group_size

// After canonicalization the KV head is the loop's own induction variable.
// CANON-LABEL: func @window
// CANON-SAME: (%[[Q:[a-z0-9_]+]]: tensor<2x100x8x64xf32>, %[[K:[a-z0-9_]+]]: tensor<2x100x2x64xf32>, %[[V:[a-z0-9_]+]]: tensor<2x100x2x32xf32>)
// CANON: scf.forall (%[[BI:[a-z0-9_]+]], %[[TI:[a-z0-9_]+]], %[[H:[a-z0-9_]+]]) in (2, 7, 2)
// CANON-NEXT: %[[HQ0:[a-z0-9_]+]] = affine.apply #[[$CMULG]](%[[H]])
// CANON: %[[QT:[a-z0-9_]+]] = tensor.extract_slice %[[Q]][%[[BI]], %{{.*}}, %[[HQ0]], 0] [1, %{{.*}}, 4, 64]
// CANON: scf.for %[[KV:[a-z0-9_]+]] =
// CANON-NEXT: affine.min
// CANON-NEXT: %[[KT:[a-z0-9_]+]] = tensor.extract_slice %[[K]][%[[BI]], %[[KV]], %[[H]], 0]
// CANON-NEXT: %[[VT:[a-z0-9_]+]] = tensor.extract_slice %[[V]][%[[BI]], %[[KV]], %[[H]], 0]
// CANON-NEXT: nsa.attend_tile %[[QT]], %[[KT]], %[[VT]]
// CANON-NEXT: scf.yield
// CANON: } {nsa.gqa_fused}
func.func @window(%q: tensor<2x100x8x64xf32>, %k: tensor<2x100x2x64xf32>, %v: tensor<2x100x2x32xf32>)
    -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<2x100x8x64xf32>, tensor<2x100x2x64xf32>, tensor<2x100x2x32xf32>
      -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
  return %o, %l : tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
}

// CHECK-LABEL: func @compressed
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<2x100x8x64xf32>, %[[KC:[a-z0-9_]+]]: tensor<2x5x2x64xf32>, %[[VC:[a-z0-9_]+]]: tensor<2x5x2x32xf32>)
// CHECK: scf.forall (%[[BI:[a-z0-9_]+]], %{{.*}}, %[[H:[a-z0-9_]+]]) in (%{{.*}}, %{{.*}}, 2)
// CHECK-NEXT: %[[HQ0:[a-z0-9_]+]] = affine.apply #[[$MULG]](%[[H]])
// CHECK: %[[KVH:[a-z0-9_]+]] = affine.apply #[[$DIVG]](%[[HQ0]])
// CHECK-NEXT: %[[QT:[a-z0-9_]+]] = tensor.extract_slice %[[Q]][%[[BI]], %{{.*}}, %[[HQ0]], 0] [1, %{{.*}}, 4, 64] [1, 1, 1, 1] : tensor<2x100x8x64xf32> to tensor<?x4x64xf32>
// CHECK: scf.for %[[KV:[a-z0-9_]+]] = {{.*}} -> (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4x32xf32>) {
// CHECK-NEXT: affine.min
// CHECK-NEXT: %[[KT:[a-z0-9_]+]] = tensor.extract_slice %[[KC]][%[[BI]], %[[KV]], %[[KVH]], 0] {{.*}} to tensor<?x64xf32>
// CHECK-NEXT: %[[VT:[a-z0-9_]+]] = tensor.extract_slice %[[VC]][%[[BI]], %[[KV]], %[[KVH]], 0] {{.*}} to tensor<?x32xf32>
// CHECK-NEXT: nsa.attend_tile %[[QT]], %[[KT]], %[[VT]] {{.*}} {key_offset = 31 : i64, key_stride = 16 : i64, scale = 1.250000e-01 : f64} : tensor<?x4x64xf32>, tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x4xf32>, tensor<?x4x32xf32>
// CHECK-NEXT: scf.yield
// CHECK: nsa.finalize_tile {{.*}} : tensor<?x4xf32>, tensor<?x4x32xf32>
// CHECK: tensor.parallel_insert_slice {{.*}} [1, %{{.*}}, 4, 32] [1, 1, 1, 1] : tensor<?x4x32xf32> into tensor<2x100x8x32xf32>
// CHECK: tensor.parallel_insert_slice {{.*}} [1, %{{.*}}, 4] [1, 1, 1] : tensor<?x4xf32> into tensor<2x100x8xf32>
// CHECK: } {nsa.gqa_fused}
func.func @compressed(%q: tensor<2x100x8x64xf32>, %kc: tensor<2x5x2x64xf32>, %vc: tensor<2x5x2x32xf32>)
    -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>) {
  %o, %l = nsa.compressed_attention %q, %kc, %vc {config = #nsa.config<>}
      : tensor<2x100x8x64xf32>, tensor<2x5x2x64xf32>, tensor<2x5x2x32xf32>
      -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
  return %o, %l : tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
}

// Selected branch: the tile becomes the G heads of one position
// (tensor<1x4x64xf32>), the paper's kernel shape; the block indices are read
// once per KV head.
// CHECK-LABEL: func @selected
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<2x100x8x64xf32>, %[[K:[a-z0-9_]+]]: tensor<2x100x2x64xf32>, %[[V:[a-z0-9_]+]]: tensor<2x100x2x32xf32>, %[[IDX:[a-z0-9_]+]]: tensor<2x100x2x16xi32>)
// CHECK: scf.forall (%[[BI:[a-z0-9_]+]], %[[TI:[a-z0-9_]+]], %[[H:[a-z0-9_]+]]) in (%{{.*}}, %{{.*}}, 2) shared_outs(%[[OA:[a-z0-9_]+]] = %{{.*}}, %[[LA:[a-z0-9_]+]] = %{{.*}})
// CHECK-NEXT: %[[HQ0:[a-z0-9_]+]] = affine.apply #[[$MULG]](%[[H]])
// CHECK-NEXT: %[[T:[a-z0-9_]+]] = affine.apply #[[$ID]](%[[TI]])
// CHECK-NEXT: %[[KVH:[a-z0-9_]+]] = affine.apply #[[$DIVG]](%[[HQ0]])
// CHECK-NEXT: %[[QT:[a-z0-9_]+]] = tensor.extract_slice %[[Q]][%[[BI]], %[[T]], %[[HQ0]], 0] [1, 1, 4, 64] [1, 1, 1, 1] : tensor<2x100x8x64xf32> to tensor<1x4x64xf32>
// CHECK-NEXT: nsa.init_tile_state %[[QT]] value_dim = 32 : tensor<1x4x64xf32>
// CHECK: scf.for %[[SLOT:[a-z0-9_]+]] = {{.*}} -> (tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4x32xf32>, i32) {
// CHECK-NEXT: %[[J:[a-z0-9_]+]] = tensor.extract %[[IDX]][%[[BI]], %[[T]], %[[KVH]], %[[SLOT]]] : tensor<2x100x2x16xi32>
// CHECK: arith.cmpi sge, %[[J]]
// CHECK: %[[FIRST:[a-z0-9_]+]] = scf.if %{{.*}} -> (i1) {
// CHECK: scf.if %[[FIRST]] -> (tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4x32xf32>) {
// CHECK: scf.for %[[KV:[a-z0-9_]+]] = {{.*}} -> (tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4x32xf32>) {
// CHECK-NEXT: affine.min
// CHECK-NEXT: %[[KT:[a-z0-9_]+]] = tensor.extract_slice %[[K]][%[[BI]], %[[KV]], %[[KVH]], 0] {{.*}} to tensor<?x64xf32>
// CHECK-NEXT: %[[VT:[a-z0-9_]+]] = tensor.extract_slice %[[V]][%[[BI]], %[[KV]], %[[KVH]], 0] {{.*}} to tensor<?x32xf32>
// CHECK-NEXT: nsa.attend_tile %[[QT]], %[[KT]], %[[VT]] {{.*}} : tensor<1x4x64xf32>, tensor<?x64xf32>, tensor<?x32xf32>, tensor<1x4xf32>, tensor<1x4x32xf32>
// CHECK-NEXT: scf.yield
// CHECK: } else {
// CHECK-NEXT: scf.yield {{.*}} : tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x4x32xf32>
// CHECK: nsa.finalize_tile {{.*}} to f32 : tensor<1x4xf32>, tensor<1x4x32xf32>
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[OA]][%[[BI]], %[[T]], %[[HQ0]], 0] [1, 1, 4, 32] [1, 1, 1, 1] : tensor<1x4x32xf32> into tensor<2x100x8x32xf32>
// CHECK-NEXT: tensor.parallel_insert_slice %{{.*}} into %[[LA]][%[[BI]], %[[T]], %[[HQ0]]] [1, 1, 4] [1, 1, 1] : tensor<1x4xf32> into tensor<2x100x8xf32>
// CHECK: } {nsa.gqa_fused}

// CANON-LABEL: func @selected
// CANON-SAME: (%[[Q:[a-z0-9_]+]]: tensor<2x100x8x64xf32>, %[[K:[a-z0-9_]+]]: tensor<2x100x2x64xf32>, %[[V:[a-z0-9_]+]]: tensor<2x100x2x32xf32>, %[[IDX:[a-z0-9_]+]]: tensor<2x100x2x16xi32>)
// CANON: scf.forall (%[[BI:[a-z0-9_]+]], %[[T:[a-z0-9_]+]], %[[H:[a-z0-9_]+]]) in (2, 100, 2)
// CANON-NEXT: %[[HQ0:[a-z0-9_]+]] = affine.apply #[[$CMULG]](%[[H]])
// CANON-NEXT: tensor.extract_slice %[[Q]][%[[BI]], %[[T]], %[[HQ0]], 0] [1, 1, 4, 64] [1, 1, 1, 1] : tensor<2x100x8x64xf32> to tensor<1x4x64xf32>
// CANON: tensor.extract %[[IDX]][%[[BI]], %[[T]], %[[H]], %{{.*}}]
// CANON: tensor.extract_slice %[[K]][%[[BI]], %{{.*}}, %[[H]], 0]
// CANON-NEXT: tensor.extract_slice %[[V]][%[[BI]], %{{.*}}, %[[H]], 0]
func.func @selected(%q: tensor<2x100x8x64xf32>, %k: tensor<2x100x2x64xf32>, %v: tensor<2x100x2x32xf32>,
                    %idx: tensor<2x100x2x16xi32>) -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>) {
  %o, %l = nsa.selected_attention %q, %k, %v, %idx {config = #nsa.config<>}
      : tensor<2x100x8x64xf32>, tensor<2x100x2x64xf32>, tensor<2x100x2x32xf32>, tensor<2x100x2x16xi32>
      -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
  return %o, %l : tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
}

// G = 1 (Hq == H): the loop is only re-marked; it still runs over the 2 query
// heads with one-head tiles.
// CHECK-LABEL: func @no_grouping
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<2x100x2x64xf32>
// CHECK: scf.forall (%[[BI:[a-z0-9_]+]], %{{.*}}, %[[HQ:[a-z0-9_]+]]) in (%{{.*}}, %{{.*}}, 2)
// CHECK-NOT: affine.apply #[[$MULG]](
// CHECK: tensor.extract_slice %[[Q]][%[[BI]], %{{.*}}, %[[HQ]], 0] [1, %{{.*}}, 1, 64] [1, 1, 1, 1] : tensor<2x100x2x64xf32> to tensor<?x1x64xf32>
// CHECK: nsa.attend_tile {{.*}} : tensor<?x1x64xf32>, tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x1xf32>, tensor<?x1x32xf32>
// CHECK: tensor.parallel_insert_slice {{.*}}[%[[BI]], %{{.*}}, %[[HQ]], 0] [1, %{{.*}}, 1, 32]
// CHECK: } {nsa.gqa_fused}
// CHECK-NOT: nsa.gqa_group_size
func.func @no_grouping(%q: tensor<2x100x2x64xf32>, %k: tensor<2x100x2x64xf32>, %v: tensor<2x100x2x32xf32>)
    -> (tensor<2x100x2x32xf32>, tensor<2x100x2xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<2x100x2x64xf32>, tensor<2x100x2x64xf32>, tensor<2x100x2x32xf32>
      -> tensor<2x100x2x32xf32>, tensor<2x100x2xf32>
  return %o, %l : tensor<2x100x2x32xf32>, tensor<2x100x2xf32>
}

}

// Dynamic batch and sequence, bf16, no target (block_q = 64), G = 2.
// CHECK-LABEL: func @dynamic
// CHECK: scf.forall ({{.*}}) in (%{{.*}}, %{{.*}}, 2) shared_outs({{.*}}) -> (tensor<?x?x4x8xbf16>, tensor<?x?x4xf32>)
// CHECK: tensor.extract_slice {{.*}} [1, %{{.*}}, 2, 16] [1, 1, 1, 1] : tensor<?x?x4x16xbf16> to tensor<?x2x16xbf16>
// CHECK: nsa.attend_tile {{.*}} : tensor<?x2x16xbf16>, tensor<?x16xbf16>, tensor<?x8xbf16>, tensor<?x2xf32>, tensor<?x2x8xf32>
// CHECK: nsa.finalize_tile {{.*}} to bf16 : tensor<?x2xf32>, tensor<?x2x8xf32>
// CHECK: tensor.parallel_insert_slice {{.*}} [1, %{{.*}}, 2, 8] [1, 1, 1, 1] : tensor<?x2x8xbf16> into tensor<?x?x4x8xbf16>
// CHECK: } {nsa.gqa_fused}
func.func @dynamic(%q: tensor<?x?x4x16xbf16>, %k: tensor<?x?x2x16xbf16>, %v: tensor<?x?x2x8xbf16>)
    -> (tensor<?x?x4x8xbf16>, tensor<?x?x4xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<>}
      : tensor<?x?x4x16xbf16>, tensor<?x?x2x16xbf16>, tensor<?x?x2x8xbf16>
      -> tensor<?x?x4x8xbf16>, tensor<?x?x4xf32>
  return %o, %l : tensor<?x?x4x8xbf16>, tensor<?x?x4xf32>
}
