//===- NSAAttrs.td - nsa dialect attributes ----------------*- tablegen -*-===//

#ifndef NSA_DIALECT_NSAATTRS_TD
#define NSA_DIALECT_NSAATTRS_TD

include "nsa/Dialect/NSA/IR/NSABase.td"
include "mlir/IR/EnumAttr.td"

def NSA_CompressionKind : I32EnumAttr<"CompressionKind",
    "how a block of l tokens is pooled into one compressed token", [
      I32EnumAttrCase<"Mean", 0, "mean">,
      I32EnumAttrCase<"Weighted", 1, "weighted">
    ]> {
  let cppNamespace = "::mlir::nsa";
  let genSpecializedAttr = 0;
}

def NSA_ScoreMapping : I32EnumAttr<"ScoreMapping",
    "how compressed-attention probabilities become selection-block scores", [
      I32EnumAttrCase<"Overlap", 0, "overlap">,
      I32EnumAttrCase<"Identity", 1, "identity">
    ]> {
  let cppNamespace = "::mlir::nsa";
  let genSpecializedAttr = 0;
}

def NSA_TensorCoreInstruction : I32EnumAttr<"TensorCoreInstruction",
    "tensor-core instruction of the CTA-shared kernels", [
      I32EnumAttrCase<"Auto", 0, "auto">,
      I32EnumAttrCase<"Sync", 1, "sync">,
      I32EnumAttrCase<"Wgmma", 2, "wgmma">
    ]> {
  let cppNamespace = "::mlir::nsa";
  let genSpecializedAttr = 0;
}

def NSA_ConfigAttr : NSA_Attr<"Config", "config"> {
  let summary = "NSA hyper-parameters shared by every op of one attention";
  let description = [{
    Every parameter of the NSA semantics, with the paper's values as
    defaults; parameters equal to their default are not printed, so
    `#nsa.config<>` is the paper's configuration.

    | parameter | symbol | default | meaning |
    | --- | --- | --- | --- |
    | `cmp_block` | l | 32 | tokens per compressed block |
    | `cmp_stride` | d | 16 | stride between compressed blocks |
    | `slc_block` | l' | 64 | tokens per selection block |
    | `top_n` | n | 16 | selected blocks per query and KV head |
    | `window` | w | 512 | sliding-window length |
    | `scale` | s | 1/sqrt(Dk) | softmax scale; absent means 1/sqrt(Dk) |
    | `num_init_blocks` | | 1 | leading selection blocks always selected |
    | `num_local_blocks` | | 2 | selection blocks ending at the query's own block, always selected |
    | `compression` | phi | `mean` | `mean` pooling or learned `weighted` pooling (weights are operands) |
    | `score_mapping` | | `overlap` | `overlap`: the paper's Eq. 9 (overlap of compressed and selection blocks in units of d); `identity`: p_slc = p_cmp, only when l = d = l' |

    Constraints, checked by the verifier: every length >= 1, d divides l and
    l', l' >= d, the forced blocks fit in `top_n`, `scale` > 0, and
    `identity` only with l = d = l'.

    Example:

    ```mlir
    #fla = #nsa.config<cmp_block = 64, cmp_stride = 64, slc_block = 64>
    ```
  }];
  let parameters = (ins
    DefaultValuedParameter<"int64_t", "32", "compression block length l">:$cmp_block,
    DefaultValuedParameter<"int64_t", "16", "compression stride d">:$cmp_stride,
    DefaultValuedParameter<"int64_t", "64", "selection block length l'">:$slc_block,
    DefaultValuedParameter<"int64_t", "16", "selected block count n">:$top_n,
    DefaultValuedParameter<"int64_t", "512", "sliding window w">:$window,
    OptionalParameter<"::mlir::FloatAttr", "softmax scale (default 1/sqrt(Dk))">:$scale,
    DefaultValuedParameter<"int64_t", "1", "forced initial blocks">:$num_init_blocks,
    DefaultValuedParameter<"int64_t", "2", "forced local blocks">:$num_local_blocks,
    DefaultValuedParameter<"::mlir::nsa::CompressionKind",
        "::mlir::nsa::CompressionKind::Mean", "compression function">:$compression,
    DefaultValuedParameter<"::mlir::nsa::ScoreMapping",
        "::mlir::nsa::ScoreMapping::Overlap", "selection score mapping">:$score_mapping
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The softmax scale for key dimension `keyDim`: the explicit `scale`, or
    /// 1/sqrt(keyDim) when absent.
    double getScaleFor(int64_t keyDim) const;

    /// The number of compressed blocks for a sequence of `seqLen` tokens.
    int64_t getNumCompressedBlocks(int64_t seqLen) const;

    /// The number of selection blocks for a sequence of `seqLen` tokens.
    int64_t getNumSelectionBlocks(int64_t seqLen) const;

    /// Whether each selection block is exactly one compressed block
    /// (l = d = l'; always so for score_mapping identity).
    bool selectionBlocksAreCompressedBlocks() const;
  }];
}


