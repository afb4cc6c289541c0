//! [`ModelConfig`] from GGUF metadata (`general.architecture`, `<arch>.embedding_length`, ...).

use std::path::Path;

use candle_core::quantized::gguf_file::{Content, Value};

use super::error::{Error, Result};
use crate::model::{Arch, ModelConfig, RopeScaling};

fn uint(v: &Value) -> Option<u64> {
    match *v {
        Value::U8(x) => Some(x as u64),
        Value::U16(x) => Some(x as u64),
        Value::U32(x) => Some(x as u64),
        Value::U64(x) => Some(x),
        Value::I8(x) => u64::try_from(x).ok(),
        Value::I16(x) => u64::try_from(x).ok(),
        Value::I32(x) => u64::try_from(x).ok(),
        Value::I64(x) => u64::try_from(x).ok(),
        _ => None,
    }
}

/// GGUF stores floats as f32; `1e-5f32` widened is `9.99999974e-6`. Going through the shortest
/// decimal that round-trips the f32 recovers the value the converter was given.
fn float(v: &Value) -> Option<f64> {
    match *v {
        Value::F32(x) => x.to_string().parse().ok(),
        Value::F64(x) => Some(x),
        _ => uint(v).map(|x| x as f64),
    }
}

struct Meta<'a> {
    ct: &'a Content,
    file: &'a Path,
    arch: &'a str,
}

impl Meta<'_> {
    fn key(&self, k: &str) -> String {
        format!("{}.{k}", self.arch)
    }

    fn opt_uint(&self, k: &str) -> Result<Option<usize>> {
        let key = self.key(k);
        match self.ct.metadata.get(&key) {
            None => Ok(None),
            Some(v) => uint(v).map(|x| Some(x as usize)).ok_or_else(|| {
                Error::gguf(
                    self.file,
                    format!("metadata `{key}` = {v:?} is not a non-negative integer"),
                )
            }),
        }
    }

    fn req_uint(&self, k: &str) -> Result<usize> {
        self.opt_uint(k)?
            .ok_or_else(|| Error::gguf(self.file, format!("metadata `{}` is missing", self.key(k))))
    }

    fn opt_float(&self, k: &str) -> Result<Option<f64>> {
        let key = self.key(k);
        match self.ct.metadata.get(&key) {
            None => Ok(None),
            Some(v) => float(v).map(Some).ok_or_else(|| {
                Error::gguf(
                    self.file,
                    format!("metadata `{key}` = {v:?} is not a number"),
                )
            }),
        }
    }

    fn global_uint(&self, key: &str) -> Option<u64> {
        self.ct.metadata.get(key).and_then(uint)
    }
}

/// Reads the architecture hyper-parameters of a llama.cpp GGUF file (`file` only names it in
/// errors). Supported architectures: `llama`, `qwen2`, `qwen3`.
pub fn config_from_gguf(ct: &Content, file: &Path) -> Result<ModelConfig> {
    let arch_name = match ct.metadata.get("general.architecture") {
        Some(Value::String(s)) => s.as_str(),
        Some(v) => {
            return Err(Error::gguf(
                file,
                format!("metadata `general.architecture` = {v:?} is not a string"),
            ))
        }
        None => {
            return Err(Error::gguf(
                file,
                "metadata `general.architecture` is missing",
            ))
        }
    };
    let arch = Arch::from_model_type(arch_name).ok_or_else(|| {
        Error::gguf(
            file,
            format!("architecture `{arch_name}` is not supported (expected llama, qwen2 or qwen3)"),
        )
    })?;
    let m = Meta {
        ct,
        file,
        arch: arch_name,
    };
    let hidden_size = m.req_uint("embedding_length")?;
    let heads = m.req_uint("attention.head_count")?;
    if heads == 0 {
        return Err(Error::gguf(
            file,
            format!("metadata `{}` is 0", m.key("attention.head_count")),
        ));
    }
    let kv_heads = m.opt_uint("attention.head_count_kv")?.unwrap_or(heads);
    let head_dim = m
        .opt_uint("attention.key_length")?
        .unwrap_or(hidden_size / heads);
    if let Some(rot) = m.opt_uint("rope.dimension_count")? {
        if rot != head_dim {
            return Err(Error::gguf(
                file,
                format!(
                    "partial rotary embeddings (`{}` = {rot}, head dim {head_dim}) are not supported",
                    m.key("rope.dimension_count")
                ),
            ));
        }
    }
    if let Some(v) = ct.metadata.get(&m.key("rope.scaling.type")) {
        let kind = match v {
            Value::String(s) => s.as_str(),
            _ => "?",
        };
        if kind != "none" {
            return Err(Error::gguf(
                file,
                format!(
                    "rope scaling `{}` = {v:?} is not implemented (only the plain rotary embedding is)",
                    m.key("rope.scaling.type")
                ),
            ));
        }
    }
    let embd = ct
        .tensor_infos
        .get("token_embd.weight")
        .ok_or_else(|| Error::gguf(file, "tensor `token_embd.weight` is missing"))?;
    // The embedding rows are authoritative (llama.cpp pads `tokenizer.ggml.tokens` to the same
    // length when it converts, so both agree on real files).
    let vocab_size = match embd.shape.dims() {
        [v, _] => *v,
        d => {
            return Err(Error::gguf(
                file,
                format!("tensor `token_embd.weight` has shape {d:?}, expected [vocab, hidden]"),
            ))
        }
    };
    let has_q_bias = ct.tensor_infos.contains_key("blk.0.attn_q.bias");
    let cfg = ModelConfig {
        arch,
        vocab_size,
        hidden_size,
        intermediate_size: m.req_uint("feed_forward_length")?,
        num_hidden_layers: m.req_uint("block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        head_dim,
        rope_theta: m.opt_float("rope.freq_base")?.unwrap_or(10_000.0),
        rope_scaling: RopeScaling::None,
        rms_norm_eps: m
            .opt_float("attention.layer_norm_rms_epsilon")?
            .unwrap_or(1e-6),
        tie_word_embeddings: !ct.tensor_infos.contains_key("output.weight"),
        attention_bias: arch == Arch::Qwen2 || has_q_bias,
        max_position_embeddings: m.opt_uint("context_length")?.unwrap_or(32_768),
        bos_token_id: m
            .global_uint("tokenizer.ggml.bos_token_id")
            .map(|x| x as u32),
        eos_token_ids: m
            .global_uint("tokenizer.ggml.eos_token_id")
            .map(|x| vec![x as u32])
            .unwrap_or_default(),
    };
    if kv_heads == 0 || heads % kv_heads != 0 {
        return Err(Error::gguf(
            file,
            format!("{kv_heads} KV heads do not divide {heads} attention heads"),
        ));
    }
    if head_dim == 0 || head_dim % 2 != 0 {
        return Err(Error::gguf(
            file,
            format!("head dim {head_dim} must be even and > 0"),
        ));
    }
    cfg.validate(&file.display().to_string())?;
    Ok(cfg)
}
