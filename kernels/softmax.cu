// Attention softmax with scale and additive mask over the last dimension, with backward.
//
// scores: [rows, S] contiguous, rows = B * R * T (R = every dim between the batch and the query
// axis, e.g. heads); mask: [B, T, S] in the accumulator type, shared by the R rows of a batch
// entry. Row r uses mask row (r / (R * T)) * T + r % T.
//
//   z_j  = scores_j * scale + mask_j
//   p_j  = exp(z_j - max z) / sum_k exp(z_k - max z)      (p = 0 for a row with every z = -inf)
//   ds_j = scale * p_j * (g_j - sum_k g_k * p_k)          (backward, from the saved output p)
//
// One block per row, threads striding over it (any S). The forward is one pass of a running
// (max, sum) per thread, merged across the block, then one pass writing p. Sums and max in float
// (double for f64). Compiled to PTX by build.rs (feature `cuda`) and launched from
// src/kernels/masked_softmax/cuda.rs; the CPU reference is src/kernels/masked_softmax/reference.rs.
#include "common.cuh"

// Merges the running (max m, sum l of exp(z - m)) pair (m2, l2) into (m, l).
template <typename A> __device__ __forceinline__ void merge(A &m, A &l, A m2, A l2) {
  const A mx = m2 > m ? m2 : m;
  l = l * acc_exp(m - mx) + l2 * acc_exp(m2 - mx);
  m = mx;
}

// The block-wide (max, sum) of every thread's running pair; every thread gets the result.
template <typename A> __device__ __forceinline__ void block_merge(A &m, A &l, A *sm, A *sl) {
  const int lane = threadIdx.x % WARP;
  const int warp = threadIdx.x / WARP;
  const int n_warps = (blockDim.x + WARP - 1) / WARP;
  for (int off = WARP / 2; off > 0; off /= 2) {
    merge(m, l, __shfl_xor_sync(0xffffffffu, m, off), __shfl_xor_sync(0xffffffffu, l, off));
  }
  __syncthreads();
  if (lane == 0) {
    sm[warp] = m;
    sl[warp] = l;
  }
  __syncthreads();
  m = lane < n_warps ? sm[lane] : lowest<A>();
  l = lane < n_warps ? sl[lane] : A(0);
  for (int off = WARP / 2; off > 0; off /= 2) {
    merge(m, l, __shfl_xor_sync(0xffffffffu, m, off), __shfl_xor_sync(0xffffffffu, l, off));
  }
}

// One block per row.
template <typename T, typename A>
__device__ void fwd(const T *scores, const A *mask, T *p, int cols, int seq, int rows_per_b,
                    double scale) {
  __shared__ A sm[WARP];
  __shared__ A sl[WARP];
  const int row = blockIdx.x;
  const int mrow = (row / rows_per_b) * seq + row % seq;
  const T *sr = scores + (size_t)row * cols;
  const A *mr = mask + (size_t)mrow * cols;
  T *pr = p + (size_t)row * cols;
  const A sc = A(scale);
  A m = lowest<A>(), l = 0;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const A z = to_acc(sr[c]) * sc + mr[c];
    if (z > m) {
      l = l * acc_exp(m - z) + A(1);
      m = z;
    } else {
      l += acc_exp(z - m);
    }
  }
  block_merge(m, l, sm, sl);
  const A inv = l > A(0) ? A(1) / l : A(0);
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const A z = to_acc(sr[c]) * sc + mr[c];
    pr[c] = from_acc<T, A>(acc_exp(z - m) * inv);
  }
}

// One block per row: ds from the saved output p and the output gradient g.
template <typename T, typename A>
__device__ void bwd(const T *p, const T *g, T *ds, int cols, double scale) {
  __shared__ A scratch[WARP];
  const int row = blockIdx.x;
  const T *pr = p + (size_t)row * cols;
  const T *gr = g + (size_t)row * cols;
  T *dr = ds + (size_t)row * cols;
  A dot = 0;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) dot += to_acc(gr[c]) * to_acc(pr[c]);
  dot = block_sum(dot, scratch);
  const A sc = A(scale);
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    dr[c] = from_acc<T, A>(sc * to_acc(pr[c]) * (to_acc(gr[c]) - dot));
  }
}

#define SOFTMAX_OPS(T, A, SUFFIX)                                                               \
  extern "C" __global__ void __launch_bounds__(MAX_THREADS)                                     \
      masked_softmax_fwd_##SUFFIX(const T *scores, const A *mask, T *p, int cols, int seq,      \
                                  int rows_per_b, double scale) {                               \
    fwd<T, A>(scores, mask, p, cols, seq, rows_per_b, scale);                                   \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(MAX_THREADS)                                     \
      masked_softmax_bwd_##SUFFIX(const T *p, const T *g, T *ds, int cols, double scale) {      \
    bwd<T, A>(p, g, ds, cols, scale);                                                           \
  }

SOFTMAX_OPS(float, float, f32)
SOFTMAX_OPS(double, double, f64)
SOFTMAX_OPS(__half, float, f16)
SOFTMAX_OPS(__nv_bfloat16, float, bf16)
