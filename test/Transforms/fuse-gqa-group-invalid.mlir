// RUN: nsa-opt %s --nsa-fuse-gqa-group -split-input-file -verify-diagnostics

// nsa-fuse-gqa-group on hand-written tile loops it cannot fuse: one case per
// diagnostic of the pass.

// The head bound (4) is not a multiple of the group size (3).
func.func @f(%q: tensor<1x8x4x16xf32>, %out: tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32> {
  // expected-error @+1 {{'scf.forall' op tile loop over query heads needs a static head bound divisible by the GQA group size 3}}
  %r = scf.forall (%b, %t, %hq) in (1, 8, 4) shared_outs(%o = %out) -> (tensor<1x8x4x16xf32>) {
    %tile = tensor.extract_slice %q[%b, %t, %hq, 0] [1, 1, 1, 16] [1, 1, 1, 1]
        : tensor<1x8x4x16xf32> to tensor<1x1x16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %tile into %o[%b, %t, %hq, 0] [1, 1, 1, 16] [1, 1, 1, 1]
          : tensor<1x1x16xf32> into tensor<1x8x4x16xf32>
    }
  } {nsa.gqa_group_size = 3 : i64}
  return %r : tensor<1x8x4x16xf32>
}

// -----

func.func @f(%q: tensor<1x8x4x16xf32>, %out: tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32> {
  // expected-error @+1 {{'scf.forall' op nsa.gqa_group_size must be a positive integer}}
  %r = scf.forall (%b, %t, %hq) in (1, 8, 4) shared_outs(%o = %out) -> (tensor<1x8x4x16xf32>) {
    %tile = tensor.extract_slice %q[%b, %t, %hq, 0] [1, 1, 1, 16] [1, 1, 1, 1]
        : tensor<1x8x4x16xf32> to tensor<1x1x16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %tile into %o[%b, %t, %hq, 0] [1, 1, 1, 16] [1, 1, 1, 1]
          : tensor<1x1x16xf32> into tensor<1x8x4x16xf32>
    }
  } {nsa.gqa_group_size = 0 : i64}
  return %r : tensor<1x8x4x16xf32>
}

// -----

// A dynamic head bound cannot be checked for divisibility.
func.func @f(%q: tensor<1x8x4x16xf32>, %out: tensor<1x8x4x16xf32>, %n: index) -> tensor<1x8x4x16xf32> {
  // expected-error @+1 {{'scf.forall' op tile loop over query heads needs a static head bound divisible by the GQA group size 2}}
  %r = scf.forall (%b, %t, %hq) in (1, 8, %n) shared_outs(%o = %out) -> (tensor<1x8x4x16xf32>) {
    %tile = tensor.extract_slice %q[%b, %t, %hq, 0] [1, 1, 1, 16] [1, 1, 1, 1]
        : tensor<1x8x4x16xf32> to tensor<1x1x16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %tile into %o[%b, %t, %hq, 0] [1, 1, 1, 16] [1, 1, 1, 1]
          : tensor<1x1x16xf32> into tensor<1x8x4x16xf32>
    }
  } {nsa.gqa_group_size = 2 : i64}
  return %r : tensor<1x8x4x16xf32>
}

// -----

// Nothing in the body is sliced at the head induction variable.
func.func @f(%out: tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32> {
  // expected-error @+1 {{'scf.forall' op has no query tile indexed by its head}}
  %r = scf.forall (%b, %t, %hq) in (1, 8, 4) shared_outs(%o = %out) -> (tensor<1x8x4x16xf32>) {
    scf.forall.in_parallel {
    }
  } {nsa.gqa_group_size = 2 : i64}
  return %r : tensor<1x8x4x16xf32>
}

// -----

// The query tile drops the head dimension (rank-reducing slice), so there is
// no head axis to widen to the group.
func.func @f(%q: tensor<1x8x4x16xf32>, %out: tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32> {
  %r = scf.forall (%b, %t, %hq) in (1, 8, 4) shared_outs(%o = %out) -> (tensor<1x8x4x16xf32>) {
    // expected-error @+1 {{'tensor.extract_slice' op drops the head dimension, so its tile cannot be widened to the GQA group}}
    %tile = tensor.extract_slice %q[%b, %t, %hq, 0] [1, 8, 1, 16] [1, 1, 1, 1]
        : tensor<1x8x4x16xf32> to tensor<1x8x16xf32>
    %full = tensor.empty() : tensor<1x8x1x16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %full into %o[%b, %t, %hq, 0] [1, 8, 1, 16] [1, 1, 1, 1]
          : tensor<1x8x1x16xf32> into tensor<1x8x4x16xf32>
    }
  } {nsa.gqa_group_size = 2 : i64}
  return %r : tensor<1x8x4x16xf32>
}
