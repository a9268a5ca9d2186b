//===- NSATileToLinalg.cpp - nsa tile ops to linalg on tensors ------------===//
//
// The CPU execution of the tile-level IR: each tile op becomes a few
// linalg.generic ops computing exactly its documented math in f32.
//
//===----------------------------------------------------------------------===//

#include "nsa/Conversion/Passes.h"
#include "nsa/Dialect/NSA/IR/NSAOps.h"

#include "../Utils/ElementTypes.h"
#include "../Utils/LinalgBuilder.h"
#include "../Utils/LowerCombine.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

namespace mlir::nsa {
#define GEN_PASS_DEF_CONVERTNSATILETOLINALG
#include "nsa/Conversion/Passes.h.inc"
} // namespace mlir::nsa

using namespace mlir;
using namespace mlir::nsa;

namespace {

/// scale * q . k over a [R, G, Dk] query tile and an [N, Dk] key tile, as an
/// [R, G, N] f32 tensor, with `masked` (-inf or 0) where key c is not
/// visible to row r: its position stride * (key_pos + c) + offset is after
/// the row's query_pos + r, or (with a window) not inside the window.
Value maskedScores(LinalgBuilder &m, Value query, Value key, Value queryPos,
                   Value keyPos, double scale, int64_t stride, int64_t offset,
                   std::optional<int64_t> window, double masked) {
  OpBuilder &rewriter = m.b;
  Location loc = m.loc;
  SmallVector<OpFoldResult> q = tensor::getMixedSizes(rewriter, loc, query);
  SmallVector<OpFoldResult> k = tensor::getMixedSizes(rewriter, loc, key);
  // Loop dims: r (query row), g (head), n (key), d (head dim).
  SmallVector<OpFoldResult> scoreSizes{q[0], q[1], k[0]};
  Type f32 = m.f32();
  Value scores = m.generic(
      {query, key}, m.filled(scoreSizes, 0.0),
      {{0, 1, 3}, {2, 3}, {0, 1, 2}}, 4, {3},
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value product = arith::MulFOp::create(
            b, l, castScalar(b, l, a[0], f32), castScalar(b, l, a[1], f32));
        return arith::AddFOp::create(b, l, a[2], product);
      });
  return m.generic(
      {scores}, m.empty(scoreSizes, f32), {{0, 1, 2}, {0, 1, 2}}, 3, {},
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        auto index = [&](int64_t value) {
          return arith::ConstantIndexOp::create(b, l, value);
        };
        Value row = linalg::IndexOp::create(b, l, 0);
        Value col = linalg::IndexOp::create(b, l, 2);
        Value queryToken = arith::AddIOp::create(b, l, queryPos, row);
        Value keyToken = arith::AddIOp::create(
            b, l,
            arith::MulIOp::create(
                b, l, arith::AddIOp::create(b, l, keyPos, col),
                index(stride)),
            index(offset));
        Value visible = arith::CmpIOp::create(
            b, l, arith::CmpIPredicate::sle, keyToken, queryToken);
        if (window) {
          // keyToken > queryToken - window
          Value inWindow = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::sgt,
              arith::AddIOp::create(b, l, keyToken, index(*window)),
              queryToken);
          visible = arith::AndIOp::create(b, l, visible, inWindow);
        }
        Value scaled = arith::MulFOp::create(
            b, l, a[0],
            arith::ConstantOp::create(b, l, b.getF32FloatAttr(scale)));
        return arith::SelectOp::create(
            b, l, visible, scaled,
            arith::ConstantOp::create(b, l, b.getF32FloatAttr(masked)));
      });
}

struct LowerInitTileState : OpRewritePattern<InitTileStateOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(InitTileStateOp op,
                                PatternRewriter &rewriter) const override {
    LinalgBuilder m{rewriter, op.getLoc()};
    SmallVector<OpFoldResult> querySizes =
        tensor::getMixedSizes(rewriter, op.getLoc(), op.getQuery());
    SmallVector<OpFoldResult> stateSizes(querySizes.begin(),
                                         querySizes.begin() + 2);
    SmallVector<OpFoldResult> accSizes(stateSizes);
    accSizes.push_back(rewriter.getIndexAttr(op.getValueDimAttr().getInt()));
    rewriter.replaceOp(op,
                       {m.filled(stateSizes,
                                 -std::numeric_limits<double>::infinity()),
                        m.filled(stateSizes, 0.0), m.filled(accSizes, 0.0)});
    return success();
  }
};

