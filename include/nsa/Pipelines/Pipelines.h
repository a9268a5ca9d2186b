//===- Pipelines.h - nsa pass pipelines -------------------------*- C++ -*-===//
//
// The pipelines an embedding compiler adds to its own pass manager, also
// registered in nsa-opt under the same names.
//
//===----------------------------------------------------------------------===//

#ifndef NSA_PIPELINES_PIPELINES_H
#define NSA_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

namespace mlir {
class OpPassManager;
namespace nsa {

struct NSAToCPUPipelineOptions
    : public PassPipelineOptions<NSAToCPUPipelineOptions> {
  PassOptions::Option<bool> fuseGQAGroup{
      *this, "fuse-gqa-group",
      llvm::cl::desc("Run nsa-fuse-gqa-group after nsa-tile"),
      llvm::cl::init(true)};
};

/// nsa.attention or branch ops -> decomposed, tiled (and GQA-fused) tile IR
/// -> linalg -> bufferized loops -> LLVM dialect, with C interfaces for
/// functions marked llvm.emit_c_interface. The CPU execution of the tile
/// IR; the result translates with mlir-translate --mlir-to-llvmir.
void buildNSAToCPUPipeline(OpPassManager &pm,
                           const NSAToCPUPipelineOptions &options);

/// Registers the pipelines above with the textual pass pipeline parser
/// (`--nsa-to-cpu`).
void registerNSAPipelines();

} // namespace nsa
} // namespace mlir

#endif // NSA_PIPELINES_PIPELINES_H
