//===- Passes.td - nsa conversion passes -------------------*- tablegen -*-===//

#ifndef NSA_CONVERSION_PASSES_TD
#define NSA_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertNSATileToLinalg : Pass<"convert-nsa-tile-to-linalg"> {
  let summary = "Lower the nsa tile ops to linalg on tensors (the CPU path)";
  let description = [{
    Rewrites `nsa.init_tile_state`, `nsa.attend_tile` and
    `nsa.finalize_tile` into `linalg.fill` / `linalg.generic` on tensors,
    computing in f32 exactly as the ops specify: the scores
    `scale * q . k` with the visibility mask, the new running max, the
    rescale factor `exp(max - max')`, the probabilities, the new sum and the
    rescaled accumulator, and the final normalization. The result
    bufferizes with `one-shot-bufferize` and lowers to loops; it is the
    reference execution of the tiled IR on the CPU. (The GPU path lowers the
    same tile ops to tensor-core code instead.) `nsa.prefetch_tile`, a
    cache hint, is dropped.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect", "::mlir::tensor::TensorDialect"
  ];
}


def ConvertNSAToLinalg : Pass<"convert-nsa-to-linalg"> {
  let summary = "Lower compress, compressed_probs, select and combine (and, "
                "optionally, the branch attentions) for the CPU";
  let description = [{
    The CPU execution of the nsa ops that are not branch attentions (those
    are tiled by `nsa-tile`, unless `branch-attention` is set):

    - `nsa.compress`: a reduction over the l tokens of each block (mean, or
      weighted by the per-head weights), accumulated in f32;
    - `nsa.compressed_probs`: `exp(scale * q . kc - lse)` where visible, else 0
      (with `group_sum`, then summed over each GQA group's heads);
    - `nsa.select`: selection-block scores (Eq. 9 overlap weights, or
      identity) summed over the GQA group, then per position and KV head the
      forced blocks and a greedy top-n (ties to the lower index) over the
      visible blocks, written ascending with -1 padding;
    - `nsa.combine`: the gated sum in f32.

    Linalg on tensors where the computation is a map or a reduction, scf
    loops on tensors for the data-dependent top-n; everything bufferizes
    with `one-shot-bufferize`.

    The selection is unrolled by its configuration: the top-n keeps the n
    best blocks in n slots and ranks the chosen blocks with a compare
    network over all pairs, and each score sums `l/d + l'/d - 1` fixed
    taps. Its code grows with both, so an `nsa.select` with `top_n` above
    128 or more than 2048 taps is refused with an error that names the
    count (`top_n = 1024` otherwise took minutes to compile).

    With `branch-attention=true` it also lowers `nsa.compressed_attention`,
    `nsa.selected_attention` and `nsa.window` untiled, straight from their
    definitions: an `scf.forall` over (b, t) whose iteration computes the
    `[Hq, N]` f32 scores of the position's query heads against all N keys of
    its batch element, sets them to -inf where the branch's visibility
    predicate fails (compressed: `i*d + l - 1 <= t`; window:
    `t - w < s <= t`; selected: `s <= t` and `s / l'` listed in the row's
    indices, an i1 `[H, N]` mask built per row, so a block listed twice
    counts once), takes a safe softmax and the weighted sum of the values,
    and writes `o` and `lse` into its slices of the results; rows with no
    visible key get `o = 0`, `lse = -inf`. Memory is O(Hq * N) per
    iteration. Activations must be f32, f16 or bf16; other element types
    are refused with an error. This is the `tile=false` path of
    `nsa-to-cpu`; by default the branch attentions are left for `nsa-tile`.
  }];
  let options = [
    Option<"branchAttention", "branch-attention", "bool", /*default=*/"false",
           "Also lower the branch attentions (compressed_attention, "
           "selected_attention, window) densely, without tiling">
  ];
  let dependentDialects = [
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect", "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect"
  ];
}

def ConvertNSATileToGPU : Pass<"convert-nsa-tile-to-gpu"> {
  let summary = "Lower tile loops (nsa-tile, nsa-fuse-gqa-group, nsa-fuse-combine) to gpu.launch kernels";
  let description = [{
    Each `scf.forall` tile loop whose body runs the nsa tile ops becomes a
    `gpu.launch` with one block per loop iteration (the iterations
    linearized into grid x, last loop dimension fastest) and `num_warps`
    warps per block from `#nsa.target` (`selected_num_warps` for loops
    whose tiles hold one position: the selected branch's). Inside a
    block the tile's rows (position x head) are distributed over warps; each
    warp runs the tile's KV loop nest (cloned from the tile loop) for its
    row, its 32 lanes splitting the head dims: `q . k` as lane-partial dot
    products reduced with `gpu.shuffle`, the online-softmax state in
    registers (`max`, `sum` scalars and a `vector<ceil(Dv/32) x f32>`
    accumulator per lane). All heads of a fused tile read the same KV rows.

    With f16 or bf16 inputs and head dims that are multiples of 16 (and
    `tensor-cores` on, the default) the kernels use the tensor cores
    instead: the work items are (tile, slab of 16 rows) pairs, one per warp
    (`ceil(tiles * slabs / num_warps)` blocks). A warp loads its slab's
    query fragments once, then for every chunk of keys of each KV tile (64
    with shared tiles and head dims up to 128, else 32) K and V are staged in padded shared-memory tiles with `cp.async`
    (`nvgpu.device_async_copy`, 16 bytes per copy, zero-filled past the
    tile). When a tile's slab count is a multiple of `num_warps` the warps
    of a block take slabs of the same tile and share one set of tiles: the
    block's threads split the copies, `gpu.barrier` orders them, and a
    chunk is staged when any of the block's slabs needs it (each chunk is
    read from L2 once per block instead of once per warp). Otherwise (the
    selected branch: one slab per tile) each warp stages its own, between
    warp barriers, with copies that go through L1: work items are ordered
    with the query tile fastest, so the warps of a block take neighbouring
    positions of one KV head, which mostly select the same blocks. Each warp then loads B fragments with `nvgpu.ldmatrix`
    (transposed for V), and
    computes S = Q K^T and O += P V with `mma.sync.m16n8k16` (`nvvm.mma.sync`,
    f32 accumulation). The chunks are software-pipelined with `cp.async`
    groups (`nvvm.cp.async.commit.group` / `wait.group`): by default one K
    and one V tile, two groups per chunk, the next chunk's keys loading
    during this chunk's softmax and P V, its values during its own S; with
    `num_stages` (`#nsa.target`) S >= 2 the CTA-shared tiles form a ring
    of S stages, one group per chunk, chunk c + S - 1 loading while chunk c
    computes, two barriers per chunk (warp-private tiles always use one
    stage). The probability kernels use the same ring (with one stage they
    wait for each chunk). The online softmax runs on the accumulator
    fragments (exp2 domain, one `ex2.approx.ftz.f32` per score, the scale
    folded into one fma per score; row
    max and sum reduced over the lane quad; the running max moves only
    when a chunk raises it by more than 8 in log2, and the accumulators
    are rescaled only when some row of the warp moved, a warp-uniform
    branch); chunks that no row of the slab can see are skipped, and
    chunks that every row sees entirely skip the per-key masks. Other types
    and shapes keep the CUDA-core kernel above.

    With `#nsa.target<mma = wgmma>` (or `auto`, the default, on
    `sm_90a`) the CTA-shared kernels (online softmax and probabilities)
    whose CTA is one warpgroup (4 warps), with head dims of 64 or 128 and
    tiles that fit the target's shared memory, multiply with
    `wgmma.mma_async` instead: the tiles
    lose their row padding and become 64-column panels of 128-byte lines
    with the 128-byte swizzle (16-byte chunk c of line r at c ^ (r % 8)),
    1024-byte aligned in the dynamic shared memory. The CTA stages its 64
    query rows once (zero-filled past the tile); S = Q K^T takes both
    operands from shared memory (m64n64k16, one step per 16 head dims) and
    O += P V takes P from the accumulator registers and V's panels
    transposed (m64nDvk16, one step per 16 keys). After each cp.async
    wait a `fence.proxy.async` makes the landed tiles visible to the
    tensor cores; each batch of steps is fenced, committed and waited for
    as inline PTX that threads the accumulators (and P's registers), so
    their reads and writes stay in order around the asynchronous steps.
    In a chunk that some row does not see entirely, each row's visible keys
    are one range of the chunk's columns, bounded once per chunk (key row
    x has token `key_stride * x + key_offset`: one floor division per
    bound), so a score's test is an i32 compare of its column offset per
    bound instead of 64-bit token arithmetic (the `mma.sync` kernels keep
    the per-key token compares, measured faster for the selected kernel).

    The tensor-core kernels assume 16-byte aligned buffers, as the runtime
    guarantees (`docs/runtime.md`): `cp.async` moves 16-byte vectors from
    row starts, and the pairs of neighbouring elements they load (query
    fragments) are accessed whole, aligned to the pair, wherever the
    buffer's row-major type with an even, static row length implies it.
    The output tile leaves through shared memory: once the KV walk is done
    (a barrier of the tiles' users), each warp writes its fragments' pairs
    into its 16 rows over the tiles' space (rows padded by 16 bytes, so a
    warp's pair writes hit 32 distinct banks), syncs, and each lane stores
    whole 16-byte pieces of a row, so one store instruction writes full
    sectors of neighbouring rows rather than 4 bytes in each of 8 rows
    (where the row length or the staging space does not allow 16-byte
    pieces, the pairs are stored directly, each one aligned access). A
    lane reads all its pieces before it stores any. Where the loop stores
    an `nsa.combine_tile` of its finalized tile (`nsa-fuse-combine`), each
    piece (pair, or element on CUDA cores), rounded to the output type as
    the unfused tile was, is combined before its store with the same
    elements of the other branches' outputs and the row's gates, read
    from the slices the loop captures.

    `nsa.prefetch_tile` becomes `nvvm.prefetch level = L2` over the
    128-byte lines of its rows, split among the threads that walk the
    tile's rows (the warp, or the CTA).

    The CTA-shared online-softmax kernels (compressed and window attention
    on tensor cores) start with `nsa.min_ctas_per_sm N` when `#nsa.target`'s
    `min_ctas_per_sm` N is not 0 (default 3), and the tensor-core
    probability kernels with `nsa.min_ctas_per_sm M` when its
    `probs_min_ctas_per_sm` M is not 0 (default 4). Both counts are CTAs,
    so the register cap they imply shrinks with `num_warps` (the defaults
    are for 4 warps: with 8, set them to 0 or halve them). After
    `gpu-kernel-outlining`,
    `nsa-attach-nvvm-target` turns it into the kernel's `nvvm.minctasm`. A
    pipeline of one's own must run that pass too (or set both counts to
    0).

    Tile loops of `nsa.probs_tile` (from `nsa.compressed_probs`) lower the
    same two ways, without softmax state: each probability is stored into
    the loop's output as soon as it is computed (tensor cores: f32 pairs
    per lane from the S fragments; CUDA cores: one value per key and row).
    Group sums (`group_sum`): on tensor cores the G heads of a position are
    rows of neighbouring lane quads (G must divide the 16 rows of a slab,
    else the CUDA-core kernel), summed by XOR shuffles and stored by the
    first quad of each position; with G = 16 (a slab is one position) a
    lane first adds its two rows, then the quads reduce-scatter the sums
    (each shuffle round halves the values a lane keeps) and every lane
    stores its share. The CUDA-core kernel runs a warp per position that
    loops over the G heads.

    Captured tensors are read through `bufferization.to_buffer` and the
    results come back through `bufferization.to_tensor` of fresh buffers, so
    `one-shot-bufferize` can run afterwards. The pass refuses tile loops it
    does not understand (not normalized, a store of something other than a
    `nsa.finalize_tile` or `nsa.probs_tile` result, tensor ops other than
    slices and element reads in the KV loop nest, activation types other
    than f32, f16 and bf16) with an error on the offending op.
  }];
  let options = [
    Option<"tensorCores", "tensor-cores", "bool", /*default=*/"true",
           "Use mma.sync tensor-core kernels where the types and head dims "
           "allow">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect", "::mlir::nvgpu::NVGPUDialect",
    "::mlir::NVVM::NVVMDialect", "::mlir::LLVM::LLVMDialect"
  ];
}

