//! llama.cpp GGUF files as a [`TensorSource`]: tensors are read from the file and dequantized
//! one at a time, when the model asks for them, under their Hugging Face names.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::gguf_file::Content;
use candle_core::{DType, Device, Tensor};

use super::error::{Error, Result};
use super::gguf_config::config_from_gguf;
use super::gguf_names::{gguf_to_hf_name, unpermute_rows};
use crate::model::{Arch, ModelConfig, TensorSource};

/// An opened GGUF model: metadata and tensor directory in memory, tensor data on disk.
#[derive(Debug)]
pub struct GgufSource {
    path: PathBuf,
    content: Arc<Content>,
    config: ModelConfig,
    /// HF name → GGUF name.
    names: BTreeMap<String, String>,
}

/// Reads the metadata and tensor directory of a GGUF file.
pub(crate) fn read_content(path: &Path) -> Result<Content> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::new(file);
    super::gguf_header::read_gguf_header(&mut reader)
        .map_err(|e| Error::gguf(path, format!("not a readable GGUF file: {e}")))
}

impl GgufSource {
    /// Opens `path`, reads its metadata and checks that every tensor is one the decoder uses.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let content = read_content(&path)?;
        let config = config_from_gguf(&content, &path)?;
        let mut names = BTreeMap::new();
        for g in content.tensor_infos.keys() {
            match gguf_to_hf_name(g) {
                Some(h) => {
                    names.insert(h, g.clone());
                }
                None if g == "rope_freqs.weight" => {
                    return Err(Error::gguf(
                        &path,
                        "tensor `rope_freqs.weight` (Llama-3 rope scaling) is not supported",
                    ))
                }
                None => {
                    return Err(Error::gguf(
                        &path,
                        format!("tensor `{g}` is not supported by the decoder"),
                    ))
                }
            }
        }
        Ok(GgufSource {
            path,
            content: Arc::new(content),
            config,
            names,
        })
    }

    /// The configuration read from the metadata.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The GGUF file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Metadata and tensor directory (the tokenizer is built from this).
    pub fn content(&self) -> &Arc<Content> {
        &self.content
    }

    /// Rows of this tensor were permuted by llama.cpp's converter and how many heads they span.
    fn permuted_heads(&self, hf_name: &str) -> Option<usize> {
        if self.config.arch != Arch::Llama {
            return None;
        }
        let module = hf_name
            .strip_suffix(".weight")
            .or_else(|| hf_name.strip_suffix(".bias"))?;
        if module.ends_with("self_attn.q_proj") {
            Some(self.config.num_attention_heads)
        } else if module.ends_with("self_attn.k_proj") {
            Some(self.config.num_key_value_heads)
        } else {
            None
        }
    }
}

impl TensorSource for GgufSource {
    fn get(&self, name: &str, dtype: DType, device: &Device) -> crate::model::Result<Tensor> {
        use crate::model::Error as ME;
        let g = self
            .names
            .get(name)
            .ok_or_else(|| ME::MissingTensor(name.to_string()))?;
        let ctx = |e: candle_core::Error| {
            ME::Invalid(format!("{}: tensor `{g}`: {e}", self.path.display()))
        };
        // candle multiplies the dimensions unchecked; a damaged header must not overflow it.
        if let Some(info) = self.content.tensor_infos.get(g) {
            let dims = info.shape.dims();
            let (block, size) = (info.ggml_dtype.block_size(), info.ggml_dtype.type_size());
            let bytes = dims
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .and_then(|n| (n / block.max(1)).checked_mul(size));
            if bytes.is_none_or(|b| b > isize::MAX as usize) {
                return Err(ME::Invalid(format!(
                    "{}: tensor `{g}`: impossible dimensions {dims:?}",
                    self.path.display()
                )));
            }
        }
        let file = std::fs::File::open(&self.path).map_err(|source| ME::Io {
            path: self.path.clone(),
            source,
        })?;
        let mut reader = BufReader::new(file);
        let q = self
            .content
            .tensor(&mut reader, g, &Device::Cpu)
            .map_err(ctx)?;
        let mut t = q.dequantize(&Device::Cpu).map_err(ctx)?;
        if let Some(heads) = self.permuted_heads(name) {
            t = unpermute_rows(&t, heads).map_err(ctx)?;
        }
        Ok(t.to_dtype(dtype)?.to_device(device)?)
    }

    fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    fn names(&self) -> Vec<String> {
        self.names.keys().cloned().collect()
    }
}
