// RUN: nsa-opt %s --convert-nsa-tile-to-linalg -split-input-file -verify-diagnostics

// The tile-level CPU lowering computes in f32 from f32, f16 and bf16, the
// input types of the NSA semantics; other activation types are refused
// (every offending op is reported), not silently rounded to f32.

func.func @f64_tile(%q: tensor<16x4x64xf64>, %k: tensor<8x64xf64>, %v: tensor<8x32xf64>, %p: index)
    -> (tensor<16x4x32xf64>, tensor<16x4xf32>) {
  // expected-error @+1 {{'nsa.init_tile_state' op cannot be lowered to linalg: activations must be f32, f16 or bf16 (accumulated in f32), got 'f64'}}
  %m, %s, %a = nsa.init_tile_state %q value_dim = 32 : tensor<16x4x64xf64>
  // expected-error @+1 {{'nsa.attend_tile' op cannot be lowered to linalg: activations must be f32, f16 or bf16 (accumulated in f32), got 'f64'}}
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %s, %a) at(%p, %p)
      {scale = 0.125 : f64, key_stride = 1 : i64, key_offset = 0 : i64}
      : tensor<16x4x64xf64>, tensor<8x64xf64>, tensor<8x32xf64>, tensor<16x4xf32>, tensor<16x4x32xf32>
  %o, %l = nsa.finalize_tile %m1, %s1, %a1 to f64 : tensor<16x4xf32>, tensor<16x4x32xf32>
  return %o, %l : tensor<16x4x32xf64>, tensor<16x4xf32>
}

// -----

func.func @f8_probs(%q: tensor<16x4x64xf8E4M3FN>, %k: tensor<8x64xf8E4M3FN>, %lse: tensor<16x4xf32>, %p: index)
    -> tensor<16x4x8xf32> {
  // expected-error @+1 {{'nsa.probs_tile' op cannot be lowered to linalg: activations must be f32, f16 or bf16 (accumulated in f32), got 'f8E4M3FN'}}
  %r = nsa.probs_tile %q, %k, %lse at(%p, %p)
      {scale = 0.125 : f64, key_stride = 16 : i64, key_offset = 31 : i64}
      : tensor<16x4x64xf8E4M3FN>, tensor<8x64xf8E4M3FN>, tensor<16x4xf32> -> tensor<16x4x8xf32>
  return %r : tensor<16x4x8xf32>
}
