//===- CApi.cpp - the C API of the runtime (nsa_runtime.h) ----------------===//
//
// Thin wrappers: argument checks, conversion of nsa_tensor to TensorRef,
// and a per-thread last-error string. No exception leaves this file.
//
//===----------------------------------------------------------------------===//

#include "nsa/Runtime/nsa_runtime.h"

#include "nsa/Runtime/Runtime.h"

#include <exception>
#include <new>
#include <string>
#include <vector>

using namespace nsa::runtime;

struct nsa_bundle {
  std::unique_ptr<Bundle> bundle;
};

namespace {

thread_local std::string lastError;

int fail(int status, std::string message) {
  lastError = std::move(message);
  return status;
}

int succeed() {
  lastError.clear();
  return NSA_OK;
}

int fromError(const Error &error) {
  if (!error)
    return fail(NSA_ERROR_INTERNAL, "unknown failure");
  return fail(static_cast<int>(error.kind), error.message);
}

/// Records a message without letting an exception out (out of memory).
void setErrorNoThrow(const char *function, const char *what) noexcept {
  try {
    lastError = std::string(function) + ": " + what;
  } catch (...) {
    lastError.clear();
  }
}

/// Runs `body`, turning any escaping exception into `fallback`.
template <typename T, typename Body>
T guardedValue(const char *function, T fallback, Body &&body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    setErrorNoThrow(function, "out of memory");
  } catch (const std::exception &e) {
    setErrorNoThrow(function, e.what());
  } catch (...) {
    setErrorNoThrow(function, "unknown internal error");
  }
  return fallback;
}

/// Runs `body`, turning any escaping exception into NSA_ERROR_INTERNAL.
template <typename Body> int guarded(const char *function, Body &&body) {
  return guardedValue(function, static_cast<int>(NSA_ERROR_INTERNAL),
                      std::forward<Body>(body));
}

bool checkTensorArray(const char *function, const char *what,
                      const nsa_tensor *tensors, int n, int &status) {
  if (n < 0) {
    status = fail(NSA_ERROR_INVALID_ARGUMENT,
                  std::string(function) + ": " + what + " count " +
                      std::to_string(n) + " is negative");
    return false;
  }
  if (n > 0 && !tensors) {
    status =
        fail(NSA_ERROR_INVALID_ARGUMENT, std::string(function) + ": " + what +
                                             " is NULL but its "
                                             "count is " +
                                             std::to_string(n));
    return false;
  }
  return true;
}

std::vector<TensorRef> toRefs(const nsa_tensor *tensors, int n,
                              bool withStrides) {
  std::vector<TensorRef> refs(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const nsa_tensor &t = tensors[i];
    TensorRef &ref = refs[i];
    ref.data = t.data;
    ref.dtype = static_cast<DType>(t.dtype); // validated by the planner
    ref.rank = t.rank;
    ref.shape = t.shape;
    ref.strides = withStrides ? t.strides : nullptr;
  }
  return refs;
}

/// The bundle behind `handle`, or null after recording
/// "<function>: bundle is NULL".
Bundle *bundleOf(const nsa_bundle *handle, const char *function) {
  if (handle && handle->bundle)
    return handle->bundle.get();
  fail(NSA_ERROR_INVALID_ARGUMENT, std::string(function) + ": bundle is NULL");
  return nullptr;
}

const TensorSpec *specAt(const nsa_bundle *bundle, bool input, int index,
                         const char *function) {
  const Bundle *b = bundleOf(bundle, function);
  if (!b)
    return nullptr;
  const Manifest &m = b->manifest();
  const std::vector<TensorSpec> &list = input ? m.inputs : m.outputs;
  if (index < 0 || static_cast<size_t>(index) >= list.size()) {
    fail(NSA_ERROR_INVALID_ARGUMENT,
         std::string(function) + ": index " + std::to_string(index) +
             " is out of range (the bundle has " + std::to_string(list.size()) +
             (input ? " inputs)" : " outputs)"));
    return nullptr;
  }
  return &list[static_cast<size_t>(index)];
}

/// A getter of the bundle: `get(bundle)`, or `fallback` if it is NULL.
template <typename T, typename Get>
T bundleGetter(const char *function, const nsa_bundle *bundle, T fallback,
               Get get) {
  return guardedValue(function, fallback, [&]() -> T {
    const Bundle *b = bundleOf(bundle, function);
    return b ? get(*b) : fallback;
  });
}

/// A getter of input or output `index`: `get(spec)`, or `fallback` if the
/// bundle is NULL or the index out of range.
template <typename T, typename Get>
T specGetter(const char *function, const nsa_bundle *bundle, bool input,
             int index, T fallback, Get get) {
  return guardedValue(function, fallback, [&]() -> T {
    const TensorSpec *spec = specAt(bundle, input, index, function);
    return spec ? get(*spec) : fallback;
  });
}

