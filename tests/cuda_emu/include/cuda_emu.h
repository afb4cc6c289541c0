// cuda_emu.h — a CPU emulation of the CUDA execution model, for testing the project's real
// kernel sources (kernels/*.cu) without a GPU. It is a test harness, not a CUDA implementation.
//
// How: `g++ -std=c++20 -pthread -I tests/cuda_emu/include` compiles a .cu file as C++. The CUDA
// keywords become plain C++ (`__global__`, `__device__`, `__host__` vanish, `__shared__` becomes
// `static`), and a launch of grid G and block B runs B host threads (std::thread) that walk the
// G blocks one after another (z, then y, then x outermost to innermost), with a barrier between
// blocks. Since only one block of a launch runs at any time, a static local is exactly that
// block's shared memory.
//
// Emulated faithfully (what the tests check):
// - threadIdx / blockIdx / blockDim / gridDim (uint3 / dim3, `unsigned int` fields, per thread);
// - __syncthreads(): a real barrier over the block's threads (std::barrier); threads that have
//   returned count as arrived, as on current hardware;
// - warp shuffles (__shfl_sync / _up / _down / _xor, with `width`): a real exchange among the 32
//   lanes of a warp (lane = linear thread index % 32) with a per-warp barrier; any trivially
//   copyable type of at most 8 bytes. Aborts with a message on a partial mask, on a block size
//   that is not a multiple of 32, and when a lane of the warp has already returned; votes
//   (__ballot_sync, __any_sync, __all_sync) likewise;
// - atomicAdd (float, double, int, unsigned, unsigned long long), atomicSub/Exch/Max/Min/CAS
//   (int, unsigned, unsigned long long), serialized by one mutex;
// - __half / __nv_bfloat16 as 16-bit types with bit-exact round-to-nearest-even conversions from
//   float and (one rounding) from double; NaN becomes the canonical 0x7fff as in NVIDIA's
//   conversions; arithmetic operators round each result once;
// - math functions with the CUDA overload set (sqrt(float) is the float sqrt, etc.);
// - the warp matrix functions (`nvcuda::wmma`, m16n16k16, f16/bf16 inputs, f32 accumulators)
//   in include/mma.h, with a deliberately scrambled fragment layout (see there).
//
// Not emulated (do not rely on the emulator for these):
// - the memory model, warp-synchronous programming without __syncwarp/shuffles, races between
//   blocks (blocks never run concurrently here), timing, occupancy, register or shared memory
//   limits, bank conflicts;
// - dynamic shared memory: `extern __shared__ T buf[];` does not compile (the plans carry no
//   shared-memory size); use static `__shared__` arrays;
// - fast-math intrinsics are computed exactly (__expf = expf, rsqrtf = 1/sqrtf, __fdividef = a/b),
//   and libm's exp/log may differ from CUDA's by an ulp or two: compare with tolerances;
// - partial-warp masks, cooperative groups, textures, streams, dynamic parallelism, printf
//   formatting differences.
// Barriers that live threads reach in different patterns (a __syncthreads() skipped by a thread
// that goes on running, __syncwarp against __syncthreads, divergent shuffle counts) deadlock;
// the runner's watchdog (CUDA_EMU_TIMEOUT_S, default 120 s) then aborts naming the kernel.
//
// Other helpers may append missing built-ins at the end of this file, in a marked block.
#pragma once

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <barrier>
#include <bit>
#include <cmath>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <type_traits>
#include <vector>
// For runner.h: system headers must come before the keyword macros below.
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <utility>

// ---- keywords ----------------------------------------------------------------------------------
#ifdef CUDA_EMU_SCAN
// Kernel-name scan: tests/common/cuda_emu.rs preprocesses a module with -DCUDA_EMU_SCAN and
// registers every `extern "C" __cuda_emu_global__ void <name>(` it finds.
#define __global__ __cuda_emu_global__
#else
#define __global__
#endif
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __constant__
#define __shared__ static
// `__restrict__` is a g++ keyword already. `__noinline__` is left alone: libstdc++ uses it in
// `__attribute__((__noinline__))`.

