//===- Runtime.h - load and run NSA kernel bundles (C++ API) ----*- C++ -*-===//
//
// The GPU runtime for the bundles of docs/bundle-format.md, on the CUDA
// driver API (no LLVM, no CUDA runtime API). See docs/runtime.md.
//
//   std::string dir = "build/nsa_forward.nsab";
//   nsa::runtime::Error error;
//   auto bundle = nsa::runtime::Bundle::load(dir, error);
//   if (!bundle) { fprintf(stderr, "%s\n", error.message.c_str()); ... }
//   nsa::runtime::TensorRef inputs[4] = ..., outputs[4] = ...;
//   if (!bundle->run(inputs, 4, outputs, 4, stream, error)) ...
//
// Nothing here throws; every failure is reported through `Error`.
//
//===----------------------------------------------------------------------===//

#ifndef NSA_RUNTIME_RUNTIME_H
#define NSA_RUNTIME_RUNTIME_H

#include "nsa/Runtime/Manifest.h"
#include "nsa/Runtime/Plan.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

// CUstream and cudaStream_t are both `CUstream_st *`.
struct CUstream_st;

namespace nsa::runtime {

/// What kind of failure; the values are the C API's nsa_status codes.
enum class ErrorKind : int {
  None = 0,
  InvalidArgument = 1, ///< a bad call: null pointer, index out of range
  Bundle = 2,          ///< the bundle directory or manifest is unusable
  Tensor = 3,          ///< inputs/outputs do not match the manifest
  Cuda = 4,            ///< a CUDA driver call failed
  Internal = 5,        ///< out of memory, or a bug
};

struct Error {
  ErrorKind kind = ErrorKind::None;
  std::string message;

  explicit operator bool() const { return kind != ErrorKind::None; }
  void set(ErrorKind k, std::string m) {
    kind = k;
    message = std::move(m);
  }
  void clear() {
    kind = ErrorKind::None;
    message.clear();
  }
};

struct LoadOptions {
  /// Load kernels.ptx (JIT-compiled by the driver) even if the cubin loads.
  bool preferPtx = false;
  /// Synchronize the stream after every launch, so that a kernel that
  /// faults is reported by name (slow: for debugging). The environment
  /// variable NSA_RUNTIME_SYNC=1 turns this on too.
  bool syncAfterEachLaunch = false;
};

class Bundle {
public:
  /// Reads and validates `<dir>/manifest.json`, then loads the kernels into
  /// the calling thread's current CUDA context (or, if there is none, the
  /// primary context of device 0): the cubin, or the PTX if the cubin fails
  /// to load. Returns null and fills `error` on failure.
  static std::unique_ptr<Bundle> load(const std::string &dir, Error &error,
                                      const LoadOptions &options = {});
  ~Bundle();
  Bundle(const Bundle &) = delete;
  Bundle &operator=(const Bundle &) = delete;

  const Manifest &manifest() const;
  const std::string &directory() const;
  /// The file the kernels were loaded from, and why the cubin was passed
  /// over if the PTX was used.
  const std::string &loadNote() const;

  /// The output shapes for inputs of these shapes (data and strides are
  /// not looked at). No CUDA call.
  bool outputShapes(const TensorRef *inputs, size_t numInputs,
                    std::vector<std::vector<int64_t>> &shapes,
                    Error &error) const;

  /// Checks the tensors (see makePlan in Plan.h), allocates or reuses the
  /// scratch buffers, and launches the kernels in order on `stream` (null:
  /// the legacy default stream). Asynchronous: returns once the launches
  /// are queued. Runs of one bundle share its scratch: they are serialized
  /// by a lock, and each run's stream first waits for the previous run.
  bool run(const TensorRef *inputs, size_t numInputs, const TensorRef *outputs,
           size_t numOutputs, CUstream_st *stream, Error &error);

  /// Bytes of scratch memory currently held (reused by later runs while it
  /// is large enough).
  uint64_t scratchBytes() const;
  /// Launches issued and skipped (zero grid extent) by the last run.
  size_t lastRunLaunches() const;
  size_t lastRunSkipped() const;

private:
  Bundle();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace nsa::runtime

#endif // NSA_RUNTIME_RUNTIME_H
