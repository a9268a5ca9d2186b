//===- Passes.h - nsa dialect passes ----------------------------*- C++ -*-===//

#ifndef NSA_DIALECT_NSA_TRANSFORMS_PASSES_H
#define NSA_DIALECT_NSA_TRANSFORMS_PASSES_H

#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;

namespace nsa {

#define GEN_PASS_DECL
#include "nsa/Dialect/NSA/Transforms/Passes.h.inc"

/// Adds the patterns that rewrite nsa.attention into the branch ops.
void populateDecomposePatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "nsa/Dialect/NSA/Transforms/Passes.h.inc"

} // namespace nsa
} // namespace mlir

#endif // NSA_DIALECT_NSA_TRANSFORMS_PASSES_H
