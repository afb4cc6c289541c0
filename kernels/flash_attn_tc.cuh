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
// tiles of 16 queries of each of its query heads. Each kernel exists for NF = 2, 4, 8 fragments
// across the head dim (head dims up to 32, 64, 128, zero-padded; suffix _d32/_d64/_d128), so
// every fragment loop is unrolled without run-time guards. Shared memory (head dim <= 128):
// forward 32.1 KB, dq 41.1 KB, dkdv 42.6 KB — static, under the 48 KB limit. The backward reads
// dO in the element type, written once by `flash_attn_tc_delta_*` (flash_attn.cu's `delta`).
#include <mma.h>

#define TC_ROWS 16                            // rows per warp: one wmma tile
#define TC_BLOCK_ROWS (FA_WARPS * TC_ROWS)    // queries (fwd, dq) or keys (dkdv) per block
#define TC_KT 32                              // keys per tile (fwd, dq)
#define TC_QT 16                              // queries per tile (dkdv)
#define TC_MAXD 128                           // the largest head dim
#define TC_LD (TC_MAXD + 8)                   // 16-bit tile rows: 272 bytes (rows 2k are
                                              // 32-byte aligned; rows 4 banks apart)
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

// Operand loads from shared memory. nvcc emits the bf16 wmma loads with generic addresses (4
// global-or-shared loads and transposes per fragment instead of one ldmatrix as for f16); the
// PTX instruction with the .shared state space restores the f16 code. Same instruction, same
// (unspecified) fragment layout as load_matrix_sync; the emulator has no __CUDA_ARCH__ and runs
// load_matrix_sync.
template <class F, class T> __device__ __forceinline__ void ld(F &f, const T *p, unsigned ldm) {
  wmma::load_matrix_sync(f, p, ldm);
}
#if defined(__CUDA_ARCH__)
#define TC_LD_BF16(USE, LAYOUT, PTX_USE, PTX_LAYOUT)                                          \
  __device__ __forceinline__ void ld(                                                         \
      wmma::fragment<wmma::USE, 16, 16, 16, __nv_bfloat16, wmma::LAYOUT> &f,                  \
      const __nv_bfloat16 *p, unsigned ldm) {                                                 \
    unsigned *r = reinterpret_cast<unsigned *>(&f.x[0]);                                      \
    asm volatile("wmma.load." PTX_USE ".sync.aligned." PTX_LAYOUT                             \
                 ".m16n16k16.shared.bf16 {%0,%1,%2,%3}, [%4], %5;"                            \
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])                              \
                 : "r"((unsigned)__cvta_generic_to_shared(p)), "r"(ldm));                       \
  }
TC_LD_BF16(matrix_a, row_major, "a", "row")
TC_LD_BF16(matrix_b, row_major, "b", "row")
TC_LD_BF16(matrix_b, col_major, "b", "col")
#undef TC_LD_BF16
#endif

// Rows first..first+n of a [rows, d] matrix into a 16-bit tile [n][TC_LD], zero past `rows`
// and in columns d..dp (dp: the kernel's padded head dim 16·NF), converted to T. Each thread moves chunks of 8
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
template <int NF>
__device__ __forceinline__ void scale_rows(Acc (&f)[NF], const RowMap &rm, const float *factor) {
  float fr[NE];
#pragma unroll
  for (int i = 0; i < NE; ++i) fr[i] = factor[rm.row(i)];
#pragma unroll
  for (int c = 0; c < NF; ++c) {
#pragma unroll
    for (int i = 0; i < NE; ++i) f[c].x[i] *= fr[i];
  }
}

