// RUN: nsa-opt %s --convert-nsa-to-linalg -split-input-file --mlir-print-local-scope | FileCheck %s
// RUN: nsa-opt %s --convert-nsa-to-linalg=branch-attention=1 -split-input-file --mlir-print-local-scope \
// RUN:   | FileCheck %s --check-prefix=DENSE

// convert-nsa-to-linalg: compress, compressed_probs, select and combine
// become linalg (and scf for the top-n) on tensors, accumulating in f32. By
// default the branch attentions are left for nsa-tile (CHECK); with
// branch-attention=1 they are lowered densely, untiled (DENSE).

// Mean pooling of bf16 keys and values: a reduction over the l = 8 positions
// p of block i (token i * 4 + p), each token weighted 1/8 in f32, then the
// cast back. Nc = max(0, (T - 8) floordiv 4 + 1) from the dynamic T.
// CHECK-LABEL: func @compress_mean
// CHECK-SAME: (%[[K:[a-z0-9_]+]]: tensor<2x?x2x16xbf16>, %[[V:[a-z0-9_]+]]: tensor<2x?x2x8xbf16>)
// CHECK: %[[T:[a-z0-9_]+]] = tensor.dim %[[K]], %{{.*}} : tensor<2x?x2x16xbf16>
// CHECK: %[[NC:[a-z0-9_]+]] = affine.max affine_map<(d0) -> (d0 floordiv 4 - 1, 0)>(%[[T]])
// CHECK: %[[POS:[a-z0-9_]+]] = tensor.empty() : tensor<8xf32>
// CHECK: %[[KE:[a-z0-9_]+]] = tensor.empty(%[[NC]]) : tensor<2x?x2x16xf32>
// CHECK: %[[KF:[a-z0-9_]+]] = linalg.fill ins(%{{.*}} : f32) outs(%[[KE]] : tensor<2x?x2x16xf32>)
// CHECK: %[[KSUM:[a-z0-9_]+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 * 4 + d4, d2, d3)>, affine_map<(d0, d1, d2, d3, d4) -> (d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[K]], %[[POS]] : tensor<2x?x2x16xbf16>, tensor<8xf32>) outs(%[[KF]] : tensor<2x?x2x16xf32>)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.constant 1.250000e-01 : f32
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: %[[KC:[a-z0-9_]+]] = linalg.generic {{.*}} ins(%[[KSUM]] : tensor<2x?x2x16xf32>) outs(%{{.*}} : tensor<2x?x2x16xbf16>)
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: linalg.generic {{.*}} ins(%[[V]], %{{.*}} : tensor<2x?x2x8xbf16>, tensor<8xf32>)
// CHECK: %[[VC:[a-z0-9_]+]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<2x?x2x8xbf16>)
// CHECK: return %[[KC]], %[[VC]]
// CHECK-NOT: nsa.
func.func @compress_mean(%k: tensor<2x?x2x16xbf16>, %v: tensor<2x?x2x8xbf16>)
    -> (tensor<2x?x2x16xbf16>, tensor<2x?x2x8xbf16>) {
  %kc, %vc = nsa.compress %k, %v {config = #nsa.config<cmp_block = 8, cmp_stride = 4, slc_block = 16>}
      : tensor<2x?x2x16xbf16>, tensor<2x?x2x8xbf16> -> tensor<2x?x2x16xbf16>, tensor<2x?x2x8xbf16>
  return %kc, %vc : tensor<2x?x2x16xbf16>, tensor<2x?x2x8xbf16>
}

// -----

// Weighted pooling: the [H, l] weights are a third input indexed (h, p) and
// replace the 1/l factor; static T = 40 gives static Nc = 9.
// CHECK-LABEL: func @compress_weighted
// CHECK-SAME: (%[[K:[a-z0-9_]+]]: tensor<1x40x2x16xf32>, %[[V:[a-z0-9_]+]]: tensor<1x40x2x8xf32>, %[[WK:[a-z0-9_]+]]: tensor<2x8xf32>, %[[WV:[a-z0-9_]+]]: tensor<2x8xf32>)
// CHECK: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1 * 4 + d4, d2, d3)>, affine_map<(d0, d1, d2, d3, d4) -> (d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d2, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[K]], %{{.*}}, %[[WK]] : tensor<1x40x2x16xf32>, tensor<8xf32>, tensor<2x8xf32>) outs(%{{.*}} : tensor<1x9x2x16xf32>)
// CHECK-NEXT: ^bb0(%[[X:[a-z0-9_]+]]: f32, %{{.*}}: f32, %[[W:[a-z0-9_]+]]: f32, %[[ACC:[a-z0-9_]+]]: f32):
// CHECK-NEXT: %[[XW:[a-z0-9_]+]] = arith.mulf %[[X]], %[[W]] : f32
// CHECK-NEXT: arith.addf %[[ACC]], %[[XW]] : f32
// CHECK: linalg.generic {{.*}} ins(%[[V]], %{{.*}}, %[[WV]] : tensor<1x40x2x8xf32>, tensor<8xf32>, tensor<2x8xf32>) outs(%{{.*}} : tensor<1x9x2x8xf32>)
// CHECK-NOT: nsa.
func.func @compress_weighted(%k: tensor<1x40x2x16xf32>, %v: tensor<1x40x2x8xf32>,
                             %wk: tensor<2x8xf32>, %wv: tensor<2x8xf32>)
    -> (tensor<1x9x2x16xf32>, tensor<1x9x2x8xf32>) {
  %kc, %vc = nsa.compress %k, %v weights(%wk, %wv)
      {config = #nsa.config<cmp_block = 8, cmp_stride = 4, slc_block = 16, compression = weighted>}
      : tensor<1x40x2x16xf32>, tensor<1x40x2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
      -> tensor<1x9x2x16xf32>, tensor<1x9x2x8xf32>
  return %kc, %vc : tensor<1x9x2x16xf32>, tensor<1x9x2x8xf32>
}

// -----

// Probabilities: the dense scores q . kc[b, i, hq / 2] (G = 2), then
// exp(0.25 * s - lse) where block i ends at or before t (16 i + 31 <= t),
// else 0.
// CHECK-LABEL: func @compressed_probs
// CHECK-SAME: (%[[Q:[a-z0-9_]+]]: tensor<?x?x4x16xf32>, %[[KC:[a-z0-9_]+]]: tensor<?x?x2x16xf32>, %[[LSE:[a-z0-9_]+]]: tensor<?x?x4xf32>)
// CHECK: %[[S:[a-z0-9_]+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d2 floordiv 2, d4)>, affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[Q]], %[[KC]] : tensor<?x?x4x16xf32>, tensor<?x?x2x16xf32>) outs(%{{.*}} : tensor<?x?x4x?xf32>)
// CHECK: %[[P:[a-z0-9_]+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%[[S]], %[[LSE]] : tensor<?x?x4x?xf32>, tensor<?x?x4xf32>)
// CHECK: %[[I:[a-z0-9_]+]] = linalg.index 3 : index
// CHECK: %[[TPOS:[a-z0-9_]+]] = linalg.index 1 : index
// CHECK-DAG: arith.constant 31 : index
// CHECK-DAG: arith.constant 16 : index
// CHECK: arith.muli %[[I]]
// CHECK: %[[END:[a-z0-9_]+]] = arith.addi
// CHECK: %[[VIS:[a-z0-9_]+]] = arith.cmpi sle, %[[END]], %[[TPOS]] : index
// CHECK: arith.constant 2.500000e-01 : f32
// CHECK: arith.mulf
// CHECK: arith.subf
// CHECK: %[[E:[a-z0-9_]+]] = math.exp
// CHECK: arith.select %[[VIS]], %[[E]], %{{.*}} : f32
// CHECK: return %[[P]]
// CHECK-NOT: nsa.
func.func @compressed_probs(%q: tensor<?x?x4x16xf32>, %kc: tensor<?x?x2x16xf32>, %lse: tensor<?x?x4xf32>)
    -> tensor<?x?x4x?xf32> {
  %p = nsa.compressed_probs %q, %kc, %lse {config = #nsa.config<>}
      : tensor<?x?x4x16xf32>, tensor<?x?x2x16xf32>, tensor<?x?x4xf32> -> tensor<?x?x4x?xf32>
  return %p : tensor<?x?x4x?xf32>
}

// -----

// Selection: Ns = T ceildiv 16 block scores, one parallel generic over
// (b, t, h, j) (written once, no zero fill) whose body sums, in registers,
// the G = 2 heads of the group and the compressed blocks with Eq. 9 overlap
// weights; then, per (b, t, h) of an scf.forall, the greedy top-n and an
// ascending write of the chosen blocks into the -1 filled row.
// CHECK-LABEL: func @select
// CHECK-SAME: (%[[P:[a-z0-9_]+]]: tensor<?x?x4x?xf32>)
// CHECK: %[[NC:.*]] = tensor.dim %[[P]], %c3
// CHECK: affine.apply affine_map<(d0) -> (d0 ceildiv 16)>
// CHECK-NOT: linalg.fill
// CHECK: %[[SC:[a-z0-9_]+]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel"]} outs(%{{.*}} : tensor<?x?x2x?xf32>)
// CHECK: %[[POS:.*]] = linalg.index 1
// CHECK: %[[SLC:.*]] = linalg.index 3
// A block that starts past the query (j * 16 > t) overlaps only invisible
// compressed blocks: score 0, none of their probabilities read.
// CHECK: %[[BEGIN:.*]] = arith.muli %[[SLC]], %c16{{.*}} : index
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[VISIBLE:.*]] = arith.cmpi ule, %[[BEGIN]], %[[POS]] : index
// CHECK-NEXT: scf.if %[[VISIBLE]] -> (f32) {
// With l = 8, d = 4, l' = 16 the taps are compressed blocks 4j - 1 .. 4j + 3
// with weights 1, 2, 2, 2, 1, fixed when compiling (no per-score overlap
// arithmetic), each read only where the block exists.
// CHECK: %[[BASE:.*]] = arith.muli %[[SLC]], %c4{{.*}} : index
// CHECK: %[[TAP0:.*]] = arith.addi %[[BASE]], %c-1{{.*}} : index
// CHECK: %[[AFTER0:.*]] = arith.cmpi sge, %[[TAP0]], %c0{{.*}} : index
// CHECK: %[[BEFORE0:.*]] = arith.cmpi slt, %[[TAP0]], %[[NC]] : index
// CHECK: arith.andi %[[AFTER0]], %[[BEFORE0]] : i1
// CHECK: %[[TAP4:.*]] = arith.addi %[[BASE]], %c3{{.*}} : index
// CHECK-NOT: arith.addi %[[BASE]]
// CHECK: scf.for {{.*}} iter_args
// CHECK-NOT: arith.divf
// CHECK: tensor.extract %[[P]][%{{.*}}, %{{.*}}, %{{.*}}, %[[TAP0]]]
// CHECK-NEXT: arith.constant 1.000000e+00 : f32
// CHECK: arith.constant 2.000000e+00 : f32
// CHECK: arith.constant 2.000000e+00 : f32
// CHECK: arith.constant 2.000000e+00 : f32
// CHECK: tensor.extract %[[P]][%{{.*}}, %{{.*}}, %{{.*}}, %[[TAP4]]]
// CHECK-NEXT: arith.constant 1.000000e+00 : f32
// CHECK-NOT: tensor.extract %[[P]]
// CHECK: scf.yield %[[ZERO]] : f32
// CHECK-NEXT: }
// CHECK-NEXT: linalg.yield
// CHECK: %[[R:[a-z0-9_]+]] = scf.forall (%[[B:[a-z0-9_]+]], %[[T:[a-z0-9_]+]], %[[H:[a-z0-9_]+]]) in (%{{.*}}, %{{.*}}, 2) shared_outs(%[[OUT:[a-z0-9_]+]] = %{{.*}}) -> (tensor<?x?x2x4xi32>)
// CHECK: %[[ROW:[a-z0-9_]+]] = tensor.extract_slice %[[OUT]][%[[B]], %[[T]], %[[H]], 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<?x?x2x4xi32> to tensor<4xi32>
// CHECK: scf.for
// CHECK: tensor.extract %[[SC]][%[[B]], %[[T]], %[[H]], %{{.*}}] : tensor<?x?x2x?xf32>
// CHECK: linalg.fill ins(%{{.*}} : i32) outs(%[[ROW]] : tensor<4xi32>)
// CHECK: tensor.insert
// CHECK: scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %{{.*}} into %[[OUT]][%[[B]], %[[T]], %[[H]], 0] [1, 1, 1, 4] [1, 1, 1, 1] : tensor<4xi32> into tensor<?x?x2x4xi32>
// CHECK: return %[[R]]
// CHECK-NOT: nsa.
func.func @select(%p: tensor<?x?x4x?xf32>) -> tensor<?x?x2x4xi32> {
  %i = nsa.select %p {config = #nsa.config<cmp_block = 8, cmp_stride = 4, slc_block = 16, top_n = 4>}
      : tensor<?x?x4x?xf32> -> tensor<?x?x2x4xi32>
  return %i : tensor<?x?x2x4xi32>
}

// -----

// Selection blocks shorter than the compressed ones (l = 16, d = 4,
// l' = 4): block j overlaps compressed blocks j - 3 .. j, each by 4 tokens
// (weight 1), and blocks j - 3 .. j - 1 are missing at the start.
// CHECK-LABEL: func @select_short_blocks
// CHECK: linalg.generic
// CHECK: %[[SLC:.*]] = linalg.index 3
// CHECK: %[[BASE:.*]] = arith.muli %[[SLC]], %c1{{.*}} : index
// CHECK: arith.addi %[[BASE]], %c-3{{.*}} : index
// CHECK: arith.addi %[[BASE]], %c-2{{.*}} : index
// CHECK: arith.addi %[[BASE]], %c-1{{.*}} : index
// CHECK: arith.addi %[[BASE]], %c0{{.*}} : index
// CHECK-NOT: arith.addi %[[BASE]]
// CHECK-COUNT-4: arith.constant 1.000000e+00 : f32
// CHECK-NOT: arith.constant {{[0-9.e+]+}} : f32
// CHECK: linalg.yield
func.func @select_short_blocks(%p: tensor<?x?x2x?xf32>) -> tensor<?x?x2x2xi32> {
  %i = nsa.select %p {config = #nsa.config<cmp_block = 16, cmp_stride = 4, slc_block = 4, top_n = 2, num_init_blocks = 0, num_local_blocks = 1>}
      : tensor<?x?x2x?xf32> -> tensor<?x?x2x2xi32>
  return %i : tensor<?x?x2x2xi32>
}

// -----

// l = d = l' (overlap weights [i == j]): each selection block is one
// compressed block, so the top-n scan reads the group's probabilities
// directly (guarded: a trailing partial block has no compressed block and
// scores 0), with no scores tensor and no extra generic.
// CHECK-LABEL: func @select_one_block_per_block
// CHECK-SAME: (%[[P:[a-z0-9_]+]]: tensor<?x?x4x?xf32>)
// CHECK: %[[NC:[a-z0-9_]+]] = tensor.dim %[[P]], %c3
// The scan reads 8 scores per iteration, at blocks clamped into the row,
// before it compares any (loads in flight on the GPU), then takes them in
// order, each only if it is in the row. There is no second scan: each chosen
// block (forced or picked) is written at its rank among them.
// CHECK-NOT: linalg.generic
// CHECK: scf.forall
// CHECK: %[[NVIS:[a-z0-9_]+]] = arith.addi %{{.*}}, %c1
// CHECK: %[[LAST:[a-z0-9_]+]] = arith.subi %[[NVIS]], %c1{{(_[0-9]+)?}} : index
// CHECK: scf.for %[[J0:[a-z0-9_]+]] = %{{.*}} to %[[NVIS]] step %c8
// CHECK: %[[J:[a-z0-9_]+]] = arith.addi %[[J0]], %{{.*}} : index
// CHECK-NEXT: arith.cmpi ult, %[[J]], %[[NVIS]] : index
// CHECK-NEXT: %[[CLAMPED:[a-z0-9_]+]] = arith.minui %[[J]], %[[LAST]] : index
// CHECK-NEXT: %[[VALID:[a-z0-9_]+]] = arith.cmpi ult, %[[CLAMPED]], %[[NC]] : index
// CHECK: scf.if %[[VALID]] -> (f32)
// CHECK: %[[P0:[a-z0-9_]+]] = tensor.extract %[[P]]{{.*}}%[[CLAMPED]]]
// CHECK: %[[P1:[a-z0-9_]+]] = tensor.extract %[[P]]{{.*}}%[[CLAMPED]]]
// CHECK: arith.addf %[[P0]], %[[P1]] : f32
// CHECK: } else {
// CHECK: arith.constant 0.000000e+00 : f32
// CHECK-NOT: arith.cmpf
// CHECK: scf.if %{{.*}} -> (f32)
// CHECK-NOT: arith.cmpf
// CHECK: scf.if %{{.*}} -> (f32)
// CHECK-NOT: arith.cmpf
// CHECK: scf.if %{{.*}} -> (f32)
// CHECK-NOT: arith.cmpf
// CHECK: scf.if %{{.*}} -> (f32)
// CHECK-NOT: arith.cmpf
// CHECK: scf.if %{{.*}} -> (f32)
// CHECK-NOT: arith.cmpf
// CHECK: scf.if %{{.*}} -> (f32)
// CHECK-NOT: arith.cmpf
// CHECK: scf.if %{{.*}} -> (f32)
// CHECK: arith.cmpf ogt
// CHECK-NOT: scf.for
// CHECK: linalg.fill ins(%{{.*}} : i32)
// CHECK-NOT: scf.for
// CHECK: tensor.insert
// CHECK-NOT: scf.for
// CHECK: scf.forall.in_parallel
// CHECK-NOT: linalg.generic
func.func @select_one_block_per_block(%p: tensor<?x?x4x?xf32>) -> tensor<?x?x2x4xi32> {
  %i = nsa.select %p {config = #nsa.config<cmp_block = 16, cmp_stride = 16, slc_block = 16, top_n = 4>}
      : tensor<?x?x4x?xf32> -> tensor<?x?x2x4xi32>
  return %i : tensor<?x?x2x4xi32>
}

// -----

// Combine: one map reading the three branch outputs and the three gates
// (constant last index 0, 1, 2), summed in f32, cast back to bf16.
// CHECK-LABEL: func @combine
// CHECK-SAME: (%[[C:[a-z0-9_]+]]: tensor<?x?x4x8xbf16>, %[[S:[a-z0-9_]+]]: tensor<?x?x4x8xbf16>, %[[W:[a-z0-9_]+]]: tensor<?x?x4x8xbf16>, %[[G:[a-z0-9_]+]]: tensor<?x?x4x3xbf16>)
// CHECK: %[[O:[a-z0-9_]+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 1)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 2)>, affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%[[C]], %[[S]], %[[W]], %[[G]], %[[G]], %[[G]] :
// CHECK-NEXT: ^bb0(%[[IC:[a-z0-9_]+]]: bf16, %[[IS:[a-z0-9_]+]]: bf16, %[[IW:[a-z0-9_]+]]: bf16, %[[G0:[a-z0-9_]+]]: bf16, %[[G1:[a-z0-9_]+]]: bf16, %[[G2:[a-z0-9_]+]]: bf16, %{{.*}}: bf16):
// CHECK-DAG: %[[FC:[a-z0-9_]+]] = arith.extf %[[IC]] : bf16 to f32
// CHECK-DAG: %[[FG0:[a-z0-9_]+]] = arith.extf %[[G0]] : bf16 to f32
// CHECK-DAG: %[[FS:[a-z0-9_]+]] = arith.extf %[[IS]] : bf16 to f32
// CHECK-DAG: %[[FG1:[a-z0-9_]+]] = arith.extf %[[G1]] : bf16 to f32
// CHECK-DAG: %[[FW:[a-z0-9_]+]] = arith.extf %[[IW]] : bf16 to f32
// CHECK-DAG: %[[FG2:[a-z0-9_]+]] = arith.extf %[[G2]] : bf16 to f32
// CHECK: %[[T0:[a-z0-9_]+]] = arith.mulf %[[FG0]], %[[FC]] : f32
// CHECK: %[[T1:[a-z0-9_]+]] = arith.mulf %[[FG1]], %[[FS]] : f32
// CHECK: %[[SUM01:[a-z0-9_]+]] = arith.addf %[[T0]], %[[T1]] : f32
// CHECK: %[[T2:[a-z0-9_]+]] = arith.mulf %[[FG2]], %[[FW]] : f32
// CHECK: arith.addf %[[SUM01]], %[[T2]] : f32
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: return %[[O]]
// CHECK-NOT: nsa.
func.func @combine(%c: tensor<?x?x4x8xbf16>, %s: tensor<?x?x4x8xbf16>, %w: tensor<?x?x4x8xbf16>,
                   %g: tensor<?x?x4x3xbf16>) -> tensor<?x?x4x8xbf16> {
  %o = nsa.combine %c, %s, %w, %g
      : tensor<?x?x4x8xbf16>, tensor<?x?x4x8xbf16>, tensor<?x?x4x8xbf16>, tensor<?x?x4x3xbf16>
      -> tensor<?x?x4x8xbf16>
  return %o : tensor<?x?x4x8xbf16>
}

// -----

// The dense compressed attention (bf16, G = 2, paper config). By default it
// is left alone. With branch-attention=1: an scf.forall over (b, t); per
// iteration the [Hq, Nc] f32 scores of q[b, t] against every compressed key
// of batch element b, -inf unless 16 i + 31 <= t, row max (-inf initial),
// exp(s - max) with 0 subtracted for empty rows, row sum, the [Hq, Dv]
// accumulator, and o = acc / sum (0 where sum = 0), lse = max + log(sum)
// (-inf where sum = 0) written into the (b, t) slices of the results.
// CHECK-LABEL: func @compressed_attention
// CHECK: nsa.compressed_attention
// DENSE-LABEL: func @compressed_attention
// DENSE-SAME: (%[[Q:[a-z0-9_]+]]: tensor<?x?x4x16xbf16>, %[[KC:[a-z0-9_]+]]: tensor<?x?x2x16xbf16>, %[[VC:[a-z0-9_]+]]: tensor<?x?x2x8xbf16>)
// DENSE-DAG: %[[BATCH:[a-z0-9_]+]] = tensor.dim %[[Q]], %c0
// DENSE-DAG: %[[SEQ:[a-z0-9_]+]] = tensor.dim %[[Q]], %c1
// DENSE: %[[OINIT:[a-z0-9_]+]] = tensor.empty(%[[BATCH]], %[[SEQ]]) : tensor<?x?x4x8xbf16>
// DENSE: %[[LINIT:[a-z0-9_]+]] = tensor.empty(%[[BATCH]], %[[SEQ]]) : tensor<?x?x4xf32>
// DENSE: %[[R:[a-z0-9_]+]]:2 = scf.forall (%[[B:[a-z0-9_]+]], %[[T:[a-z0-9_]+]]) in (%[[BATCH]], %[[SEQ]]) shared_outs(%[[OO:[a-z0-9_]+]] = %[[OINIT]], %[[LO:[a-z0-9_]+]] = %[[LINIT]]) -> (tensor<?x?x4x8xbf16>, tensor<?x?x4xf32>)
// DENSE: %[[NC:[a-z0-9_]+]] = tensor.dim %[[KC]], %{{.*}} : tensor<?x?x2x16xbf16>
// DENSE: %[[QROW:[a-z0-9_]+]] = tensor.extract_slice %[[Q]][%[[B]], %[[T]], 0, 0] [1, 1, 4, 16] [1, 1, 1, 1] : tensor<?x?x4x16xbf16> to tensor<4x16xbf16>
// DENSE: %[[KS:[a-z0-9_]+]] = tensor.extract_slice %[[KC]][%[[B]], 0, 0, 0] [1, %[[NC]], 2, 16] [1, 1, 1, 1] : tensor<?x?x2x16xbf16> to tensor<?x2x16xbf16>
// DENSE: %[[VS:[a-z0-9_]+]] = tensor.extract_slice %[[VC]][%[[B]], 0, 0, 0] [1, %[[NC]], 2, 8] [1, 1, 1, 1] : tensor<?x?x2x8xbf16> to tensor<?x2x8xbf16>
// DENSE: %[[S:[a-z0-9_]+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d0 floordiv 2, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[QROW]], %[[KS]] : tensor<4x16xbf16>, tensor<?x2x16xbf16>) outs(%{{.*}} : tensor<4x?xf32>)
// DENSE-DAG: arith.extf %{{.*}} : bf16 to f32
// DENSE-DAG: arith.extf %{{.*}} : bf16 to f32
// DENSE: arith.mulf
// DENSE: arith.addf
// DENSE: %[[L:[a-z0-9_]+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[S]] : tensor<4x?xf32>)
// DENSE: %[[I:[a-z0-9_]+]] = linalg.index 1 : index
// DENSE-DAG: arith.constant 31 : index
// DENSE-DAG: arith.constant 16 : index
// DENSE: arith.muli %[[I]]
// DENSE: %[[END:[a-z0-9_]+]] = arith.addi
// DENSE: %[[VIS:[a-z0-9_]+]] = arith.cmpi ule, %[[END]], %[[T]] : index
// DENSE: arith.constant 2.500000e-01 : f32
// DENSE: %[[SCALED:[a-z0-9_]+]] = arith.mulf
// DENSE: %[[NEGINF:[a-z0-9_]+]] = arith.constant 0xFF800000 : f32
// DENSE: arith.select %[[VIS]], %[[SCALED]], %[[NEGINF]] : f32
// DENSE: linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<4xf32>)
// DENSE: %[[MAX:[a-z0-9_]+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>], iterator_types = ["parallel", "reduction"]} ins(%[[L]] : tensor<4x?xf32>)
// DENSE: arith.maximumf
// DENSE: %[[P:[a-z0-9_]+]] = linalg.generic {{.*}} ins(%[[L]], %[[MAX]] : tensor<4x?xf32>, tensor<4xf32>)
// DENSE: arith.cmpf oeq
// DENSE: arith.select
// DENSE: arith.subf
// DENSE: math.exp
// DENSE: %[[SUM:[a-z0-9_]+]] = linalg.generic {{.*}}, iterator_types = ["parallel", "reduction"]} ins(%[[P]] : tensor<4x?xf32>)
// DENSE: arith.addf
// DENSE: %[[ACC:[a-z0-9_]+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d2, d0 floordiv 2, d1)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[P]], %[[VS]] : tensor<4x?xf32>, tensor<?x2x8xbf16>) outs(%{{.*}} : tensor<4x8xf32>)
// DENSE: %[[OSLICE:[a-z0-9_]+]] = tensor.extract_slice %[[OO]][%[[B]], %[[T]], 0, 0] [1, 1, 4, 8] [1, 1, 1, 1] : tensor<?x?x4x8xbf16> to tensor<4x8xbf16>
// DENSE: %[[O:[a-z0-9_]+]] = linalg.generic {{.*}} ins(%[[SUM]], %[[ACC]] : tensor<4xf32>, tensor<4x8xf32>) outs(%[[OSLICE]] : tensor<4x8xbf16>)
// DENSE: arith.divf
// DENSE: arith.truncf %{{.*}} : f32 to bf16
// DENSE: arith.cmpf ogt
// DENSE: arith.select
// DENSE: %[[LSLICE:[a-z0-9_]+]] = tensor.extract_slice %[[LO]][%[[B]], %[[T]], 0] [1, 1, 4] [1, 1, 1] : tensor<?x?x4xf32> to tensor<4xf32>
// DENSE: %[[LSE:[a-z0-9_]+]] = linalg.generic {{.*}} ins(%[[MAX]], %[[SUM]] : tensor<4xf32>, tensor<4xf32>) outs(%[[LSLICE]] : tensor<4xf32>)
// DENSE: math.log
// DENSE: arith.addf
// DENSE: arith.cmpf ogt
// DENSE: arith.select
// DENSE: scf.forall.in_parallel
// DENSE-NEXT: tensor.parallel_insert_slice %[[O]] into %[[OO]][%[[B]], %[[T]], 0, 0] [1, 1, 4, 8] [1, 1, 1, 1] : tensor<4x8xbf16> into tensor<?x?x4x8xbf16>
// DENSE-NEXT: tensor.parallel_insert_slice %[[LSE]] into %[[LO]][%[[B]], %[[T]], 0] [1, 1, 4] [1, 1, 1] : tensor<4xf32> into tensor<?x?x4xf32>
// DENSE: return %[[R]]#0, %[[R]]#1
// DENSE-NOT: nsa.
func.func @compressed_attention(%q: tensor<?x?x4x16xbf16>, %kc: tensor<?x?x2x16xbf16>, %vc: tensor<?x?x2x8xbf16>)
    -> (tensor<?x?x4x8xbf16>, tensor<?x?x4xf32>) {
  %o, %l = nsa.compressed_attention %q, %kc, %vc {config = #nsa.config<>}
      : tensor<?x?x4x16xbf16>, tensor<?x?x2x16xbf16>, tensor<?x?x2x8xbf16>
      -> tensor<?x?x4x8xbf16>, tensor<?x?x4xf32>
  return %o, %l : tensor<?x?x4x8xbf16>, tensor<?x?x4xf32>
}

// -----

// The dense window (static shapes, MHA, explicit scale 0.5, w = 48): the same
// structure over all T = 100 tokens with the mask s <= t and s + 48 > t.
// CHECK-LABEL: func @window
// CHECK: nsa.window
// DENSE-LABEL: func @window
// DENSE: scf.forall (%{{.*}}, %[[T:[a-z0-9_]+]]) in (2, 100)
// DENSE: linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d1, d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], {{.*}} ins(%{{.*}}, %{{.*}} : tensor<4x16xf32>, tensor<100x4x16xf32>) outs(%{{.*}} : tensor<4x100xf32>)
// DENSE: %[[S:[a-z0-9_]+]] = linalg.index 1 : index
// DENSE: arith.constant 48 : index
// DENSE: %[[SW:[a-z0-9_]+]] = arith.addi %[[S]], %{{.*}} : index
// DENSE: %[[IN:[a-z0-9_]+]] = arith.cmpi ugt, %[[SW]], %[[T]] : index
// DENSE: %[[CAUSAL:[a-z0-9_]+]] = arith.cmpi ule, %[[S]], %[[T]] : index
// DENSE: %[[VIS:[a-z0-9_]+]] = arith.andi %[[CAUSAL]], %[[IN]] : i1
// DENSE: arith.constant 5.000000e-01 : f32
// DENSE: arith.select %[[VIS]]
// DENSE: ins(%{{.*}}, %{{.*}} : tensor<4x100xf32>, tensor<100x4x32xf32>) outs(%{{.*}} : tensor<4x32xf32>)
// DENSE: tensor.parallel_insert_slice %{{.*}} : tensor<4x32xf32> into tensor<2x100x4x32xf32>
// DENSE: tensor.parallel_insert_slice %{{.*}} : tensor<4xf32> into tensor<2x100x4xf32>
// DENSE-NOT: nsa.
func.func @window(%q: tensor<2x100x4x16xf32>, %k: tensor<2x100x4x16xf32>, %v: tensor<2x100x4x32xf32>)
    -> (tensor<2x100x4x32xf32>, tensor<2x100x4xf32>) {
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 48, scale = 0.5>}
      : tensor<2x100x4x16xf32>, tensor<2x100x4x16xf32>, tensor<2x100x4x32xf32>
      -> tensor<2x100x4x32xf32>, tensor<2x100x4xf32>
  return %o, %l : tensor<2x100x4x32xf32>, tensor<2x100x4xf32>
}

// -----

// The dense selected attention (f16, G = 4, l' = 16, n = 4): per (b, t) an
// i1 [H, T] mask, OR over the n slots of indices[b, t, h, slot] == s / 16
// (a reduction, so a block listed twice counts once and -1 matches nothing),
// read at (hq floordiv 4, s) by the masking generic together with s <= t.
// CHECK-LABEL: func @selected_attention
// CHECK: nsa.selected_attention
// DENSE-LABEL: func @selected_attention
// DENSE-SAME: %[[IDX:[a-z0-9_]+]]: tensor<?x?x2x4xi32>)
// DENSE: scf.forall (%[[B:[a-z0-9_]+]], %[[T:[a-z0-9_]+]]) in
// DENSE: %[[S:[a-z0-9_]+]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<8x16xf16>, tensor<?x2x16xf16>) outs(%{{.*}} : tensor<8x?xf32>)
// DENSE: %[[ROW:[a-z0-9_]+]] = tensor.extract_slice %[[IDX]][%[[B]], %[[T]], 0, 0] [1, 1, 2, 4] [1, 1, 1, 1] : tensor<?x?x2x4xi32> to tensor<2x4xi32>
// DENSE: %[[NONE:[a-z0-9_]+]] = linalg.fill ins(%false : i1) outs(%{{.*}} : tensor<2x?xi1>)
// DENSE: %[[MASK:[a-z0-9_]+]] = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d2)>, affine_map<(d0, d1, d2) -> (d0, d1)>], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[ROW]] : tensor<2x4xi32>) outs(%[[NONE]] : tensor<2x?xi1>)
// DENSE-NEXT: ^bb0(%[[LISTED:[a-z0-9_]+]]: i32, %[[ANY:[a-z0-9_]+]]: i1):
// DENSE-NEXT: %[[TOK:[a-z0-9_]+]] = linalg.index 1 : index
// DENSE-NEXT: arith.constant 16 : index
// DENSE-NEXT: %[[BLK:[a-z0-9_]+]] = arith.divui %[[TOK]]
// DENSE-NEXT: %[[BLK32:[a-z0-9_]+]] = arith.index_cast %[[BLK]] : index to i32
// DENSE-NEXT: %[[EQ:[a-z0-9_]+]] = arith.cmpi eq, %[[LISTED]], %[[BLK32]] : i32
// DENSE-NEXT: %[[OR:[a-z0-9_]+]] = arith.ori %[[ANY]], %[[EQ]] : i1
// DENSE-NEXT: linalg.yield %[[OR]] : i1
// DENSE: linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0 floordiv 4, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%[[S]], %[[MASK]] : tensor<8x?xf32>, tensor<2x?xi1>)
// DENSE-NEXT: ^bb0(%{{.*}}: f32, %[[SEL:[a-z0-9_]+]]: i1, %{{.*}}: f32):
// DENSE-NEXT: %[[KEY:[a-z0-9_]+]] = linalg.index 1 : index
// DENSE-NEXT: %[[CAUSAL:[a-z0-9_]+]] = arith.cmpi ule, %[[KEY]], %[[T]] : index
// DENSE-NEXT: %[[VIS:[a-z0-9_]+]] = arith.andi %[[CAUSAL]], %[[SEL]] : i1
// DENSE: arith.select %[[VIS]]
// DENSE: arith.truncf %{{.*}} : f32 to f16
// DENSE: tensor.parallel_insert_slice %{{.*}} : tensor<8x8xf16> into tensor<?x?x8x8xf16>
// DENSE-NOT: nsa.
func.func @selected_attention(%q: tensor<?x?x8x16xf16>, %k: tensor<?x?x2x16xf16>, %v: tensor<?x?x2x8xf16>,
                              %i: tensor<?x?x2x4xi32>) -> (tensor<?x?x8x8xf16>, tensor<?x?x8xf32>) {
  %o, %l = nsa.selected_attention %q, %k, %v, %i {config = #nsa.config<cmp_block = 8, cmp_stride = 4, slc_block = 16, top_n = 4>}
      : tensor<?x?x8x16xf16>, tensor<?x?x2x16xf16>, tensor<?x?x2x8xf16>, tensor<?x?x2x4xi32>
      -> tensor<?x?x8x8xf16>, tensor<?x?x8xf32>
  return %o, %l : tensor<?x?x8x8xf16>, tensor<?x?x8xf32>
}
