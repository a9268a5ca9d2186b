//===- NSATileToGPU.cpp - tile loops to GPU kernels -----------------------===//
//
// Lowers each tile loop (an scf.forall whose body runs the nsa tile ops, as
// nsa-tile and nsa-fuse-gqa-group leave it) to a gpu.launch, in one of two
// shapes:
//
// - tensor cores (f16/bf16, head dims multiples of 16, tiles that fit the
//   target's shared memory): one warp per (tile, slab of 16 rows); K/V
//   chunks of 32 or 64 keys staged by cp.async in padded shared-memory
//   tiles (the warp's own, or shared by the CTA's warps), ldmatrix
//   fragments, mma.sync m16n8k16 for S = Q K^T
//   and O += P V, the online softmax on the accumulator fragments;
// - CUDA cores (f32 and other shapes): one block per tile, the rows
//   (position x head) distributed over warps, the 32 lanes splitting the
//   head dims, q . k as lane-partial products reduced with shuffles.
//
// In both, all heads of a fused tile walk the same KV rows, and the loop
// nest between the tile ops (scf.for, scf.if, index arithmetic,
// tensor.extract of selected indices) is cloned as is, with the tile state
// carried in registers instead of tensors, so the block lists of the three
// branches come from nsa-tile unchanged. A loop of nsa.probs_tile has no
// state: its probabilities are stored as they are computed.
//
// Tensors captured by the loop are read through bufferization.to_buffer,
// and the loop's results are fresh buffers wrapped by
// bufferization.to_tensor, so one-shot-bufferize handles the rest of the
// function afterwards.
//
//===----------------------------------------------------------------------===//

#include "nsa/Conversion/Passes.h"
#include "nsa/Dialect/NSA/IR/NSAOps.h"

#include "../Utils/ElementTypes.h"
#include "../Utils/GatedSum.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"

#include "llvm/ADT/ScopeExit.h"

#include <limits>

namespace mlir::nsa {
#define GEN_PASS_DEF_CONVERTNSATILETOGPU
#include "nsa/Conversion/Passes.h.inc"
} // namespace mlir::nsa

using namespace mlir;
using namespace mlir::nsa;

namespace {

constexpr int64_t kWarpSize = 32;

// Tensor-core kernels (mma.sync m16n8k16): a warp owns a slab of 16 tile
// rows and walks the KV loop nest for it, staging a chunk of keys at a time
// in shared-memory tiles with cp.async (see TileLoopLowering::keyChunk).
constexpr int64_t kSlabRows = 16;
// Keys per chunk: warp-private tiles (one set per warp), and CTA-shared
// tiles of head dims up to kWideChunkMaxDim.
constexpr int64_t kPrivateKeyChunk = 32;
constexpr int64_t kSharedKeyChunk = 64;
constexpr int64_t kWideChunkMaxDim = 128;
// Padding (elements) after each shared-memory row: rows 16 bytes apart
// modulo 128, so ldmatrix's eight row reads hit distinct banks.
constexpr int64_t kRowPad = 8;
// wgmma kernels (#nsa.target<mma = wgmma>): the four warps of the CTA are
// one warpgroup whose 64 rows multiply K and V tiles read by the tensor
// cores from shared memory in the 128-byte-swizzled canonical layout: a
// tile of rows x dim is dim / 64 column panels of rows x 64 elements, row r
// of a panel one 128-byte line whose 16-byte chunk c sits at chunk c ^ (r %
// 8). The swizzle repeats every 1024 bytes, where the tiles must start.
constexpr int64_t kWgmmaPanel = 64;
constexpr int64_t kSwizzleBytes = 128;
constexpr int64_t kSwizzleAtomBytes = 1024;
constexpr int64_t kWarpgroupWarps = 4;
constexpr int64_t kWarpgroupRows = kWarpgroupWarps * kSlabRows;
// Online softmax: a row's running max moves only when a chunk raises it by
// more than this (log2 domain), so a chunk's p stay below 2^8 and most
// chunks skip rescaling the accumulators (see emitAttendMma).
constexpr double kLazyRescaleLog2 = 8.0;
// The leading byte offset of a swizzled K-major operand is unused; PTX
// expects 16 there (1 after the descriptor's shift by 4).
constexpr int64_t kUnusedLeadingBytes = 16;

/// How a tensor.extract_slice of a captured tensor addresses its buffer:
/// slice coordinate k is source dimension keptDims[k], at offsets[dim] + k.
struct SliceInfo {
  Value buffer;
  SmallVector<Value> offsets;
  SmallVector<Value> sizes;
  SmallVector<int64_t> keptDims;
};

/// The dims of a rank-`rank` tensor that a slice dropping `dropped` keeps.
SmallVector<int64_t> keptDimsOf(const llvm::SmallBitVector &dropped,
                                int64_t rank) {
  SmallVector<int64_t> kept;
  for (int64_t dim = 0; dim < rank; ++dim)
    if (!dropped.test(dim))
      kept.push_back(dim);
  return kept;
}

/// The alignment of a run of `elements` neighbouring elements of `buffer`
/// along its dim `dim`, starting at a multiple of `elements` counted from
/// `offset`: when the buffer is row-major with a static last dim `dim` that
/// `elements` divides and `offset` is a constant multiple of it, every such
/// run starts at a multiple of `elements` and is aligned to its own size
/// (the runtime passes 16-byte aligned buffers); else none is known. Told
/// so, LLVM moves the run at once instead of element by element (a bf16
/// pair: one 4-byte access, not two 2-byte ones and a shift).
llvm::MaybeAlign vectorAlignment(Value buffer, int64_t dim, Value offset,
                                 int64_t elements) {
  auto type = cast<MemRefType>(buffer.getType());
  std::optional<int64_t> start = getConstantIntValue(offset);
  if (!type.getLayout().isIdentity() || dim != type.getRank() - 1 ||
      type.isDynamicDim(dim) || type.getDimSize(dim) % elements != 0 ||
      !start || *start % elements != 0)
    return {};
  return llvm::Align(elements * type.getElementTypeBitWidth() / 8);
}

/// Where a tile loop's store writes: the output buffer, the buffer dims the
/// stored tile keeps (position, head[, last]) and the slice offsets mapped
/// into the kernel.
struct StoreTarget {
  Value buffer;
  SmallVector<int64_t> keptDims;
  SmallVector<Value> offsets;
};

/// Key row c of a tile is token keyStride * (keyPos + c) + keyOffset.
struct KeyMap {
  Value keyPos;
  int64_t stride, offset;
};

/// Token positions of a slab's first and last valid row.
struct SlabTokens {
  Value first, last;
};

/// Lowers one tile loop. All IR is created by `b`; values of the original
/// loop are translated through `map` (tensors of the tile state map to
/// registers, captured tensors to buffers).
class TileLoopLowering {
public:
  TileLoopLowering(scf::ForallOp forall, bool allowTensorCores)
      : forall(forall), b(forall), loc(forall.getLoc()),
        allowTensorCores(allowTensorCores) {}

  LogicalResult run();

private:
  LogicalResult checkStructure();
  bool canUseTensorCores();
  /// Dynamic shared memory of a tensor-core kernel: the key tile and (for
  /// attention) value tile of each warp, or one set for the whole CTA when
  /// `ctaSharedTiles`.
  int64_t sharedMemoryBytes() const;
  void mapInductionVars(Value linear);
  /// The loop dimension whose induction variable gives the query tile's
  /// token position (nsa-tile's query-tile index), if any.
  std::optional<int64_t> positionDim();
  LogicalResult emitKernel(gpu::LaunchOp launch);
  LogicalResult emitSlabKernel(gpu::LaunchOp launch);
  /// After a kernel's per-row or per-slab setup: the tile state, the cloned
  /// KV loop nest, finalize and stores (or the probabilities), in the
  /// kernel shape `tensorCores` selects.
  LogicalResult emitTileBody();
  LogicalResult convertOps(Block::iterator begin, Block::iterator end);
  LogicalResult convertOp(Operation &op);
  Value mapScalarOrState(Value value) const;
  LogicalResult recordSlice(tensor::ExtractSliceOp slice);
  Type stateType(Type tensorType) const;
  void emitAttend(AttendTileOp op);
  void emitFinalize(FinalizeTileOp op);
  void emitStore(tensor::ParallelInsertSliceOp insert);
  /// nsa.prefetch_tile: the threads that walk the tile's KV rows together
  /// split a prefetch to L2 of every 128-byte line of the rows.
  void emitPrefetch(PrefetchTileOp op);
  // Tensor-core variants.
  void emitAttendMma(AttendTileOp op);
  void emitFinalizeMma(FinalizeTileOp op);
  void emitStoreMma(tensor::ParallelInsertSliceOp insert);
  /// The output tile's store through shared memory: the warp writes its
  /// fragments into its rows there, then each lane stores 16-byte pieces of
  /// whole rows, so that a store instruction writes full sectors of
  /// neighbouring rows instead of 4 bytes in each of 8 rows. False (nothing
  /// emitted) where the buffer's rows or the staging space do not allow it.
  bool emitStagedOutputStore(Value buffer, ArrayRef<int64_t> keptDims,
                             ArrayRef<Value> offsets, Value source);
  // nsa.probs_tile: per row (CUDA cores) or per slab (tensor cores), each
  // probability stored into the loop's output as soon as it is computed.
  void emitProbsRow();
  void emitProbsMma();
  StoreTarget storeTarget(tensor::ParallelInsertSliceOp insert);
  /// The only store of a probabilities tile loop.
  tensor::ParallelInsertSliceOp probsStore() {
    return cast<tensor::ParallelInsertSliceOp>(
        *forall.getTerminator().getYieldingOps().begin());
  }
  /// Issues cp.async copies of keys [chunk, chunk + n) of `slice` into
  /// `tile` (rows past n are zero-filled) when `enabled`, and commits them
  /// as one group either way, so that every chunk commits the same number
  /// of groups and the waits can count them statically.
  void stageChunk(const SliceInfo &slice, Value tile, int64_t dim, Value chunk,
                  Value n, Value enabled);
  /// The cp.async copies of stageChunk, without the commit.
  void issueChunkCopies(const SliceInfo &slice, Value tile, int64_t dim,
                        Value chunk, Value n);
  /// The tile row and first element column of 16-byte copy `copy` when
  /// each row takes `segments` consecutive copies.
  std::pair<Value, Value> copySlot(Value copy, int64_t segments) {
    Value row = arith::DivUIOp::create(b, loc, copy, index(segments));
    Value column = arith::MulIOp::create(
        b, loc, arith::RemUIOp::create(b, loc, copy, index(segments)),
        index(8));
    return {row, column};
  }
  void waitGroups(int32_t pending);
  /// Waits until at most `pending` cp.async groups are in flight and makes
  /// the landed tiles visible to every thread that shares them (and, for
  /// wgmma, to the tensor cores' async proxy).
  void waitForTiles(int32_t pending);
  /// Orders the reads and writes of the key/value tiles among the threads
  /// that share them: the warp, or the CTA when `ctaSharedTiles`.
  void syncTileUsers();
  /// D = A * B + C for one m16n8k16 step; A: 4, B: 2 vector<2xT> registers,
  /// C: 4 f32.
  SmallVector<Value> mma(ArrayRef<Value> a, ArrayRef<Value> bFrag,
                         ArrayRef<Value> c);
  Value ldmatrix(Value tile, Value rowIndex, Value colIndex, int64_t numTiles,
                 bool transpose);
  /// A 16-bit operand pair as the i32 register mma and wgmma take.
  Value packedOperand(Value pair);
  /// The wgmma shared-memory descriptor of `tile` from byte `byteOffset`
  /// on, 128-byte swizzled, with the given leading and stride byte offsets.
  Value wgmmaDescriptor(Value tile, Value byteOffset, int64_t leadingBytes,
                        int64_t strideBytes);
  /// Runs `asmString` as volatile inline PTX that reads and rewrites the
  /// f32 or i32 registers `tied` ($0 ..) and reads the i32 or i64 `inputs`
  /// after them; returns the rewritten registers. Threading the
  /// accumulators through every wgmma step keeps their reads and writes in
  /// program order around the asynchronous tensor-core ops.
  SmallVector<Value> tiedAsm(StringRef asmString, ArrayRef<Value> tied,
                             ArrayRef<Value> inputs = {});
  /// acc += A B for one m64nNk16 wgmma step (N = 2 * acc.size()): A is the
  /// warp's 4 packed (i32) registers of its 16 rows, or one descriptor of
  /// the warpgroup's 64 rows in shared memory; B the descriptor of 16 k rows
  /// (transposed for B stored k-row-major, as V is).
  /// Without `accumulate` (scale-d = 0) the step ignores acc's values: D =
  /// A B, so the first step of a product needs no zeroed accumulators.
  SmallVector<Value> wgmmaStep(ArrayRef<Value> aFrag, Value descriptor,
                               ArrayRef<Value> acc, bool transposeB,
                               bool accumulate = true);
  /// wgmma.fence before a batch of steps, threading the registers the
  /// batch reads (accumulators, and A fragments written just before).
  SmallVector<Value> wgmmaFence(ArrayRef<Value> registers);
  /// Commits the batch and waits for it: the accumulators are final. The
  /// A registers the batch reads (`sources`) go through too, so they keep
  /// their values until the tensor cores are done with them.
  SmallVector<Value> wgmmaWait(ArrayRef<Value> acc,
                               ArrayRef<Value> sources = {});
  /// Byte offset of a stage tile (a memref.view of the dynamic shared
  /// memory) from the start of the dynamic shared memory.
  Value tileByteShift(Value tile) {
    auto view = tile.getDefiningOp<memref::ViewOp>();
    assert(view && "stage tiles are views of the dynamic shared memory");
    return view.getByteShift();
  }
  /// Element (row, column) of a staged tile of `rows` rows, as indices of
  /// its view: padded rows, or the swizzled panels of wgmma.
  std::pair<Value, Value> tileIndices(Value row, Value column, int64_t rows);
  /// wgmma: copies the CTA's 64 query rows into queryRows (swizzled panels
  /// at tileBase, which then moves past it) and waits for them. Rows past
  /// the tile are zero-filled; their results are never stored.
  void stageQueryTile(const SliceInfo &query, int64_t heads);
  /// Bytes of one query, key or value element.
  int64_t inputBytes() const { return inputType.getIntOrFloatBitWidth() / 8; }
  /// Bytes of the wgmma query tile.
  int64_t queryTileBytes() const {
    return wgmma ? kWarpgroupRows * headDim * inputBytes() : 0;
  }
  Value quadReduce(Value value, bool isMax);
  /// 2^x as one `ex2.approx.ftz.f32` (a single MUFU.EX2). math.exp2 lowers
  /// to the non-ftz `ex2.approx.f32`, which ptxas wraps in a fix-up for
  /// subnormal inputs and results, several instructions per exponential in
  /// kernels whose time follows their instruction count. The softmax
  /// exponentials are at most 2^8 and each row's sum holds a term >= 1,
  /// so flushing results below 2^-126 to 0 changes nothing measurable.
  Value exp2Ftz(Value x);
  /// S = Q K^T for the staged chunk: keyChunk / 8 n-tiles x 4 f32 per lane.
  SmallVector<SmallVector<Value>> scoreFragments();
  /// What a caller computes from the masked scores (4 per n-tile,
  /// flattened) in each branch of maskScores: `fullyVisible` when every
  /// key of the chunk is visible to every row, so none is -inf.
  using MaskedScoresUse = function_ref<SmallVector<Value>(
      ArrayRef<Value> masked, bool fullyVisible)>;
  /// The scores, unscaled (callers fold the scale into one fma per score),
  /// -inf where a key is past the chunk, after the row, or (with a window)
  /// before it; or, with `use`, what it computes from them (4 values per
  /// n-tile).
  SmallVector<SmallVector<Value>>
  maskScores(ArrayRef<SmallVector<Value>> scores, Value chunk, Value n,
             const KeyMap &keys, std::optional<int64_t> window,
             ArrayRef<Value> queryToken, const SlabTokens &slab,
             MaskedScoresUse use = nullptr);
  /// The key-position map of an attend or probabilities tile op.
  template <typename TileOp> KeyMap keyMapOf(TileOp op) {
    return {map.lookupOrDefault(op.getKeyPos()), op.getKeyStrideAttr().getInt(),
            op.getKeyOffsetAttr().getInt()};
  }
  /// Token position of key row `keyRow` of a tile.
  Value keyToken(const KeyMap &keys, Value keyRow) {
    return add(arith::MulIOp::create(b, loc, add(keys.keyPos, keyRow),
                                     index(keys.stride)),
               index(keys.offset));
  }
  /// The token positions of the first and last valid row of the slab, or
  /// of the `rows` tile rows from `firstRow`.
  SlabTokens slabTokens(Value queryPos);
  SlabTokens rowSpanTokens(Value queryPos, Value firstRow, int64_t rows);
  /// The rows whose keys are staged together: the slab's, or the CTA's
  /// slabs' when `ctaSharedTiles`. Which chunks to stage is decided over
  /// these rows, so that it is uniform across the threads that stage.
  SlabTokens stagingTokens(Value queryPos);

  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value f32(double value) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  }
  Value i32(int64_t value) {
    return arith::ConstantIntOp::create(b, loc, b.getI32Type(), value);
  }
  OpFoldResult mapped(OpFoldResult ofr) {
    if (auto value = dyn_cast<Value>(ofr))
      return map.lookupOrDefault(value);
    return ofr;
  }
  Value add(Value lhs, Value rhs) {
    return arith::AddIOp::create(b, loc, lhs, rhs);
  }
  /// Element `i` of the current row's lane chunk: the head-dim coordinate
  /// lane + 32 * i.
  Value laneCoord(int64_t i) {
    return add(lane, index(kWarpSize * i));
  }
  /// Loads one element of a slice as f32; `dim` coordinates past `extent`
  /// (the last, head-dim coordinate of a chunk) read as zero.
  Value loadF32(const SliceInfo &slice, ArrayRef<Value> coords,
                int64_t extent);
  /// The current lane's chunk of a row of a slice: coords are the leading
  /// slice coordinates, the last one runs over the lane's head dims.
  Value loadChunk(const SliceInfo &slice, ArrayRef<Value> leading,
                  int64_t extent);
  Value warpSum(Value partial);

