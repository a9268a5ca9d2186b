//===- ExportBundle.cpp - write a kernel bundle for the runtime -----------===//
//
// Turns the output of --nsa-to-nvvm into the files of docs/bundle-format.md:
// the gpu.module compiled to a cubin (and PTX), and a manifest that replays
// the host function: its allocations as scratch buffers or outputs, its
// launches with grid, block and arguments as size expressions over the
// symbols B and T. The runtime needs no LLVM to run it.
//
//===----------------------------------------------------------------------===//

#include "nsa/Conversion/Passes.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/SymbolTable.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

namespace mlir::nsa {
#define GEN_PASS_DEF_NSAEXPORTBUNDLE
#include "nsa/Conversion/Passes.h.inc"
} // namespace mlir::nsa

using namespace mlir;

namespace {

/// Size expressions (docs/bundle-format.md) of the host function's index
/// values, built from their defining ops.
class SizeExpressions {
public:
  /// The name of symbol dimension `dim` of an argument, or failure.
  FailureOr<std::string> symbolOf(BlockArgument arg, int64_t dim) {
    if (dim == 0)
      return std::string("B");
    if (dim == 1)
      return std::string("T");
    return emitError(arg.getLoc())
           << "argument #" << arg.getArgNumber() << " has dynamic dim " << dim
           << "; only dims 0 (B) and 1 (T) may be dynamic";
  }

  /// Extent `dim` of a buffer as an expression.
  FailureOr<std::string> extent(Value buffer, int64_t dim) {
    auto type = cast<MemRefType>(buffer.getType());
    if (!type.isDynamicDim(dim))
      return std::to_string(type.getDimSize(dim));
    if (auto arg = dyn_cast<BlockArgument>(buffer))
      return symbolOf(arg, dim);
    if (auto alloc = buffer.getDefiningOp<memref::AllocOp>())
      return of(alloc.getDynamicSizes()[type.getDynamicDimIndex(dim)]);
    return emitError(buffer.getLoc()) << "cannot size this buffer";
  }

  FailureOr<std::string> of(Value value) {
    auto it = cache.find(value);
    if (it != cache.end())
      return it->second;
    FailureOr<std::string> result = compute(value);
    if (succeeded(result))
      cache[value] = *result;
    return result;
  }

private:
  FailureOr<std::string> compute(Value value) {
    Operation *op = value.getDefiningOp();
    if (!op)
      return emitError(value.getLoc())
             << "a block argument is not a size the runtime can compute";
    if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
      if (auto integer = dyn_cast<IntegerAttr>(constant.getValue()))
        return std::to_string(integer.getValue().getSExtValue());
    }
    if (auto dim = dyn_cast<memref::DimOp>(op)) {
      std::optional<int64_t> index = dim.getConstantIndex();
      if (!index)
        return op->emitOpError() << "needs a constant dimension";
      return extent(dim.getSource(), *index);
    }
    if (isa<arith::IndexCastOp, arith::IndexCastUIOp>(op))
      return of(op->getOperand(0));
    if (auto apply = dyn_cast<affine::AffineApplyOp>(op))
      return affine(apply.getAffineMap().getResult(0), apply.getMapOperands(),
                    apply.getAffineMap().getNumDims());
    if (auto max = dyn_cast<affine::AffineMaxOp>(op))
      return fold("max", max.getAffineMap(), max.getMapOperands());
    if (auto min = dyn_cast<affine::AffineMinOp>(op))
      return fold("min", min.getAffineMap(), min.getMapOperands());
    if (op->getNumOperands() == 2) {
      FailureOr<std::string> lhs = of(op->getOperand(0));
      if (failed(lhs))
        return failure();
      FailureOr<std::string> rhs = of(op->getOperand(1));
      if (failed(rhs))
        return failure();
      auto infix = [&](StringRef symbol) {
        return "(" + *lhs + " " + symbol.str() + " " + *rhs + ")";
      };
      auto call = [&](StringRef name) {
        return name.str() + "(" + *lhs + ", " + *rhs + ")";
      };
      // Sizes are never negative, so truncating and flooring division agree.
      if (isa<arith::AddIOp>(op))
        return infix("+");
      if (isa<arith::SubIOp>(op))
        return infix("-");
      if (isa<arith::MulIOp>(op))
        return infix("*");
      if (isa<arith::DivUIOp, arith::DivSIOp, arith::FloorDivSIOp>(op))
        return infix("floordiv");
      if (isa<arith::CeilDivUIOp, arith::CeilDivSIOp>(op))
        return infix("ceildiv");
      if (isa<arith::RemUIOp, arith::RemSIOp>(op))
        return infix("mod");
      if (isa<arith::MaxSIOp, arith::MaxUIOp>(op))
        return call("max");
      if (isa<arith::MinSIOp, arith::MinUIOp>(op))
        return call("min");
    }
    return op->emitOpError()
           << "computes a size the bundle exporter cannot express";
  }

