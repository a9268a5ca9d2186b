//===- NSAOps.h - nsa dialect operations ------------------------*- C++ -*-===//

#ifndef NSA_DIALECT_NSA_IR_NSAOPS_H
#define NSA_DIALECT_NSA_IR_NSAOPS_H

#include "nsa/Dialect/NSA/IR/NSADialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "nsa/Dialect/NSA/IR/NSAOps.h.inc"

#endif // NSA_DIALECT_NSA_IR_NSAOPS_H
