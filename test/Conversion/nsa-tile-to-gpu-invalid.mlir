// RUN: nsa-opt %s --convert-nsa-tile-to-gpu -split-input-file -verify-diagnostics

// Tile loops the GPU lowering does not understand: one case per diagnostic.

func.func @not_normalized(%q: tensor<1x8x4x16xf32>, %out: tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32> {
  // expected-error @+1 {{tile loop must be normalized (lower bound 0, step 1)}}
  %r = scf.forall (%t) = (0) to (8) step (2) shared_outs(%o = %out) -> (tensor<1x8x4x16xf32>) {
    %tile = tensor.extract_slice %q[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
        : tensor<1x8x4x16xf32> to tensor<1x4x16xf32>
    %m, %s, %a = nsa.init_tile_state %tile value_dim = 16 : tensor<1x4x16xf32>
    %out_tile, %lse = nsa.finalize_tile %m, %s, %a to f32 : tensor<1x4xf32>, tensor<1x4x16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %out_tile into %o[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
          : tensor<1x4x16xf32> into tensor<1x8x4x16xf32>
    }
  }
  return %r : tensor<1x8x4x16xf32>
}

// -----

func.func @no_finalize(%q: tensor<1x8x4x16xf32>, %out: tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32> {
  // expected-error @+1 {{needs either nsa.init_tile_state and nsa.finalize_tile or a single nsa.probs_tile in its body}}
  %r = scf.forall (%t) in (8) shared_outs(%o = %out) -> (tensor<1x8x4x16xf32>) {
    %tile = tensor.extract_slice %q[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
        : tensor<1x8x4x16xf32> to tensor<1x4x16xf32>
    %m, %s, %a = nsa.init_tile_state %tile value_dim = 16 : tensor<1x4x16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %tile into %o[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
          : tensor<1x4x16xf32> into tensor<1x8x4x16xf32>
    }
  }
  return %r : tensor<1x8x4x16xf32>
}

// -----

func.func @stores_query(%q: tensor<1x8x4x16xf32>, %out: tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32> {
  %r = scf.forall (%t) in (8) shared_outs(%o = %out) -> (tensor<1x8x4x16xf32>) {
    %tile = tensor.extract_slice %q[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
        : tensor<1x8x4x16xf32> to tensor<1x4x16xf32>
    %m, %s, %a = nsa.init_tile_state %tile value_dim = 16 : tensor<1x4x16xf32>
    %out_tile, %lse = nsa.finalize_tile %m, %s, %a to f32 : tensor<1x4xf32>, tensor<1x4x16xf32>
    scf.forall.in_parallel {
      // expected-error @+1 {{tile loop must store only nsa.finalize_tile results}}
      tensor.parallel_insert_slice %tile into %o[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
          : tensor<1x4x16xf32> into tensor<1x8x4x16xf32>
    }
  }
  return %r : tensor<1x8x4x16xf32>
}

// -----

func.func @tensor_op_in_loop(%q: tensor<1x8x4x16xf32>, %out: tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32> {
  %r = scf.forall (%t) in (8) shared_outs(%o = %out) -> (tensor<1x8x4x16xf32>) {
    %tile = tensor.extract_slice %q[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
        : tensor<1x8x4x16xf32> to tensor<1x4x16xf32>
    %m, %s, %a = nsa.init_tile_state %tile value_dim = 16 : tensor<1x4x16xf32>
    // expected-error @+1 {{'tensor.empty' op is not supported inside a tile loop lowered to the GPU}}
    %e = tensor.empty() : tensor<4xf32>
    %out_tile, %lse = nsa.finalize_tile %m, %s, %a to f32 : tensor<1x4xf32>, tensor<1x4x16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %out_tile into %o[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
          : tensor<1x4x16xf32> into tensor<1x8x4x16xf32>
    }
  }
  return %r : tensor<1x8x4x16xf32>
}

// -----

func.func @f64_tile(%q: tensor<1x8x4x16xf64>, %out: tensor<1x8x4x16xf64>) -> tensor<1x8x4x16xf64> {
  %r = scf.forall (%t) in (8) shared_outs(%o = %out) -> (tensor<1x8x4x16xf64>) {
    %tile = tensor.extract_slice %q[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
        : tensor<1x8x4x16xf64> to tensor<1x4x16xf64>
    // expected-error @+1 {{GPU tile kernels support f16, bf16 and f32; got 'f64'}}
    %m, %s, %a = nsa.init_tile_state %tile value_dim = 16 : tensor<1x4x16xf64>
    %out_tile, %lse = nsa.finalize_tile %m, %s, %a to f64 : tensor<1x4xf32>, tensor<1x4x16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %out_tile into %o[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
          : tensor<1x4x16xf64> into tensor<1x8x4x16xf64>
    }
  }
  return %r : tensor<1x8x4x16xf64>
}

// -----

// A combine_tile must take the loop's finalized tile as exactly one branch.
func.func @combine_tile_twice_own(%q: tensor<1x8x4x16xf32>, %g: tensor<1x8x4x3xf32>, %out: tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32> {
  %r = scf.forall (%t) in (8) shared_outs(%o = %out) -> (tensor<1x8x4x16xf32>) {
    %tile = tensor.extract_slice %q[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
        : tensor<1x8x4x16xf32> to tensor<1x4x16xf32>
    %m, %s, %a = nsa.init_tile_state %tile value_dim = 16 : tensor<1x4x16xf32>
    %out_tile, %lse = nsa.finalize_tile %m, %s, %a to f32 : tensor<1x4xf32>, tensor<1x4x16xf32>
    %gates = tensor.extract_slice %g[0, %t, 0, 0] [1, 1, 4, 3] [1, 1, 1, 1]
        : tensor<1x8x4x3xf32> to tensor<1x4x3xf32>
    // expected-error @+1 {{'nsa.combine_tile' op must combine its tile loop's nsa.finalize_tile output (one branch operand) with slices of the other outputs}}
    %combined = nsa.combine_tile %out_tile, %out_tile, %tile, %gates
        : tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x3xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %combined into %o[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
          : tensor<1x4x16xf32> into tensor<1x8x4x16xf32>
    }
  }
  return %r : tensor<1x8x4x16xf32>
}

// -----

// The other branches' tiles must be slices of captured tensors.
func.func @combine_tile_unsliced_branch(%q: tensor<1x8x4x16xf32>, %g: tensor<1x8x4x3xf32>, %whole: tensor<1x4x16xf32>, %out: tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32> {
  %r = scf.forall (%t) in (8) shared_outs(%o = %out) -> (tensor<1x8x4x16xf32>) {
    %tile = tensor.extract_slice %q[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
        : tensor<1x8x4x16xf32> to tensor<1x4x16xf32>
    %m, %s, %a = nsa.init_tile_state %tile value_dim = 16 : tensor<1x4x16xf32>
    %out_tile, %lse = nsa.finalize_tile %m, %s, %a to f32 : tensor<1x4xf32>, tensor<1x4x16xf32>
    %gates = tensor.extract_slice %g[0, %t, 0, 0] [1, 1, 4, 3] [1, 1, 1, 1]
        : tensor<1x8x4x3xf32> to tensor<1x4x3xf32>
    // expected-error @+1 {{'nsa.combine_tile' op operands other than the loop's own tile must be slices of tensors defined outside the loop}}
    %combined = nsa.combine_tile %tile, %whole, %out_tile, %gates
        : tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x3xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %combined into %o[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
          : tensor<1x4x16xf32> into tensor<1x8x4x16xf32>
    }
  }
  return %r : tensor<1x8x4x16xf32>
}

// -----

// A combine_tile the loop does not store has no place in the kernel.
func.func @combine_tile_not_stored(%q: tensor<1x8x4x16xf32>, %c: tensor<1x8x4x16xf32>, %g: tensor<1x8x4x3xf32>, %out: tensor<1x8x4x16xf32>) -> tensor<1x8x4x16xf32> {
  %r = scf.forall (%t) in (8) shared_outs(%o = %out) -> (tensor<1x8x4x16xf32>) {
    %tile = tensor.extract_slice %q[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
        : tensor<1x8x4x16xf32> to tensor<1x4x16xf32>
    %m, %s, %a = nsa.init_tile_state %tile value_dim = 16 : tensor<1x4x16xf32>
    %out_tile, %lse = nsa.finalize_tile %m, %s, %a to f32 : tensor<1x4xf32>, tensor<1x4x16xf32>
    %other = tensor.extract_slice %c[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
        : tensor<1x8x4x16xf32> to tensor<1x4x16xf32>
    %gates = tensor.extract_slice %g[0, %t, 0, 0] [1, 1, 4, 3] [1, 1, 1, 1]
        : tensor<1x8x4x3xf32> to tensor<1x4x3xf32>
    // expected-error @+1 {{'nsa.combine_tile' op is supported only as what its tile loop stores}}
    %combined = nsa.combine_tile %other, %other, %out_tile, %gates
        : tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x16xf32>, tensor<1x4x3xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %out_tile into %o[0, %t, 0, 0] [1, 1, 4, 16] [1, 1, 1, 1]
          : tensor<1x4x16xf32> into tensor<1x8x4x16xf32>
    }
  }
  return %r : tensor<1x8x4x16xf32>
}
