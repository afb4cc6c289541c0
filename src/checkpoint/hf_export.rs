//! A Hugging Face model directory from a [`Model`]: `config.json`, weights in
//! `model-0000N-of-0000M.safetensors` shards with `model.safetensors.index.json` (a single
//! `model.safetensors` when everything fits in one shard, as transformers does),
//! `generation_config.json`, and `tokenizer.json` + `tokenizer_config.json` when a tokenizer is
//! given. Adapters can be merged into the weights (`W + s·B·A`, computed in f32 one tensor at a
//! time while the shard is written) or left out.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};
use serde_json::{json, Map, Value};

use super::atomic::{build_dir_atomic, write_file_atomic, write_json_atomic};
use super::error::{Error, Result};
use super::st_io::{torch_dtype_name, write_safetensors, PendingTensor};
use crate::chat::Tokenizer;
use crate::model::{LoraLinear, Model};

/// transformers' default `max_shard_size` ("5GB").
pub const DEFAULT_MAX_SHARD_BYTES: u64 = 5_000_000_000;

/// How to export.
#[derive(Debug, Clone)]
pub struct HfExportOptions<'a> {
    /// On-disk dtype of the weights; `None` keeps the model's dtype.
    pub dtype: Option<DType>,
    /// Largest shard in bytes (a single larger tensor gets a shard of its own).
    pub max_shard_bytes: u64,
    /// `true`: fold attached adapters into the weights; `false`: write the base weights.
    pub merge_adapter: bool,
    /// Tokenizer to write next to the weights.
    pub tokenizer: Option<&'a Tokenizer>,
    /// Replace an existing directory.
    pub overwrite: bool,
}

impl Default for HfExportOptions<'_> {
    fn default() -> Self {
        HfExportOptions {
            dtype: None,
            max_shard_bytes: DEFAULT_MAX_SHARD_BYTES,
            merge_adapter: true,
            tokenizer: None,
            overwrite: false,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, PartialEq)]
pub struct HfExportSummary {
    /// Weight files, in order.
    pub weight_files: Vec<PathBuf>,
    /// Sum of the tensor sizes in bytes (`metadata.total_size` of the index).
    pub total_size: u64,
}

/// `ΔW = s · B A` in f32.
fn delta_f32(lin: &LoraLinear) -> Result<Option<Tensor>> {
    let Some(l) = lin.lora() else {
        return Ok(None);
    };
    let b = l.b.as_tensor().to_dtype(DType::F32)?;
    let a = l.a.as_tensor().to_dtype(DType::F32)?;
    Ok(Some((b.matmul(&a)? * l.scale)?))
}

/// The weight of `lin` as exported: merged or base, whatever its current merge state.
fn export_weight(lin: &LoraLinear, merge: bool) -> Result<Tensor> {
    let w = lin.weight();
    let Some(d) = delta_f32(lin)? else {
        return Ok(w.clone());
    };
    let out = match (lin.is_merged(), merge) {
        (false, false) | (true, true) => return Ok(w.clone()),
        (false, true) => (w.to_dtype(DType::F32)? + d)?,
        (true, false) => (w.to_dtype(DType::F32)? - d)?,
    };
    Ok(out.to_dtype(w.dtype())?)
}

fn shard_name(i: usize, n: usize) -> String {
    if n == 1 {
        "model.safetensors".into()
    } else {
        format!("model-{:05}-of-{:05}.safetensors", i + 1, n)
    }
}