  FailureOr<std::string> fold(StringRef name, AffineMap map,
                              ValueRange operands) {
    std::string result;
    for (AffineExpr expr : map.getResults()) {
      FailureOr<std::string> term = affine(expr, operands, map.getNumDims());
      if (failed(term))
        return failure();
      result = result.empty() ? *term
                              : name.str() + "(" + result + ", " + *term + ")";
    }
    return result;
  }

  FailureOr<std::string> affine(AffineExpr expr, ValueRange operands,
                                unsigned numDims) {
    if (auto constant = dyn_cast<AffineConstantExpr>(expr))
      return std::to_string(constant.getValue());
    if (auto dim = dyn_cast<AffineDimExpr>(expr))
      return of(operands[dim.getPosition()]);
    if (auto symbol = dyn_cast<AffineSymbolExpr>(expr))
      return of(operands[numDims + symbol.getPosition()]);
    auto binary = cast<AffineBinaryOpExpr>(expr);
    FailureOr<std::string> lhs = affine(binary.getLHS(), operands, numDims);
    if (failed(lhs))
      return failure();
    FailureOr<std::string> rhs = affine(binary.getRHS(), operands, numDims);
    if (failed(rhs))
      return failure();
    StringRef symbol;
    switch (expr.getKind()) {
    case AffineExprKind::Add:
      symbol = "+";
      break;
    case AffineExprKind::Mul:
      symbol = "*";
      break;
    case AffineExprKind::FloorDiv:
      symbol = "floordiv";
      break;
    case AffineExprKind::CeilDiv:
      symbol = "ceildiv";
      break;
    case AffineExprKind::Mod:
      symbol = "mod";
      break;
    default:
      llvm_unreachable("not a binary affine expression");
    }
    return "(" + *lhs + " " + symbol.str() + " " + *rhs + ")";
  }

  DenseMap<Value, std::string> cache;
};

StringRef dtypeName(Type type) {
  if (type.isF32())
    return "f32";
  if (type.isF16())
    return "f16";
  if (type.isBF16())
    return "bf16";
  if (type.isInteger(32))
    return "i32";
  if (type.isInteger(64))
    return "i64";
  return "";
}

