// RUN: nsa-opt %s -split-input-file -verify-diagnostics
//
// One case per verifier message of the nsa dialect: the #nsa.config
// attribute first, then the shape checks shared by all ops (through
// nsa.window), then the op-specific ones; at the end the tile level:
// #nsa.target and the tile ops (init_tile_state, attend_tile,
// finalize_tile, prefetch_tile), including result types that differ from the inferred ones.

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

// -----

// #nsa.target: every parameter, in the order the verifier checks them.

// expected-error @+1 {{chip "sm_70" is not one of sm_80, sm_86, sm_89, sm_90, sm_90a}}
module attributes {nsa.target = #nsa.target<chip = "sm_70">} {}

// -----

// expected-error @+1 {{block_q (48) must be a positive power of two}}
module attributes {nsa.target = #nsa.target<block_q = 48>} {}

// -----

// expected-error @+1 {{block_kv (0) must be a positive power of two}}
module attributes {nsa.target = #nsa.target<block_kv = 0>} {}

// -----

// expected-error @+1 {{num_warps (-4) must be a positive power of two}}
module attributes {nsa.target = #nsa.target<num_warps = -4>} {}

// -----

// expected-error @+1 {{selected_num_warps (6) must be a positive power of two}}
module attributes {nsa.target = #nsa.target<selected_num_warps = 6>} {}

// -----

// expected-error @+1 {{num_warps (64) must be at most 32 (1024 threads per CTA)}}
module attributes {nsa.target = #nsa.target<num_warps = 64>} {}

// -----

// expected-error @+1 {{selected_num_warps (64) must be at most 32 (1024 threads per CTA)}}
module attributes {nsa.target = #nsa.target<selected_num_warps = 64>} {}

// -----

// expected-error @+1 {{num_stages (0) must be >= 1}}
module attributes {nsa.target = #nsa.target<num_stages = 0>} {}

// -----

// expected-error @+1 {{prefetch_blocks (-1) must be >= 0}}
module attributes {nsa.target = #nsa.target<prefetch_blocks = -1>} {}

// -----

// expected-error @+1 {{min_ctas_per_sm (33) must be in [0, 32]}}
module attributes {nsa.target = #nsa.target<min_ctas_per_sm = 33>} {}

// -----

// expected-error @+1 {{min_ctas_per_sm (-1) must be in [0, 32]}}
module attributes {nsa.target = #nsa.target<min_ctas_per_sm = -1>} {}

// -----

// expected-error @+1 {{probs_min_ctas_per_sm (33) must be in [0, 32]}}
module attributes {nsa.target = #nsa.target<probs_min_ctas_per_sm = 33>} {}

// -----

// mma is an enum: a keyword (a string is read the same way).
// expected-error @+2 {{expected one of [auto, sync, wgmma] for tensor-core instruction of the CTA-shared kernels, got: hmma}}
// expected-error @+1 {{failed to parse NSA_TargetAttr parameter 'mma' which is to be a `::mlir::nsa::TensorCoreInstruction`}}
module attributes {nsa.target = #nsa.target<mma = hmma>} {}

// -----

// expected-error @+1 {{mma = wgmma needs chip "sm_90a"; got "sm_90"}}
module attributes {nsa.target = #nsa.target<chip = "sm_90", mma = wgmma>} {}

// -----

func.func @min_ctas_outside_kernel() {
  // expected-error @+1 {{'nsa.min_ctas_per_sm' op must be inside a gpu.launch or gpu.func}}
  nsa.min_ctas_per_sm 3
  return
}

// -----

gpu.module @kernels {
  gpu.func @no_ctas() kernel {
    // expected-error @+1 {{'nsa.min_ctas_per_sm' op attribute 'ctas' failed to satisfy constraint: 64-bit signless integer attribute whose minimum value is 1}}
    nsa.min_ctas_per_sm 0
    gpu.return
  }
}

// -----

// The bound depends on the chip: the H100 default fits sm_90a, not sm_86.
// expected-error @+1 {{shared_memory (232448) must be in [1, 101376] on sm_86}}
module attributes {nsa.target = #nsa.target<chip = "sm_86">} {}

// -----

// expected-error @+1 {{shared_memory (0) must be in [1, 232448] on sm_90a}}
module attributes {nsa.target = #nsa.target<shared_memory = 0>} {}

// -----

// Tile ops.

func.func @f(%q: tensor<16x4x64xf32>) {
  // expected-error @+1 {{value_dim (0) must be positive}}
  %m, %s, %a = nsa.init_tile_state %q value_dim = 0 : tensor<16x4x64xf32>
  return
}

// -----

// The custom form infers the result types, which needs a rank-3 query.
func.func @f(%q: tensor<16x64xf32>) {
  // expected-error @+1 {{query must be a rank-3 tile, got 'tensor<16x64xf32>'}}
  %m, %s, %a = nsa.init_tile_state %q value_dim = 32 : tensor<16x64xf32>
  return
}

// -----

// The generic form names the result types; the verifier rejects the query.
func.func @f(%q: tensor<16x64xf32>) {
  // expected-error @+1 {{'nsa.init_tile_state' op query must be a rank-3 tensor [R, G, Dk], got 'tensor<16x64xf32>'}}
  %r:3 = "nsa.init_tile_state"(%q) <{value_dim = 32 : i64}>
      : (tensor<16x64xf32>) -> (tensor<16xf32>, tensor<16xf32>, tensor<16x32xf32>)
  return
}

// -----

// Generic form with result types other than the inferred ones (the
// accumulator's Dv comes from value_dim).
func.func @f(%q: tensor<16x4x64xf32>) {
  // expected-error @+2 {{'nsa.init_tile_state' op inferred type(s) 'tensor<16x4xf32>', 'tensor<16x4xf32>', 'tensor<16x4x32xf32>' are incompatible with return type(s) of operation 'tensor<16x4xf32>', 'tensor<16x4xf32>', 'tensor<16x4x16xf32>'}}
  // expected-error @+1 {{'nsa.init_tile_state' op failed to infer returned types}}
  %r:3 = "nsa.init_tile_state"(%q) <{value_dim = 32 : i64}>
      : (tensor<16x4x64xf32>) -> (tensor<16x4xf32>, tensor<16x4xf32>, tensor<16x4x16xf32>)
  return
}

// -----

func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x64xf32>, %v: tensor<8x32xf32>,
             %m: tensor<16x4xf32>, %a: tensor<16x4x32xf32>, %p: index) {
  // expected-error @+1 {{'nsa.attend_tile' op key_stride (0) must be positive}}
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %m, %a) at(%p, %p)
      {scale = 0.125 : f64, key_stride = 0 : i64, key_offset = 0 : i64}
      : tensor<16x4x64xf32>, tensor<8x64xf32>, tensor<8x32xf32>, tensor<16x4xf32>, tensor<16x4x32xf32>
  return
}

// -----

func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x64xf32>, %v: tensor<8x32xf32>,
             %m: tensor<16x4xf32>, %a: tensor<16x4x32xf32>, %p: index) {
  // expected-error @+1 {{'nsa.attend_tile' op window (0) must be positive}}
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %m, %a) at(%p, %p)
      {scale = 0.125 : f64, key_stride = 1 : i64, key_offset = 0 : i64, window = 0 : i64}
      : tensor<16x4x64xf32>, tensor<8x64xf32>, tensor<8x32xf32>, tensor<16x4xf32>, tensor<16x4x32xf32>
  return
}

// -----

func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x64xf32>, %v: tensor<8x32xf32>,
             %m: tensor<16x4xf32>, %a: tensor<16x4x32xf32>, %p: index) {
  // expected-error @+1 {{'nsa.attend_tile' op scale (0.000000e+00) must be positive}}
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %m, %a) at(%p, %p)
      {scale = 0.0 : f64, key_stride = 1 : i64, key_offset = 0 : i64}
      : tensor<16x4x64xf32>, tensor<8x64xf32>, tensor<8x32xf32>, tensor<16x4xf32>, tensor<16x4x32xf32>
  return
}

// -----

func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x32xf32>, %v: tensor<8x32xf32>,
             %m: tensor<16x4xf32>, %a: tensor<16x4x32xf32>, %p: index) {
  // expected-error @+1 {{'nsa.attend_tile' op key Dk (32) does not match query Dk (64)}}
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %m, %a) at(%p, %p)
      {scale = 0.125 : f64, key_stride = 1 : i64, key_offset = 0 : i64}
      : tensor<16x4x64xf32>, tensor<8x32xf32>, tensor<8x32xf32>, tensor<16x4xf32>, tensor<16x4x32xf32>
  return
}

// -----

func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x64xf32>, %v: tensor<8x16xf32>,
             %m: tensor<16x4xf32>, %a: tensor<16x4x32xf32>, %p: index) {
  // expected-error @+1 {{'nsa.attend_tile' op acc Dv (32) does not match value Dv (16)}}
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %m, %a) at(%p, %p)
      {scale = 0.125 : f64, key_stride = 1 : i64, key_offset = 0 : i64}
      : tensor<16x4x64xf32>, tensor<8x64xf32>, tensor<8x16xf32>, tensor<16x4xf32>, tensor<16x4x32xf32>
  return
}

// -----

// The state holds one entry per row and head of the query tile.
func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x64xf32>, %v: tensor<8x32xf32>,
             %m: tensor<16x1xf32>, %a: tensor<16x4x32xf32>, %p: index) {
  // expected-error @+1 {{'nsa.attend_tile' op max G (1) does not match query G (4)}}
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %m, %a) at(%p, %p)
      {scale = 0.125 : f64, key_stride = 1 : i64, key_offset = 0 : i64}
      : tensor<16x4x64xf32>, tensor<8x64xf32>, tensor<8x32xf32>, tensor<16x1xf32>, tensor<16x4x32xf32>
  return
}

// -----

func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x64xf32>, %v: tensor<8x32xf32>,
             %m: tensor<16x4xf32>, %s: tensor<16x2xf32>, %a: tensor<16x4x32xf32>, %p: index) {
  // expected-error @+1 {{'nsa.attend_tile' op failed to verify that all of {max, sum} have same type}}
  %r:3 = "nsa.attend_tile"(%q, %k, %v, %m, %s, %a, %p, %p)
      <{scale = 0.125 : f64, key_stride = 1 : i64, key_offset = 0 : i64}>
      : (tensor<16x4x64xf32>, tensor<8x64xf32>, tensor<8x32xf32>, tensor<16x4xf32>, tensor<16x2xf32>,
         tensor<16x4x32xf32>, index, index) -> (tensor<16x4xf32>, tensor<16x2xf32>, tensor<16x4x32xf32>)
  return
}

// -----

// The new state has the type of the old one.
func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x64xf32>, %v: tensor<8x32xf32>,
             %m: tensor<16x4xf32>, %a: tensor<16x4x32xf32>, %p: index) {
  // expected-error @+2 {{'nsa.attend_tile' op inferred type(s) 'tensor<16x4xf32>', 'tensor<16x4xf32>', 'tensor<16x4x32xf32>' are incompatible with return type(s) of operation 'tensor<16x4xf32>', 'tensor<16x4xf32>', 'tensor<16x4x16xf32>'}}
  // expected-error @+1 {{'nsa.attend_tile' op failed to infer returned types}}
  %r:3 = "nsa.attend_tile"(%q, %k, %v, %m, %m, %a, %p, %p)
      <{scale = 0.125 : f64, key_stride = 1 : i64, key_offset = 0 : i64}>
      : (tensor<16x4x64xf32>, tensor<8x64xf32>, tensor<8x32xf32>, tensor<16x4xf32>, tensor<16x4xf32>,
         tensor<16x4x32xf32>, index, index) -> (tensor<16x4xf32>, tensor<16x4xf32>, tensor<16x4x16xf32>)
  return
}

// -----

func.func @f(%m: tensor<16x4xf32>, %a: tensor<16x4x32xf32>) {
  // expected-error @+1 {{'nsa.finalize_tile' op element_type must be a float type, got 'i32'}}
  %o, %l = nsa.finalize_tile %m, %m, %a to i32 : tensor<16x4xf32>, tensor<16x4x32xf32>
  return
}

// -----

func.func @f(%m: tensor<16x4xf32>, %a: tensor<16x2x32xf32>) {
  // expected-error @+1 {{'nsa.finalize_tile' op acc G (2) does not match max G (4)}}
  %o, %l = nsa.finalize_tile %m, %m, %a to f32 : tensor<16x4xf32>, tensor<16x2x32xf32>
  return
}

// -----

func.func @f(%c: tensor<16x4x32xbf16>, %w: tensor<16x4x16xbf16>, %g: tensor<16x4x3xbf16>) {
  // expected-error @+1 {{'nsa.combine_tile' op window Dv (16) does not match compressed Dv (32)}}
  %o = nsa.combine_tile %c, %c, %w, %g : tensor<16x4x32xbf16>, tensor<16x4x32xbf16>, tensor<16x4x16xbf16>, tensor<16x4x3xbf16>
  return
}

// -----

func.func @f(%c: tensor<16x4x32xbf16>, %g: tensor<16x4x2xbf16>) {
  // expected-error @+1 {{'nsa.combine_tile' op gates extent 3 (dim 2) must be 3, got 2}}
  %o = nsa.combine_tile %c, %c, %c, %g : tensor<16x4x32xbf16>, tensor<16x4x32xbf16>, tensor<16x4x32xbf16>, tensor<16x4x2xbf16>
  return
}

// -----

func.func @f(%c: tensor<16x4x32xbf16>, %s: tensor<16x2x32xbf16>, %g: tensor<16x4x3xbf16>) {
  // expected-error @+1 {{'nsa.combine_tile' op selected G (2) does not match compressed G (4)}}
  %o = nsa.combine_tile %c, %s, %c, %g : tensor<16x4x32xbf16>, tensor<16x2x32xbf16>, tensor<16x4x32xbf16>, tensor<16x4x3xbf16>
  return
}

// -----

// The output is the window tile's type.
func.func @f(%c: tensor<16x4x32xbf16>, %g: tensor<16x4x3xbf16>) {
  // expected-error @+1 {{'nsa.combine_tile' op failed to verify that all of {window, output} have same type}}
  %o = "nsa.combine_tile"(%c, %c, %c, %g)
      : (tensor<16x4x32xbf16>, tensor<16x4x32xbf16>, tensor<16x4x32xbf16>, tensor<16x4x3xbf16>) -> tensor<16x4x32xf32>
  return
}

// -----

// The output takes element_type, not the accumulator's f32.
func.func @f(%m: tensor<16x4xf32>, %a: tensor<16x4x32xf32>) {
  // expected-error @+2 {{'nsa.finalize_tile' op inferred type(s) 'tensor<16x4x32xbf16>', 'tensor<16x4xf32>' are incompatible with return type(s) of operation 'tensor<16x4x32xf32>', 'tensor<16x4xf32>'}}
  // expected-error @+1 {{'nsa.finalize_tile' op failed to infer returned types}}
  %r:2 = "nsa.finalize_tile"(%m, %m, %a) <{element_type = bf16}>
      : (tensor<16x4xf32>, tensor<16x4xf32>, tensor<16x4x32xf32>) -> (tensor<16x4x32xf32>, tensor<16x4xf32>)
  return
}

// -----

// I64 attributes are signless: a negative value must not wrap to a huge one.
func.func @f(%q: tensor<16x4x64xf32>) {
  // expected-error @+1 {{value_dim (-8) must be positive}}
  %m, %s, %a = nsa.init_tile_state %q value_dim = -8 : tensor<16x4x64xf32>
  return
}

// -----

func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x64xf32>, %v: tensor<8x32xf32>,
             %m: tensor<16x4xf32>, %a: tensor<16x4x32xf32>, %p: index) {
  // expected-error @+1 {{'nsa.attend_tile' op key_stride (-2) must be positive}}
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %m, %a) at(%p, %p)
      {scale = 0.125 : f64, key_stride = -2 : i64, key_offset = 0 : i64}
      : tensor<16x4x64xf32>, tensor<8x64xf32>, tensor<8x32xf32>, tensor<16x4xf32>, tensor<16x4x32xf32>
  return
}

