//===- NSAToLinalg.cpp - compress, probs, select, combine for the CPU -----===//

#include "nsa/Conversion/Passes.h"
#include "nsa/Dialect/NSA/IR/NSAOps.h"
#include "nsa/Support/BlockMath.h"

#include "../Utils/LinalgBuilder.h"
#include "../Utils/LowerCombine.h"
#include "BranchAttention.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "mlir/Transforms/WalkPatternRewriteDriver.h"

#include <functional>

namespace mlir::nsa {
#define GEN_PASS_DEF_CONVERTNSATOLINALG
#include "nsa/Conversion/Passes.h.inc"
} // namespace mlir::nsa

using namespace mlir;
using namespace mlir::nsa;

namespace {

/// The sizes of `type`, taking dynamic extents from `dynamicExtent(dim)`.
SmallVector<OpFoldResult>
mixedSizes(OpBuilder &b, RankedTensorType type,
           function_ref<OpFoldResult(unsigned)> dynamicExtent) {
  SmallVector<OpFoldResult> sizes;
  for (auto [dim, size] : llvm::enumerate(type.getShape()))
    sizes.push_back(ShapedType::isDynamic(size) ? dynamicExtent(dim)
                                                : b.getIndexAttr(size));
  return sizes;
}

/// Number of compressed blocks of a sequence of `seqLen` tokens, as IR:
/// max(0, (T - l) floordiv d + 1).
Value emitNumCompressedBlocks(OpBuilder &b, Location loc, Value seqLen,
                              ConfigAttr config) {
  AffineExpr t = b.getAffineDimExpr(0);
  AffineMap map = AffineMap::get(
      1, 0,
      {(t - config.getCmpBlock()).floorDiv(config.getCmpStride()) + 1,
       b.getAffineConstantExpr(0)},
      b.getContext());
  return affine::AffineMaxOp::create(b, loc, map, ValueRange{seqLen});
}

struct LowerCompress : OpRewritePattern<CompressOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CompressOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    LinalgBuilder m{rewriter, loc};
    ConfigAttr config = op.getConfig();
    Value seqLen = tensor::DimOp::create(rewriter, loc, op.getKey(), 1);
    Value numBlocks = emitNumCompressedBlocks(rewriter, loc, seqLen, config);
    int64_t blockLen = config.getCmpBlock(), stride = config.getCmpStride();
    bool weighted = config.getCompression() == CompressionKind::Weighted;

    auto pool = [&](Value input, Value weights, Type resultType) -> Value {
      auto type = cast<RankedTensorType>(resultType);
      SmallVector<OpFoldResult> sizes =
          mixedSizes(rewriter, type, [&](unsigned dim) -> OpFoldResult {
            return dim == 0 ? OpFoldResult(tensor::DimOp::create(
                                  rewriter, loc, input, 0))
                            : OpFoldResult(numBlocks);
          });
      // Loops (b, i, h, e, p): block i, head h, feature e, position p.
      AffineExpr bb = m.dim(0), i = m.dim(1), h = m.dim(2), e = m.dim(3),
                 p = m.dim(4);
      // The position range comes from this shape-only operand.
      Value positions = m.empty({rewriter.getIndexAttr(blockLen)}, m.f32());
      SmallVector<Value> inputs{input, positions};
      SmallVector<SmallVector<AffineExpr>> indexings{
          {bb, i * stride + p, h, e}, {p}};
      if (weighted) {
        inputs.push_back(weights);
        indexings.push_back({h, p});
      }
      indexings.push_back({bb, i, h, e});
      SmallVector<Indexing> maps(indexings.begin(), indexings.end());
      double mean = 1.0 / static_cast<double>(blockLen);
      Value sum = m.genericIndexed(
          inputs, m.filled(sizes, 0.0), maps, 5, {4},
          [&](OpBuilder &b, Location l, ValueRange a) -> Value {
            Value x = castScalar(b, l, a[0], b.getF32Type());
            Value w = weighted ? castScalar(b, l, a[2], b.getF32Type())
                               : arith::ConstantOp::create(
                                     b, l, b.getF32FloatAttr(mean));
            return arith::AddFOp::create(b, l, a.back(),
                                         arith::MulFOp::create(b, l, x, w));
          });
      return m.generic({sum}, m.empty(sizes, type.getElementType()),
                       {{0, 1, 2, 3}, {0, 1, 2, 3}}, 4, {},
                       [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                         return castScalar(b, l, a[0],
                                           type.getElementType());
                       });
    };
    Value keys = pool(op.getKey(), op.getKeyWeights(),
                      op.getCompressedKey().getType());
    Value values = pool(op.getValue(), op.getValueWeights(),
                        op.getCompressedValue().getType());
    rewriter.replaceOp(op, {keys, values});
    return success();
  }
};

