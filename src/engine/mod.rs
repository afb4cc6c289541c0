//! Batched generation: many sequences at once with a KV cache, left padding, per-row positions,
//! per-row stop conditions, shared-prefix prefill, a prefix cache across calls and per-row LoRA
//! switching; plus the sampler (temperature / top-k / top-p, seeded per row) that reports
//! sampling log-probabilities, and token picking on the model's device (greedy, untruncated
//! sampling).

mod device_pick;
mod error;
mod generate;
mod prefix_cache;
mod sampler;
mod threads;

pub use error::{Error, Result};
pub use generate::{
    generate, generate_cached, generate_with_progress, FinishReason, GenConfig, GenOutput,
    GenRequest, Progress,
};
pub use prefix_cache::{PrefixCache, PrefixStats};
pub use sampler::{sample, sample_with, RowRng, SampleScratch, Sampled, SamplingParams};
pub use threads::{cpu_threads, set_cpu_threads};
