//===- AttachTarget.cpp - #nsa.target -> #nvvm.target ---------------------===//
//
// Attaches an #nvvm.target to every gpu.module, with the chip of the
// module's #nsa.target unless the `chip` option overrides it, so that one
// attribute on the input decides the architecture of the whole pipeline;
// and turns each outlined kernel's nsa.min_ctas_per_sm into its
// nvvm.minctasm.
//
//===----------------------------------------------------------------------===//

#include "nsa/Conversion/Passes.h"
#include "nsa/Dialect/NSA/IR/NSAOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace mlir::nsa {
#define GEN_PASS_DEF_NSAATTACHNVVMTARGET
#include "nsa/Conversion/Passes.h.inc"
} // namespace mlir::nsa

using namespace mlir;

namespace {
struct NSAAttachNVVMTargetPass
    : nsa::impl::NSAAttachNVVMTargetBase<NSAAttachNVVMTargetPass> {
  using Base::Base;
  void runOnOperation() override {
    std::string chosen =
        chip.empty() ? nsa::TargetAttr::lookup(getOperation()).getChip().str()
                     : chip.getValue();
    if (failed(nsa::TargetAttr::verifyChip(
            [&] { return emitError(getOperation()->getLoc()); }, chosen)))
      return signalPassFailure();
    auto target = NVVM::NVVMTargetAttr::get(&getContext(), optLevel,
                                            "nvptx64-nvidia-cuda", chosen,
                                            features);
    getOperation()->walk([&](gpu::GPUModuleOp module) {
      module.setTargetsAttr(ArrayAttr::get(&getContext(), {target}));
    });
    WalkResult hints = getOperation()->walk([&](nsa::MinCtasPerSMOp hint) {
      auto func = hint->getParentOfType<gpu::GPUFuncOp>();
      if (!func) {
        hint.emitOpError() << "must be in an outlined gpu.func by now (run "
                              "gpu-kernel-outlining first)";
        return WalkResult::interrupt();
      }
      // Several hints in one kernel (fused launches) ask for the most.
      int64_t ctas = hint.getCtas();
      if (auto previous = func->getAttrOfType<IntegerAttr>(
              NVVM::NVVMDialect::getMinctasmAttrName()))
        ctas = std::max(ctas, previous.getInt());
      func->setAttr(
          NVVM::NVVMDialect::getMinctasmAttrName(),
          IntegerAttr::get(IntegerType::get(&getContext(), 32), ctas));
      hint.erase();
      return WalkResult::advance();
    });
    if (hints.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace

namespace mlir::nsa {
#define GEN_PASS_DEF_NSAMERGEGPUMODULES
#include "nsa/Conversion/Passes.h.inc"
} // namespace mlir::nsa

namespace {
/// One gpu.module per bundle: the kernels outlined into separate modules
/// move into the first one, each renamed after the module it came from (so
/// names stay unique), and every gpu.launch_func follows.
struct NSAMergeGPUModulesPass
    : nsa::impl::NSAMergeGPUModulesBase<NSAMergeGPUModulesPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp top = getOperation();
    SmallVector<gpu::GPUModuleOp> modules(top.getOps<gpu::GPUModuleOp>());
    if (modules.size() < 2)
      return;
    gpu::GPUModuleOp merged = modules.front();
    DenseMap<Attribute, SymbolRefAttr> renamed;
    MLIRContext *context = &getContext();
    for (gpu::GPUModuleOp module : llvm::drop_begin(modules)) {
      for (Operation &op :
           llvm::make_early_inc_range(module.getBody()->getOperations())) {
        auto func = dyn_cast<gpu::GPUFuncOp>(op);
        if (!func) {
          op.emitOpError() << "cannot be merged into one gpu.module";
          return signalPassFailure();
        }
        SymbolRefAttr oldRef = SymbolRefAttr::get(
            module.getNameAttr(), {FlatSymbolRefAttr::get(func.getNameAttr())});
        func.setName(module.getName());
        renamed[oldRef] = SymbolRefAttr::get(
            merged.getNameAttr(),
            {FlatSymbolRefAttr::get(context, module.getName())});
        func->moveBefore(merged.getBody(), merged.getBody()->end());
      }
    }
    top.walk([&](gpu::LaunchFuncOp launch) {
      if (SymbolRefAttr newRef = renamed.lookup(launch.getKernel()))
        launch.setKernelAttr(newRef);
    });
    for (gpu::GPUModuleOp module : llvm::drop_begin(modules))
      module.erase();
  }
};
} // namespace
