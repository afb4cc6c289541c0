// Causal attention without the T x S score matrix ("flash" attention: tiles of keys in shared
// memory, an online softmax, the log-sum-exp saved per query), with backward. The training
// path's attention; memory per layer is O(T) instead of O(H * T * S).
//
// Shapes (contiguous): q [B, H, T, D]; kv = [k; v], k and v [B, Hkv, S, D] (grouped-query:
// query head h reads KV head h / (H / Hkv)); bias [B, S] in the accumulator type. S >= T: the T
// queries are the last T of the S key slots (query i sits at slot S - T + i).
//
//   z_ij = scale * q_i . k_j + (j <  S - T + i ? bias_j : 0)    for j <= S - T + i
//   z_ij = -inf                                                 for j >  S - T + i  (causal)
//   p_ij = softmax_j(z_ij),  o_i = sum_j p_ij v_j,  lse_i = log sum_j exp z_ij
//
// A query always sees its own slot without the bias (so a padding query never has an empty
// row); `bias` carries the padding (a large negative number, or -inf, for padding keys).
//
// Forward output (accumulator type, packed): o [B, H, T, D], then lse [B, H, T].
// Backward (from the packed aux = [o | lse | do | dlse | bias], accumulator type; dlse unused):
//   delta_i = do_i . o_i
//   ds_ij   = p_ij (do_i . v_j - delta_i),  p_ij = exp(z_ij - lse_i)  (recomputed)
//   dq_i = scale * sum_j ds_ij k_j,  dk_j = scale * sum_i ds_ij q_i,  dv_j = sum_i p_ij do_i
// into one buffer (element type) [dq | dk | dv]; dk and dv sum over the H / Hkv query heads of a
// KV head inside one block (no atomics: deterministic).
//
// Work split: a warp's 32 lanes take 32 keys (forward, dq) or 32 queries (dkdv) of a shared
// tile for the dot products, then split the head dim for the weighted sums; each warp carries
// several rows at once, stored so that one column of them (and their probabilities) is one
// vector load (`Pack`), so every shared load feeds several FMAs. Math in float (double for f64).
// These are the CUDA-core kernels (every dtype); f16/bf16 run the tensor-core variants of
// flash_attn_tc.cuh (included at the end) by default.
// Compiled to PTX by build.rs (feature `cuda`) and launched from src/kernels/flash_attn/cuda.rs;
// the CPU reference is src/kernels/flash_attn/reference.rs.
#include "common.cuh"

#define FA_THREADS 128
#define FA_WARPS (FA_THREADS / WARP)
// Keys (forward, dq) or queries (dkdv) per shared tile: one per lane.
#define FA_TILE WARP

// The largest head dim whose tiles fit the 48 KB of static shared memory: 128 with float
// tiles, 64 with double (src/kernels/flash_attn/plan.rs checks it).
template <typename A> struct Fa;
template <> struct Fa<float> {
  static constexpr int MAXD = 128;
};
template <> struct Fa<double> {
  static constexpr int MAXD = 64;
};

// Rows per warp: forward 4 queries (16 per block), dq 2 queries, dkdv 2 keys (8 per block).
#define FWD_RPW 4
#define BWD_RPW 2

// Row `r` (< rows, else zeros) of a [rows, d] matrix into a [*][STRIDE] shared tile, as A.
template <typename T, typename A, int ROWS, int STRIDE>
__device__ __forceinline__ void load_tile(A (*dst)[STRIDE], const T *src, int first, int rows,
                                          int d) {
  for (int e = threadIdx.x; e < ROWS * d; e += FA_THREADS) {
    const int r = e / d, c = e % d;
    dst[r][c] = first + r < rows ? to_acc(src[(size_t)(first + r) * d + c]) : A(0);
  }
}

// N accumulator values a warp reads together from shared memory: one vector load (16 bytes for
// 4 floats) instead of N scalar ones.
template <typename A, int N> struct alignas(sizeof(A) * N) Pack {
  A v[N];
};

