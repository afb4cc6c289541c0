//! Our own trainable decoder (Qwen2/2.5, Qwen3, Llama) with LoRA adapters.
//!
//! Two forward flavours share one code path: [`Mode::Train`] uses only ops with a backward
//! (candle's fused softmax / rms-norm / rope silently cut gradients, DESIGN.md §5), while
//! [`Mode::Infer`] may use the fused kernels for speed.

mod batch;
mod checkpoint;
mod config;
mod decoder;
mod error;
mod frozen;
mod fused;
mod fused_lora;
mod kv_cache;
mod layers;
pub mod load;
mod logprobs;
mod lora;
mod mem;
mod selected_logsoftmax;
mod weights;

pub use batch::{AdapterUse, Batch, MLP_CHUNK_ELEMS};
pub use config::{Arch, ModelConfig, RopeScaling};
pub use decoder::{DecoderLayer, Model};
pub use error::{Error, Result};
pub use kv_cache::{KvCache, SeqKv};
pub use layers::{acc_dtype, Mode, RmsNorm, Rotary};
pub use logprobs::{token_logprobs, LogprobOptions};
pub use lora::{parse_targets, AdapterSnapshot, LoraConfig, LoraLinear, LoraPair, LoraTarget};
pub use mem::{current_rss_mb, peak_rss_mb};
pub use selected_logsoftmax::selected_log_softmax;
pub use weights::{RandomWeights, TensorMap, TensorSource};
