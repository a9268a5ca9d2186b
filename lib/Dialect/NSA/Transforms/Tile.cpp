//===- Tile.cpp - Branch attentions into query tiles over KV tiles --------===//
//
// One driver tiles the three branch attentions; a branch only contributes
// its KV tile list (KVTileList below). See the pass description in
// Passes.td for the IR produced.
//
//===----------------------------------------------------------------------===//

#include "nsa/Dialect/NSA/IR/NSAOps.h"
#include "nsa/Dialect/NSA/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::nsa {
#define GEN_PASS_DEF_NSATILE
#include "nsa/Dialect/NSA/Transforms/Passes.h.inc"
} // namespace mlir::nsa

using namespace mlir;
using namespace mlir::nsa;

namespace {

/// Index arithmetic helpers: affine ops, so later canonicalization folds them.
struct IndexBuilder {
  OpBuilder &b;
  Location loc;

  Value constant(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  /// affine.apply of `expr` over dims `dims` and symbols `symbols`.
  Value apply(AffineExpr expr, ValueRange dims, ValueRange symbols = {}) {
    AffineMap map = AffineMap::get(dims.size(), symbols.size(), expr);
    SmallVector<Value> operands(dims);
    llvm::append_range(operands, symbols);
    return affine::AffineApplyOp::create(b, loc, map, operands);
  }
  Value min(ArrayRef<AffineExpr> exprs, ValueRange dims,
            ValueRange symbols = {}) {
    AffineMap map =
        AffineMap::get(dims.size(), symbols.size(), exprs, b.getContext());
    SmallVector<Value> operands(dims);
    llvm::append_range(operands, symbols);
    return affine::AffineMinOp::create(b, loc, map, operands);
  }
  Value max(ArrayRef<AffineExpr> exprs, ValueRange dims,
            ValueRange symbols = {}) {
    AffineMap map =
        AffineMap::get(dims.size(), symbols.size(), exprs, b.getContext());
    SmallVector<Value> operands(dims);
    llvm::append_range(operands, symbols);
    return affine::AffineMaxOp::create(b, loc, map, operands);
  }
  AffineExpr d(unsigned i) { return b.getAffineDimExpr(i); }
  AffineExpr s(unsigned i) { return b.getAffineSymbolExpr(i); }
};

/// A [B, T, H, D] slice with the batch dimension dropped:
/// source[b, pos, head, 0] [1, len, heads, D] -> tensor<len x heads x D>, or
/// with the head dimension dropped too when `dropHead` (KV tiles: [len, D]).
Value extractTile(OpBuilder &b, Location loc, Value source, Value batch,
                  Value pos, OpFoldResult len, Value head, int64_t heads,
                  bool dropHead) {
  auto sourceType = cast<RankedTensorType>(source.getType());
  int64_t dim = sourceType.getDimSize(3);
  std::optional<int64_t> staticLen = getConstantIntValue(len);
  int64_t lenExtent = staticLen ? *staticLen : ShapedType::kDynamic;
  SmallVector<int64_t> shape{lenExtent};
  if (!dropHead)
    shape.push_back(heads);
  shape.push_back(dim);
  auto type = RankedTensorType::get(shape, sourceType.getElementType());
  SmallVector<OpFoldResult> offsets{batch, pos, head, b.getIndexAttr(0)};
  SmallVector<OpFoldResult> sizes{b.getIndexAttr(1), len,
                                  b.getIndexAttr(heads), b.getIndexAttr(dim)};
  SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(b, loc, type, source, offsets, sizes,
                                        strides);
}

/// tensor.empty of `type`; dynamic dimension d takes its extent from
/// `extents[d]`.
Value emptyTensor(OpBuilder &b, Location loc, Type type,
                  ArrayRef<Value> extents) {
  auto tensorType = cast<RankedTensorType>(type);
  SmallVector<Value> dynamicSizes;
  for (int64_t dim = 0; dim < tensorType.getRank(); ++dim)
    if (tensorType.isDynamicDim(dim))
      dynamicSizes.push_back(extents[dim]);
  return tensor::EmptyOp::create(b, loc, tensorType.getShape(),
                                 tensorType.getElementType(), dynamicSizes);
}

/// The loop every tile loop is: over (batch, query tile, query head), marked
/// with the GQA group size, with the tile's first position t0, its rows
/// (rowsPerTile, clamped at the sequence end) and the query head's KV head.
struct QueryTileLoop {
  scf::ForallOp forall;
  Value batch, t0, queryHead, kvHead;
  OpFoldResult rows;
};

/// ceil(T / rowsPerTile), the loop's query-tile extent.
Value numQueryTiles(OpBuilder &b, Location loc, Value seqLen,
                    int64_t rowsPerTile) {
  IndexBuilder ib{b, loc};
  return ib.apply(ib.d(0).ceilDiv(rowsPerTile), ValueRange{seqLen});
}

/// Creates the loop over numTiles query tiles with `inits` as its shared
/// outputs and sets the insertion point to the start of its body.
QueryTileLoop createQueryTileLoop(OpBuilder &b, Location loc, Value batch,
                                  Value seqLen, Value numTiles,
                                  int64_t queryHeads, int64_t groupSize,
                                  int64_t rowsPerTile, ValueRange inits) {
  IndexBuilder ib{b, loc};
  auto forall = scf::ForallOp::create(
      b, loc,
      ArrayRef<OpFoldResult>{batch, numTiles, b.getIndexAttr(queryHeads)},
      inits, std::nullopt);
  forall->setAttr(kGQAGroupSizeAttr, b.getI64IntegerAttr(groupSize));

  b.setInsertionPointToStart(forall.getBody());
  SmallVector<Value> ivs = forall.getInductionVars();
  QueryTileLoop loop;
  loop.forall = forall;
  loop.batch = ivs[0];
  loop.queryHead = ivs[2];
  loop.t0 = ib.apply(ib.d(0) * rowsPerTile, ValueRange{ivs[1]});
  loop.rows = rowsPerTile == 1
                  ? OpFoldResult(b.getIndexAttr(1))
                  : OpFoldResult(ib.min({b.getAffineConstantExpr(rowsPerTile),
                                         ib.s(0) - ib.d(0)},
                                        ValueRange{loop.t0},
                                        ValueRange{seqLen}));
  loop.kvHead =
      ib.apply(ib.d(0).floorDiv(groupSize), ValueRange{loop.queryHead});
  return loop;
}

/// What the tile driver needs from a branch attention op.
struct BranchTiling {
  Operation *op;
  ConfigAttr config;
  Value query, key, value;
  Value indices;           // selected branch only
  int64_t keyStride = 1;   // key position = stride * index + offset
  int64_t keyOffset = 0;
  std::optional<int64_t> window;
  enum class KVList { CompressedRange, WindowRange, SelectedBlocks } kvList;
};

/// Emits the tiled form of one branch attention (see Passes.td).
class TileEmitter {
public:
  TileEmitter(OpBuilder &b, const BranchTiling &branch, TargetAttr target)
      : b(b), branch(branch), target(target) {
    auto queryType = cast<RankedTensorType>(branch.query.getType());
    auto keyType = cast<RankedTensorType>(branch.key.getType());
    auto valueType = cast<RankedTensorType>(branch.value.getType());
    queryHeads = queryType.getDimSize(2);
    groupSize = queryHeads / keyType.getDimSize(2);
    keyDim = queryType.getDimSize(3);
    valueDim = valueType.getDimSize(3);
    elementType = queryType.getElementType();
    rowsPerTile = branch.kvList == BranchTiling::KVList::SelectedBlocks
                      ? 1
                      : target.getBlockQ();
  }

