//===- NSADialect.cpp - The nsa dialect -----------------------------------===//

#include "nsa/Dialect/NSA/IR/NSADialect.h"
#include "nsa/Dialect/NSA/IR/NSAOps.h"

#include "nsa/InitAllNSA.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::nsa;

#include "nsa/Dialect/NSA/IR/NSADialect.cpp.inc"

void NSADialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "nsa/Dialect/NSA/IR/NSAOps.cpp.inc"
      >();
}

void mlir::nsa::registerNSADialect(DialectRegistry &registry) {
  registry.insert<NSADialect>();
}

LogicalResult NSADialect::verifyOperationAttribute(Operation *op,
                                                  NamedAttribute attribute) {
  if (attribute.getName() == TargetAttr::kAttrName &&
      !isa<TargetAttr>(attribute.getValue()))
    return op->emitError() << "'" << TargetAttr::kAttrName
                           << "' must be a #nsa.target attribute, got "
                           << attribute.getValue();
  return success();
}
