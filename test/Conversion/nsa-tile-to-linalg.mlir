// RUN: nsa-opt %s --convert-nsa-tile-to-linalg -split-input-file --mlir-print-local-scope | FileCheck %s

// convert-nsa-tile-to-linalg: each tile op becomes linalg.fill /
// linalg.generic on tensors computing its documented math in f32. Indexing
// maps are printed inline (--mlir-print-local-scope).

// The empty state: max = -inf, sum = 0, acc = 0, shaped [R, G] and
// [R, G, value_dim] after the (dynamic) query rows.
// CHECK-LABEL: func @init
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<?x4x64xbf16>)
// CHECK-DAG: %[[ZERO:[a-z0-9_]+]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[NEGINF:[a-z0-9_]+]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[C0:[a-z0-9_]+]] = arith.constant 0 : index
// CHECK: %[[R:[a-z0-9_]+]] = tensor.dim %[[Q]], %[[C0]] : tensor<?x4x64xbf16>
// CHECK: %[[E0:[a-z0-9_]+]] = tensor.empty(%[[R]]) : tensor<?x4xf32>
// CHECK: %[[MAX:[a-z0-9_]+]] = linalg.fill ins(%[[NEGINF]] : f32) outs(%[[E0]] : tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK: %[[E1:[a-z0-9_]+]] = tensor.empty(%[[R]]) : tensor<?x4xf32>
// CHECK: %[[SUM:[a-z0-9_]+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E1]] : tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK: %[[E2:[a-z0-9_]+]] = tensor.empty(%[[R]]) : tensor<?x4x32xf32>
// CHECK: %[[ACC:[a-z0-9_]+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[E2]] : tensor<?x4x32xf32>) -> tensor<?x4x32xf32>
// CHECK: return %[[MAX]], %[[SUM]], %[[ACC]]
// CHECK-NOT: nsa.
func.func @init(%q: tensor<?x4x64xbf16>) -> (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4x32xf32>) {
  %m, %s, %a = nsa.init_tile_state %q value_dim = 32 : tensor<?x4x64xbf16>
  return %m, %s, %a : tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4x32xf32>
}

// -----

