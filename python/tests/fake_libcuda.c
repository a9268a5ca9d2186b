/* A stand-in for the CUDA driver's libcuda.so.1, for testing the runtime's
 * Python binding (python/nsa_mlir/runtime.py) on machines without a GPU.
 * Every call the runtime makes succeeds; "device memory" is host memory that
 * nothing touches; cuLaunchKernel only records what it was asked to launch,
 * which the test reads back through fake_cuda_* below. Built by
 * python/tests/test_runtime_binding.py with
 *   cc -shared -fPIC -Wl,-soname,libcuda.so.1 -I<cuda>/include fake_libcuda.c
 */
#include <cuda.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int launches;
static unsigned last_grid[3], last_block[3];
static int modules_loaded, modules_unloaded;
static size_t allocated;

int fake_cuda_launches(void) { return launches; }
unsigned fake_cuda_last_grid(int i) { return last_grid[i]; }
unsigned fake_cuda_last_block(int i) { return last_block[i]; }
int fake_cuda_modules_loaded(void) { return modules_loaded; }
int fake_cuda_modules_unloaded(void) { return modules_unloaded; }
size_t fake_cuda_allocated(void) { return allocated; }

static int context_token, module_token, function_token, event_token;

CUresult cuInit(unsigned flags) { return CUDA_SUCCESS; }
CUresult cuCtxGetCurrent(CUcontext *ctx) {
  *ctx = NULL;
  return CUDA_SUCCESS;
}
CUresult cuCtxGetDevice(CUdevice *device) {
  *device = 0;
  return CUDA_SUCCESS;
}
CUresult cuCtxPushCurrent(CUcontext ctx) { return CUDA_SUCCESS; }
CUresult cuCtxPopCurrent(CUcontext *ctx) {
  if (ctx)
    *ctx = (CUcontext)&context_token;
  return CUDA_SUCCESS;
}
CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  *device = ordinal;
  return CUDA_SUCCESS;
}
CUresult cuDeviceGetAttribute(int *value, CUdevice_attribute attr, CUdevice dev) {
  switch (attr) {
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR:
    *value = 9;
    break;
  case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR:
    *value = 0;
    break;
  case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN:
    *value = 232448;
    break;
  default:
    *value = 0;
  }
  return CUDA_SUCCESS;
}
CUresult cuDeviceGetName(char *name, int len, CUdevice dev) {
  strncpy(name, "Fake GPU", (size_t)len);
  return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRetain(CUcontext *ctx, CUdevice dev) {
  *ctx = (CUcontext)&context_token;
  return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRelease(CUdevice dev) { return CUDA_SUCCESS; }
CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned *flags, int *active) {
  *flags = 0;
  *active = 0;
  return CUDA_SUCCESS;
}
CUresult cuEventCreate(CUevent *event, unsigned flags) {
  *event = (CUevent)&event_token;
  return CUDA_SUCCESS;
}
CUresult cuEventDestroy(CUevent event) { return CUDA_SUCCESS; }
CUresult cuEventRecord(CUevent event, CUstream stream) { return CUDA_SUCCESS; }
CUresult cuEventSynchronize(CUevent event) { return CUDA_SUCCESS; }
CUresult cuFuncGetAttribute(int *value, CUfunction_attribute attr, CUfunction f) {
  *value = 0;
  return CUDA_SUCCESS;
}
CUresult cuFuncSetAttribute(CUfunction f, CUfunction_attribute attr, int value) {
  return CUDA_SUCCESS;
}
CUresult cuGetErrorName(CUresult error, const char **str) {
  *str = "CUDA_ERROR_FAKE";
  return CUDA_SUCCESS;
}
CUresult cuGetErrorString(CUresult error, const char **str) {
  *str = "an error of the fake driver";
  return CUDA_SUCCESS;
}
CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned shared,
                        CUstream stream, void **params, void **extra) {
  ++launches;
  last_grid[0] = gx, last_grid[1] = gy, last_grid[2] = gz;
  last_block[0] = bx, last_block[1] = by, last_block[2] = bz;
  return CUDA_SUCCESS;
}
CUresult cuMemAlloc(CUdeviceptr *ptr, size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 256, bytes ? bytes : 1) != 0)
    return CUDA_ERROR_OUT_OF_MEMORY;
  allocated += bytes;
  *ptr = (CUdeviceptr)(uintptr_t)p;
  return CUDA_SUCCESS;
}
CUresult cuMemFree(CUdeviceptr ptr) {
  free((void *)(uintptr_t)ptr);
  return CUDA_SUCCESS;
}
CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
  *f = (CUfunction)&function_token;
  return CUDA_SUCCESS;
}
CUresult cuModuleLoadDataEx(CUmodule *m, const void *image, unsigned n,
                            CUjit_option *options, void **values) {
  ++modules_loaded;
  *m = (CUmodule)&module_token;
  return CUDA_SUCCESS;
}
CUresult cuModuleUnload(CUmodule m) {
  ++modules_unloaded;
  return CUDA_SUCCESS;
}
CUresult cuStreamSynchronize(CUstream stream) { return CUDA_SUCCESS; }
CUresult cuStreamWaitEvent(CUstream stream, CUevent event, unsigned flags) {
  return CUDA_SUCCESS;
}
