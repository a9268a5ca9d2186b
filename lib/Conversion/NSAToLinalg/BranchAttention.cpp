//===- BranchAttention.cpp - Dense branch attentions for the CPU ----------===//
//
// The untiled CPU execution of nsa.compressed_attention,
// nsa.selected_attention and nsa.window, computed straight from their
// definitions (docs/nsa-semantics.md): for every (b, t), the [Hq, N] scores
// of the position's query heads against all N keys of the batch element,
// the branch's visibility mask, a safe softmax and the weighted sum of the
// values. It shares no code with nsa-tile and the online softmax, so the two
// CPU paths check each other. One emitter computes the attention; a branch
// contributes only its visibility predicate.
//
// Memory is O(Hq * N) per (b, t) iteration, never O(T * N): the iterations
// of the scf.forall each build (and, after bufferization, free) their own
// row temporaries, and the results are written into slices of the outputs.
//
//===----------------------------------------------------------------------===//

#include "BranchAttention.h"

#include "nsa/Dialect/NSA/IR/NSAOps.h"

#include "../Utils/ElementTypes.h"
#include "../Utils/LinalgBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"

#include <limits>

using namespace mlir;
using namespace mlir::nsa;

namespace {

/// A tensor the visibility predicate reads, built once per (b, t), with its
/// indexing over the (hq, n) loops of the masking generic.
struct RowOperand {
  Value tensor;
  SmallVector<AffineExpr> indexing;
};

/// The branch-specific part of a dense attention: which keys a query sees.
struct Visibility {
  /// The predicate's operands for query position `pos` of batch element
  /// `batch` (built inside the (b, t) iteration; may be none).
  std::function<SmallVector<RowOperand>(LinalgBuilder &, Value batch,
                                        Value pos)>
      rowOperands;
  /// Whether key `key` (an index into the key operand) is visible to query
  /// position `pos`; `elements` are the row operands' elements at the
  /// current (hq, n).
  std::function<Value(OpBuilder &, Location, Value pos, Value key,
                      ValueRange elements)>
      visible;
};

/// The activation element type of a branch attention (the verifier makes
/// every activation operand and the output agree on it).
Type activationType(Operation *op) {
  return cast<RankedTensorType>(op->getOperand(0).getType()).getElementType();
}

/// `source[offsets...]` with the unit dimensions `dropped` removed from the
/// result type: a view of one (b, t) row or one batch element.
Value slice(OpBuilder &b, Location loc, Value source,
            ArrayRef<OpFoldResult> offsets, ArrayRef<OpFoldResult> sizes,
            unsigned dropped) {
  auto type = cast<RankedTensorType>(source.getType());
  SmallVector<int64_t> shape;
  for (OpFoldResult size : sizes.drop_front(dropped)) {
    std::optional<int64_t> constant = getConstantIntValue(size);
    shape.push_back(constant ? *constant : ShapedType::kDynamic);
  }
  SmallVector<OpFoldResult> strides(sizes.size(), b.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(
      b, loc, RankedTensorType::get(shape, type.getElementType()), source,
      offsets, sizes, strides);
}

/// The dense masked attention of `op` (o, lse) over `key` / `value`
/// ([B, N, H, D]): per (b, t, hq), the scores of every key, -inf where
/// `visibility` says the key is not visible, softmax and the weighted sum of
/// the values in f32. A row with no visible key gets o = 0 and lse = -inf.
std::pair<Value, Value> emitDenseAttention(PatternRewriter &rewriter,
                                           Operation *op, Value query,
                                           Value key, Value value,
                                           ConfigAttr config,
                                           const Visibility &visibility) {
  Location loc = op->getLoc();
  auto queryType = cast<RankedTensorType>(query.getType());
  auto keyType = cast<RankedTensorType>(key.getType());
  auto valueType = cast<RankedTensorType>(value.getType());
  auto outputType = cast<RankedTensorType>(op->getResult(0).getType());
  auto lseType = cast<RankedTensorType>(op->getResult(1).getType());
  int64_t heads = queryType.getDimSize(2), keyDim = queryType.getDimSize(3);
  int64_t kvHeads = keyType.getDimSize(2), valueDim = valueType.getDimSize(3);
  int64_t group = heads / kvHeads;
  double scale = config.getScaleFor(keyDim);
  Type elementType = outputType.getElementType();

  OpFoldResult batch = tensor::getMixedSize(rewriter, loc, query, 0);
  OpFoldResult seqLen = tensor::getMixedSize(rewriter, loc, query, 1);
  auto emptyLike = [&](RankedTensorType type) -> Value {
    SmallVector<Value> dynamicSizes;
    OpFoldResult sizes[] = {batch, seqLen};
    for (auto [dim, size] : llvm::enumerate(sizes))
      if (type.isDynamicDim(dim))
        dynamicSizes.push_back(
            getValueOrCreateConstantIndexOp(rewriter, loc, size));
    return tensor::EmptyOp::create(rewriter, loc, type.getShape(),
                                   type.getElementType(), dynamicSizes);
  };
  auto forall = scf::ForallOp::create(
      rewriter, loc, ArrayRef<OpFoldResult>{batch, seqLen},
      ValueRange{emptyLike(outputType), emptyLike(lseType)}, std::nullopt);

  OpBuilder::InsertionGuard guard(rewriter);
  rewriter.setInsertionPointToStart(forall.getBody());
  SmallVector<Value> ivs = forall.getInductionVars();
  Value b0 = ivs[0], pos = ivs[1];
  LinalgBuilder m{rewriter, loc};
  OpFoldResult zero = rewriter.getIndexAttr(0), one = rewriter.getIndexAttr(1);
  auto index = [&](int64_t v) -> OpFoldResult {
    return rewriter.getIndexAttr(v);
  };

  // Views: the query heads of (b, t), [Hq, Dk], and all keys and values of
  // batch element b, [N, H, D].
  OpFoldResult numKeys = tensor::getMixedSize(rewriter, loc, key, 1);
  Value queryRow = slice(rewriter, loc, query, {b0, pos, zero, zero},
                         {one, one, index(heads), index(keyDim)}, 2);
  Value keys = slice(rewriter, loc, key, {b0, zero, zero, zero},
                     {one, numKeys, index(kvHeads), index(keyDim)}, 1);
  Value values = slice(rewriter, loc, value, {b0, zero, zero, zero},
                       {one, numKeys, index(kvHeads), index(valueDim)}, 1);

  // Loops (hq, n, e): scores[hq, n] = q[hq] . k[n, hq / G] in f32.
  AffineExpr hq = m.dim(0), n = m.dim(1), e = m.dim(2);
  AffineExpr kvHead = hq.floorDiv(group);
  SmallVector<OpFoldResult> scoreSizes{index(heads), numKeys};
  SmallVector<OpFoldResult> rowSizes{index(heads)};
  Type f32 = m.f32();
  Value scores = m.genericIndexed(
      {queryRow, keys}, m.filled(scoreSizes, 0.0),
      {{hq, e}, {n, kvHead, e}, {hq, n}}, 3, {2},
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value product = arith::MulFOp::create(b, l, castScalar(b, l, a[0], f32),
                                              castScalar(b, l, a[1], f32));
        return arith::AddFOp::create(b, l, a[2], product);
      });

  // Logits: scale * score where visible, else -inf.
  SmallVector<RowOperand> rowOperands = visibility.rowOperands(m, b0, pos);
  SmallVector<Value> maskInputs{scores};
  SmallVector<SmallVector<AffineExpr>> maskIndexings{{hq, n}};
  for (RowOperand &operand : rowOperands) {
    maskInputs.push_back(operand.tensor);
    maskIndexings.push_back(operand.indexing);
  }
  maskIndexings.push_back({hq, n});
  SmallVector<Indexing> maskMaps(maskIndexings.begin(), maskIndexings.end());
  Value logits = m.genericIndexed(
      maskInputs, m.empty(scoreSizes, f32), maskMaps, 2, {},
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value keyIndex = linalg::IndexOp::create(b, l, 1);
        Value visible = visibility.visible(b, l, pos, keyIndex,
                                           a.slice(1, rowOperands.size()));
        Value scaled = arith::MulFOp::create(
            b, l, a[0],
            arith::ConstantOp::create(b, l, b.getF32FloatAttr(scale)));
        Value negInf = arith::ConstantOp::create(
            b, l, b.getF32FloatAttr(-std::numeric_limits<double>::infinity()));
        return arith::SelectOp::create(b, l, visible, scaled, negInf);
      });

