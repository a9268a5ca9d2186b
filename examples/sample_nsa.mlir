// The sample NSA graph: one NSA layer with the paper's configuration
// (l = 32, d = 16, l' = 64, n = 16, w = 512), 64 query heads sharing 4 KV
// heads (G = 16), head dim 128, bf16, batch and sequence length dynamic.
//
//   scripts/main.sh                 # builds nsa-opt and compiles this file
//   build/bin/nsa-opt --nsa-decompose examples/sample_nsa.mlir

func.func @nsa_layer(%q: tensor<?x?x64x128xbf16>, %k: tensor<?x?x4x128xbf16>,
                     %v: tensor<?x?x4x128xbf16>, %g: tensor<?x?x64x3xbf16>)
    -> (tensor<?x?x64x128xbf16>, tensor<?x?x64xf32>, tensor<?x?x64xf32>,
        tensor<?x?x64xf32>) {
  %o, %lse_cmp, %lse_slc, %lse_win = nsa.attention %q, keys(%k) values(%v) gates(%g)
      {config = #nsa.config<>}
      : (tensor<?x?x64x128xbf16>, tensor<?x?x4x128xbf16>, tensor<?x?x4x128xbf16>,
         tensor<?x?x64x3xbf16>)
      -> (tensor<?x?x64x128xbf16>, tensor<?x?x64xf32>, tensor<?x?x64xf32>,
          tensor<?x?x64xf32>)
  return %o, %lse_cmp, %lse_slc, %lse_win
      : tensor<?x?x64x128xbf16>, tensor<?x?x64xf32>, tensor<?x?x64xf32>,
        tensor<?x?x64xf32>
}
