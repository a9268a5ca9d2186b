//===- NSATileToGPU.cpp - tile loops to GPU kernels -----------------------===//
//
// Lowers each tile loop (an scf.forall whose body runs the nsa tile ops, as
// nsa-tile and nsa-fuse-gqa-group leave it) to a gpu.launch:
//
// - the loop's iterations (batch, query tile, head group) become the grid;
// - inside a thread block the query tile's rows (position x head) are
//   distributed over warps, and each warp runs the tile's KV loop nest for
//   its row, with the 32 lanes splitting the head dimensions: q . k is a
//   lane-partial dot product reduced with shuffles, the online-softmax state
//   lives in registers (max and sum as scalars, the accumulator as a vector
//   of ceil(Dv / 32) values per lane);
// - all heads of a fused tile walk the same KV rows in the same order, so the
//   group's K/V reads are served once from DRAM and then from L1/L2.
//
// The loop nest between nsa.init_tile_state and nsa.finalize_tile (scf.for,
// scf.if, index arithmetic, tensor.extract of selected indices) is cloned
// as is, with the tile state carried as registers instead of tensors, so the
// block lists of the three branches come from nsa-tile unchanged.
//
// Tensors captured by the loop are read through bufferization.to_buffer,
// and the loop's results are fresh buffers wrapped by
// bufferization.to_tensor, so one-shot-bufferize handles the rest of the
// function afterwards.
//
//===----------------------------------------------------------------------===//

#include "nsa/Conversion/Passes.h"
#include "nsa/Dialect/NSA/IR/NSAOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"

#include <limits>

namespace mlir::nsa {
#define GEN_PASS_DEF_CONVERTNSATILETOGPU
#include "nsa/Conversion/Passes.h.inc"
} // namespace mlir::nsa

using namespace mlir;
using namespace mlir::nsa;

namespace {

constexpr int64_t kWarpSize = 32;

/// How a tensor.extract_slice of a captured tensor addresses its buffer:
/// slice coordinate k is source dimension keptDims[k], at offsets[dim] + k.
struct SliceInfo {
  Value buffer;
  SmallVector<Value> offsets;
  SmallVector<Value> sizes;
  SmallVector<int64_t> keptDims;
};

/// Lowers one tile loop. All IR is created by `b`; values of the original
/// loop are translated through `map` (tensors of the tile state map to
/// registers, captured tensors to buffers).
class TileLoopLowering {
public:
  TileLoopLowering(scf::ForallOp forall, int64_t numWarps)
      : forall(forall), b(forall), loc(forall.getLoc()), numWarps(numWarps) {}

  LogicalResult run();

private:
  LogicalResult checkStructure();
  LogicalResult emitKernel(gpu::LaunchOp launch);
  LogicalResult convertOps(Block::iterator begin, Block::iterator end);
  LogicalResult convertOp(Operation &op);
  LogicalResult recordSlice(tensor::ExtractSliceOp slice);
  Type stateType(Type tensorType) const;
  void emitAttend(AttendTileOp op);
  void emitFinalize(FinalizeTileOp op);
  void emitStore(tensor::ParallelInsertSliceOp insert);

  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value f32(double value) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
  }
  OpFoldResult mapped(OpFoldResult ofr) {
    if (auto value = dyn_cast<Value>(ofr))
      return map.lookupOrDefault(value);
    return ofr;
  }
  Value add(Value lhs, Value rhs) {
    return arith::AddIOp::create(b, loc, lhs, rhs);
  }
  /// Element `i` of the current row's lane chunk: the head-dim coordinate
  /// lane + 32 * i.
  Value laneCoord(int64_t i) {
    return add(lane, index(kWarpSize * i));
  }
  /// Loads one element of a slice as f32; `dim` coordinates past `extent`
  /// (the last, head-dim coordinate of a chunk) read as zero.
  Value loadF32(const SliceInfo &slice, ArrayRef<Value> coords,
                int64_t extent);
  /// The current lane's chunk of a row of a slice: coords are the leading
  /// slice coordinates, the last one runs over the lane's head dims.
  Value loadChunk(const SliceInfo &slice, ArrayRef<Value> leading,
                  int64_t extent);
  Value warpSum(Value partial);