struct LowerCompressedProbs : OpRewritePattern<CompressedProbsOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(CompressedProbsOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    LinalgBuilder m{rewriter, loc};
    ConfigAttr config = op.getConfig();
    auto queryType = cast<RankedTensorType>(op.getQuery().getType());
    auto keyType = cast<RankedTensorType>(op.getCompressedKey().getType());
    int64_t group = queryType.getDimSize(2) / keyType.getDimSize(2);
    double scale = config.getScaleFor(queryType.getDimSize(3));
    SmallVector<OpFoldResult> sizes{
        tensor::getMixedSize(rewriter, loc, op.getQuery(), 0),
        tensor::getMixedSize(rewriter, loc, op.getQuery(), 1),
        rewriter.getIndexAttr(queryType.getDimSize(2)),
        tensor::getMixedSize(rewriter, loc, op.getCompressedKey(), 1)};

    // Loops (b, t, hq, i, e): scores[b, t, hq, i] = q . kc[b, i, hq / G].
    AffineExpr bb = m.dim(0), t = m.dim(1), hq = m.dim(2), i = m.dim(3),
               e = m.dim(4);
    SmallVector<AffineExpr> qMap{bb, t, hq, e}, kMap{bb, i, hq.floorDiv(group), e},
        outMap{bb, t, hq, i};
    Value scores = m.genericIndexed(
        {op.getQuery(), op.getCompressedKey()}, m.filled(sizes, 0.0),
        {qMap, kMap, outMap}, 5, {4},
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value product = arith::MulFOp::create(
              b, l, castScalar(b, l, a[0], b.getF32Type()),
              castScalar(b, l, a[1], b.getF32Type()));
          return arith::AddFOp::create(b, l, a[2], product);
        });
    int64_t stride = config.getCmpStride(), lastToken = config.getCmpBlock() - 1;
    Value probs = m.generic(
        {scores, op.getLse()}, m.empty(sizes, m.f32()),
        {{0, 1, 2, 3}, {0, 1, 2}, {0, 1, 2, 3}}, 4, {},
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          // Block i is visible iff i * d + l - 1 <= t.
          Value block = linalg::IndexOp::create(b, l, 3);
          Value pos = linalg::IndexOp::create(b, l, 1);
          Value end = arith::AddIOp::create(
              b, l,
              arith::MulIOp::create(
                  b, l, block, arith::ConstantIndexOp::create(b, l, stride)),
              arith::ConstantIndexOp::create(b, l, lastToken));
          Value visible = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::sle, end, pos);
          Value logit = arith::SubFOp::create(
              b, l,
              arith::MulFOp::create(
                  b, l, a[0],
                  arith::ConstantOp::create(b, l, b.getF32FloatAttr(scale))),
              a[1]);
          return arith::SelectOp::create(
              b, l, visible, math::ExpOp::create(b, l, logit),
              arith::ConstantOp::create(b, l, b.getF32FloatAttr(0.0)));
        });
    if (op.getGroupSum()) {
      // Loops (b, t, h, i, g): sums[b, t, h, i] += probs[b, t, h*G + g, i].
      AffineExpr h = m.dim(2), g = m.dim(4);
      sizes[2] = rewriter.getIndexAttr(keyType.getDimSize(2));
      // The [G] operand only gives the g loop its extent.
      Value groupHeads = m.empty({rewriter.getIndexAttr(group)}, m.f32());
      SmallVector<AffineExpr> groupMap{g}, inMap{bb, t, h * group + g, i},
          sumMap{bb, t, h, i};
      probs = m.genericIndexed(
          {groupHeads, probs}, m.filled(sizes, 0.0),
          {groupMap, inMap, sumMap}, 5, {4},
          [&](OpBuilder &b, Location l, ValueRange a) -> Value {
            return arith::AddFOp::create(b, l, a[2], a[1]);
          });
    }
    rewriter.replaceOp(op, probs);
    return success();
  }
};