// Rows first..first+ROWS of a [rows, d] matrix (zeros past `rows`) into a column-major tile of
// packs: row r, column c at dst[c][r / N].v[r % N], so that a warp's N rows of one column load
// as one vector.
template <typename T, typename A, int ROWS, int N>
__device__ __forceinline__ void load_tile_packed(Pack<A, N> (*dst)[ROWS / N], const T *src,
                                                 int first, int rows, int d) {
  for (int e = threadIdx.x; e < ROWS * d; e += FA_THREADS) {
    const int r = e / d, c = e % d;
    dst[c][r / N].v[r % N] = first + r < rows ? to_acc(src[(size_t)(first + r) * d + c]) : A(0);
  }
}

// The score term z (before masking) pieces shared by all kernels: whether key j is visible to
// the query at slot qp, and z itself.
template <typename A>
__device__ __forceinline__ A masked_score(A dot, A scale, int j, int qp, A bias_j, bool &vis) {
  vis = j <= qp;
  A z = dot * scale;
  if (j < qp) z += bias_j;
  return z;
}

template <typename T, typename A>
__device__ void fwd(const T *q, const T *kv, const A *bias, A *out, int nb, int nh, int nkv,
                    int t, int s, int d, double scale) {
  constexpr int MAXD = Fa<A>::MAXD, DPL = MAXD / WARP, RPW = FWD_RPW, BQ = FA_WARPS * RPW;
  __shared__ Pack<A, RPW> qs[MAXD][FA_WARPS];  // column c of warp w's rows: qs[c][w]
  __shared__ A ks[FA_TILE][MAXD + 1];  // +1: lane j reads row j, column c (no bank conflicts)
  __shared__ A vs[FA_TILE][MAXD];
  __shared__ A bs[FA_TILE];
  __shared__ Pack<A, RPW> ps[FA_WARPS][FA_TILE];  // p of key jj for warp w's rows: ps[w][jj]
  const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
  const int bi = blockIdx.z, hi = blockIdx.y;
  // The last queries see the most keys: their blocks start first (a shorter tail).
  const int q0 = (gridDim.x - 1 - blockIdx.x) * BQ;
  const int kvh = hi / (nh / nkv), off = s - t;
  const T *qh = q + ((size_t)bi * nh + hi) * t * d;
  const T *kh = kv + ((size_t)bi * nkv + kvh) * s * d;
  const T *vh = kh + (size_t)nb * nkv * s * d;
  const A *br = bias + (size_t)bi * s;
  const A sc = A(scale);
  load_tile_packed<T, A, BQ, RPW>(qs, qh, q0, t, d);

  A m[RPW], l[RPW], o[RPW][DPL];
#pragma unroll
  for (int rr = 0; rr < RPW; ++rr) {
    m[rr] = lowest<A>();
    l[rr] = 0;
#pragma unroll
    for (int c = 0; c < DPL; ++c) o[rr][c] = 0;
  }
  // Keys past the block's last query are invisible to all of its rows.
  const int kend = min(s, off + min(q0 + BQ, t));
  for (int k0 = 0; k0 < kend; k0 += FA_TILE) {
    __syncthreads();  // the previous tile is no longer read
    load_tile<T, A, FA_TILE, MAXD + 1>(ks, kh, k0, s, d);
    load_tile<T, A, FA_TILE, MAXD>(vs, vh, k0, s, d);
    if (threadIdx.x < FA_TILE) bs[threadIdx.x] = k0 + threadIdx.x < s ? br[k0 + threadIdx.x] : A(0);
    __syncthreads();
    const int j = k0 + lane;
    A dot[RPW];
#pragma unroll
    for (int rr = 0; rr < RPW; ++rr) dot[rr] = 0;
    for (int c = 0; c < d; ++c) {
      const A kc = ks[lane][c];
      const Pack<A, RPW> qc = qs[c][warp];
#pragma unroll
      for (int rr = 0; rr < RPW; ++rr) dot[rr] += qc.v[rr] * kc;
    }
    A alpha[RPW];
#pragma unroll
    for (int rr = 0; rr < RPW; ++rr) {
      const int i = q0 + warp * RPW + rr;
      bool vis;
      const A z = masked_score(dot[rr], sc, j, off + i, bs[lane], vis);
      vis = vis && i < t;
      const A mx = warp_max(vis ? z : lowest<A>());
      const A mn = mx > m[rr] ? mx : m[rr];
      alpha[rr] = acc_exp(m[rr] - mn);
      const A p = vis ? acc_exp(z - mn) : A(0);
      l[rr] = l[rr] * alpha[rr] + p;
      m[rr] = mn;
      ps[warp][lane].v[rr] = p;
    }
    __syncwarp();
#pragma unroll
    for (int c = 0; c < DPL; ++c) {
#pragma unroll
      for (int rr = 0; rr < RPW; ++rr) o[rr][c] *= alpha[rr];
    }
#pragma unroll 4
    for (int jj = 0; jj < FA_TILE; ++jj) {
      const Pack<A, RPW> pj = ps[warp][jj];
#pragma unroll
      for (int c = 0; c < DPL; ++c) {
        const int dd = lane + c * WARP;
        if (dd < d) {
          const A v = vs[jj][dd];
#pragma unroll
          for (int rr = 0; rr < RPW; ++rr) o[rr][c] += pj.v[rr] * v;
        }
      }
    }
    __syncwarp();  // ps is rewritten by the next tile
  }
  const size_t n_o = (size_t)nb * nh * t * d;
#pragma unroll
  for (int rr = 0; rr < RPW; ++rr) {
    const int i = q0 + warp * RPW + rr;
    const A total = warp_sum(l[rr]);
    if (i >= t) continue;
    const size_t row = ((size_t)bi * nh + hi) * t + i;
    const A inv = A(1) / total;
#pragma unroll
    for (int c = 0; c < DPL; ++c) {
      const int dd = lane + c * WARP;
      if (dd < d) out[row * d + dd] = o[rr][c] * inv;
    }
    if (lane == 0) out[n_o + row] = m[rr] + acc_log(total);
  }
}