/// Splits tensors (in order) into shards of at most `max` bytes.
fn plan_shards(sizes: &[usize], max: u64) -> Vec<Vec<usize>> {
    let mut shards: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = 0u64;
    for (i, &s) in sizes.iter().enumerate() {
        let s = s as u64;
        if !current.is_empty() && bytes + s > max {
            shards.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push(i);
        bytes += s;
    }
    if !current.is_empty() {
        shards.push(current);
    }
    shards
}

/// Exports `model` as a Hugging Face model directory `out` (built in a temporary directory and
/// renamed into place).
pub fn export_hf(model: &Model, out: &Path, opts: &HfExportOptions<'_>) -> Result<HfExportSummary> {
    let dtype = opts.dtype.unwrap_or(model.dtype());
    let dtype_name = torch_dtype_name(dtype)?;
    if opts.max_shard_bytes == 0 {
        return Err(Error::Adapter("max shard size must be > 0".into()));
    }
    let linears: HashMap<String, &LoraLinear> = model
        .linears()
        .map(|(_, l)| (format!("{}.weight", l.path), l))
        .collect();
    let merge = opts.merge_adapter;
    let tensors: Vec<PendingTensor<'_>> = model
        .named_weights()
        .into_iter()
        .map(|(name, t)| {
            let shape = t.dims().to_vec();
            let make: Box<dyn Fn() -> Result<Tensor> + '_> = match linears.get(&name) {
                Some(&lin) => Box::new(move || export_weight(lin, merge)),
                None => Box::new(move || Ok(t.clone())),
            };
            PendingTensor {
                name,
                dtype,
                shape,
                make,
            }
        })
        .collect();
    let sizes: Vec<usize> = tensors.iter().map(PendingTensor::byte_len).collect();
    let total_size: u64 = sizes.iter().map(|&s| s as u64).sum();
    let shards = plan_shards(&sizes, opts.max_shard_bytes);
    let n = shards.len();
    let config = model.config().to_hf_json(dtype_name);
    let generation = generation_config(model);
    let tok_files = opts
        .tokenizer
        .map(|t| tokenizer_files(t, model.config().max_position_embeddings))
        .transpose()?;

    let mut weight_map = BTreeMap::new();
    for (i, shard) in shards.iter().enumerate() {
        for &j in shard {
            if let Some(t) = tensors.get(j) {
                weight_map.insert(t.name.clone(), shard_name(i, n));
            }
        }
    }
    build_dir_atomic(out, opts.overwrite, |tmp| {
        for (i, shard) in shards.iter().enumerate() {
            // Only this shard's tensors are computed, while its file is written.
            let mut part: Vec<PendingTensor<'_>> = Vec::with_capacity(shard.len());
            for &j in shard {
                if let Some(t) = tensors.get(j) {
                    let make = &t.make;
                    part.push(PendingTensor {
                        name: t.name.clone(),
                        dtype: t.dtype,
                        shape: t.shape.clone(),
                        make: Box::new(make),
                    });
                }
            }
            write_safetensors(&tmp.join(shard_name(i, n)), &part)?;
        }
        if n > 1 {
            write_json_atomic(
                &tmp.join("model.safetensors.index.json"),
                &json!({
                    "metadata": { "total_size": total_size },
                    "weight_map": weight_map,
                }),
            )?;
        }
        write_json_atomic(&tmp.join("config.json"), &config)?;
        write_json_atomic(&tmp.join("generation_config.json"), &generation)?;
        if let Some((tokenizer_json, tokenizer_config)) = &tok_files {
            write_file_atomic(&tmp.join("tokenizer.json"), tokenizer_json.as_bytes())?;
            write_json_atomic(&tmp.join("tokenizer_config.json"), tokenizer_config)?;
        }
        Ok(())
    })?;
    Ok(HfExportSummary {
        weight_files: (0..n).map(|i| out.join(shard_name(i, n))).collect(),
        total_size,
    })
}

fn generation_config(model: &Model) -> Value {
    let cfg = model.config();
    let mut m = Map::new();
    if let Some(b) = cfg.bos_token_id {
        m.insert("bos_token_id".into(), json!(b));
    }
    match cfg.eos_token_ids.as_slice() {
        [] => {}
        [one] => {
            m.insert("eos_token_id".into(), json!(one));
        }
        many => {
            m.insert("eos_token_id".into(), json!(many));
        }
    }
    Value::Object(m)
}

/// `tokenizer.json` text and the `tokenizer_config.json` document (special tokens, added tokens,
/// chat template(s)).
fn tokenizer_files(tok: &Tokenizer, max_len: usize) -> Result<(String, Value)> {
    let text = tok
        .inner()
        .to_string(false)
        .map_err(|e| Error::Tokenizer(format!("cannot serialize tokenizer.json: {e}")))?;
    let mut added: Vec<(u32, tokenizers::AddedToken)> =
        tok.inner().get_added_tokens_decoder().into_iter().collect();
    added.sort_by_key(|(id, _)| *id);
    let mut decoder = Map::new();
    for (id, t) in added {
        decoder.insert(
            id.to_string(),
            json!({
                "content": t.content,
                "lstrip": t.lstrip,
                "normalized": t.normalized,
                "rstrip": t.rstrip,
                "single_word": t.single_word,
                "special": t.special,
            }),
        );
    }
    let mut m = Map::new();
    m.insert("added_tokens_decoder".into(), Value::Object(decoder));
    for (k, v) in tok.special_tokens() {
        m.insert(k.clone(), json!(v));
    }
    let named: Vec<(&str, &str)> = ["default", "tool_use", "rag"]
        .into_iter()
        .filter_map(|n| tok.chat_template_source(Some(n)).map(|s| (n, s)))
        .collect();
    match named.as_slice() {
        [] => {}
        [("default", src)] => {
            m.insert("chat_template".into(), json!(src));
        }
        many => {
            let list: Vec<Value> = many
                .iter()
                .map(|(n, s)| json!({"name": n, "template": s}))
                .collect();
            m.insert("chat_template".into(), Value::Array(list));
        }
    }
    m.insert("clean_up_tokenization_spaces".into(), json!(false));
    m.insert("model_max_length".into(), json!(max_len));
    m.insert("tokenizer_class".into(), json!("PreTrainedTokenizerFast"));
    Ok((text, Value::Object(m)))
}

#[cfg(test)]
mod tests {
    use super::plan_shards;

    #[test]
    fn shards_respect_the_limit() {
        assert_eq!(
            plan_shards(&[4, 4, 4, 10, 1], 8),
            vec![vec![0, 1], vec![2], vec![3], vec![4]]
        );
        assert_eq!(plan_shards(&[1, 2, 3], 100), vec![vec![0, 1, 2]]);
    }
}