struct LowerAttendTile : OpRewritePattern<AttendTileOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttendTileOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    LinalgBuilder m{rewriter, loc};
    SmallVector<OpFoldResult> q =
        tensor::getMixedSizes(rewriter, loc, op.getQuery());
    SmallVector<OpFoldResult> k =
        tensor::getMixedSizes(rewriter, loc, op.getKey());
    SmallVector<OpFoldResult> v =
        tensor::getMixedSizes(rewriter, loc, op.getValue());
    // Loop dims: r (query row), g (head), n (key), d (head dim) or e (value
    // dim).
    SmallVector<OpFoldResult> scoreSizes{q[0], q[1], k[0]};
    SmallVector<OpFoldResult> stateSizes{q[0], q[1]};
    SmallVector<OpFoldResult> accSizes{q[0], q[1], v[1]};
    Type f32 = m.f32();

    std::optional<int64_t> window;
    if (IntegerAttr windowAttr = op.getWindowAttr())
      window = windowAttr.getInt();
    Value masked = maskedScores(
        m, op.getQuery(), op.getKey(), op.getQueryPos(), op.getKeyPos(),
        op.getScale().convertToDouble(), op.getKeyStrideAttr().getInt(),
        op.getKeyOffsetAttr().getInt(), window,
        -std::numeric_limits<double>::infinity());

    Value newMax = m.generic(
        {masked}, op.getMax(), {{0, 1, 2}, {0, 1}}, 3, {2},
        [](OpBuilder &b, Location l, ValueRange a) -> Value {
          return arith::MaximumFOp::create(b, l, a[0], a[1]);
        });
    // exp(x - max') with max' = 0 while no key was visible, so that all-
    // masked rows give exp(-inf) = 0 instead of NaN.
    Value safeMax = m.generic(
        {newMax}, m.empty(stateSizes, f32), {{0, 1}, {0, 1}}, 2, {},
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value isEmpty = arith::CmpFOp::create(
              b, l, arith::CmpFPredicate::OEQ, a[0],
              arith::ConstantOp::create(
                  b, l,
                  b.getF32FloatAttr(-std::numeric_limits<double>::infinity())));
          Value zero = arith::ConstantOp::create(b, l, b.getF32FloatAttr(0));
          return arith::SelectOp::create(b, l, isEmpty, zero, a[0]);
        });
    auto expDiff = [](OpBuilder &b, Location l, ValueRange a) -> Value {
      return math::ExpOp::create(b, l, arith::SubFOp::create(b, l, a[0], a[1]));
    };
    Value rescale = m.generic({op.getMax(), safeMax},
                              m.empty(stateSizes, f32),
                              {{0, 1}, {0, 1}, {0, 1}}, 2, {}, expDiff);
    Value probs = m.generic({masked, safeMax}, m.empty(scoreSizes, f32),
                            {{0, 1, 2}, {0, 1}, {0, 1, 2}}, 3, {}, expDiff);
    auto multiply = [](OpBuilder &b, Location l, ValueRange a) -> Value {
      return arith::MulFOp::create(b, l, a[0], a[1]);
    };
    Value scaledSum =
        m.generic({rescale, op.getSum()}, m.empty(stateSizes, f32),
                  {{0, 1}, {0, 1}, {0, 1}}, 2, {}, multiply);
    Value newSum = m.generic(
        {probs}, scaledSum, {{0, 1, 2}, {0, 1}}, 3, {2},
        [](OpBuilder &b, Location l, ValueRange a) -> Value {
          return arith::AddFOp::create(b, l, a[1], a[0]);
        });
    Value scaledAcc =
        m.generic({rescale, op.getAcc()}, m.empty(accSizes, f32),
                  {{0, 1}, {0, 1, 2}, {0, 1, 2}}, 3, {}, multiply);
    Value newAcc = m.generic(
        {probs, op.getValue()}, scaledAcc, {{0, 1, 3}, {3, 2}, {0, 1, 2}}, 4,
        {3}, [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value product = arith::MulFOp::create(b, l, a[0],
                                                castScalar(b, l, a[1], f32));
          return arith::AddFOp::create(b, l, a[2], product);
        });
    rewriter.replaceOp(op, {newMax, newSum, newAcc});
    return success();
  }
};

struct LowerFinalizeTile : OpRewritePattern<FinalizeTileOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(FinalizeTileOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    LinalgBuilder m{rewriter, loc};
    SmallVector<OpFoldResult> accSizes =
        tensor::getMixedSizes(rewriter, loc, op.getAcc());
    SmallVector<OpFoldResult> stateSizes(accSizes.begin(),
                                         accSizes.begin() + 2);
    Type elementType = op.getElementType();
    auto positive = [](OpBuilder &b, Location l, Value sum) -> Value {
      return arith::CmpFOp::create(
          b, l, arith::CmpFPredicate::OGT, sum,
          arith::ConstantOp::create(b, l, b.getF32FloatAttr(0)));
    };
    Value output = m.generic(
        {op.getSum(), op.getAcc()}, m.empty(accSizes, elementType),
        {{0, 1}, {0, 1, 2}, {0, 1, 2}}, 3, {},
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value normalized = castScalar(
              b, l, arith::DivFOp::create(b, l, a[1], a[0]), elementType);
          Value zero = arith::ConstantOp::create(
              b, l, b.getFloatAttr(elementType, 0.0));
          return arith::SelectOp::create(b, l, positive(b, l, a[0]),
                                         normalized, zero);
        });
    Value lse = m.generic(
        {op.getMax(), op.getSum()}, m.empty(stateSizes, m.f32()),
        {{0, 1}, {0, 1}, {0, 1}}, 2, {},
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value value = arith::AddFOp::create(
              b, l, a[0], math::LogOp::create(b, l, a[1]));
          Value negInf = arith::ConstantOp::create(
              b, l,
              b.getF32FloatAttr(-std::numeric_limits<double>::infinity()));
          return arith::SelectOp::create(b, l, positive(b, l, a[1]), value,
                                         negInf);
        });
    rewriter.replaceOp(op, {output, lse});
    return success();
  }
};