  /// Replaces the branch op by the tile loop; returns the loop.
  scf::ForallOp emit() {
    Location loc = branch.op->getLoc();
    Value batch = tensor::DimOp::create(b, loc, branch.query, 0);
    seqLen = tensor::DimOp::create(b, loc, branch.query, 1);
    if (branch.kvList == BranchTiling::KVList::CompressedRange)
      numKeys = tensor::DimOp::create(b, loc, branch.key, 1);
    Value numTiles = numQueryTiles(b, loc, seqLen, rowsPerTile);
    Value outputInit =
        emptyTensor(b, loc, branch.op->getResult(0).getType(), {batch, seqLen});
    Value lseInit =
        emptyTensor(b, loc, branch.op->getResult(1).getType(), {batch, seqLen});

    OpBuilder::InsertionGuard guard(b);
    QueryTileLoop loop =
        createQueryTileLoop(b, loc, batch, seqLen, numTiles, queryHeads,
                            groupSize, rowsPerTile,
                            ValueRange{outputInit, lseInit});
    scf::ForallOp forall = loop.forall;
    Value b0 = loop.batch, t0 = loop.t0, queryHead = loop.queryHead,
          kvHead = loop.kvHead;
    OpFoldResult rows = loop.rows;

    Value queryTile = extractTile(b, loc, branch.query, b0, t0, rows,
                                  queryHead, /*heads=*/1, /*dropHead=*/false);
    auto init = InitTileStateOp::create(b, loc, queryTile,
                                        b.getI64IntegerAttr(valueDim));
    TileContext ctx{b0, t0, rows, kvHead, queryTile};
    SmallVector<Value> state = emitKVTiles(ctx, init.getResults());
    auto finalize = FinalizeTileOp::create(b, loc, state[0], state[1],
                                           state[2], elementType);

    b.setInsertionPointToStart(forall.getTerminator().getBody());
    ValueRange outs = forall.getRegionIterArgs();
    OpFoldResult one = b.getIndexAttr(1), zero = b.getIndexAttr(0);
    tensor::ParallelInsertSliceOp::create(
        b, loc, finalize.getOutput(), outs[0],
        ArrayRef<OpFoldResult>{b0, t0, queryHead, zero},
        ArrayRef<OpFoldResult>{one, rows, one, b.getIndexAttr(valueDim)},
        ArrayRef<OpFoldResult>{one, one, one, one});
    tensor::ParallelInsertSliceOp::create(
        b, loc, finalize.getLse(), outs[1],
        ArrayRef<OpFoldResult>{b0, t0, queryHead},
        ArrayRef<OpFoldResult>{one, rows, one},
        ArrayRef<OpFoldResult>{one, one, one});
    return forall;
  }

private:
  struct TileContext {
    Value batch, t0;
    OpFoldResult rows;
    Value kvHead, queryTile;
  };