  scf::ForallOp forall;
  OpBuilder b;
  Location loc;
  /// Warps per CTA, from the target (set by checkStructure).
  int64_t numWarps = 0;
  bool allowTensorCores;
  bool tensorCores = false;

  InitTileStateOp init;
  FinalizeTileOp finalize;
  ProbsTileOp probs;
  /// The nsa.combine_tile that nsa-fuse-combine put into the loop, if any:
  /// its output is stored instead of the finalized tile, which is its
  /// branch operand `combineBranch` (0 compressed, 1 selected, 2 window).
  CombineTileOp combineTile;
  unsigned combineBranch = 0;
  /// `elements` neighbouring elements, from column `column` on, of tile row
  /// `tileRow` and head `tileHead` of a [row, head, column] slice, as f32.
  Value loadTileF32(Value tile, Value tileRow, Value tileHead, Value column,
                    int64_t elements);
  /// The three gates of a tile row and head, as f32, for combineBeforeStore.
  /// Empty when the loop stores no combine_tile.
  SmallVector<Value> combineGates(Value tileRow, Value tileHead);
  /// `stored`, a vector of elements of the output tile about to be stored
  /// (tile row `tileRow`, head `tileHead`, columns from `column` on, in the
  /// output's element type), combined with the other branches' elements
  /// there by the row's gates when the loop stores a combine_tile; else
  /// `stored` itself. Callers that store several pieces of one row pass
  /// `rowGates` (combineGates, loaded once); otherwise they are loaded here.
  Value combineBeforeStore(Value stored, Value tileRow, Value tileHead,
                           Value column, ArrayRef<Value> rowGates = {});
  /// The first tile op (what comes before is the per-tile prologue) and
  /// the query tile it reads.
  Operation *tileStart() { return probs ? probs.getOperation() : init.getOperation(); }
  Value queryTile() { return probs ? probs.getQuery() : init.getQuery(); }
  /// A constant upper bound of the query positions per tile (one for the
  /// selected branch, whose block list is per position), if there is one.
  std::optional<int64_t> positionsPerTile();
  IRMapping map;
  SmallVector<Value> bounds; // the loop's upper bounds, on the host
  DenseMap<Value, SliceInfo> slices;
  DenseMap<Value, Value> outputBuffers; // shared_out block arg -> buffer

  // Per-row values inside the kernel.
  Value lane, row, head, queryChunk;
  int64_t headDim = 0, valueDim = 0;

  // Tensor-core kernels: the slab's rows, this lane's two rows of it
  // (lane / 4 and lane / 4 + 8) as (position, head, in range), the query
  // fragments and the warp's shared-memory tiles.
  Type inputType;
  int64_t slabsPerTile = 0;
  /// The CTA's warps take consecutive slabs of one tile and share one set
  /// of key/value tiles: each chunk is copied once per CTA instead of once
  /// per warp (the attention kernels are bound by these L2 -> shared
  /// copies). Needs the tile's slab count to be a multiple of the warps.
  bool ctaSharedTiles = false;
  /// Keys staged (and masked, and synchronized on) per chunk. Every chunk
  /// costs the CTA's barriers and a mask pass, so shared tiles take 64
  /// keys (measured on the H200 at 64k tokens: compressed attention 22.9 ->
  /// 18.7 ms with the paper's config); warp-private tiles keep 32, whose
  /// four sets of 64 would halve the selected kernel's occupancy (17.1 ->
  /// 19.1 ms), as do head dims above 128 (the score fragments' registers).
  int64_t keyChunk = kPrivateKeyChunk;
  /// MMA n-tiles (8 keys) per chunk.
  int64_t keyTilesPerChunk() const { return keyChunk / 8; }
  /// Chunk buffers in the shared-memory ring (`num_stages` of the target
  /// for CTA-shared tiles). With one, a chunk's K and V tiles are reloaded
  /// in place, each as soon as its product is done; with S >= 2, chunk
  /// c + S - 1 loads into its own buffers while chunk c computes. Warp-
  /// private tiles keep one: every buffer is per warp there, and more of
  /// them cost occupancy (the selected kernel, see keyChunk).
  int64_t stages = 1;
  bool pipelinedRing() const { return stages > 1; }
  /// Bytes of one stage's tiles (key, then value); the stages start at
  /// tileBase (after wgmma's alignment pad and query tile).
  int64_t stageBytes() const {
    return keyChunk *
           (headDim + rowPad() + (valueDim ? valueDim + rowPad() : 0)) *
           inputBytes();
  }
  int64_t rowPad() const { return wgmma ? 0 : kRowPad; }
  /// The kernel multiplies with wgmma (see kWgmmaPanel).
  bool wgmma = false;
  /// The dynamic shared memory, its address in the shared window (wgmma
  /// descriptors), and where the tiles start in it.
  Value sharedBytes, sharedAddress, tileBase;
  /// Where this warp may stage its output rows once the KV walk is done
  /// (byte offset into the dynamic shared memory, over the tiles), and how
  /// many bytes it has there.
  Value outputStage;
  int64_t outputStageBytes = 0;
  /// The key (or value) tile of ring stage `stage` (stage 0 with one
  /// stage).
  Value stageTile(Value stage, bool isValue);
  /// A `shape` view of the dynamic shared memory from byte `shift` on.
  Value sharedView(ArrayRef<int64_t> shape, Value shift) {
    auto workgroup = gpu::AddressSpaceAttr::get(b.getContext(),
                                                gpu::AddressSpace::Workgroup);
    return memref::ViewOp::create(b, loc,
                                  MemRefType::get(shape, inputType,
                                                  MemRefLayoutAttrInterface(),
                                                  workgroup),
                                  sharedBytes, shift, ValueRange());
  }
  /// Whether the chunk starting at key `chunk` of `count` is staged
  /// (it exists and `needed(chunk, n)`), and its key count n (1 for a chunk
  /// past the end, whose copies are disabled).
  std::pair<Value, Value>
  chunkToStage(Value chunk, Value count,
               function_ref<Value(Value chunk, Value n)> needed);
  /// The ring pipeline of a KV walk over `count` keys whose chunk tiles
  /// are `key` (and `value`, for attention).
  struct Ring {
    const SliceInfo &key;
    const SliceInfo *value;
    Value count;
    function_ref<Value(Value chunk, Value n)> needed;
  };
  /// Ring prologue: chunks 0 .. S - 2 into stages 0 .. S - 2.
  void fillRing(const Ring &ring);
  /// The ordinal c of the chunk starting at key `chunk`.
  Value chunkOrdinal(Value chunk) {
    return arith::DivUIOp::create(b, loc, chunk, index(keyChunk));
  }
  /// Before chunk c (at key `chunk`) computes: refill the stage chunk c - 1
  /// used with chunk c + S - 1, wait for chunk c's group. One cp.async
  /// group per chunk, so S - 1 stay in flight.
  void refillRing(const Ring &ring, Value chunk, Value ordinal);
  /// Points keyTile (and valueTile) at chunk `ordinal`'s stage.
  void bindRingStage(Value ordinal);
  /// Stages chunk `chunk` into ring stage `stage` as one cp.async group.
  void stageRingChunk(const Ring &ring, Value stage, Value chunk);
  /// Keys of the chunk starting at key `chunk` of `count`: min(keyChunk,
  /// count - chunk).
  Value chunkKeys(Value count, Value chunk) {
    return arith::MinUIOp::create(b, loc, index(keyChunk),
                                  arith::SubIOp::create(b, loc, count, chunk));
  }
  /// The slab's first row, the CTA's first row, and the tile's row count.
  Value rowBase, ctaRowBase, tileRows;
  /// The thread's index in the CTA, which spreads the shared tiles' copies.
  Value threadInCta;
  /// The threads that walk the tile's KV rows together, as (this thread's
  /// index among them, their count): the warp for warp-private tiles, else
  /// the CTA (shared tiles, and the CUDA-core kernel's warps on one tile).
  std::pair<Value, int64_t> rowWalkers() const {
    if (tensorCores && !ctaSharedTiles)
      return {lane, kWarpSize};
    return {threadInCta, numWarps * kWarpSize};
  }
  Value rowPos[2], rowHead[2], rowValid[2];
  /// 2 * (lane % 4): the first of the two fragment columns a lane holds.
  Value lanePair;
  SmallVector<Value> queryFrags;
  Value keyTile, valueTile, queryRows;
};

LogicalResult TileLoopLowering::checkStructure() {
  auto isConstant = [](OpFoldResult ofr, int64_t value) {
    std::optional<int64_t> constant = getConstantIntValue(ofr);
    return constant && *constant == value;
  };
  for (auto [lower, step] :
       llvm::zip(forall.getMixedLowerBound(), forall.getMixedStep()))
    if (!isConstant(lower, 0) || !isConstant(step, 1))
      return forall.emitOpError()
             << "tile loop must be normalized (lower bound 0, step 1)";

  Block *body = forall.getBody();
  for (Operation &op : body->without_terminator()) {
    if (auto candidate = dyn_cast<InitTileStateOp>(op)) {
      if (init)
        return candidate.emitOpError() << "is the second tile state of its "
                                          "tile loop; expected one";
      init = candidate;
    }
    if (auto candidate = dyn_cast<FinalizeTileOp>(op))
      finalize = candidate;
    if (auto candidate = dyn_cast<ProbsTileOp>(op)) {
      if (probs)
        return candidate.emitOpError()
               << "is the second nsa.probs_tile of its tile loop; expected one";
      probs = candidate;
    }
  }
  // Two kinds of tile loop: an online-softmax attention (init, attend...,
  // finalize) or a probabilities tile (one nsa.probs_tile, stored as is).
  if (probs ? (init || finalize) : (!init || !finalize))
    return forall.emitOpError()
           << "needs either nsa.init_tile_state and nsa.finalize_tile or a "
              "single nsa.probs_tile in its body";
  Operation *stored = probs ? probs.getOperation() : finalize.getOperation();
  if (!queryTile().getDefiningOp<tensor::ExtractSliceOp>())
    return tileStart()->emitOpError()
           << "query must be a slice of a captured tensor";
  for (Operation &op : forall.getTerminator().getYieldingOps()) {
    auto insert = dyn_cast<tensor::ParallelInsertSliceOp>(op);
    Operation *source = insert ? insert.getSource().getDefiningOp() : nullptr;
    // nsa-fuse-combine stores the finalized tile combined with the others.
    if (auto combine = dyn_cast_or_null<CombineTileOp>(source);
        combine && finalize) {
      OperandRange branches = combine.getBranches();
      if (llvm::count(branches, finalize.getOutput()) != 1)
        return combine.emitOpError()
               << "must combine its tile loop's nsa.finalize_tile output "
                  "(one branch operand) with slices of the other outputs";
      combineTile = combine;
      combineBranch = llvm::find(branches, finalize.getOutput()) -
                      branches.begin();
      source = finalize;
    }
    if (source != stored)
      return op.emitOpError() << "tile loop must store only "
                              << stored->getName() << " results";
    if (!insert.hasUnitStride())
      return op.emitOpError() << "tile loop stores must have unit strides";
  }
  // The kernels load f16, bf16 or f32 and compute in f32.
  for (Value value : {queryTile(), Value(stored->getResult(0))}) {
    Type elementType = getElementTypeOrSelf(value.getType());
    if (!isComputeActivationType(elementType))
      return tileStart()->emitOpError()
             << "GPU tile kernels support f16, bf16 and f32; got "
             << elementType;
  }
  auto queryType = cast<RankedTensorType>(queryTile().getType());
  headDim = queryType.getDimSize(2);
  valueDim = probs ? 0 : init.getValueDimAttr().getInt();
  if (ShapedType::isDynamic(queryType.getDimSize(1)) ||
      ShapedType::isDynamic(headDim))
    return tileStart()->emitOpError()
           << "query tile needs static heads and head dim";
  numWarps = TargetAttr::lookup(forall).numWarpsForTiles(
      positionsPerTile().value_or(0));
  return success();
}

/// A constant upper bound of a tile size: the size itself, or the smallest
/// constant among the results of the affine.min that clamps it.
static std::optional<int64_t> constantUpperBound(OpFoldResult size) {
  if (std::optional<int64_t> constant = getConstantIntValue(size))
    return constant;
  auto min = dyn_cast<Value>(size) ? cast<Value>(size).getDefiningOp<affine::AffineMinOp>()
                                   : affine::AffineMinOp();
  if (!min)
    return std::nullopt;
  std::optional<int64_t> bound;
  for (AffineExpr expr : min.getAffineMap().getResults())
    if (auto constant = dyn_cast<AffineConstantExpr>(expr))
      bound = bound ? std::min(*bound, constant.getValue()) : constant.getValue();
  return bound;
}

std::optional<int64_t> TileLoopLowering::positionsPerTile() {
  auto querySlice = queryTile().getDefiningOp<tensor::ExtractSliceOp>();
  int64_t positionDim = querySlice.getDroppedDims().find_first_unset();
  return constantUpperBound(querySlice.getMixedSizes()[positionDim]);
}

bool TileLoopLowering::canUseTensorCores() {
  if (!allowTensorCores)
    return false;
  // mma.sync takes 16-bit operands (f32 would need tf32, which loses the
  // f32 accuracy contract); the fragments tile the head dims by 16.
  inputType = getElementTypeOrSelf(queryTile().getType());
  if (!inputType.isF16() && !inputType.isBF16())
    return false;
  if (headDim % 16 != 0 || valueDim % 16 != 0)
    return false;
  bool sameTypes = true;
  forall.walk([&](AttendTileOp attend) {
    for (Value operand : {attend.getKey(), attend.getValue()})
      if (getElementTypeOrSelf(operand.getType()) != inputType)
        sameTypes = false;
  });
  if (probs && getElementTypeOrSelf(probs.getKey().getType()) != inputType)
    sameTypes = false;
  if (!sameTypes)
    return false;
  auto queryType = cast<RankedTensorType>(queryTile().getType());
  if (probs && probs.getGroupSum() && kSlabRows % queryType.getDimSize(1) != 0)
    return false;
  std::optional<int64_t> positions = positionsPerTile();
  if (!positions)
    return false;
  slabsPerTile =
      llvm::divideCeil(*positions * queryType.getDimSize(1), kSlabRows);
  ctaSharedTiles = slabsPerTile % numWarps == 0;
  keyChunk = ctaSharedTiles && std::max(headDim, valueDim) <= kWideChunkMaxDim
                 ? kSharedKeyChunk
                 : kPrivateKeyChunk;
  TargetAttr target = TargetAttr::lookup(forall);
  stages = ctaSharedTiles ? target.getNumStages() : 1;
  // wgmma needs the CTA to be one warpgroup sharing the tiles, 64-key
  // chunks (the n of S = Q K^T; only shared tiles take them, with both head
  // dims up to 128) and head dims in whole swizzle panels: 64 or 128 (a
  // probabilities tile has no value dim). Attention and probability
  // kernels share its S = Q K^T.
  wgmma = target.useWgmma() && numWarps == kWarpgroupWarps &&
          keyChunk == kSharedKeyChunk && headDim % kWgmmaPanel == 0 &&
          valueDim % kWgmmaPanel == 0;
  // wgmma's query tile and alignment slack cost more shared memory than the
  // padded mma.sync tiles: over the target's budget, fall back to those.
  int64_t budget = target.getSharedMemory();
  if (wgmma && sharedMemoryBytes() > budget)
    wgmma = false;
  // Head dims too large for the warps' tiles in the target's shared memory
  // keep the CUDA-core kernel, which needs none.
  return sharedMemoryBytes() <= budget;
}

int64_t TileLoopLowering::sharedMemoryBytes() const {
  // wgmma tiles start at the next swizzle atom of the dynamic shared
  // memory, whose base is only 16-byte aligned.
  return (ctaSharedTiles ? 1 : numWarps) * stages * stageBytes() +
         queryTileBytes() + (wgmma ? kSwizzleAtomBytes - 16 : 0);
}

