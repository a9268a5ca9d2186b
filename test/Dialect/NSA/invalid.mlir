// RUN: nsa-opt %s -split-input-file -verify-diagnostics
//
// One case per verifier message of the nsa dialect: the #nsa.config
// attribute first, then the shape checks shared by all ops (through
// nsa.window), then the op-specific ones.

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{cmp_block (0) must be >= 1}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<cmp_block = 0>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{cmp_stride (0) must be >= 1}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<cmp_stride = 0>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{slc_block (-64) must be >= 1}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<slc_block = -64>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{top_n (0) must be >= 1}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<top_n = 0>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{window (0) must be >= 1}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<window = 0>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{num_init_blocks (-1) must be >= 0}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<num_init_blocks = -1>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{num_local_blocks (-2) must be >= 0}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<num_local_blocks = -2>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{cmp_stride (12) must divide cmp_block (32)}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<cmp_block = 32, cmp_stride = 12>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{cmp_stride (16) must divide slc_block (40)}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<slc_block = 40>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{forced blocks num_init_blocks + num_local_blocks (1 + 2) exceed top_n (2)}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<top_n = 2>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{scale (-5.000000e-01) must be positive and finite}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<scale = -0.5>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{score_mapping identity needs cmp_block == cmp_stride == slc_block, got 32, 16, 64}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<score_mapping = identity>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{'nsa.window' op query must be a rank-4 tensor [B, T, Hq, Dk], got 'tensor<16x4x16xf32>'}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<>} : tensor<16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xi32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{'nsa.window' op query must have a floating-point element type, got 'tensor<1x16x4x16xi32>'}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<>} : tensor<1x16x4x16xi32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xi32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf16>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{'nsa.window' op key element type 'f16' differs from query element type 'f32'}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf16>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{'nsa.window' op lse must have element type f32, got 'tensor<1x16x4xf16>'}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf16>
  return
}

// -----