  /// Loops over KV tiles [lo, hi) of at most block_kv keys; returns the
  /// final state.
  SmallVector<Value> emitRange(const TileContext &ctx, Value lo, Value hi,
                               ValueRange state) {
    Location loc = branch.op->getLoc();
    IndexBuilder ib{b, loc};
    int64_t blockKV = target.getBlockKv();
    auto loop = scf::ForOp::create(
        b, loc, lo, hi, ib.constant(blockKV), state,
        [&](OpBuilder &nested, Location loc, Value kv, ValueRange iterState) {
          IndexBuilder nib{nested, loc};
          Value len = nib.min({nested.getAffineConstantExpr(blockKV),
                               nib.s(0) - nib.d(0)},
                              ValueRange{kv}, ValueRange{hi});
          Value keyTile = extractTile(nested, loc, branch.key, ctx.batch, kv,
                                      len, ctx.kvHead, 1, /*dropHead=*/true);
          Value valueTile =
              extractTile(nested, loc, branch.value, ctx.batch, kv, len,
                          ctx.kvHead, 1, /*dropHead=*/true);
          auto attend = AttendTileOp::create(
              nested, loc, ctx.queryTile, keyTile, valueTile, iterState[0],
              iterState[1], iterState[2], ctx.t0, kv,
              nested.getF64FloatAttr(branch.config.getScaleFor(keyDim)),
              nested.getI64IntegerAttr(branch.keyStride),
              nested.getI64IntegerAttr(branch.keyOffset),
              branch.window ? nested.getI64IntegerAttr(*branch.window)
                            : IntegerAttr());
          scf::YieldOp::create(nested, loc, attend.getResults());
        });
    return llvm::to_vector_of<Value>(loop.getResults());
  }

