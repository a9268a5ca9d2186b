//===- NSAOps.cpp - nsa dialect operations --------------------------------===//
//
// Each verifier declares the layout of the op's tensors; ShapeVerifier does
// the checking (see NSAVerifyUtils.h).
//
//===----------------------------------------------------------------------===//

#include "nsa/Dialect/NSA/IR/NSAOps.h"

#include "NSAVerifyUtils.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::nsa;
using verifier::ElementKind;
using verifier::ShapeVerifier;

#define GET_OP_CLASSES
#include "nsa/Dialect/NSA/IR/NSAOps.cpp.inc"

/// The learned pooling weights are operands exactly when the config asks for
/// weighted compression; both or neither must be given.
static LogicalResult verifyCompressionWeights(Operation *op, ConfigAttr config,
                                              Value keyWeights,
                                              Value valueWeights) {
  bool weighted = config.getCompression() == CompressionKind::Weighted;
  if (weighted && !keyWeights)
    return op->emitOpError()
           << "compression = weighted needs key_weights and value_weights";
  if (!weighted && keyWeights)
    return op->emitOpError()
           << "key_weights and value_weights need compression = weighted, "
              "the config has compression = "
           << stringifyCompressionKind(config.getCompression());
  return success();
}

static void declareWeights(ShapeVerifier &shapes, ConfigAttr config,
                           Value keyWeights, Value valueWeights) {
  if (!keyWeights)
    return;
  shapes.bind("l", config.getCmpBlock(), "cmp_block of the config")
      .tensor("key_weights", keyWeights, {"H", "l"}, ElementKind::Activation)
      .tensor("value_weights", valueWeights, {"H", "l"},
              ElementKind::Activation);
}

LogicalResult AttentionOp::verify() {
  unsigned numKeys = getKeys().size();
  if (numKeys != 1 && numKeys != 3)
    return emitOpError() << "expects 1 shared or 3 per-branch keys, got "
                         << numKeys;
  if (getValues().size() != numKeys)
    return emitOpError() << "expects as many values as keys (" << numKeys
                         << "), got " << getValues().size();
  if (failed(verifyCompressionWeights(*this, getConfig(), getKeyWeights(),
                                      getValueWeights())))
    return failure();

  ShapeVerifier shapes(*this);
  shapes.tensor("query", getQuery(), {"B", "T", "Hq", "Dk"},
                ElementKind::Activation);
  static constexpr const char *kBranchNames[] = {"compressed", "selected",
                                                 "window"};
  for (unsigned i = 0; i < numKeys; ++i) {
    std::string suffix =
        numKeys == 1 ? "" : std::string(" (") + kBranchNames[i] + ")";
    shapes
        .tensor("key" + suffix, getKeys()[i], {"B", "T", "H", "Dk"},
                ElementKind::Activation)
        .tensor("value" + suffix, getValues()[i], {"B", "T", "H", "Dv"},
                ElementKind::Activation);
  }
  declareWeights(shapes, getConfig(), getKeyWeights(), getValueWeights());
  return shapes
      .tensor("gates", getGates(), {"B", "T", "Hq", "3"},
              ElementKind::Activation)
      .tensor("output", getOutput(), {"B", "T", "Hq", "Dv"},
              ElementKind::Activation)
      .tensor("lse_cmp", getLseCmp(), {"B", "T", "Hq"}, ElementKind::F32)
      .tensor("lse_slc", getLseSlc(), {"B", "T", "Hq"}, ElementKind::F32)
      .tensor("lse_win", getLseWin(), {"B", "T", "Hq"}, ElementKind::F32)
      .groupedHeads();
}

LogicalResult CompressOp::verify() {
  if (failed(verifyCompressionWeights(*this, getConfig(), getKeyWeights(),
                                      getValueWeights())))
    return failure();
  ShapeVerifier shapes(*this);
  shapes
      .tensor("key", getKey(), {"B", "T", "H", "Dk"}, ElementKind::Activation)
      .tensor("value", getValue(), {"B", "T", "H", "Dv"},
              ElementKind::Activation);
  declareWeights(shapes, getConfig(), getKeyWeights(), getValueWeights());
  return shapes
      .tensor("compressed_key", getCompressedKey(), {"B", "Nc", "H", "Dk"},
              ElementKind::Activation)
      .tensor("compressed_value", getCompressedValue(), {"B", "Nc", "H", "Dv"},
              ElementKind::Activation)
      .compressedBlocks(getConfig());
}