// ---- built-in vector types (the few kernels use) ----------------------------------------------
struct uint3 {
  unsigned int x, y, z;
};
struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1)
      : x(x_), y(y_), z(z_) {}
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) int2 {
  int x, y;
};
struct alignas(16) int4 {
  int x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
constexpr int warpSize = 32;

namespace cuda_emu {

/// Prints `cuda-emu: <message>` to stderr and exits with status 2.
[[noreturn]] inline void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] inline void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("cuda-emu: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fflush(stderr);
  _Exit(2);
}

// ---- execution state ---------------------------------------------------------------------------

/// The synchronization state of one warp of the running block.
struct Warp {
  /// Lanes of this warp that have returned from the kernel (for the current block).
  std::atomic<int> exited{0};
  /// `exited` as seen when the last barrier phase completed (all live lanes blocked).
  int exited_at_phase = 0;
  struct Snapshot {
    Warp *w;
    void operator()() noexcept { w->exited_at_phase = w->exited.load(); }
  };
  std::optional<std::barrier<Snapshot>> bar;
  /// Shuffle exchange slots, double-buffered by the lanes' shuffle parity.
  uint64_t slots[2][32];
  /// The operands A and B of a `wmma::mma_sync` (include/mma.h), as floats in logical
  /// row-major order.
  float mma_ab[2][256];
  unsigned lanes = 32;
};

/// The synchronization state of the running block (reset before every block).
struct Block {
  unsigned threads = 0;
  std::optional<std::barrier<>> bar;
  std::vector<Warp> warps;
  explicit Block(unsigned n) : threads(n), warps((n + 31) / 32) {}
  void reset() {
    bar.emplace(threads);
    for (size_t i = 0; i < warps.size(); ++i) {
      Warp &w = warps[i];
      w.lanes = std::min(32u, threads - unsigned(i) * 32);
      w.exited = 0;
      w.exited_at_phase = 0;
      w.bar.emplace(w.lanes, Warp::Snapshot{&w});
    }
  }
};

/// Per host thread: which emulated thread it is.
struct ThreadCtx {
  Block *block = nullptr;
  Warp *warp = nullptr;
  unsigned lane = 0;
  unsigned parity = 0;
};

inline thread_local uint3 tl_threadIdx{0, 0, 0};
inline thread_local uint3 tl_blockIdx{0, 0, 0};
inline thread_local ThreadCtx tl_ctx;
inline dim3 g_blockDim, g_gridDim;
/// The kernel being run (for error messages).
inline std::atomic<const char *> g_kernel{"?"};

/// Runs `body` as a launch of `grid` × `block` under `name`.
template <class F> void launch(const char *name, dim3 grid, dim3 block, F &&body) {
  const unsigned n = block.x * block.y * block.z;
  g_kernel = name;
  g_blockDim = block;
  g_gridDim = grid;
  Block state(n);
  state.reset();
  // Between blocks: once every thread is done with a block, the last one to arrive resets the
  // block's barriers for the next (barrier completion step, run while all others wait).
  struct Reset {
    Block *b;
    void operator()() noexcept { b->reset(); }
  };
  std::barrier<Reset> step(n, Reset{&state});
  auto worker = [&](unsigned t) {
    tl_threadIdx = {t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
    for (unsigned z = 0; z < grid.z; ++z)
      for (unsigned y = 0; y < grid.y; ++y)
        for (unsigned x = 0; x < grid.x; ++x) {
          tl_blockIdx = {x, y, z};
          tl_ctx = ThreadCtx{&state, &state.warps[t / 32], t % 32, 0};
          body();
          // Returned: count as arrived at every later barrier of this block.
          tl_ctx.warp->exited.fetch_add(1);
          tl_ctx.warp->bar->arrive_and_drop();
          state.bar->arrive_and_drop();
          step.arrive_and_wait();
        }
  };
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (unsigned t = 1; t < n; ++t) {
    try {
      threads.emplace_back(worker, t);
    } catch (const std::system_error &e) {
      fail("%s: cannot start host thread %u of %u (%s): the process or thread limit is too low",
           name, t, n, e.what());
    }
  }
  worker(0);
  for (auto &th : threads) th.join();
}

inline void check_full_warp(const char *what, unsigned mask) {
  if (mask != 0xffffffffu)
    fail("%s: %s with mask 0x%08x: only full-warp masks are emulated", g_kernel.load(), what,
         mask);
  if (tl_ctx.block->threads % 32 != 0)
    fail("%s: %s in a block of %u threads (not a multiple of 32)", g_kernel.load(), what,
         tl_ctx.block->threads);
}

/// Every lane publishes `v`, then reads lane `src(lane)`'s value (or keeps its own when
/// `src` returns an out-of-range lane).
template <class T, class Src> T exchange(const char *what, unsigned mask, T v, Src src) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>,
                "cuda-emu: shuffles support trivially copyable types of at most 8 bytes");
  check_full_warp(what, mask);
  Warp &w = *tl_ctx.warp;
  const unsigned p = tl_ctx.parity;
  tl_ctx.parity ^= 1;
  uint64_t bits = 0;
  memcpy(&bits, &v, sizeof(T));
  w.slots[p][tl_ctx.lane] = bits;
  w.bar->arrive_and_wait();
  if (w.exited_at_phase != 0)
    fail("%s: %s in block (%u,%u,%u) after %d lane(s) of warp %u returned", g_kernel.load(), what,
         tl_blockIdx.x, tl_blockIdx.y, tl_blockIdx.z, w.exited_at_phase,
         unsigned(&w - tl_ctx.block->warps.data()));
  const int s = src(int(tl_ctx.lane));
  if (s < 0 || s >= 32) return v;
  T out;
  memcpy(&out, &w.slots[p][s], sizeof(T));
  return out;
}

