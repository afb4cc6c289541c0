// Stand-in for CUDA's <mma.h> in the CPU emulation: the warp matrix functions
// (`nvcuda::wmma`) for the 16 x 16 x 16 shape with __half / __nv_bfloat16 inputs and float
// accumulators — what the tensor-core kernels of kernels/*.cu use.
//
// Faithful to the documented contract, and strict where hardware is undefined:
// - a fragment holds 8 elements per lane (`num_elements`, `x[]`); which matrix element a lane's
//   x[i] is, is unspecified by CUDA, so the emulation uses a scrambled mapping (a different one
//   for matrix_a, matrix_b and accumulators): a kernel that assumes a layout (reads x[i] as a
//   given row, or copies an accumulator into an operand fragment) computes wrong numbers here;
// - load/store/mma are warp-collective: each waits for the whole warp (a lane that returned, a
//   partial warp or a divergent call aborts or deadlocks, as shuffles do);
// - `mptr` must be 256-bit (32-byte) aligned and `ldm` a multiple of 16 bytes' worth of
//   elements (8 for 16-bit types, 4 for float), else the emulation aborts (undefined on hardware);
// - mma_sync: products of the 16-bit inputs are exact in float; the sum d = c + sum_k a b is
//   accumulated in float in k order (the tensor cores' order and internal precision differ:
//   compare with tolerances).
#pragma once
#include "cuda_emu.h"

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

template <class Use, int M, int N, int K, class T, class Layout = void> struct fragment {
  static_assert(M == 16 && N == 16 && K == 16, "cuda-emu: only m16n16k16 fragments are emulated");
  static constexpr int num_elements = 8;
  T x[8];
};

}  // namespace wmma
}  // namespace nvcuda

namespace cuda_emu {

/// The logical element (row * 16 + col) that lane `lane`'s x[i] holds: a bijection of the
/// (lane, i) pairs onto the 256 elements, multiplied by an odd constant (mod 256) per use.
template <class Use> inline int wmma_element(unsigned lane, int i) {
  constexpr int mul = std::is_same_v<Use, nvcuda::wmma::matrix_a>   ? 37
                      : std::is_same_v<Use, nvcuda::wmma::matrix_b> ? 101
                                                                    : 53;
  return int((lane * 8 + unsigned(i)) * mul % 256);
}

/// A warp-wide rendezvous of a wmma operation (every lane of a full warp, none returned).
inline void wmma_sync_warp(const char *what) {
  check_full_warp(what, 0xffffffffu);
  Warp &w = *tl_ctx.warp;
  w.bar->arrive_and_wait();
  if (w.exited_at_phase != 0)
    fail("%s: %s in block (%u,%u,%u) after %d lane(s) of warp %u returned", g_kernel.load(), what,
         tl_blockIdx.x, tl_blockIdx.y, tl_blockIdx.z, w.exited_at_phase,
         unsigned(&w - tl_ctx.block->warps.data()));
}

/// The alignment and leading-dimension rules of load/store_matrix_sync.
template <class T> inline void wmma_check_ptr(const char *what, const T *p, unsigned ldm) {
  if (reinterpret_cast<uintptr_t>(p) % 32 != 0)
    fail("%s: %s with a pointer that is not 32-byte aligned (%p)", g_kernel.load(), what,
         (const void *)p);
  if (ldm % (16 / sizeof(T)) != 0)
    fail("%s: %s with ldm %u, not a multiple of %zu elements", g_kernel.load(), what, ldm,
         16 / sizeof(T));
}

/// The offset of logical element (r, c) of a 16 x 16 tile stored with leading dimension ldm.
inline size_t wmma_offset(int r, int c, unsigned ldm, bool row_major) {
  return row_major ? size_t(r) * ldm + size_t(c) : size_t(c) * ldm + size_t(r);
}

}  // namespace cuda_emu