func.func @f(%q: tensor<1x16x?x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{'nsa.window' op query extent Hq (dim 2) must be static, got 'tensor<1x16x?x16xf32>'}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<>} : tensor<1x16x?x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x32xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{'nsa.window' op key Dk (32) does not match query Dk (16)}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<>} : tensor<1x16x4x16xf32>, tensor<1x16x2x32xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{'nsa.window' op output Dv (8) does not match value Dv (16)}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x8xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x17x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{'nsa.window' op key T (17) does not match query T (16)}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<>} : tensor<1x16x4x16xf32>, tensor<1x17x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{'nsa.window' op lse B (2) does not match query B (1)}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<>} : tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<2x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x6x16xf32>, %k: tensor<1x16x4x16xf32>, %v: tensor<1x16x4x16xf32>) {
  // expected-error @+1 {{'nsa.window' op query heads Hq (6) must be a multiple of KV heads H (4)}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<>} : tensor<1x16x6x16xf32>, tensor<1x16x4x16xf32>, tensor<1x16x4x16xf32> -> tensor<1x16x6x16xf32>, tensor<1x16x6xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x0xf32>, %k: tensor<1x16x2x0xf32>, %v: tensor<1x16x2x16xf32>) {
  // expected-error @+1 {{'nsa.window' op query extent Dk (dim 3) must be positive, got 'tensor<1x16x4x0xf32>'}}
  %o, %l = nsa.window %q, %k, %v {config = #nsa.config<>} : tensor<1x16x4x0xf32>, tensor<1x16x2x0xf32>, tensor<1x16x2x16xf32> -> tensor<1x16x4x16xf32>, tensor<1x16x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %g: tensor<1x16x4x3xf32>) {
  // expected-error @+1 {{'nsa.attention' op expects 1 shared or 3 per-branch keys, got 2}}
  %o:4 = nsa.attention %q, keys(%k, %k) values(%k, %k) gates(%g) {config = #nsa.config<>}
      : (tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32>,
         tensor<1x16x2x16xf32>, tensor<1x16x4x3xf32>)
      -> (tensor<1x16x4x16xf32>, tensor<1x16x4xf32>, tensor<1x16x4xf32>, tensor<1x16x4xf32>)
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %g: tensor<1x16x4x3xf32>) {
  // expected-error @+1 {{'nsa.attention' op expects as many values as keys (3), got 1}}
  %o:4 = nsa.attention %q, keys(%k, %k, %k) values(%k) gates(%g) {config = #nsa.config<>}
      : (tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32>,
         tensor<1x16x2x16xf32>, tensor<1x16x4x3xf32>)
      -> (tensor<1x16x4x16xf32>, tensor<1x16x4xf32>, tensor<1x16x4xf32>, tensor<1x16x4xf32>)
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %g: tensor<1x16x4x2xf32>) {
  // expected-error @+1 {{'nsa.attention' op gates extent 3 (dim 3) must be 3, got 2}}
  %o:4 = nsa.attention %q, keys(%k) values(%k) gates(%g) {config = #nsa.config<>}
      : (tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x4x2xf32>)
      -> (tensor<1x16x4x16xf32>, tensor<1x16x4xf32>, tensor<1x16x4xf32>, tensor<1x16x4xf32>)
  return
}

// -----

func.func @f(%q: tensor<1x16x4x16xf32>, %k: tensor<1x16x2x16xf32>, %v: tensor<1x16x2x8xf32>, %g: tensor<1x16x4x3xf32>) {
  // expected-error @+1 {{'nsa.attention' op value (window) Dv (16) does not match value (compressed) Dv (8)}}
  %o:4 = nsa.attention %q, keys(%k, %k, %k) values(%v, %v, %k) gates(%g) {config = #nsa.config<>}
      : (tensor<1x16x4x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32>, tensor<1x16x2x16xf32>,
         tensor<1x16x2x8xf32>, tensor<1x16x2x8xf32>, tensor<1x16x2x16xf32>, tensor<1x16x4x3xf32>)
      -> (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<1x16x4xf32>, tensor<1x16x4xf32>)
  return
}

// -----

func.func @f(%k: tensor<1x64x2x16xf32>) {
  // expected-error @+1 {{'nsa.compress' op compression = weighted needs key_weights and value_weights}}
  %kc, %vc = nsa.compress %k, %k {config = #nsa.config<compression = weighted>}
      : tensor<1x64x2x16xf32>, tensor<1x64x2x16xf32> -> tensor<1x3x2x16xf32>, tensor<1x3x2x16xf32>
  return
}

// -----

func.func @f(%k: tensor<1x64x2x16xf32>, %w: tensor<2x32xf32>) {
  // expected-error @+1 {{'nsa.compress' op key_weights and value_weights need compression = weighted, the config has compression = mean}}
  %kc, %vc = nsa.compress %k, %k weights(%w, %w) {config = #nsa.config<>}
      : tensor<1x64x2x16xf32>, tensor<1x64x2x16xf32>, tensor<2x32xf32>, tensor<2x32xf32>
      -> tensor<1x3x2x16xf32>, tensor<1x3x2x16xf32>
  return
}

// -----

func.func @f(%k: tensor<1x64x2x16xf32>, %w: tensor<2x16xf32>) {
  // expected-error @+1 {{'nsa.compress' op key_weights l (16) does not match cmp_block of the config (32)}}
  %kc, %vc = nsa.compress %k, %k weights(%w, %w) {config = #nsa.config<compression = weighted>}
      : tensor<1x64x2x16xf32>, tensor<1x64x2x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>
      -> tensor<1x3x2x16xf32>, tensor<1x3x2x16xf32>
  return
}

// -----

func.func @f(%k: tensor<1x100x2x16xf32>) {
  // expected-error @+1 {{'nsa.compress' op compressed_key Nc (4) does not match the 5 compressed blocks of T = 100 (cmp_block = 32, cmp_stride = 16)}}
  %kc, %vc = nsa.compress %k, %k {config = #nsa.config<>}
      : tensor<1x100x2x16xf32>, tensor<1x100x2x16xf32> -> tensor<1x4x2x16xf32>, tensor<1x4x2x16xf32>
  return
}

// -----

func.func @f(%k: tensor<1x100x2x16xf32>) {
  // expected-error @+1 {{'nsa.compress' op compressed_value H (3) does not match key H (2)}}
  %kc, %vc = nsa.compress %k, %k {config = #nsa.config<>}
      : tensor<1x100x2x16xf32>, tensor<1x100x2x16xf32> -> tensor<1x5x2x16xf32>, tensor<1x5x3x16xf32>
  return
}

// -----

func.func @f(%q: tensor<1x100x4x32xf32>, %kc: tensor<1x5x2x16xf32>, %vc: tensor<1x5x2x8xf32>) {
  // expected-error @+1 {{'nsa.compressed_attention' op compressed_key Dk (16) does not match query Dk (32)}}
  %o, %l = nsa.compressed_attention %q, %kc, %vc {config = #nsa.config<>}
      : tensor<1x100x4x32xf32>, tensor<1x5x2x16xf32>, tensor<1x5x2x8xf32> -> tensor<1x100x4x8xf32>, tensor<1x100x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x64x4x16xf32>, %kc: tensor<1x5x2x16xf32>, %vc: tensor<1x5x2x16xf32>) {
  // expected-error @+1 {{'nsa.compressed_attention' op compressed_key Nc (5) does not match the 3 compressed blocks of T = 64 (cmp_block = 32, cmp_stride = 16)}}
  %o, %l = nsa.compressed_attention %q, %kc, %vc {config = #nsa.config<>}
      : tensor<1x64x4x16xf32>, tensor<1x5x2x16xf32>, tensor<1x5x2x16xf32> -> tensor<1x64x4x16xf32>, tensor<1x64x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x?x4x16xf32>, %kc: tensor<1x?x2x16xf32>, %l: tensor<1x?x4xf32>) {
  // expected-error @+1 {{'nsa.compressed_probs' op probs must have element type f32, got 'tensor<1x?x4x?xf16>'}}
  %p = nsa.compressed_probs %q, %kc, %l {config = #nsa.config<>}
      : tensor<1x?x4x16xf32>, tensor<1x?x2x16xf32>, tensor<1x?x4xf32> -> tensor<1x?x4x?xf16>
  return
}

// -----

func.func @f(%q: tensor<1x?x4x16xf32>, %kc: tensor<1x5x2x16xf32>, %l: tensor<1x?x4xf32>) {
  // expected-error @+1 {{'nsa.compressed_probs' op probs Nc (7) does not match compressed_key Nc (5)}}
  %p = nsa.compressed_probs %q, %kc, %l {config = #nsa.config<>}
      : tensor<1x?x4x16xf32>, tensor<1x5x2x16xf32>, tensor<1x?x4xf32> -> tensor<1x?x4x7xf32>
  return
}

// -----

func.func @f(%p: tensor<1x64x4x3xf32>) {
  // expected-error @+1 {{'nsa.select' op indices must have element type i32, got 'tensor<1x64x2x16xi64>'}}
  %i = nsa.select %p {config = #nsa.config<>} : tensor<1x64x4x3xf32> -> tensor<1x64x2x16xi64>
  return
}

// -----

func.func @f(%p: tensor<1x64x4x3xf32>) {
  // expected-error @+1 {{'nsa.select' op indices n (8) does not match top_n of the config (16)}}
  %i = nsa.select %p {config = #nsa.config<>} : tensor<1x64x4x3xf32> -> tensor<1x64x2x8xi32>
  return
}

// -----

func.func @f(%p: tensor<1x64x4x3xf32>) {
  // expected-error @+1 {{'nsa.select' op indices must be a rank-4 tensor [B, T, H, n], got 'tensor<64x2x16xi32>'}}
  %i = nsa.select %p {config = #nsa.config<>} : tensor<1x64x4x3xf32> -> tensor<64x2x16xi32>
  return
}

// -----

func.func @f(%p: tensor<1x64x4x3xf32>) {
  // expected-error @+1 {{'nsa.select' op query heads Hq (4) must be a multiple of KV heads H (3)}}
  %i = nsa.select %p {config = #nsa.config<>} : tensor<1x64x4x3xf32> -> tensor<1x64x3x16xi32>
  return
}

// -----

func.func @f(%q: tensor<1x64x4x16xf32>, %k: tensor<1x64x2x16xf32>, %i: tensor<1x32x2x16xi32>) {
  // expected-error @+1 {{'nsa.selected_attention' op indices T (32) does not match query T (64)}}
  %o, %l = nsa.selected_attention %q, %k, %k, %i {config = #nsa.config<>}
      : tensor<1x64x4x16xf32>, tensor<1x64x2x16xf32>, tensor<1x64x2x16xf32>, tensor<1x32x2x16xi32>
      -> tensor<1x64x4x16xf32>, tensor<1x64x4xf32>
  return
}

// -----

func.func @f(%q: tensor<1x64x4x16xf32>, %k: tensor<1x64x2x16xf32>, %i: tensor<1x64x2x?xi32>) {
  // expected-error @+1 {{'nsa.selected_attention' op indices extent n (dim 3) must be static, got 'tensor<1x64x2x?xi32>'}}
  %o, %l = nsa.selected_attention %q, %k, %k, %i {config = #nsa.config<>}
      : tensor<1x64x4x16xf32>, tensor<1x64x2x16xf32>, tensor<1x64x2x16xf32>, tensor<1x64x2x?xi32>
      -> tensor<1x64x4x16xf32>, tensor<1x64x4xf32>
  return
}

// -----

func.func @f(%o: tensor<1x64x4x16xf32>, %g: tensor<1x64x4x3xbf16>) {
  // expected-error @+1 {{'nsa.combine' op gates element type 'bf16' differs from compressed element type 'f32'}}
  %r = nsa.combine %o, %o, %o, %g
      : tensor<1x64x4x16xf32>, tensor<1x64x4x16xf32>, tensor<1x64x4x16xf32>, tensor<1x64x4x3xbf16>
      -> tensor<1x64x4x16xf32>
  return
}

// -----

func.func @f(%o: tensor<1x64x4x16xf32>, %w: tensor<1x64x4x8xf32>, %g: tensor<1x64x4x3xf32>) {
  // expected-error @+1 {{'nsa.combine' op window Dv (8) does not match compressed Dv (16)}}
  %r = nsa.combine %o, %o, %w, %g
      : tensor<1x64x4x16xf32>, tensor<1x64x4x16xf32>, tensor<1x64x4x8xf32>, tensor<1x64x4x3xf32>
      -> tensor<1x64x4x16xf32>
  return
}
