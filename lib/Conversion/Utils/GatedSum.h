//===- GatedSum.h - the arithmetic of nsa.combine -------------*- C++ -*-===//

#ifndef NSA_LIB_CONVERSION_UTILS_GATEDSUM_H
#define NSA_LIB_CONVERSION_UTILS_GATEDSUM_H

#include "mlir/Dialect/Arith/IR/Arith.h"

#include <cassert>

namespace mlir::nsa {

/// g[0] * branches[0] + g[1] * branches[1] + g[2] * branches[2] in f32,
/// summed in this order (compressed, selected, window): the one definition
/// of nsa.combine and nsa.combine_tile that every lowering builds, so the
/// fused and unfused combines round alike. Gates and branches are f32
/// scalars, or f32 vectors of one shape.
inline Value gatedBranchSum(OpBuilder &b, Location loc, ArrayRef<Value> gates,
                            ArrayRef<Value> branches) {
  assert(gates.size() == 3 && branches.size() == 3 && "three branches");
  Value sum;
  for (auto [gate, branch] : llvm::zip(gates, branches)) {
    Value term = arith::MulFOp::create(b, loc, gate, branch);
    sum = sum ? Value(arith::AddFOp::create(b, loc, sum, term)) : term;
  }
  return sum;
}

} // namespace mlir::nsa

#endif // NSA_LIB_CONVERSION_UTILS_GATEDSUM_H
