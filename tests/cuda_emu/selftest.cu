// Kernels that test the CUDA emulation itself (tests/cuda_emu/main.rs): 16-bit conversions,
// launch geometry, shared memory with __syncthreads, warp shuffles, atomics, and the errors the
// emulator must report. Plain CUDA: it also compiles with nvcc.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

#define FULL 0xffffffffu

__device__ __forceinline__ int gid() { return blockIdx.x * blockDim.x + threadIdx.x; }

extern "C" __global__ void f32_to_f16(const float *in, __half *out, int n) {
  const int i = gid();
  if (i < n) out[i] = __float2half(in[i]);
}
extern "C" __global__ void f16_to_f32(const __half *in, float *out, int n) {
  const int i = gid();
  if (i < n) out[i] = __half2float(in[i]);
}
extern "C" __global__ void f32_to_bf16(const float *in, __nv_bfloat16 *out, int n) {
  const int i = gid();
  if (i < n) out[i] = __float2bfloat16_rn(in[i]);
}
extern "C" __global__ void bf16_to_f32(const __nv_bfloat16 *in, float *out, int n) {
  const int i = gid();
  if (i < n) out[i] = __bfloat162float(in[i]);
}
extern "C" __global__ void f64_to_f16(const double *in, __half *out, int n) {
  const int i = gid();
  if (i < n) out[i] = __half(in[i]);
}
extern "C" __global__ void f64_to_bf16(const double *in, __nv_bfloat16 *out, int n) {
  const int i = gid();
  if (i < n) out[i] = __nv_bfloat16(in[i]);
}

// One record of 10 values per thread: blockIdx, threadIdx, blockDim, gridDim (x, y, z) and
// the linear thread index, at the thread's global linear position.
extern "C" __global__ void geometry(unsigned *out) {
  const unsigned block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  const unsigned t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  unsigned *r = out + 13 * (block * threads + t);
  const unsigned v[13] = {blockIdx.x, blockIdx.y, blockIdx.z, threadIdx.x, threadIdx.y,
                          threadIdx.z, blockDim.x, blockDim.y, blockDim.z, gridDim.x,
                          gridDim.y,   gridDim.z,  t};
  for (int k = 0; k < 13; ++k) r[k] = v[k];
}

// Per block: the sum of its slice of `in` by a shared-memory tree (blockDim.x a power of two),
// and every thread's view of the block's first element after a barrier.
extern "C" __global__ void block_tree_sum(const double *in, double *sums, double *seen, int n) {
  __shared__ double s[1024];
  const int i = gid();
  s[threadIdx.x] = i < n ? in[i] : 0.0;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) s[threadIdx.x] += s[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) sums[blockIdx.x] = s[0];
  if (i < n) seen[i] = s[0];
}

// Each thread's results of the four shuffles (value = 10·lane + 1 + 1000·warp) at
// out[4·thread + mode], mode: idx, up, down, xor.
extern "C" __global__ void shuffles(unsigned *out, int delta, int width) {
  const unsigned t = threadIdx.x;
  const unsigned v = 10 * (t % 32) + 1 + 1000 * (t / 32);
  out[4 * t + 0] = __shfl_sync(FULL, v, delta, width);
  out[4 * t + 1] = __shfl_up_sync(FULL, v, delta, width);
  out[4 * t + 2] = __shfl_down_sync(FULL, v, delta, width);
  out[4 * t + 3] = __shfl_xor_sync(FULL, v, delta, width);
}

// A butterfly sum of doubles, halves and bf16 over each warp (all lanes get the warp's sum).
extern "C" __global__ void warp_sums(const double *in, double *out, __half *out_h,
                                     __nv_bfloat16 *out_b) {
  const int i = gid();
  double v = in[i];
  __half h = __float2half(float(in[i]));
  __nv_bfloat16 b = __float2bfloat16(float(in[i]));
  for (int off = 16; off > 0; off /= 2) {
    v += __shfl_xor_sync(FULL, v, off);
    h = __float2half(__half2float(h) + __half2float(__shfl_xor_sync(FULL, h, off)));
    b = __float2bfloat16(__bfloat162float(b) + __bfloat162float(__shfl_xor_sync(FULL, b, off)));
  }
  __syncwarp();
  out[i] = v;
  out_h[i] = h;
  out_b[i] = b;
}

// Every thread adds 1 to counter[0] and in[i] to total[0].
extern "C" __global__ void atomics(const float *in, unsigned *counter, float *total, int n) {
  const int i = gid();
  atomicAdd(counter, 1u);
  if (i < n) atomicAdd(total, in[i]);
}

// Misuse the emulator must report: a partial mask, and a shuffle after lanes returned.
extern "C" __global__ void partial_mask(float *out) {
  out[threadIdx.x] = __shfl_down_sync(0x0000ffffu, 1.0f, 1);
}
extern "C" __global__ void shuffle_after_return(float *out) {
  if (threadIdx.x % 32 >= 16) return;
  out[threadIdx.x] = __shfl_down_sync(FULL, 1.0f, 1);
}
extern "C" __global__ void shuffle_plain(float *out) {
  out[threadIdx.x] = __shfl_xor_sync(FULL, float(threadIdx.x), 1);
}

// Votes: out[3·t + k] = ballot(lane % 3 == 0), any(lane == 5), all(lane < 31); and the largest
// lane·7 % 32 of the block by atomicMax, and a CAS that only the first thread wins.
extern "C" __global__ void votes(unsigned *out, unsigned *max_out, unsigned *cas_winner) {
  const unsigned t = threadIdx.x, lane = t % 32;
  out[3 * t + 0] = __ballot_sync(FULL, lane % 3 == 0);
  out[3 * t + 1] = __any_sync(FULL, lane == 5);
  out[3 * t + 2] = __all_sync(FULL, lane < 31);
  atomicMax(max_out, (t * 7) % 32);
  atomicCAS(cas_winner, 0u, t + 1);
}

// Warp matrix functions (include/mma.h), one warp: d = 2 (a b + c) for 16 x 16 tiles with a
// row-major (a_col = 0) or column-major a, a column-major b (b[n·16 + k] = B(k, n)) and a
// column-major c; the doubling goes through the fragment's elements (x[i]), which is valid
// whatever lane holds which element. `a_off` shifts a's pointer and `ldm` is a's leading
// dimension (misuse tests).
#include <mma.h>
extern "C" __global__ void wmma_tile(const __half *a, const __half *b, const float *c, float *d,
                                     int a_col, int a_off, int ldm) {
  using namespace nvcuda;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
  wmma::load_matrix_sync(fb, b, 16);
  wmma::load_matrix_sync(acc, c, 16, wmma::mem_col_major);
  if (a_col) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::col_major> fa;
    wmma::load_matrix_sync(fa, a + a_off, ldm);
    wmma::mma_sync(acc, fa, fb, acc);
  } else {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
    wmma::load_matrix_sync(fa, a + a_off, ldm);
    wmma::mma_sync(acc, fa, fb, acc);
  }
  for (int i = 0; i < acc.num_elements; ++i) acc.x[i] *= 2.0f;
  wmma::store_matrix_sync(d, acc, 16, wmma::mem_row_major);
}

// Which element each lane's x[i] is: x[i] = 8·lane + i stored row-major.
extern "C" __global__ void wmma_layout(float *out) {
  using namespace nvcuda;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> f;
  for (int i = 0; i < f.num_elements; ++i) f.x[i] = float(8 * (threadIdx.x % 32) + i);
  wmma::store_matrix_sync(out, f, 16, wmma::mem_row_major);
}