  // Safe softmax: the row max (-inf when nothing is visible, then 0 is
  // subtracted instead so that exp(-inf) = 0, not NaN), probabilities and
  // their sum.
  Value rowMax = m.generic(
      {logits}, m.filled(rowSizes, -std::numeric_limits<double>::infinity()),
      {{0, 1}, {0}}, 2, {1},
      [](OpBuilder &b, Location l, ValueRange a) -> Value {
        return arith::MaximumFOp::create(b, l, a[0], a[1]);
      });
  Value probs = m.generic(
      {logits, rowMax}, m.empty(scoreSizes, f32), {{0, 1}, {0}, {0, 1}}, 2, {},
      [](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value isEmpty = arith::CmpFOp::create(
            b, l, arith::CmpFPredicate::OEQ, a[1],
            arith::ConstantOp::create(
                b, l,
                b.getF32FloatAttr(-std::numeric_limits<double>::infinity())));
        Value safeMax = arith::SelectOp::create(
            b, l, isEmpty,
            arith::ConstantOp::create(b, l, b.getF32FloatAttr(0.0)), a[1]);
        return math::ExpOp::create(b, l,
                                   arith::SubFOp::create(b, l, a[0], safeMax));
      });
  Value rowSum =
      m.generic({probs}, m.filled(rowSizes, 0.0), {{0, 1}, {0}}, 2, {1},
                [](OpBuilder &b, Location l, ValueRange a) -> Value {
                  return arith::AddFOp::create(b, l, a[1], a[0]);
                });