struct LowerProbsTile : OpRewritePattern<ProbsTileOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ProbsTileOp op,
                                PatternRewriter &rewriter) const override {
    LinalgBuilder m{rewriter, op.getLoc()};
    // Invisible keys score -inf, so exp gives them 0 (also for lse = -inf
    // rows, which see no key).
    Value masked = maskedScores(
        m, op.getQuery(), op.getKey(), op.getQueryPos(), op.getKeyPos(),
        op.getScale().convertToDouble(), op.getKeyStrideAttr().getInt(),
        op.getKeyOffsetAttr().getInt(), std::nullopt,
        -std::numeric_limits<double>::infinity());
    Value probs = m.generic(
        {masked, op.getLse()}, m.empty(tensor::getMixedSizes(
                                           rewriter, op.getLoc(), masked),
                                       m.f32()),
        {{0, 1, 2}, {0, 1}, {0, 1, 2}}, 3, {},
        [](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value isMasked = arith::CmpFOp::create(
              b, l, arith::CmpFPredicate::OEQ, a[0],
              arith::ConstantOp::create(
                  b, l,
                  b.getF32FloatAttr(-std::numeric_limits<double>::infinity())));
          Value p = math::ExpOp::create(b, l,
                                        arith::SubFOp::create(b, l, a[0], a[1]));
          return arith::SelectOp::create(
              b, l, isMasked,
              arith::ConstantOp::create(b, l, b.getF32FloatAttr(0.0)), p);
        });
    if (op.getGroupSum()) {
      // [R, G, N] -> [R, 1, N]: loops (r, c, g), g the reduction.
      Value rows = tensor::DimOp::create(rewriter, op.getLoc(), probs, 0);
      Value keys = tensor::DimOp::create(rewriter, op.getLoc(), probs, 2);
      Value sums =
          m.filled({rows, rewriter.getIndexAttr(1), keys}, 0.0);
      AffineExpr r = m.dim(0), c = m.dim(1), g = m.dim(2);
      SmallVector<AffineExpr> inMap{r, g, c},
          sumMap{r, rewriter.getAffineConstantExpr(0), c};
      probs = m.genericIndexed(
          {probs}, sums, {inMap, sumMap}, 3, {2},
          [](OpBuilder &b, Location l, ValueRange a) -> Value {
            return arith::AddFOp::create(b, l, a[1], a[0]);
          });
      probs = tensor::CastOp::create(rewriter, op.getLoc(),
                                     op.getProbs().getType(), probs);
    }
    rewriter.replaceOp(op, probs);
    return success();
  }
};

/// A cache hint has nothing to do on the CPU path.
struct DropPrefetchTile : OpRewritePattern<PrefetchTileOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(PrefetchTileOp op,
                                PatternRewriter &rewriter) const override {
    rewriter.eraseOp(op);
    return success();
  }
};

struct ConvertNSATileToLinalgPass
    : nsa::impl::ConvertNSATileToLinalgBase<ConvertNSATileToLinalgPass> {
  void runOnOperation() override {
    // The patterns compute in f32 from any float; refuse what the NSA
    // semantics do not define instead of silently rounding (f64) or
    // converting what the CPU path cannot (f8). Every such op is reported.
    bool refused = false;
    getOperation()->walk([&](Operation *op) {
      Value activation;
      if (auto init = dyn_cast<InitTileStateOp>(op))
        activation = init.getQuery();
      else if (auto attend = dyn_cast<AttendTileOp>(op))
        activation = attend.getKey();
      else if (auto probs = dyn_cast<ProbsTileOp>(op))
        activation = probs.getQuery();
      if (activation &&
          failed(checkComputeActivationType(
              op, getElementTypeOrSelf(activation.getType()), "to linalg")))
        refused = true;
    });
    if (refused)
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    populateNSATileToLinalgPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace

void mlir::nsa::populateNSATileToLinalgPatterns(RewritePatternSet &patterns) {
  patterns
      .add<LowerInitTileState, LowerAttendTile, LowerFinalizeTile,
           LowerCombineLike<CombineTileOp>, LowerProbsTile, DropPrefetchTile>(
          patterns.getContext());
}