/// score(b, t, h, j) of one selection block, built where the top-n scan
/// reads it.
using ScoreReader = std::function<Value(OpBuilder &, Location, Value batch,
                                        Value pos, Value head, Value block)>;

/// nsa.select: selection-block scores, then a per-row greedy top-n.
struct LowerSelect : OpRewritePattern<SelectOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SelectOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    ScoreReader scoreAt = makeScoreReader(rewriter, loc, op);
    auto resultType = cast<RankedTensorType>(op.getIndices().getType());
    Value batch = tensor::DimOp::create(rewriter, loc, op.getProbs(), 0);
    Value seqLen = tensor::DimOp::create(rewriter, loc, op.getProbs(), 1);
    int64_t kvHeads = resultType.getDimSize(2);
    SmallVector<Value> dynamicSizes;
    if (resultType.isDynamicDim(0))
      dynamicSizes.push_back(batch);
    if (resultType.isDynamicDim(1))
      dynamicSizes.push_back(seqLen);
    Value init = tensor::EmptyOp::create(rewriter, loc, resultType.getShape(),
                                         rewriter.getI32Type(), dynamicSizes);
    auto forall = scf::ForallOp::create(
        rewriter, loc,
        ArrayRef<OpFoldResult>{batch, seqLen, rewriter.getIndexAttr(kvHeads)},
        ValueRange{init}, std::nullopt);
    {
      OpBuilder::InsertionGuard guard(rewriter);
      rewriter.setInsertionPointToStart(forall.getBody());
      SmallVector<Value> ivs = forall.getInductionVars();
      OpFoldResult one = rewriter.getIndexAttr(1);
      SmallVector<OpFoldResult> offsets{ivs[0], ivs[1], ivs[2],
                                        rewriter.getIndexAttr(0)};
      SmallVector<OpFoldResult> sizes{
          one, one, one, rewriter.getIndexAttr(op.getConfig().getTopN())};
      SmallVector<OpFoldResult> strides(4, one);
      // Built in the destination's slice, so it bufferizes in place.
      auto rowType = RankedTensorType::get({op.getConfig().getTopN()},
                                           rewriter.getI32Type());
      Value destination = tensor::ExtractSliceOp::create(
          rewriter, loc, rowType, forall.getRegionIterArgs()[0], offsets,
          sizes, strides);
      Value row = emitRow(rewriter, loc, op.getConfig(), scoreAt, destination,
                          ivs[0], ivs[1], ivs[2]);
      rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
      tensor::ParallelInsertSliceOp::create(rewriter, loc, row,
                                            forall.getRegionIterArgs()[0],
                                            offsets, sizes, strides);
    }
    rewriter.replaceOp(op, forall.getResults());
    return success();
  }