// A compressed-branch step (stride 16, offset 31) on a bf16 tile of G = 4
// heads and a dynamic KV tile.
// CHECK-LABEL: func @attend
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<16x4x64xbf16>, %[[K:[a-z0-9_]+]]: tensor<?x64xbf16>, %[[V:[a-z0-9_]+]]: tensor<?x32xbf16>, %[[M:[a-z0-9_]+]]: tensor<16x4xf32>, %[[S:[a-z0-9_]+]]: tensor<16x4xf32>, %[[A:[a-z0-9_]+]]: tensor<16x4x32xf32>, %[[QP:[a-z0-9_]+]]: index, %[[KP:[a-z0-9_]+]]: index)
// CHECK-DAG: %[[NEGINF:[a-z0-9_]+]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[SCALE:[a-z0-9_]+]] = arith.constant 1.250000e-01 : f32
// CHECK-DAG: %[[STRIDE:[a-z0-9_]+]] = arith.constant 16 : index
// CHECK-DAG: %[[OFFSET:[a-z0-9_]+]] = arith.constant 31 : index
// CHECK-DAG: %[[ZERO:[a-z0-9_]+]] = arith.constant 0.000000e+00 : f32
// Scores s[r, g, c] = sum_d q[r, g, d] * k[c, d] in f32: a contraction
// reducing the head dim d3.
// CHECK: %[[SINIT:[a-z0-9_]+]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<16x4x?xf32>)
// CHECK: %[[SCORES:[a-z0-9_]+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[Q]], %[[K]] : tensor<16x4x64xbf16>, tensor<?x64xbf16>) outs(%[[SINIT]] : tensor<16x4x?xf32>)
// CHECK: ^bb0(%[[QE:[a-z0-9_]+]]: bf16, %[[KE:[a-z0-9_]+]]: bf16, %[[OUT:[a-z0-9_]+]]: f32):
// CHECK-DAG: %[[KF:[a-z0-9_]+]] = arith.extf %[[KE]] : bf16 to f32
// CHECK-DAG: %[[QF:[a-z0-9_]+]] = arith.extf %[[QE]] : bf16 to f32
// CHECK: %[[PROD:[a-z0-9_]+]] = arith.mulf %[[QF]], %[[KF]] : f32
// CHECK: %[[ADD:[a-z0-9_]+]] = arith.addf %[[OUT]], %[[PROD]] : f32
// CHECK: linalg.yield %[[ADD]] : f32
// Masked scaling: key c is token 16 * (key_pos + c) + 31, visible to row r
// iff it is <= query_pos + r; masked scores are -inf. No window: one compare.
// CHECK: %[[MASKED:[a-z0-9_]+]] = linalg.generic {indexing_maps = {{.*}}, iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[SCORES]] : tensor<16x4x?xf32>)
// CHECK: ^bb0(%[[SC:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[ROW:[a-z0-9_]+]] = linalg.index 0 : index
// CHECK-NEXT: %[[COL:[a-z0-9_]+]] = linalg.index 2 : index
// CHECK-NEXT: %[[QTOK:[a-z0-9_]+]] = arith.addi %[[QP]], %[[ROW]] : index
// CHECK-NEXT: %[[KIDX:[a-z0-9_]+]] = arith.addi %[[KP]], %[[COL]] : index
// CHECK-NEXT: %[[KMUL:[a-z0-9_]+]] = arith.muli %[[KIDX]], %[[STRIDE]] : index
// CHECK-NEXT: %[[KTOK:[a-z0-9_]+]] = arith.addi %[[KMUL]], %[[OFFSET]] : index
// CHECK-NEXT: %[[VIS:[a-z0-9_]+]] = arith.cmpi sle, %[[KTOK]], %[[QTOK]] : index
// CHECK-NEXT: %[[SCALED:[a-z0-9_]+]] = arith.mulf %[[SC]], %[[SCALE]] : f32
// CHECK-NEXT: %[[SEL:[a-z0-9_]+]] = arith.select %[[VIS]], %[[SCALED]], %[[NEGINF]] : f32
// CHECK-NEXT: linalg.yield %[[SEL]] : f32
// max' = max(max, max_c s): a reduction over the keys into the old max.
// CHECK: %[[NEWMAX:[a-z0-9_]+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[MASKED]] : tensor<16x4x?xf32>) outs(%[[M]] : tensor<16x4xf32>)
// CHECK: arith.maximumf
// Rows that saw no key yet subtract 0 instead of -inf.
// CHECK: %[[SAFE:[a-z0-9_]+]] = linalg.generic {{.*}} ins(%[[NEWMAX]] : tensor<16x4xf32>)
// CHECK: arith.cmpf oeq, %{{.*}}, %[[NEGINF]] : f32
// CHECK: arith.select
// Rescale factor exp(max - max').
// CHECK: %[[RESCALE:[a-z0-9_]+]] = linalg.generic {{.*}} ins(%[[M]], %[[SAFE]] : tensor<16x4xf32>, tensor<16x4xf32>)
// CHECK: arith.subf
// CHECK-NEXT: math.exp
// Probabilities exp(s - max').
// CHECK: %[[P:[a-z0-9_]+]] = linalg.generic {{.*}} ins(%[[MASKED]], %[[SAFE]] : tensor<16x4x?xf32>, tensor<16x4xf32>)
// CHECK: arith.subf
// CHECK-NEXT: math.exp
// sum' = sum * rescale + sum_c p.
// CHECK: %[[SUMSCALED:[a-z0-9_]+]] = linalg.generic {{.*}} ins(%[[RESCALE]], %[[S]] : tensor<16x4xf32>, tensor<16x4xf32>)
// CHECK: arith.mulf
// CHECK: %[[NEWSUM:[a-z0-9_]+]] = linalg.generic {{.*}}, iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[P]] : tensor<16x4x?xf32>) outs(%[[SUMSCALED]] : tensor<16x4xf32>)
// CHECK: arith.addf
// acc' = acc * rescale + sum_c p * v, accumulating bf16 values in f32.
// CHECK: %[[ACCSCALED:[a-z0-9_]+]] = linalg.generic {{.*}} ins(%[[RESCALE]], %[[A]] : tensor<16x4xf32>, tensor<16x4x32xf32>)
// CHECK: arith.mulf
// CHECK: %[[NEWACC:[a-z0-9_]+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>, affine_map<(d0, d1, d2, d3) -> (d3, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[P]], %[[V]] : tensor<16x4x?xf32>, tensor<?x32xbf16>) outs(%[[ACCSCALED]] : tensor<16x4x32xf32>)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: return %[[NEWMAX]], %[[NEWSUM]], %[[NEWACC]]
// CHECK-NOT: nsa.
func.func @attend(%q: tensor<16x4x64xbf16>, %k: tensor<?x64xbf16>, %v: tensor<?x32xbf16>,
                  %m: tensor<16x4xf32>, %s: tensor<16x4xf32>, %a: tensor<16x4x32xf32>,
                  %qpos: index, %kpos: index) -> (tensor<16x4xf32>, tensor<16x4xf32>, tensor<16x4x32xf32>) {
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %s, %a) at(%qpos, %kpos)
      {scale = 0.125 : f64, key_stride = 16 : i64, key_offset = 31 : i64}
      : tensor<16x4x64xbf16>, tensor<?x64xbf16>, tensor<?x32xbf16>, tensor<16x4xf32>, tensor<16x4x32xf32>
  return %m1, %s1, %a1 : tensor<16x4xf32>, tensor<16x4xf32>, tensor<16x4x32xf32>
}

