/*===- nsa-runtime-smoke.c - the runtime end to end on a GPU --------------===*
 *
 * A C program (so it also checks that nsa_runtime.h is plain C) that writes
 * a small bundle with hand-made kernels (smoke_kernels.cu, embedded as PTX)
 * into a temporary directory and runs it through the C API:
 *
 *   tmp = x * 2.5        (scratch buffer; index and f32 parameters)
 *   (a launch with a zero grid extent, which must be skipped)
 *   y   = tmp + 1        (64 KiB of dynamic shared memory: needs the
 *                         cuFuncSetAttribute opt-in; the kernel also checks
 *                         the memref descriptors it receives)
 *
 * with a broken cubin (so the PTX fallback is used), for several sizes
 * (scratch growth and reuse), with the error paths, and, if ptxas is on the
 * PATH, with a real cubin for the device. Needs a GPU; prints one line per
 * check and exits non-zero on any failure.
 *
 *===----------------------------------------------------------------------===*/

#include "nsa/Runtime/nsa_runtime.h"

#include <cuda.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smoke_kernels_ptx.h"

static int failures = 0;
static int checks = 0;

static void expect(int ok, const char *what) {
  ++checks;
  printf("%s: %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) {
    ++failures;
    printf("      last error: %s\n", nsa_last_error());
  }
}

static int writeFile(const char *dir, const char *name, const char *text,
                     size_t size) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f)
    return 0;
  size_t n = fwrite(text, 1, size, f);
  fclose(f);
  return n == size;
}

static const char *kManifest =
    "{\n"
    "  \"format\": \"nsa-bundle\", \"version\": 1, \"function\": \"smoke\",\n"
    "  \"chip\": \"compute_75\",\n"
    "  \"cubin\": \"kernels.cubin\", \"ptx\": \"kernels.ptx\",\n"
    "  \"symbols\": [\"R\"],\n"
    "  \"inputs\": [{\"name\": \"x\", \"dtype\": \"f32\", \"shape\": [\"R\", 33]}],\n"
    "  \"outputs\": [{\"name\": \"y\", \"dtype\": \"f32\", \"shape\": [\"R\", 33]}],\n"
    "  \"buffers\": [{\"name\": \"tmp\", \"dtype\": \"f32\", \"shape\": [\"R\", \"33\"]}],\n"
    "  \"launches\": [\n"
    "    {\"kernel\": \"nsa_smoke_scale\", \"grid\": [\"(R * 33) ceildiv 128\", 1, 1],\n"
    "     \"block\": [128, 1, 1], \"shared_memory_bytes\": 0,\n"
    "     \"args\": [{\"kind\": \"memref\", \"tensor\": \"x\"},\n"
    "              {\"kind\": \"memref\", \"tensor\": \"tmp\"},\n"
    "              {\"kind\": \"index\", \"value\": \"R * 33\"},\n"
    "              {\"kind\": \"f32\", \"value\": 2.5}]},\n"
    "    {\"kernel\": \"nsa_smoke_scale\", \"grid\": [\"R - R\", 1, 1],\n"
    "     \"block\": [128, 1, 1], \"args\": []},\n"
    "    {\"kernel\": \"nsa_smoke_add\", \"grid\": [\"(R * 33) ceildiv 128\", 1, 1],\n"
    "     \"block\": [128, 1, 1], \"shared_memory_bytes\": 65536,\n"
    "     \"args\": [{\"kind\": \"memref\", \"tensor\": \"tmp\"},\n"
    "              {\"kind\": \"memref\", \"tensor\": \"y\"},\n"
    "              {\"kind\": \"index\", \"value\": \"R * 33\"}]}\n"
    "  ]\n"
    "}\n";

static int cuOk(CUresult r, const char *what) {
  if (r == CUDA_SUCCESS)
    return 1;
  const char *name = NULL;
  cuGetErrorName(r, &name);
  printf("FAIL: %s: %s\n", what, name ? name : "?");
  ++failures;
  return 0;
}