inline std::mutex g_atomic_mutex;

}  // namespace cuda_emu

#define threadIdx (::cuda_emu::tl_threadIdx)
#define blockIdx (::cuda_emu::tl_blockIdx)
#define blockDim (::cuda_emu::g_blockDim)
#define gridDim (::cuda_emu::g_gridDim)

inline void __syncthreads() { cuda_emu::tl_ctx.block->bar->arrive_and_wait(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
  cuda_emu::check_full_warp("__syncwarp", mask);
  cuda_emu::tl_ctx.warp->bar->arrive_and_wait();
}

// Lane arithmetic of the PTX shfl modes: `width` splits the warp into segments; a source outside
// the caller's segment (or beyond it for xor) yields the caller's own value.
template <class T> T __shfl_sync(unsigned mask, T v, int src_lane, int width = 32) {
  return cuda_emu::exchange("__shfl_sync", mask, v, [=](int lane) {
    return (lane & ~(width - 1)) + (src_lane & (width - 1));
  });
}
template <class T> T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return cuda_emu::exchange("__shfl_up_sync", mask, v, [=](int lane) {
    return (lane & (width - 1)) >= int(delta) ? lane - int(delta) : -1;
  });
}
template <class T> T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
  return cuda_emu::exchange("__shfl_down_sync", mask, v, [=](int lane) {
    return (lane & (width - 1)) + int(delta) < width ? lane + int(delta) : -1;
  });
}
template <class T> T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
  return cuda_emu::exchange("__shfl_xor_sync", mask, v, [=](int lane) {
    const int s = lane ^ lane_mask;
    return s < ((lane & ~(width - 1)) + width) ? s : -1;
  });
}

namespace cuda_emu {
/// The warp's predicate bits (bit l = lane l's `pred != 0`), exchanged like a shuffle.
inline unsigned vote(const char *what, unsigned mask, int pred) {
  check_full_warp(what, mask);
  Warp &w = *tl_ctx.warp;
  const unsigned p = tl_ctx.parity;
  tl_ctx.parity ^= 1;
  w.slots[p][tl_ctx.lane] = pred != 0;
  w.bar->arrive_and_wait();
  if (w.exited_at_phase != 0)
    fail("%s: %s after %d lane(s) of the warp returned", g_kernel.load(), what, w.exited_at_phase);
  unsigned bits = 0;
  for (unsigned l = 0; l < 32; ++l) bits |= unsigned(w.slots[p][l] != 0) << l;
  return bits;
}
}  // namespace cuda_emu
inline unsigned __ballot_sync(unsigned mask, int pred) {
  return cuda_emu::vote("__ballot_sync", mask, pred);
}
inline int __any_sync(unsigned mask, int pred) {
  return cuda_emu::vote("__any_sync", mask, pred) != 0;
}
inline int __all_sync(unsigned mask, int pred) {
  return cuda_emu::vote("__all_sync", mask, pred) == 0xffffffffu;
}

