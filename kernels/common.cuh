// Shared by every kernels/*.cu (included, not compiled on its own): element/accumulator
// conversions, precise exp/log per accumulator type, and warp/block sums.
//
// Accumulator A: float for f32/f16/bf16 elements, double for f64.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

// The most threads per block any plan launches (src/kernels/plan.rs, MAX_BLOCK). Declared on
// every kernel whose plans size the block to the row (`__launch_bounds__(MAX_THREADS)`) so that
// ptxas keeps it launchable with that many threads (at most 64 registers per thread on
// sm_80/sm_90), also when the driver JIT-compiles the PTX for a newer GPU. The flash-attention
// kernels always run 128-thread blocks and declare that (`FA_THREADS`, flash_attn.cu).
#define MAX_THREADS 1024

#define WARP 32

__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 v) { return __bfloat162float(v); }

// Rounds an accumulator value to the element type (round to nearest even for the half types).
template <typename T, typename A> __device__ __forceinline__ T from_acc(A v) { return (T)v; }
template <> __device__ __forceinline__ __half from_acc<__half, float>(float v) {
  return __float2half(v);
}
template <> __device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16, float>(float v) {
  return __float2bfloat16(v);
}

// Precise (not fast-math) exp and log in the accumulator type.
__device__ __forceinline__ float acc_exp(float v) { return expf(v); }
__device__ __forceinline__ double acc_exp(double v) { return exp(v); }
__device__ __forceinline__ float acc_log(float v) { return logf(v); }
__device__ __forceinline__ double acc_log(double v) { return log(v); }

// The most negative finite value: a running max starts here, so a row of -inf never computes
// (-inf) - (-inf) = NaN; its sum stays 0 (softmax.cu: its output is 0).
template <typename A> __device__ __forceinline__ A lowest();
template <> __device__ __forceinline__ float lowest<float>() { return -3.402823466e+38f; }
template <> __device__ __forceinline__ double lowest<double>() {
  return -1.7976931348623157e+308;
}

// Sum of `v` over the 32 lanes of a full warp; every lane gets the result.
template <typename A> __device__ __forceinline__ A warp_sum(A v) {
  for (int off = WARP / 2; off > 0; off /= 2) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// Max of `v` over the 32 lanes of a full warp; every lane gets the result.
template <typename A> __device__ __forceinline__ A warp_max(A v) {
  for (int off = WARP / 2; off > 0; off /= 2) {
    const A o = __shfl_xor_sync(0xffffffffu, v, off);
    v = o > v ? o : v;
  }
  return v;
}

// Sum of `v` over the block (blockDim.x a multiple of 32, every thread present); every thread
// gets the result. `scratch` holds one value per warp.
template <typename A> __device__ __forceinline__ A block_sum(A v, A *scratch) {
  const int lane = threadIdx.x % WARP;
  const int warp = threadIdx.x / WARP;
  const int n_warps = (blockDim.x + WARP - 1) / WARP;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous block_sum
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  A total = lane < n_warps ? scratch[lane] : A(0);
  return warp_sum(total);
}