// -----

// A window step (stride 1, offset 0, window 48) on f32: the mask gains the
// second compare, key token + 48 > query token, and no extf appears.
// CHECK-LABEL: func @attend_window
// CHECK-SAME: %[[QP:[a-z0-9_]+]]: index, %[[KP:[a-z0-9_]+]]: index)
// CHECK-DAG: %[[NEGINF:[a-z0-9_]+]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[SCALE:[a-z0-9_]+]] = arith.constant 2.500000e-01 : f32
// CHECK-DAG: %[[W:[a-z0-9_]+]] = arith.constant 48 : index
// CHECK-NOT: arith.extf
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<16x1x64xf32>, tensor<32x64xf32>)
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "parallel"]}
// CHECK-NEXT: ^bb0(%[[SC:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[ROW:[a-z0-9_]+]] = linalg.index 0 : index
// CHECK-NEXT: %[[COL:[a-z0-9_]+]] = linalg.index 2 : index
// CHECK-NEXT: %[[QTOK:[a-z0-9_]+]] = arith.addi %[[QP]], %[[ROW]] : index
// CHECK-NEXT: %[[KTOK:[a-z0-9_]+]] = arith.addi %[[KP]], %[[COL]] : index
// CHECK-NEXT: %[[CAUSAL:[a-z0-9_]+]] = arith.cmpi sle, %[[KTOK]], %[[QTOK]] : index
// CHECK-NEXT: %[[KW:[a-z0-9_]+]] = arith.addi %[[KTOK]], %[[W]] : index
// CHECK-NEXT: %[[INWIN:[a-z0-9_]+]] = arith.cmpi sgt, %[[KW]], %[[QTOK]] : index
// CHECK-NEXT: %[[VIS:[a-z0-9_]+]] = arith.andi %[[CAUSAL]], %[[INWIN]] : i1
// CHECK-NEXT: %[[SCALED:[a-z0-9_]+]] = arith.mulf %[[SC]], %[[SCALE]] : f32
// CHECK-NEXT: arith.select %[[VIS]], %[[SCALED]], %[[NEGINF]] : f32
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: math.exp
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<16x1x32xf32>, tensor<32x32xf32>) outs(%{{.*}} : tensor<16x1x32xf32>)
// CHECK-NOT: nsa.
func.func @attend_window(%q: tensor<16x1x64xf32>, %k: tensor<32x64xf32>, %v: tensor<32x32xf32>,
                         %m: tensor<16x1xf32>, %s: tensor<16x1xf32>, %a: tensor<16x1x32xf32>,
                         %qpos: index, %kpos: index) -> (tensor<16x1xf32>, tensor<16x1xf32>, tensor<16x1x32xf32>) {
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %s, %a) at(%qpos, %kpos)
      {scale = 0.25 : f64, key_stride = 1 : i64, key_offset = 0 : i64, window = 48 : i64}
      : tensor<16x1x64xf32>, tensor<32x64xf32>, tensor<32x32xf32>, tensor<16x1xf32>, tensor<16x1x32xf32>
  return %m1, %s1, %a1 : tensor<16x1xf32>, tensor<16x1xf32>, tensor<16x1x32xf32>
}

