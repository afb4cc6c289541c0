// Tensor-core variants of the flash-attention kernels for f16 / bf16 (sm_80+), included by
// flash_attn.cu: the same math and layouts as its CUDA-core kernels (see there), with the four
// matrix products of a tile — S = Q K^T, O += P V (forward); S, dP = dO V^T, dQ += dS K (dq);
// S^T = K Q^T, dP^T = V dO^T, dV += P^T dO, dK += dS^T Q (dkdv) — on the tensor cores through
// the warp matrix functions (`nvcuda::wmma`, 16 x 16 x 16 tiles, 16-bit inputs, f32 sums).
//
// Everything row-wise (masking, the online softmax, p and ds) stays scalar code on tiles in
// shared memory, so no kernel depends on which lane holds which element of a fragment (CUDA
// leaves that unspecified). The one row-wise operation on a fragment, scaling the output rows of
// the forward by the softmax's correction, finds each element's row through a fragment loaded
// from a matrix of row numbers (`RowMap`).
//
// Rounding: P and dS enter their products as the element type (as in FlashAttention-2), the
// inputs Q, K, V, dO are the element type; all sums, the softmax statistics and the outputs'
// accumulators are f32.
//
// Work split (128 threads = 4 warps, 16 rows per warp): forward and dq take 64 queries of one
// head per block and walk tiles of 32 keys; dkdv takes 64 keys of one KV head per block and walks
// tiles of 16 queries of each of its query heads. Shared memory (head dim <= 128): forward
// 32.1 KB, dq 41.1 KB, dkdv 41.9 KB — static, under the 48 KB limit.
#include <mma.h>

#define TC_ROWS 16                            // rows per warp: one wmma tile
#define TC_BLOCK_ROWS (FA_WARPS * TC_ROWS)    // queries (fwd, dq) or keys (dkdv) per block
#define TC_KT 32                              // keys per tile (fwd, dq)
#define TC_QT 16                              // queries per tile (dkdv)
#define TC_MAXD 128                           // the largest head dim
#define TC_NF (TC_MAXD / 16)                  // fragments across the head dim
#define TC_LD (TC_MAXD + 8)                   // 16-bit tile rows: 272 bytes (32-byte aligned
                                              // every 16 rows, 4 banks apart)
#define TC_SLD (TC_KT + 4)                    // f32 score tiles [16][TC_KT]
#define TC_PLD (TC_KT + 8)                    // 16-bit probability tiles [16][TC_KT]
#define TC_SLD_Q (TC_QT + 4)                  // dkdv: f32 [16][TC_QT]
#define TC_PLD_Q (TC_QT + 8)                  // dkdv: 16-bit [16][TC_QT]

