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


def ConvertNSAToLinalg : Pass<"convert-nsa-to-linalg"> {
  let summary = "Lower compress, compressed_probs, select and combine for the CPU";
  let description = [{
    The CPU execution of the nsa ops that are not branch attentions (those
    are tiled by `nsa-tile`):

    - `nsa.compress`: a reduction over the l tokens of each block (mean, or
      weighted by the per-head weights), accumulated in f32;
    - `nsa.compressed_probs`: `exp(scale * q . kc - lse)` where visible, else 0;
    - `nsa.select`: selection-block scores (Eq. 9 overlap weights, or
      identity) summed over the GQA group, then per position and KV head the
      forced blocks and a greedy top-n (ties to the lower index) over the
      visible blocks, written ascending with -1 padding;
    - `nsa.combine`: the gated sum in f32.

    Linalg on tensors where the computation is a map or a reduction, scf
    loops on tensors for the data-dependent top-n; everything bufferizes
    with `one-shot-bufferize`.
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect", "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect", "::mlir::tensor::TensorDialect"
  ];
}

#endif // NSA_CONVERSION_PASSES_TD
