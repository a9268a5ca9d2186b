//===- FuseCombine.cpp - nsa.combine into a branch's tile loop ------------===//
//
// Rewrites `o = nsa.combine(o_cmp, o_slc, o_win, g)` where one branch output
// comes from a tile loop: that loop stores nsa.combine_tile of its finalized
// tile and slices of the other operands at the same offsets, into the
// combine's result.
//
//===----------------------------------------------------------------------===//

#include "nsa/Dialect/NSA/IR/NSAOps.h"
#include "nsa/Dialect/NSA/Transforms/Passes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Dominance.h"
#include "mlir/IR/TypeUtilities.h"

namespace mlir::nsa {
#define GEN_PASS_DEF_NSAFUSECOMBINE
#include "nsa/Dialect/NSA/Transforms/Passes.h.inc"
} // namespace mlir::nsa

using namespace mlir;
using namespace mlir::nsa;

namespace {

/// A branch output a tile loop can absorb the combine into: the loop, the
/// store of its finalized tile into that output, and the branch's operand
/// index in the combine (0 compressed, 1 selected, 2 window).
struct FusionSite {
  scf::ForallOp forall;
  tensor::ParallelInsertSliceOp store;
  unsigned branch;
};

/// The site for operand `branch` of `combine`, if its tile loop qualifies
/// (see the pass description).
std::optional<FusionSite> fusionSite(CombineOp combine, unsigned branch,
                                     DominanceInfo &dominance) {
  Value output = combine->getOperand(branch);
  auto forall = output.getDefiningOp<scf::ForallOp>();
  if (!forall || !output.hasOneUse() ||
      output.getType() != combine.getOutput().getType())
    return std::nullopt;
  for (Value operand : combine->getOperands())
    if (operand != output && !dominance.properlyDominates(operand, forall))
      return std::nullopt;

  unsigned resultIndex = cast<OpResult>(output).getResultNumber();
  BlockArgument sharedOut = forall.getRegionIterArgs()[resultIndex];
  Value init = forall.getOutputs()[resultIndex];
  if (!init.getDefiningOp<tensor::EmptyOp>() || !init.hasOneUse() ||
      !sharedOut.hasOneUse())
    return std::nullopt;
  auto store =
      dyn_cast<tensor::ParallelInsertSliceOp>(*sharedOut.getUsers().begin());
  if (!store || store.getDest() != sharedOut ||
      !store.getSource().getDefiningOp<FinalizeTileOp>())
    return std::nullopt;
  // The stored tile covers whole rows: [.., R, G, Dv] at column 0, so the
  // gates' slice is the same rows and heads with 3 columns.
  auto tileType = store.getSourceType();
  int64_t lastDim = store.getDestType().getRank() - 1;
  if (tileType.getRank() != 3 || !store.hasUnitStride() ||
      !isConstantIntValue(store.getMixedOffsets()[lastDim], 0) ||
      store.getDroppedDims().test(lastDim))
    return std::nullopt;
  return FusionSite{forall, store, branch};
}

void fuse(CombineOp combine, FusionSite site) {
  tensor::ParallelInsertSliceOp store = site.store;
  Location loc = combine.getLoc();
  // The slices go right before the loop's terminator, after the finalize.
  OpBuilder b(site.forall.getTerminator());
  SmallVector<OpFoldResult> offsets = store.getMixedOffsets();
  SmallVector<OpFoldResult> sizes = store.getMixedSizes();
  SmallVector<OpFoldResult> strides = store.getMixedStrides();
  RankedTensorType tileType = store.getSourceType();
  auto sliceOf = [&](Value source, ArrayRef<OpFoldResult> sliceOffsets,
                     ArrayRef<OpFoldResult> sliceSizes,
                     ArrayRef<int64_t> shape) -> Value {
    auto type =
        RankedTensorType::get(shape, getElementTypeOrSelf(source.getType()));
    return tensor::ExtractSliceOp::create(b, loc, type, source, sliceOffsets,
                                          sliceSizes, strides);
  };
  SmallVector<Value> branches;
  for (unsigned branch = 0; branch < 3; ++branch)
    branches.push_back(branch == site.branch
                           ? store.getSource()
                           : sliceOf(combine->getOperand(branch), offsets,
                                     sizes, tileType.getShape()));
  SmallVector<OpFoldResult> gateOffsets(offsets), gateSizes(sizes);
  gateOffsets.back() = b.getIndexAttr(0);
  gateSizes.back() = b.getIndexAttr(3);
  SmallVector<int64_t> gateShape(tileType.getShape());
  gateShape.back() = 3;
  Value gates = sliceOf(combine.getGates(), gateOffsets, gateSizes, gateShape);
  auto combined = CombineTileOp::create(b, loc, branches[0], branches[1],
                                        branches[2], gates);
  store.getSourceMutable().assign(combined.getOutput());
  combine.getOutput().replaceAllUsesWith(combine->getOperand(site.branch));
  combine.erase();
}

struct NSAFuseCombinePass
    : mlir::nsa::impl::NSAFuseCombineBase<NSAFuseCombinePass> {
  void runOnOperation() override {
    SmallVector<CombineOp> combines;
    getOperation()->walk([&](CombineOp op) { combines.push_back(op); });
    DominanceInfo dominance(getOperation());
    // Window, compressed, selected: see the pass description.
    constexpr unsigned kPreference[] = {2, 0, 1};
    for (CombineOp combine : combines) {
      for (unsigned branch : kPreference) {
        if (std::optional<FusionSite> site =
                fusionSite(combine, branch, dominance)) {
          fuse(combine, *site);
          break;
        }
      }
    }
  }
};

} // namespace
