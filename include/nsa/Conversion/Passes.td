//===- Passes.td - nsa conversion passes -------------------*- tablegen -*-===//

#ifndef NSA_CONVERSION_PASSES_TD
#define NSA_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertNSATileToLinalg : Pass<"convert-nsa-tile-to-linalg"> {
  let summary = "Lower the nsa tile ops to linalg on tensors (the CPU path)";
  let description = [{
    Rewrites `nsa.init_tile_state`, `nsa.attend_tile` and
    `nsa.finalize_tile` into `linalg.fill` / `linalg.generic` on tensors,
    computing in f32 exactly as the ops specify: the scores
    `scale * q . k` with the visibility mask, the new running max, the
    rescale factor `exp(max - max')`, the probabilities, the new sum and the
    rescaled accumulator, and the final normalization. The result
    bufferizes with `one-shot-bufferize` and lowers to loops; it is the
    reference execution of the tiled IR on the CPU. (The GPU path lowers the
    same tile ops to tensor-core code instead.)
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect", "::mlir::tensor::TensorDialect"
  ];
}

#endif // NSA_CONVERSION_PASSES_TD
