//===- Passes.h - nsa conversion passes -------------------------*- C++ -*-===//

#ifndef NSA_CONVERSION_PASSES_H
#define NSA_CONVERSION_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Pass/Pass.h"
#include "nsa/Dialect/NSA/IR/NSADialect.h"

namespace mlir {
class RewritePatternSet;

namespace nsa {

#define GEN_PASS_DECL
#include "nsa/Conversion/Passes.h.inc"

/// Adds the patterns lowering the nsa tile ops to linalg on tensors.
void populateNSATileToLinalgPatterns(RewritePatternSet &patterns);

/// Adds the patterns lowering nsa.compress, nsa.compressed_probs,
/// nsa.select and nsa.combine to linalg and scf on tensors.
void populateNSAToLinalgPatterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "nsa/Conversion/Passes.h.inc"

} // namespace nsa
} // namespace mlir

#endif // NSA_CONVERSION_PASSES_H
