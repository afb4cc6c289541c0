//! Model loaders: Hugging Face directories (single or sharded safetensors), the local HF hub cache
//! (offline only) and llama.cpp GGUF files. Each gives a [`ModelConfig`] and a lazy
//! [`TensorSource`](super::TensorSource): a tensor is read and converted only when the model asks
//! for it, so a large checkpoint is never held twice in memory.
//!
//! [`ModelSource::resolve`] is the one entry point: it accepts a directory, a `.gguf` file or
//! `hf:org/name[@revision]`.

mod error;
mod gguf;
mod gguf_config;
mod gguf_header;
mod gguf_names;
mod hf_cache;
mod hf_dir;
mod source;

pub use error::{Error, Result};
pub use gguf::GgufSource;
pub use gguf_config::config_from_gguf;
pub(crate) use gguf_header::read_gguf_header;
pub use gguf_names::{gguf_to_hf_name, hf_to_gguf_name, unpermute_rows};
pub use hf_cache::{default_hf_cache_dir, resolve_in_cache};
pub use hf_dir::SafetensorsDir;
pub use source::{ModelSource, TokenizerFiles};