  // Loops (hq, e, n): acc[hq, e] = sum_n p[hq, n] * v[n, hq / G, e].
  AffineExpr ve = m.dim(1), vn = m.dim(2);
  Value acc = m.genericIndexed(
      {probs, values}, m.filled({index(heads), index(valueDim)}, 0.0),
      {{hq, vn}, {vn, kvHead, ve}, {hq, ve}}, 3, {2},
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value product =
            arith::MulFOp::create(b, l, a[0], castScalar(b, l, a[1], f32));
        return arith::AddFOp::create(b, l, a[2], product);
      });

  // Normalize into the (b, t) slices of the results: o = acc / sum and
  // lse = max + log(sum) where the row saw a key, o = 0 and lse = -inf where
  // it did not (sum = 0 exactly then; otherwise sum >= 1).
  ValueRange outs = forall.getRegionIterArgs();
  SmallVector<OpFoldResult> outputOffsets{b0, pos, zero, zero};
  SmallVector<OpFoldResult> outputSizes{one, one, index(heads),
                                        index(valueDim)};
  SmallVector<OpFoldResult> lseOffsets{b0, pos, zero};
  SmallVector<OpFoldResult> lseSizes{one, one, index(heads)};
  auto sawKey = [](OpBuilder &b, Location l, Value sum) -> Value {
    return arith::CmpFOp::create(
        b, l, arith::CmpFPredicate::OGT, sum,
        arith::ConstantOp::create(b, l, b.getF32FloatAttr(0.0)));
  };
  Value output = m.generic(
      {rowSum, acc},
      slice(rewriter, loc, outs[0], outputOffsets, outputSizes, 2),
      {{0}, {0, 1}, {0, 1}}, 2, {},
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value normalized = castScalar(
            b, l, arith::DivFOp::create(b, l, a[1], a[0]), elementType);
        Value zeroValue =
            arith::ConstantOp::create(b, l, b.getFloatAttr(elementType, 0.0));
        return arith::SelectOp::create(b, l, sawKey(b, l, a[0]), normalized,
                                       zeroValue);
      });
  Value lse = m.generic(
      {rowMax, rowSum}, slice(rewriter, loc, outs[1], lseOffsets, lseSizes, 2),
      {{0}, {0}, {0}}, 1, {},
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value value =
            arith::AddFOp::create(b, l, a[0], math::LogOp::create(b, l, a[1]));
        Value negInf = arith::ConstantOp::create(
            b, l, b.getF32FloatAttr(-std::numeric_limits<double>::infinity()));
        return arith::SelectOp::create(b, l, sawKey(b, l, a[1]), value, negInf);
      });

  rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
  SmallVector<OpFoldResult> outputStrides(4, one), lseStrides(3, one);
  tensor::ParallelInsertSliceOp::create(rewriter, loc, output, outs[0],
                                        outputOffsets, outputSizes,
                                        outputStrides);
  tensor::ParallelInsertSliceOp::create(rewriter, loc, lse, outs[1], lseOffsets,
                                        lseSizes, lseStrides);
  return {forall.getResult(0), forall.getResult(1)};
}

