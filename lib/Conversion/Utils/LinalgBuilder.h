//===- LinalgBuilder.h - Compact construction of linalg ops ----*- C++ -*-===//
//
// The CPU lowerings of the nsa ops are written as a few elementwise and
// reduction linalg.generic ops each; this builder keeps them short.
//
//===----------------------------------------------------------------------===//

#ifndef NSA_LIB_CONVERSION_UTILS_LINALGBUILDER_H
#define NSA_LIB_CONVERSION_UTILS_LINALGBUILDER_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/IR/Builders.h"

namespace mlir::nsa {

/// One indexing of a generic operand: loop-dimension expressions.
using Indexing = ArrayRef<AffineExpr>;
using GenericBody = function_ref<Value(OpBuilder &, Location, ValueRange)>;

struct LinalgBuilder {
  OpBuilder &b;
  Location loc;

  Type f32() { return b.getF32Type(); }
  Value f32Constant(double value);
  Value negInf();
  Value indexConstant(int64_t value);
  AffineExpr dim(unsigned i) { return b.getAffineDimExpr(i); }

  Value empty(ArrayRef<OpFoldResult> sizes, Type elementType);
  /// An f32 tensor of `sizes` filled with `value`.
  Value filled(ArrayRef<OpFoldResult> sizes, double value);
  /// A tensor of `sizes` filled with `scalar` (of its type).
  Value filledWith(ArrayRef<OpFoldResult> sizes, Value scalar);

  /// linalg.generic over `numLoops` loops with one output; `indexings` gives
  /// each operand's indexing (inputs, then the output); `reductionDims` are
  /// the reduction loops; `body` maps the block arguments to the yielded
  /// value.
  Value genericIndexed(ValueRange inputs, Value output,
                       ArrayRef<Indexing> indexings, unsigned numLoops,
                       ArrayRef<unsigned> reductionDims, GenericBody body);
  /// nsa.combine (and nsa.combine_tile) on tensors of any rank: element-wise
  /// gatedBranchSum of the three branch tensors, the gates' last dim giving
  /// each branch's gate, converted to `elementType`.
  Value combine(Value compressed, Value selected, Value window, Value gates,
                Type elementType);
  /// The same with every operand indexed by plain loop dims `dims`.
  Value generic(ValueRange inputs, Value output,
                ArrayRef<ArrayRef<unsigned>> dims, unsigned numLoops,
                ArrayRef<unsigned> reductionDims, GenericBody body);
};

/// Converts a float or integer scalar to `type`.
Value castScalar(OpBuilder &b, Location loc, Value value, Type type);

} // namespace mlir::nsa

#endif // NSA_LIB_CONVERSION_UTILS_LINALGBUILDER_H