struct NSAExportBundlePass
    : nsa::impl::NSAExportBundleBase<NSAExportBundlePass> {
  using Base::Base;

  void runOnOperation() override {
    if (failed(run()))
      signalPassFailure();
  }

  LogicalResult run() {
    ModuleOp top = getOperation();
    if (directory.empty())
      return top.emitError() << "nsa-export-bundle needs dir=<directory>";
    FailureOr<func::FuncOp> host = findHost();
    if (failed(host))
      return failure();
    SmallVector<gpu::GPUModuleOp> kernels(top.getOps<gpu::GPUModuleOp>());
    if (kernels.size() != 1)
      return top.emitError() << "expected one gpu.module (run "
                                "nsa-merge-gpu-modules), found "
                             << kernels.size();

    llvm::json::Object manifest;
    if (failed(describeHost(*host, manifest)))
      return failure();

    std::string cubin, ptx;
    if (failed(compile(kernels.front(), cubin, ptx)))
      return failure();
    auto chip = cast<NVVM::NVVMTargetAttr>(kernels.front().getTargetsAttr()[0]);
    manifest["chip"] = chip.getChip().str();

    if (std::error_code error = llvm::sys::fs::create_directories(directory))
      return top.emitError() << "cannot create bundle directory '"
                             << directory << "': " << error.message();
    if (failed(writeFile("kernels.cubin", cubin)) ||
        (emitPtx && failed(writeFile("kernels.ptx", ptx))))
      return failure();
    std::string text;
    llvm::raw_string_ostream os(text);
    os << llvm::formatv("{0:2}", llvm::json::Value(std::move(manifest)))
       << "\n";
    return writeFile("manifest.json", text);
  }

  FailureOr<func::FuncOp> findHost() {
    func::FuncOp found;
    for (func::FuncOp func : getOperation().getOps<func::FuncOp>()) {
      if (func.isExternal())
        continue;
      if (!functionName.empty() ? func.getName() == functionName
                                : func.isPublic()) {
        if (found)
          return getOperation().emitError()
                 << "more than one host function; choose one with function=";
        found = func;
      }
    }
    if (!found)
      return getOperation().emitError()
             << "no host function"
             << (functionName.empty() ? std::string()
                                      : " named '" + functionName + "'");
    return found;
  }

  LogicalResult writeFile(StringRef name, StringRef contents) {
    SmallString<256> path(directory);
    llvm::sys::path::append(path, name);
    std::error_code error;
    llvm::raw_fd_ostream os(path, error);
    if (error)
      return getOperation().emitError()
             << "cannot write '" << path << "': " << error.message();
    os << contents;
    return success();
  }

  /// The CUDA toolkit holding ptxas and libdevice (the kernels call
  /// libdevice's __nv_expf / __nv_logf): the option, else $CUDA_ROOT,
  /// $CUDA_HOME, $CUDA_PATH, else /usr/local/cuda. Empty leaves the choice to
  /// MLIR's NVVM target.
  std::string findToolkit() const {
    if (!toolkitPath.empty())
      return toolkitPath;
    for (const char *variable : {"CUDA_ROOT", "CUDA_HOME", "CUDA_PATH"})
      if (const char *value = std::getenv(variable); value && *value)
        return value;
    if (llvm::sys::fs::is_directory("/usr/local/cuda"))
      return "/usr/local/cuda";
    return "";
  }

  LogicalResult compile(gpu::GPUModuleOp kernels, std::string &cubin,
                        std::string &ptx) {
    // Serialize a clone so the module stays inspectable.
    OwningOpRef<ModuleOp> scratch =
        ModuleOp::create(getOperation().getLoc());
    scratch->getBody()->push_back(kernels->clone());
    SymbolTable table(*scratch);
    gpu::TargetOptions options(
        findToolkit(), {}, "", "", gpu::CompilationTarget::Binary,
        [&]() { return &table; },
        {}, {}, {}, [&](StringRef isa) { ptx = isa.str(); });
    if (failed(gpu::transformGpuModulesToBinaries(*scratch, nullptr, options)))
      return kernels.emitError() << "could not compile the kernels to a cubin";
    for (auto binary : scratch->getOps<gpu::BinaryOp>()) {
      auto object = cast<gpu::ObjectAttr>(binary.getObjects()[0]);
      cubin = object.getObject().getValue().str();
    }
    if (cubin.empty())
      return kernels.emitError() << "serialization produced no cubin";
    return success();
  }

  LogicalResult describeHost(func::FuncOp func, llvm::json::Object &manifest) {
    SizeExpressions sizes;
    DenseMap<Value, std::string> names;
    llvm::json::Array inputs, outputs, buffers, launches;

    auto tensorJson = [&](Value buffer,
                          StringRef name) -> FailureOr<llvm::json::Object> {
      auto type = cast<MemRefType>(buffer.getType());
      if (!type.getLayout().isIdentity())
        return emitError(buffer.getLoc())
               << "buffers must have the identity layout";
      StringRef dtype = dtypeName(type.getElementType());
      if (dtype.empty())
        return emitError(buffer.getLoc())
               << "unsupported element type " << type.getElementType();
      llvm::json::Array shape;
      for (int64_t dim = 0; dim < type.getRank(); ++dim) {
        if (!type.isDynamicDim(dim)) {
          shape.push_back(type.getDimSize(dim));
          continue;
        }
        FailureOr<std::string> extent = sizes.extent(buffer, dim);
        if (failed(extent))
          return failure();
        shape.push_back(*extent);
      }
      return llvm::json::Object{
          {"name", name.str()}, {"dtype", dtype.str()}, {"shape", std::move(shape)}};
    };

    for (BlockArgument arg : func.getArguments()) {
      if (!isa<MemRefType>(arg.getType()))
        return func.emitOpError()
               << "argument #" << arg.getArgNumber() << " is not a buffer";
      std::string name = "arg" + std::to_string(arg.getArgNumber());
      if (auto attr = func.getArgAttrOfType<StringAttr>(arg.getArgNumber(),
                                                        "nsa.name"))
        name = attr.str();
      names[arg] = name;
      FailureOr<llvm::json::Object> json = tensorJson(arg, name);
      if (failed(json))
        return failure();
      inputs.push_back(std::move(*json));
    }

    // Results: allocations of the function, each returned once.
    auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
    DenseMap<Value, unsigned> resultIndex;
    for (auto [index, value] : llvm::enumerate(ret.getOperands())) {
      if (!value.getDefiningOp<memref::AllocOp>() ||
          !resultIndex.try_emplace(value, index).second)
        return ret.emitOpError()
               << "result #" << index
               << " must be a buffer the function allocates, returned once";
      names[value] = "out" + std::to_string(index);
    }

    for (Operation &op : func.getBody().front()) {
      if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
        Value buffer = alloc.getResult();
        if (resultIndex.count(buffer))
          continue;
        std::string name = "buf" + std::to_string(buffers.size());
        names[buffer] = name;
        FailureOr<llvm::json::Object> json = tensorJson(buffer, name);
        if (failed(json))
          return failure();
        buffers.push_back(std::move(*json));
        continue;
      }
      if (auto launch = dyn_cast<gpu::LaunchFuncOp>(op)) {
        FailureOr<llvm::json::Object> json = describeLaunch(launch, sizes, names);
        if (failed(json))
          return failure();
        launches.push_back(std::move(*json));
        continue;
      }
      if (isa<memref::DeallocOp, func::ReturnOp>(op) || isPure(&op))
        continue; // size arithmetic, evaluated on demand
      return op.emitOpError()
             << "on the host is not supported by the bundle exporter";
    }
    for (Value value : ret.getOperands()) {
      FailureOr<llvm::json::Object> json = tensorJson(value, names[value]);
      if (failed(json))
        return failure();
      outputs.push_back(std::move(*json));
    }

    manifest["format"] = "nsa-bundle";
    manifest["version"] = 1;
    manifest["function"] = func.getName().str();
    manifest["cubin"] = "kernels.cubin";
    if (emitPtx)
      manifest["ptx"] = "kernels.ptx";
    manifest["symbols"] = llvm::json::Array{"B", "T"};
    manifest["inputs"] = std::move(inputs);
    manifest["outputs"] = std::move(outputs);
    manifest["buffers"] = std::move(buffers);
    manifest["launches"] = std::move(launches);
    return success();
  }

  FailureOr<llvm::json::Object>
  describeLaunch(gpu::LaunchFuncOp launch, SizeExpressions &sizes,
                 DenseMap<Value, std::string> &names) {
    auto extents = [&](gpu::KernelDim3 dims) -> FailureOr<llvm::json::Array> {
      llvm::json::Array result;
      for (Value value : {dims.x, dims.y, dims.z}) {
        if (std::optional<int64_t> constant = getConstantIntValue(value)) {
          result.push_back(*constant);
          continue;
        }
        FailureOr<std::string> expr = sizes.of(value);
        if (failed(expr))
          return failure();
        result.push_back(*expr);
      }
      return result;
    };
    FailureOr<llvm::json::Array> grid = extents(launch.getGridSizeOperandValues());
    FailureOr<llvm::json::Array> block =
        extents(launch.getBlockSizeOperandValues());
    if (failed(grid) || failed(block))
      return failure();
    if (launch.getClusterSizeX())
      return launch.emitOpError() << "clusters are not supported in bundles";

    int64_t sharedMemory = 0;
    if (Value dynamic = launch.getDynamicSharedMemorySize()) {
      std::optional<int64_t> constant = getConstantIntValue(dynamic);
      if (!constant)
        return launch.emitOpError() << "needs a constant shared memory size";
      sharedMemory = *constant;
    }

    llvm::json::Array args;
    for (Value operand : launch.getKernelOperands()) {
      Type type = operand.getType();
      if (isa<MemRefType>(type)) {
        auto it = names.find(operand);
        if (it == names.end())
          return launch.emitOpError()
                 << "passes a buffer that is not an argument, result or "
                    "allocation of the host function";
        args.push_back(llvm::json::Object{{"kind", "memref"},
                                          {"tensor", it->second}});
        continue;
      }
      if (type.isIndex() || type.isInteger(64)) {
        FailureOr<std::string> expr = sizes.of(operand);
        if (failed(expr))
          return failure();
        args.push_back(llvm::json::Object{{"kind", "index"}, {"value", *expr}});
        continue;
      }
      FloatAttr constant;
      if (type.isF32() && matchPattern(operand, m_Constant(&constant))) {
        args.push_back(llvm::json::Object{
            {"kind", "f32"}, {"value", constant.getValueAsDouble()}});
        continue;
      }
      return launch.emitOpError() << "kernel argument of type " << type
                                  << " is not supported in bundles";
    }
    return llvm::json::Object{
        {"kernel", launch.getKernelName().str()},
        {"grid", std::move(*grid)},
        {"block", std::move(*block)},
        {"shared_memory_bytes", sharedMemory},
        {"args", std::move(args)}};
  }
};

} // namespace
