// RUN: nsa-opt %s --convert-nsa-to-linalg=branch-attention=1 -split-input-file -verify-diagnostics
// RUN: nsa-opt %s --convert-nsa-to-linalg -split-input-file | FileCheck %s

// The dense (untiled) branch lowering takes f32, f16 and bf16 activations,
// the input types of the NSA semantics, accumulated in f32. It refuses the
// others with an error instead of silently computing f64 in f32 or emitting
// conversions of types the CPU lowering cannot handle (f8). Without
// branch-attention the branch ops are left for nsa-tile and nothing is
// refused (CHECK).

// CHECK-LABEL: func @f64_window
// CHECK: nsa.window
func.func @f64_window(%q: tensor<1x8x2x4xf64>, %k: tensor<1x8x1x4xf64>, %v: tensor<1x8x1x4xf64>)
    -> (tensor<1x8x2x4xf64>, tensor<1x8x2xf32>) {
  // expected-error @+1 {{'nsa.window' op cannot be lowered by branch-attention: activations must be f32, f16 or bf16 (accumulated in f32), got 'f64'}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 4>}
      : tensor<1x8x2x4xf64>, tensor<1x8x1x4xf64>, tensor<1x8x1x4xf64>
      -> tensor<1x8x2x4xf64>, tensor<1x8x2xf32>
  return %o, %l : tensor<1x8x2x4xf64>, tensor<1x8x2xf32>
}

// -----

// CHECK-LABEL: func @f8_selected
// CHECK: nsa.selected_attention
func.func @f8_selected(%q: tensor<1x8x2x4xf8E4M3FN>, %k: tensor<1x8x1x4xf8E4M3FN>,
                       %v: tensor<1x8x1x4xf8E4M3FN>, %i: tensor<1x8x1x2xi32>)
    -> (tensor<1x8x2x4xf8E4M3FN>, tensor<1x8x2xf32>) {
  // expected-error @+1 {{'nsa.selected_attention' op cannot be lowered by branch-attention: activations must be f32, f16 or bf16 (accumulated in f32), got 'f8E4M3FN'}}
  %o, %l = nsa.selected_attention %q, %k, %v, %i
      {config = #nsa.config<cmp_block = 4, cmp_stride = 4, slc_block = 4, top_n = 2, num_local_blocks = 1>}
      : tensor<1x8x2x4xf8E4M3FN>, tensor<1x8x1x4xf8E4M3FN>, tensor<1x8x1x4xf8E4M3FN>, tensor<1x8x1x2xi32>
      -> tensor<1x8x2x4xf8E4M3FN>, tensor<1x8x2xf32>
  return %o, %l : tensor<1x8x2x4xf8E4M3FN>, tensor<1x8x2xf32>
}

// -----

// Every refused op is reported, not only the first.
func.func @f64_compressed(%q: tensor<1x8x2x4xf64>, %kc: tensor<1x1x1x4xf64>, %vc: tensor<1x1x1x4xf64>,
                          %k: tensor<1x8x1x4xf64>, %q16: tensor<1x8x2x4xf16>, %k16: tensor<1x8x1x4xf16>)
    -> (tensor<1x8x2x4xf64>, tensor<1x8x2x4xf64>, tensor<1x8x2x4xf16>) {
  // expected-error @+1 {{'nsa.compressed_attention' op cannot be lowered by branch-attention}}
  %o, %l = nsa.compressed_attention %q, %kc, %vc {config = #nsa.config<cmp_block = 8, cmp_stride = 4, slc_block = 8>}
      : tensor<1x8x2x4xf64>, tensor<1x1x1x4xf64>, tensor<1x1x1x4xf64>
      -> tensor<1x8x2x4xf64>, tensor<1x8x2xf32>
  // expected-error @+1 {{'nsa.window' op cannot be lowered by branch-attention}}
  %o2, %l2 = nsa.window %q, %k, %k {config = #nsa.config<window = 4>}
      : tensor<1x8x2x4xf64>, tensor<1x8x1x4xf64>, tensor<1x8x1x4xf64>
      -> tensor<1x8x2x4xf64>, tensor<1x8x2xf32>
  %o3, %l3 = nsa.window %q16, %k16, %k16 {config = #nsa.config<window = 4>}
      : tensor<1x8x2x4xf16>, tensor<1x8x1x4xf16>, tensor<1x8x1x4xf16>
      -> tensor<1x8x2x4xf16>, tensor<1x8x2xf32>
  return %o, %o2, %o3 : tensor<1x8x2x4xf64>, tensor<1x8x2x4xf64>, tensor<1x8x2x4xf16>
}