LogicalResult CompressedAttentionOp::verify() {
  return ShapeVerifier(*this)
      .tensor("query", getQuery(), {"B", "T", "Hq", "Dk"},
              ElementKind::Activation)
      .tensor("compressed_key", getCompressedKey(), {"B", "Nc", "H", "Dk"},
              ElementKind::Activation)
      .tensor("compressed_value", getCompressedValue(), {"B", "Nc", "H", "Dv"},
              ElementKind::Activation)
      .tensor("output", getOutput(), {"B", "T", "Hq", "Dv"},
              ElementKind::Activation)
      .tensor("lse", getLse(), {"B", "T", "Hq"}, ElementKind::F32)
      .groupedHeads()
      .compressedBlocks(getConfig());
}

LogicalResult CompressedProbsOp::verify() {
  return ShapeVerifier(*this)
      .tensor("query", getQuery(), {"B", "T", "Hq", "Dk"},
              ElementKind::Activation)
      .tensor("compressed_key", getCompressedKey(), {"B", "Nc", "H", "Dk"},
              ElementKind::Activation)
      .tensor("lse", getLse(), {"B", "T", "Hq"}, ElementKind::F32)
      .tensor("probs", getProbs(),
              {"B", "T", getGroupSum() ? "H" : "Hq", "Nc"}, ElementKind::F32)
      .groupedHeads()
      .compressedBlocks(getConfig());
}

namespace {
/// nsa.select reads only the sums of the probabilities over each GQA group:
/// a per-head nsa.compressed_probs that only selects use computes those
/// sums instead ([B, T, H, Nc] instead of [B, T, Hq, Nc]).
struct SumProbabilitiesPerGroup : OpRewritePattern<CompressedProbsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CompressedProbsOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getGroupSum())
      return rewriter.notifyMatchFailure(op, "already group sums");
    if (op->use_empty() ||
        !llvm::all_of(op->getUsers(), llvm::IsaPred<SelectOp>))
      return rewriter.notifyMatchFailure(op, "a user needs per-head values");
    auto probsType = cast<RankedTensorType>(op.getProbs().getType());
    auto keyType = cast<RankedTensorType>(op.getCompressedKey().getType());
    int64_t kvHeads = keyType.getDimSize(2);
    if (ShapedType::isDynamic(kvHeads) || probsType.getDimSize(2) == kvHeads)
      return rewriter.notifyMatchFailure(op, "no static group to sum over");
    SmallVector<int64_t> shape(probsType.getShape());
    shape[2] = kvHeads;
    auto summed = CompressedProbsOp::create(
        rewriter, op.getLoc(), probsType.clone(shape), op.getQuery(),
        op.getCompressedKey(), op.getLse(), op.getConfig(),
        /*group_sum=*/true);
    for (Operation *user : llvm::to_vector(op->getUsers()))
      rewriter.modifyOpInPlace(user, [&] {
        cast<SelectOp>(user).getProbsMutable().assign(summed.getProbs());
      });
    rewriter.eraseOp(op);
    return success();
  }
};
} // namespace

void CompressedProbsOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                                    MLIRContext *context) {
  results.add<SumProbabilitiesPerGroup>(context);
}

LogicalResult SelectOp::verify() {
  return ShapeVerifier(*this)
      .bind("n", getConfig().getTopN(), "top_n of the config")
      .tensor("probs", getProbs(), {"B", "T", "Hq", "Nc"}, ElementKind::F32)
      .tensor("indices", getIndices(), {"B", "T", "H", "n"}, ElementKind::I32)
      .groupedHeads()
      .compressedBlocks(getConfig());
}

LogicalResult SelectedAttentionOp::verify() {
  return ShapeVerifier(*this)
      .bind("n", getConfig().getTopN(), "top_n of the config")
      .tensor("query", getQuery(), {"B", "T", "Hq", "Dk"},
              ElementKind::Activation)
      .tensor("key", getKey(), {"B", "T", "H", "Dk"}, ElementKind::Activation)
      .tensor("value", getValue(), {"B", "T", "H", "Dv"},
              ElementKind::Activation)
      .tensor("indices", getIndices(), {"B", "T", "H", "n"}, ElementKind::I32)
      .tensor("output", getOutput(), {"B", "T", "Hq", "Dv"},
              ElementKind::Activation)
      .tensor("lse", getLse(), {"B", "T", "Hq"}, ElementKind::F32)
      .groupedHeads();
}