private:
  /// How the top-n scan reads scores. When every selection block is exactly
  /// one compressed block (l = d = l', which the identity mapping requires;
  /// Eq. 9's weights are then [i == j]) the score is the group's probability
  /// of block j, read where it lies: no scores tensor and no extra pass over
  /// [B, T, H, Nc] memory. Otherwise the scores are materialized once
  /// (emitScores).
  static ScoreReader makeScoreReader(PatternRewriter &rewriter, Location loc,
                                     SelectOp op) {
    if (!op.getConfig().selectionBlocksAreCompressedBlocks()) {
      Value scores = emitScores(rewriter, loc, op);
      return [scores](OpBuilder &b, Location l, Value batch, Value pos,
                      Value head, Value block) -> Value {
        return tensor::ExtractOp::create(b, l, scores,
                                         ValueRange{batch, pos, head, block});
      };
    }
    Value probs = op.getProbs();
    int64_t group =
        cast<RankedTensorType>(probs.getType()).getDimSize(2) /
        cast<RankedTensorType>(op.getIndices().getType()).getDimSize(2);
    Value numCompressed = tensor::DimOp::create(rewriter, loc, probs, 3);
    return [probs, group, numCompressed](OpBuilder &b, Location l, Value batch,
                                         Value pos, Value head,
                                         Value block) -> Value {
      // A trailing partial selection block (T not a multiple of l') has no
      // compressed block: score 0.
      Value valid = arith::CmpIOp::create(b, l, arith::CmpIPredicate::ult,
                                          block, numCompressed);
      auto read = scf::IfOp::create(
          b, l, valid,
          [&](OpBuilder &tb, Location tl) {
            Value firstHead = arith::MulIOp::create(
                tb, tl, head, arith::ConstantIndexOp::create(tb, tl, group));
            Value sum;
            for (int64_t g = 0; g < group; ++g) {
              Value qHead = arith::AddIOp::create(
                  tb, tl, firstHead, arith::ConstantIndexOp::create(tb, tl, g));
              Value p = tensor::ExtractOp::create(
                  tb, tl, probs, ValueRange{batch, pos, qHead, block});
              sum = sum ? Value(arith::AddFOp::create(tb, tl, sum, p)) : p;
            }
            scf::YieldOp::create(tb, tl, sum);
          },
          [&](OpBuilder &eb, Location el) {
            scf::YieldOp::create(eb, el,
                                 ValueRange{arith::ConstantOp::create(
                                     eb, el, eb.getF32FloatAttr(0.0))});
          });
      return read.getResult(0);
    };
  }

  /// score[b, t, h, j] = sum over the group's heads g and compressed blocks
  /// i of p[b, t, h*G + g, i] * weight(i, j). Only the few compressed blocks
  /// that overlap selection block j have a non-zero weight, and since the
  /// stride d divides l and l', weight(i, j) depends on i - j * l' / d
  /// alone: each score sums a fixed list of taps (offset, weight), known
  /// when compiling, instead of all Nc blocks (1000x less work at 16k
  /// tokens) or a window of candidates whose overlap is computed per score.
  /// The sum runs in registers per score (a parallel generic), so the
  /// scores are written once and need no zero fill. A block past the
  /// query (j * l' > t) overlaps only compressed blocks that end after t,
  /// whose probabilities are 0: its score is 0 without reading them (half
  /// of the [B, T, H, Nc] probabilities, causally).
  static Value emitScores(PatternRewriter &rewriter, Location loc,
                          SelectOp op) {
    LinalgBuilder m{rewriter, loc};
    ConfigAttr config = op.getConfig();
    auto probsType = cast<RankedTensorType>(op.getProbs().getType());
    auto resultType = cast<RankedTensorType>(op.getIndices().getType());
    int64_t kvHeads = resultType.getDimSize(2);
    int64_t group = probsType.getDimSize(2) / kvHeads;
    Value probs = op.getProbs();
    Value seqLen = tensor::DimOp::create(rewriter, loc, probs, 1);
    Value numCompressed = tensor::DimOp::create(rewriter, loc, probs, 3);
    Value numBlocks = affine::AffineApplyOp::create(
        rewriter, loc,
        AffineMap::get(1, 0,
                       rewriter.getAffineDimExpr(0).ceilDiv(
                           config.getSlcBlock())),
        ValueRange{seqLen});
    SmallVector<OpFoldResult> sizes{
        tensor::getMixedSize(rewriter, loc, probs, 0), seqLen,
        rewriter.getIndexAttr(kvHeads), numBlocks};
    int64_t blockLen = config.getCmpBlock(), stride = config.getCmpStride(),
            slcBlock = config.getSlcBlock();
    int64_t blocksPerSlc = slcBlock / stride;
    std::vector<::nsa::ScoreTap> taps =
        ::nsa::selectionScoreTaps(blockLen, stride, slcBlock);
    SmallVector<AffineExpr> outMap{m.dim(0), m.dim(1), m.dim(2), m.dim(3)};
    return m.genericIndexed(
        {}, m.empty(sizes, m.f32()), {outMap}, 4, {},
        [&](OpBuilder &b, Location l, ValueRange) -> Value {
          auto index = [&](int64_t v) {
            return arith::ConstantIndexOp::create(b, l, v);
          };
          Value batch = linalg::IndexOp::create(b, l, 0);
          Value pos = linalg::IndexOp::create(b, l, 1);
          Value firstHead = arith::MulIOp::create(
              b, l, linalg::IndexOp::create(b, l, 2), index(group));
          Value slc = linalg::IndexOp::create(b, l, 3);
          Value slcBegin = arith::MulIOp::create(b, l, slc, index(slcBlock));
          Value zero = arith::ConstantOp::create(b, l, b.getF32FloatAttr(0.0));
          Value visible = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::ule, slcBegin, pos);
          auto ifVisible = scf::IfOp::create(b, l, TypeRange{b.getF32Type()},
                                             visible, /*withElseRegion=*/true);
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(&ifVisible.getElseRegion().front());
          scf::YieldOp::create(b, l, ValueRange{zero});
          b.setInsertionPointToStart(&ifVisible.getThenRegion().front());
          // The taps' compressed blocks, and whether each exists (blocks
          // before 0 near the start, past Nc - 1 at the end).
          Value base = arith::MulIOp::create(b, l, slc, index(blocksPerSlc));
          SmallVector<Value> blocks, exists;
          for (const auto &tap : taps) {
            Value block = arith::AddIOp::create(b, l, base, index(tap.offset));
            Value notBefore = arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::sge, block, index(0));
            Value notAfter = arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::slt, block, numCompressed);
            blocks.push_back(block);
            exists.push_back(arith::AndIOp::create(b, l, notBefore, notAfter));
          }
          // Heads outer, taps inner: the reference's order (each head's
          // p_slc, then the group sum).
          auto heads = scf::ForOp::create(
              b, l, index(0), index(group), index(1), ValueRange{zero},
              [&](OpBuilder &hb, Location hl, Value g, ValueRange headAcc) {
                Value qHead = arith::AddIOp::create(hb, hl, firstHead, g);
                Value acc = headAcc[0];
                for (size_t t = 0; t < taps.size(); ++t) {
                  Value block = blocks[t];
                  double tapWeight = double(taps[t].tokens) / stride;
                  auto add = scf::IfOp::create(
                      hb, hl, exists[t],
                      [&](OpBuilder &tb, Location tl) {
                        Value p = tensor::ExtractOp::create(
                            tb, tl, probs,
                            ValueRange{batch, pos, qHead, block});
                        Value weight = arith::ConstantOp::create(
                            tb, tl, tb.getF32FloatAttr(tapWeight));
                        scf::YieldOp::create(
                            tb, tl,
                            ValueRange{arith::AddFOp::create(
                                tb, tl, acc,
                                arith::MulFOp::create(tb, tl, p, weight))});
                      },
                      [&](OpBuilder &eb, Location el) {
                        scf::YieldOp::create(eb, el, ValueRange{acc});
                      });
                  acc = add.getResult(0);
                }
                scf::YieldOp::create(hb, hl, ValueRange{acc});
              });
          scf::YieldOp::create(b, l, heads.getResults());
          return ifVisible.getResult(0);
        });
  }

  /// Scores a row scan reads per iteration. A GPU thread walks its own row,
  /// so one read per iteration, used at once, left one load in flight per
  /// thread and made the top-n load-latency bound; a batch's reads (at indices
  /// clamped into the row, all in bounds) are issued before any is compared.
  static constexpr int64_t kScanBatch = 8;

  /// One step of a row scan: block `j` with its score (meaningful only where
  /// `inRange`: past the row's end, `j` is not a block); returns the state.
  using ScanStep = function_ref<SmallVector<Value>(
      OpBuilder &, Location, Value j, Value score, Value inRange,
      ValueRange state)>;

  /// for j in [0, numVisible), in ascending order: state = step(j, ...), read
  /// kScanBatch scores at a time.
  static scf::ForOp scanRow(OpBuilder &b, Location loc,
                            const ScoreReader &scoreAt, Value batch, Value pos,
                            Value head, Value numVisible, ValueRange inits,
                            ScanStep step) {
    auto index = [&](int64_t v) {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Value lastBlock = arith::SubIOp::create(b, loc, numVisible, index(1));
    return scf::ForOp::create(
        b, loc, index(0), numVisible, index(kScanBatch), inits,
        [&](OpBuilder &nb, Location l, Value first, ValueRange state) {
          SmallVector<Value> blocks, scores, inRange;
          for (int64_t u = 0; u < kScanBatch; ++u) {
            Value j = arith::AddIOp::create(
                nb, l, first, arith::ConstantIndexOp::create(nb, l, u));
            blocks.push_back(j);
            inRange.push_back(arith::CmpIOp::create(
                nb, l, arith::CmpIPredicate::ult, j, numVisible));
            scores.push_back(
                scoreAt(nb, l, batch, pos, head,
                        arith::MinUIOp::create(nb, l, j, lastBlock)));
          }
          SmallVector<Value> current(state);
          for (int64_t u = 0; u < kScanBatch; ++u)
            current = step(nb, l, blocks[u], scores[u], inRange[u], current);
          scf::YieldOp::create(nb, l, current);
        });
  }

  /// The n selected blocks of one (b, t, h), ascending, -1 padded, written
  /// into `row` (the [n] slice of the result). No scratch memory: one scan
  /// over the scores (scanRow) keeps the best n non-forced blocks in
  /// (score desc, index asc) order in registers, and each chosen block
  /// (forced or picked) is written at its rank among them. A GPU thread per
  /// row stays in registers.
  static Value emitRow(OpBuilder &b, Location loc, ConfigAttr config,
                       const ScoreReader &scoreAt, Value row, Value batch,
                       Value pos, Value head) {
    auto index = [&](int64_t v) {
      return arith::ConstantIndexOp::create(b, loc, v);
    };
    Value zero = index(0), one = index(1);
    int64_t topN = config.getTopN();
    // Visible blocks are 0 .. own, own = t / l' (the query's block).
    Value own = arith::DivUIOp::create(b, loc, pos, index(config.getSlcBlock()));
    Value numVisible = arith::AddIOp::create(b, loc, own, one);

    // Forced: the initial blocks [0, initEnd) and the local blocks
    // [localBegin, numVisible).
    Value initEnd = arith::MinUIOp::create(
        b, loc, index(config.getNumInitBlocks()), numVisible);
    Value localBegin = arith::MaxSIOp::create(
        b, loc,
        arith::SubIOp::create(b, loc, numVisible,
                              index(config.getNumLocalBlocks())),
        initEnd);
    auto isForced = [&](OpBuilder &nb, Location l, Value j) -> Value {
      return arith::OrIOp::create(
          nb, l,
          arith::CmpIOp::create(nb, l, arith::CmpIPredicate::ult, j, initEnd),
          arith::CmpIOp::create(nb, l, arith::CmpIPredicate::uge, j,
                                localBegin));
    };
    Value numForced = arith::AddIOp::create(
        b, loc, initEnd, arith::SubIOp::create(b, loc, numVisible, localBegin));
    Value picks = arith::MinUIOp::create(
        b, loc, arith::SubIOp::create(b, loc, index(topN), numForced),
        arith::SubIOp::create(b, loc, numVisible, numForced));

    // One ascending scan keeps the best topN non-forced blocks in
    // registers, sorted by (score desc, index asc): a block enters only if
    // it beats the last slot strictly (so ties keep the lower index) and is
    // inserted by a compare-and-shift over the slots. The first picks slots
    // are the picks.
    Value negInf = arith::ConstantOp::create(
        b, loc, b.getF32FloatAttr(-std::numeric_limits<double>::infinity()));
    SmallVector<Value> inits(topN, negInf);
    inits.append(topN, index(-1));
    auto scan = scanRow(
        b, loc, scoreAt, batch, pos, head, numVisible, inits,
        [&](OpBuilder &nb, Location l, Value j, Value score, Value inRange,
            ValueRange slots) -> SmallVector<Value> {
          ValueRange best = slots.take_front(topN);
          ValueRange bestIndex = slots.drop_front(topN);
          Value enters = arith::AndIOp::create(
              nb, l,
              arith::AndIOp::create(
                  nb, l, inRange,
                  arith::XOrIOp::create(
                      nb, l, isForced(nb, l, j),
                      arith::ConstantIntOp::create(nb, l, 1, 1))),
              arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OGT, score,
                                    best.back()));
          auto insert = scf::IfOp::create(
              nb, l, enters,
              [&](OpBuilder &tb, Location tl) {
                SmallVector<Value> scores, indices;
                Value previousBelow;
                for (int64_t k = 0; k < topN; ++k) {
                  // Slot k moves down when the new score beats it; it takes
                  // slot k-1 if that one moved too, else the new block.
                  Value below = arith::CmpFOp::create(
                      tb, tl, arith::CmpFPredicate::OGT, score, best[k]);
                  Value incomingScore = score, incomingIndex = j;
                  if (previousBelow) {
                    incomingScore = arith::SelectOp::create(
                        tb, tl, previousBelow, best[k - 1], score);
                    incomingIndex = arith::SelectOp::create(
                        tb, tl, previousBelow, bestIndex[k - 1], j);
                  }
                  scores.push_back(arith::SelectOp::create(
                      tb, tl, below, incomingScore, best[k]));
                  indices.push_back(arith::SelectOp::create(
                      tb, tl, below, incomingIndex, bestIndex[k]));
                  previousBelow = below;
                }
                llvm::append_range(scores, indices);
                scf::YieldOp::create(tb, tl, scores);
              },
              [&](OpBuilder &eb, Location el) {
                scf::YieldOp::create(eb, el, slots);
              });
          return llvm::to_vector_of<Value>(insert.getResults());
        });
    // The chosen blocks are the forced ones and the picks (slots
    // 0 .. picks - 1), all distinct and at most topN: each is written at its
    // rank among them, so the row comes out ascending without a second pass
    // over the scores.
    SmallVector<Value> candidates, chosen;
    for (int64_t i = 0; i < config.getNumInitBlocks(); ++i) {
      candidates.push_back(index(i));
      chosen.push_back(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                             index(i), initEnd));
    }
    for (int64_t i = 0; i < config.getNumLocalBlocks(); ++i) {
      Value block = arith::AddIOp::create(b, loc, localBegin, index(i));
      candidates.push_back(block);
      chosen.push_back(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                             block, numVisible));
    }
    for (int64_t k = 0; k < topN; ++k) {
      candidates.push_back(scan.getResult(topN + k));
      chosen.push_back(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                             index(k), picks));
    }
    row = linalg::FillOp::create(
              b, loc, ValueRange{arith::ConstantIntOp::create(b, loc, -1, 32)},
              ValueRange{row})
              .getResult(0);
    for (auto [block, isChosen] : llvm::zip(candidates, chosen)) {
      Value rank = zero;
      for (auto [other, otherChosen] : llvm::zip(candidates, chosen)) {
        Value before = arith::AndIOp::create(
            b, loc, otherChosen,
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, other,
                                  block));
        rank = arith::AddIOp::create(
            b, loc, rank,
            arith::IndexCastUIOp::create(b, loc, b.getIndexType(), before));
      }
      auto ifOp = scf::IfOp::create(
          b, loc, isChosen,
          [&](OpBuilder &tb, Location tl) {
            Value value =
                arith::IndexCastOp::create(tb, tl, tb.getI32Type(), block);
            scf::YieldOp::create(
                tb, tl,
                ValueRange{tensor::InsertOp::create(tb, tl, value, row, rank)});
          },
          [&](OpBuilder &eb, Location el) {
            scf::YieldOp::create(eb, el, row);
          });
      row = ifOp.getResult(0);
    }
    return row;
  }
};

