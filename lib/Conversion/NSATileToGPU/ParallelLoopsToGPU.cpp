//===- ParallelLoopsToGPU.cpp - one GPU thread per parallel iteration -----===//
//
// The GPU execution of everything that is not a tile loop (compression,
// compressed probabilities, selection scores, the per-row top-n, the gated
// combine): after bufferization these are scf.parallel loop nests on
// memrefs (from linalg and from scf.forall), each iteration independent.
// Every outermost scf.parallel outside a kernel becomes a gpu.launch over
// the flattened iteration space, one thread per iteration, with the body
// (including its sequential reduction loops) cloned per thread.
//
//===----------------------------------------------------------------------===//

#include "nsa/Conversion/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"

namespace mlir::nsa {
#define GEN_PASS_DEF_NSAMAPPARALLELLOOPSTOGPU
#include "nsa/Conversion/Passes.h.inc"
} // namespace mlir::nsa

using namespace mlir;

namespace {

LogicalResult mapToGPU(scf::ParallelOp loop, int64_t blockSize) {
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
    total = arith::MulIOp::create(b, loc, total, trips);
  }
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
  IRMapping map;
  Value rest = linear;
  for (int64_t dim = loop.getNumLoops() - 1; dim >= 0; --dim) {
    Value coord = dim == 0 ? rest
                           : arith::RemUIOp::create(b, loc, rest,
                                                    tripCounts[dim]);
    if (dim != 0)
      rest = arith::DivUIOp::create(b, loc, rest, tripCounts[dim]);
    Value iv = arith::AddIOp::create(
        b, loc, loop.getLowerBound()[dim],
        arith::MulIOp::create(b, loc, coord, loop.getStep()[dim]));
    map.map(loop.getInductionVars()[dim], iv);
  }
  for (Operation &op : loop.getBody()->without_terminator())
    b.clone(op, map);
  loop.erase();
  return success();
}

struct NSAMapParallelLoopsToGPUPass
    : nsa::impl::NSAMapParallelLoopsToGPUBase<NSAMapParallelLoopsToGPUPass> {
  using Base::Base;
  void runOnOperation() override {
    if (blockSize < 1 || blockSize > 1024) {
      getOperation()->emitError()
          << "block-size (" << static_cast<int64_t>(blockSize) << ") must be in [1, 1024]";
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
      if (failed(mapToGPU(loop, blockSize)))
        return signalPassFailure();
  }
};

} // namespace