  scf::ForallOp forall;
  OpBuilder b;
  Location loc;
  int64_t numWarps;

  InitTileStateOp init;
  FinalizeTileOp finalize;
  IRMapping map;
  SmallVector<Value> bounds; // the loop's upper bounds, on the host
  DenseMap<Value, SliceInfo> slices;
  DenseMap<Value, Value> outputBuffers; // shared_out block arg -> buffer

  // Per-row values inside the kernel.
  Value lane, row, head, queryChunk;
  int64_t headDim = 0, valueDim = 0;
};

LogicalResult TileLoopLowering::checkStructure() {
  auto isConstant = [](OpFoldResult ofr, int64_t value) {
    std::optional<int64_t> constant = getConstantIntValue(ofr);
    return constant && *constant == value;
  };
  for (auto [lower, step] :
       llvm::zip(forall.getMixedLowerBound(), forall.getMixedStep()))
    if (!isConstant(lower, 0) || !isConstant(step, 1))
      return forall.emitOpError()
             << "tile loop must be normalized (lower bound 0, step 1)";

  Block *body = forall.getBody();
  for (Operation &op : body->without_terminator()) {
    if (auto candidate = dyn_cast<InitTileStateOp>(op)) {
      if (init)
        return candidate.emitOpError() << "is the second tile state of its "
                                          "tile loop; expected one";
      init = candidate;
    }
    if (auto candidate = dyn_cast<FinalizeTileOp>(op))
      finalize = candidate;
  }
  if (!init || !finalize)
    return forall.emitOpError()
           << "has no nsa.init_tile_state / nsa.finalize_tile in its body";
  if (!init.getQuery().getDefiningOp<tensor::ExtractSliceOp>())
    return init.emitOpError() << "query must be a slice of a captured tensor";
  for (Operation &op : forall.getTerminator().getYieldingOps()) {
    auto insert = dyn_cast<tensor::ParallelInsertSliceOp>(op);
    if (!insert || insert.getSource().getDefiningOp() != finalize)
      return op.emitOpError()
             << "tile loop must store only nsa.finalize_tile results";
    if (!insert.hasUnitStride())
      return op.emitOpError() << "tile loop stores must have unit strides";
  }
  // The kernels load f16, bf16 or f32 and compute in f32.
  auto isKernelType = [](Type type) {
    return type.isF16() || type.isBF16() || type.isF32();
  };
  for (Value value : {init.getQuery(), finalize.getOutput()}) {
    Type elementType = getElementTypeOrSelf(value.getType());
    if (!isKernelType(elementType))
      return init.emitOpError()
             << "GPU tile kernels support f16, bf16 and f32; got "
             << elementType;
  }
  auto queryType = cast<RankedTensorType>(init.getQuery().getType());
  headDim = queryType.getDimSize(2);
  valueDim = init.getValueDimAttr().getInt();
  if (ShapedType::isDynamic(queryType.getDimSize(1)) ||
      ShapedType::isDynamic(headDim))
    return init.emitOpError() << "query tile needs static heads and head dim";
  return success();
}

