//===- Pipelines.cpp - nsa pass pipelines ---------------------------------===//

#include "nsa/Pipelines/Pipelines.h"

#include "nsa/Conversion/Passes.h"
#include "nsa/Dialect/NSA/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void mlir::nsa::buildNSAToCPUPipeline(OpPassManager &pm,
                                      const NSAToCPUPipelineOptions &options) {
  // NSA levels: composite -> branches -> tiles -> linalg on tensors.
  pm.addPass(createNSADecompose());
  pm.addPass(createNSATile());
  if (options.fuseGQAGroup)
    pm.addPass(createNSAFuseGQAGroup());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createConvertNSATileToLinalg());
  pm.addPass(createConvertNSAToLinalg());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  // Tensors -> buffers. Loop-carried softmax state is rebuilt every KV
  // tile, so loops may yield fresh buffers; deallocation frees them.
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  bufferize.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
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

void mlir::nsa::registerNSAPipelines() {
  PassPipelineRegistration<NSAToCPUPipelineOptions>(
      "nsa-to-cpu",
      "Decompose, tile and GQA-fuse NSA ops, then lower them to LLVM for "
      "execution on the CPU",
      buildNSAToCPUPipeline);
}