  SmallVector<Value> emitKVTiles(const TileContext &ctx, ValueRange state) {
    Location loc = branch.op->getLoc();
    IndexBuilder ib{b, loc};
    Value rows = getValueOrCreateConstantIndexOp(b, loc, ctx.rows);
    ConfigAttr config = branch.config;
    switch (branch.kvList) {
    case BranchTiling::KVList::CompressedRange: {
      // Blocks visible to the tile's last row: i*d + l - 1 <= t0 + rows - 1.
      Value visible = ib.max(
          {(ib.d(0) + ib.d(1) - config.getCmpBlock())
                   .floorDiv(config.getCmpStride()) +
               1,
           b.getAffineConstantExpr(0)},
          ValueRange{ctx.t0, rows});
      Value hi = ib.min({ib.d(0), ib.s(0)}, ValueRange{visible},
                        ValueRange{numKeys});
      return emitRange(ctx, ib.constant(0), hi, state);
    }
    case BranchTiling::KVList::WindowRange: {
      Value lo = ib.max({ib.d(0) - config.getWindow() + 1,
                         b.getAffineConstantExpr(0)},
                        ValueRange{ctx.t0});
      Value hi = ib.apply(ib.d(0) + ib.d(1), ValueRange{ctx.t0, rows});
      return emitRange(ctx, lo, hi, state);
    }
    case BranchTiling::KVList::SelectedBlocks:
      return emitSelectedBlocks(ctx, state);
    }
    llvm_unreachable("unknown KV list");
  }

  /// Tokens [start, end) of selected block `block` (i32) that the tile's
  /// query position sees: the block, clipped causally and to the sequence.
  std::pair<Value, Value> selectedBlockTokens(OpBuilder &builder, Location loc,
                                              const TileContext &ctx,
                                              Value block) {
    IndexBuilder ib{builder, loc};
    int64_t slcBlock = branch.config.getSlcBlock();
    Value blockIndex =
        arith::IndexCastOp::create(builder, loc, builder.getIndexType(), block);
    Value start = ib.apply(ib.d(0) * slcBlock, ValueRange{blockIndex});
    Value end = ib.min({ib.d(0) + slcBlock, ib.s(0), ib.s(1) + 1},
                       ValueRange{start}, ValueRange{seqLen, ctx.t0});
    return {start, end};
  }

  /// The block index (i32) in slot `slot` of the tile's (b, t, kvHead) list.
  Value slotBlock(OpBuilder &builder, Location loc, const TileContext &ctx,
                  Value slot) {
    return tensor::ExtractOp::create(
        builder, loc, branch.indices,
        ValueRange{ctx.batch, ctx.t0, ctx.kvHead, slot});
  }

  /// Whether `block` (slot `slot`'s index) lists a block (it is not -1).
  static Value isListed(OpBuilder &builder, Location loc, Value block) {
    Value zero = arith::ConstantIntOp::create(builder, loc, 0, 32);
    return arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::sge, block,
                                 zero);
  }

  /// Whether slot `slot` lists `block` for the first time: a block listed
  /// twice counts once, as in the reference (a set of selected tokens). Only
  /// a block at or below `maxSoFar`, the largest index of the earlier slots,
  /// can repeat one of them, so the earlier slots are scanned only when the
  /// list stops ascending (nsa.select's lists ascend: no scan).
  Value isFirstListing(OpBuilder &builder, Location loc, const TileContext &ctx,
                       Value slot, Value block, Value maxSoFar) {
    Value listed = isListed(builder, loc, block);
    Value ascends = arith::CmpIOp::create(
        builder, loc, arith::CmpIPredicate::sgt, block, maxSoFar);
    Value mayRepeat = arith::AndIOp::create(
        builder, loc, listed,
        arith::XOrIOp::create(
            builder, loc, ascends,
            arith::ConstantIntOp::create(builder, loc, 1, 1)));
    auto scan = scf::IfOp::create(
        builder, loc, mayRepeat,
        [&](OpBuilder &thenBuilder, Location loc) {
          IndexBuilder ib{thenBuilder, loc};
          auto earlier = scf::ForOp::create(
              thenBuilder, loc, ib.constant(0), slot, ib.constant(1),
              ValueRange{arith::ConstantIntOp::create(thenBuilder, loc, 0, 1)},
              [&](OpBuilder &nested, Location loc, Value earlierSlot,
                  ValueRange found) {
                Value same = arith::CmpIOp::create(
                    nested, loc, arith::CmpIPredicate::eq,
                    slotBlock(nested, loc, ctx, earlierSlot), block);
                scf::YieldOp::create(nested, loc,
                                     ValueRange{arith::OrIOp::create(
                                         nested, loc, found[0], same)});
              });
          Value first = arith::XOrIOp::create(
              thenBuilder, loc, earlier.getResult(0),
              arith::ConstantIntOp::create(thenBuilder, loc, 1, 1));
          scf::YieldOp::create(thenBuilder, loc, first);
        },
        [&](OpBuilder &elseBuilder, Location loc) {
          // Not listed, or above every earlier index.
          scf::YieldOp::create(elseBuilder, loc, listed);
        });
    return scan.getResult(0);
  }