// ---- atomics (blocks run one at a time; a block's threads run concurrently) --------------------
template <class T> inline T cuda_emu_atomic_add(T *p, T v) {
  std::lock_guard<std::mutex> g(cuda_emu::g_atomic_mutex);
  const T old = *p;
  *p = old + v;
  return old;
}
inline float atomicAdd(float *p, float v) { return cuda_emu_atomic_add(p, v); }
inline double atomicAdd(double *p, double v) { return cuda_emu_atomic_add(p, v); }
inline int atomicAdd(int *p, int v) { return cuda_emu_atomic_add(p, v); }
inline unsigned atomicAdd(unsigned *p, unsigned v) { return cuda_emu_atomic_add(p, v); }
inline unsigned long long atomicAdd(unsigned long long *p, unsigned long long v) {
  return cuda_emu_atomic_add(p, v);
}
/// `*p = f(*p)` under the atomics mutex; returns the old value.
template <class T, class F> inline T cuda_emu_atomic_update(T *p, F f) {
  std::lock_guard<std::mutex> g(cuda_emu::g_atomic_mutex);
  const T old = *p;
  *p = f(old);
  return old;
}
#define CUDA_EMU_INT_ATOMICS(T)                                                        \
  inline T atomicSub(T *p, T v) {                                                      \
    return cuda_emu_atomic_update(p, [=](T o) { return static_cast<T>(o - v); });     \
  }                                                                                    \
  inline T atomicExch(T *p, T v) {                                                     \
    return cuda_emu_atomic_update(p, [=](T) { return v; });                            \
  }                                                                                    \
  inline T atomicMax(T *p, T v) {                                                      \
    return cuda_emu_atomic_update(p, [=](T o) { return o > v ? o : v; });              \
  }                                                                                    \
  inline T atomicMin(T *p, T v) {                                                      \
    return cuda_emu_atomic_update(p, [=](T o) { return o < v ? o : v; });              \
  }                                                                                    \
  inline T atomicCAS(T *p, T cmp, T v) {                                               \
    return cuda_emu_atomic_update(p, [=](T o) { return o == cmp ? v : o; });           \
  }
CUDA_EMU_INT_ATOMICS(int)
CUDA_EMU_INT_ATOMICS(unsigned)
CUDA_EMU_INT_ATOMICS(unsigned long long)
#undef CUDA_EMU_INT_ATOMICS
inline float atomicExch(float *p, float v) {
  return cuda_emu_atomic_update(p, [=](float) { return v; });
}
/// Blocks never overlap and a block's threads share one address space: a full fence suffices.
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
inline void __threadfence_block() { std::atomic_thread_fence(std::memory_order_seq_cst); }
template <class T> inline T __ldg(const T *p) { return *p; }

