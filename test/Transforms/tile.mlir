// RUN: nsa-opt %s --nsa-tile | FileCheck %s

// nsa-tile rewrites each branch attention into one scf.forall over
// (B, ceildiv(T, rows per tile), Hq) whose body walks the branch's KV tile
// list with the tile ops. Config: the paper's (l = 32, d = 16, l' = 64,
// n = 16), window 48 where it matters; G = Hq / H = 8 / 2 = 4.

// Maps of the target module (block_q = 16, block_kv = 32).
// CHECK-DAG: #[[$CEIL16:[a-z0-9_]+]] = affine_map<(d0) -> (d0 ceildiv 16)>
// CHECK-DAG: #[[$MUL16:[a-z0-9_]+]] = affine_map<(d0) -> (d0 * 16)>
// CHECK-DAG: #[[$ROWS16:[a-z0-9_]+]] = affine_map<(d0)[s0] -> (16, -d0 + s0)>
// CHECK-DAG: #[[$KVHEAD4:[a-z0-9_]+]] = affine_map<(d0) -> (d0 floordiv 4)>
// CHECK-DAG: #[[$LEN32:[a-z0-9_]+]] = affine_map<(d0)[s0] -> (32, -d0 + s0)>
// Compressed: blocks i with i*16 + 31 <= t0 + rows - 1, i.e.
// max((t0 + rows - 32) floordiv 16 + 1, 0), capped by Nc.
// CHECK-DAG: #[[$CMPVISIBLE:[a-z0-9_]+]] = affine_map<(d0, d1) -> ((d0 + d1) floordiv 16 - 1, 0)>
// CHECK-DAG: #[[$MINNC:[a-z0-9_]+]] = affine_map<(d0)[s0] -> (d0, s0)>
// Window 48: [max(t0 - 47, 0), t0 + rows).
// CHECK-DAG: #[[$WINLO:[a-z0-9_]+]] = affine_map<(d0) -> (d0 - 47, 0)>
// CHECK-DAG: #[[$WINHI:[a-z0-9_]+]] = affine_map<(d0, d1) -> (d0 + d1)>
// Selected: the slot prefetch_blocks = 1 ahead, and a block's length.
// CHECK-DAG: #[[$PLUS1:[a-z0-9_]+]] = affine_map<(d0) -> (d0 + 1)>
// CHECK-DAG: #[[$DIFF:[a-z0-9_]+]] = affine_map<(d0, d1) -> (d0 - d1)>
// CHECK-DAG: #[[$PLUS2:[a-z0-9_]+]] = affine_map<(d0) -> (d0 + 2)>
// Selected: one row per tile (d0 ceildiv 1 = d0), block j covers
// [64 j, min(64 j + 64, T, t + 1)).
// CHECK-DAG: #[[$ID:[a-z0-9_]+]] = affine_map<(d0) -> (d0)>
// CHECK-DAG: #[[$MUL64:[a-z0-9_]+]] = affine_map<(d0) -> (d0 * 64)>
// CHECK-DAG: #[[$SLCEND:[a-z0-9_]+]] = affine_map<(d0)[s0, s1] -> (d0 + 64, s0, s1 + 1)>
// Maps of the module without a target (H100 defaults 64 / 64) and of the
// function-level target (block_q = 32, block_kv = 128).
// CHECK-DAG: #[[$CEIL64:[a-z0-9_]+]] = affine_map<(d0) -> (d0 ceildiv 64)>
// CHECK-DAG: #[[$ROWS64:[a-z0-9_]+]] = affine_map<(d0)[s0] -> (64, -d0 + s0)>
// CHECK-DAG: #[[$KVHEAD2:[a-z0-9_]+]] = affine_map<(d0) -> (d0 floordiv 2)>
// CHECK-DAG: #[[$WINLO512:[a-z0-9_]+]] = affine_map<(d0) -> (d0 - 511, 0)>
// CHECK-DAG: #[[$CEIL32:[a-z0-9_]+]] = affine_map<(d0) -> (d0 ceildiv 32)>

