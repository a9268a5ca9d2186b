//===- NSAVerifyUtils.cpp - Shape checks shared by the nsa ops ------------===//

#include "NSAVerifyUtils.h"

#include "llvm/ADT/StringExtras.h"

using namespace mlir;
using namespace mlir::nsa;
using namespace mlir::nsa::verifier;

// Head counts and head dimensions are static by design: kernels are
// specialized on them. Batch, sequence and block counts may be dynamic.
static bool mustBeStatic(StringRef symbol) {
  return llvm::is_contained({"Hq", "H", "Dk", "Dv", "n", "l"}, symbol) ||
         llvm::all_of(symbol, llvm::isDigit);
}

static std::string describeLayout(ArrayRef<StringRef> layout) {
  return "[" + llvm::join(layout, ", ") + "]";
}

InFlightDiagnostic ShapeVerifier::error() {
  hasFailed = true;
  return op->emitOpError();
}

ShapeVerifier &ShapeVerifier::bind(StringRef symbol, int64_t extent,
                                   StringRef origin) {
  bindings[symbol] = Binding{extent, origin.str()};
  return *this;
}

ShapeVerifier &ShapeVerifier::tensor(StringRef name, Value value,
                                     ArrayRef<StringRef> layout,
                                     ElementKind kind) {
  if (hasFailed)
    return *this;
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getRank() != static_cast<int64_t>(layout.size())) {
    error() << name << " must be a rank-" << layout.size() << " tensor "
            << describeLayout(layout) << ", got " << type;
    return *this;
  }

  Type elementType = type.getElementType();
  switch (kind) {
  case ElementKind::Activation:
    if (!isa<FloatType>(elementType)) {
      error() << name << " must have a floating-point element type, got "
              << type;
      return *this;
    }
    if (!activationType) {
      activationType = elementType;
      activationOwner = name.str();
    } else if (elementType != activationType) {
      error() << name << " element type " << elementType << " differs from "
              << activationOwner << " element type " << activationType;
      return *this;
    }
    break;
  case ElementKind::F32:
    if (!elementType.isF32()) {
      error() << name << " must have element type f32, got " << type;
      return *this;
    }
    break;
  case ElementKind::I32:
    if (!elementType.isSignlessInteger(32)) {
      error() << name << " must have element type i32, got " << type;
      return *this;
    }
    break;
  }

  for (auto [dim, symbol] : llvm::enumerate(layout)) {
    int64_t size = type.getDimSize(dim);
    if (ShapedType::isDynamic(size)) {
      if (mustBeStatic(symbol)) {
        error() << name << " extent " << symbol << " (dim " << dim
                << ") must be static, got " << type;
        return *this;
      }
      continue;
    }
    // A zero head count or head dim has no meaning (and 1/sqrt(0) scales).
    if (mustBeStatic(symbol) && size < 1) {
      error() << name << " extent " << symbol << " (dim " << dim
              << ") must be positive, got " << type;
      return *this;
    }
    int64_t literal;
    if (!symbol.getAsInteger(10, literal) && size != literal) {
      error() << name << " extent " << symbol << " (dim " << dim
              << ") must be " << literal << ", got " << size;
      return *this;
    }
    auto it = bindings.find(symbol);
    if (it == bindings.end()) {
      bindings[symbol] = Binding{size, name.str() + " " + symbol.str()};
      continue;
    }
    if (it->second.extent != size) {
      error() << name << " " << symbol << " (" << size
              << ") does not match " << it->second.origin << " ("
              << it->second.extent << ")";
      return *this;
    }
  }
  return *this;
}

std::optional<int64_t> ShapeVerifier::extent(StringRef symbol) const {
  auto it = bindings.find(symbol);
  if (it == bindings.end())
    return std::nullopt;
  return it->second.extent;
}

ShapeVerifier &ShapeVerifier::groupedHeads() {
  if (hasFailed)
    return *this;
  std::optional<int64_t> queryHeads = extent("Hq");
  std::optional<int64_t> kvHeads = extent("H");
  if (!queryHeads || !kvHeads)
    return *this;
  if (*kvHeads < 1 || *queryHeads % *kvHeads != 0)
    error() << "query heads Hq (" << *queryHeads
            << ") must be a multiple of KV heads H (" << *kvHeads << ")";
  return *this;
}

ShapeVerifier &ShapeVerifier::compressedBlocks(ConfigAttr config) {
  if (hasFailed)
    return *this;
  std::optional<int64_t> seqLen = extent("T");
  std::optional<int64_t> numBlocks = extent("Nc");
  if (!seqLen || !numBlocks)
    return *this;
  int64_t expected = config.getNumCompressedBlocks(*seqLen);
  if (*numBlocks != expected)
    error() << bindings.find("Nc")->second.origin << " (" << *numBlocks
            << ") does not match the " << expected
            << " compressed blocks of T = " << *seqLen << " (cmp_block = "
            << config.getCmpBlock() << ", cmp_stride = "
            << config.getCmpStride() << ")";
  return *this;
}
