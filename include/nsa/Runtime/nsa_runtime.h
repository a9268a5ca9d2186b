/*===- nsa_runtime.h - load and run NSA kernel bundles (C API) ------------===*
 *
 * A plain C API over the runtime (include/nsa/Runtime/Runtime.h), for C
 * programs and Python's ctypes. See docs/runtime.md.
 *
 * Errors: every function that can fail returns an int status (NSA_OK = 0,
 * else an nsa_status code) and leaves a message for nsa_last_error(). The
 * message is per thread and stays until the next call on that thread that
 * returns a status. No function throws or aborts on bad input: null
 * pointers, out-of-range indices, bad shapes and CUDA failures all come
 * back as statuses.
 *
 *===----------------------------------------------------------------------===*/

#ifndef NSA_RUNTIME_C_H
#define NSA_RUNTIME_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this API (bump on an incompatible change). */
#define NSA_RUNTIME_API_VERSION 1
/* The bundle manifest version this runtime reads. */
#define NSA_BUNDLE_FORMAT_VERSION 1
/* The largest tensor rank. */
#define NSA_MAX_RANK 8

typedef enum nsa_status {
  NSA_OK = 0,
  NSA_ERROR_INVALID_ARGUMENT = 1, /* a bad call: null pointer, bad index */
  NSA_ERROR_BUNDLE = 2,           /* bundle directory or manifest unusable */
  NSA_ERROR_TENSOR = 3,           /* tensors do not match the manifest */
  NSA_ERROR_CUDA = 4,             /* a CUDA driver call failed */
  NSA_ERROR_INTERNAL = 5          /* out of memory, or a bug */
} nsa_status;

typedef enum nsa_dtype {
  NSA_DTYPE_F32 = 0,
  NSA_DTYPE_F16 = 1,
  NSA_DTYPE_BF16 = 2,
  NSA_DTYPE_I32 = 3,
  NSA_DTYPE_I64 = 4
} nsa_dtype;

/* A tensor in device memory. shape and strides are in elements; strides
 * must be row-major (contiguous) except that a dimension of extent 1 may
 * have any stride, and a tensor with no elements may have any pointer and
 * strides. nsa_tensor_init fills in contiguous strides.
 * Layout (x86-64/aarch64): 144 bytes: data at 0, dtype at 8, rank at 12,
 * shape at 16, strides at 80. */
typedef struct nsa_tensor {
  void *data;                    /* device pointer (CUdeviceptr) */
  int dtype;                     /* an nsa_dtype */
  int rank;                      /* 0 .. NSA_MAX_RANK */
  int64_t shape[NSA_MAX_RANK];   /* the first `rank` entries are used */
  int64_t strides[NSA_MAX_RANK]; /* the first `rank` entries are used */
} nsa_tensor;

typedef struct nsa_bundle nsa_bundle;

/* Flags for nsa_bundle_load_flags. */
#define NSA_LOAD_PREFER_PTX 1u /* JIT kernels.ptx even if the cubin loads */
#define NSA_LOAD_SYNC_EACH_LAUNCH                                              \
  2u /* synchronize after every launch (debug) */

/* Reads and validates <dir>/manifest.json and loads the kernels (the cubin,
 * or the PTX if the cubin does not load) into the calling thread's current
 * CUDA context, or the primary context of device 0 if none is current.
 * On success *out is a new bundle (free it with nsa_bundle_free); on failure
 * *out is NULL. */
int nsa_bundle_load(const char *dir, nsa_bundle **out);
int nsa_bundle_load_flags(const char *dir, unsigned flags, nsa_bundle **out);

/* Waits for the bundle's last run, frees its scratch memory and module.
 * NULL is allowed. */
void nsa_bundle_free(nsa_bundle *bundle);

/* The manifest's tensors. Counts return -1, names and strings NULL, dtypes
 * and ranks -1 on a NULL bundle or an index out of range (and set
 * nsa_last_error; a success leaves it alone). Strings live as long as the
 * bundle. */
int nsa_bundle_num_inputs(const nsa_bundle *bundle);
int nsa_bundle_num_outputs(const nsa_bundle *bundle);
const char *nsa_bundle_input_name(const nsa_bundle *bundle, int index);
const char *nsa_bundle_output_name(const nsa_bundle *bundle, int index);
int nsa_bundle_input_dtype(const nsa_bundle *bundle, int index);
int nsa_bundle_output_dtype(const nsa_bundle *bundle, int index);
int nsa_bundle_input_rank(const nsa_bundle *bundle, int index);
int nsa_bundle_output_rank(const nsa_bundle *bundle, int index);
/* The manifest's "function" and "chip". */
const char *nsa_bundle_function(const nsa_bundle *bundle);
const char *nsa_bundle_chip(const nsa_bundle *bundle);
/* Bytes of scratch device memory the bundle holds now (-1 on NULL). */
int64_t nsa_bundle_scratch_bytes(const nsa_bundle *bundle);

/* The outputs for inputs of these shapes: checks the inputs' dtype, rank
 * and extents (not their data or strides) and fills outputs[0..n_outputs)
 * with dtype, rank, shape and contiguous strides, data = NULL. n_outputs
 * must be nsa_bundle_num_outputs. No CUDA call. */
int nsa_bundle_output_shapes(const nsa_bundle *bundle, const nsa_tensor *inputs,
                             int n_inputs, nsa_tensor *outputs, int n_outputs);

/* Checks every input and output against the manifest (count, dtype, rank,
 * each extent, contiguity, null or misaligned pointers, outputs overlapping
 * other tensors), then queues the bundle's kernels in order on `stream` (a
 * CUstream / cudaStream_t; NULL is the legacy default stream). Returns once
 * the launches are queued; kernel faults surface at the next synchronizing
 * call (or here with NSA_LOAD_SYNC_EACH_LAUNCH / NSA_RUNTIME_SYNC=1). */
int nsa_bundle_run(nsa_bundle *bundle, const nsa_tensor *inputs, int n_inputs,
                   const nsa_tensor *outputs, int n_outputs, void *stream);

/* Fills *tensor with data, dtype, rank, shape and row-major strides. */
int nsa_tensor_init(nsa_tensor *tensor, void *data, int dtype, int rank,
                    const int64_t *shape);

/* "f32", "f16", "bf16", "i32", "i64", or NULL. */
const char *nsa_dtype_name(int dtype);
/* Bytes per element, or 0. */
int nsa_dtype_size(int dtype);

/* The message of this thread's last failed call ("" after a success).
 * Never NULL. */
const char *nsa_last_error(void);

/* NSA_RUNTIME_API_VERSION of the library. */
int nsa_runtime_api_version(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NSA_RUNTIME_C_H */
