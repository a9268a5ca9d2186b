//===- LinalgBuilder.cpp - Compact construction of linalg ops -------------===//

#include "LinalgBuilder.h"
#include "GatedSum.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::nsa;

Value LinalgBuilder::f32Constant(double value) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
}

Value LinalgBuilder::negInf() {
  return f32Constant(-std::numeric_limits<double>::infinity());
}

Value LinalgBuilder::indexConstant(int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

Value LinalgBuilder::empty(ArrayRef<OpFoldResult> sizes, Type elementType) {
  return tensor::EmptyOp::create(b, loc, sizes, elementType);
}

Value LinalgBuilder::filled(ArrayRef<OpFoldResult> sizes, double value) {
  return linalg::FillOp::create(b, loc, ValueRange{f32Constant(value)},
                                ValueRange{empty(sizes, f32())})
      .getResult(0);
}

Value LinalgBuilder::filledWith(ArrayRef<OpFoldResult> sizes, Value scalar) {
  return linalg::FillOp::create(b, loc, ValueRange{scalar},
                                ValueRange{empty(sizes, scalar.getType())})
      .getResult(0);
}

Value LinalgBuilder::genericIndexed(ValueRange inputs, Value output,
                                    ArrayRef<Indexing> indexings,
                                    unsigned numLoops,
                                    ArrayRef<unsigned> reductionDims,
                                    GenericBody body) {
  SmallVector<AffineMap> maps;
  for (Indexing exprs : indexings)
    maps.push_back(AffineMap::get(numLoops, 0, exprs, b.getContext()));
  SmallVector<utils::IteratorType> iterators(numLoops,
                                             utils::IteratorType::parallel);
  for (unsigned dim : reductionDims)
    iterators[dim] = utils::IteratorType::reduction;
  auto op = linalg::GenericOp::create(
      b, loc, output.getType(), inputs, ValueRange{output}, maps, iterators,
      [&](OpBuilder &nested, Location nestedLoc, ValueRange args) {
        linalg::YieldOp::create(nested, nestedLoc,
                                body(nested, nestedLoc, args));
      });
  return op.getResult(0);
}

Value LinalgBuilder::generic(ValueRange inputs, Value output,
                             ArrayRef<ArrayRef<unsigned>> dims,
                             unsigned numLoops,
                             ArrayRef<unsigned> reductionDims,
                             GenericBody body) {
  SmallVector<SmallVector<AffineExpr>> exprs;
  for (ArrayRef<unsigned> operandDims : dims)
    exprs.push_back(llvm::map_to_vector(
        operandDims, [&](unsigned d) { return b.getAffineDimExpr(d); }));
  SmallVector<Indexing> indexings(exprs.begin(), exprs.end());
  return genericIndexed(inputs, output, indexings, numLoops, reductionDims,
                        body);
}

Value LinalgBuilder::combine(Value compressed, Value selected, Value window,
                             Value gates, Type elementType) {
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, window);
  unsigned rank = sizes.size();
  SmallVector<AffineExpr> id;
  for (unsigned d = 0; d < rank; ++d)
    id.push_back(dim(d));
  auto gate = [&](int64_t branch) {
    SmallVector<AffineExpr> exprs(ArrayRef<AffineExpr>(id).drop_back());
    exprs.push_back(b.getAffineConstantExpr(branch));
    return exprs;
  };
  return genericIndexed(
      {compressed, selected, window, gates, gates, gates},
      empty(sizes, elementType), {id, id, id, gate(0), gate(1), gate(2), id},
      rank, {}, [&](OpBuilder &nested, Location l, ValueRange a) -> Value {
        Type f32 = nested.getF32Type();
        SmallVector<Value> gateValues, branches;
        for (int branch = 0; branch < 3; ++branch) {
          gateValues.push_back(castScalar(nested, l, a[3 + branch], f32));
          branches.push_back(castScalar(nested, l, a[branch], f32));
        }
        return castScalar(nested, l,
                          gatedBranchSum(nested, l, gateValues, branches),
                          elementType);
      });
}

Value mlir::nsa::castScalar(OpBuilder &b, Location loc, Value value,
                            Type type) {
  return convertScalarToDtype(b, loc, value, type, /*isUnsignedCast=*/false);
}
