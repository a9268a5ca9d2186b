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


def NSATile : Pass<"nsa-tile"> {
  let summary = "Tile the branch attentions into query tiles over KV tile lists";
  let description = [{
    Rewrites `nsa.compressed_attention`, `nsa.selected_attention`,
    `nsa.window` and `nsa.compressed_probs` into the tile-level form that
    every later step consumes:

    ```
    scf.forall (%b, %tile, %hq) in (B, #query tiles, Hq) shared_outs(out, lse)
      q     = tensor.extract_slice query[b, t0, hq, 0] [1, rows, 1, Dk]
      state = nsa.init_tile_state q
      for each KV tile of the branch's list:          (scf.for / scf.if)
        k, v  = tensor.extract_slice key/value[b, kv, hq / G, 0] [1, n, 1, D]
        state = nsa.attend_tile q, k, v state(...) at(t0, kv)
      o, lse = nsa.finalize_tile state
      tensor.parallel_insert_slice o, lse into out, lse
    ```

    One driver serves the three branches; only the KV tile list differs:

    - compressed: compressed tokens `[0, min(Nc, visible(t0 + rows - 1)))`
      in tiles of `block_kv`, key position `d * i + l - 1`;
    - window: tokens `[max(0, t0 - w + 1), t0 + rows)` in tiles of
      `block_kv`, with the window mask;
    - selected: one query position per tile (`rows = 1`); for each of the
      `n` indices `j >= 0` of the position's KV head, the tokens
      `[j * l', min((j + 1) * l', t + 1))` in tiles of `block_kv`.

    `nsa.compressed_probs` becomes the same kind of loop over (B, #query
    tiles, Hq) with one `nsa.probs_tile` over all compressed blocks of the
    KV head in its body (the lse is known, so each tile's probabilities are
    final and are stored as computed):

    ```
      q, lse = tensor.extract_slice query / lse[b, t0, hq, ...] [1, rows, 1, ...]
      kc     = tensor.extract_slice compressed_key[b, 0, hq / G, 0] [1, Nc, 1, Dk]
      p      = nsa.probs_tile q, kc, lse at(t0, 0)
      tensor.parallel_insert_slice p into probs[b, t0, hq, 0] [1, rows, 1, Nc]
    ```

    With `group_sum` (sums over each GQA group) a tile needs the whole
    group, so the loop runs over (B, #query tiles, H) instead, each tile
    takes the G query heads `[h * G, (h + 1) * G)` and their lse columns,
    `nsa.probs_tile ... group_sum` returns `[rows, 1, Nc]`, and the loop is
    marked `nsa.gqa_group_size = 1` (nothing left to fuse).

    Tile sizes come from the `#nsa.target` in scope (`block_q`, `block_kv`).
    The tile loop is marked `nsa.gqa_group_size = G`: its last induction
    variable is the query head, and G consecutive heads read one KV head.
    Guarantees: no branch attention or probabilities op remains; every KV tile slice and
    every query tile slice is in bounds.
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect"
  ];
}

def NSAFuseGQAGroup : Pass<"nsa-fuse-gqa-group"> {
  let summary = "Make one tile serve all query heads of a KV group";
  let description = [{
    For every tile loop made by `nsa-tile` (marked `nsa.gqa_group_size = G`
    with G > 1), iterates over KV heads instead of query heads and widens the
    query tile, the softmax state and the output slices from 1 head to the G
    heads of the group: each KV tile is then extracted once per group and
    feeds the G heads' products in one `nsa.attend_tile`, instead of being
    read G times. For the selected branch the tile becomes the G heads of one
    position, the NSA paper's kernel shape.

    The rewrite is in place: the head induction variable `hq` is replaced by
    `h * G`, every slice indexed by it gets G heads, and the types of the
    tile ops, loops and branches are re-inferred. The marker becomes
    `nsa.gqa_fused`. Tile loops with G = 1 are only re-marked.
  }];
  let dependentDialects = ["::mlir::affine::AffineDialect"];
}

def NSAFuseCombine : Pass<"nsa-fuse-combine"> {
  let summary = "Fold nsa.combine into the tile loop of one branch";
  let description = [{
    Moves each `nsa.combine` into the tile loop (of `nsa-tile`, after
    `nsa-fuse-gqa-group`) that produces one of its branch outputs: the loop
    then computes `nsa.combine_tile` of its finalized output tile and the
    matching tiles of the other two branches' outputs and the gates, and
    stores the combined tile where the branch output went. The branch
    output is never materialized and the combine needs no pass of its own:
    on the GPU this saves the branch output's write and read back (2 x
    T x Hq x Dv elements) and a kernel.

    The window loop absorbs the combine when it can, then the compressed,
    then the selected one: the window kernel comes last in the decomposed
    order, so the other outputs exist before it starts, and it is bound by
    latency rather than by bytes (the selected kernel is bound by its K/V
    reads). A loop qualifies when its output tensor is used only by the
    combine, is stored by one `tensor.parallel_insert_slice` of an
    `nsa.finalize_tile` output into a fresh `tensor.empty` used nowhere
    else, has the combine's result type, and the combine's other operands are defined
    before the loop. Otherwise the combine is left as it is.

    Guarantees: the results are those of the unfused IR (the combined tile
    reads the same rounded branch outputs); combines that do not qualify
    and every other op are untouched.
  }];
  let dependentDialects = [];
}

#endif // NSA_DIALECT_NSA_TRANSFORMS_PASSES_TD