  /// Runs `body` if `condition` holds; yields `passThrough` otherwise.
  static scf::IfOp ifThen(OpBuilder &builder, Location loc, Value condition,
                          ValueRange passThrough,
                          function_ref<void(OpBuilder &, Location)> body) {
    auto yieldPassThrough = [&](OpBuilder &elseBuilder, Location loc) {
      scf::YieldOp::create(elseBuilder, loc, passThrough);
    };
    // Without results the else branch would be empty: leave it out.
    return scf::IfOp::create(
        builder, loc, condition, body,
        passThrough.empty()
            ? function_ref<void(OpBuilder &, Location)>()
            : function_ref<void(OpBuilder &, Location)>(yieldPassThrough));
  }

  /// The rows of the block `prefetchBlocks` slots after `slot`, if there is
  /// one: the selected indices are data, so the KV pipeline of the current
  /// block cannot stage them early, but their loads can start early.
  void emitSelectedPrefetch(OpBuilder &builder, Location loc,
                            const TileContext &ctx, Value slot) {
    int64_t ahead = target.getPrefetchBlocks();
    if (ahead == 0)
      return;
    IndexBuilder ib{builder, loc};
    Value aheadSlot = ib.apply(ib.d(0) + ahead, ValueRange{slot});
    Value inRange =
        arith::CmpIOp::create(builder, loc, arith::CmpIPredicate::ult,
                              aheadSlot, ib.constant(branch.config.getTopN()));
    scf::IfOp::create(
        builder, loc, inRange, [&](OpBuilder &inBuilder, Location loc) {
          Value block = slotBlock(inBuilder, loc, ctx, aheadSlot);
          ifThen(
              inBuilder, loc, isListed(inBuilder, loc, block), ValueRange{},
              [&](OpBuilder &thenBuilder, Location loc) {
                auto [start, end] =
                    selectedBlockTokens(thenBuilder, loc, ctx, block);
                IndexBuilder tib{thenBuilder, loc};
                Value len =
                    tib.apply(tib.d(0) - tib.d(1), ValueRange{end, start});
                Value keyRows =
                    extractTile(thenBuilder, loc, branch.key, ctx.batch, start,
                                len, ctx.kvHead, 1,
                                /*dropHead=*/true);
                Value valueRows =
                    extractTile(thenBuilder, loc, branch.value, ctx.batch,
                                start, len, ctx.kvHead, 1, /*dropHead=*/true);
                PrefetchTileOp::create(thenBuilder, loc, keyRows, valueRows);
                scf::YieldOp::create(thenBuilder, loc);
              });
          scf::YieldOp::create(inBuilder, loc);
        });
  }

