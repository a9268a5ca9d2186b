//===- NSAVerifyUtils.h - Shape checks shared by the nsa ops ----*- C++ -*-===//
//
// Every nsa op describes its tensors by layout symbols ([B, T, Hq, Dk], ...).
// ShapeVerifier checks rank and element type per tensor, then that every
// symbol has one extent across all tensors of the op, so each op's verifier
// is a declaration of its layouts and the diagnostics name the tensor, the
// symbol and both extents.
//
//===----------------------------------------------------------------------===//

#ifndef NSA_LIB_DIALECT_NSA_IR_NSAVERIFYUTILS_H
#define NSA_LIB_DIALECT_NSA_IR_NSAVERIFYUTILS_H

#include "nsa/Dialect/NSA/IR/NSADialect.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <optional>
#include <string>

namespace mlir::nsa::verifier {

/// What a tensor's element type must be.
enum class ElementKind {
  /// A floating-point type shared by all activation tensors of the op.
  Activation,
  /// f32: log-sum-exp values and probabilities.
  F32,
  /// i32: block indices.
  I32,
};

class ShapeVerifier {
public:
  explicit ShapeVerifier(Operation *op) : op(op) {}

  /// Declares that `value`, called `name` in diagnostics, has the given
  /// layout symbols (one per dimension) and element kind. Symbols that are
  /// decimal literals require that extent.
  ShapeVerifier &tensor(StringRef name, Value value,
                        ArrayRef<StringRef> layout, ElementKind kind);

  /// Fixes the extent of `symbol` to `extent`, which comes from `origin`
  /// (e.g. "top_n of the config"); must precede the tensors using it.
  ShapeVerifier &bind(StringRef symbol, int64_t extent, StringRef origin);

  /// Checks Hq is a multiple of H (GQA) once both are known.
  ShapeVerifier &groupedHeads();

  /// Checks the compressed block count Nc against T, when both are static.
  ShapeVerifier &compressedBlocks(ConfigAttr config);

  /// The static extent of `symbol`, if some tensor fixes it.
  std::optional<int64_t> extent(StringRef symbol) const;

  LogicalResult result() const { return failure(hasFailed); }
  operator LogicalResult() const { return result(); }

private:
  struct Binding {
    int64_t extent;
    std::string origin;
  };

  InFlightDiagnostic error();

  Operation *op;
  bool hasFailed = false;
  Type activationType;
  std::string activationOwner;
  llvm::StringMap<Binding> bindings;
};

} // namespace mlir::nsa::verifier

#endif // NSA_LIB_DIALECT_NSA_IR_NSAVERIFYUTILS_H