namespace tc {
using namespace nvcuda;
using Acc = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;
template <typename T> using RowA = wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major>;
template <typename T> using RowB = wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major>;
template <typename T> using ColB = wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major>;
constexpr int NE = Acc::num_elements;

// Rows first..first+n of a [rows, d] matrix into a 16-bit tile [n][TC_LD], zero past `rows`
// and in columns d..dp (dp = d rounded up to 16), converted to T. Each thread moves chunks of 8
// columns (one 16-byte vector when the source is T, d a multiple of 8 and `src` 16-byte
// aligned; else 8 scalar loads), consecutive threads consecutive chunks of a row; the thread's
// first row and column are worked out once (no division per element).
template <typename T, typename S>
__device__ __forceinline__ void load_rows(T (*dst)[TC_LD], const S *src, int first, int rows,
                                          int d, int dp, int n) {
  const int per_row = dp / 8, step = FA_THREADS / per_row;  // chunks per row, rows per pass
  const int r0 = threadIdx.x / per_row, c = (threadIdx.x % per_row) * 8;
  if (r0 >= step) return;  // idle when 128 is not a multiple of per_row
  const bool vec = sizeof(S) == sizeof(T) && d % 8 == 0 &&
                   reinterpret_cast<uintptr_t>(src) % 16 == 0;
  for (int r = r0; r < n; r += step) {
    const bool live = first + r < rows && c < d;
    const S *row = src + (size_t)(first + r) * d + c;
    if (vec) {
      int4 v = make_int4(0, 0, 0, 0);
      if (live) v = *reinterpret_cast<const int4 *>(row);
      *reinterpret_cast<int4 *>(&dst[r][c]) = v;
    } else {
#pragma unroll
      for (int k = 0; k < 8; ++k)
        dst[r][c + k] = from_acc<T, float>(live && c + k < d ? to_acc(row[k]) : 0.f);
    }
  }
}

// Which row of its 16 x 16 tile each element of an accumulator fragment is, found by loading a
// matrix whose entries are their row numbers (`scratch`: this warp's [16][ld] f32 tile); kept
// as 4 bits per element in one register.
struct RowMap {
  static_assert(NE <= 8, "4 bits per element in 32 bits");
  unsigned rows;
  template <int LD> __device__ __forceinline__ explicit RowMap(float (*scratch)[LD]) {
    const int lane = threadIdx.x % WARP;
    for (int e = lane; e < 256; e += WARP) scratch[e / 16][e % 16] = float(e / 16);
    __syncwarp();
    Acc f;
    wmma::load_matrix_sync(f, &scratch[0][0], LD, wmma::mem_row_major);
    rows = 0;
#pragma unroll
    for (int i = 0; i < NE; ++i) rows |= (unsigned)f.x[i] << (4 * i);
    __syncwarp();
  }
  __device__ __forceinline__ int row(int i) const { return (rows >> (4 * i)) & 15; }
};

// Multiplies row r of every fragment by factor[r].
__device__ __forceinline__ void scale_rows(Acc (&f)[TC_NF], int nf, const RowMap &rm,
                                           const float *factor) {
#pragma unroll
  for (int c = 0; c < TC_NF; ++c) {
    if (c < nf) {
#pragma unroll
      for (int i = 0; i < NE; ++i) f[c].x[i] *= factor[rm.row(i)];
    }
  }
}

// Writes the warp's 16 rows of `f` (times `mul`) to rows first.. of a [rows, d] matrix `dst`
// (row i at dst[i * d]), skipping rows >= rows and columns >= d, through the warp's f32
// scratch tile.
template <typename T, int LD>
__device__ __forceinline__ void store_rows(T *dst, const Acc (&f)[TC_NF], int nf, float mul,
                                           float (*scratch)[LD], int first, int rows, int d) {
  const int lane = threadIdx.x % WARP;
#pragma unroll
  for (int c = 0; c < TC_NF; ++c) {
    if (c < nf) {
      wmma::store_matrix_sync(&scratch[0][0], f[c], LD, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += WARP) {
        const int r = e / 16, col = c * 16 + e % 16;
        if (first + r < rows && col < d)
          dst[(size_t)(first + r) * d + col] = from_acc<T, float>(scratch[r][e % 16] * mul);
      }
      __syncwarp();
    }
  }
}

// acc += a (this warp's 16 rows of a 16-bit tile, all nf fragments of the head dim) times the
// transpose of 16 rows of `b` (a 16-bit tile): a [16 x dp] by [dp x 16] product.
template <typename T>
__device__ __forceinline__ void dot_rows(Acc &acc, const RowA<T> (&a)[TC_NF], int nf,
                                         const T (*b)[TC_LD]) {
#pragma unroll
  for (int c = 0; c < TC_NF; ++c) {
    if (c < nf) {
      ColB<T> bf;
      wmma::load_matrix_sync(bf, &b[0][c * 16], TC_LD);
      wmma::mma_sync(acc, a[c], bf, acc);
    }
  }
}

// dot_rows with `a` read from 16 rows of a 16-bit tile, one fragment at a time (fewer live
// registers than holding all of them).
template <typename T>
__device__ __forceinline__ void dot_tile_rows(Acc &acc, const T (*a)[TC_LD], int nf,
                                              const T (*b)[TC_LD]) {
#pragma unroll
  for (int c = 0; c < TC_NF; ++c) {
    if (c < nf) {
      RowA<T> af;
      ColB<T> bf;
      wmma::load_matrix_sync(af, &a[0][c * 16], TC_LD);
      wmma::load_matrix_sync(bf, &b[0][c * 16], TC_LD);
      wmma::mma_sync(acc, af, bf, acc);
    }
  }
}

// acc[c] += p (a [16 x 16·KS] 16-bit tile, leading dim PLD) times rows 0..16·KS of `v` (a 16-bit
// tile), for every fragment c of the head dim.
template <typename T, int KS, int PLD>
__device__ __forceinline__ void weighted_sum(Acc (&acc)[TC_NF], int nf, const T (*p)[PLD],
                                             const T (*v)[TC_LD]) {
#pragma unroll
  for (int kk = 0; kk < KS; ++kk) {
    RowA<T> pa;
    wmma::load_matrix_sync(pa, &p[0][kk * 16], PLD);
#pragma unroll
    for (int c = 0; c < TC_NF; ++c) {
      if (c < nf) {
        RowB<T> vb;
        wmma::load_matrix_sync(vb, &v[kk * 16][c * 16], TC_LD);
        wmma::mma_sync(acc[c], pa, vb, acc[c]);
      }
    }
  }
}

__device__ __forceinline__ void zero(Acc (&f)[TC_NF]) {
#pragma unroll
  for (int c = 0; c < TC_NF; ++c) wmma::fill_fragment(f[c], 0.f);
}

// The warp's 16 rows of the first 64 rows of `tile` as operand fragments.
template <typename T>
__device__ __forceinline__ void load_operand(RowA<T> (&f)[TC_NF], int nf, const T (*rows)[TC_LD]) {
#pragma unroll
  for (int c = 0; c < TC_NF; ++c)
    if (c < nf) wmma::load_matrix_sync(f[c], &rows[0][c * 16], TC_LD);
}

template <typename T>
__device__ void fwd(const T *q, const T *kv, const float *bias, float *out, int nb, int nh,
                    int nkv, int t, int s, int d, double scale) {
  // Q staging (64 rows), then the key tile (rows 0..31) and the value tile (rows 32..63).
  __shared__ __align__(32) T tiles[2 * TC_KT][TC_LD];
  __shared__ __align__(32) float sw[FA_WARPS][TC_ROWS][TC_SLD];  // scores; output staging
  __shared__ __align__(32) T pw[FA_WARPS][TC_ROWS][TC_PLD];      // probabilities
  __shared__ float bs[TC_KT];
  __shared__ float fac[FA_WARPS][TC_ROWS];  // per-row factor for the output fragments
  const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
  const int bi = blockIdx.z, hi = blockIdx.y;
  // The last queries see the most keys: their blocks start first (a shorter tail).
  const int q0 = (gridDim.x - 1 - blockIdx.x) * TC_BLOCK_ROWS, qw = q0 + warp * TC_ROWS;
  const int kvh = hi / (nh / nkv), off = s - t, dp = (d + 15) & ~15, nf = dp / 16;
  const size_t row0 = ((size_t)bi * nh + hi) * t;
  const T *kh = kv + ((size_t)bi * nkv + kvh) * s * d;
  const T *vh = kh + (size_t)nb * nkv * s * d;
  const float *br = bias + (size_t)bi * s;
  const float sc = float(scale);

  load_rows(tiles, q + row0 * d, q0, t, d, dp, TC_BLOCK_ROWS);
  __syncthreads();
  RowA<T> qf[TC_NF];
  load_operand(qf, nf, &tiles[warp * TC_ROWS]);
  const RowMap rm(sw[warp]);
  Acc of[TC_NF];
  zero(of);
  // Lane pair (2r, 2r+1) owns row r of the warp: half h of each key tile, the same statistics.
  const int r = lane / 2, h = lane % 2, i = qw + r, qp = off + i;
  float m = lowest<float>(), l = 0.f;
  const int last = min(qw + TC_ROWS, t) - 1;  // the warp's last query (< qw: no query)
  const int kend = min(s, off + min(q0 + TC_BLOCK_ROWS, t));
  for (int k0 = 0; k0 < kend; k0 += TC_KT) {
    __syncthreads();  // the previous tiles (and the Q staging) are no longer read
    load_rows(tiles, kh, k0, s, d, dp, TC_KT);
    load_rows(&tiles[TC_KT], vh, k0, s, d, dp, TC_KT);
    if (threadIdx.x < TC_KT) bs[threadIdx.x] = k0 + threadIdx.x < s ? br[k0 + threadIdx.x] : 0.f;
    __syncthreads();
    if (last < qw || k0 > off + last) continue;  // no key of this tile is visible to the warp
#pragma unroll
    for (int n = 0; n < TC_KT / 16; ++n) {
      Acc sf;
      wmma::fill_fragment(sf, 0.f);
      dot_rows(sf, qf, nf, &tiles[n * 16]);
      wmma::store_matrix_sync(&sw[warp][0][n * 16], sf, TC_SLD, wmma::mem_row_major);
    }
    __syncwarp();
    // The scores of this lane's half row (masked: -inf), read twice from shared memory rather
    // than kept in registers: once for the max, once for the probabilities.
    auto score = [&](int col) {
      bool vis;
      const float z = masked_score(sw[warp][r][col], sc, k0 + col, qp, bs[col], vis);
      return vis && i < t ? z : -INFINITY;
    };
    float mx = lowest<float>();
#pragma unroll
    for (int jj = 0; jj < TC_KT / 2; ++jj) mx = max(mx, score(h * (TC_KT / 2) + jj));
    mx = max(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float mn = max(m, mx), alpha = acc_exp(m - mn);
    float sum = 0.f;
#pragma unroll
    for (int jj = 0; jj < TC_KT / 2; ++jj) {
      const int col = h * (TC_KT / 2) + jj;
      const float p = acc_exp(score(col) - mn);
      sum += p;
      pw[warp][r][col] = from_acc<T, float>(p);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l = l * alpha + sum;
    m = mn;
    if (h == 0) fac[warp][r] = alpha;
    __syncwarp();
    scale_rows(of, nf, rm, fac[warp]);
    weighted_sum<T, TC_KT / 16, TC_PLD>(of, nf, pw[warp], &tiles[TC_KT]);
  }
  __syncwarp();  // every lane is done with the last tile's factors
  if (h == 0) fac[warp][r] = l > 0.f ? 1.f / l : 0.f;
  __syncwarp();
  scale_rows(of, nf, rm, fac[warp]);
  store_rows(out + row0 * d, of, nf, 1.f, sw[warp], qw, t, d);
  if (h == 0 && i < t) out[(size_t)nb * nh * t * d + row0 + i] = m + acc_log(l);
}

template <typename T>
__device__ void dq(const T *q, const T *kv, const float *aux, const float *dl, T *out, int nb,
                   int nh, int nkv, int t, int s, int d, double scale) {
  __shared__ __align__(32) T tiles[2 * TC_KT][TC_LD];  // Q, dO staging; then K and V tiles
  __shared__ __align__(32) float sw[FA_WARPS][TC_ROWS][TC_SLD];   // scores; dq staging
  __shared__ __align__(32) float dpw[FA_WARPS][TC_ROWS][TC_SLD];  // dP = dO V^T
  __shared__ __align__(32) T dsw[FA_WARPS][TC_ROWS][TC_PLD];      // dS
  __shared__ float bs[TC_KT];
  const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
  const int bi = blockIdx.z, hi = blockIdx.y;
  const int q0 = (gridDim.x - 1 - blockIdx.x) * TC_BLOCK_ROWS, qw = q0 + warp * TC_ROWS;
  const int kvh = hi / (nh / nkv), off = s - t, dp = (d + 15) & ~15, nf = dp / 16;
  const AuxLayout ax(nb, nh, t, d);
  const size_t row0 = ((size_t)bi * nh + hi) * t;
  const T *kh = kv + ((size_t)bi * nkv + kvh) * s * d;
  const T *vh = kh + (size_t)nb * nkv * s * d;
  const float *br = aux + ax.bias + (size_t)bi * s;
  const float sc = float(scale);

  RowA<T> qf[TC_NF], gf[TC_NF];
  load_rows(tiles, q + row0 * d, q0, t, d, dp, TC_BLOCK_ROWS);
  __syncthreads();
  load_operand(qf, nf, &tiles[warp * TC_ROWS]);
  __syncthreads();
  load_rows(tiles, aux + ax.dout + row0 * d, q0, t, d, dp, TC_BLOCK_ROWS);
  __syncthreads();
  load_operand(gf, nf, &tiles[warp * TC_ROWS]);
  Acc acc[TC_NF];
  zero(acc);
  const int r = lane / 2, h = lane % 2, i = qw + r, qp = off + i;
  const int ic = min(i, t - 1);  // rows past t: any valid index, unused
  const float lse = aux[ax.lse + row0 + ic], dlt = dl[row0 + ic];
  const int last = min(qw + TC_ROWS, t) - 1;
  const int kend = min(s, off + min(q0 + TC_BLOCK_ROWS, t));
  for (int k0 = 0; k0 < kend; k0 += TC_KT) {
    __syncthreads();
    load_rows(tiles, kh, k0, s, d, dp, TC_KT);
    load_rows(&tiles[TC_KT], vh, k0, s, d, dp, TC_KT);
    if (threadIdx.x < TC_KT) bs[threadIdx.x] = k0 + threadIdx.x < s ? br[k0 + threadIdx.x] : 0.f;
    __syncthreads();
    if (last < qw || k0 > off + last) continue;
#pragma unroll
    for (int n = 0; n < TC_KT / 16; ++n) {
      Acc sf, pf;
      wmma::fill_fragment(sf, 0.f);
      wmma::fill_fragment(pf, 0.f);
      dot_rows(sf, qf, nf, &tiles[n * 16]);
      dot_rows(pf, gf, nf, &tiles[TC_KT + n * 16]);
      wmma::store_matrix_sync(&sw[warp][0][n * 16], sf, TC_SLD, wmma::mem_row_major);
      wmma::store_matrix_sync(&dpw[warp][0][n * 16], pf, TC_SLD, wmma::mem_row_major);
    }
    __syncwarp();
#pragma unroll
    for (int jj = 0; jj < TC_KT / 2; ++jj) {
      const int col = h * (TC_KT / 2) + jj;
      bool vis;
      const float z = masked_score(sw[warp][r][col], sc, k0 + col, qp, bs[col], vis);
      const float p = vis && i < t ? acc_exp(z - lse) : 0.f;
      dsw[warp][r][col] = from_acc<T, float>(p * (dpw[warp][r][col] - dlt));
    }
    __syncwarp();
    weighted_sum<T, TC_KT / 16, TC_PLD>(acc, nf, dsw[warp], tiles);
  }
  store_rows(out + row0 * d, acc, nf, sc, sw[warp], qw, t, d);
}

template <typename T>
__device__ void dkdv(const T *q, const T *kv, const float *aux, const float *dl, T *out, int nb,
                     int nh, int nkv, int t, int s, int d, double scale) {
  __shared__ __align__(32) T kt[TC_BLOCK_ROWS][TC_LD];  // V staging, then the block's keys
  __shared__ __align__(32) T qt[TC_QT][TC_LD];          // a query tile
  __shared__ __align__(32) T gt[TC_QT][TC_LD];          // its dO
  __shared__ __align__(32) float sw[FA_WARPS][TC_ROWS][TC_SLD_Q];  // S^T, dP^T; output staging
  __shared__ float pf[FA_WARPS][TC_ROWS][TC_QT + 1];  // P^T in f32, for dS^T (+1: no bank conflicts)
  __shared__ __align__(32) T pw[FA_WARPS][TC_ROWS][TC_PLD_Q];      // P^T
  __shared__ __align__(32) T dsw[FA_WARPS][TC_ROWS][TC_PLD_Q];     // dS^T
  __shared__ float ls[TC_QT], dls[TC_QT];
  const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
  const int bi = blockIdx.z, kvh = blockIdx.y, j0 = blockIdx.x * TC_BLOCK_ROWS;
  const int jw = j0 + warp * TC_ROWS;  // the warp's first key
  const int rep = nh / nkv, off = s - t, dp = (d + 15) & ~15, nf = dp / 16;
  const AuxLayout ax(nb, nh, t, d);
  const size_t krow0 = ((size_t)bi * nkv + kvh) * s;
  const size_t n_kv = (size_t)nb * nkv * s * d, n_q = (size_t)nb * nh * t * d;
  const float sc = float(scale);

  RowA<T> vf[TC_NF];
  load_rows(kt, kv + n_kv + krow0 * d, j0, s, d, dp, TC_BLOCK_ROWS);
  __syncthreads();
  load_operand(vf, nf, &kt[warp * TC_ROWS]);
  __syncthreads();
  load_rows(kt, kv + krow0 * d, j0, s, d, dp, TC_BLOCK_ROWS);
  Acc dk[TC_NF], dv[TC_NF];
  zero(dk);
  zero(dv);
  // Lane pair (2r, 2r+1) owns key r of the warp: half h of each query tile.
  const int r = lane / 2, h = lane % 2, j = jw + r;
  const float bias_j = aux[ax.bias + (size_t)bi * s + min(j, s - 1)];
  // The first query that sees key j0 sits at slot j0: i = j0 - off.
  const int i_start = max(0, j0 - off);
  for (int hr = 0; hr < rep; ++hr) {
    const size_t row0 = ((size_t)bi * nh + (size_t)kvh * rep + hr) * t;
    for (int i0 = i_start; i0 < t; i0 += TC_QT) {
      __syncthreads();  // the previous tiles are no longer read (and kt is complete)
      load_rows(qt, q + row0 * d, i0, t, d, dp, TC_QT);
      load_rows(gt, aux + ax.dout + row0 * d, i0, t, d, dp, TC_QT);
      if (threadIdx.x < TC_QT) {
        const int ii = min(i0 + (int)threadIdx.x, t - 1);
        ls[threadIdx.x] = aux[ax.lse + row0 + ii];
        dls[threadIdx.x] = dl[row0 + ii];
      }
      __syncthreads();
      // No key of the warp, or none visible to this tile's last query.
      if (jw >= s || jw > off + min(i0 + TC_QT, t) - 1) continue;
      Acc st;
      wmma::fill_fragment(st, 0.f);
      dot_tile_rows(st, &kt[warp * TC_ROWS], nf, qt);
      wmma::store_matrix_sync(&sw[warp][0][0], st, TC_SLD_Q, wmma::mem_row_major);
      __syncwarp();
#pragma unroll
      for (int ii = 0; ii < TC_QT / 2; ++ii) {
        const int col = h * (TC_QT / 2) + ii, i = i0 + col;
        bool vis;
        const float z = masked_score(sw[warp][r][col], sc, j, off + i, bias_j, vis);
        const float p = vis && i < t && j < s ? acc_exp(z - ls[col]) : 0.f;
        pf[warp][r][col] = p;
        pw[warp][r][col] = from_acc<T, float>(p);
      }
      __syncwarp();  // S^T is read before dP^T overwrites it
      wmma::fill_fragment(st, 0.f);
      dot_rows(st, vf, nf, gt);
      wmma::store_matrix_sync(&sw[warp][0][0], st, TC_SLD_Q, wmma::mem_row_major);
      __syncwarp();
#pragma unroll
      for (int ii = 0; ii < TC_QT / 2; ++ii) {
        const int col = h * (TC_QT / 2) + ii;
        dsw[warp][r][col] = from_acc<T, float>(pf[warp][r][col] * (sw[warp][r][col] - dls[col]));
      }
      __syncwarp();
      weighted_sum<T, TC_QT / 16, TC_PLD_Q>(dv, nf, pw[warp], gt);
      weighted_sum<T, TC_QT / 16, TC_PLD_Q>(dk, nf, dsw[warp], qt);
      __syncwarp();  // sw, pw, dsw are rewritten by the next tile
    }
  }
  T *dkh = out + n_q + krow0 * d;
  store_rows(dkh, dk, nf, sc, sw[warp], jw, s, d);
  store_rows(dkh + n_kv, dv, nf, 1.f, sw[warp], jw, s, d);
}

}  // namespace tc

// `__launch_bounds__(FA_THREADS, 1)`: with the block size alone, ptxas caps these kernels at
// 168 registers and spills (scripts/check-kernels.sh); one resident block per SM lets it use
// up to 255 (~210 here), and 65536 registers still hold two blocks of 128 threads.
#define FLASH_TC_OPS(T, SUFFIX)                                                                  \
  extern "C" __global__ void __launch_bounds__(FA_THREADS, 1)                                    \
      flash_attn_tc_fwd_##SUFFIX(const T *q, const T *kv, const float *bias, float *out, int nb,  \
                                 int nh, int nkv, int t, int s, int d, double scale) {           \
    tc::fwd<T>(q, kv, bias, out, nb, nh, nkv, t, s, d, scale);                                   \
  }                                                                                              \
  extern "C" __global__ void __launch_bounds__(FA_THREADS, 1)                                    \
      flash_attn_tc_dq_##SUFFIX(const T *q, const T *kv, const float *aux, const float *dl,       \
                                T *out, int nb, int nh, int nkv, int t, int s, int d,            \
                                double scale) {                                                  \
    tc::dq<T>(q, kv, aux, dl, out, nb, nh, nkv, t, s, d, scale);                                 \
  }                                                                                              \
  extern "C" __global__ void __launch_bounds__(FA_THREADS, 1)                                    \
      flash_attn_tc_dkdv_##SUFFIX(const T *q, const T *kv, const float *aux, const float *dl,     \
                                  T *out, int nb, int nh, int nkv, int t, int s, int d,          \
                                  double scale) {                                                \
    tc::dkdv<T>(q, kv, aux, dl, out, nb, nh, nkv, t, s, d, scale);                               \
  }

FLASH_TC_OPS(__half, f16)
FLASH_TC_OPS(__nv_bfloat16, bf16)