/* Runs the bundle for R rows on `stream` and checks y == 2.5 x + 1. */
static void runRows(nsa_bundle *bundle, int64_t rows, CUstream stream) {
  char what[256];
  int64_t shape[2] = {rows, 33};
  size_t n = (size_t)(rows * 33);
  size_t bytes = n * sizeof(float);
  float *host = (float *)malloc(bytes ? bytes : 1);
  float *back = (float *)malloc(bytes ? bytes : 1);
  CUdeviceptr x = 0, y = 0;
  size_t i;
  nsa_tensor in, out, shapes;
  int status, good = 1;

  for (i = 0; i < n; ++i)
    host[i] = (float)i * 0.25f - 7.0f;
  if (bytes) {
    if (!cuOk(cuMemAlloc(&x, bytes), "cuMemAlloc") ||
        !cuOk(cuMemAlloc(&y, bytes), "cuMemAlloc") ||
        !cuOk(cuMemcpyHtoD(x, host, bytes), "cuMemcpyHtoD") ||
        !cuOk(cuMemsetD8(y, 0xff, bytes), "cuMemsetD8"))
      goto done;
  }
  nsa_tensor_init(&in, (void *)x, NSA_DTYPE_F32, 2, shape);
  nsa_tensor_init(&out, (void *)y, NSA_DTYPE_F32, 2, shape);

  status = nsa_bundle_output_shapes(bundle, &in, 1, &shapes, 1);
  snprintf(what, sizeof(what), "R = %lld: output shape", (long long)rows);
  expect(status == NSA_OK && shapes.rank == 2 && shapes.shape[0] == rows &&
             shapes.shape[1] == 33 && shapes.strides[0] == 33 &&
             shapes.strides[1] == 1 && shapes.dtype == NSA_DTYPE_F32,
         what);

  status = nsa_bundle_run(bundle, &in, 1, &out, 1, (void *)stream);
  snprintf(what, sizeof(what), "R = %lld: run", (long long)rows);
  expect(status == NSA_OK, what);
  if (!cuOk(cuStreamSynchronize(stream), "cuStreamSynchronize after run"))
    goto done;
  if (bytes && !cuOk(cuMemcpyDtoH(back, y, bytes), "cuMemcpyDtoH"))
    goto done;
  for (i = 0; i < n; ++i) {
    volatile float scaled = host[i] * 2.5f;
    volatile float expected = scaled + 1.0f;
    if (back[i] != expected) {
      printf("      y[%zu] = %g, expected %g\n", i, back[i], expected);
      good = 0;
      break;
    }
  }
  snprintf(what, sizeof(what), "R = %lld: y == 2.5 x + 1 (descriptors ok)",
           (long long)rows);
  expect(good, what);

done:
  if (x)
    cuMemFree(x);
  if (y)
    cuMemFree(y);
  free(host);
  free(back);
}

static void errorPaths(nsa_bundle *bundle, CUstream stream) {
  int64_t shape[2] = {4, 33}, wrong[2] = {4, 34};
  CUdeviceptr x = 0, y = 0;
  nsa_tensor in, out, bad;
  int status;
  if (!cuOk(cuMemAlloc(&x, 4 * 33 * 4), "cuMemAlloc") ||
      !cuOk(cuMemAlloc(&y, 4 * 33 * 4), "cuMemAlloc"))
    return;
  nsa_tensor_init(&in, (void *)x, NSA_DTYPE_F32, 2, shape);
  nsa_tensor_init(&out, (void *)y, NSA_DTYPE_F32, 2, shape);

  nsa_tensor_init(&bad, (void *)y, NSA_DTYPE_F32, 2, wrong);
  status = nsa_bundle_run(bundle, &in, 1, &bad, 1, stream);
  expect(status == NSA_ERROR_TENSOR &&
             strstr(nsa_last_error(), "dim 1 is 34 but the bundle expects 33"),
         "wrong output extent is refused");

  bad = in;
  bad.dtype = NSA_DTYPE_BF16;
  status = nsa_bundle_run(bundle, &bad, 1, &out, 1, stream);
  expect(status == NSA_ERROR_TENSOR && strstr(nsa_last_error(), "dtype"),
         "wrong dtype is refused");

  bad = in;
  bad.data = NULL;
  status = nsa_bundle_run(bundle, &bad, 1, &out, 1, stream);
  expect(status == NSA_ERROR_TENSOR && strstr(nsa_last_error(), "null"),
         "null input is refused");

  bad = in;
  bad.strides[0] = 1;
  bad.strides[1] = 4;
  status = nsa_bundle_run(bundle, &bad, 1, &out, 1, stream);
  expect(status == NSA_ERROR_TENSOR && strstr(nsa_last_error(), "contiguous"),
         "transposed input is refused");

  status = nsa_bundle_run(bundle, &in, 1, &in, 1, stream);
  expect(status == NSA_ERROR_TENSOR && strstr(nsa_last_error(), "overlaps"),
         "output aliasing the input is refused");

  status = nsa_bundle_run(bundle, &in, 0, &out, 1, stream);
  expect(status == NSA_ERROR_TENSOR && strstr(nsa_last_error(), "expected 1 input"),
         "wrong input count is refused");

  status = nsa_bundle_run(NULL, &in, 1, &out, 1, stream);
  expect(status == NSA_ERROR_INVALID_ARGUMENT, "NULL bundle is refused");

  status = nsa_bundle_run(bundle, NULL, 1, &out, 1, stream);
  expect(status == NSA_ERROR_INVALID_ARGUMENT, "NULL inputs are refused");

  expect(nsa_bundle_input_name(bundle, 5) == NULL,
         "out-of-range input index gives NULL");

  cuStreamSynchronize(stream);
  cuMemFree(x);
  cuMemFree(y);
}