// Writes the warp's 16 rows of `f` (times `mul`) to rows first.. of a [rows, d] matrix `dst`
// (row i at dst[i * d]), skipping rows >= rows and columns >= d, through the warp's f32
// scratch tile.
template <typename T, int NF, int LD>
__device__ __forceinline__ void store_rows(T *dst, const Acc (&f)[NF], float mul,
                                           float (*scratch)[LD], int first, int rows, int d) {
  const int lane = threadIdx.x % WARP;
#pragma unroll
  for (int c = 0; c < NF; ++c) {
    if (c * 16 < d) {
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

// acc[n] += a (this warp's 16 rows, NF operand fragments across the head dim) times the
// transpose of rows 16n..16n+16 of `b` (a 16-bit tile), for n < N: N independent chains of
// [16 x 16·NF] by [16·NF x 16] products, interleaved so that the tensor cores overlap them.
template <typename T, int NF, int N>
__device__ __forceinline__ void dot_rows(Acc (&acc)[N], const RowA<T> (&a)[NF],
                                         const T (*b)[TC_LD]) {
#pragma unroll
  for (int c = 0; c < NF; ++c) {
#pragma unroll
    for (int n = 0; n < N; ++n) {
      ColB<T> bf;
      ld(bf, &b[n * 16][c * 16], TC_LD);
      wmma::mma_sync(acc[n], a[c], bf, acc[n]);
    }
  }
}

// acc += a b^T with `a` read from 16 rows of a 16-bit tile one fragment at a time (fewer live
// registers than holding them all), as two chains (even and odd fragments) summed at the end.
template <typename T, int NF>
__device__ __forceinline__ void dot_tile_rows(Acc &acc, const T (*a)[TC_LD], const T (*b)[TC_LD]) {
  Acc odd;
  wmma::fill_fragment(odd, 0.f);
#pragma unroll
  for (int c = 0; c < NF; ++c) {
    RowA<T> af;
    ColB<T> bf;
    ld(af, &a[0][c * 16], TC_LD);
    ld(bf, &b[0][c * 16], TC_LD);
    if (c % 2 == 0)
      wmma::mma_sync(acc, af, bf, acc);
    else
      wmma::mma_sync(odd, af, bf, odd);
  }
#pragma unroll
  for (int i = 0; i < NE; ++i) acc.x[i] += odd.x[i];  // same fragment type: same layout
}

// acc[c] += p (a [16 x 16·KS] 16-bit tile, leading dim PLD) times rows 0..16·KS of `v` (a 16-bit
// tile), for every fragment c of the head dim.
template <typename T, int NF, int KS, int PLD>
__device__ __forceinline__ void weighted_sum(Acc (&acc)[NF], const T (*p)[PLD],
                                             const T (*v)[TC_LD]) {
#pragma unroll
  for (int kk = 0; kk < KS; ++kk) {
    RowA<T> pa;
    ld(pa, &p[0][kk * 16], PLD);
#pragma unroll
    for (int c = 0; c < NF; ++c) {
      RowB<T> vb;
      ld(vb, &v[kk * 16][c * 16], TC_LD);
      wmma::mma_sync(acc[c], pa, vb, acc[c]);
    }
  }
}

// 8 consecutive floats of a shared-memory row (16-byte aligned) as two vector loads.
__device__ __forceinline__ void load8(const float *p, float (&v)[8]) {
  const float4 a = reinterpret_cast<const float4 *>(p)[0], b = reinterpret_cast<const float4 *>(p)[1];
  v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
}

// 8 values to a shared-memory row (16-byte aligned) in T: one 16-byte vector store.
template <typename T> __device__ __forceinline__ void store8(T *p, const float (&v)[8]) {
  __align__(16) T h[8];
#pragma unroll
  for (int u = 0; u < 8; ++u) h[u] = from_acc<T, float>(v[u]);
  *reinterpret_cast<int4 *>(p) = *reinterpret_cast<const int4 *>(h);
}

// The same in f32: two vector stores.
__device__ __forceinline__ void store8(float *p, const float (&v)[8]) {
  reinterpret_cast<float4 *>(p)[0] = make_float4(v[0], v[1], v[2], v[3]);
  reinterpret_cast<float4 *>(p)[1] = make_float4(v[4], v[5], v[6], v[7]);
}

template <int N> __device__ __forceinline__ void zero(Acc (&f)[N]) {
#pragma unroll
  for (int c = 0; c < N; ++c) wmma::fill_fragment(f[c], 0.f);
}

// The warp's 16 rows of a 16-bit tile as operand fragments.
template <typename T, int NF>
__device__ __forceinline__ void load_operand(RowA<T> (&f)[NF], const T (*rows)[TC_LD]) {
#pragma unroll
  for (int c = 0; c < NF; ++c) ld(f[c], &rows[0][c * 16], TC_LD);
}

template <typename T, int NF>
__device__ void fwd(const T *q, const T *kv, const float *bias, float *out, int nb, int nh,
                    int nkv, int t, int s, int d, double scale) {
  constexpr int DP = 16 * NF;  // the head dim as padded in the tiles
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
  const int kvh = hi / (nh / nkv), off = s - t;
  const size_t row0 = ((size_t)bi * nh + hi) * t;
  const T *kh = kv + ((size_t)bi * nkv + kvh) * s * d;
  const T *vh = kh + (size_t)nb * nkv * s * d;
  const float *br = bias + (size_t)bi * s;
  const float sc = float(scale);

  load_rows(tiles, q + row0 * d, q0, t, d, DP, TC_BLOCK_ROWS);
  __syncthreads();
  RowA<T> qf[NF];
  load_operand(qf, &tiles[warp * TC_ROWS]);
  const RowMap rm(sw[warp]);
  Acc of[NF];
  zero(of);
  // Lane pair (2r, 2r+1) owns row r of the warp: half h of each key tile, the same statistics.
  constexpr int HALF = TC_KT / 2;
  const int r = lane / 2, h = lane % 2, i = qw + r, qp = off + i;
  float m = lowest<float>(), l = 0.f;
  const int last = min(qw + TC_ROWS, t) - 1;  // the warp's last query (< qw: no query)
  const int kend = min(s, off + min(q0 + TC_BLOCK_ROWS, t));
  for (int k0 = 0; k0 < kend; k0 += TC_KT) {
    __syncthreads();  // the previous tiles (and the Q staging) are no longer read
    load_rows(tiles, kh, k0, s, d, DP, TC_KT);
    load_rows(&tiles[TC_KT], vh, k0, s, d, DP, TC_KT);
    if (threadIdx.x < TC_KT) bs[threadIdx.x] = k0 + threadIdx.x < s ? br[k0 + threadIdx.x] : 0.f;
    __syncthreads();
    if (last < qw || k0 > off + last) continue;  // no key of this tile is visible to the warp
    {
      Acc sf[TC_KT / 16];
      zero(sf);
      dot_rows(sf, qf, tiles);
#pragma unroll
      for (int n = 0; n < TC_KT / 16; ++n)
        wmma::store_matrix_sync(&sw[warp][0][n * 16], sf[n], TC_SLD, wmma::mem_row_major);
    }
    __syncwarp();
    // This lane's half row of scores, masked (-inf), read as 16-byte vectors.
    float z[HALF], mx = lowest<float>();
#pragma unroll
    for (int q8 = 0; q8 < HALF / 8; ++q8) {
      float sv[8];
      load8(&sw[warp][r][h * HALF + 8 * q8], sv);
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        const int col = h * HALF + 8 * q8 + u;
        bool vis;
        const float zz = masked_score(sv[u], sc, k0 + col, qp, bs[col], vis);
        z[8 * q8 + u] = vis && i < t ? zz : -INFINITY;
        mx = max(mx, z[8 * q8 + u]);
      }
    }
    mx = max(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float mn = max(m, mx), alpha = acc_exp(m - mn);
    float sum = 0.f;
    // The probabilities, stored 8 at a time as one 16-byte vector.
#pragma unroll
    for (int q8 = 0; q8 < HALF / 8; ++q8) {
      float pv[8];
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        pv[u] = acc_exp(z[8 * q8 + u] - mn);
        sum += pv[u];
      }
      store8(&pw[warp][r][h * HALF + 8 * q8], pv);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l = l * alpha + sum;
    m = mn;
    if (h == 0) fac[warp][r] = alpha;
    __syncwarp();
    scale_rows(of, rm, fac[warp]);
    weighted_sum<T, NF, TC_KT / 16, TC_PLD>(of, pw[warp], &tiles[TC_KT]);
  }
  __syncwarp();  // every lane is done with the last tile's factors
  if (h == 0) fac[warp][r] = l > 0.f ? 1.f / l : 0.f;
  __syncwarp();
  scale_rows(of, rm, fac[warp]);
  store_rows(out + row0 * d, of, 1.f, sw[warp], qw, t, d);
  if (h == 0 && i < t) out[(size_t)nb * nh * t * d + row0 + i] = m + acc_log(l);
}

template <typename T, int NF>
__device__ void dq(const T *q, const T *kv, const float *aux, const float *dl, const T *dout,
                   T *out, int nb, int nh, int nkv, int t, int s, int d, double scale) {
  constexpr int DP = 16 * NF;
  __shared__ __align__(32) T tiles[2 * TC_KT][TC_LD];  // Q, dO staging; then K and V tiles
  __shared__ __align__(32) float sw[FA_WARPS][TC_ROWS][TC_SLD];   // scores; dq staging
  __shared__ __align__(32) float dpw[FA_WARPS][TC_ROWS][TC_SLD];  // dP = dO V^T
  __shared__ __align__(32) T dsw[FA_WARPS][TC_ROWS][TC_PLD];      // dS
  __shared__ float bs[TC_KT];
  const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
  const int bi = blockIdx.z, hi = blockIdx.y;
  const int q0 = (gridDim.x - 1 - blockIdx.x) * TC_BLOCK_ROWS, qw = q0 + warp * TC_ROWS;
  const int kvh = hi / (nh / nkv), off = s - t;
  const AuxLayout ax(nb, nh, t, d);
  const size_t row0 = ((size_t)bi * nh + hi) * t;
  const T *kh = kv + ((size_t)bi * nkv + kvh) * s * d;
  const T *vh = kh + (size_t)nb * nkv * s * d;
  const float *br = aux + ax.bias + (size_t)bi * s;
  const float sc = float(scale);

  RowA<T> qf[NF], gf[NF];
  load_rows(tiles, q + row0 * d, q0, t, d, DP, TC_BLOCK_ROWS);
  __syncthreads();
  load_operand(qf, &tiles[warp * TC_ROWS]);
  __syncthreads();
  load_rows(tiles, dout + row0 * d, q0, t, d, DP, TC_BLOCK_ROWS);
  __syncthreads();
  load_operand(gf, &tiles[warp * TC_ROWS]);
  Acc acc[NF];
  zero(acc);
  const int r = lane / 2, h = lane % 2, i = qw + r, qp = off + i;
  const int ic = min(i, t - 1);  // rows past t: any valid index, unused
  const float lse = aux[ax.lse + row0 + ic], dlt = dl[row0 + ic];
  const int last = min(qw + TC_ROWS, t) - 1;
  const int kend = min(s, off + min(q0 + TC_BLOCK_ROWS, t));
  for (int k0 = 0; k0 < kend; k0 += TC_KT) {
    __syncthreads();
    load_rows(tiles, kh, k0, s, d, DP, TC_KT);
    load_rows(&tiles[TC_KT], vh, k0, s, d, DP, TC_KT);
    if (threadIdx.x < TC_KT) bs[threadIdx.x] = k0 + threadIdx.x < s ? br[k0 + threadIdx.x] : 0.f;
    __syncthreads();
    if (last < qw || k0 > off + last) continue;
    {
      Acc sf[TC_KT / 16], pf[TC_KT / 16];
      zero(sf);
      zero(pf);
      dot_rows(sf, qf, tiles);
      dot_rows(pf, gf, &tiles[TC_KT]);
#pragma unroll
      for (int n = 0; n < TC_KT / 16; ++n) {
        wmma::store_matrix_sync(&sw[warp][0][n * 16], sf[n], TC_SLD, wmma::mem_row_major);
        wmma::store_matrix_sync(&dpw[warp][0][n * 16], pf[n], TC_SLD, wmma::mem_row_major);
      }
    }
    __syncwarp();
    // ds = p (dp - delta) for this lane's half row, 8 columns per vector pass.
#pragma unroll
    for (int q8 = 0; q8 < TC_KT / 16; ++q8) {
      const int c0 = h * (TC_KT / 2) + 8 * q8;
      float sv[8], dp[8], ds[8];
      load8(&sw[warp][r][c0], sv);
      load8(&dpw[warp][r][c0], dp);
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        bool vis;
        const float z = masked_score(sv[u], sc, k0 + c0 + u, qp, bs[c0 + u], vis);
        const float p = vis && i < t ? acc_exp(z - lse) : 0.f;
        ds[u] = p * (dp[u] - dlt);
      }
      store8(&dsw[warp][r][c0], ds);
    }
    __syncwarp();
    weighted_sum<T, NF, TC_KT / 16, TC_PLD>(acc, dsw[warp], tiles);
  }
  store_rows(out + row0 * d, acc, sc, sw[warp], qw, t, d);
}

template <typename T, int NF>
__device__ void dkdv(const T *q, const T *kv, const float *aux, const float *dl, const T *dout,
                     T *out, int nb, int nh, int nkv, int t, int s, int d, double scale) {
  constexpr int DP = 16 * NF;
  __shared__ __align__(32) T kt[TC_BLOCK_ROWS][TC_LD];  // V staging, then the block's keys
  __shared__ __align__(32) T qt[TC_QT][TC_LD];          // a query tile
  __shared__ __align__(32) T gt[TC_QT][TC_LD];          // its dO
  __shared__ __align__(32) float sw[FA_WARPS][TC_ROWS][TC_SLD_Q];  // S^T, dP^T; output staging
  __shared__ __align__(32) float pf[FA_WARPS][TC_ROWS][TC_SLD_Q];  // P^T in f32, for dS^T
  __shared__ __align__(32) T pw[FA_WARPS][TC_ROWS][TC_PLD_Q];      // P^T
  __shared__ __align__(32) T dsw[FA_WARPS][TC_ROWS][TC_PLD_Q];     // dS^T
  __shared__ float ls[TC_QT], dls[TC_QT];
  const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
  const int bi = blockIdx.z, kvh = blockIdx.y, j0 = blockIdx.x * TC_BLOCK_ROWS;
  const int jw = j0 + warp * TC_ROWS;  // the warp's first key
  const int rep = nh / nkv, off = s - t;
  const AuxLayout ax(nb, nh, t, d);
  const size_t krow0 = ((size_t)bi * nkv + kvh) * s;
  const size_t n_kv = (size_t)nb * nkv * s * d, n_q = (size_t)nb * nh * t * d;
  const float sc = float(scale);

  RowA<T> vf[NF];
  load_rows(kt, kv + n_kv + krow0 * d, j0, s, d, DP, TC_BLOCK_ROWS);
  __syncthreads();
  load_operand(vf, &kt[warp * TC_ROWS]);
  __syncthreads();
  load_rows(kt, kv + krow0 * d, j0, s, d, DP, TC_BLOCK_ROWS);
  Acc dk[NF], dv[NF];
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
      load_rows(qt, q + row0 * d, i0, t, d, DP, TC_QT);
      load_rows(gt, dout + row0 * d, i0, t, d, DP, TC_QT);
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
      dot_tile_rows<T, NF>(st, &kt[warp * TC_ROWS], qt);
      wmma::store_matrix_sync(&sw[warp][0][0], st, TC_SLD_Q, wmma::mem_row_major);
      __syncwarp();
      // This lane's 8 queries (h · 8 ..) of key r: one vector pass.
      const int c0 = h * (TC_QT / 2);
      {
        float sv[8], p[8];
        load8(&sw[warp][r][c0], sv);
#pragma unroll
        for (int u = 0; u < 8; ++u) {
          const int i = i0 + c0 + u;
          bool vis;
          const float z = masked_score(sv[u], sc, j, off + i, bias_j, vis);
          p[u] = vis && i < t && j < s ? acc_exp(z - ls[c0 + u]) : 0.f;
        }
        store8(&pf[warp][r][c0], p);
        store8(&pw[warp][r][c0], p);
      }
      __syncwarp();  // S^T is read before dP^T overwrites it
      {
        Acc dpt[2];
        zero(dpt);
        // dP^T = V dO^T as two chains (even and odd fragments of the head dim).
#pragma unroll
        for (int c = 0; c < NF; ++c) {
          ColB<T> bf;
          ld(bf, &gt[0][c * 16], TC_LD);
          wmma::mma_sync(dpt[c % 2], vf[c], bf, dpt[c % 2]);
        }
#pragma unroll
        for (int e = 0; e < NE; ++e) dpt[0].x[e] += dpt[1].x[e];
        wmma::store_matrix_sync(&sw[warp][0][0], dpt[0], TC_SLD_Q, wmma::mem_row_major);
      }
      __syncwarp();
      {
        float dp[8], p[8], ds[8];
        load8(&sw[warp][r][c0], dp);
        load8(&pf[warp][r][c0], p);
#pragma unroll
        for (int u = 0; u < 8; ++u) ds[u] = p[u] * (dp[u] - dls[c0 + u]);
        store8(&dsw[warp][r][c0], ds);
      }
      __syncwarp();
      weighted_sum<T, NF, TC_QT / 16, TC_PLD_Q>(dv, pw[warp], gt);
      weighted_sum<T, NF, TC_QT / 16, TC_PLD_Q>(dk, dsw[warp], qt);
    }
  }
  __syncwarp();
  T *dkh = out + n_q + krow0 * d;
  store_rows(dkh, dk, sc, sw[warp], jw, s, d);
  store_rows(dkh + n_kv, dv, 1.f, sw[warp], jw, s, d);
}

}  // namespace tc

