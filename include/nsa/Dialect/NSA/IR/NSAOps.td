//===- NSAOps.td - nsa dialect operations ------------------*- tablegen -*-===//

#ifndef NSA_DIALECT_NSAOPS_TD
#define NSA_DIALECT_NSAOPS_TD

include "nsa/Dialect/NSA/IR/NSABase.td"
include "nsa/Dialect/NSA/IR/NSAAttrs.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

// Operands are declared as ranked tensors; each op's verifier checks rank,
// element type and every shape relation so that its diagnostics can name the
// operand ("query", "key", ...) and the offending extent.

class NSA_TensorOp<string mnemonic, list<Trait> traits = []>
    : NSA_Op<mnemonic, !listconcat(traits, [Pure])> {
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// nsa.attention
//===----------------------------------------------------------------------===//

def NSA_AttentionOp : NSA_TensorOp<"attention", [AttrSizedOperandSegments]> {
  let summary = "the whole NSA forward: three branches and their gated sum";
  let description = [{
    Native Sparse Attention of `query` over `keys` / `values`: compressed
    attention over pooled blocks, attention over the top-`n` selected blocks
    (shared by the query heads of a GQA group), and sliding-window attention,
    mixed per head by the already-activated `gates` (`[B, T, Hq, 3]`, in the
    order compressed, selected, window).

    `keys` and `values` hold either one tensor each, shared by the three
    branches (as in the open implementations), or three each, one per branch
    in the order compressed, selected, window (as in the paper, which gives
    every branch its own projections). With `compression = weighted` the
    learned per-position pooling weights (`[H, l]` each) follow
    `cmp_weights`.

    Results: the output `[B, T, Hq, Dv]` in the input element type, and the
    f32 log-sum-exp `[B, T, Hq]` of each branch (-inf where a branch sees no
    key). `nsa-decompose` rewrites this op into the branch ops.

    Example:

    ```mlir
    %o, %lc, %ls, %lw = nsa.attention %q, keys(%k) values(%v) gates(%g)
        {config = #nsa.config<>}
        : (tensor<?x?x64x128xbf16>, tensor<?x?x4x128xbf16>,
           tensor<?x?x4x128xbf16>, tensor<?x?x64x3xbf16>)
        -> (tensor<?x?x64x128xbf16>, tensor<?x?x64xf32>, tensor<?x?x64xf32>,
            tensor<?x?x64xf32>)
    ```
  }];
  let arguments = (ins
    AnyRankedTensor:$query,
    Variadic<AnyRankedTensor>:$keys,
    Variadic<AnyRankedTensor>:$values,
    AnyRankedTensor:$gates,
    Optional<AnyRankedTensor>:$key_weights,
    Optional<AnyRankedTensor>:$value_weights,
    NSA_ConfigAttr:$config
  );
  let results = (outs
    AnyRankedTensor:$output,
    AnyRankedTensor:$lse_cmp,
    AnyRankedTensor:$lse_slc,
    AnyRankedTensor:$lse_win
  );
  let assemblyFormat = [{
    $query `,` `keys` `(` $keys `)` `values` `(` $values `)`
    `gates` `(` $gates `)`
    (`cmp_weights` `(` $key_weights^ `,` $value_weights `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    /// Whether each branch has its own key and value tensors.
    bool hasPerBranchKeyValues() { return getKeys().size() == 3; }
    /// The keys and values read by branch `branch` (0 compressed,
    /// 1 selected, 2 window).
    ::mlir::Value getBranchKeys(unsigned branch) {
      return getKeys()[hasPerBranchKeyValues() ? branch : 0];
    }
    ::mlir::Value getBranchValues(unsigned branch) {
      return getValues()[hasPerBranchKeyValues() ? branch : 0];
    }
  }];
}

//===----------------------------------------------------------------------===//
// Branch 1: compression and compressed attention
//===----------------------------------------------------------------------===//

def NSA_CompressOp : NSA_TensorOp<"compress", [AttrSizedOperandSegments]> {
  let summary = "pools key and value blocks into compressed tokens";
  let description = [{
    Compressed block `i` covers tokens `[i*d, i*d + l)` and exists when
    `i*d + l <= T`, so there are `Nc = (T - l) / d + 1` blocks for `T >= l`
    and none otherwise. With `compression = mean` each compressed key/value
    is the average of its block; with `compression = weighted` it is the
    sum weighted by the per-head, per-position `key_weights` /
    `value_weights` (`[H, l]`), which must then be given.

    `key: [B, T, H, Dk], value: [B, T, H, Dv] -> [B, Nc, H, Dk], [B, Nc, H, Dv]`

    ```mlir
    %kc, %vc = nsa.compress %k, %v {config = #nsa.config<>}
        : tensor<2x100x4x64xf32>, tensor<2x100x4x64xf32>
        -> tensor<2x5x4x64xf32>, tensor<2x5x4x64xf32>
    ```
  }];
  let arguments = (ins
    AnyRankedTensor:$key,
    AnyRankedTensor:$value,
    Optional<AnyRankedTensor>:$key_weights,
    Optional<AnyRankedTensor>:$value_weights,
    NSA_ConfigAttr:$config
  );
  let results = (outs
    AnyRankedTensor:$compressed_key,
    AnyRankedTensor:$compressed_value
  );
  let assemblyFormat = [{
    $key `,` $value (`weights` `(` $key_weights^ `,` $value_weights `)`)?
    attr-dict `:` type($key) `,` type($value)
    (`,` type($key_weights)^ `,` type($value_weights))?
    `->` type($compressed_key) `,` type($compressed_value)
  }];
}

def NSA_CompressedAttentionOp : NSA_TensorOp<"compressed_attention"> {
  let summary = "causal attention of every query over the compressed tokens";
  let description = [{
    Query `t` sees compressed block `i` iff the block ends at or before it,
    `i*d + l - 1 <= t`. Before the first block ends the output row is zero
    and its log-sum-exp is -inf.

    `query: [B, T, Hq, Dk], compressed_key: [B, Nc, H, Dk],
     compressed_value: [B, Nc, H, Dv] -> output: [B, T, Hq, Dv],
     lse: [B, T, Hq] (f32)`
  }];
  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$compressed_key,
    AnyRankedTensor:$compressed_value,
    NSA_ConfigAttr:$config
  );
  let results = (outs AnyRankedTensor:$output, AnyRankedTensor:$lse);
  let assemblyFormat = [{
    $query `,` $compressed_key `,` $compressed_value attr-dict `:`
    type($query) `,` type($compressed_key) `,` type($compressed_value)
    `->` type($output) `,` type($lse)
  }];
}

def NSA_CompressedProbsOp : NSA_TensorOp<"compressed_probs"> {
  let summary = "the compressed-attention probabilities, from the saved lse";
  let description = [{
    Recomputes the softmax probabilities of the compressed attention,
    `p[t, hq, i] = exp(s * q[t, hq] . kc[i, h] - lse[t, hq])` for visible
    blocks and 0 elsewhere, from the log-sum-exp that
    `nsa.compressed_attention` returned. Keeping this a separate op keeps
    the probabilities out of the attention itself.

    With `group_sum`, the result holds the sums over the query heads of each
    GQA group, `p[t, h, i] = sum over g of p[t, h * G + g, i]`: all that
    `nsa.select` reads, G times smaller. The canonicalizer rewrites a
    per-head `nsa.compressed_probs` whose only users are `nsa.select` ops
    into this form.

    `query: [B, T, Hq, Dk], compressed_key: [B, Nc, H, Dk],
     lse: [B, T, Hq] -> probs: [B, T, Hq, Nc] (f32)`, or
    `probs: [B, T, H, Nc]` with `group_sum`.
  }];
  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$compressed_key,
    AnyRankedTensor:$lse,
    NSA_ConfigAttr:$config,
    UnitAttr:$group_sum
  );
  let results = (outs AnyRankedTensor:$probs);
  let assemblyFormat = [{
    $query `,` $compressed_key `,` $lse (`group_sum` $group_sum^)? attr-dict `:`
    type($query) `,` type($compressed_key) `,` type($lse) `->` type($probs)
  }];
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// Branch 2: selection and selected attention
//===----------------------------------------------------------------------===//

def NSA_SelectOp : NSA_TensorOp<"select"> {
  let summary = "picks the top-n selection blocks per query and KV head";
  let description = [{
    Maps the compressed probabilities onto selection blocks
    (`score_mapping`), sums them over the query heads of each GQA group, and
    chooses `n` blocks per position and KV head: first the forced blocks
    (the `num_init_blocks` initial blocks and the `num_local_blocks` blocks
    ending at the query's own block), then the visible blocks
    (`j * l' <= t`) with the highest score, ties to the lower index.
    The chosen indices are sorted ascending; unused places hold -1.

    `probs: [B, T, Hq, Nc] (f32) -> indices: [B, T, H, n] (i32)`; the KV
    head count `H` is read from the result type.
  }];
  let arguments = (ins AnyRankedTensor:$probs, NSA_ConfigAttr:$config);
  let results = (outs AnyRankedTensor:$indices);
  let assemblyFormat = [{
    $probs attr-dict `:` type($probs) `->` type($indices)
  }];
}

def NSA_SelectedAttentionOp : NSA_TensorOp<"selected_attention"> {
  let summary = "attention over the tokens of the selected blocks";
  let description = [{
    Query `t` of head `hq` attends to the tokens of the blocks listed in
    `indices[t, hq / G]` (entries of -1 are ignored), restricted causally to
    tokens `s <= t`. The list is a set: its order does not matter and a block
    listed more than once counts once (`nsa.select` lists each block once,
    ascending, which the tiled lowering checks with one comparison per slot;
    other lists cost a scan of the earlier slots where they stop ascending).

    `query: [B, T, Hq, Dk], key: [B, T, H, Dk], value: [B, T, H, Dv],
     indices: [B, T, H, n] (i32) -> output: [B, T, Hq, Dv],
     lse: [B, T, Hq] (f32)`
  }];
  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$key,
    AnyRankedTensor:$value,
    AnyRankedTensor:$indices,
    NSA_ConfigAttr:$config
  );
  let results = (outs AnyRankedTensor:$output, AnyRankedTensor:$lse);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $indices attr-dict `:`
    type($query) `,` type($key) `,` type($value) `,` type($indices)
    `->` type($output) `,` type($lse)
  }];
}

