//===- Runtime.cpp - load and run NSA kernel bundles (CUDA driver API) ----===//
//
// The CUDA half of the runtime: contexts, module loading, scratch memory
// and launches. Everything decided from the manifest and the tensors lives
// in Plan.cpp, which needs no GPU and is unit-tested on its own.
//
//===----------------------------------------------------------------------===//

#include "nsa/Runtime/Runtime.h"

#include <cuda.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace nsa::runtime {

namespace {

std::string cudaErrorText(CUresult result) {
  const char *name = nullptr;
  const char *text = nullptr;
  std::string s;
  if (cuGetErrorName(result, &name) == CUDA_SUCCESS && name)
    s = name;
  else if (result == CUDA_ERROR_STUB_LIBRARY) // the stub has no error names
    return "CUDA_ERROR_STUB_LIBRARY: the CUDA toolkit's stub libcuda was "
           "loaded instead of the driver's (no GPU driver on this machine?)";
  else
    s = "CUDA error " + std::to_string(static_cast<int>(result));
  if (cuGetErrorString(result, &text) == CUDA_SUCCESS && text)
    s += std::string(": ") + text;
  return s;
}

/// Fills `error` if `result` is a failure: "<call> failed for <what>: ...".
bool check(CUresult result, const std::string &call, const std::string &what,
           Error &error) {
  if (result == CUDA_SUCCESS)
    return true;
  std::string message = call + " failed";
  if (!what.empty())
    message += " for " + what;
  message += ": " + cudaErrorText(result);
  error.set(ErrorKind::Cuda, std::move(message));
  return false;
}

/// check() for the per-run path: `describe()` builds `what` only on failure.
template <typename Describe>
bool checkLazily(CUresult result, const char *call, const Describe &describe,
                 Error &error) {
  return result == CUDA_SUCCESS || check(result, call, describe(), error);
}

/// Makes `context` current for the scope if no context is current; refuses
/// a different current context (its pointers would not be ours).
class ContextScope {
public:
  ContextScope() = default;
  ContextScope(const ContextScope &) = delete;
  ContextScope &operator=(const ContextScope &) = delete;
  ~ContextScope() {
    if (pushed_) {
      CUcontext popped = nullptr;
      cuCtxPopCurrent(&popped);
    }
  }

  /// With `evenOverAnother`, pushes `context` over a different current one
  /// (for cleanup, which touches only the bundle's own objects). `what()`
  /// names the operation in messages (built only on failure).
  template <typename Describe>
  bool enter(CUcontext context, const Describe &what, Error &error,
             bool evenOverAnother = false) {
    CUcontext current = nullptr;
    if (!checkLazily(cuCtxGetCurrent(&current), "cuCtxGetCurrent", what, error))
      return false;
    if (current == context)
      return true;
    if (current && !evenOverAnother) {
      error.set(ErrorKind::Cuda,
                what() + ": the calling thread's current CUDA context is not "
                         "the one the bundle was loaded in; make that context "
                         "current (or load the bundle in this one)");
      return false;
    }
    if (!checkLazily(cuCtxPushCurrent(context), "cuCtxPushCurrent", what,
                     error))
      return false;
    pushed_ = true;
    return true;
  }

private:
  bool pushed_ = false;
};

std::string trimLog(const char *log) {
  std::string s(log);
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == ' ' || s.back() == '\0'))
    s.pop_back();
  return s;
}

bool envFlag(const char *name) {
  const char *value = std::getenv(name);
  return value && *value && std::strcmp(value, "0") != 0;
}

} // namespace

struct Bundle::Impl {
  std::string dir;
  Manifest manifest;
  LoadOptions options;
  std::string loadNote;

  CUcontext context = nullptr;
  CUdevice device = 0;
  bool retainedPrimary = false;
  CUmodule module = nullptr;
  /// One function per launch.
  std::vector<CUfunction> functions;

  CUdeviceptr scratch = 0;
  uint64_t scratchCapacity = 0;
  CUevent lastRun = nullptr;
  bool haveLastRun = false;
  size_t lastLaunches = 0;
  size_t lastSkipped = 0;

  mutable std::mutex mutex;
  // Reused across runs.
  Plan plan;
  std::vector<uint64_t> paramValues;
  std::vector<void *> paramPointers;

  ~Impl() { release(); }

  void release() {
    if (!context)
      return;
    Error ignored;
    ContextScope scope;
    if (scope.enter(
            context, [] { return std::string("unloading bundle"); }, ignored,
            /*evenOverAnother=*/true)) {
      if (haveLastRun)
        cuEventSynchronize(lastRun);
      if (lastRun)
        cuEventDestroy(lastRun);
      if (scratch)
        cuMemFree(scratch);
      if (module)
        cuModuleUnload(module);
    }
    lastRun = nullptr;
    scratch = 0;
    module = nullptr;
    if (retainedPrimary)
      cuDevicePrimaryCtxRelease(device);
    retainedPrimary = false;
    context = nullptr;
  }

