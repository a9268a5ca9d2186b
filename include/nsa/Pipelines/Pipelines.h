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
  PassOptions::Option<bool> tile{
      *this, "tile",
      llvm::cl::desc("Tile the branch attentions (nsa-tile, online softmax); "
                     "false: lower them densely, untiled "
                     "(convert-nsa-to-linalg branch-attention=true)"),
      llvm::cl::init(true)};
  PassOptions::Option<bool> fuseGQAGroup{
      *this, "fuse-gqa-group",
      llvm::cl::desc("Run nsa-fuse-gqa-group after nsa-tile (ignored when "
                     "tile=false)"),
      llvm::cl::init(true)};
};

/// nsa.attention or branch ops -> decomposed, tiled (and GQA-fused) tile IR,
/// the combine folded into the window's tile loop (nsa-fuse-combine)
/// -> linalg -> bufferized loops -> LLVM dialect, with C interfaces for
/// functions marked llvm.emit_c_interface. The CPU execution of the tile
/// IR; the result translates with mlir-translate --mlir-to-llvmir. With
/// tile=false the branch attentions skip the tile level and are lowered
/// densely from their definitions instead (the untiled CPU path).
void buildNSAToCPUPipeline(OpPassManager &pm,
                           const NSAToCPUPipelineOptions &options);

struct NSAToNVVMPipelineOptions
    : public PassPipelineOptions<NSAToNVVMPipelineOptions> {
  PassOptions::Option<bool> fuseGQAGroup{
      *this, "fuse-gqa-group",
      llvm::cl::desc("Run nsa-fuse-gqa-group after nsa-tile"),
      llvm::cl::init(true)};
  PassOptions::Option<std::string> chip{
      *this, "chip",
      llvm::cl::desc("GPU architecture (sm_90a, sm_80, ...); empty: the "
                     "module's #nsa.target chip"),
      llvm::cl::init("")};
  PassOptions::Option<std::string> features{
      *this, "features", llvm::cl::desc("PTX features"),
      llvm::cl::init("+ptx80")};
  PassOptions::Option<int64_t> blockSize{
      *this, "block-size",
      llvm::cl::desc("Threads per block of the element-wise kernels"),
      llvm::cl::init(256)};
  PassOptions::Option<int64_t> elementsPerThread{
      *this, "elements-per-thread",
      llvm::cl::desc("Most iterations of a constant innermost dimension one "
                     "thread of an element-wise kernel runs (1: one per "
                     "thread)"),
      llvm::cl::init(4)};
};

/// nsa.attention or branch ops -> tiled, GQA-fused tile loops (the combine
/// in the window's, nsa-fuse-combine) lowered to
/// gpu.launch kernels, the other ops as element-wise kernels (a few elements
/// per thread) ->
/// bufferized host function of gpu.launch_func on memrefs, and gpu.module
/// kernels in the NVVM/LLVM dialect with an #nvvm.target attached. The
/// result is what nsa-export-bundle (or gpu-module-to-binary) consumes.
void buildNSAToNVVMPipeline(OpPassManager &pm,
                            const NSAToNVVMPipelineOptions &options);

/// Registers the pipelines above with the textual pass pipeline parser
/// (`--nsa-to-cpu`).
void registerNSAPipelines();

} // namespace nsa
} // namespace mlir

#endif // NSA_PIPELINES_PIPELINES_H