LogicalResult TileLoopLowering::run() {
  if (failed(checkStructure()))
    return failure();

  // Host side: buffers for the captured tensors and the results.
  SetVector<Value> captured;
  getUsedValuesDefinedAbove(forall.getRegion(), captured);
  for (Value value : captured) {
    auto tensorType = dyn_cast<RankedTensorType>(value.getType());
    if (!tensorType)
      continue;
    auto memrefType =
        MemRefType::get(tensorType.getShape(), tensorType.getElementType());
    auto toBuffer =
        bufferization::ToBufferOp::create(b, loc, memrefType, value);
    toBuffer.setReadOnly(true);
    map.map(value, toBuffer.getResult());
  }
  SmallVector<Value> results;
  for (auto [init, arg] : llvm::zip(forall.getOutputs(),
                                    forall.getRegionIterArgs())) {
    auto tensorType = cast<RankedTensorType>(init.getType());
    SmallVector<Value> dynamicSizes;
    for (int64_t dim = 0; dim < tensorType.getRank(); ++dim)
      if (tensorType.isDynamicDim(dim))
        dynamicSizes.push_back(tensor::DimOp::create(b, loc, init, dim));
    auto buffer = memref::AllocOp::create(
        b, loc,
        MemRefType::get(tensorType.getShape(), tensorType.getElementType()),
        dynamicSizes);
    outputBuffers[arg] = buffer;
    results.push_back(bufferization::ToTensorOp::create(
        b, loc, tensorType, buffer, /*restrict=*/true, /*writable=*/true));
  }

  // Grid: the loop's iterations, linearized into x (the x extent allows
  // 2^31 - 1 blocks; y and z only 65535, less than long sequences need).
  bounds = getValueOrCreateConstantIndexOp(b, loc, forall.getMixedUpperBound());
  Value blocks = index(1);
  for (Value bound : bounds)
    blocks = arith::MulIOp::create(b, loc, blocks, bound);
  Value one = index(1);
  tensorCores = canUseTensorCores();
  Value sharedBytes;
  if (tensorCores) {
    // One warp per (tile, slab) work item.
    Value items = arith::MulIOp::create(b, loc, blocks, index(slabsPerTile));
    blocks = arith::CeilDivUIOp::create(b, loc, items, index(numWarps));
    sharedBytes = i32(sharedMemoryBytes());
  }
  auto launch = gpu::LaunchOp::create(b, loc, blocks, one, one,
                                      index(numWarps * kWarpSize), one, one,
                                      sharedBytes);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(&launch.getBody().front());
    gpu::TerminatorOp::create(b, loc);
    b.setInsertionPointToStart(&launch.getBody().front());
    // The CTA-shared online-softmax kernels are latency-bound at the 2 CTAs
    // per SM their registers allow; more resident warps pay for them (and
    // not for the warp-private kernels). The probability kernels have their
    // own count, which keeps the occupancy of their 128 registers
    // (docs/performance.md).
    TargetAttr target = TargetAttr::lookup(forall);
    int64_t minCtas = !tensorCores ? 0
                      : probs      ? target.getProbsMinCtasPerSm()
                      : ctaSharedTiles ? target.getMinCtasPerSm()
                                       : 0;
    if (minCtas > 0)
      MinCtasPerSMOp::create(b, loc, minCtas);
    if (failed(tensorCores ? emitSlabKernel(launch) : emitKernel(launch)))
      return failure();
  }
  forall.replaceAllUsesWith(results);
  forall.erase();
  return success();
}

std::optional<int64_t> TileLoopLowering::positionDim() {
  auto querySlice = queryTile().getDefiningOp<tensor::ExtractSliceOp>();
  auto offset = dyn_cast<Value>(querySlice.getMixedOffsets()[1]);
  SmallVector<Value> worklist;
  if (offset)
    worklist.push_back(offset);
  Block *body = forall.getBody();
  while (!worklist.empty()) {
    Value value = worklist.pop_back_val();
    if (auto arg = dyn_cast<BlockArgument>(value)) {
      if (arg.getOwner() == body && arg.getArgNumber() < forall.getRank())
        return arg.getArgNumber();
      continue;
    }
    Operation *def = value.getDefiningOp();
    if (def && def->getBlock() == body)
      llvm::append_range(worklist, def->getOperands());
  }
  return std::nullopt;
}

void TileLoopLowering::mapInductionVars(Value linear) {
  // Delinearize with the query-tile dimension fastest, then the others,
  // the last fastest: neighbouring work items (the warps of a CTA, CTAs
  // launched together) are neighbouring query tiles of one head, whose
  // keys overlap (windows, selected blocks, causal prefixes), so their
  // loads meet in L1 and L2.
  SmallVector<Value> ivs = forall.getInductionVars();
  SmallVector<int64_t> order;
  std::optional<int64_t> fastest = positionDim();
  if (fastest)
    order.push_back(*fastest);
  for (int64_t dim = forall.getRank() - 1; dim >= 0; --dim)
    if (dim != fastest)
      order.push_back(dim);
  Value rest = linear;
  for (auto [i, dim] : llvm::enumerate(order)) {
    if (i + 1 == order.size()) {
      map.map(ivs[dim], rest);
      break;
    }
    map.map(ivs[dim], arith::RemUIOp::create(b, loc, rest, bounds[dim]));
    rest = arith::DivUIOp::create(b, loc, rest, bounds[dim]);
  }
}

LogicalResult TileLoopLowering::emitKernel(gpu::LaunchOp launch) {
  mapInductionVars(launch.getBlockIds().x);

  // Per-tile prologue: everything before the tile state (positions, block
  // ranges, slices) is computed once per block.
  Block *body = forall.getBody();
  if (failed(convertOps(body->begin(), Block::iterator(tileStart()))))
    return failure();

  Value threadId = launch.getThreadIds().x;
  threadInCta = threadId;
  Value warpSize = index(kWarpSize);
  Value warp = arith::DivUIOp::create(b, loc, threadId, warpSize);
  lane = arith::RemUIOp::create(b, loc, threadId, warpSize);

  const SliceInfo &query = slices.lookup(queryTile());
  auto queryType = cast<RankedTensorType>(queryTile().getType());
  int64_t heads = queryType.getDimSize(1);
  Value positions = query.sizes[query.keptDims[0]];
  // A warp per (position, head); per position for group sums, which the
  // warp then adds up over the heads itself.
  bool perPosition = probs && probs.getGroupSum();
  Value rows = perPosition
                   ? positions
                   : arith::MulIOp::create(b, loc, positions, index(heads));
  auto rowLoop =
      scf::ForOp::create(b, loc, warp, rows, index(numWarps));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(rowLoop.getBody());
  Value rowId = rowLoop.getInductionVar();
  if (perPosition) {
    row = rowId;
    return emitTileBody();
  }
  row = arith::DivUIOp::create(b, loc, rowId, index(heads));
  head = arith::RemUIOp::create(b, loc, rowId, index(heads));

  queryChunk = loadChunk(query, {row, head}, headDim);
  return emitTileBody();
}

LogicalResult TileLoopLowering::convertOps(Block::iterator begin,
                                           Block::iterator end) {
  for (Operation &op : llvm::make_range(begin, end))
    if (failed(convertOp(op)))
      return failure();
  return success();
}

Type TileLoopLowering::stateType(Type tensorType) const {
  auto type = cast<RankedTensorType>(tensorType);
  auto f32Type = Float32Type::get(type.getContext());
  if (tensorCores) {
    // Per lane: max and sum of its two rows; the accumulator fragments of
    // Dv / 8 n-tiles, 4 values each.
    return VectorType::get({type.getRank() == 2 ? 2 : valueDim / 2}, f32Type);
  }
  if (type.getRank() == 2)
    return f32Type;
  return VectorType::get({static_cast<int64_t>(llvm::divideCeil(valueDim, kWarpSize))},
                         Float32Type::get(type.getContext()));
}

LogicalResult TileLoopLowering::emitTileBody() {
  if (probs) {
    if (tensorCores)
      emitProbsMma();
    else
      emitProbsRow();
    return success();
  }
  // nsa.init_tile_state: max -inf, sum 0, acc 0, in the registers of
  // stateType.
  auto splat = [&](Value tensor, double value) -> Value {
    Type type = stateType(tensor.getType());
    if (auto vectorType = dyn_cast<VectorType>(type))
      return arith::ConstantOp::create(
          b, loc, vectorType,
          DenseElementsAttr::get(vectorType, b.getF32FloatAttr(value)));
    return f32(value);
  };
  map.map(init.getMax(),
          splat(init.getMax(), -std::numeric_limits<double>::infinity()));
  map.map(init.getSum(), splat(init.getSum(), 0.0));
  map.map(init.getAcc(), splat(init.getAcc(), 0.0));

  if (failed(convertOps(std::next(Block::iterator(init)),
                        Block::iterator(finalize))))
    return failure();
  if (tensorCores)
    emitFinalizeMma(finalize);
  else
    emitFinalize(finalize);
  // What nsa-fuse-combine put after the finalize: slices of the other
  // branches' outputs and of the gates, and the combine_tile.
  if (failed(convertOps(std::next(Block::iterator(finalize)),
                        Block::iterator(forall.getTerminator()))))
    return failure();
  for (Operation &op : forall.getTerminator().getYieldingOps()) {
    auto insert = cast<tensor::ParallelInsertSliceOp>(op);
    if (tensorCores)
      emitStoreMma(insert);
    else
      emitStore(insert);
  }
  return success();
}

LogicalResult TileLoopLowering::recordSlice(tensor::ExtractSliceOp slice) {
  Value buffer = map.lookupOrNull(slice.getSource());
  if (!buffer || !isa<MemRefType>(buffer.getType()))
    return slice.emitOpError()
           << "tile loops may only slice tensors defined outside the loop";
  if (!slice.hasUnitStride())
    return slice.emitOpError() << "tile loop slices must have unit strides";
  SliceInfo info;
  info.buffer = buffer;
  for (OpFoldResult offset : slice.getMixedOffsets())
    info.offsets.push_back(
        getValueOrCreateConstantIndexOp(b, loc, mapped(offset)));
  for (OpFoldResult size : slice.getMixedSizes())
    info.sizes.push_back(
        getValueOrCreateConstantIndexOp(b, loc, mapped(size)));
  info.keptDims =
      keptDimsOf(slice.getDroppedDims(), slice.getSourceType().getRank());
  slices[slice.getResult()] = std::move(info);
  return success();
}

/// The kernel value of a tile state tensor (always converted), or of a scalar,
/// which may also be defined above the tile loop (canonicalize hoists
/// constants) and is then used as is.
Value TileLoopLowering::mapScalarOrState(Value value) const {
  if (isa<TensorType>(value.getType()))
    return map.lookup(value);
  return map.lookupOrDefault(value);
}

LogicalResult TileLoopLowering::convertOp(Operation &op) {
  if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op))
    return recordSlice(slice);

  if (auto extract = dyn_cast<tensor::ExtractOp>(op)) {
    Value buffer = map.lookupOrNull(extract.getTensor());
    if (!buffer)
      return extract.emitOpError() << "reads a tensor the tile loop defines";
    SmallVector<Value> indices;
    for (Value index : extract.getIndices())
      indices.push_back(map.lookupOrDefault(index));
    map.map(extract.getResult(),
            memref::LoadOp::create(b, loc, buffer, indices).getResult());
    return success();
  }

  if (auto attend = dyn_cast<AttendTileOp>(op)) {
    if (attend.getQuery() != init.getQuery())
      return attend.emitOpError()
             << "must attend with the query tile of its nsa.init_tile_state";
    if (tensorCores)
      emitAttendMma(attend);
    else
      emitAttend(attend);
    return success();
  }

  if (auto prefetch = dyn_cast<PrefetchTileOp>(op)) {
    emitPrefetch(prefetch);
    return success();
  }

  if (auto combine = dyn_cast<CombineTileOp>(op)) {
    // checkStructure found the stored one and its own branch.
    if (combine != combineTile)
      return combine.emitOpError()
             << "is supported only as what its tile loop stores";
    Value own = combine.getBranches()[combineBranch];
    for (Value operand : combine->getOperands())
      if (operand != own && !slices.count(operand))
        return combine.emitOpError()
               << "operands other than the loop's own tile must be slices "
                  "of tensors defined outside the loop";
    map.map(combine.getOutput(), map.lookup(own));
    return success();
  }

  if (auto forOp = dyn_cast<scf::ForOp>(op)) {
    SmallVector<Value> inits;
    for (Value init : forOp.getInitArgs())
      inits.push_back(mapScalarOrState(init));
    auto newFor = scf::ForOp::create(
        b, loc, map.lookupOrDefault(forOp.getLowerBound()),
        map.lookupOrDefault(forOp.getUpperBound()),
        map.lookupOrDefault(forOp.getStep()), inits);
    map.map(forOp.getInductionVar(), newFor.getInductionVar());
    for (auto [oldArg, newArg] :
         llvm::zip(forOp.getRegionIterArgs(), newFor.getRegionIterArgs()))
      map.map(oldArg, newArg);
    {
      OpBuilder::InsertionGuard guard(b);
      Block *newBody = newFor.getBody();
      if (!newBody->empty())
        newBody->getTerminator()->erase();
      b.setInsertionPointToEnd(newBody);
      if (failed(convertOps(forOp.getBody()->begin(),
                            forOp.getBody()->end())))
        return failure();
    }
    for (auto [oldResult, newResult] :
         llvm::zip(forOp.getResults(), newFor.getResults()))
      map.map(oldResult, newResult);
    return success();
  }

  if (auto ifOp = dyn_cast<scf::IfOp>(op)) {
    SmallVector<Type> types;
    for (Type type : ifOp.getResultTypes())
      types.push_back(isa<RankedTensorType>(type) ? stateType(type) : type);
    auto newIf = scf::IfOp::create(b, loc, types,
                                   map.lookupOrDefault(ifOp.getCondition()),
                                   /*withElseRegion=*/true);
    for (auto [oldRegion, newRegion] :
         llvm::zip(ifOp->getRegions(), newIf->getRegions())) {
      OpBuilder::InsertionGuard guard(b);
      Block *newBlock = &newRegion.front();
      if (!newBlock->empty())
        newBlock->getTerminator()->erase();
      b.setInsertionPointToEnd(newBlock);
      if (oldRegion.empty()) {
        scf::YieldOp::create(b, loc);
        continue;
      }
      if (failed(convertOps(oldRegion.front().begin(),
                            oldRegion.front().end())))
        return failure();
    }
    for (auto [oldResult, newResult] :
         llvm::zip(ifOp.getResults(), newIf.getResults()))
      map.map(oldResult, newResult);
    return success();
  }

  if (auto yield = dyn_cast<scf::YieldOp>(op)) {
    SmallVector<Value> operands;
    for (Value operand : yield.getOperands())
      operands.push_back(mapScalarOrState(operand));
    scf::YieldOp::create(b, loc, operands);
    return success();
  }

  auto isTensor = [](Type type) { return isa<TensorType>(type); };
  if (llvm::any_of(op.getOperandTypes(), isTensor) ||
      llvm::any_of(op.getResultTypes(), isTensor) || op.getNumRegions())
    return op.emitOpError() << "is not supported inside a tile loop lowered "
                               "to the GPU";
  b.clone(op, map);
  return success();
}

Value TileLoopLowering::loadF32(const SliceInfo &slice, ArrayRef<Value> coords,
                                int64_t extent) {
  SmallVector<Value> indices(slice.offsets);
  Value inBounds;
  for (auto [k, coord] : llvm::enumerate(coords)) {
    int64_t dim = slice.keptDims[k];
    Value c = coord;
    if (k + 1 == coords.size() && extent % kWarpSize != 0) {
      // The lane chunk overhangs the head dim: clamp the address, zero the
      // value.
      inBounds = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                       coord, index(extent));
      c = arith::MinUIOp::create(b, loc, coord, index(extent - 1));
    }
    indices[dim] = add(slice.offsets[dim], c);
  }
  Value value = memref::LoadOp::create(b, loc, slice.buffer, indices);
  if (!value.getType().isF32())
    value = arith::ExtFOp::create(b, loc, b.getF32Type(), value);
  if (inBounds)
    value = arith::SelectOp::create(b, loc, inBounds, value, f32(0.0));
  return value;
}

Value TileLoopLowering::loadChunk(const SliceInfo &slice,
                                  ArrayRef<Value> leading, int64_t extent) {
  int64_t chunk = llvm::divideCeil(extent, kWarpSize);
  auto type = VectorType::get({chunk}, b.getF32Type());
  Value vector = arith::ConstantOp::create(
      b, loc, type, DenseElementsAttr::get(type, b.getF32FloatAttr(0.0)));
  SmallVector<Value> coords(leading);
  coords.push_back(Value());
  for (int64_t i = 0; i < chunk; ++i) {
    coords.back() = laneCoord(i);
    vector = vector::InsertOp::create(b, loc, loadF32(slice, coords, extent),
                                      vector, i);
  }
  return vector;
}

Value TileLoopLowering::warpSum(Value partial) {
  Value sum = partial;
  for (int64_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
    auto shuffle = gpu::ShuffleOp::create(b, loc, sum, offset, kWarpSize,
                                          gpu::ShuffleMode::XOR);
    sum = arith::AddFOp::create(b, loc, sum, shuffle.getShuffleResult());
  }
  return sum;
}