// ---- math: the CUDA overload set in the global namespace ----------------------------------------
using std::exp;
using std::fabs;
using std::fmax;
using std::fmin;
using std::isinf;
using std::isnan;
using std::log;
using std::log1p;
using std::sqrt;
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float rsqrt(float x) { return 1.0f / sqrtf(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __powf(float a, float b) { return powf(a, b); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline void __sincosf(float x, float *s, float *c) { sincosf(x, s, c); }
inline float __log2f(float x) { return log2f(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __int_as_float(int i) { return std::bit_cast<float>(i); }
inline int __float_as_int(float f) { return std::bit_cast<int>(f); }
inline float __uint_as_float(unsigned i) { return std::bit_cast<float>(i); }
inline unsigned __float_as_uint(float f) { return std::bit_cast<unsigned>(f); }

#define CUDA_EMU_MINMAX(A, B, R)                        \
  inline R max(A a, B b) {                              \
    const R x = static_cast<R>(a), y = static_cast<R>(b); \
    return x > y ? x : y;                               \
  }                                                     \
  inline R min(A a, B b) {                              \
    const R x = static_cast<R>(a), y = static_cast<R>(b); \
    return x < y ? x : y;                               \
  }
CUDA_EMU_MINMAX(int, int, int)
CUDA_EMU_MINMAX(unsigned, unsigned, unsigned)
CUDA_EMU_MINMAX(int, unsigned, unsigned)
CUDA_EMU_MINMAX(unsigned, int, unsigned)
CUDA_EMU_MINMAX(long, long, long)
CUDA_EMU_MINMAX(unsigned long, unsigned long, unsigned long)
CUDA_EMU_MINMAX(long long, long long, long long)
CUDA_EMU_MINMAX(unsigned long long, unsigned long long, unsigned long long)
CUDA_EMU_MINMAX(double, double, double)
CUDA_EMU_MINMAX(float, double, double)
CUDA_EMU_MINMAX(double, float, double)
#undef CUDA_EMU_MINMAX
// CUDA's max/min(float, float) are fmaxf/fminf (a NaN operand yields the other one).
inline float max(float a, float b) { return fmaxf(a, b); }
inline float min(float a, float b) { return fminf(a, b); }

// ---- 16-bit floating point ----------------------------------------------------------------------
namespace cuda_emu {

/// float -> IEEE binary16, round to nearest even; NaN -> 0x7fff; overflow -> ±inf.
inline uint16_t f32_to_f16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return 0x7fffu;
  if (a >= 0x47800000u) return sign | 0x7c00u;  // |f| >= 65536 (or inf): inf
  const int e = int(a >> 23) - 127;             // unbiased exponent
  const uint32_t m = (a & 0x7fffffu) | 0x800000u;
  uint32_t r, rem, half;
  if (e >= -14) {  // normal half: 10 mantissa bits kept, 13 dropped
    r = (uint32_t(e + 15) << 10) | ((a >> 13) & 0x3ffu);
    rem = a & 0x1fffu;
    half = 0x1000u;
  } else {  // subnormal half: units of 2^-24, value / 2^-24 = m * 2^(e+1)
    const int s = -(e + 1);  // >= 14
    if (s > 25) return sign;
    r = m >> s;
    rem = m & ((1u << s) - 1);
    half = 1u << (s - 1);
  }
  if (rem > half || (rem == half && (r & 1u))) ++r;  // may carry into the exponent / to inf
  return sign | uint16_t(r);
}

/// IEEE binary16 -> float (exact).
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
  if (e == 0) {
    const float v = ldexpf(float(m), -24);
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((e + 112) << 23) | (m << 13));
}

/// double -> float rounded to odd (the last bit records inexactness), so that a second rounding
/// to a 16-bit type equals one direct rounding (float keeps more than 11 + 2 bits).
inline float f64_to_f32_odd(double d) {
  float f = float(d);
  if (std::fabs(double(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  if (double(f) != d) f = std::bit_cast<float>(std::bit_cast<uint32_t>(f) | 1u);
  return f;
}

/// float -> bfloat16, round to nearest even; NaN -> 0x7fff.
inline uint16_t f32_to_bf16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

inline float bf16_to_f32(uint16_t b) { return std::bit_cast<float>(uint32_t(b) << 16); }

}  // namespace cuda_emu

/// IEEE binary16. Arithmetic is done in float and rounded once (exact for + - * /: float has
/// more than 2·11+2 significand bits).
struct __half {
  uint16_t __x;
  __half() = default;
  __half(float f) : __x(cuda_emu::f32_to_f16(f)) {}
  __half(double d) : __x(cuda_emu::f32_to_f16(cuda_emu::f64_to_f32_odd(d))) {}
  operator float() const { return cuda_emu::f16_to_f32(__x); }
};
/// bfloat16 (8 significand bits), arithmetic as for __half.
struct __nv_bfloat16 {
  uint16_t __x;
  __nv_bfloat16() = default;
  __nv_bfloat16(float f) : __x(cuda_emu::f32_to_bf16(f)) {}
  __nv_bfloat16(double d) : __x(cuda_emu::f32_to_bf16(cuda_emu::f64_to_f32_odd(d))) {}
  operator float() const { return cuda_emu::bf16_to_f32(__x); }
};
typedef __half half;
typedef __nv_bfloat16 nv_bfloat16;

#define CUDA_EMU_HALF_OPS(H)                                                         \
  inline H operator+(H a, H b) { return H(float(a) + float(b)); }                   \
  inline H operator-(H a, H b) { return H(float(a) - float(b)); }                   \
  inline H operator*(H a, H b) { return H(float(a) * float(b)); }                   \
  inline H operator/(H a, H b) { return H(float(a) / float(b)); }                   \
  inline H operator-(H a) {                                                          \
    H r;                                                                             \
    r.__x = uint16_t(a.__x ^ 0x8000u);                                               \
    return r;                                                                        \
  }                                                                                  \
  inline H &operator+=(H &a, H b) { return a = a + b; }                              \
  inline H &operator-=(H &a, H b) { return a = a - b; }                              \
  inline H &operator*=(H &a, H b) { return a = a * b; }                              \
  inline H &operator/=(H &a, H b) { return a = a / b; }
CUDA_EMU_HALF_OPS(__half)
CUDA_EMU_HALF_OPS(__nv_bfloat16)
#undef CUDA_EMU_HALF_OPS

inline __half __float2half(float f) { return __half(f); }
inline __half __float2half_rn(float f) { return __half(f); }
inline float __half2float(__half h) { return float(h); }
inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 b) { return float(b); }
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline __half __ushort_as_half(unsigned short u) {
  __half h;
  h.__x = u;
  return h;
}
inline unsigned short __bfloat16_as_ushort(__nv_bfloat16 b) { return b.__x; }
inline __nv_bfloat16 __ushort_as_bfloat16(unsigned short u) {
  __nv_bfloat16 b;
  b.__x = u;
  return b;
}

// ---- additions by other helpers: append below, each in a block marked with its author ----------