LogicalResult WindowOp::verify() {
  return ShapeVerifier(*this)
      .tensor("query", getQuery(), {"B", "T", "Hq", "Dk"},
              ElementKind::Activation)
      .tensor("key", getKey(), {"B", "T", "H", "Dk"}, ElementKind::Activation)
      .tensor("value", getValue(), {"B", "T", "H", "Dv"},
              ElementKind::Activation)
      .tensor("output", getOutput(), {"B", "T", "Hq", "Dv"},
              ElementKind::Activation)
      .tensor("lse", getLse(), {"B", "T", "Hq"}, ElementKind::F32)
      .groupedHeads();
}

LogicalResult CombineOp::verify() {
  return ShapeVerifier(*this)
      .tensor("compressed", getCompressed(), {"B", "T", "Hq", "Dv"},
              ElementKind::Activation)
      .tensor("selected", getSelected(), {"B", "T", "Hq", "Dv"},
              ElementKind::Activation)
      .tensor("window", getWindow(), {"B", "T", "Hq", "Dv"},
              ElementKind::Activation)
      .tensor("gates", getGates(), {"B", "T", "Hq", "3"},
              ElementKind::Activation)
      .tensor("output", getOutput(), {"B", "T", "Hq", "Dv"},
              ElementKind::Activation);
}

//===----------------------------------------------------------------------===//
// Tile ops
//===----------------------------------------------------------------------===//

/// [R, G] and [R, G, D] f32 tensors shaped like the leading dims of `tile`.
static Type stateType(RankedTensorType tile) {
  return RankedTensorType::get(tile.getShape().take_front(2),
                               Float32Type::get(tile.getContext()));
}
static Type accumulatorType(RankedTensorType tile, int64_t dim,
                            Type elementType) {
  SmallVector<int64_t> shape(tile.getShape().take_front(2));
  shape.push_back(dim);
  return RankedTensorType::get(shape, elementType);
}

/// The rank-3 tensor type of `value`, or an (optional) error: type inference
/// runs before verification and must not assume a valid op.
static FailureOr<RankedTensorType>
rank3Tensor(std::optional<Location> loc, Value value, StringRef name) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  if (!type || type.getRank() != 3)
    return emitOptionalError(loc, name, " must be a rank-3 tile, got ",
                             value.getType());
  return type;
}

LogicalResult InitTileStateOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> loc, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &inferred) {
  Adaptor adaptor(operands, attributes, properties, regions);
  FailureOr<RankedTensorType> query =
      rank3Tensor(loc, adaptor.getQuery(), "query");
  if (failed(query))
    return failure();
  int64_t valueDim = adaptor.getValueDimAttr().getInt();
  if (valueDim < 1)
    return emitOptionalError(loc, "value_dim (", valueDim,
                             ") must be positive");
  Type state = stateType(*query);
  inferred.assign({state, state,
                   accumulatorType(*query, valueDim,
                                   Float32Type::get(context))});
  return success();
}

LogicalResult InitTileStateOp::verify() {
  // I64Attr getters are unsigned; read the signed value.
  int64_t valueDim = getValueDimAttr().getInt();
  if (valueDim < 1)
    return emitOpError() << "value_dim (" << valueDim << ") must be positive";
  return ShapeVerifier(*this).tensor("query", getQuery(), {"R", "G", "Dk"},
                                     ElementKind::Activation);
}

LogicalResult AttendTileOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> loc, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &inferred) {
  Adaptor adaptor(operands, attributes, properties, regions);
  inferred.assign({adaptor.getMax().getType(), adaptor.getSum().getType(),
                   adaptor.getAcc().getType()});
  return success();
}

/// The attributes of a tile op that scores keys: the key-position map's
/// stride, the optional window and the softmax scale.
static LogicalResult verifyKeyScoring(Operation *op, IntegerAttr keyStride,
                                      IntegerAttr window, FloatAttr scale) {
  // I64Attr getters are unsigned; read the signed values.
  if (keyStride.getInt() < 1)
    return op->emitOpError() << "key_stride (" << keyStride.getInt()
                             << ") must be positive";
  if (window && window.getInt() < 1)
    return op->emitOpError() << "window (" << window.getInt()
                             << ") must be positive";
  double value = scale.getValueAsDouble();
  if (!(value > 0.0) || !std::isfinite(value))
    return op->emitOpError() << "scale (" << value
                             << ") must be positive and finite";
  return success();
}

