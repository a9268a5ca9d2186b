//===- Decompose.cpp - nsa.attention into branch ops ----------------------===//

#include "nsa/Dialect/NSA/IR/NSAOps.h"
#include "nsa/Dialect/NSA/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::nsa {
#define GEN_PASS_DEF_NSADECOMPOSE
#include "nsa/Dialect/NSA/Transforms/Passes.h.inc"
} // namespace mlir::nsa

using namespace mlir;
using namespace mlir::nsa;

namespace {

/// Branch order of per-branch keys and values and of the gates.
enum Branch : unsigned { Compressed = 0, Selected = 1, Window = 2 };

/// The extents that the intermediate tensor types are built from.
struct AttentionShape {
  int64_t batch;
  int64_t seqLen; // ShapedType::kDynamic when dynamic
  int64_t queryHeads;
  int64_t kvHeads;
  int64_t keyDim;
  int64_t valueDim;
  Type elementType;

  /// The first static extent of `dim` among `types`, else dynamic.
  static int64_t staticExtent(ArrayRef<RankedTensorType> types, int64_t dim) {
    for (RankedTensorType type : types)
      if (!type.isDynamicDim(dim))
        return type.getDimSize(dim);
    return ShapedType::kDynamic;
  }

  static AttentionShape of(AttentionOp op) {
    auto query = cast<RankedTensorType>(op.getQuery().getType());
    SmallVector<RankedTensorType> perToken{query};
    for (Value key : op.getKeys())
      perToken.push_back(cast<RankedTensorType>(key.getType()));
    auto key = cast<RankedTensorType>(op.getKeys().front().getType());
    auto value = cast<RankedTensorType>(op.getValues().front().getType());
    return {staticExtent(perToken, 0), staticExtent(perToken, 1),
            query.getDimSize(2),       key.getDimSize(2),
            key.getDimSize(3),         value.getDimSize(3),
            query.getElementType()};
  }

  int64_t numCompressedBlocks(ConfigAttr config) const {
    return ShapedType::isDynamic(seqLen)
               ? ShapedType::kDynamic
               : config.getNumCompressedBlocks(seqLen);
  }
};

struct DecomposeAttention : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    ConfigAttr config = op.getConfig();
    AttentionShape shape = AttentionShape::of(op);
    Type f32 = rewriter.getF32Type();
    int64_t numBlocks = shape.numCompressedBlocks(config);
    auto tensor = [](ArrayRef<int64_t> dims, Type elementType) {
      return RankedTensorType::get(dims, elementType);
    };
    auto perQuery = [&](int64_t dim, Type elementType) {
      return tensor({shape.batch, shape.seqLen, shape.queryHeads, dim},
                    elementType);
    };
    Type outputType = op.getOutput().getType();
    Type lseType = op.getLseCmp().getType();

    auto compress = CompressOp::create(
        rewriter, loc,
        tensor({shape.batch, numBlocks, shape.kvHeads, shape.keyDim},
               shape.elementType),
        tensor({shape.batch, numBlocks, shape.kvHeads, shape.valueDim},
               shape.elementType),
        op.getBranchKeys(Compressed), op.getBranchValues(Compressed),
        op.getKeyWeights(), op.getValueWeights(), config);
    auto compressed = CompressedAttentionOp::create(
        rewriter, loc, outputType, lseType, op.getQuery(),
        compress.getCompressedKey(), compress.getCompressedValue(), config);
    auto probs = CompressedProbsOp::create(
        rewriter, loc, perQuery(numBlocks, f32), op.getQuery(),
        compress.getCompressedKey(), compressed.getLse(), config);
    auto select = SelectOp::create(
        rewriter, loc,
        tensor({shape.batch, shape.seqLen, shape.kvHeads, config.getTopN()},
               rewriter.getI32Type()),
        probs.getProbs(), config);
    auto selected = SelectedAttentionOp::create(
        rewriter, loc, outputType, lseType, op.getQuery(),
        op.getBranchKeys(Selected), op.getBranchValues(Selected),
        select.getIndices(), config);
    auto window = WindowOp::create(rewriter, loc, outputType, lseType,
                                   op.getQuery(), op.getBranchKeys(Window),
                                   op.getBranchValues(Window), config);
    auto combine = CombineOp::create(
        rewriter, loc, outputType, compressed.getOutput(),
        selected.getOutput(), window.getOutput(), op.getGates());

    rewriter.replaceOp(op, {combine.getOutput(), compressed.getLse(),
                            selected.getLse(), window.getLse()});
    return success();
  }
};

struct NSADecomposePass
    : nsa::impl::NSADecomposeBase<NSADecomposePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateDecomposePatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace

void mlir::nsa::populateDecomposePatterns(RewritePatternSet &patterns) {
  patterns.add<DecomposeAttention>(patterns.getContext());
}
