// RUN: nsa-opt %s --convert-nsa-to-linalg -split-input-file -verify-diagnostics | FileCheck %s

// The selection lowering unrolls its top-n slots and its score taps; past
// 128 slots or 2048 taps it refuses the op with an error instead of
// compiling for minutes (top_n = 1024 took over 2 minutes). Every refused
// op is reported.

func.func @top_n_above_limit(%p: tensor<?x?x4x?xf32>) -> tensor<?x?x2x129xi32> {
  // expected-error @+1 {{'nsa.select' op top_n = 129 is above 128, the most the selection lowering unrolls}}
  %i = nsa.select %p {config = #nsa.config<cmp_block = 16, cmp_stride = 16, slc_block = 16, top_n = 129>}
      : tensor<?x?x4x?xf32> -> tensor<?x?x2x129xi32>
  return %i : tensor<?x?x2x129xi32>
}

// -----

// l = 1024, d = 1, l' = 1026: 1024 + 1026 - 1 = 2049 taps per score.
func.func @score_taps_above_limit(%p: tensor<?x?x4x?xf32>, %p2: tensor<?x?x4x?xf32>)
    -> (tensor<?x?x2x16xi32>, tensor<?x?x2x129xi32>) {
  // expected-error @+1 {{'nsa.select' op its selection scores sum 2049 compressed blocks each (cmp_block / cmp_stride + slc_block / cmp_stride - 1), above 2048, the most the score lowering unrolls}}
  %i = nsa.select %p {config = #nsa.config<cmp_block = 1024, cmp_stride = 1, slc_block = 1026>}
      : tensor<?x?x4x?xf32> -> tensor<?x?x2x16xi32>
  // expected-error @+1 {{top_n = 129 is above 128}}
  %j = nsa.select %p2 {config = #nsa.config<cmp_block = 16, cmp_stride = 16, slc_block = 16, top_n = 129>}
      : tensor<?x?x4x?xf32> -> tensor<?x?x2x129xi32>
  return %i, %j : tensor<?x?x2x16xi32>, tensor<?x?x2x129xi32>
}

// -----

// At the limits the ops lower.
// CHECK-LABEL: func.func @at_the_limits
// CHECK-NOT:   nsa.select
// CHECK:       return
func.func @at_the_limits(%p: tensor<?x?x4x?xf32>, %p2: tensor<?x?x4x?xf32>)
    -> (tensor<?x?x2x128xi32>, tensor<?x?x2x16xi32>) {
  %i = nsa.select %p {config = #nsa.config<cmp_block = 16, cmp_stride = 16, slc_block = 16, top_n = 128>}
      : tensor<?x?x4x?xf32> -> tensor<?x?x2x128xi32>
  %j = nsa.select %p2 {config = #nsa.config<cmp_block = 1024, cmp_stride = 1, slc_block = 1025>}
      : tensor<?x?x4x?xf32> -> tensor<?x?x2x16xi32>
  return %i, %j : tensor<?x?x2x128xi32>, tensor<?x?x2x16xi32>
}