  /// For each of the n selected block indices of (b, t, kvHead): the block's
  /// tokens up to t, skipping -1 entries and repeated blocks. The slot loop
  /// carries the largest index so far after the attention state.
  SmallVector<Value> emitSelectedBlocks(const TileContext &ctx,
                                        ValueRange state) {
    Location loc = branch.op->getLoc();
    IndexBuilder ib{b, loc};
    int64_t topN = branch.config.getTopN();
    SmallVector<Value> inits(state);
    inits.push_back(arith::ConstantIntOp::create(b, loc, -1, 32));
    auto loop = scf::ForOp::create(
        b, loc, ib.constant(0), ib.constant(topN), ib.constant(1), inits,
        [&](OpBuilder &nested, Location loc, Value slot, ValueRange iterArgs) {
          ValueRange slotState = iterArgs.drop_back();
          Value maxSoFar = iterArgs.back();
          emitSelectedPrefetch(nested, loc, ctx, slot);
          Value block = slotBlock(nested, loc, ctx, slot);
          auto ifOp = ifThen(
              nested, loc,
              isFirstListing(nested, loc, ctx, slot, block, maxSoFar),
              slotState, [&](OpBuilder &thenBuilder, Location loc) {
                auto [start, end] =
                    selectedBlockTokens(thenBuilder, loc, ctx, block);
                OpBuilder::InsertionGuard guard(b);
                b.setInsertionPoint(thenBuilder.getInsertionBlock(),
                                    thenBuilder.getInsertionPoint());
                SmallVector<Value> blockState =
                    emitRange(ctx, start, end, slotState);
                scf::YieldOp::create(b, loc, blockState);
              });
          SmallVector<Value> results(ifOp.getResults());
          results.push_back(
              arith::MaxSIOp::create(nested, loc, maxSoFar, block));
          scf::YieldOp::create(nested, loc, results);
        });
    return llvm::to_vector_of<Value>(loop.getResults().drop_back());
  }

