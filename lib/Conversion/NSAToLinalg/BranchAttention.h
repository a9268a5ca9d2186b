//===- BranchAttention.h - Dense branch attentions for the CPU --*- C++ -*-===//
//
// The untiled lowering of the three branch attentions, used by
// convert-nsa-to-linalg with branch-attention=true.
//
//===----------------------------------------------------------------------===//

#ifndef NSA_LIB_CONVERSION_NSATOLINALG_BRANCHATTENTION_H
#define NSA_LIB_CONVERSION_NSATOLINALG_BRANCHATTENTION_H

#include "mlir/IR/Operation.h"
#include "mlir/Support/LLVM.h"

namespace mlir {
class RewritePatternSet;
namespace nsa {

/// Emits an error on every branch attention under `root` that the dense
/// lowering refuses; fails if there is one.
LogicalResult verifyDenseBranchAttentions(Operation *root);

/// Adds the patterns lowering nsa.compressed_attention,
/// nsa.selected_attention and nsa.window directly from their definitions
/// (no tiling) to linalg on tensors inside an scf.forall over (b, t).
void populateDenseBranchAttentionPatterns(RewritePatternSet &patterns);

} // namespace nsa
} // namespace mlir

#endif // NSA_LIB_CONVERSION_NSATOLINALG_BRANCHATTENTION_H
