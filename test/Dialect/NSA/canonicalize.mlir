// RUN: nsa-opt %s --canonicalize --split-input-file | FileCheck %s

// nsa.select only reads the sums of the probabilities over each GQA group:
// a per-head nsa.compressed_probs used only by selects becomes group_sum,
// [B, T, H, Nc] instead of [B, T, Hq, Nc].
// CHECK-LABEL: func @select_reads_group_sums
// CHECK: %[[P:.*]] = nsa.compressed_probs %arg0, %arg1, %arg2 group_sum {config = #nsa.config<>} : tensor<?x?x8x64xbf16>, tensor<?x?x2x64xbf16>, tensor<?x?x8xf32> -> tensor<?x?x2x?xf32>
// CHECK: nsa.select %[[P]] {config = #nsa.config<>} : tensor<?x?x2x?xf32> -> tensor<?x?x2x16xi32>
// CHECK: nsa.select %[[P]] {config = #nsa.config<>} : tensor<?x?x2x?xf32> -> tensor<?x?x2x16xi32>
// CHECK-NOT: nsa.compressed_probs
func.func @select_reads_group_sums(%q: tensor<?x?x8x64xbf16>, %kc: tensor<?x?x2x64xbf16>,
                                   %lse: tensor<?x?x8xf32>)
    -> (tensor<?x?x2x16xi32>, tensor<?x?x2x16xi32>) {
  %p = nsa.compressed_probs %q, %kc, %lse {config = #nsa.config<>}
      : tensor<?x?x8x64xbf16>, tensor<?x?x2x64xbf16>, tensor<?x?x8xf32> -> tensor<?x?x8x?xf32>
  %i = nsa.select %p {config = #nsa.config<>} : tensor<?x?x8x?xf32> -> tensor<?x?x2x16xi32>
  %j = nsa.select %p {config = #nsa.config<>} : tensor<?x?x8x?xf32> -> tensor<?x?x2x16xi32>
  return %i, %j : tensor<?x?x2x16xi32>, tensor<?x?x2x16xi32>
}

// -----

// Another user needs the per-head values: unchanged.
// CHECK-LABEL: func @probs_also_returned
// CHECK: %[[P:.*]] = nsa.compressed_probs %arg0, %arg1, %arg2 {config = #nsa.config<>} : {{.*}} -> tensor<?x?x8x?xf32>
// CHECK: nsa.select %[[P]]
// CHECK: return {{.*}}, %[[P]]
func.func @probs_also_returned(%q: tensor<?x?x8x64xbf16>, %kc: tensor<?x?x2x64xbf16>,
                               %lse: tensor<?x?x8xf32>)
    -> (tensor<?x?x2x16xi32>, tensor<?x?x8x?xf32>) {
  %p = nsa.compressed_probs %q, %kc, %lse {config = #nsa.config<>}
      : tensor<?x?x8x64xbf16>, tensor<?x?x2x64xbf16>, tensor<?x?x8xf32> -> tensor<?x?x8x?xf32>
  %i = nsa.select %p {config = #nsa.config<>} : tensor<?x?x8x?xf32> -> tensor<?x?x2x16xi32>
  return %i, %p : tensor<?x?x2x16xi32>, tensor<?x?x8x?xf32>
}

// -----

// One head per group: the per-head values already are the sums.
// CHECK-LABEL: func @no_group
// CHECK: nsa.compressed_probs %arg0, %arg1, %arg2 {config = #nsa.config<>}
func.func @no_group(%q: tensor<?x?x2x64xbf16>, %kc: tensor<?x?x2x64xbf16>,
                    %lse: tensor<?x?x2xf32>) -> tensor<?x?x2x16xi32> {
  %p = nsa.compressed_probs %q, %kc, %lse {config = #nsa.config<>}
      : tensor<?x?x2x64xbf16>, tensor<?x?x2x64xbf16>, tensor<?x?x2xf32> -> tensor<?x?x2x?xf32>
  %i = nsa.select %p {config = #nsa.config<>} : tensor<?x?x2x?xf32> -> tensor<?x?x2x16xi32>
  return %i : tensor<?x?x2x16xi32>
}

// -----

// nsa.prefetch_tile has no results but is not dead: it declares no memory
// effects, so canonicalization keeps it for the lowering.
// CHECK-LABEL: func @prefetch_kept
// CHECK: nsa.prefetch_tile
func.func @prefetch_kept(%k: tensor<?x64xbf16>, %v: tensor<?x32xbf16>) {
  nsa.prefetch_tile %k, %v : tensor<?x64xbf16>, tensor<?x32xbf16>
  return
}

// -----

// nsa.min_ctas_per_sm likewise declares no effects and is kept until
// nsa-attach-nvvm-target moves it onto the outlined kernel.
// CHECK-LABEL: func @min_ctas_kept
// CHECK: gpu.launch
// CHECK-NEXT: nsa.min_ctas_per_sm 3
func.func @min_ctas_kept(%n: index) {
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %n, %gy = %c1, %gz = %c1)
      threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    nsa.min_ctas_per_sm 3
    gpu.terminator
  }
  return
}