void TileLoopLowering::emitAttend(AttendTileOp op) {
  const SliceInfo &key = slices.lookup(op.getKey());
  const SliceInfo &value = slices.lookup(op.getValue());
  Value count = key.sizes[key.keptDims[0]];
  Value queryToken = add(map.lookupOrDefault(op.getQueryPos()), row);
  KeyMap keys = keyMapOf(op);
  std::optional<int64_t> window;
  if (IntegerAttr windowAttr = op.getWindowAttr())
    window = windowAttr.getInt();
  double scale = op.getScale().convertToDouble();

  SmallVector<Value> state;
  for (Value operand : op.getState())
    state.push_back(map.lookup(operand));
  auto keyLoop = scf::ForOp::create(b, loc, index(0), count, index(1), state);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(keyLoop.getBody());
    Value c = keyLoop.getInductionVar();
    ValueRange current = keyLoop.getRegionIterArgs();
    Value keyToken = this->keyToken(keys, c);
    Value visible = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle,
                                          keyToken, queryToken);
    if (window)
      visible = arith::AndIOp::create(
          b, loc, visible,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                add(keyToken, index(*window)), queryToken));
    // Visibility is uniform across the warp (one row), so the shuffles in
    // the branch are convergent.
    auto ifVisible = scf::IfOp::create(b, loc, TypeRange(current), visible,
                                       /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(&ifVisible.getThenRegion().front());
      Value keyPart = loadChunk(key, {c}, headDim);
      Value products = arith::MulFOp::create(b, loc, queryChunk, keyPart);
      Value partial = vector::ReductionOp::create(
          b, loc, vector::CombiningKind::ADD, products);
      Value score =
          arith::MulFOp::create(b, loc, warpSum(partial), f32(scale));
      Value newMax = arith::MaximumFOp::create(b, loc, current[0], score);
      Value alpha = math::ExpOp::create(
          b, loc, arith::SubFOp::create(b, loc, current[0], newMax));
      Value p = math::ExpOp::create(
          b, loc, arith::SubFOp::create(b, loc, score, newMax));
      Value newSum = arith::AddFOp::create(
          b, loc, arith::MulFOp::create(b, loc, current[1], alpha), p);
      Value valueChunk = loadChunk(value, {c}, valueDim);
      auto accType = cast<VectorType>(current[2].getType());
      Value alphaVec = vector::BroadcastOp::create(b, loc, accType, alpha);
      Value pVec = vector::BroadcastOp::create(b, loc, accType, p);
      Value newAcc = vector::FMAOp::create(
          b, loc, pVec, valueChunk,
          arith::MulFOp::create(b, loc, current[2], alphaVec));
      scf::YieldOp::create(b, loc, ValueRange{newMax, newSum, newAcc});
      b.setInsertionPointToStart(&ifVisible.getElseRegion().front());
      scf::YieldOp::create(b, loc, current);
    }
    scf::YieldOp::create(b, loc, ifVisible.getResults());
  }
  for (auto [result, newValue] : llvm::zip(op.getResults(), keyLoop.getResults()))
    map.map(result, newValue);
}

void TileLoopLowering::emitFinalize(FinalizeTileOp op) {
  Value max = map.lookup(op.getMax()), sum = map.lookup(op.getSum()),
        acc = map.lookup(op.getAcc());
  Value seen = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, sum,
                                     f32(0.0));
  Value inverse = arith::SelectOp::create(
      b, loc, seen, arith::DivFOp::create(b, loc, f32(1.0), sum), f32(0.0));
  auto accType = cast<VectorType>(acc.getType());
  Value output = arith::MulFOp::create(
      b, loc, acc, vector::BroadcastOp::create(b, loc, accType, inverse));
  Value lse = arith::SelectOp::create(
      b, loc, seen,
      arith::AddFOp::create(b, loc, max, math::LogOp::create(b, loc, sum)),
      f32(-std::numeric_limits<double>::infinity()));
  map.map(op.getOutput(), output);
  map.map(op.getLse(), lse);
}

Value TileLoopLowering::loadTileF32(Value tile, Value tileRow, Value tileHead,
                                    Value column, int64_t elements) {
  const SliceInfo &slice = slices.find(tile)->second;
  ArrayRef<int64_t> dims = slice.keptDims;
  SmallVector<Value> indices(slice.offsets);
  indices[dims[0]] = add(slice.offsets[dims[0]], tileRow);
  indices[dims[1]] = add(slice.offsets[dims[1]], tileHead);
  indices[dims[2]] = add(slice.offsets[dims[2]], column);
  Type element = cast<MemRefType>(slice.buffer.getType()).getElementType();
  Value loaded = vector::LoadOp::create(
      b, loc, VectorType::get({elements}, element), slice.buffer, indices,
      /*nontemporal=*/false,
      vectorAlignment(slice.buffer, dims[2], slice.offsets[dims[2]], elements));
  if (element.isF32())
    return loaded;
  return arith::ExtFOp::create(
      b, loc, VectorType::get({elements}, b.getF32Type()), loaded);
}

SmallVector<Value> TileLoopLowering::combineGates(Value tileRow,
                                                  Value tileHead) {
  SmallVector<Value> gates;
  if (!combineTile)
    return gates;
  for (int64_t gate = 0; gate < 3; ++gate)
    gates.push_back(vector::ExtractOp::create(
        b, loc,
        loadTileF32(combineTile.getGates(), tileRow, tileHead, index(gate), 1),
        0));
  return gates;
}

Value TileLoopLowering::combineBeforeStore(Value stored, Value tileRow,
                                           Value tileHead, Value column,
                                           ArrayRef<Value> rowGates) {
  if (!combineTile)
    return stored;
  auto storedType = cast<VectorType>(stored.getType());
  auto f32Type = storedType.clone(b.getF32Type());
  // The stored elements are this branch's output as the unfused loop
  // stored it (rounded to the output type, which is the tile's).
  SmallVector<Value> branches;
  for (auto [branch, tile] : llvm::enumerate(combineTile.getBranches())) {
    if (branch != combineBranch)
      branches.push_back(loadTileF32(tile, tileRow, tileHead, column,
                                     storedType.getNumElements()));
    else if (storedType.getElementType().isF32())
      branches.push_back(stored);
    else
      branches.push_back(arith::ExtFOp::create(b, loc, f32Type, stored));
  }
  SmallVector<Value> gates(rowGates);
  if (gates.empty())
    gates = combineGates(tileRow, tileHead);
  SmallVector<Value> gateVectors = llvm::map_to_vector(gates, [&](Value gate) {
    return Value(vector::BroadcastOp::create(b, loc, f32Type, gate));
  });
  Value combined = gatedBranchSum(b, loc, gateVectors, branches);
  if (storedType.getElementType().isF32())
    return combined;
  return arith::TruncFOp::create(b, loc, storedType, combined);
}

void TileLoopLowering::emitStore(tensor::ParallelInsertSliceOp insert) {
  StoreTarget target = storeTarget(insert);
  Value buffer = target.buffer;
  ArrayRef<int64_t> keptDims = target.keptDims;
  ArrayRef<Value> offsets = target.offsets;
  Type elementType = cast<MemRefType>(buffer.getType()).getElementType();
  SmallVector<Value> indices(offsets);
  indices[keptDims[0]] = add(offsets[keptDims[0]], row);
  indices[keptDims[1]] = add(offsets[keptDims[1]], head);

  // A fused combine's gates of this row (none for the lse, or unfused).
  SmallVector<Value> gates;
  if (keptDims.size() == 3)
    gates = combineGates(row, head);
  // `column`: the tile column of an output element (none for the lse).
  auto store = [&](Value value, Value column = Value()) {
    if (value.getType() != elementType)
      value = arith::TruncFOp::create(b, loc, elementType, value);
    if (column) {
      auto one = VectorType::get({1}, elementType);
      value = vector::ExtractOp::create(
          b, loc,
          combineBeforeStore(vector::BroadcastOp::create(b, loc, one, value),
                             row, head, column, gates),
          0);
    }
    memref::StoreOp::create(b, loc, value, buffer, indices);
  };
  Value source = map.lookup(insert.getSource());
  if (keptDims.size() == 2) {
    // Per-row scalar (lse): lane 0 writes it.
    Value isLaneZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                             lane, index(0));
    auto ifOp = scf::IfOp::create(b, loc, isLaneZero, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    store(source);
    return;
  }
  int64_t lastDim = keptDims[2];
  for (int64_t i = 0; i < cast<VectorType>(source.getType()).getNumElements();
       ++i) {
    Value coord = laneCoord(i);
    indices[lastDim] = add(offsets[lastDim], coord);
    Value element = vector::ExtractOp::create(b, loc, source, i);
    if (valueDim % kWarpSize == 0) {
      store(element, coord);
      continue;
    }
    Value inBounds = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                           coord, index(valueDim));
    auto ifOp = scf::IfOp::create(b, loc, inBounds, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    store(element, coord);
  }
}

//===----------------------------------------------------------------------===//
// Tensor-core kernels
//===----------------------------------------------------------------------===//

LogicalResult TileLoopLowering::emitSlabKernel(gpu::LaunchOp launch) {
  Value threadId = launch.getThreadIds().x;
  threadInCta = threadId;
  Value warp = arith::DivUIOp::create(b, loc, threadId, index(kWarpSize));
  lane = arith::RemUIOp::create(b, loc, threadId, index(kWarpSize));
  Value item = add(arith::MulIOp::create(b, loc, launch.getBlockIds().x,
                                         index(numWarps)),
                   warp);
  Value iteration = arith::DivUIOp::create(b, loc, item, index(slabsPerTile));
  Value slab = arith::RemUIOp::create(b, loc, item, index(slabsPerTile));
  Value iterations = index(1);
  for (Value bound : bounds)
    iterations = arith::MulIOp::create(b, loc, iterations, bound);

  // With warp-private tiles warps are independent, so a warp without work
  // just skips; all branches below are warp-uniform. With CTA-shared tiles
  // the item's tile is the same for all warps of the CTA (slabsPerTile is
  // a multiple of numWarps), so the branches that stage tiles are
  // CTA-uniform, and a warp whose slab is past a ragged last tile computes
  // on clamped rows and stores nothing. wgmma needs every branch around
  // its steps CTA-uniform: which chunks run is decided over the CTA's rows
  // (stagingTokens), never the warp's slab.
  OpBuilder::InsertionGuard guard(b);
  auto ifItem = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, iteration,
                            iterations),
      /*withElseRegion=*/false);
  b.setInsertionPointToStart(&ifItem.getThenRegion().front());
  mapInductionVars(iteration);
  Block *body = forall.getBody();
  if (failed(convertOps(body->begin(), Block::iterator(tileStart()))))
    return failure();

  const SliceInfo &query = slices.lookup(queryTile());
  int64_t heads = cast<RankedTensorType>(queryTile().getType()).getDimSize(1);
  tileRows = arith::MulIOp::create(b, loc, query.sizes[query.keptDims[0]],
                                   index(heads));
  rowBase = arith::MulIOp::create(b, loc, slab, index(kSlabRows));
  ctaRowBase = ctaSharedTiles
                   ? arith::SubIOp::create(
                         b, loc, rowBase,
                         arith::MulIOp::create(b, loc, warp, index(kSlabRows)))
                         .getResult()
                   : rowBase;
  auto ifRows = scf::IfOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, ctaRowBase,
                            tileRows),
      /*withElseRegion=*/false);
  b.setInsertionPointToStart(&ifRows.getThenRegion().front());

  // This lane's rows; rows past the tile compute on a copy of the slab's
  // first row (the tile's last row for a slab past it), or with wgmma on
  // the zero-filled rows of the query tile, and are never stored.
  Value quad = arith::DivUIOp::create(b, loc, lane, index(4));
  Value fallbackRow = arith::MinUIOp::create(
      b, loc, rowBase, arith::SubIOp::create(b, loc, tileRows, index(1)));
  for (int i = 0; i < 2; ++i) {
    Value rowId = add(rowBase, add(quad, index(8 * i)));
    rowValid[i] = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                        rowId, tileRows);
    rowId = arith::SelectOp::create(b, loc, rowValid[i], rowId, fallbackRow);
    rowPos[i] = arith::DivUIOp::create(b, loc, rowId, index(heads));
    rowHead[i] = arith::RemUIOp::create(b, loc, rowId, index(heads));
  }

  // Query A fragments, one set of 4 registers per 16 head dims (wgmma
  // reads the CTA's query rows from shared memory instead).
  lanePair = arith::MulIOp::create(
      b, loc, arith::RemUIOp::create(b, loc, lane, index(4)), index(2));
  auto pairType = VectorType::get({2}, inputType);
  queryFrags.clear();
  if (!wgmma) {
    for (int64_t k = 0; k < headDim / 16; ++k) {
      for (auto [rowSel, colOffset] : {std::pair{0, 0}, std::pair{1, 0},
                                       std::pair{0, 8}, std::pair{1, 8}}) {
        SmallVector<Value> indices(query.offsets);
        indices[query.keptDims[0]] =
            add(indices[query.keptDims[0]], rowPos[rowSel]);
        indices[query.keptDims[1]] =
            add(indices[query.keptDims[1]], rowHead[rowSel]);
        indices[query.keptDims[2]] =
            add(indices[query.keptDims[2]],
                add(lanePair, index(16 * k + colOffset)));
        queryFrags.push_back(vector::LoadOp::create(
            b, loc, pairType, query.buffer, indices, /*nontemporal=*/false,
            vectorAlignment(query.buffer, query.keptDims[2],
                            query.offsets[query.keptDims[2]], 2)));
      }
    }
  }

  // The warp's (or CTA's) shared-memory tiles: per stage [keyChunk][Dk +
  // pad] and [keyChunk][Dv + pad] (wgmma: swizzled panels without padding,
  // after the alignment pad and the query tile); stage 0's by default.
  int64_t warpBytes = ctaSharedTiles ? 0 : sharedMemoryBytes() / numWarps;
  sharedBytes = gpu::DynamicSharedMemoryOp::create(
      b, loc,
      MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                      MemRefLayoutAttrInterface(),
                      gpu::AddressSpaceAttr::get(
                          b.getContext(), gpu::AddressSpace::Workgroup)));
  tileBase = arith::MulIOp::create(b, loc, warp, index(warpBytes));
  if (wgmma) {
    // Round the tiles up to a swizzle atom (warpBytes is 0: shared tiles).
    sharedAddress =
        memref::ExtractAlignedPointerAsIndexOp::create(b, loc, sharedBytes);
    Value atom = index(kSwizzleAtomBytes);
    tileBase = arith::RemUIOp::create(
        b, loc,
        arith::SubIOp::create(
            b, loc, atom, arith::RemUIOp::create(b, loc, sharedAddress, atom)),
        atom);
  }
  // The tiles' space (the query tile's too) is free after the KV walk:
  // each warp stages its output rows in its share of it.
  int64_t tileSpaceBytes = stages * stageBytes() + queryTileBytes();
  outputStageBytes =
      ctaSharedTiles ? tileSpaceBytes / numWarps / 16 * 16 : tileSpaceBytes;
  outputStage =
      ctaSharedTiles
          ? add(tileBase,
                arith::MulIOp::create(b, loc, warp, index(outputStageBytes)))
          : tileBase;
  if (wgmma)
    stageQueryTile(query, heads);
  keyTile = stageTile(index(0), /*isValue=*/false);
  if (valueDim)
    valueTile = stageTile(index(0), /*isValue=*/true);

  return emitTileBody();
}

void TileLoopLowering::waitGroups(int32_t pending) {
  NVVM::CpAsyncWaitGroupOp::create(b, loc, b.getI32IntegerAttr(pending));
}

void TileLoopLowering::waitForTiles(int32_t pending) {
  waitGroups(pending);
  // cp.async writes through the generic proxy; wgmma reads through the
  // async proxy, which sees them only after this fence.
  if (wgmma)
    NVVM::FenceProxyOp::create(
        b, loc, NVVM::ProxyKind::async_shared,
        NVVM::SharedSpaceAttr::get(b.getContext(),
                                   NVVM::SharedSpace::shared_cta));
  syncTileUsers();
}

void TileLoopLowering::syncTileUsers() {
  if (ctaSharedTiles) {
    gpu::BarrierOp::create(b, loc);
    return;
  }
  NVVM::SyncWarpOp::create(b, loc, i32(-1));
}

Value TileLoopLowering::stageTile(Value stage, bool isValue) {
  int64_t keyBytes = keyChunk * (headDim + rowPad()) * inputBytes();
  Value shift =
      add(tileBase, arith::MulIOp::create(b, loc, stage, index(stageBytes())));
  if (isValue)
    shift = add(shift, index(keyBytes));
  int64_t dim = isValue ? valueDim : headDim;
  // wgmma: the dim / 64 panels stacked, rows x 64 each.
  if (wgmma)
    return sharedView({dim / kWgmmaPanel * keyChunk, kWgmmaPanel}, shift);
  return sharedView({keyChunk, dim + kRowPad}, shift);
}

std::pair<Value, Value> TileLoopLowering::tileIndices(Value row, Value column,
                                                      int64_t rows) {
  if (!wgmma)
    return {row, column};
  // Column is a multiple of 8 (a 16-byte chunk).
  Value panel = arith::DivUIOp::create(b, loc, column, index(kWgmmaPanel));
  Value chunk = arith::DivUIOp::create(
      b, loc, arith::RemUIOp::create(b, loc, column, index(kWgmmaPanel)),
      index(8));
  Value swizzled = arith::XOrIOp::create(
      b, loc, chunk, arith::RemUIOp::create(b, loc, row, index(8)));
  return {add(arith::MulIOp::create(b, loc, panel, index(rows)), row),
          arith::MulIOp::create(b, loc, swizzled, index(8))};
}