//===----------------------------------------------------------------------===//
// Branch 3: sliding window
//===----------------------------------------------------------------------===//

def NSA_WindowOp : NSA_TensorOp<"window"> {
  let summary = "sliding-window attention over the last w tokens";
  let description = [{
    Query `t` attends to tokens `max(0, t - w + 1) .. t`.

    `query: [B, T, Hq, Dk], key: [B, T, H, Dk], value: [B, T, H, Dv]
     -> output: [B, T, Hq, Dv], lse: [B, T, Hq] (f32)`
  }];
  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$key,
    AnyRankedTensor:$value,
    NSA_ConfigAttr:$config
  );
  let results = (outs AnyRankedTensor:$output, AnyRankedTensor:$lse);
  let assemblyFormat = [{
    $query `,` $key `,` $value attr-dict `:`
    type($query) `,` type($key) `,` type($value)
    `->` type($output) `,` type($lse)
  }];
}

//===----------------------------------------------------------------------===//
// nsa.combine
//===----------------------------------------------------------------------===//

def NSA_CombineOp : NSA_TensorOp<"combine"> {
  let summary = "the gated sum of the three branch outputs";
  let description = [{
    `o = g[..., 0] * o_cmp + g[..., 1] * o_slc + g[..., 2] * o_win`, per
    position and query head, accumulated in f32.

    `compressed, selected, window: [B, T, Hq, Dv], gates: [B, T, Hq, 3]
     -> output: [B, T, Hq, Dv]`
  }];
  let arguments = (ins
    AnyRankedTensor:$compressed,
    AnyRankedTensor:$selected,
    AnyRankedTensor:$window,
    AnyRankedTensor:$gates
  );
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = [{
    $compressed `,` $selected `,` $window `,` $gates attr-dict `:`
    type($compressed) `,` type($selected) `,` type($window) `,` type($gates)
    `->` type($output)
  }];
}