LogicalResult TileLoopLowering::run() {
  if (failed(checkStructure()))
    return failure();

  // Host side: buffers for the captured tensors and the results.
  SetVector<Value> captured;
  getUsedValuesDefinedAbove(forall.getRegion(), captured);
  for (Value value : captured) {
    auto tensorType = dyn_cast<RankedTensorType>(value.getType());
    if (!tensorType)
      continue;
    auto memrefType =
        MemRefType::get(tensorType.getShape(), tensorType.getElementType());
    auto toBuffer =
        bufferization::ToBufferOp::create(b, loc, memrefType, value);
    toBuffer.setReadOnly(true);
    map.map(value, toBuffer.getResult());
  }
  SmallVector<Value> results;
  for (auto [init, arg] : llvm::zip(forall.getOutputs(),
                                    forall.getRegionIterArgs())) {
    auto tensorType = cast<RankedTensorType>(init.getType());
    SmallVector<Value> dynamicSizes;
    for (int64_t dim = 0; dim < tensorType.getRank(); ++dim)
      if (tensorType.isDynamicDim(dim))
        dynamicSizes.push_back(tensor::DimOp::create(b, loc, init, dim));
    auto buffer = memref::AllocOp::create(
        b, loc,
        MemRefType::get(tensorType.getShape(), tensorType.getElementType()),
        dynamicSizes);
    outputBuffers[arg] = buffer;
    results.push_back(bufferization::ToTensorOp::create(
        b, loc, tensorType, buffer, /*restrict=*/true, /*writable=*/true));
  }

  // Grid: the loop's iterations, linearized into x (the x extent allows
  // 2^31 - 1 blocks; y and z only 65535, less than long sequences need).
  bounds = getValueOrCreateConstantIndexOp(b, loc, forall.getMixedUpperBound());
  Value blocks = index(1);
  for (Value bound : bounds)
    blocks = arith::MulIOp::create(b, loc, blocks, bound);
  Value one = index(1);
  auto launch = gpu::LaunchOp::create(b, loc, blocks, one, one,
                                      index(numWarps * kWarpSize), one, one);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(&launch.getBody().front());
    gpu::TerminatorOp::create(b, loc);
    b.setInsertionPointToStart(&launch.getBody().front());
    if (failed(emitKernel(launch)))
      return failure();
  }
  forall.replaceAllUsesWith(results);
  forall.erase();
  return success();
}

LogicalResult TileLoopLowering::emitKernel(gpu::LaunchOp launch) {
  // Delinearize the block id, the loop's last dimension fastest.
  SmallVector<Value> ivs = forall.getInductionVars();
  Value rest = launch.getBlockIds().x;
  for (int64_t dim = forall.getRank() - 1; dim >= 0; --dim) {
    if (dim == 0) {
      map.map(ivs[dim], rest);
      break;
    }
    map.map(ivs[dim], arith::RemUIOp::create(b, loc, rest, bounds[dim]));
    rest = arith::DivUIOp::create(b, loc, rest, bounds[dim]);
  }

  // Per-tile prologue: everything before the tile state (positions, block
  // ranges, slices) is computed once per block.
  Block *body = forall.getBody();
  if (failed(convertOps(body->begin(), Block::iterator(init))))
    return failure();

  Value threadId = launch.getThreadIds().x;
  Value warpSize = index(kWarpSize);
  Value warp = arith::DivUIOp::create(b, loc, threadId, warpSize);
  lane = arith::RemUIOp::create(b, loc, threadId, warpSize);

  const SliceInfo &query = slices.lookup(init.getQuery());
  auto queryType = cast<RankedTensorType>(init.getQuery().getType());
  int64_t heads = queryType.getDimSize(1);
  Value positions = query.sizes[query.keptDims[0]];
  Value rows = arith::MulIOp::create(b, loc, positions, index(heads));
  auto rowLoop =
      scf::ForOp::create(b, loc, warp, rows, index(numWarps));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(rowLoop.getBody());
  Value rowId = rowLoop.getInductionVar();
  row = arith::DivUIOp::create(b, loc, rowId, index(heads));
  head = arith::RemUIOp::create(b, loc, rowId, index(heads));

  // nsa.init_tile_state: the empty state, and this lane's chunk of q.
  int64_t valueChunk = static_cast<int64_t>(llvm::divideCeil(valueDim, kWarpSize));
  auto accType = VectorType::get({valueChunk}, b.getF32Type());
  map.map(init.getMax(), f32(-std::numeric_limits<double>::infinity()));
  map.map(init.getSum(), f32(0.0));
  map.map(init.getAcc(),
          arith::ConstantOp::create(
              b, loc, accType,
              DenseElementsAttr::get(accType, b.getF32FloatAttr(0.0))));
  queryChunk = loadChunk(query, {row, head}, headDim);

  if (failed(convertOps(std::next(Block::iterator(init)),
                        Block::iterator(finalize))))
    return failure();
  emitFinalize(finalize);
  for (Operation &op : forall.getTerminator().getYieldingOps())
    emitStore(cast<tensor::ParallelInsertSliceOp>(op));
  return success();
}

