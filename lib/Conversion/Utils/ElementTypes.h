//===- ElementTypes.h - activation types the lowerings compute --*- C++ -*-===//

#ifndef NSA_LIB_CONVERSION_UTILS_ELEMENTTYPES_H
#define NSA_LIB_CONVERSION_UTILS_ELEMENTTYPES_H

#include "mlir/IR/Operation.h"
#include "mlir/IR/Types.h"

namespace mlir::nsa {

/// The activation element types every lowering handles: the input types of
/// the NSA semantics, loaded as they are and accumulated in f32. Others
/// (f64, f8) are refused rather than silently computed in f32.
inline bool isComputeActivationType(Type type) {
  return type.isF32() || type.isF16() || type.isBF16();
}

/// Succeeds for a compute activation type; otherwise reports on `op` that it
/// "cannot be lowered <how>" and fails.
inline LogicalResult checkComputeActivationType(Operation *op, Type type,
                                                StringRef how) {
  if (isComputeActivationType(type))
    return success();
  return op->emitOpError("cannot be lowered ")
         << how << ": activations must be f32, f16 or bf16 (accumulated in "
         << "f32), got " << type;
}

} // namespace mlir::nsa

#endif // NSA_LIB_CONVERSION_UTILS_ELEMENTTYPES_H
