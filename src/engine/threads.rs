//! CPU thread count of candle's kernels.
//!
//! candle runs matmuls (gemm) on rayon's global pool and large element-wise ops on its own
//! barrier pool. Both size themselves from `RAYON_NUM_THREADS` (candle also honours
//! `CANDLE_NUM_THREADS` for its pool) on first use; unset, rayon takes the logical CPUs and candle
//! the CPUs of the process's affinity mask (else the physical cores). gemm is told
//! `cpu_threads()` threads on every call.

/// Threads candle's CPU kernels will use.
pub fn cpu_threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// Asks candle to use `n` CPU threads. Must run at startup, before the first tensor operation
/// and before other threads exist (it sets process environment variables): the pools are sized
/// once. Returns the effective count ([`cpu_threads`]).
pub fn set_cpu_threads(n: usize) -> usize {
    if n > 0 {
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
    }
    cpu_threads()
}