Value indexConstant(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

/// key <= pos: causality for token keys.
Value notAfter(OpBuilder &b, Location loc, Value key, Value pos) {
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ule, key, pos);
}

/// The shared body of the three patterns: refuse unsupported element types,
/// emit, replace.
template <typename OpTy> struct DenseBranchPattern : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;

  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    if (!isComputeActivationType(activationType(op)))
      return rewriter.notifyMatchFailure(
          op, "dense branch attention supports f32, f16 and bf16 only");
    auto [output, lse] = emit(op, rewriter);
    rewriter.replaceOp(op, ValueRange{output, lse});
    return success();
  }

  virtual std::pair<Value, Value> emit(OpTy op,
                                       PatternRewriter &rewriter) const = 0;
};

/// Query t sees compressed block i iff it ends at or before t:
/// i * d + l - 1 <= t.
struct LowerCompressedAttention : DenseBranchPattern<CompressedAttentionOp> {
  using DenseBranchPattern::DenseBranchPattern;
  std::pair<Value, Value> emit(CompressedAttentionOp op,
                               PatternRewriter &rewriter) const override {
    int64_t stride = op.getConfig().getCmpStride(),
            lastToken = op.getConfig().getCmpBlock() - 1;
    Visibility visibility{
        [](LinalgBuilder &, Value, Value) { return SmallVector<RowOperand>(); },
        [=](OpBuilder &b, Location l, Value pos, Value block,
            ValueRange) -> Value {
          Value end = arith::AddIOp::create(
              b, l,
              arith::MulIOp::create(b, l, block, indexConstant(b, l, stride)),
              indexConstant(b, l, lastToken));
          return notAfter(b, l, end, pos);
        }};
    return emitDenseAttention(rewriter, op, op.getQuery(),
                              op.getCompressedKey(), op.getCompressedValue(),
                              op.getConfig(), visibility);
  }
};

/// Query t sees token s iff max(0, t - w + 1) <= s <= t.
struct LowerWindow : DenseBranchPattern<WindowOp> {
  using DenseBranchPattern::DenseBranchPattern;
  std::pair<Value, Value> emit(WindowOp op,
                               PatternRewriter &rewriter) const override {
    int64_t window = op.getConfig().getWindow();
    Visibility visibility{
        [](LinalgBuilder &, Value, Value) { return SmallVector<RowOperand>(); },
        [=](OpBuilder &b, Location l, Value pos, Value token,
            ValueRange) -> Value {
          // s + w > t, i.e. s >= t - w + 1.
          Value inWindow = arith::CmpIOp::create(
              b, l, arith::CmpIPredicate::ugt,
              arith::AddIOp::create(b, l, token, indexConstant(b, l, window)),
              pos);
          return arith::AndIOp::create(b, l, notAfter(b, l, token, pos),
                                       inWindow);
        }};
    return emitDenseAttention(rewriter, op, op.getQuery(), op.getKey(),
                              op.getValue(), op.getConfig(), visibility);
  }
};