module @with_target attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 32>} {

// CHECK-LABEL: func @compressed
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<2x100x8x64xf32>, %[[KC:[a-z0-9_]+]]: tensor<2x5x2x64xf32>, %[[VC:[a-z0-9_]+]]: tensor<2x5x2x32xf32>)
// CHECK-NOT: nsa.compressed_attention
// CHECK: %[[B:[a-z0-9_]+]] = tensor.dim %[[Q]], %c0
// CHECK: %[[T:[a-z0-9_]+]] = tensor.dim %[[Q]], %c1
// CHECK: %[[NC:[a-z0-9_]+]] = tensor.dim %[[KC]], %c1{{.*}} : tensor<2x5x2x64xf32>
// CHECK: %[[NT:[a-z0-9_]+]] = affine.apply #[[$CEIL16]](%[[T]])
// CHECK: %[[OUT:[a-z0-9_]+]] = tensor.empty() : tensor<2x100x8x32xf32>
// CHECK: %[[LSE:[a-z0-9_]+]] = tensor.empty() : tensor<2x100x8xf32>
// CHECK: %[[R:[a-z0-9_]+]]:2 = scf.forall (%[[BI:[a-z0-9_]+]], %[[TI:[a-z0-9_]+]], %[[HQ:[a-z0-9_]+]]) in (%[[B]], %[[NT]], 8) shared_outs(%[[OA:[a-z0-9_]+]] = %[[OUT]], %[[LA:[a-z0-9_]+]] = %[[LSE]]) -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>) {
// CHECK: %[[T0:[a-z0-9_]+]] = affine.apply #[[$MUL16]](%[[TI]])
// CHECK: %[[ROWS:[a-z0-9_]+]] = affine.min #[[$ROWS16]](%[[T0]])[%[[T]]]
// CHECK: %[[H:[a-z0-9_]+]] = affine.apply #[[$KVHEAD4]](%[[HQ]])
// CHECK: %[[QT:[a-z0-9_]+]] = tensor.extract_slice %[[Q]][%[[BI]], %[[T0]], %[[HQ]], 0] [1, %[[ROWS]], 1, 64] [1, 1, 1, 1] : tensor<2x100x8x64xf32> to tensor<?x1x64xf32>
// CHECK: %[[M:[a-z0-9_]+]], %[[S:[a-z0-9_]+]], %[[A:[a-z0-9_]+]] = nsa.init_tile_state %[[QT]] value_dim = 32 : tensor<?x1x64xf32>
// CHECK: %[[VIS:[a-z0-9_]+]] = affine.max #[[$CMPVISIBLE]](%[[T0]], %[[ROWS]])
// CHECK: %[[HI:[a-z0-9_]+]] = affine.min #[[$MINNC]](%[[VIS]])[%[[NC]]]
// CHECK: %[[ST:[a-z0-9_]+]]:3 = scf.for %[[KV:[a-z0-9_]+]] = %c0{{(_[0-9]+)?}} to %[[HI]] step %c32 iter_args(%[[M0:[a-z0-9_]+]] = %[[M]], %[[S0:[a-z0-9_]+]] = %[[S]], %[[A0:[a-z0-9_]+]] = %[[A]]) -> (tensor<?x1xf32>, tensor<?x1xf32>, tensor<?x1x32xf32>) {
// CHECK: %[[N:[a-z0-9_]+]] = affine.min #[[$LEN32]](%[[KV]])[%[[HI]]]
// CHECK: %[[KT:[a-z0-9_]+]] = tensor.extract_slice %[[KC]][%[[BI]], %[[KV]], %[[H]], 0] [1, %[[N]], 1, 64] [1, 1, 1, 1] : tensor<2x5x2x64xf32> to tensor<?x64xf32>
// CHECK: %[[VT:[a-z0-9_]+]] = tensor.extract_slice %[[VC]][%[[BI]], %[[KV]], %[[H]], 0] [1, %[[N]], 1, 32] [1, 1, 1, 1] : tensor<2x5x2x32xf32> to tensor<?x32xf32>
// Compressed key c of the tile is token 16 (kv + c) + 31, the end of its block.
// CHECK: %[[M1:[a-z0-9_]+]], %[[S1:[a-z0-9_]+]], %[[A1:[a-z0-9_]+]] = nsa.attend_tile %[[QT]], %[[KT]], %[[VT]] state(%[[M0]], %[[S0]], %[[A0]]) at(%[[T0]], %[[KV]])
// CHECK-SAME: {key_offset = 31 : i64, key_stride = 16 : i64, scale = 1.250000e-01 : f64} : tensor<?x1x64xf32>, tensor<?x64xf32>, tensor<?x32xf32>, tensor<?x1xf32>, tensor<?x1x32xf32>
// CHECK-NEXT: scf.yield %[[M1]], %[[S1]], %[[A1]]
// CHECK-NEXT: }
// CHECK-NEXT: %[[O:[a-z0-9_]+]], %[[L:[a-z0-9_]+]] = nsa.finalize_tile %[[ST]]#0, %[[ST]]#1, %[[ST]]#2 to f32 : tensor<?x1xf32>, tensor<?x1x32xf32>
// CHECK-NEXT: scf.forall.in_parallel {
// CHECK-NEXT: tensor.parallel_insert_slice %[[O]] into %[[OA]][%[[BI]], %[[T0]], %[[HQ]], 0] [1, %[[ROWS]], 1, 32] [1, 1, 1, 1] : tensor<?x1x32xf32> into tensor<2x100x8x32xf32>
// CHECK-NEXT: tensor.parallel_insert_slice %[[L]] into %[[LA]][%[[BI]], %[[T0]], %[[HQ]]] [1, %[[ROWS]], 1] [1, 1, 1] : tensor<?x1xf32> into tensor<2x100x8xf32>
// CHECK-NEXT: }
// CHECK-NEXT: } {nsa.gqa_group_size = 4 : i64}
// CHECK-NEXT: return %[[R]]#0, %[[R]]#1
func.func @compressed(%q: tensor<2x100x8x64xf32>, %kc: tensor<2x5x2x64xf32>, %vc: tensor<2x5x2x32xf32>)
    -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>) {
  %o, %l = nsa.compressed_attention %q, %kc, %vc {config = #nsa.config<>}
      : tensor<2x100x8x64xf32>, tensor<2x5x2x64xf32>, tensor<2x5x2x32xf32>
      -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
  return %o, %l : tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
}

// CHECK-LABEL: func @window
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<2x100x8x64xf32>, %[[K:[a-z0-9_]+]]: tensor<2x100x2x64xf32>, %[[V:[a-z0-9_]+]]: tensor<2x100x2x32xf32>)
// CHECK-NOT: nsa.window
// CHECK: %[[B:[a-z0-9_]+]] = tensor.dim %[[Q]], %c0
// CHECK: %[[T:[a-z0-9_]+]] = tensor.dim %[[Q]], %c1
// CHECK: %[[NT:[a-z0-9_]+]] = affine.apply #[[$CEIL16]](%[[T]])
// CHECK: %[[R:[a-z0-9_]+]]:2 = scf.forall (%[[BI:[a-z0-9_]+]], %[[TI:[a-z0-9_]+]], %[[HQ:[a-z0-9_]+]]) in (%[[B]], %[[NT]], 8) shared_outs(%[[OA:[a-z0-9_]+]] = %{{.*}}, %[[LA:[a-z0-9_]+]] = %{{.*}}) -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>) {
// CHECK: %[[T0:[a-z0-9_]+]] = affine.apply #[[$MUL16]](%[[TI]])
// CHECK: %[[ROWS:[a-z0-9_]+]] = affine.min #[[$ROWS16]](%[[T0]])[%[[T]]]
// CHECK: %[[H:[a-z0-9_]+]] = affine.apply #[[$KVHEAD4]](%[[HQ]])
// CHECK: %[[QT:[a-z0-9_]+]] = tensor.extract_slice %[[Q]][%[[BI]], %[[T0]], %[[HQ]], 0] [1, %[[ROWS]], 1, 64] [1, 1, 1, 1] : tensor<2x100x8x64xf32> to tensor<?x1x64xf32>
// CHECK: %[[M:[a-z0-9_]+]], %[[S:[a-z0-9_]+]], %[[A:[a-z0-9_]+]] = nsa.init_tile_state %[[QT]] value_dim = 32 : tensor<?x1x64xf32>
// CHECK: %[[LO:[a-z0-9_]+]] = affine.max #[[$WINLO]](%[[T0]])
// CHECK: %[[HI:[a-z0-9_]+]] = affine.apply #[[$WINHI]](%[[T0]], %[[ROWS]])
// CHECK: %[[ST:[a-z0-9_]+]]:3 = scf.for %[[KV:[a-z0-9_]+]] = %[[LO]] to %[[HI]] step %c32 iter_args(%[[M0:[a-z0-9_]+]] = %[[M]], %[[S0:[a-z0-9_]+]] = %[[S]], %[[A0:[a-z0-9_]+]] = %[[A]]) -> (tensor<?x1xf32>, tensor<?x1xf32>, tensor<?x1x32xf32>) {
// CHECK: %[[N:[a-z0-9_]+]] = affine.min #[[$LEN32]](%[[KV]])[%[[HI]]]
// CHECK: %[[KT:[a-z0-9_]+]] = tensor.extract_slice %[[K]][%[[BI]], %[[KV]], %[[H]], 0] [1, %[[N]], 1, 64] [1, 1, 1, 1] : tensor<2x100x2x64xf32> to tensor<?x64xf32>
// CHECK: %[[VT:[a-z0-9_]+]] = tensor.extract_slice %[[V]][%[[BI]], %[[KV]], %[[H]], 0] [1, %[[N]], 1, 32] [1, 1, 1, 1] : tensor<2x100x2x32xf32> to tensor<?x32xf32>
// CHECK: %[[M1:[a-z0-9_]+]], %[[S1:[a-z0-9_]+]], %[[A1:[a-z0-9_]+]] = nsa.attend_tile %[[QT]], %[[KT]], %[[VT]] state(%[[M0]], %[[S0]], %[[A0]]) at(%[[T0]], %[[KV]])
// CHECK-SAME: {key_offset = 0 : i64, key_stride = 1 : i64, scale = 1.250000e-01 : f64, window = 48 : i64}
// CHECK-NEXT: scf.yield %[[M1]], %[[S1]], %[[A1]]
// CHECK-NEXT: }
// CHECK-NEXT: %[[O:[a-z0-9_]+]], %[[L:[a-z0-9_]+]] = nsa.finalize_tile %[[ST]]#0, %[[ST]]#1, %[[ST]]#2 to f32
// CHECK-NEXT: scf.forall.in_parallel {
// CHECK-NEXT: tensor.parallel_insert_slice %[[O]] into %[[OA]][%[[BI]], %[[T0]], %[[HQ]], 0] [1, %[[ROWS]], 1, 32] [1, 1, 1, 1]
// CHECK-NEXT: tensor.parallel_insert_slice %[[L]] into %[[LA]][%[[BI]], %[[T0]], %[[HQ]]] [1, %[[ROWS]], 1] [1, 1, 1]
// CHECK-NEXT: }
// CHECK-NEXT: } {nsa.gqa_group_size = 4 : i64}
func.func @window(%q: tensor<2x100x8x64xf32>, %k: tensor<2x100x2x64xf32>, %v: tensor<2x100x2x32xf32>)
    -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<2x100x8x64xf32>, tensor<2x100x2x64xf32>, tensor<2x100x2x32xf32>
      -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
  return %o, %l : tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
}