//===----------------------------------------------------------------------===//
// Tile level: one online-softmax attention family shared by all branches
//===----------------------------------------------------------------------===//

// `nsa-tile` lowers the three branch attentions into query tiles that walk a
// list of KV tiles with these ops; only the list differs between branches.
// Tiles use the layout of the activations with batch dropped:
// query [R, G, Dk] (R query rows, G query heads sharing one KV head), key
// [N, Dk], value [N, Dv]; the softmax state is max, sum [R, G] and the
// accumulator [R, G, Dv], all f32. G is 1 after `nsa-tile` and the GQA group
// size after `nsa-fuse-gqa-group`.

class NSA_TileOp<string mnemonic, list<Trait> traits = []>
    : NSA_Op<mnemonic, !listconcat(traits, [Pure,
        DeclareOpInterfaceMethods<InferTypeOpInterface>])> {
  let hasVerifier = 1;
}

def NSA_InitTileStateOp : NSA_TileOp<"init_tile_state"> {
  let summary = "the empty online-softmax state of a query tile";
  let description = [{
    Returns max = -inf, sum = 0 and acc = 0 shaped for `query` ([R, G, Dk])
    and `value_dim` (Dv): the state of an attention that has seen no key.
  }];
  let arguments = (ins AnyRankedTensor:$query, I64Attr:$value_dim);
  let results = (outs AnyRankedTensor:$max, AnyRankedTensor:$sum,
                      AnyRankedTensor:$acc);
  let assemblyFormat = [{
    $query `value_dim` `=` $value_dim attr-dict `:` type($query)
  }];
}