namespace nvcuda {
namespace wmma {

template <class Use, class T, class L>
inline void fill_fragment(fragment<Use, 16, 16, 16, T, L> &f, T v) {
  for (int i = 0; i < 8; ++i) f.x[i] = v;
}

/// matrix_a / matrix_b from memory, row- or column-major per the fragment's layout.
template <class Use, class T, class L>
inline void load_matrix_sync(fragment<Use, 16, 16, 16, T, L> &f, const T *p, unsigned ldm) {
  static_assert(!std::is_same_v<Use, accumulator>, "accumulators take a layout_t argument");
  cuda_emu::wmma_check_ptr("wmma::load_matrix_sync", p, ldm);
  cuda_emu::wmma_sync_warp("wmma::load_matrix_sync");
  const unsigned lane = cuda_emu::tl_ctx.lane;
  for (int i = 0; i < 8; ++i) {
    const int e = cuda_emu::wmma_element<Use>(lane, i);
    f.x[i] = p[cuda_emu::wmma_offset(e / 16, e % 16, ldm, std::is_same_v<L, row_major>)];
  }
}

inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float> &f, const float *p,
                             unsigned ldm, layout_t layout) {
  cuda_emu::wmma_check_ptr("wmma::load_matrix_sync", p, ldm);
  cuda_emu::wmma_sync_warp("wmma::load_matrix_sync");
  const unsigned lane = cuda_emu::tl_ctx.lane;
  for (int i = 0; i < 8; ++i) {
    const int e = cuda_emu::wmma_element<accumulator>(lane, i);
    f.x[i] = p[cuda_emu::wmma_offset(e / 16, e % 16, ldm, layout == mem_row_major)];
  }
}

inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float> &f,
                              unsigned ldm, layout_t layout) {
  cuda_emu::wmma_check_ptr("wmma::store_matrix_sync", p, ldm);
  cuda_emu::wmma_sync_warp("wmma::store_matrix_sync");
  const unsigned lane = cuda_emu::tl_ctx.lane;
  for (int i = 0; i < 8; ++i) {
    const int e = cuda_emu::wmma_element<accumulator>(lane, i);
    p[cuda_emu::wmma_offset(e / 16, e % 16, ldm, layout == mem_row_major)] = f.x[i];
  }
}

/// d = a b + c over the warp: every lane publishes its operand elements, then computes its own
/// elements of d.
template <class T, class LA, class LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float> &d,
                     const fragment<matrix_a, 16, 16, 16, T, LA> &a,
                     const fragment<matrix_b, 16, 16, 16, T, LB> &b,
                     const fragment<accumulator, 16, 16, 16, float> &c) {
  static_assert(std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>,
                "cuda-emu: mma_sync is emulated for __half and __nv_bfloat16 inputs");
  cuda_emu::Warp &w = *cuda_emu::tl_ctx.warp;
  const unsigned lane = cuda_emu::tl_ctx.lane;
  cuda_emu::wmma_sync_warp("wmma::mma_sync");  // the previous mma's operands are read
  for (int i = 0; i < 8; ++i) {
    w.mma_ab[0][cuda_emu::wmma_element<matrix_a>(lane, i)] = float(a.x[i]);
    w.mma_ab[1][cuda_emu::wmma_element<matrix_b>(lane, i)] = float(b.x[i]);
  }
  cuda_emu::wmma_sync_warp("wmma::mma_sync");
  float out[8];
  for (int i = 0; i < 8; ++i) {
    const int e = cuda_emu::wmma_element<accumulator>(lane, i);
    const int r = e / 16, col = e % 16;
    float acc = c.x[i];
    for (int k = 0; k < 16; ++k) acc += w.mma_ab[0][r * 16 + k] * w.mma_ab[1][k * 16 + col];
    out[i] = acc;
  }
  for (int i = 0; i < 8; ++i) d.x[i] = out[i];
}

}  // namespace wmma
}  // namespace nvcuda