// CHECK-LABEL: func @selected
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<2x100x8x64xf32>, %[[K:[a-z0-9_]+]]: tensor<2x100x2x64xf32>, %[[V:[a-z0-9_]+]]: tensor<2x100x2x32xf32>, %[[IDX:[a-z0-9_]+]]: tensor<2x100x2x16xi32>)
// CHECK-NOT: nsa.selected_attention
// CHECK: %[[B:[a-z0-9_]+]] = tensor.dim %[[Q]], %c0
// CHECK: %[[T:[a-z0-9_]+]] = tensor.dim %[[Q]], %c1
// CHECK: %[[NT:[a-z0-9_]+]] = affine.apply #[[$ID]](%[[T]])
// CHECK: %[[R:[a-z0-9_]+]]:2 = scf.forall (%[[BI:[a-z0-9_]+]], %[[TI:[a-z0-9_]+]], %[[HQ:[a-z0-9_]+]]) in (%[[B]], %[[NT]], 8) shared_outs(%[[OA:[a-z0-9_]+]] = %{{.*}}, %[[LA:[a-z0-9_]+]] = %{{.*}}) -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>) {
// CHECK: %[[T0:[a-z0-9_]+]] = affine.apply #[[$ID]](%[[TI]])
// CHECK: %[[H:[a-z0-9_]+]] = affine.apply #[[$KVHEAD4]](%[[HQ]])
// CHECK: %[[QT:[a-z0-9_]+]] = tensor.extract_slice %[[Q]][%[[BI]], %[[T0]], %[[HQ]], 0] [1, 1, 1, 64] [1, 1, 1, 1] : tensor<2x100x8x64xf32> to tensor<1x1x64xf32>
// CHECK: %[[M:[a-z0-9_]+]], %[[S:[a-z0-9_]+]], %[[A:[a-z0-9_]+]] = nsa.init_tile_state %[[QT]] value_dim = 32 : tensor<1x1x64xf32>
// The top_n = 16 slots of the position's KV head, carrying the largest block
// index so far (from -1) after the attention state.
// CHECK: %[[NONE:[a-z0-9_-]+]] = arith.constant -1 : i32
// CHECK: %[[ST:[a-z0-9_]+]]:4 = scf.for %[[SLOT:[a-z0-9_]+]] = %c0{{(_[0-9]+)?}} to %c16 step %c1{{(_[0-9]+)?}} iter_args(%[[M0:[a-z0-9_]+]] = %[[M]], %[[S0:[a-z0-9_]+]] = %[[S]], %[[A0:[a-z0-9_]+]] = %[[A]], %[[MAX:[a-z0-9_]+]] = %[[NONE]]) -> (tensor<1x1xf32>, tensor<1x1xf32>, tensor<1x1x32xf32>, i32) {
// Nothing is prefetched by default (prefetch_blocks = 0).
// CHECK-NOT: nsa.prefetch_tile
// CHECK: %[[J:[a-z0-9_]+]] = tensor.extract %[[IDX]][%[[BI]], %[[T0]], %[[H]], %[[SLOT]]] : tensor<2x100x2x16xi32>
// CHECK: %[[ZERO:[a-z0-9_]+]] = arith.constant 0 : i32
// CHECK: %[[LISTED:[a-z0-9_]+]] = arith.cmpi sge, %[[J]], %[[ZERO]] : i32
// A listed block above every earlier index is new; one at or below the
// maximum is looked up among the earlier slots: a block listed twice counts
// once.
// CHECK: %[[ASC:[a-z0-9_]+]] = arith.cmpi sgt, %[[J]], %[[MAX]] : i32
// CHECK: %[[NASC:[a-z0-9_]+]] = arith.xori %[[ASC]], %{{.*}} : i1
// CHECK: %[[MAYREP:[a-z0-9_]+]] = arith.andi %[[LISTED]], %[[NASC]] : i1
// CHECK: %[[ISSEL:[a-z0-9_]+]] = scf.if %[[MAYREP]] -> (i1) {
// CHECK: %[[FOUND:[a-z0-9_]+]] = scf.for %[[EARLIER:[a-z0-9_]+]] = %{{.*}} to %[[SLOT]] step %{{.*}} iter_args(%[[F0:[a-z0-9_]+]] = %false) -> (i1) {
// CHECK-NEXT: %[[E:[a-z0-9_]+]] = tensor.extract %[[IDX]][%[[BI]], %[[T0]], %[[H]], %[[EARLIER]]] : tensor<2x100x2x16xi32>
// CHECK-NEXT: %[[SAME:[a-z0-9_]+]] = arith.cmpi eq, %[[E]], %[[J]] : i32
// CHECK-NEXT: %[[F1:[a-z0-9_]+]] = arith.ori %[[F0]], %[[SAME]] : i1
// CHECK-NEXT: scf.yield %[[F1]] : i1
// CHECK-NEXT: }
// CHECK: %[[FIRST:[a-z0-9_]+]] = arith.xori %[[FOUND]], %{{.*}} : i1
// CHECK-NEXT: scf.yield %[[FIRST]] : i1
// CHECK-NEXT: } else {
// CHECK-NEXT: scf.yield %[[LISTED]] : i1
// CHECK-NEXT: }
// CHECK: %[[IF:[a-z0-9_]+]]:3 = scf.if %[[ISSEL]] -> (tensor<1x1xf32>, tensor<1x1xf32>, tensor<1x1x32xf32>) {
// CHECK: %[[JI:[a-z0-9_]+]] = arith.index_cast %[[J]] : i32 to index
// CHECK: %[[START:[a-z0-9_]+]] = affine.apply #[[$MUL64]](%[[JI]])
// CHECK: %[[END:[a-z0-9_]+]] = affine.min #[[$SLCEND]](%[[START]])[%[[T]], %[[T0]]]
// CHECK: %[[BST:[a-z0-9_]+]]:3 = scf.for %[[KV:[a-z0-9_]+]] = %[[START]] to %[[END]] step %c32 iter_args(%[[M1:[a-z0-9_]+]] = %[[M0]], %[[S1:[a-z0-9_]+]] = %[[S0]], %[[A1:[a-z0-9_]+]] = %[[A0]]) -> (tensor<1x1xf32>, tensor<1x1xf32>, tensor<1x1x32xf32>) {
// CHECK: %[[N:[a-z0-9_]+]] = affine.min #[[$LEN32]](%[[KV]])[%[[END]]]
// CHECK: %[[KT:[a-z0-9_]+]] = tensor.extract_slice %[[K]][%[[BI]], %[[KV]], %[[H]], 0] [1, %[[N]], 1, 64] [1, 1, 1, 1] : tensor<2x100x2x64xf32> to tensor<?x64xf32>
// CHECK: %[[VT:[a-z0-9_]+]] = tensor.extract_slice %[[V]][%[[BI]], %[[KV]], %[[H]], 0] [1, %[[N]], 1, 32] [1, 1, 1, 1] : tensor<2x100x2x32xf32> to tensor<?x32xf32>
// CHECK: %[[M2:[a-z0-9_]+]], %[[S2:[a-z0-9_]+]], %[[A2:[a-z0-9_]+]] = nsa.attend_tile %[[QT]], %[[KT]], %[[VT]] state(%[[M1]], %[[S1]], %[[A1]]) at(%[[T0]], %[[KV]])
// CHECK-SAME: {key_offset = 0 : i64, key_stride = 1 : i64, scale = 1.250000e-01 : f64} : tensor<1x1x64xf32>, tensor<?x64xf32>, tensor<?x32xf32>, tensor<1x1xf32>, tensor<1x1x32xf32>
// CHECK-NEXT: scf.yield %[[M2]], %[[S2]], %[[A2]]
// CHECK-NEXT: }
// CHECK-NEXT: scf.yield %[[BST]]#0, %[[BST]]#1, %[[BST]]#2
// CHECK-NEXT: } else {
// CHECK-NEXT: scf.yield %[[M0]], %[[S0]], %[[A0]]
// CHECK-NEXT: }
// CHECK-NEXT: %[[NEWMAX:[a-z0-9_]+]] = arith.maxsi %[[MAX]], %[[J]] : i32
// CHECK-NEXT: scf.yield %[[IF]]#0, %[[IF]]#1, %[[IF]]#2, %[[NEWMAX]]
// CHECK-NEXT: }
// CHECK-NEXT: %[[O:[a-z0-9_]+]], %[[L:[a-z0-9_]+]] = nsa.finalize_tile %[[ST]]#0, %[[ST]]#1, %[[ST]]#2 to f32 : tensor<1x1xf32>, tensor<1x1x32xf32>
// CHECK-NEXT: scf.forall.in_parallel {
// CHECK-NEXT: tensor.parallel_insert_slice %[[O]] into %[[OA]][%[[BI]], %[[T0]], %[[HQ]], 0] [1, 1, 1, 32] [1, 1, 1, 1] : tensor<1x1x32xf32> into tensor<2x100x8x32xf32>
// CHECK-NEXT: tensor.parallel_insert_slice %[[L]] into %[[LA]][%[[BI]], %[[T0]], %[[HQ]]] [1, 1, 1] [1, 1, 1] : tensor<1x1xf32> into tensor<2x100x8xf32>
// CHECK-NEXT: }
// CHECK-NEXT: } {nsa.gqa_group_size = 4 : i64}
func.func @selected(%q: tensor<2x100x8x64xf32>, %k: tensor<2x100x2x64xf32>, %v: tensor<2x100x2x32xf32>,
                    %idx: tensor<2x100x2x16xi32>) -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>) {
  %o, %l = nsa.selected_attention %q, %k, %v, %idx {config = #nsa.config<>}
      : tensor<2x100x8x64xf32>, tensor<2x100x2x64xf32>, tensor<2x100x2x32xf32>, tensor<2x100x2x16xi32>
      -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
  return %o, %l : tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
}

// prefetch_blocks = 1: each slot first prefetches the rows of the block one
// slot ahead, if that slot selects one: the same tokens its own iteration
// will attend.
// CHECK-LABEL: func @selected_prefetch
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<2x100x8x64xf32>, %[[K:[a-z0-9_]+]]: tensor<2x100x2x64xf32>, %[[V:[a-z0-9_]+]]: tensor<2x100x2x32xf32>, %[[IDX:[a-z0-9_]+]]: tensor<2x100x2x16xi32>)
// CHECK: %[[T:[a-z0-9_]+]] = tensor.dim %[[Q]], %c1
// CHECK: scf.forall (%[[BI:[a-z0-9_]+]], %[[TI:[a-z0-9_]+]], %[[HQ:[a-z0-9_]+]])
// CHECK: %[[T0:[a-z0-9_]+]] = affine.apply #[[$ID]](%[[TI]])
// CHECK: %[[H:[a-z0-9_]+]] = affine.apply #[[$KVHEAD4]](%[[HQ]])
// CHECK: scf.for %[[SLOT:[a-z0-9_]+]] = %c0{{(_[0-9]+)?}} to %c16
// CHECK-NEXT: %[[AHEAD:[a-z0-9_]+]] = affine.apply #[[$PLUS1]](%[[SLOT]])
// CHECK-NEXT: %[[N16:[a-z0-9_]+]] = arith.constant 16 : index
// CHECK-NEXT: %[[INRANGE:[a-z0-9_]+]] = arith.cmpi ult, %[[AHEAD]], %[[N16]] : index
// CHECK-NEXT: scf.if %[[INRANGE]] {
// CHECK-NEXT: %[[NJ:[a-z0-9_]+]] = tensor.extract %[[IDX]][%[[BI]], %[[T0]], %[[H]], %[[AHEAD]]] : tensor<2x100x2x16xi32>
// CHECK-NEXT: arith.constant 0 : i32
// CHECK-NEXT: %[[NSEL:[a-z0-9_]+]] = arith.cmpi sge, %[[NJ]], %{{.*}} : i32
// CHECK-NEXT: scf.if %[[NSEL]] {
// CHECK-NEXT: %[[NJI:[a-z0-9_]+]] = arith.index_cast %[[NJ]] : i32 to index
// CHECK-NEXT: %[[NSTART:[a-z0-9_]+]] = affine.apply #[[$MUL64]](%[[NJI]])
// CHECK-NEXT: %[[NEND:[a-z0-9_]+]] = affine.min #[[$SLCEND]](%[[NSTART]])[%[[T]], %[[T0]]]
// CHECK-NEXT: %[[NLEN:[a-z0-9_]+]] = affine.apply #[[$DIFF]](%[[NEND]], %[[NSTART]])
// CHECK-NEXT: %[[NK:[a-z0-9_]+]] = tensor.extract_slice %[[K]][%[[BI]], %[[NSTART]], %[[H]], 0] [1, %[[NLEN]], 1, 64] [1, 1, 1, 1] : tensor<2x100x2x64xf32> to tensor<?x64xf32>
// CHECK-NEXT: %[[NV:[a-z0-9_]+]] = tensor.extract_slice %[[V]][%[[BI]], %[[NSTART]], %[[H]], 0] [1, %[[NLEN]], 1, 32] [1, 1, 1, 1] : tensor<2x100x2x32xf32> to tensor<?x32xf32>
// CHECK-NEXT: nsa.prefetch_tile %[[NK]], %[[NV]] : tensor<?x64xf32>, tensor<?x32xf32>
// CHECK-NEXT: }
// CHECK-NEXT: }
// CHECK-NEXT: tensor.extract %[[IDX]][%[[BI]], %[[T0]], %[[H]], %[[SLOT]]] : tensor<2x100x2x16xi32>
// CHECK: nsa.attend_tile
// CHECK-NOT: nsa.prefetch_tile
// CHECK: } {nsa.gqa_group_size = 4 : i64}
func.func @selected_prefetch(%q: tensor<2x100x8x64xf32>, %k: tensor<2x100x2x64xf32>, %v: tensor<2x100x2x32xf32>,
                    %idx: tensor<2x100x2x16xi32>) -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>)
    attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 32, prefetch_blocks = 1>} {
  %o, %l = nsa.selected_attention %q, %k, %v, %idx {config = #nsa.config<>}
      : tensor<2x100x8x64xf32>, tensor<2x100x2x64xf32>, tensor<2x100x2x32xf32>, tensor<2x100x2x16xi32>
      -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
  return %o, %l : tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
}

// prefetch_blocks = 2 looks two slots ahead.
// CHECK-LABEL: func @selected_prefetch_two
// CHECK: scf.for %[[SLOT2:[a-z0-9_]+]] = %c0{{(_[0-9]+)?}} to %c16
// CHECK-NEXT: affine.apply #[[$PLUS2]](%[[SLOT2]])
// CHECK: nsa.prefetch_tile
func.func @selected_prefetch_two(%q: tensor<2x100x8x64xf32>, %k: tensor<2x100x2x64xf32>, %v: tensor<2x100x2x32xf32>,
                    %idx: tensor<2x100x2x16xi32>) -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>)
    attributes {nsa.target = #nsa.target<block_q = 16, block_kv = 32, prefetch_blocks = 2>} {
  %o, %l = nsa.selected_attention %q, %k, %v, %idx {config = #nsa.config<>}
      : tensor<2x100x8x64xf32>, tensor<2x100x2x64xf32>, tensor<2x100x2x32xf32>, tensor<2x100x2x16xi32>
      -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
  return %o, %l : tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
}

// The nearest nsa.target wins: the function's overrides the module's.
// CHECK-LABEL: func @function_target
// CHECK: affine.apply #[[$CEIL32]]
// CHECK: scf.for {{.*}} step %c128
// CHECK: } {nsa.gqa_group_size = 4 : i64}
func.func @function_target(%q: tensor<2x100x8x64xf32>, %k: tensor<2x100x2x64xf32>, %v: tensor<2x100x2x32xf32>)
    -> (tensor<2x100x8x32xf32>, tensor<2x100x8xf32>)
    attributes {nsa.target = #nsa.target<block_q = 32, block_kv = 128>} {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48>}
      : tensor<2x100x8x64xf32>, tensor<2x100x2x64xf32>, tensor<2x100x2x32xf32>
      -> tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
  return %o, %l : tensor<2x100x8x32xf32>, tensor<2x100x8xf32>
}

}

