//===- NSADialect.h - The nsa dialect and its attributes --------*- C++ -*-===//

#ifndef NSA_DIALECT_NSA_IR_NSADIALECT_H
#define NSA_DIALECT_NSA_IR_NSADIALECT_H

// The generated code expects these before the .inc files.
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "mlir/IR/OpImplementation.h"

#include "nsa/Dialect/NSA/IR/NSADialect.h.inc"
#include "nsa/Dialect/NSA/IR/NSAEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "nsa/Dialect/NSA/IR/NSAAttrs.h.inc"

#endif // NSA_DIALECT_NSA_IR_NSADIALECT_H