void TileLoopLowering::stageQueryTile(const SliceInfo &query, int64_t heads) {
  queryRows = sharedView({headDim / kWgmmaPanel * kWarpgroupRows, kWgmmaPanel},
                         tileBase);
  tileBase = add(tileBase, index(queryTileBytes()));
  int64_t segments = headDim / 8;
  int64_t copies = kWarpgroupRows * segments;
  int64_t copiers = numWarps * kWarpSize;
  // 64 rows of whole panels split evenly over the warpgroup's threads.
  assert(copies % copiers == 0 && "query copies split evenly");
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(b.getContext());
  Value lastRow = arith::SubIOp::create(b, loc, tileRows, index(1));
  for (int64_t i = 0, e = llvm::divideCeil(copies, copiers); i < e; ++i) {
    auto [row, column] =
        copySlot(add(threadInCta, index(i * copiers)), segments);
    Value rowId = add(ctaRowBase, row);
    Value valid = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                        rowId, tileRows);
    // An in-bounds source address for the zero-filled rows.
    rowId = arith::SelectOp::create(b, loc, valid, rowId, lastRow);
    SmallVector<Value> indices(query.offsets);
    indices[query.keptDims[0]] =
        add(indices[query.keptDims[0]],
            arith::DivUIOp::create(b, loc, rowId, index(heads)));
    indices[query.keptDims[1]] =
        add(indices[query.keptDims[1]],
            arith::RemUIOp::create(b, loc, rowId, index(heads)));
    indices[query.keptDims[2]] = add(indices[query.keptDims[2]], column);
    auto [tileRow, tileColumn] = tileIndices(row, column, kWarpgroupRows);
    nvgpu::DeviceAsyncCopyOp::create(
        b, loc, tokenType, queryRows, ValueRange{tileRow, tileColumn},
        query.buffer, indices, b.getIndexAttr(8),
        arith::SelectOp::create(b, loc, valid, index(8), index(0)),
        b.getUnitAttr());
  }
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
  waitForTiles(0);
}

std::pair<Value, Value>
TileLoopLowering::chunkToStage(Value chunk, Value count,
                               function_ref<Value(Value, Value)> needed) {
  Value exists =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, chunk, count);
  Value n = arith::SelectOp::create(b, loc, exists, chunkKeys(count, chunk),
                                    index(1));
  return {arith::AndIOp::create(b, loc, exists, needed(chunk, n)), n};
}

void TileLoopLowering::stageRingChunk(const Ring &ring, Value stage,
                                      Value chunk) {
  auto [enabled, n] = chunkToStage(chunk, ring.count, ring.needed);
  {
    OpBuilder::InsertionGuard guard(b);
    auto ifEnabled = scf::IfOp::create(b, loc, enabled, false);
    b.setInsertionPointToStart(&ifEnabled.getThenRegion().front());
    issueChunkCopies(ring.key, stageTile(stage, false), headDim, chunk, n);
    if (ring.value)
      issueChunkCopies(*ring.value, stageTile(stage, true), valueDim, chunk, n);
  }
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
}

void TileLoopLowering::fillRing(const Ring &ring) {
  syncTileUsers();
  for (int64_t stage = 0; stage + 1 < stages; ++stage)
    stageRingChunk(ring, index(stage), index(stage * keyChunk));
}

void TileLoopLowering::refillRing(const Ring &ring, Value chunk,
                                  Value ordinal) {
  // Every thread is done with stage c - 1 = c + S - 1 (mod S).
  syncTileUsers();
  stageRingChunk(ring,
                 arith::RemUIOp::create(b, loc, add(ordinal, index(stages - 1)),
                                        index(stages)),
                 add(chunk, index((stages - 1) * keyChunk)));
  waitForTiles(stages - 1);
}

void TileLoopLowering::bindRingStage(Value ordinal) {
  Value stage = arith::RemUIOp::create(b, loc, ordinal, index(stages));
  keyTile = stageTile(stage, /*isValue=*/false);
  if (valueDim)
    valueTile = stageTile(stage, /*isValue=*/true);
}

void TileLoopLowering::stageChunk(const SliceInfo &slice, Value tile,
                                  int64_t dim, Value chunk, Value n,
                                  Value enabled) {
  if (enabled) {
    OpBuilder::InsertionGuard guard(b);
    auto ifEnabled = scf::IfOp::create(b, loc, enabled, false);
    b.setInsertionPointToStart(&ifEnabled.getThenRegion().front());
    issueChunkCopies(slice, tile, dim, chunk, n);
  } else {
    issueChunkCopies(slice, tile, dim, chunk, n);
  }
  NVVM::CpAsyncCommitGroupOp::create(b, loc);
}

void TileLoopLowering::issueChunkCopies(const SliceInfo &slice, Value tile,
                                        int64_t dim, Value chunk, Value n) {
  // Each row is dim / 8 copies of 16 bytes; the lanes (threads of the CTA
  // for shared tiles) take consecutive copies, so a row is read by
  // consecutive lanes (coalesced).
  int64_t segments = dim / 8;
  int64_t copies = keyChunk * segments;
  auto [copier, copiers] = rowWalkers();
  auto tokenType = nvgpu::DeviceAsyncTokenType::get(b.getContext());
  // Shared tiles are copied once per CTA: bypass L1 (.cg). Warp-private
  // tiles are copied by every warp, and the CTA's warps are neighbouring
  // positions that mostly stage the same blocks: keep them in L1 (.ca).
  UnitAttr bypassL1 = ctaSharedTiles ? b.getUnitAttr() : UnitAttr();
  // One 16-byte copy into (rowInTile, column) of the tile from the slice's
  // element at (sourceRow, sourceColumn), both already offset into the
  // buffer; no sourceElements copies all 8.
  auto copy16 = [&](Value rowInTile, Value column, Value sourceRow,
                    Value sourceColumn, Value sourceElements) {
    SmallVector<Value> indices(slice.offsets);
    indices[slice.keptDims[0]] = sourceRow;
    indices[slice.keptDims[1]] = sourceColumn;
    auto [tileRow, tileColumn] = tileIndices(rowInTile, column, keyChunk);
    nvgpu::DeviceAsyncCopyOp::create(
        b, loc, tokenType, tile, ValueRange{tileRow, tileColumn}, slice.buffer,
        indices, b.getIndexAttr(8), sourceElements, bypassL1);
  };
  Value rowOffset = slice.offsets[slice.keptDims[0]];
  Value columnOffset = slice.offsets[slice.keptDims[1]];
  auto copyClamped = [&] {
    for (int64_t i = 0, e = llvm::divideCeil(copies, copiers); i < e; ++i) {
      Value copy = add(copier, index(i * copiers));
      auto [rowInTile, column] = copySlot(copy, segments);
      // Rows past the chunk (and copies past the tile) read nothing and
      // zero-fill, from a clamped in-bounds address.
      Value valid = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                          rowInTile, n);
      Value sourceRow =
          arith::SelectOp::create(b, loc, valid, rowInTile, index(0));
      Value tileRow =
          arith::MinUIOp::create(b, loc, rowInTile, index(keyChunk - 1));
      Value sourceElements =
          arith::SelectOp::create(b, loc, valid, index(8), index(0));
      if (copies % copiers != 0) {
        Value inTile = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                             copy, index(copies));
        sourceElements =
            arith::SelectOp::create(b, loc, inTile, sourceElements, index(0));
      }
      copy16(tileRow, column, add(rowOffset, add(chunk, sourceRow)),
             add(columnOffset, column), sourceElements);
    }
  };
  if (copies % copiers != 0 || copiers % segments != 0) {
    copyClamped();
    return;
  }
  // A full chunk (every chunk of a block but a causally cut last one) needs
  // no clamping, and each lane copies the same column of rows a fixed
  // stride apart: per copy only the row offset changes, which keeps the
  // address arithmetic off the selected kernel's issue slots.
  Value full = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, n,
                                     index(keyChunk));
  auto ifFull = scf::IfOp::create(b, loc, full, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&ifFull.getThenRegion().front());
  auto [firstRow, column] = copySlot(copier, segments);
  // The source row is (offset + chunk + firstRow) + constant: LLVM folds
  // the constant into the address's immediate offset.
  Value firstSourceRow = add(rowOffset, add(chunk, firstRow));
  Value sourceColumn = add(columnOffset, column);
  for (int64_t i = 0, e = copies / copiers; i < e; ++i) {
    Value step = index(i * (copiers / segments));
    Value sourceRow = add(firstSourceRow, step);
    copy16(add(firstRow, step), column, sourceRow, sourceColumn,
           /*sourceElements=*/Value());
  }
  b.setInsertionPointToStart(&ifFull.getElseRegion().front());
  copyClamped();
}

void TileLoopLowering::emitPrefetch(PrefetchTileOp op) {
  constexpr int64_t kLineBytes = 128;
  auto [prefetcher, prefetchers] = rowWalkers();
  auto pointerType = LLVM::LLVMPointerType::get(b.getContext());
  for (Value rows : {op.getKey(), op.getValue()}) {
    const SliceInfo &slice = slices.lookup(rows);
    auto bufferType = cast<MemRefType>(slice.buffer.getType());
    int64_t elementBytes = bufferType.getElementTypeBitWidth() / 8;
    auto metadata =
        memref::ExtractStridedMetadataOp::create(b, loc, slice.buffer);
    Value base =
        memref::ExtractAlignedPointerAsIndexOp::create(b, loc, slice.buffer);
    Value numRows = slice.sizes[slice.keptDims[0]];
    Value rowBytes = arith::MulIOp::create(
        b, loc, slice.sizes[slice.keptDims[1]], index(elementBytes));
    Value linesPerRow =
        arith::CeilDivUIOp::create(b, loc, rowBytes, index(kLineBytes));
    Value lines = arith::MulIOp::create(b, loc, numRows, linesPerRow);
    auto loop =
        scf::ForOp::create(b, loc, prefetcher, lines, index(prefetchers));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(loop.getBody());
    Value line = loop.getInductionVar();
    Value row = arith::DivUIOp::create(b, loc, line, linesPerRow);
    Value lineInRow = arith::RemUIOp::create(b, loc, line, linesPerRow);
    // Element offset of the row's first element, then the line's bytes.
    Value element = metadata.getOffset();
    for (auto [dim, offset] : llvm::enumerate(slice.offsets)) {
      Value coordinate = static_cast<int64_t>(dim) == slice.keptDims[0]
                             ? add(offset, row)
                             : offset;
      element = add(element, arith::MulIOp::create(b, loc, coordinate,
                                                   metadata.getStrides()[dim]));
    }
    Value address = add(
        base, add(arith::MulIOp::create(b, loc, element, index(elementBytes)),
                  arith::MulIOp::create(b, loc, lineInRow, index(kLineBytes))));
    Value pointer =
        LLVM::IntToPtrOp::create(b, loc, pointerType,
                                 ValueRange{arith::IndexCastUIOp::create(
                                     b, loc, b.getI64Type(), address)});
    NVVM::PrefetchOp::create(b, loc,
                             NVVM::PrefetchCacheLevelAttr::get(
                                 b.getContext(), NVVM::PrefetchCacheLevel::L2),
                             /*evictPriority=*/nullptr, pointer,
                             /*predicate=*/Value());
  }
}

Value TileLoopLowering::ldmatrix(Value tile, Value rowIndex, Value colIndex,
                                 int64_t numTiles, bool transpose) {
  auto type = VectorType::get({numTiles, 2}, inputType);
  return nvgpu::LdMatrixOp::create(b, loc, type, tile,
                                   ValueRange{rowIndex, colIndex}, transpose,
                                   numTiles);
}

Value TileLoopLowering::packedOperand(Value pair) {
  Value packed = vector::BitCastOp::create(
      b, loc, VectorType::get({1}, b.getI32Type()), pair);
  return vector::ExtractOp::create(b, loc, packed, 0);
}

SmallVector<Value> TileLoopLowering::mma(ArrayRef<Value> a,
                                         ArrayRef<Value> bFrag,
                                         ArrayRef<Value> c) {
  // bf16 operands go to NVVM packed as i32 (nvgpu.mma.sync cannot type
  // bf16 in MLIR 22); f16 ones as vector<2xf16>.
  bool isBF16 = inputType.isBF16();
  auto operand = [&](Value pairValue) -> Value {
    return isBF16 ? packedOperand(pairValue) : pairValue;
  };
  SmallVector<Value> aOps, bOps;
  for (Value value : a)
    aOps.push_back(operand(value));
  for (Value value : bFrag)
    bOps.push_back(operand(value));
  Type f32 = b.getF32Type();
  auto resultType =
      LLVM::LLVMStructType::getLiteral(b.getContext(), {f32, f32, f32, f32});
  NVVM::MMATypes ptxType = isBF16 ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  auto op = NVVM::MmaOp::create(
      b, loc, resultType, aOps, bOps, c, ArrayRef<int64_t>{16, 8, 16},
      std::nullopt, std::nullopt,
      std::array<NVVM::MMATypes, 2>{ptxType, ptxType},
      std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                     NVVM::MMALayout::col});
  SmallVector<Value> d;
  for (int64_t i = 0; i < 4; ++i)
    d.push_back(LLVM::ExtractValueOp::create(b, loc, op.getRes(), i));
  return d;
}

Value TileLoopLowering::wgmmaDescriptor(Value tile, Value byteOffset,
                                        int64_t leadingBytes,
                                        int64_t strideBytes) {
  // Bits 0-13: start address / 16; 16-29: leading byte offset / 16; 32-45:
  // stride byte offset / 16; 62-63: 1 = 128-byte swizzle (PTX ISA, "Matrix
  // Descriptor Format").
  constexpr uint64_t kSwizzle128 = 1;
  constexpr int64_t kStartMask = (1 << 14) - 1;
  uint64_t fixed = (static_cast<uint64_t>(leadingBytes >> 4) << 16) |
                   (static_cast<uint64_t>(strideBytes >> 4) << 32) |
                   (kSwizzle128 << 62);
  Value address = add(sharedAddress, add(tileByteShift(tile), byteOffset));
  Type i64 = b.getI64Type();
  Value shifted = arith::ShRUIOp::create(
      b, loc, arith::IndexCastUIOp::create(b, loc, i64, address),
      arith::ConstantIntOp::create(b, loc, i64, 4));
  Value mask = arith::ConstantIntOp::create(b, loc, i64, kStartMask);
  Value start = arith::AndIOp::create(b, loc, shifted, mask);
  return arith::OrIOp::create(
      b, loc, start,
      arith::ConstantIntOp::create(b, loc, i64, static_cast<int64_t>(fixed)));
}

SmallVector<Value> TileLoopLowering::tiedAsm(StringRef asmString,
                                             ArrayRef<Value> tied,
                                             ArrayRef<Value> inputs) {
  // PTX register classes: f32 "f", b32 "r", b64 "l".
  auto registerClass = [](Type type) {
    return type.isF32() ? "f" : type.isInteger(64) ? "l" : "r";
  };
  std::string constraints;
  llvm::raw_string_ostream os(constraints);
  SmallVector<Type> types;
  for (auto [i, value] : llvm::enumerate(tied)) {
    types.push_back(value.getType());
    os << (i ? "," : "") << "=" << registerClass(value.getType());
  }
  for (Value input : inputs)
    os << "," << registerClass(input.getType());
  for (size_t i = 0; i < tied.size(); ++i)
    os << "," << i;
  SmallVector<Value> operands(inputs);
  llvm::append_range(operands, tied);
  auto resultType = LLVM::LLVMStructType::getLiteral(b.getContext(), types);
  auto op = LLVM::InlineAsmOp::create(
      b, loc, resultType, operands, asmString, constraints,
      /*has_side_effects=*/true, /*is_align_stack=*/false,
      LLVM::tailcallkind::TailCallKind::None,
      LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
      /*operand_attrs=*/ArrayAttr());
  SmallVector<Value> results;
  for (size_t i = 0; i < tied.size(); ++i)
    results.push_back(LLVM::ExtractValueOp::create(b, loc, op.getRes(), i));
  return results;
}

SmallVector<Value> TileLoopLowering::wgmmaStep(ArrayRef<Value> aFrag,
                                               Value descriptor,
                                               ArrayRef<Value> acc,
                                               bool transposeB,
                                               bool accumulate) {
  int64_t n = 2 * static_cast<int64_t>(acc.size());
  std::string asmString;
  llvm::raw_string_ostream os(asmString);
  StringRef type = inputType.isBF16() ? "bf16" : "f16";
  // Operands: $0.. the accumulators (out), then A (one shared-memory
  // descriptor, K-major and not transposed, or the warp's 4 registers),
  // the B descriptor and scale-d (1: accumulate, as P V onto the rescaled
  // O; 0 for S's first step, which overwrites undefined accumulators).
  bool aInShared = aFrag.size() == 1;
  size_t a = acc.size();
  size_t scale = a + aFrag.size() + 1;
  os << "{\n.reg .pred p;\nsetp.ne.b32 p, $" << scale
     << ", 0;\nwgmma.mma_async.sync.aligned.m64n" << n << "k16.f32." << type
     << "." << type << " {";
  for (size_t i = 0; i < a; ++i)
    os << (i ? ", $" : "$") << i;
  if (aInShared)
    os << "}, $" << a;
  else
    os << "}, {$" << a << ", $" << a + 1 << ", $" << a + 2 << ", $" << a + 3
       << "}";
  os << ", $" << scale - 1 << ", p, 1, 1, " << (aInShared ? "0, " : "")
     << (transposeB ? 1 : 0) << ";\n}";
  SmallVector<Value> inputs(aFrag);
  inputs.push_back(descriptor);
  inputs.push_back(i32(accumulate ? 1 : 0));
  return tiedAsm(asmString, acc, inputs);
}

SmallVector<Value> TileLoopLowering::wgmmaFence(ArrayRef<Value> registers) {
  return tiedAsm("wgmma.fence.sync.aligned;", registers);
}

