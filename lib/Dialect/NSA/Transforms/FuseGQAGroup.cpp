//===- FuseGQAGroup.cpp - One tile for all query heads of a KV group ------===//
//
// Rewrites a tile loop of nsa-tile in place: the query-head induction
// variable hq becomes the KV head h (bound Hq / G), uses of hq become h * G,
// every slice indexed by it widens from 1 to G heads, and result types are
// re-inferred through the loop body.
//
//===----------------------------------------------------------------------===//

#include "nsa/Dialect/NSA/IR/NSAOps.h"
#include "nsa/Dialect/NSA/Transforms/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"

namespace mlir::nsa {
#define GEN_PASS_DEF_NSAFUSEGQAGROUP
#include "nsa/Dialect/NSA/Transforms/Passes.h.inc"
} // namespace mlir::nsa

using namespace mlir;
using namespace mlir::nsa;

namespace {

/// The head dimension of the [B, T, H, D] activations and [B, T, H] lse.
constexpr unsigned kHeadDim = 2;

/// Whether `offsets`/`sizes` address exactly head `head` (one head).
bool slicesOneHeadAt(ArrayRef<OpFoldResult> offsets,
                     ArrayRef<OpFoldResult> sizes, Value head) {
  if (offsets.size() <= kHeadDim)
    return false;
  auto offset = dyn_cast<Value>(offsets[kHeadDim]);
  return offset == head && isConstantIntValue(sizes[kHeadDim], 1);
}

SmallVector<OpFoldResult> withHeads(ArrayRef<OpFoldResult> sizes,
                                    OpBuilder &b, int64_t heads) {
  SmallVector<OpFoldResult> widened(sizes);
  widened[kHeadDim] = b.getIndexAttr(heads);
  return widened;
}

/// Re-infers result types inside `block` after operand types changed: loop
/// carried values take their init types, branches their yielded types, and
/// ops with InferTypeOpInterface their inferred types.
LogicalResult propagateTypes(Block &block) {
  for (Operation &op : block) {
    if (auto forOp = dyn_cast<scf::ForOp>(op)) {
      for (auto [init, iterArg, result] :
           llvm::zip(forOp.getInitArgs(), forOp.getRegionIterArgs(),
                     forOp.getResults())) {
        iterArg.setType(init.getType());
        result.setType(init.getType());
      }
      if (failed(propagateTypes(*forOp.getBody())))
        return failure();
      continue;
    }
    if (auto ifOp = dyn_cast<scf::IfOp>(op)) {
      for (Region &region : ifOp->getRegions())
        for (Block &nested : region)
          if (failed(propagateTypes(nested)))
            return failure();
      for (auto [result, yielded] :
           llvm::zip(ifOp.getResults(), ifOp.thenYield().getOperands()))
        result.setType(yielded.getType());
      continue;
    }
    for (Region &region : op.getRegions())
      for (Block &nested : region)
        if (failed(propagateTypes(nested)))
          return failure();
    auto inferable = dyn_cast<InferTypeOpInterface>(op);
    if (!inferable)
      continue;
    SmallVector<Type> types;
    if (failed(inferable.inferReturnTypes(
            op.getContext(), op.getLoc(), op.getOperands(),
            op.getRawDictionaryAttrs(), op.getPropertiesStorage(),
            op.getRegions(), types)))
      return failure();
    for (auto [result, type] : llvm::zip(op.getResults(), types))
      result.setType(type);
  }
  return success();
}

LogicalResult fuseGroup(scf::ForallOp forall, int64_t groupSize) {
  SmallVector<int64_t> upperBounds(forall.getStaticUpperBound());
  int64_t queryHeads = upperBounds.back();
  if (ShapedType::isDynamic(queryHeads) || queryHeads % groupSize != 0)
    return forall.emitOpError()
           << "tile loop over query heads needs a static head bound "
              "divisible by the GQA group size "
           << groupSize;

  OpBuilder b(forall.getContext());
  Value head = forall.getInductionVars().back();
  upperBounds.back() = queryHeads / groupSize;
  forall.setStaticUpperBound(upperBounds);

  // Query head h * G leads the group of KV head h.
  b.setInsertionPointToStart(forall.getBody());
  Value firstHead = affine::AffineApplyOp::create(
      b, forall.getLoc(),
      AffineMap::get(1, 0, b.getAffineDimExpr(0) * groupSize), head);
  head.replaceAllUsesExcept(firstHead, firstHead.getDefiningOp());

  // Widen the query tiles.
  SmallVector<tensor::ExtractSliceOp> extracts;
  forall.getBody()->walk([&](tensor::ExtractSliceOp op) {
    if (slicesOneHeadAt(op.getMixedOffsets(), op.getMixedSizes(), firstHead))
      extracts.push_back(op);
  });
  if (extracts.empty())
    return forall.emitOpError() << "has no query tile indexed by its head";
  for (tensor::ExtractSliceOp extract : extracts) {
    if (extract.getDroppedDims().test(kHeadDim))
      return extract.emitOpError()
             << "drops the head dimension, so its tile cannot be widened to "
                "the GQA group";
    b.setInsertionPoint(extract);
    SmallVector<OpFoldResult> sizes =
        withHeads(extract.getMixedSizes(), b, groupSize);
    llvm::SmallBitVector dropped = extract.getDroppedDims();
    SmallVector<int64_t> shape;
    for (auto [dim, size] : llvm::enumerate(sizes)) {
      if (dropped.test(dim))
        continue;
      std::optional<int64_t> extent = getConstantIntValue(size);
      shape.push_back(extent ? *extent : ShapedType::kDynamic);
    }
    auto type = RankedTensorType::get(
        shape, extract.getSourceType().getElementType());
    auto widened = tensor::ExtractSliceOp::create(
        b, extract.getLoc(), type, extract.getSource(),
        extract.getMixedOffsets(), sizes, extract.getMixedStrides());
    extract.replaceAllUsesWith(widened.getResult());
    extract.erase();
  }

  if (failed(propagateTypes(*forall.getBody())))
    return forall.emitOpError() << "could not re-infer the tile types";

  // Widen the output slices the tile writes.
  SmallVector<tensor::ParallelInsertSliceOp> inserts;
  for (Operation &op : forall.getTerminator().getYieldingOps())
    if (auto insert = dyn_cast<tensor::ParallelInsertSliceOp>(op))
      if (slicesOneHeadAt(insert.getMixedOffsets(), insert.getMixedSizes(),
                          firstHead))
        inserts.push_back(insert);
  for (tensor::ParallelInsertSliceOp insert : inserts) {
    b.setInsertionPoint(insert);
    tensor::ParallelInsertSliceOp::create(
        b, insert.getLoc(), insert.getSource(), insert.getDest(),
        insert.getMixedOffsets(),
        withHeads(insert.getMixedSizes(), b, groupSize),
        insert.getMixedStrides());
    insert.erase();
  }
  return success();
}

struct NSAFuseGQAGroupPass
    : nsa::impl::NSAFuseGQAGroupBase<NSAFuseGQAGroupPass> {
  void runOnOperation() override {
    SmallVector<scf::ForallOp> loops;
    getOperation()->walk([&](scf::ForallOp forall) {
      if (forall->hasAttr(kGQAGroupSizeAttr))
        loops.push_back(forall);
    });
    for (scf::ForallOp forall : loops) {
      auto groupSize = forall->getAttrOfType<IntegerAttr>(kGQAGroupSizeAttr);
      if (!groupSize || groupSize.getInt() < 1) {
        forall.emitOpError() << kGQAGroupSizeAttr
                             << " must be a positive integer";
        return signalPassFailure();
      }
      if (groupSize.getInt() > 1 &&
          failed(fuseGroup(forall, groupSize.getInt())))
        return signalPassFailure();
      forall->removeAttr(kGQAGroupSizeAttr);
      forall->setAttr(kGQAFusedAttr, UnitAttr::get(&getContext()));
    }
  }
};

} // namespace