def NSA_AttendTileOp : NSA_TileOp<"attend_tile",
    [AllTypesMatch<["max", "sum"]>]> {
  let summary = "one online-softmax step of a query tile over one KV tile";
  let description = [{
    Query row `r` is token position `query_pos + r`; key row `c` has position
    `key_stride * (key_pos + c) + key_offset`, the last token it covers
    (`key_stride = d, key_offset = l - 1` for compressed keys, `1, 0` for
    tokens). A key is visible to a row iff its position is at or before the
    row's and, with `window`, after `row - window`. Over the visible keys,
    for every row and head:

    ```
    s       = scale * q . k                      (f32)
    max'    = max(max, max_c s)
    sum'    = sum * exp(max - max') + sum_c exp(s - max')
    acc'    = acc * exp(max - max') + sum_c exp(s - max') * v
    ```

    A row that sees no key keeps its state (so a row that never sees one
    finalizes to zero output and -inf lse). All G heads of the tile read the
    same key and value rows: that is the KV reuse of GQA fusion.
  }];
  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$key,
    AnyRankedTensor:$value,
    AnyRankedTensor:$max,
    AnyRankedTensor:$sum,
    AnyRankedTensor:$acc,
    Index:$query_pos,
    Index:$key_pos,
    F64Attr:$scale,
    I64Attr:$key_stride,
    I64Attr:$key_offset,
    OptionalAttr<I64Attr>:$window
  );
  let results = (outs AnyRankedTensor:$new_max, AnyRankedTensor:$new_sum,
                      AnyRankedTensor:$new_acc);
  let assemblyFormat = [{
    $query `,` $key `,` $value `state` `(` $max `,` $sum `,` $acc `)`
    `at` `(` $query_pos `,` $key_pos `)` attr-dict `:`
    type($query) `,` type($key) `,` type($value) `,` type($max) `,` type($acc)
  }];
  let extraClassDeclaration = [{
    /// The state operands in the order the results replace them.
    ::mlir::ValueRange getState() {
      return getOperands().slice(3, 3);
    }
  }];
}

def NSA_ProbsTileOp : NSA_TileOp<"probs_tile"> {
  let summary = "attention probabilities of a query tile over a KV tile, from the final lse";
  let description = [{
    The probabilities of an attention whose log-sum-exp over all of its keys
    is already known (`nsa.compressed_probs`, one tile at a time): query row
    `r` is token position `query_pos + r`, key row `c` has position
    `key_stride * (key_pos + c) + key_offset`, and for every row and head

    ```
    p[r, g, c] = exp(scale * q[r, g] . k[c] - lse[r, g])   if the key is at or before the row
               = 0                                        otherwise
    ```

    in f32. No online state: each key tile's probabilities are final, so
    the tile can be written out as soon as it is computed. With
    `group_sum` the result is `sum over g of p[r, g, c]`, kept as a
    unit head dimension.

    `query: [R, G, Dk], key: [N, Dk], lse: [R, G] (f32) -> probs: [R, G, N]`
    (f32), or `[R, 1, N]` with `group_sum`.
  }];
  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$key,
    AnyRankedTensor:$lse,
    Index:$query_pos,
    Index:$key_pos,
    F64Attr:$scale,
    I64Attr:$key_stride,
    I64Attr:$key_offset,
    UnitAttr:$group_sum
  );
  let results = (outs AnyRankedTensor:$probs);
  let assemblyFormat = [{
    $query `,` $key `,` $lse `at` `(` $query_pos `,` $key_pos `)`
    (`group_sum` $group_sum^)? attr-dict `:`
    type($query) `,` type($key) `,` type($lse) `->` type($probs)
  }];
}

def NSA_FinalizeTileOp : NSA_TileOp<"finalize_tile",
    [AllTypesMatch<["max", "sum"]>]> {
  let summary = "normalizes an online-softmax state into output and lse";
  let description = [{
    `output = acc / sum` converted to `element_type`, `lse = max + log(sum)`;
    rows whose sum is 0 (no visible key) give a zero output and lse -inf.
  }];
  let arguments = (ins AnyRankedTensor:$max, AnyRankedTensor:$sum,
                       AnyRankedTensor:$acc, TypeAttr:$element_type);
  let results = (outs AnyRankedTensor:$output, AnyRankedTensor:$lse);
  let assemblyFormat = [{
    $max `,` $sum `,` $acc `to` $element_type attr-dict `:`
    type($max) `,` type($acc)
  }];
}