SmallVector<Value> TileLoopLowering::wgmmaWait(ArrayRef<Value> acc,
                                               ArrayRef<Value> sources) {
  SmallVector<Value> tied(acc);
  llvm::append_range(tied, sources);
  SmallVector<Value> results = tiedAsm(
      "wgmma.commit_group.sync.aligned;\nwgmma.wait_group.sync.aligned 0;",
      tied);
  results.resize(acc.size());
  return results;
}

Value TileLoopLowering::exp2Ftz(Value x) {
  return LLVM::InlineAsmOp::create(
             b, loc, b.getF32Type(), ValueRange{x},
             "ex2.approx.ftz.f32 $0, $1;", "=f,f",
             /*has_side_effects=*/false, /*is_align_stack=*/false,
             LLVM::tailcallkind::TailCallKind::None,
             LLVM::AsmDialectAttr::get(b.getContext(),
                                       LLVM::AsmDialect::AD_ATT),
             /*operand_attrs=*/ArrayAttr())
      .getRes();
}

Value TileLoopLowering::quadReduce(Value value, bool isMax) {
  // The 4 lanes of a quad hold the columns of the same two rows.
  for (int64_t offset : {1, 2}) {
    Value other = gpu::ShuffleOp::create(b, loc, value, offset, kWarpSize,
                                         gpu::ShuffleMode::XOR)
                      .getShuffleResult();
    value = isMax ? arith::MaximumFOp::create(b, loc, value, other).getResult()
                  : arith::AddFOp::create(b, loc, value, other).getResult();
  }
  return value;
}

SmallVector<SmallVector<Value>> TileLoopLowering::scoreFragments() {
  const int64_t keyTiles = keyTilesPerChunk();
  if (wgmma) {
    // S = Q K^T for the warpgroup's 64 rows and the chunk's keys, one
    // m64nKk16 step per 16 head dims. K is K-major: a step's 16 dims are
    // 32 bytes into a panel's lines, and 8-key groups are 1024 bytes apart
    // (stride; the leading offset is unused with swizzling).
    // Q (A) is read from its swizzled tile like K, so no registers hold it
    // across the chunk loop.
    // The first step overwrites the accumulators (scale-d = 0): they start
    // undefined instead of as 4 * keyTiles zeroing moves per chunk.
    SmallVector<Value> acc(4 * keyTiles,
                           LLVM::PoisonOp::create(b, loc, b.getF32Type()));
    acc = wgmmaFence(acc);
    for (int64_t k = 0; k < headDim / 16; ++k) {
      int64_t dim = 16 * k;
      auto panelOffset = [&](int64_t rows) {
        return index(dim / kWgmmaPanel * rows * kSwizzleBytes +
                     dim % kWgmmaPanel * 2);
      };
      Value queryDescriptor =
          wgmmaDescriptor(queryRows, panelOffset(kWarpgroupRows),
                          kUnusedLeadingBytes, kSwizzleAtomBytes);
      Value keyDescriptor =
          wgmmaDescriptor(keyTile, panelOffset(keyChunk), kUnusedLeadingBytes,
                          kSwizzleAtomBytes);
      acc = wgmmaStep({queryDescriptor}, keyDescriptor, acc,
                      /*transposeB=*/false, /*accumulate=*/k > 0);
    }
    acc = wgmmaWait(acc);
    // The accumulators of n-tile j are laid out as mma.sync's C fragment.
    SmallVector<SmallVector<Value>> scores(keyTiles);
    for (int64_t j = 0; j < keyTiles; ++j)
      scores[j].assign(acc.begin() + 4 * j, acc.begin() + 4 * j + 4);
    return scores;
  }
  // S = Q K^T: the chunk's keys as n-tiles of 8; B fragments by ldmatrix from
  // the key tile (rows = keys), two k-steps per x4 load.
  Value lane8 = arith::RemUIOp::create(b, loc, lane, index(8));
  Value laneOctet = arith::DivUIOp::create(b, loc, lane, index(8));
  int64_t kSteps = headDim / 16;
  Value zero = f32(0.0);
  SmallVector<SmallVector<Value>> scores(keyTiles);
  for (int64_t j = 0; j < keyTiles; ++j) {
    SmallVector<Value> c(4, zero);
    Value tileRow = add(lane8, index(8 * j));
    for (int64_t k = 0; k < kSteps; k += 2) {
      bool twoSteps = k + 1 < kSteps;
      Value col = add(arith::MulIOp::create(
                          b, loc,
                          twoSteps ? laneOctet
                                   : arith::RemUIOp::create(b, loc, laneOctet,
                                                            index(2)),
                          index(8)),
                      index(16 * k));
      Value frag = ldmatrix(keyTile, tileRow, col, twoSteps ? 4 : 2,
                            /*transpose=*/false);
      auto part = [&](int64_t i) {
        return vector::ExtractOp::create(b, loc, frag, i).getResult();
      };
      c = mma(ArrayRef<Value>(queryFrags).slice(4 * k, 4), {part(0), part(1)},
              c);
      if (twoSteps)
        c = mma(ArrayRef<Value>(queryFrags).slice(4 * (k + 1), 4),
                {part(2), part(3)}, c);
    }
    scores[j] = c;
  }
  return scores;
}

SlabTokens TileLoopLowering::slabTokens(Value queryPos) {
  return rowSpanTokens(queryPos, rowBase, kSlabRows);
}

SlabTokens TileLoopLowering::stagingTokens(Value queryPos) {
  if (!ctaSharedTiles)
    return slabTokens(queryPos);
  return rowSpanTokens(queryPos, ctaRowBase, numWarps * kSlabRows);
}

SlabTokens TileLoopLowering::rowSpanTokens(Value queryPos, Value firstRow,
                                           int64_t rows) {
  int64_t heads = cast<RankedTensorType>(queryTile().getType()).getDimSize(1);
  Value lastValidRow = arith::SubIOp::create(b, loc, tileRows, index(1));
  Value first = arith::MinUIOp::create(b, loc, firstRow, lastValidRow);
  Value last = arith::MinUIOp::create(b, loc, add(firstRow, index(rows - 1)),
                                      lastValidRow);
  return {add(queryPos, arith::DivUIOp::create(b, loc, first, index(heads))),
          add(queryPos, arith::DivUIOp::create(b, loc, last, index(heads)))};
}

SmallVector<SmallVector<Value>> TileLoopLowering::maskScores(
    ArrayRef<SmallVector<Value>> scores, Value chunk, Value n,
    const KeyMap &keys, std::optional<int64_t> window,
    ArrayRef<Value> queryToken, const SlabTokens &slab, MaskedScoresUse use) {
  const int64_t keyTiles = keyTilesPerChunk();
  double negInf = -std::numeric_limits<double>::infinity();
  auto keyToken = [&](Value keyRow) { return this->keyToken(keys, keyRow); };
  Value slabFirstToken = slab.first, slabLastToken = slab.last;
  auto flatten = [&](ArrayRef<SmallVector<Value>> tiles, bool full) {
    SmallVector<Value> flat;
    for (const SmallVector<Value> &tile : tiles)
      llvm::append_range(flat, tile);
    if (!use)
      return flat;
    SmallVector<Value> used = use(flat, full);
    assert(used.size() == flat.size() && "one value per score");
    return used;
  };
  SmallVector<SmallVector<Value>> masked(scores);

  // A full chunk that every row of the slab sees entirely (the common case
  // away from the diagonal and the window's edge) needs no per-key masks.
  Value fullyVisible = arith::AndIOp::create(
      b, loc,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, n,
                            index(keyChunk)),
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle,
                            keyToken(add(chunk, index(keyChunk - 1))),
                            slabFirstToken));
  if (window)
    fullyVisible = arith::AndIOp::create(
        b, loc, fullyVisible,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                              add(keyToken(chunk), index(*window)),
                              slabLastToken));
  SmallVector<Type> types(4 * keyTiles, b.getF32Type());
  auto ifFull = scf::IfOp::create(b, loc, types, fullyVisible, true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(&ifFull.getThenRegion().front());
  scf::YieldOp::create(b, loc, flatten(masked, /*full=*/true));
  b.setInsertionPointToStart(&ifFull.getElseRegion().front());
  // Which keys of a partly visible chunk a row sees. The wgmma kernels
  // bound each row's visible columns once per chunk: key row x has token
  // stride * x + offset, so with x = keyPos + chunk + column
  //   causal:  token <= q      <=> x <= floor((q - offset) / stride),
  //   window:  token + w > q   <=> x >  floor((q - w - offset) / stride),
  // and column < n, one range [lo, hi). Taken relative to the lane's first
  // column and clamped to [0, keyChunk], a score's test is an i32 compare
  // of its constant column offset (8 j + e % 2) per bound: 2 or 3
  // instructions instead of ~10 of 64-bit token arithmetic. The bounds are
  // i32 from the start (positions and key rows are far below 2^31: a KV
  // tensor of 2^31 tokens would not fit in memory), so their hoisted
  // chunk-invariant part holds 32-bit registers. The mma.sync kernels keep
  // the per-key token compares: the selected kernel, bound by its K/V
  // reads, measured 0.4-2% slower with the bounds.
  Value hi[2], lo[2];
  if (wgmma) {
    auto toI32 = [&](Value value) {
      return arith::IndexCastOp::create(b, loc, b.getI32Type(), value)
          .getResult();
    };
    Value chunkFirst = toI32(chunk), lanePairI32 = toI32(lanePair);
    auto relativeBound = [&](Value tokenLimit, Value cap) -> Value {
      Value lastRow = arith::FloorDivSIOp::create(
          b, loc, arith::SubIOp::create(b, loc, tokenLimit, index(keys.offset)),
          index(keys.stride));
      Value invariant = toI32(arith::SubIOp::create(
          b, loc, add(lastRow, index(1)), add(keys.keyPos, lanePair)));
      Value bound = arith::SubIOp::create(b, loc, invariant, chunkFirst);
      if (cap)
        bound = arith::MinSIOp::create(
            b, loc, bound,
            arith::SubIOp::create(b, loc, toI32(cap), lanePairI32));
      return arith::MaxSIOp::create(
          b, loc, arith::MinSIOp::create(b, loc, bound, i32(keyChunk)), i32(0));
    };
    for (int row = 0; row < 2; ++row) {
      hi[row] = relativeBound(queryToken[row], n);
      if (window)
        lo[row] = relativeBound(
            arith::SubIOp::create(b, loc, queryToken[row], index(*window)),
            Value());
    }
  }
  auto visibleAt = [&](int64_t j, int64_t e) -> Value {
    int rowSel = e / 2;
    if (wgmma) {
      Value column = i32(8 * j + e % 2);
      Value visible = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                            column, hi[rowSel]);
      if (!window)
        return visible;
      return arith::AndIOp::create(
          b, loc, visible,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, column,
                                lo[rowSel]));
    }
    Value column = add(lanePair, index(8 * j + e % 2));
    Value token = keyToken(add(chunk, column));
    Value visible = arith::AndIOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, column, n),
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, token,
                              queryToken[rowSel]));
    if (!window)
      return visible;
    return arith::AndIOp::create(
        b, loc, visible,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                              add(token, index(*window)), queryToken[rowSel]));
  };
  for (int64_t j = 0; j < keyTiles; ++j)
    for (int64_t e = 0; e < 4; ++e)
      masked[j][e] = arith::SelectOp::create(b, loc, visibleAt(j, e),
                                             masked[j][e], f32(negInf));
  scf::YieldOp::create(b, loc, flatten(masked, /*full=*/false));
  SmallVector<SmallVector<Value>> result(keyTiles);
  for (int64_t j = 0; j < keyTiles; ++j)
    for (int64_t e = 0; e < 4; ++e)
      result[j].push_back(ifFull.getResult(4 * j + e));
  return result;
}