// -----

func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x64xf32>, %v: tensor<8x32xf32>,
             %m: tensor<16x4xf32>, %a: tensor<16x4x32xf32>, %p: index) {
  // expected-error @+1 {{'nsa.attend_tile' op window (-512) must be positive}}
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %m, %a) at(%p, %p)
      {scale = 0.125 : f64, key_stride = 1 : i64, key_offset = 0 : i64, window = -512 : i64}
      : tensor<16x4x64xf32>, tensor<8x64xf32>, tensor<8x32xf32>, tensor<16x4xf32>, tensor<16x4x32xf32>
  return
}

// -----

func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x64xf32>, %v: tensor<8x32xf32>,
             %m: tensor<16x4xf32>, %a: tensor<16x4x32xf32>, %p: index) {
  // expected-error @+1 {{'nsa.attend_tile' op scale (INF) must be positive}}
  %m1, %s1, %a1 = nsa.attend_tile %q, %k, %v state(%m, %m, %a) at(%p, %p)
      {scale = 0x7FF0000000000000 : f64, key_stride = 1 : i64, key_offset = 0 : i64}
      : tensor<16x4x64xf32>, tensor<8x64xf32>, tensor<8x32xf32>, tensor<16x4xf32>, tensor<16x4x32xf32>
  return
}

