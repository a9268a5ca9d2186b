//===- Passes.h - nsa dialect passes ----------------------------*- C++ -*-===//

#ifndef NSA_DIALECT_NSA_TRANSFORMS_PASSES_H
#define NSA_DIALECT_NSA_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Pass/Pass.h"

namespace mlir {
class RewritePatternSet;

namespace nsa {

#define GEN_PASS_DECL
#include "nsa/Dialect/NSA/Transforms/Passes.h.inc"

/// Marks of the tile loops (scf.forall) that nsa-tile creates: the group
/// size G while the last induction variable is the query head, and the unit
/// marker once nsa-fuse-gqa-group made it iterate over KV heads.
inline constexpr llvm::StringLiteral kGQAGroupSizeAttr = "nsa.gqa_group_size";
inline constexpr llvm::StringLiteral kGQAFusedAttr = "nsa.gqa_fused";

/// Adds the patterns that rewrite nsa.attention into the branch ops.
void populateDecomposePatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "nsa/Dialect/NSA/Transforms/Passes.h.inc"

} // namespace nsa
} // namespace mlir

#endif // NSA_DIALECT_NSA_TRANSFORMS_PASSES_H