def NSAMapParallelLoopsToGPU : Pass<"nsa-map-parallel-loops-to-gpu"> {
  let summary = "Run each outermost scf.parallel as a gpu.launch, one thread per iteration";
  let description = [{
    The GPU execution of the non-attention parts of NSA (compression,
    compressed probabilities, selection scores and top-n, combine), which
    after `convert-nsa-to-linalg`, bufferization and
    `convert-linalg-to-parallel-loops` / `scf-forall-to-parallel` are
    `scf.parallel` nests of independent iterations. Each outermost
    `scf.parallel` outside a kernel becomes a one-dimensional `gpu.launch`
    over its flattened iteration space (innermost dimension fastest, so
    consecutive threads touch consecutive elements), with the body,
    including its sequential reduction loops, run by one thread. Loops with
    `scf.reduce` results are refused.

    Elementwise bodies are cheap next to the delinearization of a flat
    thread index (divisions, 64-bit address arithmetic), so a constant
    innermost trip count `C` is coarsened: each thread runs `V` of its
    iterations, `j + k * C / V` for `k < V`, with `V` the largest power of
    two up to `elements-per-thread` that divides `C` and keeps `C / V >= 32`
    (for each `k` a warp's lanes still touch consecutive elements). The
    combine's innermost value dimension (128) runs 4 per thread.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"256",
           "Threads per block">,
    Option<"elementsPerThread", "elements-per-thread", "int64_t",
           /*default=*/"4",
           "Most iterations of a constant innermost dimension per thread "
           "(1: one thread per iteration)">
  ];
  let dependentDialects = [
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
    "::mlir::gpu::GPUDialect", "::mlir::scf::SCFDialect"
  ];
}

def NSAAttachNVVMTarget : Pass<"nsa-attach-nvvm-target", "::mlir::ModuleOp"> {
  let summary = "Attach an #nvvm.target for the module's #nsa.target chip to every gpu.module";
  let description = [{
    The chip comes from the `nsa.target` attribute of the module (the H100
    default `sm_90a` when absent) unless the `chip` option is given; an
    unknown chip is an error.

    It also turns every `nsa.min_ctas_per_sm` left in an outlined
    `gpu.func` into that function's `nvvm.minctasm` (the largest, if a
    kernel holds several) and erases the op; one outside a `gpu.func` (a
    `gpu.launch` not outlined yet) is an error.
  }];
  let options = [
    Option<"chip", "chip", "std::string", /*default=*/"\"\"",
           "Override the #nsa.target chip">,
    Option<"features", "features", "std::string", /*default=*/"\"+ptx80\"",
           "PTX features">,
    Option<"optLevel", "O", "int", /*default=*/"2", "LLVM optimization level">
  ];
  // The nsa dialect: the default #nsa.target is built even when the module
  // holds no nsa op.
  let dependentDialects = ["::mlir::NVVM::NVVMDialect",
                           "::mlir::nsa::NSADialect"];
}

def NSAMergeGPUModules : Pass<"nsa-merge-gpu-modules", "::mlir::ModuleOp"> {
  let summary = "Merge the outlined gpu.modules into one";
  let description = [{
    `gpu-kernel-outlining` puts every kernel into a gpu.module of its own;
    a bundle carries one binary, so the kernels move into the first module,
    each renamed after the module it came from, and the `gpu.launch_func`
    ops are updated. Run it between outlining and the NVVM lowering.
  }];
}

def NSAExportBundle : Pass<"nsa-export-bundle", "::mlir::ModuleOp"> {
  let summary = "Write a kernel bundle (cubin, PTX, manifest.json) for the runtime";
  let description = [{
    Consumes the output of `--nsa-to-nvvm`: a host function on memrefs whose
    body is only size arithmetic (`memref.dim`, `arith`, `affine`),
    `memref.alloc`, `gpu.launch_func` and `func.return`, and one gpu.module
    in the NVVM dialect. Compiles the gpu.module to a cubin (ptxas from the
    CUDA toolkit) and PTX (unless `ptx=false`), and writes `dir` in the
    format of
    `docs/bundle-format.md`: the host function's arguments are the inputs
    (dynamic dims 0 and 1 are the symbols `B` and `T`), its results the
    outputs, the other allocations scratch buffers, and every launch's grid,
    block and scalar arguments become size expressions over `B` and `T`.
    Anything else on the host is an error naming the op.
  }];
  let options = [
    Option<"directory", "dir", "std::string", /*default=*/"\"\"",
           "Bundle directory to create (required)">,
    Option<"functionName", "function", "std::string", /*default=*/"\"\"",
           "Host function to export (default: the only public one)">,
    Option<"toolkitPath", "toolkit", "std::string", /*default=*/"\"\"",
           "CUDA toolkit root (default: found by MLIR's NVVM target)">,
    Option<"emitPtx", "ptx", "bool", /*default=*/"true",
           "Also write kernels.ptx (for inspection, or as the runtime's JIT "
           "fallback); false halves a bundle's size">
  ];
}

#endif // NSA_CONVERSION_PASSES_TD