LogicalResult TileLoopLowering::convertOps(Block::iterator begin,
                                           Block::iterator end) {
  for (Operation &op : llvm::make_range(begin, end))
    if (failed(convertOp(op)))
      return failure();
  return success();
}

Type TileLoopLowering::stateType(Type tensorType) const {
  auto type = cast<RankedTensorType>(tensorType);
  if (type.getRank() == 2)
    return Float32Type::get(type.getContext());
  return VectorType::get({static_cast<int64_t>(llvm::divideCeil(valueDim, kWarpSize))},
                         Float32Type::get(type.getContext()));
}

LogicalResult TileLoopLowering::recordSlice(tensor::ExtractSliceOp slice) {
  Value buffer = map.lookupOrNull(slice.getSource());
  if (!buffer || !isa<MemRefType>(buffer.getType()))
    return slice.emitOpError()
           << "tile loops may only slice tensors defined outside the loop";
  if (!slice.hasUnitStride())
    return slice.emitOpError() << "tile loop slices must have unit strides";
  SliceInfo info;
  info.buffer = buffer;
  for (OpFoldResult offset : slice.getMixedOffsets())
    info.offsets.push_back(
        getValueOrCreateConstantIndexOp(b, loc, mapped(offset)));
  for (OpFoldResult size : slice.getMixedSizes())
    info.sizes.push_back(
        getValueOrCreateConstantIndexOp(b, loc, mapped(size)));
  llvm::SmallBitVector dropped = slice.getDroppedDims();
  for (int64_t dim = 0; dim < slice.getSourceType().getRank(); ++dim)
    if (!dropped.test(dim))
      info.keptDims.push_back(dim);
  slices[slice.getResult()] = std::move(info);
  return success();
}