// -----

// output = acc / sum converted to bf16, lse = max + log(sum); rows with
// sum = 0 give 0 and -inf.
// CHECK-LABEL: func @finalize
// CHECK-SAME: (%[[M:[a-z0-9_]+]]: tensor<?x4xf32>, %[[S:[a-z0-9_]+]]: tensor<?x4xf32>, %[[A:[a-z0-9_]+]]: tensor<?x4x32xf32>)
// CHECK-DAG: %[[NEGINF:[a-z0-9_]+]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[ZERO:[a-z0-9_]+]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[ZEROBF:[a-z0-9_]+]] = arith.constant 0.000000e+00 : bf16
// CHECK: %[[OUT:[a-z0-9_]+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[S]], %[[A]] : tensor<?x4xf32>, tensor<?x4x32xf32>) outs(%{{.*}} : tensor<?x4x32xbf16>)
// CHECK-NEXT: ^bb0(%[[SE:[a-z0-9_]+]]: f32, %[[AE:[a-z0-9_]+]]: f32, %{{.*}}: bf16):
// CHECK-NEXT: %[[DIV:[a-z0-9_]+]] = arith.divf %[[AE]], %[[SE]] : f32
// CHECK-NEXT: %[[TRUNC:[a-z0-9_]+]] = arith.truncf %[[DIV]] : f32 to bf16
// CHECK-NEXT: %[[POS:[a-z0-9_]+]] = arith.cmpf ogt, %[[SE]], %[[ZERO]] : f32
// CHECK-NEXT: %[[O:[a-z0-9_]+]] = arith.select %[[POS]], %[[TRUNC]], %[[ZEROBF]] : bf16
// CHECK-NEXT: linalg.yield %[[O]] : bf16
// CHECK: %[[LSE:[a-z0-9_]+]] = linalg.generic {{.*}} ins(%[[M]], %[[S]] : tensor<?x4xf32>, tensor<?x4xf32>) outs(%{{.*}} : tensor<?x4xf32>)
// CHECK-NEXT: ^bb0(%[[ME:[a-z0-9_]+]]: f32, %[[SE2:[a-z0-9_]+]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[LOG:[a-z0-9_]+]] = math.log %[[SE2]] : f32
// CHECK-NEXT: %[[SUM:[a-z0-9_]+]] = arith.addf %[[ME]], %[[LOG]] : f32
// CHECK-NEXT: %[[POS2:[a-z0-9_]+]] = arith.cmpf ogt, %[[SE2]], %[[ZERO]] : f32
// CHECK-NEXT: %[[L:[a-z0-9_]+]] = arith.select %[[POS2]], %[[SUM]], %[[NEGINF]] : f32
// CHECK-NEXT: linalg.yield %[[L]] : f32
// CHECK: return %[[OUT]], %[[LSE]]
// CHECK-NOT: nsa.
func.func @finalize(%m: tensor<?x4xf32>, %s: tensor<?x4xf32>, %a: tensor<?x4x32xf32>)
    -> (tensor<?x4x32xbf16>, tensor<?x4xf32>) {
  %o, %l = nsa.finalize_tile %m, %s, %a to bf16 : tensor<?x4xf32>, tensor<?x4x32xf32>
  return %o, %l : tensor<?x4x32xbf16>, tensor<?x4xf32>
}