  OpBuilder &b;
  const BranchTiling &branch;
  TargetAttr target;
  int64_t queryHeads, groupSize, keyDim, valueDim, rowsPerTile;
  Type elementType;
  Value seqLen, numKeys;
};

/// nsa.compressed_probs: a tile loop over (batch, query tile, query head)
/// like the branch attentions', whose body computes the tile's
/// probabilities over all compressed blocks with one nsa.probs_tile (each
/// tile is final, so there is no KV loop state) and stores them. Group sums
/// (`group_sum`) need a whole group in one tile: the loop runs over KV heads
/// with the group's query heads in the tile, fused from the start.
scf::ForallOp tileCompressedProbs(OpBuilder &b, CompressedProbsOp op,
                                  TargetAttr target) {
  Location loc = op.getLoc();
  IndexBuilder ib{b, loc};
  ConfigAttr config = op.getConfig();
  Value query = op.getQuery(), key = op.getCompressedKey(), lse = op.getLse();
  auto queryType = cast<RankedTensorType>(query.getType());
  auto keyType = cast<RankedTensorType>(key.getType());
  int64_t queryHeads = queryType.getDimSize(2);
  int64_t groupSize = queryHeads / keyType.getDimSize(2);
  int64_t rowsPerTile = target.getBlockQ();
  bool groupSum = op.getGroupSum();
  // Heads the loop runs over and query heads per tile.
  int64_t loopHeads = groupSum ? keyType.getDimSize(2) : queryHeads;
  int64_t tileHeads = groupSum ? groupSize : 1;

  Value batch = tensor::DimOp::create(b, loc, query, 0);
  Value seqLen = tensor::DimOp::create(b, loc, query, 1);
  Value numKeys = tensor::DimOp::create(b, loc, key, 1);
  Value init = emptyTensor(b, loc, op.getProbs().getType(),
                           {batch, seqLen, Value(), numKeys});

  OpBuilder::InsertionGuard guard(b);
  QueryTileLoop loop = createQueryTileLoop(
      b, loc, batch, seqLen, numQueryTiles(b, loc, seqLen, rowsPerTile),
      loopHeads, groupSum ? 1 : groupSize, rowsPerTile, init);
  scf::ForallOp forall = loop.forall;
  Value b0 = loop.batch, t0 = loop.t0, loopHead = loop.queryHead;
  Value kvHead = groupSum ? loopHead : loop.kvHead;
  Value firstQueryHead =
      groupSum ? ib.apply(ib.d(0) * groupSize, ValueRange{loopHead})
               : loopHead;
  OpFoldResult rows = loop.rows;
  Value zero = ib.constant(0);
  Value queryTile = extractTile(b, loc, query, b0, t0, rows, firstQueryHead,
                                tileHeads, /*dropHead=*/false);
  Value keyTile = extractTile(b, loc, key, b0, zero, numKeys, kvHead, 1,
                              /*dropHead=*/true);
  OpFoldResult one = b.getIndexAttr(1);
  std::optional<int64_t> staticRows = getConstantIntValue(rows);
  auto lseTileType = RankedTensorType::get(
      {staticRows ? *staticRows : ShapedType::kDynamic, tileHeads},
      b.getF32Type());
  Value lseTile = tensor::ExtractSliceOp::create(
      b, loc, lseTileType, lse,
      ArrayRef<OpFoldResult>{b0, t0, firstQueryHead},
      ArrayRef<OpFoldResult>{one, rows, b.getIndexAttr(tileHeads)},
      ArrayRef<OpFoldResult>{one, one, one});
  auto probs = ProbsTileOp::create(
      b, loc, queryTile, keyTile, lseTile, t0, zero,
      b.getF64FloatAttr(config.getScaleFor(queryType.getDimSize(3))),
      b.getI64IntegerAttr(config.getCmpStride()),
      b.getI64IntegerAttr(config.getCmpBlock() - 1),
      groupSum ? b.getUnitAttr() : UnitAttr());

  b.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(
      b, loc, probs.getProbs(), forall.getRegionIterArgs()[0],
      ArrayRef<OpFoldResult>{b0, t0, loopHead, b.getIndexAttr(0)},
      ArrayRef<OpFoldResult>{one, rows, one, numKeys},
      ArrayRef<OpFoldResult>{one, one, one, one});
  return forall;
}

std::optional<BranchTiling> getBranchTiling(Operation *op) {
  using KVList = BranchTiling::KVList;
  if (auto cmp = dyn_cast<CompressedAttentionOp>(op)) {
    ConfigAttr config = cmp.getConfig();
    return BranchTiling{op,
                        config,
                        cmp.getQuery(),
                        cmp.getCompressedKey(),
                        cmp.getCompressedValue(),
                        Value(),
                        config.getCmpStride(),
                        config.getCmpBlock() - 1,
                        std::nullopt,
                        KVList::CompressedRange};
  }
  if (auto win = dyn_cast<WindowOp>(op))
    return BranchTiling{op,          win.getConfig(), win.getQuery(),
                        win.getKey(), win.getValue(), Value(),
                        1,           0,               win.getConfig().getWindow(),
                        KVList::WindowRange};
  if (auto slc = dyn_cast<SelectedAttentionOp>(op))
    return BranchTiling{op,          slc.getConfig(),  slc.getQuery(),
                        slc.getKey(), slc.getValue(),  slc.getIndices(),
                        1,           0,                std::nullopt,
                        KVList::SelectedBlocks};
  return std::nullopt;
}

struct NSATilePass : nsa::impl::NSATileBase<NSATilePass> {
  void runOnOperation() override {
    SmallVector<Operation *> branches;
    SmallVector<CompressedProbsOp> probsOps;
    getOperation()->walk([&](Operation *op) {
      if (isa<CompressedAttentionOp, SelectedAttentionOp, WindowOp>(op))
        branches.push_back(op);
      if (auto probs = dyn_cast<CompressedProbsOp>(op))
        probsOps.push_back(probs);
    });
    IRRewriter rewriter(&getContext());
    for (CompressedProbsOp op : probsOps) {
      rewriter.setInsertionPoint(op);
      scf::ForallOp forall =
          tileCompressedProbs(rewriter, op, TargetAttr::lookup(op));
      rewriter.replaceOp(op, forall.getResults());
    }
    for (Operation *op : branches) {
      std::optional<BranchTiling> branch = getBranchTiling(op);
      rewriter.setInsertionPoint(op);
      TileEmitter emitter(rewriter, *branch, TargetAttr::lookup(op));
      scf::ForallOp forall = emitter.emit();
      rewriter.replaceOp(op, forall.getResults());
    }
  }
};

} // namespace