void TileLoopLowering::emitAttendMma(AttendTileOp op) {
  const SliceInfo &key = slices.lookup(op.getKey());
  const SliceInfo &value = slices.lookup(op.getValue());
  Value count = key.sizes[key.keptDims[0]];
  Value queryPos = map.lookupOrDefault(op.getQueryPos());
  KeyMap keys = keyMapOf(op);
  std::optional<int64_t> window;
  if (IntegerAttr windowAttr = op.getWindowAttr())
    window = windowAttr.getInt();
  // Scores in the log2 domain: exp(s - m) = exp2(s * log2e - m * log2e).
  double scaleLog2 = op.getScale().convertToDouble() * M_LOG2E;
  double negInf = -std::numeric_limits<double>::infinity();
  auto keyToken = [&](Value keyRow) { return this->keyToken(keys, keyRow); };
  // The ring rebinds the tiles to a chunk's stage inside the chunk loop.
  llvm::scope_exit restoreTiles(
      [&, wholeKey = keyTile, wholeValue = valueTile] {
        keyTile = wholeKey;
        valueTile = wholeValue;
      });
  Value queryToken[2] = {add(queryPos, rowPos[0]), add(queryPos, rowPos[1])};
  SlabTokens slab = slabTokens(queryPos);
  SlabTokens staged = stagingTokens(queryPos);
  Value lane8 = arith::RemUIOp::create(b, loc, lane, index(8));
  Value laneOctet = arith::DivUIOp::create(b, loc, lane, index(8));

  // Chunk c holds keys [c, c + n(c)); it is skipped when no row of the
  // slab (of the CTA, for shared tiles) can see it (causal or window).
  auto chunkSize = [&](Value chunk) { return chunkKeys(count, chunk); };
  auto chunkNeeded = [&](Value chunk, Value n) {
    Value needed = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle,
                                         keyToken(chunk), staged.last);
    if (window) {
      Value lastKey =
          keyToken(arith::SubIOp::create(b, loc, add(chunk, n), index(1)));
      needed = arith::AndIOp::create(
          b, loc, needed,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                add(lastKey, index(*window)), staged.first));
    }
    return needed;
  };

  Ring ring{key, &value, count, chunkNeeded};
  const int64_t keyTiles = keyTilesPerChunk();

  // Software pipeline over the chunks. With one stage, two cp.async groups
  // per chunk (K, then V): chunk c + 1's keys load while chunk c's softmax
  // and P V run, and its values while its own S = Q K^T runs. With a ring
  // of S stages, one group per chunk: chunk c + S - 1 loads while chunk c
  // computes. Prologue: chunk 0 (chunks 0 .. S - 2 for the ring).
  if (pipelinedRing()) {
    fillRing(ring);
  } else {
    syncTileUsers();
    // Chunk 0 needs no size guard: an empty tile disables its copies.
    Value first = index(0);
    Value n = chunkSize(first);
    Value enabled = arith::AndIOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, first, count),
        chunkNeeded(first, n));
    stageChunk(key, keyTile, headDim, first, n, enabled);
    stageChunk(value, valueTile, valueDim, first, n, enabled);
  }

  SmallVector<Value> state;
  for (Value operand : op.getState())
    state.push_back(map.lookup(operand));
  auto chunkLoop =
      scf::ForOp::create(b, loc, index(0), count, index(keyChunk), state);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(chunkLoop.getBody());
    Value chunk = chunkLoop.getInductionVar();
    ValueRange current = chunkLoop.getRegionIterArgs();
    Value n = chunkSize(chunk);
    Value needed = chunkNeeded(chunk, n);
    // The one-stage pipeline loads the next chunk in place.
    Value next, nextEnabled, nextN;
    if (pipelinedRing()) {
      Value ordinal = chunkOrdinal(chunk);
      refillRing(ring, chunk, ordinal);
      bindRingStage(ordinal);
    } else {
      next = add(chunk, index(keyChunk));
      std::tie(nextEnabled, nextN) = chunkToStage(next, count, chunkNeeded);
    }
    auto ifNeeded = scf::IfOp::create(b, loc, TypeRange(current), needed,
                                      /*withElseRegion=*/true);
    b.setInsertionPointToStart(&ifNeeded.getElseRegion().front());
    if (!pipelinedRing()) {
      // A skipped chunk issued no copies: nothing is in flight into the
      // tiles, so the next chunk's copies can start at once.
      stageChunk(key, keyTile, headDim, next, nextN, nextEnabled);
      stageChunk(value, valueTile, valueDim, next, nextN, nextEnabled);
    }
    scf::YieldOp::create(b, loc, current);
    b.setInsertionPointToStart(&ifNeeded.getThenRegion().front());

    if (!pipelinedRing()) {
      // Pending: K(c), V(c). Keys landed once at most one group is pending.
      waitForTiles(1);
    }
    SmallVector<SmallVector<Value>> scores = scoreFragments();
    if (!pipelinedRing()) {
      // Every lane has read the key tile: load the next chunk's keys.
      syncTileUsers();
      stageChunk(key, keyTile, headDim, next, nextN, nextEnabled);
    }

    // Mask, then the online-softmax update for the lane's two rows in the
    // log2 domain. The row max is taken over the raw scores and scaled
    // once (a positive scale and monotonic rounding keep the max), and each
    // p = exp2(s * scale - max) is one fma.
    Value maxOld[2], sumOld[2], rowMax[2];
    for (int i = 0; i < 2; ++i) {
      maxOld[i] = vector::ExtractOp::create(b, loc, current[0], i);
      sumOld[i] = vector::ExtractOp::create(b, loc, current[1], i);
      rowMax[i] = f32(negInf);
    }
    scores = maskScores(scores, chunk, n, keys, window, queryToken, slab);
    for (int64_t j = 0; j < keyTiles; ++j)
      for (int64_t e = 0; e < 4; ++e)
        rowMax[e / 2] =
            arith::MaximumFOp::create(b, loc, rowMax[e / 2], scores[j][e]);
    // Lazy rescaling: a row keeps its running max until a chunk raises it
    // by more than kLazyRescaleLog2, so its p stay below 2^8 (exact: the
    // sum and the accumulators share the stale max, and P's bf16/f16
    // rounding is relative). Only when some row of the warp moves are the
    // sums and the Dv / 2 accumulators rescaled, a branch uniform over the
    // warp; most chunks past the first few skip it.
    Value maxNew[2], maxSafe[2], grows[2];
    for (int i = 0; i < 2; ++i) {
      Value candidate = arith::MaximumFOp::create(
          b, loc, maxOld[i],
          arith::MulFOp::create(b, loc, quadReduce(rowMax[i], true),
                                f32(scaleLog2)));
      grows[i] = arith::CmpFOp::create(
          b, loc, arith::CmpFPredicate::OGT, candidate,
          arith::AddFOp::create(b, loc, maxOld[i], f32(kLazyRescaleLog2)));
      maxNew[i] =
          arith::SelectOp::create(b, loc, grows[i], candidate, maxOld[i]);
      // A row that has seen nothing yet keeps max -inf; subtract 0 then, so
      // exp2 gives 0 rather than NaN.
      Value unseen = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                           maxNew[i], f32(negInf));
      maxSafe[i] = arith::SelectOp::create(b, loc, unseen, f32(0.0), maxNew[i]);
    }
    Value anyGrows = NVVM::VoteSyncOp::create(
        b, loc, b.getI1Type(), i32(-1),
        arith::OrIOp::create(b, loc, grows[0], grows[1]),
        NVVM::VoteSyncKind::any);
    auto rowStateType = VectorType::get({2}, b.getF32Type());
    auto accType = VectorType::get({valueDim / 2}, b.getF32Type());
    auto ifRescale =
        scf::IfOp::create(b, loc, TypeRange{rowStateType, accType}, anyGrows,
                          /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard rescaleGuard(b);
      b.setInsertionPointToStart(&ifRescale.getThenRegion().front());
      // alpha is exactly 1 for the rows that keep their max.
      Value alpha[2], sums[2];
      for (int i = 0; i < 2; ++i) {
        alpha[i] =
            exp2Ftz(arith::SubFOp::create(b, loc, maxOld[i], maxSafe[i]));
        sums[i] = arith::MulFOp::create(b, loc, sumOld[i], alpha[i]);
      }
      SmallVector<Value> rescaled;
      for (int64_t i = 0; i < valueDim / 2; ++i)
        rescaled.push_back(arith::MulFOp::create(
            b, loc, vector::ExtractOp::create(b, loc, current[2], i),
            alpha[(i % 4) / 2]));
      scf::YieldOp::create(
          b, loc,
          ValueRange{
              vector::FromElementsOp::create(b, loc, rowStateType,
                                             ValueRange{sums[0], sums[1]}),
              vector::FromElementsOp::create(b, loc, accType, rescaled)});
      b.setInsertionPointToStart(&ifRescale.getElseRegion().front());
      scf::YieldOp::create(b, loc, ValueRange{current[1], current[2]});
    }
    Value sumNew[2];
    for (int i = 0; i < 2; ++i)
      sumNew[i] = vector::ExtractOp::create(b, loc, ifRescale.getResult(0), i);
    Value negMaxSafe[2] = {arith::NegFOp::create(b, loc, maxSafe[0]),
                           arith::NegFOp::create(b, loc, maxSafe[1])};
    for (int64_t j = 0; j < keyTiles; ++j)
      for (int64_t e = 0; e < 4; ++e) {
        int rowSel = e / 2;
        scores[j][e] = exp2Ftz(math::FmaOp::create(
            b, loc, scores[j][e], f32(scaleLog2), negMaxSafe[rowSel]));
        sumNew[rowSel] =
            arith::AddFOp::create(b, loc, sumNew[rowSel], scores[j][e]);
      }
    SmallVector<Value> acc;
    for (int64_t i = 0; i < valueDim / 2; ++i)
      acc.push_back(
          vector::ExtractOp::create(b, loc, ifRescale.getResult(1), i));

    // O += P V: P's C fragments are A fragments of the next product
    // (16 keys = n-tiles 2kk and 2kk+1); V fragments by transposing
    // ldmatrix from the value tile, two dv n-tiles per x4 load.
    if (!pipelinedRing()) {
      // Pending: V(c), K(c + 1).
      waitForTiles(1);
    }
    auto pairF32Type = VectorType::get({2}, b.getF32Type());
    auto pairType = VectorType::get({2}, inputType);
    auto packP = [&](Value lo, Value hi) -> Value {
      Value pairF32 =
          vector::FromElementsOp::create(b, loc, pairF32Type, ValueRange{lo, hi});
      return arith::TruncFOp::create(b, loc, pairType, pairF32);
    };
    auto pFragment = [&](int64_t kk) -> SmallVector<Value> {
      return {packP(scores[2 * kk][0], scores[2 * kk][1]),
              packP(scores[2 * kk][2], scores[2 * kk][3]),
              packP(scores[2 * kk + 1][0], scores[2 * kk + 1][1]),
              packP(scores[2 * kk + 1][2], scores[2 * kk + 1][3])};
    };
    if (wgmma) {
      // O += P V, one m64nDvk16 step per 16 keys. V is MN-major (dv
      // contiguous), so B is transposed: 8-key groups are 1024 bytes
      // apart (stride), the 64-column panels keyChunk lines (leading).
      // P's registers are written just before: the fence orders them (and
      // the rescaled accumulators) before the tensor cores read them.
      SmallVector<Value> fenced(acc);
      for (int64_t kk = 0; kk < keyTiles / 2; ++kk)
        for (Value pair : pFragment(kk))
          fenced.push_back(packedOperand(pair));
      fenced = wgmmaFence(fenced);
      acc.assign(fenced.begin(), fenced.begin() + acc.size());
      for (int64_t kk = 0; kk < keyTiles / 2; ++kk) {
        Value descriptor =
            wgmmaDescriptor(valueTile, index(16 * kk * kSwizzleBytes),
                            keyChunk * kSwizzleBytes, kSwizzleAtomBytes);
        acc = wgmmaStep(ArrayRef<Value>(fenced).slice(acc.size() + 4 * kk, 4),
                        descriptor, acc, /*transposeB=*/true);
      }
      acc = wgmmaWait(acc, ArrayRef<Value>(fenced).drop_front(acc.size()));
    } else {
      Value vRowInStep =
          add(lane8,
              arith::MulIOp::create(
                  b, loc, arith::RemUIOp::create(b, loc, laneOctet, index(2)),
                  index(8)));
      Value vColInPair = arith::MulIOp::create(
          b, loc, arith::DivUIOp::create(b, loc, lane, index(16)), index(8));
      for (int64_t kk = 0; kk < keyTiles / 2; ++kk) {
        SmallVector<Value> pFrag = pFragment(kk);
        Value tileRow = add(vRowInStep, index(16 * kk));
        for (int64_t nd = 0; nd < valueDim / 16; ++nd) {
          Value frag =
              ldmatrix(valueTile, tileRow, add(vColInPair, index(16 * nd)), 4,
                       /*transpose=*/true);
          for (int64_t half = 0; half < 2; ++half) {
            int64_t nTile = 2 * nd + half;
            SmallVector<Value> c(acc.begin() + 4 * nTile,
                                 acc.begin() + 4 * nTile + 4);
            SmallVector<Value> d =
                mma(pFrag,
                    {vector::ExtractOp::create(b, loc, frag, 2 * half),
                     vector::ExtractOp::create(b, loc, frag, 2 * half + 1)},
                    c);
            std::copy(d.begin(), d.end(), acc.begin() + 4 * nTile);
          }
        }
      }
    }

    if (!pipelinedRing()) {
      // Every lane has read the value tile: load the next chunk's values.
      syncTileUsers();
      stageChunk(value, valueTile, valueDim, next, nextN, nextEnabled);
    }

    scf::YieldOp::create(
        b, loc,
        ValueRange{
            vector::FromElementsOp::create(b, loc, rowStateType,
                                           ValueRange{maxNew[0], maxNew[1]}),
            vector::FromElementsOp::create(b, loc, rowStateType,
                                           ValueRange{sumNew[0], sumNew[1]}),
            vector::FromElementsOp::create(b, loc, accType, acc)});
    b.setInsertionPointAfter(ifNeeded);
    scf::YieldOp::create(b, loc, ifNeeded.getResults());
  }
  // The last chunk committed (empty) groups for a chunk past the end.
  waitGroups(0);
  for (auto [result, newValue] :
       llvm::zip(op.getResults(), chunkLoop.getResults()))
    map.map(result, newValue);
}

void TileLoopLowering::emitFinalizeMma(FinalizeTileOp op) {
  Value max = map.lookup(op.getMax()), sum = map.lookup(op.getSum()),
        acc = map.lookup(op.getAcc());
  Value inverse[2], lse[2];
  for (int i = 0; i < 2; ++i) {
    // Each lane summed its own columns: reduce over the quad.
    Value rowSum = quadReduce(vector::ExtractOp::create(b, loc, sum, i), false);
    Value seen = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                       rowSum, f32(0.0));
    inverse[i] = arith::SelectOp::create(
        b, loc, seen, arith::DivFOp::create(b, loc, f32(1.0), rowSum),
        f32(0.0));
    // max is in the log2 domain.
    Value rowMax = vector::ExtractOp::create(b, loc, max, i);
    lse[i] = arith::SelectOp::create(
        b, loc, seen,
        arith::AddFOp::create(
            b, loc, arith::MulFOp::create(b, loc, rowMax, f32(M_LN2)),
            math::LogOp::create(b, loc, rowSum)),
        f32(-std::numeric_limits<double>::infinity()));
  }
  SmallVector<Value> output;
  for (int64_t i = 0; i < valueDim / 2; ++i)
    output.push_back(arith::MulFOp::create(
        b, loc, vector::ExtractOp::create(b, loc, acc, i),
        inverse[(i % 4) / 2]));
  map.map(op.getOutput(),
          vector::FromElementsOp::create(
              b, loc, VectorType::get({valueDim / 2}, b.getF32Type()), output));
  map.map(op.getLse(), vector::FromElementsOp::create(
                           b, loc, VectorType::get({2}, b.getF32Type()),
                           ValueRange{lse[0], lse[1]}));
}

void TileLoopLowering::emitStoreMma(tensor::ParallelInsertSliceOp insert) {
  auto [buffer, keptDims, offsets] = storeTarget(insert);
  Type elementType = cast<MemRefType>(buffer.getType()).getElementType();
  Value source = map.lookup(insert.getSource());
  if (keptDims.size() == 3 &&
      emitStagedOutputStore(buffer, keptDims, offsets, source))
    return;
  Value quadLeader = arith::CmpIOp::create(
      b, loc, arith::CmpIPredicate::eq, lanePair, index(0));

  bool isLse = keptDims.size() == 2;
  llvm::MaybeAlign pairAlignment =
      isLse ? llvm::MaybeAlign()
            : vectorAlignment(buffer, keptDims[2], offsets[keptDims[2]], 2);
  for (int i = 0; i < 2; ++i) {
    SmallVector<Value> indices(offsets);
    indices[keptDims[0]] = add(offsets[keptDims[0]], rowPos[i]);
    indices[keptDims[1]] = add(offsets[keptDims[1]], rowHead[i]);
    Value guard = isLse ? arith::AndIOp::create(b, loc, rowValid[i],
                                                quadLeader).getResult()
                        : rowValid[i];
    auto ifOp = scf::IfOp::create(b, loc, guard, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard insertion(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    if (isLse) {
      Value value = vector::ExtractOp::create(b, loc, source, i);
      if (value.getType() != elementType)
        value = arith::TruncFOp::create(b, loc, elementType, value);
      memref::StoreOp::create(b, loc, value, buffer, indices);
      continue;
    }
    // The lane holds columns lanePair and lanePair + 1 of each dv n-tile:
    // one 2-element store per n-tile.
    auto pairF32Type = VectorType::get({2}, b.getF32Type());
    SmallVector<Value> gates = combineGates(rowPos[i], rowHead[i]);
    for (int64_t nTile = 0; nTile < valueDim / 8; ++nTile) {
      Value values = vector::FromElementsOp::create(
          b, loc, pairF32Type,
          ValueRange{vector::ExtractOp::create(b, loc, source, 4 * nTile + 2 * i),
                     vector::ExtractOp::create(b, loc, source,
                                               4 * nTile + 2 * i + 1)});
      if (!elementType.isF32())
        values = arith::TruncFOp::create(
            b, loc, VectorType::get({2}, elementType), values);
      Value column = add(lanePair, index(8 * nTile));
      values = combineBeforeStore(values, rowPos[i], rowHead[i], column, gates);
      indices[keptDims[2]] = add(offsets[keptDims[2]], column);
      vector::StoreOp::create(b, loc, values, buffer, indices,
                              /*nontemporal=*/false, pairAlignment);
    }
  }
}

bool TileLoopLowering::emitStagedOutputStore(Value buffer,
                                             ArrayRef<int64_t> keptDims,
                                             ArrayRef<Value> offsets,
                                             Value source) {
  auto bufferType = cast<MemRefType>(buffer.getType());
  Type elementType = bufferType.getElementType();
  int64_t elementBytes = bufferType.getElementTypeBitWidth() / 8;
  if (elementBytes != 2 && elementBytes != 4)
    return false;
  constexpr int64_t kPieceBytes = 16;
  int64_t pieceElements = kPieceBytes / elementBytes;
  llvm::MaybeAlign pieceAlignment =
      vectorAlignment(buffer, keptDims[2], offsets[keptDims[2]], pieceElements);
  // Rows padded by one piece: the pair writes of a warp (8 rows x 4 lanes)
  // then fall on 32 distinct banks, and each row stays 16-byte aligned.
  int64_t rowElements = valueDim + pieceElements;
  if (!pieceAlignment || valueDim % pieceElements != 0 ||
      kSlabRows * rowElements * elementBytes > outputStageBytes)
    return false;

  // Every thread of the tiles' users is done with them.
  syncTileUsers();
  auto workgroup =
      gpu::AddressSpaceAttr::get(b.getContext(), gpu::AddressSpace::Workgroup);
  Value stage = memref::ViewOp::create(
      b, loc,
      MemRefType::get({kSlabRows, rowElements}, elementType,
                      MemRefLayoutAttrInterface(), workgroup),
      sharedBytes, outputStage, ValueRange());
  Value quad = arith::DivUIOp::create(b, loc, lane, index(4));
  auto pairF32Type = VectorType::get({2}, b.getF32Type());
  for (int i = 0; i < 2; ++i) {
    Value row = add(quad, index(8 * i));
    for (int64_t nTile = 0; nTile < valueDim / 8; ++nTile) {
      Value values = vector::FromElementsOp::create(
          b, loc, pairF32Type,
          ValueRange{
              vector::ExtractOp::create(b, loc, source, 4 * nTile + 2 * i),
              vector::ExtractOp::create(b, loc, source,
                                        4 * nTile + 2 * i + 1)});
      if (!elementType.isF32())
        values = arith::TruncFOp::create(
            b, loc, VectorType::get({2}, elementType), values);
      vector::StoreOp::create(b, loc, values, stage,
                              ValueRange{row, add(lanePair, index(8 * nTile))},
                              /*nontemporal=*/false,
                              llvm::Align(2 * elementBytes));
    }
  }
  // Each warp reads back only its own rows.
  NVVM::SyncWarpOp::create(
      b, loc, arith::ConstantIntOp::create(b, loc, b.getI32Type(), -1));

  int64_t heads = cast<RankedTensorType>(queryTile().getType()).getDimSize(1);
  int64_t piecesPerRow = valueDim / pieceElements;
  int64_t pieces = kSlabRows * piecesPerRow;
  assert(pieces % kWarpSize == 0 && "whole pieces per lane");
  auto pieceType = VectorType::get({pieceElements}, elementType);
  // Every piece is read (and combined) before any is stored: the output
  // buffer may alias what a fused combine reads, so a store would keep the
  // next piece's global loads from being issued ahead of it. Rows past the
  // tile read row 0 (always in it) and are not stored.
  struct Piece {
    Value valid, values, tileRow, tileHead, column;
  };
  SmallVector<Piece> loaded;
  for (int64_t step = 0; step < pieces / kWarpSize; ++step) {
    Value piece = add(lane, index(step * kWarpSize));
    Value row = arith::DivUIOp::create(b, loc, piece, index(piecesPerRow));
    Value column = arith::MulIOp::create(
        b, loc, arith::RemUIOp::create(b, loc, piece, index(piecesPerRow)),
        index(pieceElements));
    Value rowId = add(rowBase, row);
    Value valid = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                        rowId, tileRows);
    Value readRowId = arith::SelectOp::create(b, loc, valid, rowId, index(0));
    Value tileRow = arith::DivUIOp::create(b, loc, readRowId, index(heads));
    Value tileHead = arith::RemUIOp::create(b, loc, readRowId, index(heads));
    Value values = vector::LoadOp::create(
        b, loc, pieceType, stage, ValueRange{row, column},
        /*nontemporal=*/false, llvm::Align(kPieceBytes));
    values = combineBeforeStore(values, tileRow, tileHead, column);
    loaded.push_back({valid, values, tileRow, tileHead, column});
  }
  for (const Piece &piece : loaded) {
    auto ifValid =
        scf::IfOp::create(b, loc, piece.valid, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifValid.getThenRegion().front());
    SmallVector<Value> indices(offsets);
    indices[keptDims[0]] = add(offsets[keptDims[0]], piece.tileRow);
    indices[keptDims[1]] = add(offsets[keptDims[1]], piece.tileHead);
    indices[keptDims[2]] = add(offsets[keptDims[2]], piece.column);
    vector::StoreOp::create(b, loc, piece.values, buffer, indices,
                            /*nontemporal=*/false, pieceAlignment);
  }
  return true;
}

StoreTarget
TileLoopLowering::storeTarget(tensor::ParallelInsertSliceOp insert) {
  StoreTarget target;
  target.buffer = outputBuffers.lookup(insert.getDest());
  target.keptDims =
      keptDimsOf(insert.getDroppedDims(), insert.getDestType().getRank());
  for (OpFoldResult offset : insert.getMixedOffsets())
    target.offsets.push_back(
        getValueOrCreateConstantIndexOp(b, loc, mapped(offset)));
  return target;
}

void TileLoopLowering::emitProbsRow() {
  const SliceInfo &query = slices.lookup(queryTile());
  const SliceInfo &key = slices.lookup(probs.getKey());
  const SliceInfo &lseSlice = slices.lookup(probs.getLse());
  auto [buffer, kept, offsets] = storeTarget(probsStore());
  Value count = key.sizes[key.keptDims[0]];
  Value queryToken = add(map.lookupOrDefault(probs.getQueryPos()), row);
  KeyMap keys = keyMapOf(probs);
  double scale = probs.getScale().convertToDouble();
  bool groupSum = probs.getGroupSum();
  int64_t heads = cast<RankedTensorType>(queryTile().getType()).getDimSize(1);

  Value isLaneZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                           lane, index(0));
  SmallVector<Value> indices(offsets);
  indices[kept[0]] = add(offsets[kept[0]], row);
  indices[kept[1]] = groupSum ? offsets[kept[1]] : add(offsets[kept[1]], head);

  auto keyLoop = scf::ForOp::create(b, loc, index(0), count, index(1));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(keyLoop.getBody());
  Value c = keyLoop.getInductionVar();
  Value keyToken = this->keyToken(keys, c);
  Value visible = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle,
                                        keyToken, queryToken);
  // p of one head; visibility is uniform across the warp, so the shuffles
  // are convergent.
  auto probability = [&](Value headIndex, Value chunk) -> Value {
    SmallVector<Value> lseIndices(lseSlice.offsets);
    lseIndices[lseSlice.keptDims[0]] =
        add(lseIndices[lseSlice.keptDims[0]], row);
    lseIndices[lseSlice.keptDims[1]] =
        add(lseIndices[lseSlice.keptDims[1]], headIndex);
    Value lse = memref::LoadOp::create(b, loc, lseSlice.buffer, lseIndices);
    Value products = arith::MulFOp::create(b, loc, chunk,
                                           loadChunk(key, {c}, headDim));
    Value score = arith::MulFOp::create(
        b, loc,
        warpSum(vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                            products)),
        f32(scale));
    return math::ExpOp::create(b, loc,
                               arith::SubFOp::create(b, loc, score, lse));
  };
  auto ifVisible = scf::IfOp::create(b, loc, TypeRange{b.getF32Type()},
                                     visible, /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard inner(b);
    b.setInsertionPointToStart(&ifVisible.getThenRegion().front());
    Value p;
    if (groupSum) {
      // The sum over the group's heads, one head's query at a time.
      auto headLoop = scf::ForOp::create(b, loc, index(0), index(heads),
                                         index(1), ValueRange{f32(0.0)});
      OpBuilder::InsertionGuard headGuard(b);
      b.setInsertionPointToStart(headLoop.getBody());
      Value g = headLoop.getInductionVar();
      Value sum = arith::AddFOp::create(
          b, loc, headLoop.getRegionIterArgs()[0],
          probability(g, loadChunk(query, {row, g}, headDim)));
      scf::YieldOp::create(b, loc, ValueRange{sum});
      p = headLoop.getResult(0);
    } else {
      p = probability(head, queryChunk);
    }
    scf::YieldOp::create(b, loc, ValueRange{p});
    b.setInsertionPointToStart(&ifVisible.getElseRegion().front());
    scf::YieldOp::create(b, loc, ValueRange{f32(0.0)});
  }
  auto ifLaneZero = scf::IfOp::create(b, loc, isLaneZero, false);
  b.setInsertionPointToStart(&ifLaneZero.getThenRegion().front());
  indices[kept[2]] = add(offsets[kept[2]], c);
  memref::StoreOp::create(b, loc, ifVisible.getResult(0), buffer, indices);
}