// delta_i = do_i . o_i, one warp per row. aux = [o | lse | do | ...] with `rows` rows of d.
// With `dout`, also dO rounded to the element type T (dout[row · d + c]), for the tensor-core
// kernels' products.
template <typename A, typename T = A>
__device__ void delta(const A *aux, A *dl, T *dout, int rows, int d) {
  const size_t row = (size_t)blockIdx.x * FA_WARPS + threadIdx.x / WARP;
  if (row >= (size_t)rows) return;
  const int lane = threadIdx.x % WARP;
  const A *o = aux + row * d;
  const A *g = aux + (size_t)rows * d + rows + row * d;
  A acc = 0;
  for (int c = lane; c < d; c += WARP) {
    acc += o[c] * g[c];
    if (dout) dout[row * d + c] = from_acc<T, A>(g[c]);
  }
  acc = warp_sum(acc);
  if (lane == 0) dl[row] = acc;
}

// The offsets of the packed aux buffer.
struct AuxLayout {
  size_t lse, dout, bias;
  __device__ AuxLayout(int nb, int nh, int t, int d) {
    const size_t rows = (size_t)nb * nh * t;
    lse = rows * d;
    dout = lse + rows;
    bias = dout + rows * d + rows;
  }
};

template <typename T, typename A>
__device__ void dq(const T *q, const T *kv, const A *aux, const A *dl, T *out, int nb, int nh,
                   int nkv, int t, int s, int d, double scale) {
  constexpr int MAXD = Fa<A>::MAXD, DPL = MAXD / WARP, RPW = BWD_RPW, BQ = FA_WARPS * RPW;
  __shared__ Pack<A, RPW> qs[MAXD][FA_WARPS];  // column c of warp w's rows: qs[c][w]
  __shared__ Pack<A, RPW> gs[MAXD][FA_WARPS];  // do, the same way
  __shared__ A ks[FA_TILE][MAXD + 1];
  __shared__ A vs[FA_TILE][MAXD + 1];
  __shared__ A bs[FA_TILE];
  __shared__ Pack<A, RPW> ds_s[FA_WARPS][FA_TILE];
  const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
  const int bi = blockIdx.z, hi = blockIdx.y;
  // The last queries see the most keys: their blocks start first (a shorter tail).
  const int q0 = (gridDim.x - 1 - blockIdx.x) * BQ;
  const int kvh = hi / (nh / nkv), off = s - t;
  const AuxLayout ax(nb, nh, t, d);
  const size_t row0 = ((size_t)bi * nh + hi) * t;  // this head's first query row
  const T *kh = kv + ((size_t)bi * nkv + kvh) * s * d;
  const T *vh = kh + (size_t)nb * nkv * s * d;
  const A *br = aux + ax.bias + (size_t)bi * s;
  const A sc = A(scale);
  load_tile_packed<T, A, BQ, RPW>(qs, q + row0 * d, q0, t, d);
  load_tile_packed<A, A, BQ, RPW>(gs, aux + ax.dout + row0 * d, q0, t, d);
  A lse[RPW], dlt[RPW], acc[RPW][DPL];
#pragma unroll
  for (int rr = 0; rr < RPW; ++rr) {
    const int i = min(q0 + warp * RPW + rr, t - 1);  // rows past t: any valid index, unused
    lse[rr] = aux[ax.lse + row0 + i];
    dlt[rr] = dl[row0 + i];
#pragma unroll
    for (int c = 0; c < DPL; ++c) acc[rr][c] = 0;
  }
  const int kend = min(s, off + min(q0 + BQ, t));
  for (int k0 = 0; k0 < kend; k0 += FA_TILE) {
    __syncthreads();
    load_tile<T, A, FA_TILE, MAXD + 1>(ks, kh, k0, s, d);
    load_tile<T, A, FA_TILE, MAXD + 1>(vs, vh, k0, s, d);
    if (threadIdx.x < FA_TILE) bs[threadIdx.x] = k0 + threadIdx.x < s ? br[k0 + threadIdx.x] : A(0);
    __syncthreads();
    const int j = k0 + lane;
    A dot[RPW], dp[RPW];
#pragma unroll
    for (int rr = 0; rr < RPW; ++rr) dot[rr] = dp[rr] = 0;
    for (int c = 0; c < d; ++c) {
      const A kc = ks[lane][c], vc = vs[lane][c];
      const Pack<A, RPW> qc = qs[c][warp], gc = gs[c][warp];
#pragma unroll
      for (int rr = 0; rr < RPW; ++rr) {
        dot[rr] += qc.v[rr] * kc;
        dp[rr] += gc.v[rr] * vc;
      }
    }
#pragma unroll
    for (int rr = 0; rr < RPW; ++rr) {
      const int i = q0 + warp * RPW + rr;
      bool vis;
      const A z = masked_score(dot[rr], sc, j, off + i, bs[lane], vis);
      const A p = vis && i < t ? acc_exp(z - lse[rr]) : A(0);
      ds_s[warp][lane].v[rr] = p * (dp[rr] - dlt[rr]);
    }
    __syncwarp();
#pragma unroll 4
    for (int jj = 0; jj < FA_TILE; ++jj) {
      const Pack<A, RPW> dj = ds_s[warp][jj];
#pragma unroll
      for (int c = 0; c < DPL; ++c) {
        const int dd = lane + c * WARP;
        if (dd < d) {
          const A k = ks[jj][dd];
#pragma unroll
          for (int rr = 0; rr < RPW; ++rr) acc[rr][c] += dj.v[rr] * k;
        }
      }
    }
    __syncwarp();
  }
#pragma unroll
  for (int rr = 0; rr < RPW; ++rr) {
    const int i = q0 + warp * RPW + rr;
    if (i >= t) continue;
#pragma unroll
    for (int c = 0; c < DPL; ++c) {
      const int dd = lane + c * WARP;
      if (dd < d) out[(row0 + i) * d + dd] = from_acc<T, A>(acc[rr][c] * sc);
    }
  }
}

