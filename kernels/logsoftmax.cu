// Selective log-softmax of a contiguous [rows, vocab] logits tensor with temperature T, with
// backward. With z_j = x_j / T per row and t the row's target token:
//
//   lse = log sum_j exp(z_j)                     (kept by the forward for the backward)
//   lp  = z_t - lse
//   H   = -sum_j p_j log p_j,  p_j = exp(z_j - lse)   (optional metric, no gradient)
//   dx_j = g / T * (1[j = t] - p_j)                (g: the gradient of lp)
//
// Forward: one block per row, ONE pass over the row. Each thread keeps an online state
// (m, s, u) over its strided elements: m the running max of z, s = sum exp(z - m) and
// u = sum exp(z - m) * (z - m); a larger z rescales s and u to the new max (one exp per element
// either way). The states are merged across the warp with shuffles and across warps through
// shared memory. A two-pass form (max, then sum) reads every logit twice; at a 152k vocabulary a
// row is 300-600 KB, so the one-pass form halves the global reads for the same number of exps.
// From the merged state: lse = m + log s, lp = (z_t - m) - log s (no cancellation of a large m),
// H = log s - u / s (two non-negative terms: s >= 1 and u <= 0).
//
// Outputs per row (accumulator type A: float, double for f64 logits): out[row * k + 0] = lp,
// out[row * k + 1] = lse and, when k == 3, out[row * k + 2] = H. A target outside [0, vocab)
// gives lp = NaN (the Rust op rejects such targets before launching). Logits of -inf contribute
// nothing (p = 0, and 0 log 0 = 0 in H).
//
// Backward: one block per row, threads striding over the row; reads gl[row * 2] = g and
// gl[row * 2 + 1] = lse, writes dx in the logits' type. Compiled to PTX by build.rs (feature
// `cuda`), launched from src/kernels/selected_logsoftmax/cuda.rs; the CPU reference is
// src/kernels/selected_logsoftmax/reference.rs.
#include "common.cuh"

template <typename A> __device__ __forceinline__ A neg_inf() { return -(A)INFINITY; }
template <typename A> __device__ __forceinline__ A quiet_nan() { return (A)NAN; }

// Online softmax state of a set of scaled logits z, relative to their max m.
template <typename A> struct State {
  A m;  // max z (-inf for an empty set)
  A s;  // sum exp(z - m)
  A u;  // sum exp(z - m) * (z - m)
};

// Adds one scaled logit.
template <typename A> __device__ __forceinline__ void push(State<A> &st, A z) {
  if (z == neg_inf<A>()) return;  // p = 0: contributes to neither sum
  if (z > st.m) {
    // Rescale to the new max: exp(m - z) * (u + (m - z) s) (also right for an empty state, where
    // m = -inf gives a = 0 and s = u = 0; the product is computed only when s > 0).
    const A d = st.m - z;
    const A a = acc_exp(d);
    st.u = st.s > A(0) ? a * (st.u + d * st.s) : A(0);
    st.s = st.s > A(0) ? a * st.s : A(0);
    st.s += A(1);
    st.m = z;
  } else {
    // Also the NaN path: a NaN z makes s NaN, which propagates to lp, lse and H.
    const A d = z - st.m;
    const A e = acc_exp(d);
    st.s += e;
    st.u += e * d;
  }
}

// Merges `o` into `st`.
template <typename A> __device__ __forceinline__ void merge(State<A> &st, const State<A> &o) {
  if (o.m == neg_inf<A>()) return;
  if (st.m == neg_inf<A>()) {
    st = o;
    return;
  }
  const A m = st.m > o.m ? st.m : o.m;
  const A d1 = st.m - m, d2 = o.m - m;
  const A a1 = acc_exp(d1), a2 = acc_exp(d2);
  st.u = a1 * (st.u + d1 * st.s) + a2 * (o.u + d2 * o.s);
  st.s = a1 * st.s + a2 * o.s;
  st.m = m;
}