LogicalResult TileLoopLowering::convertOp(Operation &op) {
  if (auto slice = dyn_cast<tensor::ExtractSliceOp>(op))
    return recordSlice(slice);

  if (auto extract = dyn_cast<tensor::ExtractOp>(op)) {
    Value buffer = map.lookupOrNull(extract.getTensor());
    if (!buffer)
      return extract.emitOpError() << "reads a tensor the tile loop defines";
    SmallVector<Value> indices;
    for (Value index : extract.getIndices())
      indices.push_back(map.lookupOrDefault(index));
    map.map(extract.getResult(),
            memref::LoadOp::create(b, loc, buffer, indices).getResult());
    return success();
  }

  if (auto attend = dyn_cast<AttendTileOp>(op)) {
    if (attend.getQuery() != init.getQuery())
      return attend.emitOpError()
             << "must attend with the query tile of its nsa.init_tile_state";
    emitAttend(attend);
    return success();
  }

  if (auto forOp = dyn_cast<scf::ForOp>(op)) {
    SmallVector<Value> inits;
    for (Value init : forOp.getInitArgs())
      inits.push_back(map.lookup(init));
    auto newFor = scf::ForOp::create(
        b, loc, map.lookupOrDefault(forOp.getLowerBound()),
        map.lookupOrDefault(forOp.getUpperBound()),
        map.lookupOrDefault(forOp.getStep()), inits);
    map.map(forOp.getInductionVar(), newFor.getInductionVar());
    for (auto [oldArg, newArg] :
         llvm::zip(forOp.getRegionIterArgs(), newFor.getRegionIterArgs()))
      map.map(oldArg, newArg);
    {
      OpBuilder::InsertionGuard guard(b);
      Block *newBody = newFor.getBody();
      if (!newBody->empty())
        newBody->getTerminator()->erase();
      b.setInsertionPointToEnd(newBody);
      if (failed(convertOps(forOp.getBody()->begin(),
                            forOp.getBody()->end())))
        return failure();
    }
    for (auto [oldResult, newResult] :
         llvm::zip(forOp.getResults(), newFor.getResults()))
      map.map(oldResult, newResult);
    return success();
  }

  if (auto ifOp = dyn_cast<scf::IfOp>(op)) {
    SmallVector<Type> types;
    for (Type type : ifOp.getResultTypes())
      types.push_back(isa<RankedTensorType>(type) ? stateType(type) : type);
    auto newIf = scf::IfOp::create(b, loc, types,
                                   map.lookupOrDefault(ifOp.getCondition()),
                                   /*withElseRegion=*/true);
    for (auto [oldRegion, newRegion] :
         llvm::zip(ifOp->getRegions(), newIf->getRegions())) {
      OpBuilder::InsertionGuard guard(b);
      Block *newBlock = &newRegion.front();
      if (!newBlock->empty())
        newBlock->getTerminator()->erase();
      b.setInsertionPointToEnd(newBlock);
      if (oldRegion.empty()) {
        scf::YieldOp::create(b, loc);
        continue;
      }
      if (failed(convertOps(oldRegion.front().begin(),
                            oldRegion.front().end())))
        return failure();
    }
    for (auto [oldResult, newResult] :
         llvm::zip(ifOp.getResults(), newIf.getResults()))
      map.map(oldResult, newResult);
    return success();
  }

  if (auto yield = dyn_cast<scf::YieldOp>(op)) {
    SmallVector<Value> operands;
    for (Value operand : yield.getOperands())
      operands.push_back(map.lookup(operand));
    scf::YieldOp::create(b, loc, operands);
    return success();
  }

  auto isTensor = [](Type type) { return isa<TensorType>(type); };
  if (llvm::any_of(op.getOperandTypes(), isTensor) ||
      llvm::any_of(op.getResultTypes(), isTensor) || op.getNumRegions())
    return op.emitOpError() << "is not supported inside a tile loop lowered "
                               "to the GPU";
  b.clone(op, map);
  return success();
}

Value TileLoopLowering::loadF32(const SliceInfo &slice, ArrayRef<Value> coords,
                                int64_t extent) {
  SmallVector<Value> indices(slice.offsets);
  Value inBounds;
  for (auto [k, coord] : llvm::enumerate(coords)) {
    int64_t dim = slice.keptDims[k];
    Value c = coord;
    if (k + 1 == coords.size() && extent % kWarpSize != 0) {
      // The lane chunk overhangs the head dim: clamp the address, zero the
      // value.
      inBounds = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                       coord, index(extent));
      c = arith::MinUIOp::create(b, loc, coord, index(extent - 1));
    }
    indices[dim] = add(slice.offsets[dim], c);
  }
  Value value = memref::LoadOp::create(b, loc, slice.buffer, indices);
  if (!value.getType().isF32())
    value = arith::ExtFOp::create(b, loc, b.getF32Type(), value);
  if (inBounds)
    value = arith::SelectOp::create(b, loc, inBounds, value, f32(0.0));
  return value;
}

Value TileLoopLowering::loadChunk(const SliceInfo &slice,
                                  ArrayRef<Value> leading, int64_t extent) {
  int64_t chunk = llvm::divideCeil(extent, kWarpSize);
  auto type = VectorType::get({chunk}, b.getF32Type());
  Value vector = arith::ConstantOp::create(
      b, loc, type, DenseElementsAttr::get(type, b.getF32FloatAttr(0.0)));
  SmallVector<Value> coords(leading);
  coords.push_back(Value());
  for (int64_t i = 0; i < chunk; ++i) {
    coords.back() = laneCoord(i);
    vector = vector::InsertOp::create(b, loc, loadF32(slice, coords, extent),
                                      vector, i);
  }
  return vector;
}

