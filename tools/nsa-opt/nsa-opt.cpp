//===- nsa-opt.cpp - The nsa optimizer driver -----------------------------===//
//
// mlir-opt with the nsa dialect and passes added: every upstream dialect,
// extension and pass is registered too, so the whole pipeline down to NVVM
// can be run and inspected step by step.
//
//===----------------------------------------------------------------------===//

#include "nsa/InitAllNSA.h"
#include "nsa/Conversion/Passes.h"
#include "nsa/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::nsa::registerNSAPasses();
  mlir::nsa::registerNSAConversionPasses();
  mlir::nsa::registerNSAPipelines();

  mlir::DialectRegistry registry;
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary and nsa-export-bundle translate kernels to LLVM IR.
  mlir::registerAllToLLVMIRTranslations(registry);
  mlir::nsa::registerNSADialect(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "NSA-MLIR optimizer driver\n", registry));
}