def NSA_CombineTileOp : NSA_TileOp<"combine_tile",
    [AllTypesMatch<["window", "output"]>]> {
  let summary = "the gated sum of the three branch outputs, one query tile";
  let description = [{
    `nsa.combine` on the tiles of one query tile, as `nsa-fuse-combine`
    leaves it in the tile loop of one branch: that loop's
    `nsa.finalize_tile` output is one operand (`window` by default), the
    other two branches' outputs and the gates are slices of tensors the
    loop captures. Per row, head and column, accumulated in f32:

    ```
    output = g[..., 0] * compressed + g[..., 1] * selected + g[..., 2] * window
    ```

    `compressed, selected, window: [R, G, Dv], gates: [R, G, 3]
     -> output: [R, G, Dv]` (the type of `window`).

    ```mlir
    %o = nsa.combine_tile %c, %s, %w, %g
        : tensor<?x16x128xbf16>, tensor<?x16x128xbf16>, tensor<?x16x128xbf16>,
          tensor<?x16x3xbf16>
    ```
  }];
  let arguments = (ins
    AnyRankedTensor:$compressed,
    AnyRankedTensor:$selected,
    AnyRankedTensor:$window,
    AnyRankedTensor:$gates
  );
  let results = (outs AnyRankedTensor:$output);
  let assemblyFormat = [{
    $compressed `,` $selected `,` $window `,` $gates attr-dict `:`
    type($compressed) `,` type($selected) `,` type($window) `,` type($gates)
  }];
  let extraClassDeclaration = [{
    /// compressed, selected, window: branch b is operand b.
    ::mlir::OperandRange getBranches() { return getOperands().take_front(3); }
  }];
}

def NSA_PrefetchTileOp : NSA_Op<"prefetch_tile"> {
  let summary = "hints that a key and value tile will be attended soon";
  let description = [{
    No effect on any result: it tells the lowering that an `nsa.attend_tile`
    of the tile loop will read these rows shortly, so their first loads
    need not wait on DRAM. With `prefetch_blocks = k > 0` (`#nsa.target`;
    off by default) `nsa-tile` issues it for the selected branch, k
    selected blocks ahead of the block being attended, whose rows are
    data-dependent and so cannot be staged by the software pipeline of the
    block before. The GPU lowering brings the rows' cache lines into L2;
    the CPU lowering drops it. (At prefill the selected kernel's blocks
    mostly hit L2 already and the extra L2 requests made it slower, so it
    is off by default.)

    `key: [N, Dk], value: [N, Dv]`, both slices of the tile loop's
    captured KV tensors. It declares no memory effects on purpose, so that
    it is kept until a lowering consumes it.

    ```mlir
    nsa.prefetch_tile %key, %value : tensor<?x128xbf16>, tensor<?x128xbf16>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$key, AnyRankedTensor:$value);
  let assemblyFormat = [{
    $key `,` $value attr-dict `:` type($key) `,` type($value)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// GPU kernel hints
//===----------------------------------------------------------------------===//

def NSA_MinCtasPerSMOp : NSA_Op<"min_ctas_per_sm"> {
  let summary = "asks that a GPU kernel fit this many CTAs per SM";
  let description = [{
    Placed in a `gpu.launch` body (or the `gpu.func` outlined from it) by
    `convert-nsa-tile-to-gpu`, from `#nsa.target`'s `min_ctas_per_sm` (or
    `probs_min_ctas_per_sm` for the probability kernels), for
    the kernels that run faster with more resident warps than `ptxas`
    would give them. Kernel outlining keeps the ops of a launch body but
    not the launch's attributes, which is why this is an op: after
    outlining, `nsa-attach-nvvm-target` turns it into the `gpu.func`'s
    `nvvm.minctasm` (PTX `.minnctapersm`) and erases it.

    It declares no memory effects on purpose, so that it is kept until
    that pass consumes it.

    ```mlir
    gpu.launch blocks(%bx, %by, %bz) in (...) threads(%tx, %ty, %tz) in (...) {
      nsa.min_ctas_per_sm 3
      ...
    }
    ```
  }];
  let arguments = (ins ConfinedAttr<I64Attr, [IntMinValue<1>]>:$ctas);
  let assemblyFormat = "$ctas attr-dict";
  let hasVerifier = 1;
}

#endif // NSA_DIALECT_NSAOPS_TD