Value TileLoopLowering::warpSum(Value partial) {
  Value sum = partial;
  for (int64_t offset = kWarpSize / 2; offset > 0; offset /= 2) {
    auto shuffle = gpu::ShuffleOp::create(b, loc, sum, offset, kWarpSize,
                                          gpu::ShuffleMode::XOR);
    sum = arith::AddFOp::create(b, loc, sum, shuffle.getShuffleResult());
  }
  return sum;
}

void TileLoopLowering::emitAttend(AttendTileOp op) {
  const SliceInfo &key = slices.lookup(op.getKey());
  const SliceInfo &value = slices.lookup(op.getValue());
  Value count = key.sizes[key.keptDims[0]];
  Value queryToken = add(map.lookupOrDefault(op.getQueryPos()), row);
  Value keyPos = map.lookupOrDefault(op.getKeyPos());
  int64_t stride = op.getKeyStrideAttr().getInt();
  int64_t offset = op.getKeyOffsetAttr().getInt();
  std::optional<int64_t> window;
  if (IntegerAttr windowAttr = op.getWindowAttr())
    window = windowAttr.getInt();
  double scale = op.getScale().convertToDouble();

  SmallVector<Value> state;
  for (Value operand : op.getState())
    state.push_back(map.lookup(operand));
  auto keyLoop = scf::ForOp::create(b, loc, index(0), count, index(1), state);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(keyLoop.getBody());
    Value c = keyLoop.getInductionVar();
    ValueRange current = keyLoop.getRegionIterArgs();
    Value keyToken =
        add(arith::MulIOp::create(b, loc, add(keyPos, c), index(stride)),
            index(offset));
    Value visible = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle,
                                          keyToken, queryToken);
    if (window)
      visible = arith::AndIOp::create(
          b, loc, visible,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                add(keyToken, index(*window)), queryToken));
    // Visibility is uniform across the warp (one row), so the shuffles in
    // the branch are convergent.
    auto ifVisible = scf::IfOp::create(b, loc, TypeRange(current), visible,
                                       /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(&ifVisible.getThenRegion().front());
      Value keyChunk = loadChunk(key, {c}, headDim);
      Value products = arith::MulFOp::create(b, loc, queryChunk, keyChunk);
      Value partial = vector::ReductionOp::create(
          b, loc, vector::CombiningKind::ADD, products);
      Value score =
          arith::MulFOp::create(b, loc, warpSum(partial), f32(scale));
      Value newMax = arith::MaximumFOp::create(b, loc, current[0], score);
      Value alpha = math::ExpOp::create(
          b, loc, arith::SubFOp::create(b, loc, current[0], newMax));
      Value p = math::ExpOp::create(
          b, loc, arith::SubFOp::create(b, loc, score, newMax));
      Value newSum = arith::AddFOp::create(
          b, loc, arith::MulFOp::create(b, loc, current[1], alpha), p);
      Value valueChunk = loadChunk(value, {c}, valueDim);
      auto accType = cast<VectorType>(current[2].getType());
      Value alphaVec = vector::BroadcastOp::create(b, loc, accType, alpha);
      Value pVec = vector::BroadcastOp::create(b, loc, accType, p);
      Value newAcc = vector::FMAOp::create(
          b, loc, pVec, valueChunk,
          arith::MulFOp::create(b, loc, current[2], alphaVec));
      scf::YieldOp::create(b, loc, ValueRange{newMax, newSum, newAcc});
      b.setInsertionPointToStart(&ifVisible.getElseRegion().front());
      scf::YieldOp::create(b, loc, current);
    }
    scf::YieldOp::create(b, loc, ifVisible.getResults());
  }
  for (auto [result, newValue] : llvm::zip(op.getResults(), keyLoop.getResults()))
    map.map(result, newValue);
}