const char *specName(const TensorSpec &spec) { return spec.name.c_str(); }
int specDType(const TensorSpec &spec) { return static_cast<int>(spec.dtype); }
int specRank(const TensorSpec &spec) { return spec.rank(); }

} // namespace

extern "C" {

int nsa_bundle_load_flags(const char *dir, unsigned flags, nsa_bundle **out) {
  return guarded("nsa_bundle_load", [&]() -> int {
    if (!out)
      return fail(NSA_ERROR_INVALID_ARGUMENT, "nsa_bundle_load: out is NULL");
    *out = nullptr;
    if (!dir || !*dir)
      return fail(NSA_ERROR_INVALID_ARGUMENT,
                  "nsa_bundle_load: the bundle directory is NULL or empty");
    if (flags & ~(NSA_LOAD_PREFER_PTX | NSA_LOAD_SYNC_EACH_LAUNCH))
      return fail(NSA_ERROR_INVALID_ARGUMENT,
                  "nsa_bundle_load: unknown flags " + std::to_string(flags));
    LoadOptions options;
    options.preferPtx = flags & NSA_LOAD_PREFER_PTX;
    options.syncAfterEachLaunch = flags & NSA_LOAD_SYNC_EACH_LAUNCH;
    Error error;
    std::unique_ptr<Bundle> bundle = Bundle::load(dir, error, options);
    if (!bundle)
      return fromError(error);
    nsa_bundle *handle = new nsa_bundle;
    handle->bundle = std::move(bundle);
    *out = handle;
    return succeed();
  });
}

int nsa_bundle_load(const char *dir, nsa_bundle **out) {
  return nsa_bundle_load_flags(dir, 0, out);
}

void nsa_bundle_free(nsa_bundle *bundle) {
  try {
    delete bundle;
  } catch (...) {
  }
}

int nsa_bundle_num_inputs(const nsa_bundle *bundle) {
  return bundleGetter("nsa_bundle_num_inputs", bundle, -1, [](const Bundle &b) {
    return static_cast<int>(b.manifest().inputs.size());
  });
}

int nsa_bundle_num_outputs(const nsa_bundle *bundle) {
  return bundleGetter("nsa_bundle_num_outputs", bundle, -1,
                      [](const Bundle &b) {
                        return static_cast<int>(b.manifest().outputs.size());
                      });
}

const char *nsa_bundle_input_name(const nsa_bundle *bundle, int index) {
  return specGetter("nsa_bundle_input_name", bundle, true, index,
                    static_cast<const char *>(nullptr), specName);
}

const char *nsa_bundle_output_name(const nsa_bundle *bundle, int index) {
  return specGetter("nsa_bundle_output_name", bundle, false, index,
                    static_cast<const char *>(nullptr), specName);
}

int nsa_bundle_input_dtype(const nsa_bundle *bundle, int index) {
  return specGetter("nsa_bundle_input_dtype", bundle, true, index, -1,
                    specDType);
}

int nsa_bundle_output_dtype(const nsa_bundle *bundle, int index) {
  return specGetter("nsa_bundle_output_dtype", bundle, false, index, -1,
                    specDType);
}

int nsa_bundle_input_rank(const nsa_bundle *bundle, int index) {
  return specGetter("nsa_bundle_input_rank", bundle, true, index, -1, specRank);
}

int nsa_bundle_output_rank(const nsa_bundle *bundle, int index) {
  return specGetter("nsa_bundle_output_rank", bundle, false, index, -1,
                    specRank);
}

const char *nsa_bundle_function(const nsa_bundle *bundle) {
  return bundleGetter(
      "nsa_bundle_function", bundle, static_cast<const char *>(nullptr),
      [](const Bundle &b) { return b.manifest().function.c_str(); });
}

const char *nsa_bundle_chip(const nsa_bundle *bundle) {
  return bundleGetter(
      "nsa_bundle_chip", bundle, static_cast<const char *>(nullptr),
      [](const Bundle &b) { return b.manifest().chip.c_str(); });
}

int64_t nsa_bundle_scratch_bytes(const nsa_bundle *bundle) {
  return bundleGetter(
      "nsa_bundle_scratch_bytes", bundle, int64_t(-1),
      [](const Bundle &b) { return static_cast<int64_t>(b.scratchBytes()); });
}

int nsa_bundle_output_shapes(const nsa_bundle *bundle, const nsa_tensor *inputs,
                             int n_inputs, nsa_tensor *outputs, int n_outputs) {
  return guarded("nsa_bundle_output_shapes", [&]() -> int {
    const char *fn = "nsa_bundle_output_shapes";
    const Bundle *b = bundleOf(bundle, fn);
    if (!b)
      return NSA_ERROR_INVALID_ARGUMENT;
    int status = NSA_OK;
    if (!checkTensorArray(fn, "inputs", inputs, n_inputs, status) ||
        !checkTensorArray(fn, "outputs", outputs, n_outputs, status))
      return status;
    const Manifest &m = b->manifest();
    if (static_cast<size_t>(n_outputs) != m.outputs.size())
      return fail(NSA_ERROR_INVALID_ARGUMENT,
                  std::string(fn) + ": the bundle has " +
                      std::to_string(m.outputs.size()) +
                      " outputs, got room "
                      "for " +
                      std::to_string(n_outputs));
    std::vector<TensorRef> refs = toRefs(inputs, n_inputs, false);
    std::vector<std::vector<int64_t>> shapes;
    Error error;
    if (!b->outputShapes(refs.data(), refs.size(), shapes, error))
      return fromError(error);
    for (int j = 0; j < n_outputs; ++j) {
      nsa_tensor &t = outputs[j];
      const std::vector<int64_t> &shape = shapes[j];
      std::vector<int64_t> strides = rowMajorStrides(shape);
      t = nsa_tensor{};
      t.data = nullptr;
      t.dtype = static_cast<int>(m.outputs[j].dtype);
      t.rank = static_cast<int>(shape.size());
      for (size_t d = 0; d < shape.size(); ++d) {
        t.shape[d] = shape[d];
        t.strides[d] = strides[d];
      }
    }
    return succeed();
  });
}

int nsa_bundle_run(nsa_bundle *bundle, const nsa_tensor *inputs, int n_inputs,
                   const nsa_tensor *outputs, int n_outputs, void *stream) {
  return guarded("nsa_bundle_run", [&]() -> int {
    const char *fn = "nsa_bundle_run";
    Bundle *b = bundleOf(bundle, fn);
    if (!b)
      return NSA_ERROR_INVALID_ARGUMENT;
    int status = NSA_OK;
    if (!checkTensorArray(fn, "inputs", inputs, n_inputs, status) ||
        !checkTensorArray(fn, "outputs", outputs, n_outputs, status))
      return status;
    std::vector<TensorRef> in = toRefs(inputs, n_inputs, true);
    std::vector<TensorRef> out = toRefs(outputs, n_outputs, true);
    Error error;
    if (!b->run(in.data(), in.size(), out.data(), out.size(),
                static_cast<CUstream_st *>(stream), error))
      return fromError(error);
    return succeed();
  });
}

int nsa_tensor_init(nsa_tensor *tensor, void *data, int dtype, int rank,
                    const int64_t *shape) {
  return guarded("nsa_tensor_init", [&]() -> int {
    if (!tensor)
      return fail(NSA_ERROR_INVALID_ARGUMENT,
                  "nsa_tensor_init: tensor is NULL");
    if (!isValidDType(dtype))
      return fail(NSA_ERROR_INVALID_ARGUMENT,
                  "nsa_tensor_init: invalid dtype " + std::to_string(dtype));
    if (rank < 0 || rank > NSA_MAX_RANK)
      return fail(NSA_ERROR_INVALID_ARGUMENT,
                  "nsa_tensor_init: rank " + std::to_string(rank) +
                      " is out of range (0 to " + std::to_string(NSA_MAX_RANK) +
                      ")");
    if (rank > 0 && !shape)
      return fail(NSA_ERROR_INVALID_ARGUMENT, "nsa_tensor_init: shape is NULL");
    nsa_tensor t{};
    t.data = data;
    t.dtype = dtype;
    t.rank = rank;
    int64_t stride = 1;
    for (int d = rank - 1; d >= 0; --d) {
      if (shape[d] < 0)
        return fail(NSA_ERROR_INVALID_ARGUMENT, "nsa_tensor_init: dim " +
                                                    std::to_string(d) + " is " +
                                                    std::to_string(shape[d]));
      t.shape[d] = shape[d];
      t.strides[d] = stride;
      stride = static_cast<int64_t>(static_cast<uint64_t>(stride) *
                                    static_cast<uint64_t>(shape[d]));
    }
    *tensor = t;
    return succeed();
  });
}

const char *nsa_dtype_name(int dtype) {
  return isValidDType(dtype) ? dtypeName(static_cast<DType>(dtype)) : nullptr;
}

int nsa_dtype_size(int dtype) {
  return isValidDType(dtype)
             ? static_cast<int>(dtypeSize(static_cast<DType>(dtype)))
             : 0;
}

const char *nsa_last_error(void) { return lastError.c_str(); }

int nsa_runtime_api_version(void) { return NSA_RUNTIME_API_VERSION; }

} // extern "C"