/// Query t of head hq sees token s iff s <= t and s's selection block s / l'
/// is one of indices[b, t, hq / G] (-1 and other non-block entries match no
/// token; a block listed twice counts once, as in the reference).
struct LowerSelectedAttention : DenseBranchPattern<SelectedAttentionOp> {
  using DenseBranchPattern::DenseBranchPattern;
  std::pair<Value, Value> emit(SelectedAttentionOp op,
                               PatternRewriter &rewriter) const override {
    ConfigAttr config = op.getConfig();
    int64_t slcBlock = config.getSlcBlock(), topN = config.getTopN();
    auto keyType = cast<RankedTensorType>(op.getKey().getType());
    auto queryType = cast<RankedTensorType>(op.getQuery().getType());
    int64_t kvHeads = keyType.getDimSize(2);
    int64_t group = queryType.getDimSize(2) / kvHeads;
    Value key = op.getKey(), indices = op.getIndices();
    Visibility visibility{
        // selected[h, s] = OR over the n slots of indices[b, t, h, slot] ==
        // s / l': an i1 [H, T] row mask.
        [=](LinalgBuilder &m, Value batch, Value pos) {
          OpFoldResult zero = m.b.getIndexAttr(0), one = m.b.getIndexAttr(1);
          Value row = slice(
              m.b, m.loc, indices, {batch, pos, zero, zero},
              {one, one, m.b.getIndexAttr(kvHeads), m.b.getIndexAttr(topN)}, 2);
          SmallVector<OpFoldResult> sizes{
              m.b.getIndexAttr(kvHeads),
              tensor::getMixedSize(m.b, m.loc, key, 1)};
          Value none = arith::ConstantIntOp::create(m.b, m.loc, 0, 1);
          // Loops (h, s, slot).
          Value mask = m.genericIndexed(
              {row}, m.filledWith(sizes, none),
              {{m.dim(0), m.dim(2)}, {m.dim(0), m.dim(1)}}, 3, {2},
              [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                Value token = linalg::IndexOp::create(b, l, 1);
                Value block = arith::IndexCastOp::create(
                    b, l, b.getI32Type(),
                    arith::DivUIOp::create(b, l, token,
                                           indexConstant(b, l, slcBlock)));
                Value listed = arith::CmpIOp::create(
                    b, l, arith::CmpIPredicate::eq, a[0], block);
                return arith::OrIOp::create(b, l, a[1], listed);
              });
          return SmallVector<RowOperand>{
              {mask, {m.dim(0).floorDiv(group), m.dim(1)}}};
        },
        [](OpBuilder &b, Location l, Value pos, Value token,
           ValueRange elements) -> Value {
          return arith::AndIOp::create(b, l, notAfter(b, l, token, pos),
                                       elements[0]);
        }};
    return emitDenseAttention(rewriter, op, op.getQuery(), op.getKey(),
                              op.getValue(), config, visibility);
  }
};

} // namespace

LogicalResult mlir::nsa::verifyDenseBranchAttentions(Operation *root) {
  bool refused = false;
  root->walk([&](Operation *op) {
    if (!isa<CompressedAttentionOp, SelectedAttentionOp, WindowOp>(op))
      return;
    if (failed(checkComputeActivationType(op, activationType(op),
                                          "by branch-attention")))
      refused = true;
  });
  return failure(refused);
}

void mlir::nsa::populateDenseBranchAttentionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<LowerCompressedAttention, LowerSelectedAttention, LowerWindow>(
      patterns.getContext());
}