LogicalResult AttendTileOp::verify() {
  if (failed(verifyKeyScoring(*this, getKeyStrideAttr(), getWindowAttr(),
                              getScaleAttr())))
    return failure();
  return ShapeVerifier(*this)
      .tensor("query", getQuery(), {"R", "G", "Dk"}, ElementKind::Activation)
      .tensor("key", getKey(), {"N", "Dk"}, ElementKind::Activation)
      .tensor("value", getValue(), {"N", "Dv"}, ElementKind::Activation)
      .tensor("max", getMax(), {"R", "G"}, ElementKind::F32)
      .tensor("sum", getSum(), {"R", "G"}, ElementKind::F32)
      .tensor("acc", getAcc(), {"R", "G", "Dv"}, ElementKind::F32);
}

LogicalResult CombineTileOp::verify() {
  return ShapeVerifier(*this)
      .tensor("compressed", getCompressed(), {"R", "G", "Dv"},
              ElementKind::Activation)
      .tensor("selected", getSelected(), {"R", "G", "Dv"},
              ElementKind::Activation)
      .tensor("window", getWindow(), {"R", "G", "Dv"}, ElementKind::Activation)
      .tensor("gates", getGates(), {"R", "G", "3"}, ElementKind::Activation);
}

LogicalResult PrefetchTileOp::verify() {
  return ShapeVerifier(*this)
      .tensor("key", getKey(), {"N", "Dk"}, ElementKind::Activation)
      .tensor("value", getValue(), {"N", "Dv"}, ElementKind::Activation);
}

LogicalResult MinCtasPerSMOp::verify() {
  for (Operation *parent = (*this)->getParentOp(); parent;
       parent = parent->getParentOp())
    if (isa<gpu::LaunchOp, gpu::GPUFuncOp>(parent))
      return success();
  return emitOpError() << "must be inside a gpu.launch or gpu.func";
}

LogicalResult ProbsTileOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> loc, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &inferred) {
  Adaptor adaptor(operands, attributes, properties, regions);
  FailureOr<RankedTensorType> query =
      rank3Tensor(loc, adaptor.getQuery(), "query");
  if (failed(query))
    return failure();
  auto key = dyn_cast<RankedTensorType>(adaptor.getKey().getType());
  if (!key || key.getRank() != 2)
    return emitOptionalError(loc, "key must be a rank-2 tile, got ",
                             adaptor.getKey().getType());
  RankedTensorType probs = cast<RankedTensorType>(accumulatorType(
      *query, key.getDimSize(0), Float32Type::get(context)));
  if (adaptor.getGroupSum())
    probs = probs.clone({probs.getDimSize(0), 1, probs.getDimSize(2)});
  inferred.assign({probs});
  return success();
}

LogicalResult ProbsTileOp::verify() {
  if (failed(verifyKeyScoring(*this, getKeyStrideAttr(), IntegerAttr(),
                              getScaleAttr())))
    return failure();
  return ShapeVerifier(*this)
      .tensor("query", getQuery(), {"R", "G", "Dk"}, ElementKind::Activation)
      .tensor("key", getKey(), {"N", "Dk"}, ElementKind::Activation)
      .tensor("lse", getLse(), {"R", "G"}, ElementKind::F32)
      .tensor("probs", getProbs(), {"R", getGroupSum() ? "1" : "G", "N"},
              ElementKind::F32);
}

LogicalResult FinalizeTileOp::inferReturnTypes(
    MLIRContext *context, std::optional<Location> loc, ValueRange operands,
    DictionaryAttr attributes, OpaqueProperties properties, RegionRange regions,
    SmallVectorImpl<Type> &inferred) {
  Adaptor adaptor(operands, attributes, properties, regions);
  FailureOr<RankedTensorType> acc = rank3Tensor(loc, adaptor.getAcc(), "acc");
  if (failed(acc))
    return failure();
  inferred.assign({accumulatorType(*acc, acc->getDimSize(2),
                                   adaptor.getElementType()),
                   adaptor.getMax().getType()});
  return success();
}

LogicalResult FinalizeTileOp::verify() {
  if (!isa<FloatType>(getElementType()))
    return emitOpError() << "element_type must be a float type, got "
                         << getElementType();
  return ShapeVerifier(*this)
      .tensor("max", getMax(), {"R", "G"}, ElementKind::F32)
      .tensor("sum", getSum(), {"R", "G"}, ElementKind::F32)
      .tensor("acc", getAcc(), {"R", "G", "Dv"}, ElementKind::F32);
}
