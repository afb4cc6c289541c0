//! Architecture hyper-parameters, read from a Hugging Face `config.json` (transformers 4 or 5 form)
//! and written back in the transformers 4 form on export.

use serde_json::{json, Map, Value};

use super::error::{Error, Result};

/// The decoder families we implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// Qwen2 / Qwen2.5: q/k/v projections carry a bias.
    Qwen2,
    /// Qwen3: no q/k/v bias, per-head RMSNorm on queries and keys, explicit `head_dim`.
    Qwen3,
    /// Llama (SmolLM2 and friends): optional attention bias, no q/k norms.
    Llama,
}

impl Arch {
    pub fn model_type(self) -> &'static str {
        match self {
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Llama => "llama",
        }
    }

    fn hf_class(self) -> &'static str {
        match self {
            Arch::Qwen2 => "Qwen2ForCausalLM",
            Arch::Qwen3 => "Qwen3ForCausalLM",
            Arch::Llama => "LlamaForCausalLM",
        }
    }

    pub fn from_model_type(s: &str) -> Option<Arch> {
        match s {
            "qwen2" => Some(Arch::Qwen2),
            "qwen3" => Some(Arch::Qwen3),
            "llama" => Some(Arch::Llama),
            _ => None,
        }
    }
}

/// RoPE frequency scaling. Only the plain rotary embedding is implemented; other schemes are
/// rejected at load time rather than silently computed wrong.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum RopeScaling {
    None,
}

/// Everything the decoder needs to know about its shape.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelConfig {
    pub arch: Arch,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub rms_norm_eps: f64,
    pub tie_word_embeddings: bool,
    /// Bias on the q/k/v projections (always on for Qwen2, off for Qwen3, optional for Llama).
    pub attention_bias: bool,
    pub max_position_embeddings: usize,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
}

fn get_usize(m: &Map<String, Value>, file: &str, key: &str) -> Result<usize> {
    match m.get(key) {
        Some(v) => v.as_u64().map(|x| x as usize).ok_or_else(|| {
            Error::config(
                file,
                key,
                format!("expected a non-negative integer, got {v}"),
            )
        }),
        None => Err(Error::config(file, key, "missing")),
    }
}

fn opt_usize(m: &Map<String, Value>, file: &str, key: &str) -> Result<Option<usize>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => get_usize(m, file, key).map(Some),
    }
}

/// Optional number at `m[key]`; errors name the field as `shown`.
fn opt_f64_at(m: &Map<String, Value>, file: &str, key: &str, shown: &str) -> Result<Option<f64>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| Error::config(file, shown, format!("expected a number, got {v}"))),
    }
}

fn opt_f64(m: &Map<String, Value>, file: &str, key: &str) -> Result<Option<f64>> {
    opt_f64_at(m, file, key, key)
}

fn opt_bool(m: &Map<String, Value>, file: &str, key: &str) -> Result<Option<bool>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(Error::config(
            file,
            key,
            format!("expected true/false, got {v}"),
        )),
    }
}

