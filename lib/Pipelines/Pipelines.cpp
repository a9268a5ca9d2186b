//===- Pipelines.cpp - nsa pass pipelines ---------------------------------===//

#include "nsa/Pipelines/Pipelines.h"

#include "nsa/Conversion/Passes.h"
#include "nsa/Dialect/NSA/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace {
/// nsa.attention -> branch ops -> tile loops (GQA-fused if asked), the
/// common front of the CPU and GPU pipelines.
void addTilingPasses(OpPassManager &pm, bool fuseGQAGroup) {
  pm.addPass(nsa::createNSATile());
  if (fuseGQAGroup)
    pm.addPass(nsa::createNSAFuseGQAGroup());
  pm.addPass(nsa::createNSAFuseCombine());
  pm.addPass(createCanonicalizerPass());
}

/// nsa.attention -> branch ops, with selects reading group sums of the
/// compressed probabilities (a canonicalization), before any tiling.
void addDecomposePasses(OpPassManager &pm) {
  pm.addPass(nsa::createNSADecompose());
  pm.addPass(createCanonicalizerPass());
}

/// Tensors -> buffers, the function boundary included, with identity
/// layouts (what the CPU harness and the bundle exporter expect).
void addBufferizePass(OpPassManager &pm, bool allowReturnAllocsFromLoops) {
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  bufferize.allowReturnAllocsFromLoops = allowReturnAllocsFromLoops;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
}
} // namespace

void mlir::nsa::buildNSAToCPUPipeline(OpPassManager &pm,
                                      const NSAToCPUPipelineOptions &options) {
  // NSA levels: composite -> branches -> tiles -> linalg on tensors; with
  // tile=false the branches go to linalg directly (dense, untiled).
  addDecomposePasses(pm);
  if (options.tile) {
    addTilingPasses(pm, options.fuseGQAGroup);
    pm.addPass(createConvertNSATileToLinalg());
  }
  ConvertNSAToLinalgOptions toLinalg;
  toLinalg.branchAttention = !options.tile;
  pm.addPass(createConvertNSAToLinalg(toLinalg));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  // Tensors -> buffers. Loop-carried softmax state is rebuilt every KV
  // tile, so loops may yield fresh buffers; deallocation frees them.
  addBufferizePass(pm, /*allowReturnAllocsFromLoops=*/true);
  bufferization::BufferDeallocationPipelineOptions deallocation;
  bufferization::buildBufferDeallocationPipeline(pm, deallocation);

  // Loops -> LLVM dialect.
  pm.addPass(createConvertLinalgToLoopsPass());
  pm.addPass(createForallToForLoopPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void mlir::nsa::buildNSAToNVVMPipeline(OpPassManager &pm,
                                       const NSAToNVVMPipelineOptions &options) {
  // NSA levels: composite -> branches -> tile loops -> GPU kernels for the
  // tile loops, linalg on tensors for the rest.
  addDecomposePasses(pm);
  addTilingPasses(pm, options.fuseGQAGroup);
  pm.addPass(createConvertNSATileToGPU());
  pm.addPass(createConvertNSAToLinalg());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  // Tensors -> buffers; every buffer of the host function is a kernel
  // argument, a scratch buffer or a result.
  addBufferizePass(pm, /*allowReturnAllocsFromLoops=*/false);

  // The remaining parallel loops -> element-wise kernels.
  pm.addPass(createConvertLinalgToParallelLoopsPass());
  pm.addPass(createForallToParallelLoopPass());
  NSAMapParallelLoopsToGPUOptions mapping;
  mapping.blockSize = options.blockSize;
  mapping.elementsPerThread = options.elementsPerThread;
  pm.addPass(createNSAMapParallelLoopsToGPU(mapping));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  // Kernels -> gpu.module in the NVVM/LLVM dialect. The host function stays
  // on memrefs: the bundle exporter reads its launches and buffers.
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createNSAMergeGPUModules());
  NSAAttachNVVMTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  pm.addPass(createNSAAttachNVVMTarget(target));
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(memref::createExpandStridedMetadataPass());
  kernels.addPass(createLowerAffinePass());
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(createConvertNVGPUToNVVMPass());
  kernels.addPass(createConvertVectorToLLVMPass());
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  kernels.addPass(createConvertNVVMToLLVMPass());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void mlir::nsa::registerNSAPipelines() {
  PassPipelineRegistration<NSAToNVVMPipelineOptions>(
      "nsa-to-nvvm",
      "Decompose, tile and GQA-fuse NSA ops and lower them to GPU kernels "
      "(gpu.module in NVVM) launched from a host function on memrefs",
      buildNSAToNVVMPipeline);
  PassPipelineRegistration<NSAToCPUPipelineOptions>(
      "nsa-to-cpu",
      "Decompose, tile and GQA-fuse NSA ops (tile=0: lower the branch "
      "attentions densely instead), then lower them to LLVM for execution "
      "on the CPU",
      buildNSAToCPUPipeline);
}