template <typename A> __device__ __forceinline__ State<A> warp_merge(State<A> st) {
  for (int off = WARP / 2; off > 0; off /= 2) {
    State<A> o;
    o.m = __shfl_xor_sync(0xffffffffu, st.m, off);
    o.s = __shfl_xor_sync(0xffffffffu, st.s, off);
    o.u = __shfl_xor_sync(0xffffffffu, st.u, off);
    merge(st, o);
  }
  return st;
}

// One block per row: out[row * k ..] = (lp, lse[, H]).
template <typename T, typename A>
__device__ void fwd(const T *x, const uint32_t *targets, A *out, int vocab, int k, double inv_t) {
  __shared__ A sm[WARP], ss[WARP], su[WARP];
  const size_t row = blockIdx.x;
  const T *xr = x + row * (size_t)vocab;
  const A it = A(inv_t);
  State<A> st;
  st.m = neg_inf<A>();
  st.s = A(0);
  st.u = A(0);
  for (int c = threadIdx.x; c < vocab; c += blockDim.x) push(st, to_acc(xr[c]) * it);
  st = warp_merge(st);
  const int lane = threadIdx.x % WARP;
  const int warp = threadIdx.x / WARP;
  const int n_warps = (blockDim.x + WARP - 1) / WARP;
  if (lane == 0) {
    sm[warp] = st.m;
    ss[warp] = st.s;
    su[warp] = st.u;
  }
  __syncthreads();
  if (warp != 0) return;
  if (lane < n_warps) {
    st.m = sm[lane];
    st.s = ss[lane];
    st.u = su[lane];
  } else {
    st.m = neg_inf<A>();
    st.s = A(0);
    st.u = A(0);
  }
  st = warp_merge(st);
  if (lane != 0) return;
  const A log_s = acc_log(st.s);
  const uint32_t t = targets[row];
  const A lp = t < (uint32_t)vocab ? (to_acc(xr[t]) * it - st.m) - log_s : quiet_nan<A>();
  A *o = out + row * (size_t)k;
  o[0] = lp;
  o[1] = st.m + log_s;
  if (k > 2) o[2] = log_s - st.u / st.s;
}

// One block per row: dx_j = g / T * (1[j = t] - exp(x_j / T - lse)).
template <typename T, typename A>
__device__ void bwd(const T *x, const uint32_t *targets, const A *gl, T *dx, int vocab,
                    double inv_t) {
  const size_t row = blockIdx.x;
  const T *xr = x + row * (size_t)vocab;
  T *dxr = dx + row * (size_t)vocab;
  const A it = A(inv_t);
  const A gi = gl[2 * row] * it;
  const A lse = gl[2 * row + 1];
  const uint32_t t = targets[row];
  for (int c = threadIdx.x; c < vocab; c += blockDim.x) {
    const A p = acc_exp(to_acc(xr[c]) * it - lse);
    const A hit = (uint32_t)c == t ? gi : A(0);
    dxr[c] = from_acc<T, A>(hit - gi * p);
  }
}

#define LOGSOFTMAX_OPS(T, A, SUFFIX)                                                            \
  extern "C" __global__ void __launch_bounds__(MAX_THREADS)                                     \
      selected_logsoftmax_fwd_##SUFFIX(const T *x, const uint32_t *targets, A *out, int vocab,  \
                                       int k, double inv_t) {                                   \
    fwd<T, A>(x, targets, out, vocab, k, inv_t);                                                \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(MAX_THREADS)                                     \
      selected_logsoftmax_bwd_##SUFFIX(const T *x, const uint32_t *targets, const A *gl, T *dx, \
                                       int vocab, double inv_t) {                               \
    bwd<T, A>(x, targets, gl, dx, vocab, inv_t);                                                \
  }

LOGSOFTMAX_OPS(float, float, f32)
LOGSOFTMAX_OPS(double, double, f64)
LOGSOFTMAX_OPS(__half, float, f16)
LOGSOFTMAX_OPS(__nv_bfloat16, float, bf16)
