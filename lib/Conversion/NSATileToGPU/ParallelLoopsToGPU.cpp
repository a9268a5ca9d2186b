//===- ParallelLoopsToGPU.cpp - one GPU thread per parallel iteration -----===//
//
// The GPU execution of everything that is not a tile loop (compression,
// compressed probabilities, selection scores, the per-row top-n, the gated
// combine): after bufferization these are scf.parallel loop nests on
// memrefs (from linalg and from scf.forall), each iteration independent.
// Every outermost scf.parallel outside a kernel becomes a gpu.launch over
// the flattened iteration space, with the body (including its sequential
// reduction loops) cloned per thread. A constant innermost trip count is
// split over a few iterations per thread (coarsening), so the index
// arithmetic, which otherwise outweighs an elementwise body, is paid once
// for several elements, and their loads are in flight together.
//
//===----------------------------------------------------------------------===//

#include "nsa/Conversion/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::nsa {
#define GEN_PASS_DEF_NSAMAPPARALLELLOOPSTOGPU
#include "nsa/Conversion/Passes.h.inc"
} // namespace mlir::nsa

using namespace mlir;

namespace {

/// Iterations of the innermost dimension (constant trip count `trips`) one
/// thread runs: the largest power of two up to `maxPerThread` that divides
/// `trips` and leaves at least a warp of threads across it (so each of the
/// thread's iterations is still one coalesced access per warp).
int64_t innermostPerThread(int64_t trips, int64_t maxPerThread) {
  constexpr int64_t kWarp = 32;
  int64_t perThread = 1;
  while (perThread * 2 <= maxPerThread && trips % (perThread * 2) == 0 &&
         trips / (perThread * 2) >= kWarp)
    perThread *= 2;
  return perThread;
}

LogicalResult mapToGPU(scf::ParallelOp loop, int64_t blockSize,
                       int64_t maxPerThread) {
  OpBuilder b(loop);
  Location loc = loop.getLoc();
  if (!loop.getInitVals().empty())
    return loop.emitOpError()
           << "with reductions is not supported by the GPU mapping";

  // Trip counts and the flattened iteration count.
  SmallVector<Value> tripCounts;
  Value total = arith::ConstantIndexOp::create(b, loc, 1);
  for (auto [lower, upper, step] :
       llvm::zip(loop.getLowerBound(), loop.getUpperBound(), loop.getStep())) {
    AffineExpr l, u, s;
    bindSymbols(b.getContext(), l, u, s);
    Value trips = getValueOrCreateConstantIndexOp(
        b, loc,
        affine::makeComposedFoldedAffineApply(
            b, loc, (u - l).ceilDiv(s),
            ArrayRef<OpFoldResult>{lower, upper, step}));
    tripCounts.push_back(trips);
  }
  // Thread j of the innermost dimension runs iterations j + k * (trips /
  // perThread), k < perThread: for each k a warp's lanes stay consecutive.
  int64_t innermost = loop.getNumLoops() - 1;
  int64_t perThread = 1, innermostTrips = 0;
  if (std::optional<int64_t> trips =
          getConstantIntValue(tripCounts[innermost])) {
    perThread = innermostPerThread(*trips, maxPerThread);
    innermostTrips = *trips / perThread;
    tripCounts[innermost] =
        arith::ConstantIndexOp::create(b, loc, innermostTrips);
  }
  for (Value trips : tripCounts)
    total = arith::MulIOp::create(b, loc, total, trips);
  Value threads = arith::ConstantIndexOp::create(b, loc, blockSize);
  Value blocks = arith::CeilDivUIOp::create(b, loc, total, threads);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  auto launch =
      gpu::LaunchOp::create(b, loc, blocks, one, one, threads, one, one);

  OpBuilder::InsertionGuard guard(b);
  Block &body = launch.getBody().front();
  b.setInsertionPointToStart(&body);
  Value linear = arith::AddIOp::create(
      b, loc,
      arith::MulIOp::create(b, loc, launch.getBlockIds().x, threads),
      launch.getThreadIds().x);
  Value inRange = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                        linear, total);
  auto guardIf = scf::IfOp::create(b, loc, inRange, /*withElse=*/false);
  gpu::TerminatorOp::create(b, loc);

  b.setInsertionPointToStart(&guardIf.getThenRegion().front());
  // Delinearize, innermost dimension fastest (consecutive threads touch
  // consecutive elements of row-major buffers).
  SmallVector<Value> coords(loop.getNumLoops());
  Value rest = linear;
  for (int64_t dim = innermost; dim >= 0; --dim) {
    coords[dim] =
        dim == 0 ? rest : arith::RemUIOp::create(b, loc, rest, tripCounts[dim]);
    if (dim != 0)
      rest = arith::DivUIOp::create(b, loc, rest, tripCounts[dim]);
  }
  auto inductionValue = [&](int64_t dim, Value coord) -> Value {
    return arith::AddIOp::create(
        b, loc, loop.getLowerBound()[dim],
        arith::MulIOp::create(b, loc, coord, loop.getStep()[dim]));
  };
  IRMapping outer;
  for (int64_t dim = 0; dim < innermost; ++dim)
    outer.map(loop.getInductionVars()[dim], inductionValue(dim, coords[dim]));
  // One mapping per copy (region cloning skips block arguments that are
  // already mapped).
  SmallVector<IRMapping> copies(perThread, outer);
  for (int64_t k = 0; k < perThread; ++k) {
    Value coord = coords[innermost];
    if (k > 0)
      coord = arith::AddIOp::create(
          b, loc, coord,
          arith::ConstantIndexOp::create(b, loc, k * innermostTrips));
    copies[k].map(loop.getInductionVars()[innermost],
                  inductionValue(innermost, coord));
  }
  // The copies run in lockstep, op by op: all their loads are issued before
  // the first store, which LLVM could not hoist them over (it cannot tell
  // that the buffers do not alias), so a thread has all its reads in flight
  // at once. Reordering across iterations is what scf.parallel allows.
  for (Operation &op : loop.getBody()->without_terminator())
    for (IRMapping &map : copies)
      b.clone(op, map);
  loop.erase();
  return success();
}

struct NSAMapParallelLoopsToGPUPass
    : nsa::impl::NSAMapParallelLoopsToGPUBase<NSAMapParallelLoopsToGPUPass> {
  using Base::Base;
  void runOnOperation() override {
    // Option errors name the option, not the module (no IR dump).
    if (blockSize < 1 || blockSize > 1024) {
      emitError(getOperation()->getLoc())
          << "block-size (" << static_cast<int64_t>(blockSize) << ") must be in [1, 1024]";
      return signalPassFailure();
    }
    if (elementsPerThread < 1 || elementsPerThread > 64) {
      emitError(getOperation()->getLoc())
          << "elements-per-thread (" << static_cast<int64_t>(elementsPerThread)
          << ") must be in [1, 64]";
      return signalPassFailure();
    }
    SmallVector<scf::ParallelOp> loops;
    getOperation()->walk([&](scf::ParallelOp loop) {
      if (!loop->getParentOfType<scf::ParallelOp>() &&
          !loop->getParentOfType<gpu::LaunchOp>() &&
          !loop->getParentOfType<gpu::GPUModuleOp>())
        loops.push_back(loop);
    });
    for (scf::ParallelOp loop : loops)
      if (failed(mapToGPU(loop, blockSize, elementsPerThread)))
        return signalPassFailure();
  }
};

} // namespace