int main(int argc, char **argv) {
  char dir[] = "/tmp/nsa-runtime-smoke-XXXXXX";
  nsa_bundle *bundle = NULL;
  CUdevice device;
  CUcontext context;
  CUstream stream;
  int status, major = 0, minor = 0;
  int64_t scratch;
  (void)argc;
  (void)argv;

  printf("nsa runtime API version %d\n", nsa_runtime_api_version());
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  if (!writeFile(dir, "manifest.json", kManifest, strlen(kManifest)) ||
      !writeFile(dir, "kernels.ptx", nsa_smoke_ptx, strlen(nsa_smoke_ptx)) ||
      !writeFile(dir, "kernels.cubin", "not a cubin", 11)) {
    printf("FAIL: cannot write the bundle into %s\n", dir);
    return 1;
  }
  printf("bundle: %s\n", dir);

  status = nsa_bundle_load(dir, &bundle);
  expect(status == NSA_OK, "load (broken cubin: falls back to the PTX)");
  if (status != NSA_OK)
    return 1;
  expect(nsa_bundle_num_inputs(bundle) == 1 &&
             nsa_bundle_num_outputs(bundle) == 1 &&
             strcmp(nsa_bundle_input_name(bundle, 0), "x") == 0 &&
             strcmp(nsa_bundle_output_name(bundle, 0), "y") == 0 &&
             nsa_bundle_input_dtype(bundle, 0) == NSA_DTYPE_F32 &&
             nsa_bundle_output_rank(bundle, 0) == 2 &&
             strcmp(nsa_bundle_function(bundle), "smoke") == 0,
         "introspection");

  /* No context was current at load: the bundle took device 0's primary
   * context. Use it for our own allocations too. */
  if (!cuOk(cuDeviceGet(&device, 0), "cuDeviceGet") ||
      !cuOk(cuDevicePrimaryCtxRetain(&context, device), "retain") ||
      !cuOk(cuCtxSetCurrent(context), "cuCtxSetCurrent") ||
      !cuOk(cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate"))
    return 1;

  runRows(bundle, 5, stream);
  scratch = nsa_bundle_scratch_bytes(bundle);
  expect(scratch >= 5 * 33 * 4 && scratch % 256 == 0, "scratch for R = 5");
  runRows(bundle, 1000, stream);
  expect(nsa_bundle_scratch_bytes(bundle) >= 1000 * 33 * 4,
         "scratch grows for R = 1000");
  scratch = nsa_bundle_scratch_bytes(bundle);
  runRows(bundle, 3, stream);
  expect(nsa_bundle_scratch_bytes(bundle) == scratch,
         "scratch is reused for R = 3");
  runRows(bundle, 0, stream);
  runRows(bundle, 77, NULL); /* another stream: the legacy default one */
  errorPaths(bundle, stream);
  nsa_bundle_free(bundle);
  bundle = NULL;

  /* Both images broken: the error names both. */
  writeFile(dir, "kernels.ptx", "not ptx", 7);
  status = nsa_bundle_load(dir, &bundle);
  expect(status == NSA_ERROR_CUDA && bundle == NULL &&
             strstr(nsa_last_error(), "cubin") &&
             strstr(nsa_last_error(), "PTX"),
         "broken cubin and PTX: error names both");
  printf("      (%s)\n", nsa_last_error());

  status = nsa_bundle_load("/nonexistent/bundle.nsab", &bundle);
  expect(status == NSA_ERROR_BUNDLE && bundle == NULL,
         "missing bundle directory");

  /* A real cubin, if ptxas can make one for this device. */
  writeFile(dir, "kernels.ptx", nsa_smoke_ptx, strlen(nsa_smoke_ptx));
  cuDeviceGetAttribute(&major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                       device);
  cuDeviceGetAttribute(&minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                       device);
  {
    char command[8192];
    snprintf(command, sizeof(command),
             "ptxas -arch=sm_%d%d %s/kernels.ptx -o %s/kernels.cubin "
             ">/dev/null 2>&1",
             major, minor, dir, dir);
    if (system(command) == 0) {
      writeFile(dir, "kernels.ptx", "not ptx", 7); /* must use the cubin */
      status = nsa_bundle_load(dir, &bundle);
      expect(status == NSA_OK, "load a real cubin (PTX broken)");
      if (status == NSA_OK) {
        runRows(bundle, 9, stream);
        nsa_bundle_free(bundle);
      }
    } else {
      printf("skip: ptxas not available; the cubin path is not tested\n");
    }
  }

  cuStreamDestroy(stream);
  cuDevicePrimaryCtxRelease(device);
  printf("nsa-runtime-smoke: %d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
