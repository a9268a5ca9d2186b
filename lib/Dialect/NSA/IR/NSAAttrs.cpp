//===- NSAAttrs.cpp - nsa dialect attributes ------------------------------===//

#include "nsa/Dialect/NSA/IR/NSADialect.h"
#include "nsa/Support/BlockMath.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/MathExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::nsa;

#include "nsa/Dialect/NSA/IR/NSAEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "nsa/Dialect/NSA/IR/NSAAttrs.cpp.inc"

void NSADialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "nsa/Dialect/NSA/IR/NSAAttrs.cpp.inc"
      >();
}

LogicalResult
ConfigAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                   int64_t cmpBlock, int64_t cmpStride, int64_t slcBlock,
                   int64_t topN, int64_t window, FloatAttr scale,
                   int64_t numInitBlocks, int64_t numLocalBlocks,
                   CompressionKind compression, ScoreMapping scoreMapping) {
  auto atLeast = [&](StringRef name, int64_t value,
                     int64_t bound) -> LogicalResult {
    if (value >= bound)
      return success();
    return emitError() << name << " (" << value << ") must be >= " << bound;
  };
  if (failed(atLeast("cmp_block", cmpBlock, 1)) ||
      failed(atLeast("cmp_stride", cmpStride, 1)) ||
      failed(atLeast("slc_block", slcBlock, 1)) ||
      failed(atLeast("top_n", topN, 1)) ||
      failed(atLeast("window", window, 1)) ||
      failed(atLeast("num_init_blocks", numInitBlocks, 0)) ||
      failed(atLeast("num_local_blocks", numLocalBlocks, 0)))
    return failure();
  // Eq. 9 sums whole strides into a selection block, so both block lengths
  // must be multiples of the stride (which also gives slc_block >= stride).
  if (cmpBlock % cmpStride != 0)
    return emitError() << "cmp_stride (" << cmpStride
                       << ") must divide cmp_block (" << cmpBlock << ")";
  if (slcBlock % cmpStride != 0)
    return emitError() << "cmp_stride (" << cmpStride
                       << ") must divide slc_block (" << slcBlock << ")";
  if (numInitBlocks + numLocalBlocks > topN)
    return emitError() << "forced blocks num_init_blocks + num_local_blocks ("
                       << numInitBlocks << " + " << numLocalBlocks
                       << ") exceed top_n (" << topN << ")";
  if (scale) {
    double value = scale.getValueAsDouble();
    if (!(value > 0.0) || !std::isfinite(value))
      return emitError() << "scale (" << value
                         << ") must be positive and finite";
  }
  if (scoreMapping == ScoreMapping::Identity &&
      !::nsa::selectionBlocksAreCompressedBlocks(cmpBlock, cmpStride,
                                                 slcBlock))
    return emitError() << "score_mapping identity needs cmp_block == "
                          "cmp_stride == slc_block, got "
                       << cmpBlock << ", " << cmpStride << ", " << slcBlock;
  return success();
}

double ConfigAttr::getScaleFor(int64_t keyDim) const {
  if (FloatAttr scale = getScale())
    return scale.getValueAsDouble();
  return 1.0 / std::sqrt(static_cast<double>(keyDim));
}

int64_t ConfigAttr::getNumCompressedBlocks(int64_t seqLen) const {
  return ::nsa::numCompressedBlocks(seqLen, getCmpBlock(), getCmpStride());
}

int64_t ConfigAttr::getNumSelectionBlocks(int64_t seqLen) const {
  return ::nsa::numSelectionBlocks(seqLen, getSlcBlock());
}

bool ConfigAttr::selectionBlocksAreCompressedBlocks() const {
  return ::nsa::selectionBlocksAreCompressedBlocks(getCmpBlock(), getCmpStride(),
                                                   getSlcBlock());
}

int64_t TargetAttr::maxSharedMemory(StringRef chip) {
  // Opt-in maximum dynamic shared memory per block (CUDA programming guide,
  // compute capability table).
  return llvm::StringSwitch<int64_t>(chip)
      .Case("sm_80", 166912)
      .Cases({"sm_86", "sm_89"}, 101376)
      .Cases({"sm_90", "sm_90a"}, 232448)
      .Default(0);
}

LogicalResult
TargetAttr::verifyChip(function_ref<InFlightDiagnostic()> emitError,
                       StringRef chip) {
  if (maxSharedMemory(chip) == 0)
    return emitError() << "chip \"" << chip
                       << "\" is not one of sm_80, sm_86, sm_89, sm_90, sm_90a";
  return success();
}

LogicalResult TargetAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 StringRef chip, int64_t blockQ,
                                 int64_t blockKV, int64_t numWarps,
                                 int64_t numStages, int64_t sharedMemory,
                                 int64_t prefetchBlocks, int64_t minCtasPerSM,
                                 int64_t probsMinCtasPerSM,
                                 TensorCoreInstruction mma,
                                 int64_t selectedNumWarps) {
  if (failed(verifyChip(emitError, chip)))
    return failure();
  int64_t maxShared = maxSharedMemory(chip);
  // Warp counts also bound the CTA: at most 1024 threads.
  constexpr int64_t kMaxWarps = 32;
  for (auto [name, value, isWarps] :
       {std::tuple<StringRef, int64_t, bool>{"block_q", blockQ, false},
        {"block_kv", blockKV, false},
        {"num_warps", numWarps, true},
        {"selected_num_warps", selectedNumWarps, true}}) {
    if (value < 1 || !llvm::isPowerOf2_64(value))
      return emitError() << name << " (" << value
                         << ") must be a positive power of two";
    if (isWarps && value > kMaxWarps)
      return emitError() << name << " (" << value << ") must be at most "
                         << kMaxWarps << " (1024 threads per CTA)";
  }
  if (numStages < 1)
    return emitError() << "num_stages (" << numStages << ") must be >= 1";
  if (sharedMemory < 1 || sharedMemory > maxShared)
    return emitError() << "shared_memory (" << sharedMemory
                       << ") must be in [1, " << maxShared << "] on " << chip;
  if (prefetchBlocks < 0)
    return emitError() << "prefetch_blocks (" << prefetchBlocks
                       << ") must be >= 0";
  // The most resident CTAs per SM of any supported chip.
  constexpr int64_t kMaxCtasPerSM = 32;
  for (auto [name, value] :
       {std::pair<StringRef, int64_t>{"min_ctas_per_sm", minCtasPerSM},
        {"probs_min_ctas_per_sm", probsMinCtasPerSM}}) {
    if (value < 0 || value > kMaxCtasPerSM)
      return emitError() << name << " (" << value << ") must be in [0, "
                         << kMaxCtasPerSM << "]";
  }
  // wgmma exists only with the sm_90a feature set.
  if (mma == TensorCoreInstruction::Wgmma && chip != "sm_90a")
    return emitError() << "mma = wgmma needs chip \"sm_90a\"; got \"" << chip
                       << "\"";
  return success();
}

TargetAttr TargetAttr::lookup(Operation *op) {
  MLIRContext *context = op->getContext();
  for (; op; op = op->getParentOp())
    if (auto target = op->getAttrOfType<TargetAttr>(kAttrName))
      return target;
  return TargetAttr::get(context);
}