def NSA_TargetAttr : NSA_Attr<"Target", "target"> {
  let summary = "the GPU that kernels are tiled and lowered for";
  let description = [{
    Hardware facts that every tiling and lowering pass reads, so no pass
    hard-codes a tile size. Attach it to the module as `nsa.target`; passes
    look it up on the nearest enclosing op and fall back to the H100
    defaults below.

    | parameter | default (H100) | meaning |
    | --- | --- | --- |
    | `chip` | `"sm_90a"` | `sm_80`, `sm_86`, `sm_89`, `sm_90` or `sm_90a` |
    | `block_q` | 64 | query rows per tile (compressed and window branches) |
    | `block_kv` | 64 | keys per KV tile |
    | `num_warps` | 4 | warps per CTA (at most 32) of every kernel but those of `selected_num_warps` |
    | `selected_num_warps` | 4 | warps per CTA of the kernels whose query tiles hold one position: the selected branch's (each warp one position, the CTA's warps neighbouring positions that meet in L1 on the blocks they share), or any branch with `block_q = 1`. 8 measured 2.5-3% faster than 4 for the selected kernel on the H100 (docs/performance.md, table (P)); it becomes the default once a GPU check of the 8-warp kernels has passed |
    | `num_stages` | 1 | K/V chunk buffers of the CTA-shared tensor-core kernels: 1 reloads one K and one V tile in place, each as soon as its product is done; S >= 2 is a ring, chunk c + S - 1 loading while chunk c computes (measured slower on the H200 at 64k tokens, see docs/performance.md). Warp-private tiles always use 1 |
    | `shared_memory` | 232448 | bytes of shared memory per CTA (227 KiB on sm_90) |
    | `prefetch_blocks` | 0 | selected blocks whose rows are prefetched into L2 ahead of the one attended (0: none; measured slower at prefill, see docs/performance.md) |
    | `min_ctas_per_sm` | 3 | CTAs per SM that the CTA-shared online-softmax kernels (compressed and window attention on tensor cores) ask `ptxas` to fit (`.minnctapersm`, capping their registers); 0 leaves it to `ptxas`. With 4 warps, 3 caps them at 168 registers: 12 warps per SM instead of 8, measured faster for these kernels on the H200 (and slower for the selected kernel, which never gets it; the probability kernels have `probs_min_ctas_per_sm` instead; see docs/performance.md). The count is of CTAs: with `num_warps = 8` the same count halves the registers, so set it to 0 or halve it |
    | `probs_min_ctas_per_sm` | 4 | CTAs per SM that the tensor-core probability kernels (`nsa.compressed_probs`) ask `ptxas` to fit; 0 leaves it to `ptxas`. With 4 warps, 4 keeps them within 128 registers, 16 warps per SM: `ptxas` alone takes more for the 16-head `mma.sync` group sums (133-148) and fits 3 CTAs, measured 9-11% slower on the H200; the wgmma kernels of `sm_90a` needed 111 at Dk = 128 (`0d9cfea`), where 5 (102 registers) measured 3-4% faster, and take 128 since their fully visible chunks skip the masked-key test; 4 stays the default, which the `mma.sync` kernels need (docs/performance.md). With `num_warps = 8` set it to 0 or 2 |
    | `mma` | `auto` | tensor-core instruction of the CTA-shared kernels (compressed and window attention, and the compressed probabilities): `wgmma` (warpgroup-level `wgmma.mma_async`, `sm_90a` only: the four warps' 64 rows multiply Q, K (and V) straight from 128-byte-swizzled shared memory, read once per CTA instead of once per warp, P from registers; measured 24-37% faster than with `"sync"` on the H200 for the attention kernels and 32-33% for the probability kernels, see docs/performance.md), `sync` (warp-level `mma.sync` m16n8k16, K/V fragments read by each warp with `ldmatrix`), or `auto`: `wgmma` on `sm_90a`, else `sync`. wgmma applies where `num_warps` is 4, the warps share their tiles and both head dims are 64 or 128, within `shared_memory`; other kernels keep `mma.sync` |

    The selected branch always tiles one query position (its block list is
    per position); with GQA fusion its tile is the G heads of that position.

    ```mlir
    module attributes {nsa.target = #nsa.target<chip = "sm_80", shared_memory = 166912>} {}
    ```
  }];
  let parameters = (ins
    StringRefParameter<"compute capability", "\"sm_90a\"">:$chip,
    DefaultValuedParameter<"int64_t", "64", "query rows per tile">:$block_q,
    DefaultValuedParameter<"int64_t", "64", "keys per KV tile">:$block_kv,
    DefaultValuedParameter<"int64_t", "4", "warps per CTA">:$num_warps,
    DefaultValuedParameter<"int64_t", "1", "pipelining stages">:$num_stages,
    DefaultValuedParameter<"int64_t", "232448", "shared memory bytes per CTA">:$shared_memory,
    DefaultValuedParameter<"int64_t", "0", "selected blocks prefetched ahead">:$prefetch_blocks,
    DefaultValuedParameter<"int64_t", "3", "CTAs per SM asked of the CTA-shared attention kernels">:$min_ctas_per_sm,
    DefaultValuedParameter<"int64_t", "4", "CTAs per SM asked of the probability kernels">:$probs_min_ctas_per_sm,
    DefaultValuedParameter<"::mlir::nsa::TensorCoreInstruction",
        "::mlir::nsa::TensorCoreInstruction::Auto",
        "tensor-core instruction of the CTA-shared attention kernels">:$mma,
    DefaultValuedParameter<"int64_t", "4",
        "warps per CTA of the one-position tiles (selected attention)">:$selected_num_warps
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let builders = [
    // The H100 target: the parameter defaults above.
    AttrBuilder<(ins), [{
      return $_get($_ctxt, "sm_90a", 64, 64, 4, 1, 232448, 0, 3, 4,
                   ::mlir::nsa::TensorCoreInstruction::Auto, 4);
    }]>
  ];
  let extraClassDeclaration = [{
    /// The attribute name under which a module (or any op) carries its target.
    static constexpr ::llvm::StringLiteral kAttrName = "nsa.target";

    /// The target of `op`: the `nsa.target` of the nearest enclosing op
    /// (including `op`), else the H100 default.
    static TargetAttr lookup(::mlir::Operation *op);

    /// The most shared memory per CTA that `chip` offers, 0 if unknown.
    static int64_t maxSharedMemory(::llvm::StringRef chip);

    /// Warps per CTA of a tile loop whose query tiles hold `positions`
    /// positions (selected_num_warps for one, else num_warps).
    int64_t numWarpsForTiles(int64_t positions) const {
      return positions == 1 ? getSelectedNumWarps() : getNumWarps();
    }

    /// Whether the CTA-shared tensor-core kernels use wgmma: `mma = wgmma`,
    /// or `auto` on sm_90a.
    bool useWgmma() const {
      return getMma() == ::mlir::nsa::TensorCoreInstruction::Wgmma ||
             (getMma() == ::mlir::nsa::TensorCoreInstruction::Auto &&
              getChip() == "sm_90a");
    }

    /// Fails, with the list of supported chips, if `chip` is not one.
    static ::llvm::LogicalResult
    verifyChip(::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError,
               ::llvm::StringRef chip);
  }];
}

#endif // NSA_DIALECT_NSAATTRS_TD
