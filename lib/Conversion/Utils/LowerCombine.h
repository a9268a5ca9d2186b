//===- LowerCombine.h - nsa.combine(_tile) to linalg -----------*- C++ -*-===//

#ifndef NSA_LIB_CONVERSION_UTILS_LOWERCOMBINE_H
#define NSA_LIB_CONVERSION_UTILS_LOWERCOMBINE_H

#include "LinalgBuilder.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

namespace mlir::nsa {

/// nsa.combine (tensor level) and nsa.combine_tile (tile level) as one
/// element-wise linalg.generic (LinalgBuilder::combine): the two ops share
/// their operands and differ only in rank.
template <typename CombineLikeOp>
struct LowerCombineLike : OpRewritePattern<CombineLikeOp> {
  using OpRewritePattern<CombineLikeOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(CombineLikeOp op,
                                PatternRewriter &rewriter) const override {
    LinalgBuilder m{rewriter, op.getLoc()};
    rewriter.replaceOp(
        op, m.combine(op.getCompressed(), op.getSelected(), op.getWindow(),
                      op.getGates(),
                      getElementTypeOrSelf(op.getOutput().getType())));
    return success();
  }
};

} // namespace mlir::nsa

#endif // NSA_LIB_CONVERSION_UTILS_LOWERCOMBINE_H