  bool acquireContext(Error &error) {
    if (!check(cuInit(0), "cuInit", "", error))
      return false;
    CUcontext current = nullptr;
    if (!check(cuCtxGetCurrent(&current), "cuCtxGetCurrent", "", error))
      return false;
    if (!current) {
      if (!check(cuDeviceGet(&device, 0), "cuDeviceGet", "device 0", error))
        return false;
      if (!check(cuDevicePrimaryCtxRetain(&context, device),
                 "cuDevicePrimaryCtxRetain", "device 0", error))
        return false;
      retainedPrimary = true;
      return true;
    }
    if (!check(cuCtxGetDevice(&device), "cuCtxGetDevice", "", error))
      return false;
    context = current;
    // Hold a reference if the current context is the device's primary one
    // (as with PyTorch), so it outlives us even if its owner lets it go.
    // (Only if it is active: retaining an inactive one would create it.)
    unsigned flags = 0;
    int active = 0;
    CUcontext primary = nullptr;
    if (cuDevicePrimaryCtxGetState(device, &flags, &active) == CUDA_SUCCESS &&
        active && cuDevicePrimaryCtxRetain(&primary, device) == CUDA_SUCCESS) {
      if (primary == current)
        retainedPrimary = true;
      else
        cuDevicePrimaryCtxRelease(device);
    }
    return true;
  }

  std::string describeDevice() const {
    char name[256] = {0};
    std::string s = "device " + std::to_string(static_cast<int>(device));
    if (cuDeviceGetName(name, sizeof(name) - 1, device) == CUDA_SUCCESS)
      s += std::string(" (") + name;
    else
      s += " (";
    int major = 0, minor = 0;
    if (cuDeviceGetAttribute(&major,
                             CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                             device) == CUDA_SUCCESS &&
        cuDeviceGetAttribute(&minor,
                             CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                             device) == CUDA_SUCCESS)
      s += ", sm_" + std::to_string(major) + std::to_string(minor);
    return s + ")";
  }