/// The selection lowering unrolls what its configuration counts, so its
/// code (and compile time) grows with them; past these it refuses the op
/// with an error rather than compile for minutes. The top-n keeps the n
/// best blocks in n register slots and ranks the chosen ones with a compare
/// network over all pairs (n^2: n = 256 took 36 s through --nsa-to-nvvm,
/// n = 1024 over 2 minutes); the scores sum one unrolled tap per
/// overlapping compressed block, l / d + l' / d - 1 of them (8191 took
/// 30 s).
constexpr int64_t kMaxLoweredTopN = 128;
constexpr int64_t kMaxLoweredScoreTaps = 2048;

/// Reports every nsa.select whose configuration is past those limits.
LogicalResult verifySelectsLowerable(Operation *root) {
  bool ok = true;
  root->walk([&](SelectOp op) {
    ConfigAttr config = op.getConfig();
    if (config.getTopN() > kMaxLoweredTopN) {
      op.emitOpError() << "top_n = " << config.getTopN() << " is above "
                       << kMaxLoweredTopN
                       << ", the most the selection lowering unrolls (the n "
                          "best blocks are kept in registers and ranked by a "
                          "compare network over all pairs)";
      ok = false;
    }
    if (!config.selectionBlocksAreCompressedBlocks()) {
      size_t taps =
          ::nsa::selectionScoreTaps(config.getCmpBlock(), config.getCmpStride(),
                                    config.getSlcBlock())
              .size();
      if (static_cast<int64_t>(taps) > kMaxLoweredScoreTaps) {
        op.emitOpError() << "its selection scores sum " << taps
                         << " compressed blocks each (cmp_block / cmp_stride "
                            "+ slc_block / cmp_stride - 1), above "
                         << kMaxLoweredScoreTaps
                         << ", the most the score lowering unrolls";
        ok = false;
      }
    }
  });
  return success(ok);
}

struct ConvertNSAToLinalgPass
    : mlir::nsa::impl::ConvertNSAToLinalgBase<ConvertNSAToLinalgPass> {
  using Base::Base;
  void runOnOperation() override {
    if (failed(verifySelectsLowerable(getOperation())))
      return signalPassFailure();
    if (branchAttention && failed(verifyDenseBranchAttentions(getOperation())))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    populateNSAToLinalgPatterns(patterns);
    if (branchAttention)
      populateDenseBranchAttentionPatterns(patterns);
    walkAndApplyPatterns(getOperation(), std::move(patterns));
  }
};

} // namespace

void mlir::nsa::populateNSAToLinalgPatterns(RewritePatternSet &patterns) {
  patterns.add<LowerCompress, LowerCompressedProbs, LowerCombineLike<CombineOp>,
               LowerSelect>(patterns.getContext());
}
