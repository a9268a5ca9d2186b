//===- NSAOps.cpp - nsa dialect operations --------------------------------===//
//
// Each verifier declares the layout of the op's tensors; ShapeVerifier does
// the checking (see NSAVerifyUtils.h).
//
//===----------------------------------------------------------------------===//

#include "nsa/Dialect/NSA/IR/NSAOps.h"

#include "NSAVerifyUtils.h"

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
      .tensor("probs", getProbs(), {"B", "T", "Hq", "Nc"}, ElementKind::F32)
      .groupedHeads()
      .compressedBlocks(getConfig());
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