  /// Loads `path` with cuModuleLoadDataEx; on failure returns the reason.
  bool loadImage(const std::string &path, bool text, std::string &why) {
    std::string image, readError;
    if (!readFile(path, image, readError)) {
      why = readError;
      return false;
    }
    if (image.empty()) {
      why = "'" + path + "' is empty";
      return false;
    }
    if (text)
      image.push_back('\0'); // PTX must be NUL-terminated
    std::vector<char> log(8192, '\0');
    CUjit_option keys[2] = {CU_JIT_ERROR_LOG_BUFFER,
                            CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
    void *values[2] = {log.data(), reinterpret_cast<void *>(
                                       static_cast<uintptr_t>(log.size() - 1))};
    CUresult result =
        cuModuleLoadDataEx(&module, image.data(), 2, keys, values);
    if (result == CUDA_SUCCESS)
      return true;
    module = nullptr;
    why = "cuModuleLoadDataEx failed for '" + path +
          "': " + cudaErrorText(result);
    std::string jitLog = trimLog(log.data());
    if (!jitLog.empty())
      why += " (JIT log: " + jitLog + ")";
    return false;
  }

  bool loadModule(Error &error) {
    std::string cubinWhy, ptxWhy;
    bool triedCubin = false, triedPtx = false;
    auto tryCubin = [&] {
      if (manifest.cubin.empty() || module)
        return;
      triedCubin = true;
      std::string path = joinPath(dir, manifest.cubin);
      if (loadImage(path, false, cubinWhy))
        loadNote = "loaded '" + path + "'";
    };
    auto tryPtx = [&] {
      if (manifest.ptx.empty() || module)
        return;
      triedPtx = true;
      std::string path = joinPath(dir, manifest.ptx);
      if (loadImage(path, true, ptxWhy)) {
        loadNote = "loaded '" + path + "' (PTX, JIT-compiled by the driver)";
        if (!cubinWhy.empty())
          loadNote += "; the cubin did not load: " + cubinWhy;
      }
    };
    if (options.preferPtx) {
      tryPtx();
      tryCubin();
    } else {
      tryCubin();
      tryPtx();
    }
    if (module)
      return true;
    std::string message = "cannot load the kernels of bundle '" + dir + "'";
    if (!manifest.chip.empty())
      message += " (built for " + manifest.chip + ")";
    message += " on " + describeDevice() + ":";
    if (triedCubin)
      message += " cubin: " + cubinWhy + ";";
    if (triedPtx)
      message += " PTX: " + ptxWhy + ";";
    message.pop_back();
    error.set(ErrorKind::Cuda, std::move(message));
    return false;
  }

  bool prepareFunctions(Error &error) {
    std::vector<std::string> names;
    std::vector<CUfunction> found;
    std::vector<int64_t> maxShared;
    for (size_t l = 0; l < manifest.launches.size(); ++l) {
      const LaunchSpec &launch = manifest.launches[l];
      size_t k = 0;
      while (k < names.size() && names[k] != launch.kernel)
        ++k;
      if (k == names.size()) {
        CUfunction function = nullptr;
        if (!check(
                cuModuleGetFunction(&function, module, launch.kernel.c_str()),
                "cuModuleGetFunction", manifest.describeLaunch(l), error))
          return false;
        names.push_back(launch.kernel);
        found.push_back(function);
        maxShared.push_back(0);
      }
      functions.push_back(found[k]);
      if (launch.sharedMemoryBytes > maxShared[k])
        maxShared[k] = launch.sharedMemoryBytes;
    }
    constexpr int64_t kDefaultLimit = 48 * 1024;
    for (size_t k = 0; k < names.size(); ++k) {
      if (maxShared[k] <= kDefaultLimit)
        continue;
      std::string what = "kernel '" + names[k] + "'";
      int optin = 0, staticBytes = 0;
      if (cuDeviceGetAttribute(
              &optin, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
              device) == CUDA_SUCCESS &&
          cuFuncGetAttribute(&staticBytes, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES,
                             found[k]) == CUDA_SUCCESS &&
          maxShared[k] + staticBytes > optin) {
        error.set(ErrorKind::Cuda,
                  what + " needs " + std::to_string(maxShared[k]) +
                      " bytes of dynamic shared memory (and " +
                      std::to_string(staticBytes) + " static); " +
                      describeDevice() + " allows at most " +
                      std::to_string(optin) + " per block");
        return false;
      }
      if (!check(cuFuncSetAttribute(
                     found[k], CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                     static_cast<int>(maxShared[k])),
                 "cuFuncSetAttribute(MAX_DYNAMIC_SHARED_SIZE_BYTES = " +
                     std::to_string(maxShared[k]) + ")",
                 what, error))
        return false;
    }
    return true;
  }

  bool ensureScratch(uint64_t bytes, Error &error) {
    if (bytes <= scratchCapacity)
      return true;
    // The previous run may still be using the old allocation.
    if (haveLastRun &&
        !check(cuEventSynchronize(lastRun), "cuEventSynchronize",
               "the previous run, before growing the scratch", error))
      return false;
    if (scratch) {
      CUresult result = cuMemFree(scratch);
      scratch = 0;
      scratchCapacity = 0;
      if (!check(result, "cuMemFree", "the old scratch", error))
        return false;
    }
    CUdeviceptr pointer = 0;
    if (!check(cuMemAlloc(&pointer, bytes), "cuMemAlloc",
               std::to_string(bytes) + " bytes of scratch", error))
      return false;
    if (pointer % kScratchAlignment != 0) {
      cuMemFree(pointer);
      error.set(ErrorKind::Internal,
                "cuMemAlloc returned a scratch pointer that is not " +
                    std::to_string(kScratchAlignment) + "-byte aligned");
      return false;
    }
    scratch = pointer;
    scratchCapacity = bytes;
    return true;
  }

  std::string describePlanned(const PlannedLaunch &launch) const {
    return manifest.describeLaunch(launch.launch) + ", grid [" +
           std::to_string(launch.grid[0]) + ", " +
           std::to_string(launch.grid[1]) + ", " +
           std::to_string(launch.grid[2]) + "], block [" +
           std::to_string(launch.block[0]) + ", " +
           std::to_string(launch.block[1]) + ", " +
           std::to_string(launch.block[2]) + "], " +
           std::to_string(launch.sharedMemoryBytes) +
           " bytes of dynamic shared memory";
  }

  bool launchAll(CUstream stream, Error &error) {
    lastLaunches = lastSkipped = 0;
    for (const PlannedLaunch &launch : plan.launches) {
      if (launch.skipped) {
        ++lastSkipped;
        continue;
      }
      size_t n = launch.params.size();
      paramValues.assign(n, 0);
      paramPointers.assign(n, nullptr);
      for (size_t i = 0; i < n; ++i) {
        const KernelParam &param = launch.params[i];
        uint64_t value = param.bits;
        if (param.scratchRelative)
          value += static_cast<uint64_t>(scratch);
        if (param.size == 4) {
          uint32_t low = static_cast<uint32_t>(value);
          std::memcpy(&paramValues[i], &low, sizeof(low));
        } else {
          paramValues[i] = value;
        }
        paramPointers[i] = &paramValues[i];
      }
      CUresult result = cuLaunchKernel(
          functions[launch.launch], launch.grid[0], launch.grid[1],
          launch.grid[2], launch.block[0], launch.block[1], launch.block[2],
          launch.sharedMemoryBytes, stream, n ? paramPointers.data() : nullptr,
          nullptr);
      if (!checkLazily(
              result, "cuLaunchKernel", [&] { return describePlanned(launch); },
              error))
        return false;
      ++lastLaunches;
      if (options.syncAfterEachLaunch &&
          !checkLazily(
              cuStreamSynchronize(stream), "cuStreamSynchronize",
              [&] {
                return "the stream after " +
                       manifest.describeLaunch(launch.launch);
              },
              error))
        return false;
    }
    return true;
  }
};

Bundle::Bundle() : impl_(new Impl) {}
Bundle::~Bundle() = default;

std::unique_ptr<Bundle> Bundle::load(const std::string &dir, Error &error,
                                     const LoadOptions &options) {
  error.clear();
  std::unique_ptr<Bundle> bundle(new Bundle());
  Impl &impl = *bundle->impl_;
  impl.dir = dir;
  impl.options = options;
  if (envFlag("NSA_RUNTIME_SYNC"))
    impl.options.syncAfterEachLaunch = true;
  std::string message;
  if (!Manifest::load(dir, impl.manifest, message)) {
    error.set(ErrorKind::Bundle, std::move(message));
    return nullptr;
  }
  if (!impl.acquireContext(error))
    return nullptr;
  ContextScope scope;
  if (!scope.enter(
          impl.context, [&] { return "loading bundle '" + dir + "'"; }, error))
    return nullptr;
  if (!impl.loadModule(error) || !impl.prepareFunctions(error))
    return nullptr;
  if (!check(cuEventCreate(&impl.lastRun, CU_EVENT_DISABLE_TIMING),
             "cuEventCreate", "bundle '" + dir + "'", error))
    return nullptr;
  return bundle;
}

const Manifest &Bundle::manifest() const { return impl_->manifest; }
const std::string &Bundle::directory() const { return impl_->dir; }
const std::string &Bundle::loadNote() const { return impl_->loadNote; }

uint64_t Bundle::scratchBytes() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->scratchCapacity;
}
size_t Bundle::lastRunLaunches() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->lastLaunches;
}
size_t Bundle::lastRunSkipped() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->lastSkipped;
}

