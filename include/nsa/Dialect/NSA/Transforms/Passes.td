//===- Passes.td - nsa dialect passes ----------------------*- tablegen -*-===//

#ifndef NSA_DIALECT_NSA_TRANSFORMS_PASSES_TD
#define NSA_DIALECT_NSA_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def NSADecompose : Pass<"nsa-decompose"> {
  let summary = "Rewrite nsa.attention into the branch ops and nsa.combine";
  let description = [{
    Replaces every `nsa.attention` by its three branches:

    ```
    kc, vc      = nsa.compress(k_cmp, v_cmp [, weights])
    o_cmp, lc   = nsa.compressed_attention(q, kc, vc)
    p_cmp       = nsa.compressed_probs(q, kc, lc)
    indices     = nsa.select(p_cmp)
    o_slc, ls   = nsa.selected_attention(q, k_slc, v_slc, indices)
    o_win, lw   = nsa.window(q, k_win, v_win)
    o           = nsa.combine(o_cmp, o_slc, o_win, gates)
    ```

    With one shared key/value pair all branches read it; with per-branch
    pairs each branch reads its own. Block counts (`Nc`) are static in the
    result types when the sequence length is static, dynamic otherwise.

    Guarantees: no `nsa.attention` remains; every other op is untouched.
  }];
  let dependentDialects = [];
}

#endif // NSA_DIALECT_NSA_TRANSFORMS_PASSES_TD