template <typename T, typename A>
__device__ void dkdv(const T *q, const T *kv, const A *aux, const A *dl, T *out, int nb, int nh,
                     int nkv, int t, int s, int d, double scale) {
  constexpr int MAXD = Fa<A>::MAXD, DPL = MAXD / WARP, RPW = BWD_RPW, BK = FA_WARPS * RPW;
  __shared__ A qs[FA_TILE][MAXD + 1];
  __shared__ A gs[FA_TILE][MAXD + 1];  // do
  __shared__ Pack<A, RPW> kown[MAXD][FA_WARPS];  // column c of warp w's keys: kown[c][w]
  __shared__ Pack<A, RPW> vown[MAXD][FA_WARPS];
  __shared__ A ls[FA_TILE], dls[FA_TILE];
  __shared__ Pack<A, RPW> p_s[FA_WARPS][FA_TILE];
  __shared__ Pack<A, RPW> ds_s[FA_WARPS][FA_TILE];
  const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
  const int bi = blockIdx.z, kvh = blockIdx.y, j0 = blockIdx.x * BK;
  const int rep = nh / nkv, off = s - t;
  const AuxLayout ax(nb, nh, t, d);
  const size_t krow0 = ((size_t)bi * nkv + kvh) * s;  // this KV head's first key row
  const size_t n_kv = (size_t)nb * nkv * s * d;
  load_tile_packed<T, A, BK, RPW>(kown, kv + krow0 * d, j0, s, d);
  load_tile_packed<T, A, BK, RPW>(vown, kv + n_kv + krow0 * d, j0, s, d);
  A bias_j[RPW], dk[RPW][DPL], dv[RPW][DPL];
#pragma unroll
  for (int rr = 0; rr < RPW; ++rr) {
    bias_j[rr] = aux[ax.bias + (size_t)bi * s + min(j0 + warp * RPW + rr, s - 1)];
#pragma unroll
    for (int c = 0; c < DPL; ++c) dk[rr][c] = dv[rr][c] = 0;
  }
  const A sc = A(scale);
  // The first query that sees key j0 sits at slot j0: i = j0 - off.
  const int i_start = max(0, j0 - off);
  for (int hr = 0; hr < rep; ++hr) {
    const size_t row0 = ((size_t)bi * nh + (size_t)kvh * rep + hr) * t;
    for (int i0 = i_start; i0 < t; i0 += FA_TILE) {
      __syncthreads();
      load_tile<T, A, FA_TILE, MAXD + 1>(qs, q + row0 * d, i0, t, d);
      load_tile<A, A, FA_TILE, MAXD + 1>(gs, aux + ax.dout + row0 * d, i0, t, d);
      if (threadIdx.x < FA_TILE) {
        const int i = min(i0 + (int)threadIdx.x, t - 1);
        ls[threadIdx.x] = aux[ax.lse + row0 + i];
        dls[threadIdx.x] = dl[row0 + i];
      }
      __syncthreads();
      const int i = i0 + lane;
      A dot[RPW], dp[RPW];
#pragma unroll
      for (int rr = 0; rr < RPW; ++rr) dot[rr] = dp[rr] = 0;
      for (int c = 0; c < d; ++c) {
        const A qc = qs[lane][c], gc = gs[lane][c];
        const Pack<A, RPW> kc = kown[c][warp], vc = vown[c][warp];
#pragma unroll
        for (int rr = 0; rr < RPW; ++rr) {
          dot[rr] += qc * kc.v[rr];
          dp[rr] += gc * vc.v[rr];
        }
      }
#pragma unroll
      for (int rr = 0; rr < RPW; ++rr) {
        const int j = j0 + warp * RPW + rr;
        bool vis;
        const A z = masked_score(dot[rr], sc, j, off + i, bias_j[rr], vis);
        const A p = vis && i < t && j < s ? acc_exp(z - ls[lane]) : A(0);
        p_s[warp][lane].v[rr] = p;
        ds_s[warp][lane].v[rr] = p * (dp[rr] - dls[lane]);
      }
      __syncwarp();
#pragma unroll 4
      for (int ii = 0; ii < FA_TILE; ++ii) {
        const Pack<A, RPW> pi = p_s[warp][ii], di = ds_s[warp][ii];
#pragma unroll
        for (int c = 0; c < DPL; ++c) {
          const int dd = lane + c * WARP;
          if (dd < d) {
            const A g = gs[ii][dd], qv = qs[ii][dd];
#pragma unroll
            for (int rr = 0; rr < RPW; ++rr) {
              dv[rr][c] += pi.v[rr] * g;
              dk[rr][c] += di.v[rr] * qv;
            }
          }
        }
      }
      __syncwarp();
    }
  }
  const size_t n_q = (size_t)nb * nh * t * d;
#pragma unroll
  for (int rr = 0; rr < RPW; ++rr) {
    const int j = j0 + warp * RPW + rr;
    if (j >= s) continue;
#pragma unroll
    for (int c = 0; c < DPL; ++c) {
      const int dd = lane + c * WARP;
      if (dd < d) {
        const size_t e = (krow0 + j) * d + dd;
        out[n_q + e] = from_acc<T, A>(dk[rr][c] * sc);
        out[n_q + n_kv + e] = from_acc<T, A>(dv[rr][c]);
      }
    }
  }
}

