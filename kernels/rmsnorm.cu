// Fused RMSNorm forward and backward over the last dimension of a contiguous [rows, cols] tensor.
//
//   r_i  = 1 / sqrt(mean_j x_ij^2 + eps)          (per row)
//   y_ij = x_ij * r_i * w_j
//   dx_ij = r_i * g_ij * w_j - x_ij * r_i^3 * (1/cols) * sum_k g_ik * w_k * x_ik
//   dw_j  = sum_i g_ij * x_ij * r_i
//
// Sums accumulate in float (double for f64 tensors). Compiled to PTX by build.rs (feature `cuda`)
// and launched from src/kernels/rmsnorm/cuda.rs; the CPU reference is src/kernels/rmsnorm/reference.rs.
#include "common.cuh"

// One block per row.
template <typename T, typename A>
__device__ void fwd(const T *x, const T *w, T *y, int cols, double eps) {
  __shared__ A scratch[WARP];
  const size_t row = blockIdx.x;
  const T *xr = x + row * cols;
  T *yr = y + row * cols;
  A ss = 0;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const A v = to_acc(xr[c]);
    ss += v * v;
  }
  ss = block_sum(ss, scratch);
  const A r = A(1) / sqrt(ss / A(cols) + A(eps));
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    yr[c] = from_acc<T, A>(to_acc(xr[c]) * r * to_acc(w[c]));
  }
}

// One block per row: dx.
template <typename T, typename A>
__device__ void bwd_dx(const T *x, const T *w, const T *g, T *dx, int cols, double eps) {
  __shared__ A scratch[WARP];
  const size_t row = blockIdx.x;
  const T *xr = x + row * cols;
  const T *gr = g + row * cols;
  T *dxr = dx + row * cols;
  A ss = 0, gwx = 0;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const A xv = to_acc(xr[c]);
    ss += xv * xv;
    gwx += to_acc(gr[c]) * to_acc(w[c]) * xv;
  }
  ss = block_sum(ss, scratch);
  gwx = block_sum(gwx, scratch);
  const A r = A(1) / sqrt(ss / A(cols) + A(eps));
  const A k = r * r * r * gwx / A(cols);
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    dxr[c] = from_acc<T, A>(r * to_acc(gr[c]) * to_acc(w[c]) - to_acc(xr[c]) * k);
  }
}

// One block per row: r_i into `rstd`.
template <typename T, typename A>
__device__ void rstd_rows(const T *x, A *rstd, int cols, double eps) {
  __shared__ A scratch[WARP];
  const size_t row = blockIdx.x;
  const T *xr = x + row * cols;
  A ss = 0;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const A v = to_acc(xr[c]);
    ss += v * v;
  }
  ss = block_sum(ss, scratch);
  if (threadIdx.x == 0) rstd[row] = A(1) / sqrt(ss / A(cols) + A(eps));
}

// grid (ceil(cols / blockDim.x), chunks): partial[chunk, col] = sum over the chunk's rows of
// g * x * r. Adjacent threads read adjacent columns (coalesced).
template <typename T, typename A>
__device__ void dw_partial(const T *x, const T *g, const A *rstd, A *partial, int rows, int cols,
                           int rows_per_chunk) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  // r0 + rows_per_chunk may exceed INT_MAX for the last chunk of a huge tensor: clamp in 64 bits.
  const int r0 = blockIdx.y * rows_per_chunk;
  const int r1 = (int)min((long long)rows, (long long)r0 + rows_per_chunk);
  A acc = 0;
  for (int r = r0; r < r1; ++r) {
    const size_t i = (size_t)r * cols + col;
    acc += to_acc(g[i]) * to_acc(x[i]) * rstd[r];
  }
  partial[(size_t)blockIdx.y * cols + col] = acc;
}

// dw[col] = sum over chunks of partial[chunk, col], in chunk order (deterministic).
template <typename T, typename A>
__device__ void dw_finalize(const A *partial, T *dw, int chunks, int cols) {
  const int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= cols) return;
  A acc = 0;
  for (int k = 0; k < chunks; ++k) acc += partial[(size_t)k * cols + col];
  dw[col] = from_acc<T, A>(acc);
}

#define RMSNORM_OPS(T, A, SUFFIX)                                                                \
  extern "C" __global__ void __launch_bounds__(MAX_THREADS)                                      \
      rmsnorm_fwd_##SUFFIX(const T *x, const T *w, T *y, int cols, double eps) {                 \
    fwd<T, A>(x, w, y, cols, eps);                                                               \
  }                                                                                              \
  extern "C" __global__ void __launch_bounds__(MAX_THREADS)                                      \
      rmsnorm_bwd_dx_##SUFFIX(const T *x, const T *w, const T *g, T *dx, int cols, double eps) { \
    bwd_dx<T, A>(x, w, g, dx, cols, eps);                                                        \
  }                                                                                              \
  extern "C" __global__ void __launch_bounds__(MAX_THREADS)                                      \
      rmsnorm_rstd_##SUFFIX(const T *x, A *rstd, int cols, double eps) {                         \
    rstd_rows<T, A>(x, rstd, cols, eps);                                                         \
  }                                                                                              \
  extern "C" __global__ void __launch_bounds__(MAX_THREADS)                                      \
      rmsnorm_dw_partial_##SUFFIX(const T *x, const T *g, const A *rstd, A *partial, int rows,   \
                                  int cols, int rows_per_chunk) {                                \
    dw_partial<T, A>(x, g, rstd, partial, rows, cols, rows_per_chunk);                           \
  }                                                                                              \
  extern "C" __global__ void __launch_bounds__(MAX_THREADS)                                      \
      rmsnorm_dw_finalize_##SUFFIX(const A *partial, T *dw, int chunks, int cols) {              \
    dw_finalize<T, A>(partial, dw, chunks, cols);                                                \
  }

RMSNORM_OPS(float, float, f32)
RMSNORM_OPS(double, double, f64)
RMSNORM_OPS(__half, float, f16)
RMSNORM_OPS(__nv_bfloat16, float, bf16)