// -----

// expected-error @+1 {{'nsa.target' must be a #nsa.target attribute, got "sm_90a"}}
module attributes {nsa.target = "sm_90a"} {}

// -----

func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x64xf32>, %lse: tensor<16x4xf32>, %p: index) {
  // expected-error @+1 {{'nsa.probs_tile' op key_stride (0) must be positive}}
  %r = nsa.probs_tile %q, %k, %lse at(%p, %p)
      {scale = 0.125 : f64, key_stride = 0 : i64, key_offset = 31 : i64}
      : tensor<16x4x64xf32>, tensor<8x64xf32>, tensor<16x4xf32> -> tensor<16x4x8xf32>
  return
}

// -----

func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x32xf32>, %lse: tensor<16x4xf32>, %p: index) {
  // expected-error @+1 {{'nsa.probs_tile' op key Dk (32) does not match query Dk (64)}}
  %r = nsa.probs_tile %q, %k, %lse at(%p, %p)
      {scale = 0.125 : f64, key_stride = 16 : i64, key_offset = 31 : i64}
      : tensor<16x4x64xf32>, tensor<8x32xf32>, tensor<16x4xf32> -> tensor<16x4x8xf32>
  return
}

// -----

func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x64xf32>, %lse: tensor<16x2xf32>, %p: index) {
  // expected-error @+1 {{'nsa.probs_tile' op lse G (2) does not match query G (4)}}
  %r = nsa.probs_tile %q, %k, %lse at(%p, %p)
      {scale = 0.125 : f64, key_stride = 16 : i64, key_offset = 31 : i64}
      : tensor<16x4x64xf32>, tensor<8x64xf32>, tensor<16x2xf32> -> tensor<16x4x8xf32>
  return
}

