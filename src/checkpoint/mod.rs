//! Checkpoint export and import in the formats other tools read:
//!
//! - [`peft`]: LoRA adapters in the PEFT layout (`adapter_model.safetensors` +
//!   `adapter_config.json`), loadable by `peft`, vLLM and mistral.rs, and back into a [`Model`].
//! - [`hf_export`]: a Hugging Face model directory (`config.json`, sharded safetensors with
//!   `model.safetensors.index.json`, `generation_config.json`, tokenizer files), with the adapter
//!   merged into the weights or not.
//!
//! Every file is written under a temporary name and renamed; directories are built in a temporary
//! sibling directory and renamed into place, so a killed process never leaves a half checkpoint.
//!
//! [`Model`]: crate::model::Model

mod atomic;
mod error;
pub mod hf_export;
pub mod peft;
mod st_io;

pub use atomic::{build_dir_atomic, write_file_atomic, write_json_atomic};
pub use error::{Error, Result};
pub use hf_export::{export_hf, HfExportOptions, HfExportSummary};
pub use peft::{load_peft, save_peft, PeftAdapterConfig, PeftSaveOptions};
pub use st_io::{read_safetensors, torch_dtype_name};