// No target anywhere: the H100 defaults, block_q = block_kv = 64. Dynamic
// batch and sequence (the output inits take them from the query), bf16
// activations, G = 2, the paper's window 512.

module @no_target {

// CHECK-LABEL: func @window_default_target
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<?x?x4x16xbf16>, %[[K:[a-z0-9_]+]]: tensor<?x?x2x16xbf16>, %[[V:[a-z0-9_]+]]: tensor<?x?x2x8xbf16>)
// CHECK: %[[B:[a-z0-9_]+]] = tensor.dim %[[Q]], %c0
// CHECK: %[[T:[a-z0-9_]+]] = tensor.dim %[[Q]], %c1
// CHECK: %[[NT:[a-z0-9_]+]] = affine.apply #[[$CEIL64]](%[[T]])
// CHECK: %[[OUT:[a-z0-9_]+]] = tensor.empty(%[[B]], %[[T]]) : tensor<?x?x4x8xbf16>
// CHECK: %[[LSE:[a-z0-9_]+]] = tensor.empty(%[[B]], %[[T]]) : tensor<?x?x4xf32>
// CHECK: scf.forall (%[[BI:[a-z0-9_]+]], %[[TI:[a-z0-9_]+]], %[[HQ:[a-z0-9_]+]]) in (%[[B]], %[[NT]], 4) shared_outs(%{{.*}} = %[[OUT]], %{{.*}} = %[[LSE]]) -> (tensor<?x?x4x8xbf16>, tensor<?x?x4xf32>) {
// CHECK: %[[T0:[a-z0-9_]+]] = affine.apply #[[$MUL64]](%[[TI]])
// CHECK: %[[ROWS:[a-z0-9_]+]] = affine.min #[[$ROWS64]](%[[T0]])[%[[T]]]
// CHECK: %[[H:[a-z0-9_]+]] = affine.apply #[[$KVHEAD2]](%[[HQ]])
// CHECK: %[[QT:[a-z0-9_]+]] = tensor.extract_slice %[[Q]][%[[BI]], %[[T0]], %[[HQ]], 0] [1, %[[ROWS]], 1, 16] [1, 1, 1, 1] : tensor<?x?x4x16xbf16> to tensor<?x1x16xbf16>
// CHECK: nsa.init_tile_state %[[QT]] value_dim = 8 : tensor<?x1x16xbf16>
// CHECK: %[[LO:[a-z0-9_]+]] = affine.max #[[$WINLO512]](%[[T0]])
// CHECK: %[[HI:[a-z0-9_]+]] = affine.apply #[[$WINHI]](%[[T0]], %[[ROWS]])
// CHECK: scf.for %[[KV:[a-z0-9_]+]] = %[[LO]] to %[[HI]] step %c64
// CHECK: %[[N:[a-z0-9_]+]] = affine.min #[[$ROWS64]](%[[KV]])[%[[HI]]]
// CHECK: tensor.extract_slice %[[K]][%[[BI]], %[[KV]], %[[H]], 0] [1, %[[N]], 1, 16] [1, 1, 1, 1] : tensor<?x?x2x16xbf16> to tensor<?x16xbf16>
// CHECK: tensor.extract_slice %[[V]][%[[BI]], %[[KV]], %[[H]], 0] [1, %[[N]], 1, 8] [1, 1, 1, 1] : tensor<?x?x2x8xbf16> to tensor<?x8xbf16>
// The explicit config scale wins over 1/sqrt(Dk).
// CHECK: nsa.attend_tile {{.*}} {key_offset = 0 : i64, key_stride = 1 : i64, scale = 5.000000e-01 : f64, window = 512 : i64} : tensor<?x1x16xbf16>, tensor<?x16xbf16>, tensor<?x8xbf16>, tensor<?x1xf32>, tensor<?x1x8xf32>
// CHECK: nsa.finalize_tile {{.*}} to bf16 : tensor<?x1xf32>, tensor<?x1x8xf32>
// CHECK: tensor.parallel_insert_slice {{.*}} : tensor<?x1x8xbf16> into tensor<?x?x4x8xbf16>
// CHECK: tensor.parallel_insert_slice {{.*}} : tensor<?x1xf32> into tensor<?x?x4xf32>
// CHECK: } {nsa.gqa_group_size = 2 : i64}
func.func @window_default_target(%q: tensor<?x?x4x16xbf16>, %k: tensor<?x?x2x16xbf16>, %v: tensor<?x?x2x8xbf16>)
    -> (tensor<?x?x4x8xbf16>, tensor<?x?x4xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<scale = 0.5>}
      : tensor<?x?x4x16xbf16>, tensor<?x?x2x16xbf16>, tensor<?x?x2x8xbf16>
      -> tensor<?x?x4x8xbf16>, tensor<?x?x4xf32>
  return %o, %l : tensor<?x?x4x8xbf16>, tensor<?x?x4xf32>
}

}