fn token_ids(v: Option<&Value>, file: &str, key: &str) -> Result<Vec<u32>> {
    let bad = || Error::config(file, key, "expected a token id or a list of token ids");
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Number(n)) => Ok(vec![n.as_u64().ok_or_else(bad)? as u32]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_u64().map(|x| x as u32).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

impl ModelConfig {
    /// Parses a Hugging Face `config.json`. `file` is only used in error messages.
    ///
    /// Accepts both the transformers 4 form (`rope_theta`, `rope_scaling`, `torch_dtype`) and the
    /// transformers 5 form (`rope_parameters.{rope_theta,rope_type}`, `dtype`, `sliding_window: null`).
    pub fn from_hf_json(text: &str, file: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Error::config(file, "<root>", format!("invalid JSON: {e}")))?;
        let m = v
            .as_object()
            .ok_or_else(|| Error::config(file, "<root>", "expected a JSON object"))?;
        let model_type = m.get("model_type").and_then(Value::as_str).ok_or_else(|| {
            Error::config(
                file,
                "model_type",
                "missing (expected one of qwen2, qwen3, llama)",
            )
        })?;
        let arch = Arch::from_model_type(model_type).ok_or_else(|| {
            Error::config(
                file,
                "model_type",
                format!("`{model_type}` is not supported (expected one of qwen2, qwen3, llama)"),
            )
        })?;
        let hidden_size = get_usize(m, file, "hidden_size")?;
        let num_attention_heads = get_usize(m, file, "num_attention_heads")?;
        if num_attention_heads == 0 {
            return Err(Error::config(file, "num_attention_heads", "must be > 0"));
        }
        let num_key_value_heads =
            opt_usize(m, file, "num_key_value_heads")?.unwrap_or(num_attention_heads);
        if num_key_value_heads == 0 || num_attention_heads % num_key_value_heads != 0 {
            return Err(Error::config(
                file,
                "num_key_value_heads",
                format!("{num_key_value_heads} must be > 0 and divide num_attention_heads = {num_attention_heads}"),
            ));
        }
        let head_dim = opt_usize(m, file, "head_dim")?.unwrap_or(hidden_size / num_attention_heads);
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(Error::config(
                file,
                "head_dim",
                format!("{head_dim} must be even and > 0"),
            ));
        }

        // transformers 5 moves rope settings into `rope_parameters`.
        let rope_params = m.get("rope_parameters").and_then(Value::as_object);
        let rope_theta = match rope_params {
            Some(p) => opt_f64_at(p, file, "rope_theta", "rope_parameters.rope_theta")?,
            None => None,
        }
        .or(opt_f64(m, file, "rope_theta")?)
        .unwrap_or(10_000.0);
        let rope_type = rope_params
            .and_then(|p| p.get("rope_type").or_else(|| p.get("type")))
            .or_else(|| {
                m.get("rope_scaling")
                    .and_then(Value::as_object)
                    .and_then(|s| s.get("rope_type").or_else(|| s.get("type")))
            })
            .and_then(Value::as_str)
            .unwrap_or("default");
        if rope_type != "default" {
            return Err(Error::config(
                file,
                "rope_scaling",
                format!("rope type `{rope_type}` is not implemented (only the default rotary embedding is)"),
            ));
        }

        let attention_bias = match arch {
            Arch::Qwen2 => true,
            Arch::Qwen3 => opt_bool(m, file, "attention_bias")?.unwrap_or(false),
            Arch::Llama => opt_bool(m, file, "attention_bias")?.unwrap_or(false),
        };
        let cfg = ModelConfig {
            arch,
            vocab_size: get_usize(m, file, "vocab_size")?,
            hidden_size,
            intermediate_size: get_usize(m, file, "intermediate_size")?,
            num_hidden_layers: get_usize(m, file, "num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rope_theta,
            rope_scaling: RopeScaling::None,
            rms_norm_eps: opt_f64(m, file, "rms_norm_eps")?.unwrap_or(1e-6),
            tie_word_embeddings: opt_bool(m, file, "tie_word_embeddings")?.unwrap_or(false),
            attention_bias,
            max_position_embeddings: opt_usize(m, file, "max_position_embeddings")?
                .unwrap_or(32_768),
            bos_token_id: token_ids(m.get("bos_token_id"), file, "bos_token_id")?
                .first()
                .copied(),
            eos_token_ids: token_ids(m.get("eos_token_id"), file, "eos_token_id")?,
        };
        cfg.validate(file)?;
        Ok(cfg)
    }

    /// Structural sanity checks (also used for configs built in code).
    pub fn validate(&self, file: &str) -> Result<()> {
        for (k, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
        ] {
            if v == 0 {
                return Err(Error::config(file, k, "must be > 0"));
            }
        }
        if self.rms_norm_eps <= 0.0 || !self.rms_norm_eps.is_finite() {
            return Err(Error::config(
                file,
                "rms_norm_eps",
                format!("{} must be a positive number", self.rms_norm_eps),
            ));
        }
        if self.rope_theta <= 0.0 || !self.rope_theta.is_finite() {
            return Err(Error::config(
                file,
                "rope_theta",
                format!("{} must be a positive number", self.rope_theta),
            ));
        }
        Ok(())
    }

    pub fn q_dim(&self) -> usize {
        self.num_attention_heads * self.head_dim
    }

    pub fn kv_dim(&self) -> usize {
        self.num_key_value_heads * self.head_dim
    }

    /// Number of parameters of the base model.
    pub fn num_parameters(&self) -> usize {
        let h = self.hidden_size;
        let attn = h * self.q_dim()
            + 2 * h * self.kv_dim()
            + self.q_dim() * h
            + if self.attention_bias {
                self.q_dim() + 2 * self.kv_dim()
            } else {
                0
            }
            + if self.arch == Arch::Qwen3 {
                2 * self.head_dim
            } else {
                0
            };
        let mlp = 3 * h * self.intermediate_size;
        let layer = attn + mlp + 2 * h;
        let embed = self.vocab_size * h;
        embed
            + self.num_hidden_layers * layer
            + h
            + if self.tie_word_embeddings { 0 } else { embed }
    }

    /// The `config.json` written next to exported weights (transformers 4 form, which
    /// transformers 5 also reads).
    pub fn to_hf_json(&self, torch_dtype: &str) -> Value {
        let mut v = json!({
            "architectures": [self.arch.hf_class()],
            "model_type": self.arch.model_type(),
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "head_dim": self.head_dim,
            "hidden_act": "silu",
            "rope_theta": self.rope_theta,
            "rope_scaling": null,
            "rms_norm_eps": self.rms_norm_eps,
            "tie_word_embeddings": self.tie_word_embeddings,
            "max_position_embeddings": self.max_position_embeddings,
            "torch_dtype": torch_dtype,
            "use_cache": true,
        });
        if let Some(o) = v.as_object_mut() {
            if let Some(b) = self.bos_token_id {
                o.insert("bos_token_id".into(), json!(b));
            }
            match self.eos_token_ids.as_slice() {
                [] => {}
                [one] => {
                    o.insert("eos_token_id".into(), json!(one));
                }
                many => {
                    o.insert("eos_token_id".into(), json!(many));
                }
            }
            match self.arch {
                Arch::Llama => {
                    o.insert("attention_bias".into(), json!(self.attention_bias));
                    o.insert("mlp_bias".into(), json!(false));
                }
                Arch::Qwen3 => {
                    o.insert("attention_bias".into(), json!(false));
                }
                Arch::Qwen2 => {}
            }
            if self.arch != Arch::Llama {
                o.insert("use_sliding_window".into(), json!(false));
                o.insert("sliding_window".into(), Value::Null);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QWEN2_V4: &str = r#"{"model_type":"qwen2","vocab_size":64,"hidden_size":32,"intermediate_size":48,
        "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"rope_theta":1000000.0,
        "rms_norm_eps":1e-6,"tie_word_embeddings":true,"eos_token_id":[1,2]}"#;

    #[test]
    fn parses_v4_and_v5_rope_forms() {
        let c4 = ModelConfig::from_hf_json(QWEN2_V4, "c.json").unwrap();
        assert_eq!(c4.rope_theta, 1e6);
        assert_eq!(c4.head_dim, 8);
        assert!(c4.attention_bias);
        assert_eq!(c4.eos_token_ids, vec![1, 2]);
        let v5 = QWEN2_V4.replace(r#""rope_theta":1000000.0,"#, r#""rope_parameters":{"rope_theta":5000.0,"rope_type":"default"},"sliding_window":null,"dtype":"bfloat16","#);
        let c5 = ModelConfig::from_hf_json(&v5, "c.json").unwrap();
        assert_eq!(c5.rope_theta, 5000.0);
    }

    #[test]
    fn errors_name_file_and_field() {
        let bad = QWEN2_V4.replace(r#""num_key_value_heads":2"#, r#""num_key_value_heads":3"#);
        let e = ModelConfig::from_hf_json(&bad, "x/config.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x/config.json") && e.contains("num_key_value_heads"),
            "{e}"
        );
        let bad = QWEN2_V4.replace("qwen2", "gpt2");
        let e = ModelConfig::from_hf_json(&bad, "c.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("gpt2") && e.contains("model_type"), "{e}");
        let bad = QWEN2_V4.replace(
            r#""rope_theta":1000000.0,"#,
            r#""rope_scaling":{"type":"yarn","factor":4.0},"#,
        );
        let e = ModelConfig::from_hf_json(&bad, "c.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("yarn"), "{e}");
    }

    #[test]
    fn hf_json_round_trip() {
        let c = ModelConfig::from_hf_json(QWEN2_V4, "c.json").unwrap();
        let back =
            ModelConfig::from_hf_json(&c.to_hf_json("float32").to_string(), "c.json").unwrap();
        assert_eq!(c, back);
    }
}