// `__launch_bounds__(FA_THREADS, 1)`: with the block size alone, ptxas caps these kernels at
// 168 registers and spills (scripts/check-kernels.sh); one resident block per SM as the minimum
// lets it use up to 255, and 65536 registers still hold two blocks of 128 threads.
#define FLASH_TC_OPS_D(T, SUFFIX, NF, DMAX)                                                       \
  extern "C" __global__ void __launch_bounds__(FA_THREADS, 1)                                     \
      flash_attn_tc_fwd_##SUFFIX##_d##DMAX(const T *q, const T *kv, const float *bias,           \
                                            float *out, int nb, int nh, int nkv, int t, int s,    \
                                            int d, double scale) {                                \
    tc::fwd<T, NF>(q, kv, bias, out, nb, nh, nkv, t, s, d, scale);                                \
  }                                                                                               \
  extern "C" __global__ void __launch_bounds__(FA_THREADS, 1)                                     \
      flash_attn_tc_dq_##SUFFIX##_d##DMAX(const T *q, const T *kv, const float *aux,             \
                                           const float *dl, const T *dout, T *out, int nb,       \
                                           int nh, int nkv, int t, int s, int d, double scale) { \
    tc::dq<T, NF>(q, kv, aux, dl, dout, out, nb, nh, nkv, t, s, d, scale);                       \
  }                                                                                               \
  extern "C" __global__ void __launch_bounds__(FA_THREADS, 1)                                     \
      flash_attn_tc_dkdv_##SUFFIX##_d##DMAX(const T *q, const T *kv, const float *aux,           \
                                             const float *dl, const T *dout, T *out, int nb,     \
                                             int nh, int nkv, int t, int s, int d,               \
                                             double scale) {                                      \
    tc::dkdv<T, NF>(q, kv, aux, dl, dout, out, nb, nh, nkv, t, s, d, scale);                     \
  }

#define FLASH_TC_OPS(T, SUFFIX)                                                                   \
  extern "C" __global__ void __launch_bounds__(FA_THREADS)                                        \
      flash_attn_tc_delta_##SUFFIX(const float *aux, float *dl, T *dout, int rows, int d) {      \
    delta<float, T>(aux, dl, dout, rows, d);                                                      \
  }                                                                                               \
  FLASH_TC_OPS_D(T, SUFFIX, 2, 32)                                                                \
  FLASH_TC_OPS_D(T, SUFFIX, 4, 64)                                                                \
  FLASH_TC_OPS_D(T, SUFFIX, 8, 128)

FLASH_TC_OPS(__half, f16)
FLASH_TC_OPS(__nv_bfloat16, bf16)