void TileLoopLowering::emitFinalize(FinalizeTileOp op) {
  Value max = map.lookup(op.getMax()), sum = map.lookup(op.getSum()),
        acc = map.lookup(op.getAcc());
  Value seen = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, sum,
                                     f32(0.0));
  Value inverse = arith::SelectOp::create(
      b, loc, seen, arith::DivFOp::create(b, loc, f32(1.0), sum), f32(0.0));
  auto accType = cast<VectorType>(acc.getType());
  Value output = arith::MulFOp::create(
      b, loc, acc, vector::BroadcastOp::create(b, loc, accType, inverse));
  Value lse = arith::SelectOp::create(
      b, loc, seen,
      arith::AddFOp::create(b, loc, max, math::LogOp::create(b, loc, sum)),
      f32(-std::numeric_limits<double>::infinity()));
  map.map(op.getOutput(), output);
  map.map(op.getLse(), lse);
}

void TileLoopLowering::emitStore(tensor::ParallelInsertSliceOp insert) {
  Value buffer = outputBuffers.lookup(insert.getDest());
  auto bufferType = cast<MemRefType>(buffer.getType());
  Type elementType = bufferType.getElementType();
  llvm::SmallBitVector dropped = insert.getDroppedDims();
  SmallVector<int64_t> keptDims;
  for (int64_t dim = 0; dim < bufferType.getRank(); ++dim)
    if (!dropped.test(dim))
      keptDims.push_back(dim);
  SmallVector<Value> offsets;
  for (OpFoldResult offset : insert.getMixedOffsets())
    offsets.push_back(getValueOrCreateConstantIndexOp(b, loc, mapped(offset)));
  SmallVector<Value> indices(offsets);
  indices[keptDims[0]] = add(offsets[keptDims[0]], row);
  indices[keptDims[1]] = add(offsets[keptDims[1]], head);

  auto store = [&](Value value) {
    if (value.getType() != elementType)
      value = arith::TruncFOp::create(b, loc, elementType, value);
    memref::StoreOp::create(b, loc, value, buffer, indices);
  };
  Value source = map.lookup(insert.getSource());
  if (keptDims.size() == 2) {
    // Per-row scalar (lse): lane 0 writes it.
    Value isLaneZero = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                             lane, index(0));
    auto ifOp = scf::IfOp::create(b, loc, isLaneZero, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    store(source);
    return;
  }
  int64_t lastDim = keptDims[2];
  for (int64_t i = 0; i < cast<VectorType>(source.getType()).getNumElements();
       ++i) {
    Value coord = laneCoord(i);
    indices[lastDim] = add(offsets[lastDim], coord);
    Value element = vector::ExtractOp::create(b, loc, source, i);
    if (valueDim % kWarpSize == 0) {
      store(element);
      continue;
    }
    Value inBounds = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                           coord, index(valueDim));
    auto ifOp = scf::IfOp::create(b, loc, inBounds, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(&ifOp.getThenRegion().front());
    store(element);
  }
}

/// Whether `forall` is a tile loop: its body holds the tile state.
bool isTileLoop(scf::ForallOp forall) {
  return llvm::any_of(forall.getBody()->getOperations(), [](Operation &op) {
    return isa<InitTileStateOp>(op);
  });
}

struct ConvertNSATileToGPUPass
    : nsa::impl::ConvertNSATileToGPUBase<ConvertNSATileToGPUPass> {
  using Base::Base;
  void runOnOperation() override {
    SmallVector<scf::ForallOp> loops;
    getOperation()->walk([&](scf::ForallOp forall) {
      if (isTileLoop(forall))
        loops.push_back(forall);
    });
    for (scf::ForallOp forall : loops) {
      int64_t numWarps = TargetAttr::lookup(forall).getNumWarps();
      if (failed(TileLoopLowering(forall, numWarps).run()))
        return signalPassFailure();
    }
  }
};

} // namespace