// -----

// An f32 output needs no conversion.
// CHECK-LABEL: func @finalize_f32
// CHECK: arith.divf
// CHECK-NOT: arith.truncf
// CHECK: math.log
func.func @finalize_f32(%m: tensor<8x1xf32>, %s: tensor<8x1xf32>, %a: tensor<8x1x16xf32>)
    -> (tensor<8x1x16xf32>, tensor<8x1xf32>) {
  %o, %l = nsa.finalize_tile %m, %s, %a to f32 : tensor<8x1xf32>, tensor<8x1x16xf32>
  return %o, %l : tensor<8x1x16xf32>, tensor<8x1xf32>
}

// -----

// nsa.probs_tile: the masked scaled scores of attend_tile (invisible keys
// -inf), then p = exp(s - lse), with masked keys 0.
// CHECK-LABEL: func.func @probs_tile
// CHECK: %[[S:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%arg0, %arg1 : tensor<?x4x64xbf16>, tensor<?x64xbf16>)
// CHECK: %[[M:.*]] = linalg.generic {{.*}} ins(%[[S]] : tensor<?x4x?xf32>)
// CHECK:   arith.cmpi sle
// CHECK:   arith.select
// CHECK: linalg.generic {{.*}} ins(%[[M]], %arg2 : tensor<?x4x?xf32>, tensor<?x4xf32>)
// CHECK:   %[[MASKED:.*]] = arith.cmpf oeq
// CHECK:   %[[DIFF:.*]] = arith.subf
// CHECK:   %[[EXP:.*]] = math.exp %[[DIFF]]
// CHECK:   arith.select %[[MASKED]], %{{.*}}, %[[EXP]]
func.func @probs_tile(%q: tensor<?x4x64xbf16>, %k: tensor<?x64xbf16>, %lse: tensor<?x4xf32>, %pos: index, %kpos: index) -> tensor<?x4x?xf32> {
  %p = nsa.probs_tile %q, %k, %lse at(%pos, %kpos)
      {scale = 0.125 : f64, key_stride = 16 : i64, key_offset = 31 : i64}
      : tensor<?x4x64xbf16>, tensor<?x64xbf16>, tensor<?x4xf32> -> tensor<?x4x?xf32>
  return %p : tensor<?x4x?xf32>
}

// -----

// With group_sum, the probabilities are then summed over the heads: a
// reduction over g into [R, 1, N].
// CHECK-LABEL: func.func @probs_tile_group_sum
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %arg2 : tensor<?x4x?xf32>, tensor<?x4xf32>)
// CHECK:   math.exp
// CHECK: %[[SUM:.*]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2, d1)>, affine_map<(d0, d1, d2) -> (d0, 0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[P]] : tensor<?x4x?xf32>) outs(%{{.*}} : tensor<?x1x?xf32>)
// CHECK:   arith.addf
// CHECK: return %[[SUM]] : tensor<?x1x?xf32>
func.func @probs_tile_group_sum(%q: tensor<?x4x64xbf16>, %k: tensor<?x64xbf16>, %lse: tensor<?x4xf32>, %pos: index, %kpos: index) -> tensor<?x1x?xf32> {
  %p = nsa.probs_tile %q, %k, %lse at(%pos, %kpos) group_sum
      {scale = 0.125 : f64, key_stride = 16 : i64, key_offset = 31 : i64}
      : tensor<?x4x64xbf16>, tensor<?x64xbf16>, tensor<?x4xf32> -> tensor<?x1x?xf32>
  return %p : tensor<?x1x?xf32>
}