void TileLoopLowering::emitProbsMma() {
  const SliceInfo &key = slices.lookup(probs.getKey());
  const SliceInfo &lseSlice = slices.lookup(probs.getLse());
  auto [buffer, kept, offsets] = storeTarget(probsStore());
  Value count = key.sizes[key.keptDims[0]];
  Value queryPos = map.lookupOrDefault(probs.getQueryPos());
  KeyMap keys = keyMapOf(probs);
  double scaleLog2 = probs.getScale().convertToDouble() * M_LOG2E;
  // The lane's rows: query token and -lse (log2 domain, the fma's addend).
  Value queryToken[2], negLseLog2[2];
  for (int i = 0; i < 2; ++i) {
    queryToken[i] = add(queryPos, rowPos[i]);
    SmallVector<Value> indices(lseSlice.offsets);
    indices[lseSlice.keptDims[0]] =
        add(indices[lseSlice.keptDims[0]], rowPos[i]);
    indices[lseSlice.keptDims[1]] =
        add(indices[lseSlice.keptDims[1]], rowHead[i]);
    negLseLog2[i] = arith::MulFOp::create(
        b, loc, memref::LoadOp::create(b, loc, lseSlice.buffer, indices),
        f32(-M_LOG2E));
  }
  SlabTokens slab = slabTokens(queryPos);
  SlabTokens staged = stagingTokens(queryPos);
  const int64_t keyTiles = keyTilesPerChunk();
  // Group sums: the slab's rows are (position, head) pairs, position-major,
  // and the group size divides 16 (canUseTensorCores), so the heads of one
  // position are the rows of 2^k neighbouring quads (and, for 16 heads,
  // both rows of a lane).
  bool groupSum = probs.getGroupSum();
  int64_t heads = cast<RankedTensorType>(queryTile().getType()).getDimSize(1);
  int64_t quadsPerPosition = std::min<int64_t>(heads, 8);

  // Chunks after the slab's (the CTA's) last row are all zeros: no loads,
  // no mma.
  auto chunkNeeded = [&](Value chunk, Value /*n*/) -> Value {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle,
                                 keyToken(keys, chunk), staged.last);
  };
  Ring ring{key, /*value=*/nullptr, count, chunkNeeded};
  if (pipelinedRing())
    fillRing(ring);

  auto chunkLoop = scf::ForOp::create(b, loc, index(0), count, index(keyChunk));
  if (pipelinedRing()) {
    // The last chunks committed (empty) groups for chunks past the end.
    waitGroups(0);
  }
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(chunkLoop.getBody());
  // The ring rebinds the key tile to a chunk's stage inside the loop.
  llvm::scope_exit restoreKeyTile(
      [&, wholeKey = keyTile] { keyTile = wholeKey; });
  Value chunk = chunkLoop.getInductionVar();
  Value n = chunkKeys(count, chunk);
  Value needed = chunkNeeded(chunk, n);
  if (pipelinedRing()) {
    // As in emitAttendMma: refill stage c - 1 with chunk c + S - 1, then
    // wait for chunk c. The needed chunks are a prefix of the row (causal)
    // and `needed` is uniform over the CTA, so the chunks past it skip the
    // barriers; every needed chunk still finds S - 1 groups committed
    // after its own.
    Value ordinal = chunkOrdinal(chunk);
    {
      OpBuilder::InsertionGuard ringGuard(b);
      auto ifNeeded = scf::IfOp::create(b, loc, needed, false);
      b.setInsertionPointToStart(&ifNeeded.getThenRegion().front());
      refillRing(ring, chunk, ordinal);
    }
    bindRingStage(ordinal);
  }
  // With 16 heads a slab is one position, and its group sums are
  // reduce-scattered over the quads (below): each lane ends with
  // 2 * keyTiles / 8 of the chunk's sums instead of all of them.
  bool scatterSums = groupSum && heads == 16;
  // Three halvings of 2 * keyTiles sums: the stores below handle the 2 or 1
  // left per lane of the 64- and 32-key chunks.
  assert((!scatterSums || keyTiles == 8 || keyTiles == 4) &&
         "chunks of 32 or 64 keys");
  const int64_t sumsPerLane = 2 * keyTiles / 8;
  // Bit k of the lane's quad (lane bit k + 2): whether the lane keeps the
  // upper half in round k, and so where its sums end up.
  SmallVector<Value> quadBits;
  if (scatterSums)
    for (int64_t offset : {4, 8, 16})
      quadBits.push_back(arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::ne,
          arith::AndIOp::create(b, loc, lane, index(offset)), index(0)));
  int64_t results = scatterSums ? sumsPerLane : 4 * keyTiles;
  SmallVector<Type> resultTypes(results, b.getF32Type());
  auto ifNeeded = scf::IfOp::create(b, loc, resultTypes, needed,
                                    /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard inner(b);
    b.setInsertionPointToStart(&ifNeeded.getElseRegion().front());
    scf::YieldOp::create(b, loc, SmallVector<Value>(results, f32(0.0)));
    b.setInsertionPointToStart(&ifNeeded.getThenRegion().front());
    if (!pipelinedRing()) {
      syncTileUsers();
      stageChunk(key, keyTile, headDim, chunk, n, Value());
      waitForTiles(0);
    }
    // p = exp2(s * scale - lse), one fma in the log2 domain. Masked keys
    // (-inf) give 0, also in rows whose lse is -inf; a chunk every row sees
    // entirely has neither (its scores and its rows' lse are finite), so it
    // skips that test: the kernel is issue-bound. Rows past the tile need
    // no zeroing: the tile holds whole positions (G divides 16), so they
    // are whole positions whose values meet no valid row's in the group
    // sums and are never stored.
    auto probabilities = [&](ArrayRef<Value> masked,
                             bool fullyVisible) -> SmallVector<Value> {
      SmallVector<Value> values;
      for (auto [i, score] : llvm::enumerate(masked)) {
        Value p = exp2Ftz(math::FmaOp::create(b, loc, score, f32(scaleLog2),
                                              negLseLog2[(i % 4) / 2]));
        if (!fullyVisible) {
          Value masked = arith::CmpFOp::create(
              b, loc, arith::CmpFPredicate::OEQ, score,
              f32(-std::numeric_limits<double>::infinity()));
          p = arith::SelectOp::create(b, loc, masked, f32(0.0), p);
        }
        values.push_back(p);
      }
      return values;
    };
    SmallVector<Value> values;
    for (const SmallVector<Value> &tile :
         maskScores(scoreFragments(), chunk, n, keys, std::nullopt, queryToken,
                    slab, probabilities))
      llvm::append_range(values, tile);
    if (scatterSums) {
      // A lane's two rows are heads g and g + 8: add them, then halve the
      // lane's sums (n-tile-major, then column) at each of the quad bits:
      // the lane whose bit is 0 keeps the lower half and sends the upper
      // to its partner, which keeps the upper. 3 rounds of shuffles over
      // 8, 4 and 2 values (for 8 n-tiles) instead of 3 over all 16.
      SmallVector<Value> sums;
      for (int64_t j = 0; j < keyTiles; ++j)
        for (int64_t c = 0; c < 2; ++c)
          sums.push_back(arith::AddFOp::create(b, loc, values[4 * j + c],
                                               values[4 * j + c + 2]));
      for (auto [round, upper] : llvm::enumerate(quadBits)) {
        int64_t offset = 4 << round;
        int64_t half = sums.size() / 2;
        SmallVector<Value> kept;
        for (int64_t i = 0; i < half; ++i) {
          Value low = sums[i], high = sums[half + i];
          Value send = arith::SelectOp::create(b, loc, upper, low, high);
          Value keep = arith::SelectOp::create(b, loc, upper, high, low);
          kept.push_back(arith::AddFOp::create(
              b, loc, keep,
              gpu::ShuffleOp::create(b, loc, send, offset, kWarpSize,
                                     gpu::ShuffleMode::XOR)
                  .getShuffleResult()));
        }
        sums = std::move(kept);
      }
      scf::YieldOp::create(b, loc, sums);
    } else {
      if (groupSum)
        for (Value &value : values)
          for (int64_t quads = 1; quads < quadsPerPosition; quads *= 2)
            value = arith::AddFOp::create(
                b, loc, value,
                gpu::ShuffleOp::create(b, loc, value, 4 * quads, kWarpSize,
                                       gpu::ShuffleMode::XOR)
                    .getShuffleResult());
      scf::YieldOp::create(b, loc, values);
    }
  }

  // Stores of a lane's values at `column` (and `column + 1` for `hi`):
  // one 8-byte store, or one element at the end of an odd-length row.
  auto pairType = VectorType::get({2}, b.getF32Type());
  auto storeColumns = [&](SmallVector<Value> indices, Value column, Value lo,
                          Value hi) {
    OpBuilder::InsertionGuard storeGuard(b);
    indices[kept[2]] = add(offsets[kept[2]], column);
    if (hi) {
      auto ifPair = scf::IfOp::create(
          b, loc,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                add(column, index(1)), count),
          /*withElseRegion=*/true);
      b.setInsertionPointToStart(&ifPair.getThenRegion().front());
      vector::StoreOp::create(
          b, loc,
          vector::FromElementsOp::create(b, loc, pairType, ValueRange{lo, hi}),
          buffer, indices);
      b.setInsertionPointToStart(&ifPair.getElseRegion().front());
    }
    auto ifLast = scf::IfOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, column,
                              count),
        false);
    b.setInsertionPointToStart(&ifLast.getThenRegion().front());
    memref::StoreOp::create(b, loc, lo, buffer, indices);
  };

  if (scatterSums) {
    // The lane's sums start at index 8 * bit0 + 4 * bit1 + 2 * bit2 (for 8
    // n-tiles; bit k of the quad) of the chunk's 16 (n-tile, column) sums:
    // n-tile 4 * bit0 + 2 * bit1 + bit2, both of its columns. Every lane
    // of a valid position stores.
    Value first = index(0);
    for (auto [bit, set] : llvm::enumerate(quadBits))
      first = add(first, arith::SelectOp::create(
                             b, loc, set, index(2 * keyTiles >> (bit + 1)),
                             index(0)));
    auto ifValid = scf::IfOp::create(b, loc, rowValid[0], false);
    OpBuilder::InsertionGuard validGuard(b);
    b.setInsertionPointToStart(&ifValid.getThenRegion().front());
    SmallVector<Value> indices(offsets);
    indices[kept[0]] = add(offsets[kept[0]], rowPos[0]);
    // Sum s is column 8 * (s / 2) + lanePair + s % 2 of the chunk.
    Value column = add(
        chunk,
        add(lanePair,
            add(arith::MulIOp::create(
                    b, loc, arith::DivUIOp::create(b, loc, first, index(2)),
                    index(8)),
                arith::RemUIOp::create(b, loc, first, index(2)))));
    storeColumns(indices, column, ifNeeded.getResult(0),
                 sumsPerLane == 2 ? ifNeeded.getResult(1) : Value());
    return;
  }

  // Each lane stores its two columns of every n-tile for its two rows. Group
  // sums are stored by the first quad of each position.
  Value leadsPosition;
  if (groupSum)
    leadsPosition = arith::CmpIOp::create(
        b, loc, arith::CmpIPredicate::eq,
        arith::RemUIOp::create(
            b, loc, arith::DivUIOp::create(b, loc, lane, index(4)),
            index(quadsPerPosition)),
        index(0));
  for (int i = 0; i < 2; ++i) {
    Value stores = groupSum ? arith::AndIOp::create(b, loc, rowValid[i],
                                                    leadsPosition)
                                  .getResult()
                            : rowValid[i];
    auto ifValid = scf::IfOp::create(b, loc, stores, false);
    OpBuilder::InsertionGuard rowGuard(b);
    b.setInsertionPointToStart(&ifValid.getThenRegion().front());
    SmallVector<Value> indices(offsets);
    indices[kept[0]] = add(offsets[kept[0]], rowPos[i]);
    indices[kept[1]] =
        groupSum ? offsets[kept[1]] : add(offsets[kept[1]], rowHead[i]);
    for (int64_t j = 0; j < keyTiles; ++j)
      storeColumns(indices, add(chunk, add(lanePair, index(8 * j))),
                   ifNeeded.getResult(4 * j + 2 * i),
                   ifNeeded.getResult(4 * j + 2 * i + 1));
  }
}

/// Whether `forall` is a tile loop: its body holds a tile state or a
/// probabilities tile.
bool isTileLoop(scf::ForallOp forall) {
  return llvm::any_of(forall.getBody()->getOperations(), [](Operation &op) {
    return isa<InitTileStateOp, ProbsTileOp>(op);
  });
}

struct ConvertNSATileToGPUPass
    : nsa::impl::ConvertNSATileToGPUBase<ConvertNSATileToGPUPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<scf::ForallOp> loops;
    getOperation()->walk([&](scf::ForallOp forall) {
      if (isTileLoop(forall))
        loops.push_back(forall);
    });
    for (scf::ForallOp forall : loops) {
      if (failed(TileLoopLowering(forall, tensorCores).run()))
        return signalPassFailure();
    }
  }
};

} // namespace