bool Bundle::outputShapes(const TensorRef *inputs, size_t numInputs,
                          std::vector<std::vector<int64_t>> &shapes,
                          Error &error) const {
  error.clear();
  std::string message;
  if (!inferOutputShapes(impl_->manifest, inputs, numInputs, shapes, message)) {
    error.set(ErrorKind::Tensor, std::move(message));
    return false;
  }
  return true;
}

bool Bundle::run(const TensorRef *inputs, size_t numInputs,
                 const TensorRef *outputs, size_t numOutputs,
                 CUstream_st *stream, Error &error) {
  error.clear();
  Impl &impl = *impl_;
  std::lock_guard<std::mutex> lock(impl.mutex);
  std::string message;
  if (!makePlan(impl.manifest, inputs, numInputs, outputs, numOutputs,
                impl.plan, message)) {
    error.set(ErrorKind::Tensor, "bundle '" + impl.dir + "': " + message);
    return false;
  }
  ContextScope scope;
  if (!scope.enter(
          impl.context, [&] { return "running bundle '" + impl.dir + "'"; },
          error))
    return false;
  if (!impl.ensureScratch(impl.plan.scratchBytes, error))
    return false;
  CUstream cuStream = reinterpret_cast<CUstream>(stream);
  // Order this run after the previous one (they share the scratch). Always,
  // not only when the handle differs: the per-thread default stream has one
  // handle for many streams. On the same stream this is a cheap no-op.
  if (impl.haveLastRun &&
      !checkLazily(
          cuStreamWaitEvent(cuStream, impl.lastRun, 0), "cuStreamWaitEvent",
          [] { return std::string("the end of the previous run"); }, error))
    return false;
  bool ok = impl.launchAll(cuStream, error);
  // Record even after a failed launch: earlier launches may use the scratch.
  Error recordError;
  if (checkLazily(
          cuEventRecord(impl.lastRun, cuStream), "cuEventRecord",
          [] { return std::string("the end of the run"); }, recordError)) {
    impl.haveLastRun = true;
  } else if (ok) {
    error = recordError;
    return false;
  }
  if (!ok)
    error.message = "bundle '" + impl.dir + "': " + error.message;
  return ok;
}

} // namespace nsa::runtime
