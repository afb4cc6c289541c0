// Rotary position embedding ("rotate half") of a contiguous x: [B, H, T, D], D even, with
// per-batch-row tables cos, sin: [B, T, D/2] in the accumulator type (float; double for f64).
//
//   half = D / 2, row = (b * H + h) * T + t, k = (b * T + t) * half + i   (i < half)
//   forward:  y[row, i]        = x[row, i] * cos[k] - x[row, half + i] * sin[k]
//             y[row, half + i] = x[row, half + i] * cos[k] + x[row, i] * sin[k]
//   backward: the inverse rotation (the same with -sin), applied to the output gradient.
//
// Threads stride over the pairs of a row; adjacent threads touch adjacent elements of both
// halves (coalesced). Math in float (double for f64). Compiled to PTX by build.rs (feature `cuda`) and
// launched from src/kernels/rope/cuda.rs; the CPU reference is src/kernels/rope/reference.rs.
#include "common.cuh"

// `rows` = B * H * T rows of D = 2 * half elements; `heads` = H, `seq` = T. Block (bx, by): by
// rows per block, threads striding over the row's `half` pairs. INVERSE: rotate by -angle (the
// backward pass).
template <typename T, typename A, bool INVERSE>
__device__ void rotate(const T *x, const A *cos_t, const A *sin_t, T *y, int rows, int heads,
                       int seq, int half) {
  // Unsigned: blockIdx.x * blockDim.y + threadIdx.y of the last block may exceed INT_MAX when
  // rows is close to it (never 2^32: the grid covers at most rows + blockDim.y - 1 rows), and as
  // an int it would wrap to a negative row that passes the bound check.
  const unsigned row = blockIdx.x * blockDim.y + threadIdx.y;
  if (row >= (unsigned)rows) return;
  const unsigned t = row % (unsigned)seq;
  const unsigned b = row / ((unsigned)seq * (unsigned)heads);
  const A *cr = cos_t + ((size_t)b * seq + t) * half;
  const A *sr = sin_t + ((size_t)b * seq + t) * half;
  const T *xr = x + (size_t)row * (2 * (size_t)half);
  T *yr = y + (size_t)row * (2 * (size_t)half);
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const A c = cr[i];
    const A s = INVERSE ? -sr[i] : sr[i];
    const A x1 = to_acc(xr[i]);
    const A x2 = to_acc(xr[half + i]);
    yr[i] = from_acc<T, A>(x1 * c - x2 * s);
    yr[half + i] = from_acc<T, A>(x2 * c + x1 * s);
  }
}

#define ROPE_OPS(T, A, SUFFIX)                                                                  \
  extern "C" __global__ void __launch_bounds__(MAX_THREADS)                                     \
      rope_fwd_##SUFFIX(const T *x, const A *cos_t, const A *sin_t, T *y, int rows, int heads,  \
                        int seq, int half) {                                                    \
    rotate<T, A, false>(x, cos_t, sin_t, y, rows, heads, seq, half);                            \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(MAX_THREADS)                                     \
      rope_bwd_##SUFFIX(const T *g, const A *cos_t, const A *sin_t, T *dx, int rows, int heads, \
                        int seq, int half) {                                                    \
    rotate<T, A, true>(g, cos_t, sin_t, dx, rows, heads, seq, half);                            \
  }

ROPE_OPS(float, float, f32)
ROPE_OPS(double, double, f64)
ROPE_OPS(__half, float, f16)
ROPE_OPS(__nv_bfloat16, float, bf16)
