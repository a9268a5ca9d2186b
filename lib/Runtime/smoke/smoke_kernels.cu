// Source of smoke_kernels_ptx.h. Regenerate with:
//   nvcc -ptx -arch=compute_75 smoke_kernels.cu -o k.ptx
//   python3 embed_ptx.py k.ptx > smoke_kernels_ptx.h
// Memref-descriptor kernels for the runtime smoke test (rank 2, f32).
#define DESC(p) float *p##_alloc, float *p, long long p##_off, long long p##_s0, long long p##_s1, long long p##_st0, long long p##_st1
extern "C" __global__ void nsa_smoke_scale(DESC(x), DESC(t), long long n, float s) {
  long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) t[t_off + i] = x[x_off + i] * s;
}
extern "C" __global__ void nsa_smoke_add(DESC(t), DESC(y), long long n) {
  extern __shared__ float stash[];
  long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  // Use the top of a large dynamic shared allocation (needs the opt-in).
  stash[16383 - threadIdx.x] = (i < n) ? t[t_off + i] : 0.0f;
  __syncthreads();
  bool ok = t_off == 0 && y_off == 0 && t_s0 == y_s0 && t_s1 == y_s1 &&
            t_st0 == t_s1 && t_st1 == 1 && y_st0 == y_s1 && y_st1 == 1 &&
            t_s0 * t_s1 == n && t_alloc == t && y_alloc == y;
  if (i < n) y[y_off + i] = stash[16383 - threadIdx.x] + (ok ? 1.0f : 1000.0f);
}