// -----

func.func @f(%q: tensor<16x4x64xf32>, %k: tensor<8x64xf32>, %lse: tensor<16x4xf32>, %p: index) {
  // expected-error @+1 {{'nsa.probs_tile' op probs extent 1 (dim 1) must be 1, got 4}}
  %r = nsa.probs_tile %q, %k, %lse at(%p, %p) group_sum
      {scale = 0.125 : f64, key_stride = 16 : i64, key_offset = 31 : i64}
      : tensor<16x4x64xf32>, tensor<8x64xf32>, tensor<16x4xf32> -> tensor<16x4x8xf32>
  return
}

// -----

func.func @f(%q: tensor<1x?x4x16xf32>, %kc: tensor<1x5x2x16xf32>, %l: tensor<1x?x4xf32>) {
  // expected-error @+1 {{'nsa.compressed_probs' op probs H (4) does not match compressed_key H (2)}}
  %p = nsa.compressed_probs %q, %kc, %l group_sum {config = #nsa.config<>}
      : tensor<1x?x4x16xf32>, tensor<1x5x2x16xf32>, tensor<1x?x4xf32> -> tensor<1x?x4x5xf32>
  return
}

// -----

func.func @f(%k: tensor<8x64xbf16>, %v: tensor<4x32xbf16>) {
  // expected-error @+1 {{'nsa.prefetch_tile' op value N (4) does not match key N (8)}}
  nsa.prefetch_tile %k, %v : tensor<8x64xbf16>, tensor<4x32xbf16>
  return
}

// -----

func.func @f(%k: tensor<8x64xbf16>, %v: tensor<8x32xf16>) {
  // expected-error @+1 {{'nsa.prefetch_tile' op value element type 'f16' differs from key element type 'bf16'}}
  nsa.prefetch_tile %k, %v : tensor<8x64xbf16>, tensor<8x32xf16>
  return
}

// -----

func.func @f(%k: tensor<8x1x64xbf16>, %v: tensor<8x32xbf16>) {
  // expected-error @+1 {{'nsa.prefetch_tile' op key must be a rank-2 tensor [N, Dk], got 'tensor<8x1x64xbf16>'}}
  nsa.prefetch_tile %k, %v : tensor<8x1x64xbf16>, tensor<8x32xbf16>
  return
}