// nsa.compressed_probs tiles like the branch attentions (64 positions per
// tile, one query head), but its body is one nsa.probs_tile over all
// compressed blocks of the KV head: each tile of probabilities is final and
// is stored as it is; nothing is carried between KV tiles.
// CHECK-LABEL: func.func @compressed_probs
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<2x100x8x64xf32>, %[[KC:[a-z0-9_]+]]: tensor<2x5x2x64xf32>, %[[LSE:[a-z0-9_]+]]: tensor<2x100x8xf32>)
// CHECK: %[[NC:.*]] = tensor.dim %[[KC]], %c1
// CHECK: %[[INIT:.*]] = tensor.empty() : tensor<2x100x8x5xf32>
// CHECK: scf.forall (%[[B:[a-z0-9_]+]], %[[TI:[a-z0-9_]+]], %[[HQ:[a-z0-9_]+]]) in (%{{.*}}, %{{.*}}, 8) shared_outs(%[[OUT:[a-z0-9_]+]] = %[[INIT]]) -> (tensor<2x100x8x5xf32>) {
// CHECK: %[[T0:.*]] = affine.apply #{{.*}}(%[[TI]])
// CHECK: %[[ROWS:.*]] = affine.min #{{.*}}(%[[T0]])
// CHECK: %[[KVH:.*]] = affine.apply #{{.*}}(%[[HQ]])
// CHECK: %[[QT:.*]] = tensor.extract_slice %[[Q]][%[[B]], %[[T0]], %[[HQ]], 0] [1, %[[ROWS]], 1, 64] [1, 1, 1, 1] : tensor<2x100x8x64xf32> to tensor<?x1x64xf32>
// CHECK: %[[KT:.*]] = tensor.extract_slice %[[KC]][%[[B]], %{{.*}}, %[[KVH]], 0] [1, %[[NC]], 1, 64] [1, 1, 1, 1] : tensor<2x5x2x64xf32> to tensor<?x64xf32>
// CHECK: %[[LT:.*]] = tensor.extract_slice %[[LSE]][%[[B]], %[[T0]], %[[HQ]]] [1, %[[ROWS]], 1] [1, 1, 1] : tensor<2x100x8xf32> to tensor<?x1xf32>
// CHECK: %[[P:.*]] = nsa.probs_tile %[[QT]], %[[KT]], %[[LT]] at(%[[T0]], %{{.*}}) {key_offset = 31 : i64, key_stride = 16 : i64, scale = 1.250000e-01 : f64} : tensor<?x1x64xf32>, tensor<?x64xf32>, tensor<?x1xf32> -> tensor<?x1x?xf32>
// CHECK: tensor.parallel_insert_slice %[[P]] into %[[OUT]][%[[B]], %[[T0]], %[[HQ]], 0] [1, %[[ROWS]], 1, %[[NC]]] [1, 1, 1, 1]
// CHECK: } {nsa.gqa_group_size = 4 : i64}
func.func @compressed_probs(%q: tensor<2x100x8x64xf32>, %kc: tensor<2x5x2x64xf32>, %lse: tensor<2x100x8xf32>) -> tensor<2x100x8x5xf32> {
  %p = nsa.compressed_probs %q, %kc, %lse {config = #nsa.config<>}
      : tensor<2x100x8x64xf32>, tensor<2x5x2x64xf32>, tensor<2x100x8xf32> -> tensor<2x100x8x5xf32>
  return %p : tensor<2x100x8x5xf32>
}

// Group sums need a whole GQA group per tile: the loop runs over the KV
// heads, each tile takes the group's 4 query heads and lse columns, and
// nsa.probs_tile sums them into [rows, 1, Nc]; nothing is left to fuse.
// CHECK-LABEL: func.func @compressed_probs_group_sum
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<2x100x8x64xf32>, %[[KC:[a-z0-9_]+]]: tensor<2x5x2x64xf32>, %[[LSE:[a-z0-9_]+]]: tensor<2x100x8xf32>)
// CHECK: %[[INIT:.*]] = tensor.empty() : tensor<2x100x2x5xf32>
// CHECK: scf.forall (%[[B:[a-z0-9_]+]], %[[TI:[a-z0-9_]+]], %[[H:[a-z0-9_]+]]) in (%{{.*}}, %{{.*}}, 2) shared_outs(%[[OUT:[a-z0-9_]+]] = %[[INIT]]) -> (tensor<2x100x2x5xf32>) {
// CHECK: %[[T0:.*]] = affine.apply #{{.*}}(%[[TI]])
// CHECK: %[[ROWS:.*]] = affine.min #{{.*}}(%[[T0]])
// CHECK: %[[QT:.*]] = tensor.extract_slice %[[Q]][%[[B]], %[[T0]], %[[HQ:[0-9]+]], 0] [1, %[[ROWS]], 4, 64] [1, 1, 1, 1] : tensor<2x100x8x64xf32> to tensor<?x4x64xf32>
// CHECK: %[[KT:.*]] = tensor.extract_slice %[[KC]][%[[B]], %{{.*}}, %[[H]], 0]
// CHECK: %[[LT:.*]] = tensor.extract_slice %[[LSE]][%[[B]], %[[T0]], %[[HQ]]] [1, %[[ROWS]], 4] [1, 1, 1] : tensor<2x100x8xf32> to tensor<?x4xf32>
// CHECK: %[[P:.*]] = nsa.probs_tile %[[QT]], %[[KT]], %[[LT]] at(%[[T0]], %{{.*}}) group_sum {{.*}} : tensor<?x4x64xf32>, tensor<?x64xf32>, tensor<?x4xf32> -> tensor<?x1x?xf32>
// CHECK: tensor.parallel_insert_slice %[[P]] into %[[OUT]][%[[B]], %[[T0]], %[[H]], 0] [1, %[[ROWS]], 1, %{{.*}}] [1, 1, 1, 1]
// CHECK: } {nsa.gqa_group_size = 1 : i64}
func.func @compressed_probs_group_sum(%q: tensor<2x100x8x64xf32>, %kc: tensor<2x5x2x64xf32>, %lse: tensor<2x100x8xf32>) -> tensor<2x100x2x5xf32> {
  %p = nsa.compressed_probs %q, %kc, %lse group_sum {config = #nsa.config<>}
      : tensor<2x100x8x64xf32>, tensor<2x5x2x64xf32>, tensor<2x100x8xf32> -> tensor<2x100x2x5xf32>
  return %p : tensor<2x100x2x5xf32>
}