#define FLASH_OPS(T, A, SUFFIX)                                                                 \
  extern "C" __global__ void __launch_bounds__(FA_THREADS)                                      \
      flash_attn_fwd_##SUFFIX(const T *q, const T *kv, const A *bias, A *out, int nb, int nh,   \
                              int nkv, int t, int s, int d, double scale) {                     \
    fwd<T, A>(q, kv, bias, out, nb, nh, nkv, t, s, d, scale);                                   \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(FA_THREADS)                                      \
      flash_attn_dq_##SUFFIX(const T *q, const T *kv, const A *aux, const A *dl, T *out, int nb, \
                             int nh, int nkv, int t, int s, int d, double scale) {              \
    dq<T, A>(q, kv, aux, dl, out, nb, nh, nkv, t, s, d, scale);                                 \
  }                                                                                             \
  extern "C" __global__ void __launch_bounds__(FA_THREADS)                                      \
      flash_attn_dkdv_##SUFFIX(const T *q, const T *kv, const A *aux, const A *dl, T *out,      \
                               int nb, int nh, int nkv, int t, int s, int d, double scale) {    \
    dkdv<T, A>(q, kv, aux, dl, out, nb, nh, nkv, t, s, d, scale);                               \
  }

FLASH_OPS(float, float, f32)
FLASH_OPS(double, double, f64)
FLASH_OPS(__half, float, f16)
FLASH_OPS(__nv_bfloat16, float, bf16)

extern "C" __global__ void __launch_bounds__(FA_THREADS)
    flash_attn_delta_f32(const float *aux, float *dl, int rows, int d) {
  delta<float>(aux, dl, (float *)nullptr, rows, d);
}
extern "C" __global__ void __launch_bounds__(FA_THREADS)
    flash_attn_delta_f64(const double *aux, double *dl, int rows, int d) {
  delta<double>(aux, dl, (double *)nullptr, rows, d);
}

// The tensor-core kernels for f16 / bf16 (sm_80+).
#include "flash_attn_tc.cuh"
