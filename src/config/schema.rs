//! The config schema. Every table rejects unknown keys; every enum lists its allowed values in the
//! parse error; numeric ranges are checked in [`Config::validate`].

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Error, Result};
use crate::model::LoraTarget;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub run: RunConfig,
    pub model: ModelSection,
    #[serde(default)]
    pub lora: LoraSection,
    #[serde(default)]
    pub generation: GenerationSection,
    #[serde(default)]
    pub synth: super::SynthSection,
    #[serde(default)]
    pub eval: super::EvalSection,
    /// Reward functions of GRPO (`[[rewards]]`; default: one gated reward).
    #[serde(default = "super::rewards::default_rewards")]
    pub rewards: Vec<super::RewardSpec>,
    /// GRPO options under TRL's `GRPOConfig` names.
    #[serde(default)]
    pub grpo: crate::grpo::GrpoOptions,
    #[serde(default)]
    pub train: super::TrainSection,
    #[serde(default, rename = "loop")]
    pub loop_: super::LoopSection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Run name: the run directory is `output_dir/name`.
    pub name: String,
    #[serde(default = "default_output_dir")]
    pub output_dir: String,
    /// Master seed; every stage derives its own stream from it.
    #[serde(default)]
    pub seed: u64,
    /// CPU threads for tensor ops (0 = all cores).
    #[serde(default)]
    pub threads: usize,
}

fn default_output_dir() -> String {
    "runs".to_string()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DTypeName {
    F32,
    Bf16,
    F16,
}

impl DTypeName {
    pub fn to_candle(self) -> candle_core::DType {
        match self {
            DTypeName::F32 => candle_core::DType::F32,
            DTypeName::Bf16 => candle_core::DType::BF16,
            DTypeName::F16 => candle_core::DType::F16,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Where the base model comes from: a Hugging Face directory, a `.gguf` file, `hf:org/name`
    /// (the local HF cache, never downloaded), or `asset:smollm2-135m-instruct` (fetched by
    /// `scripts/fetch-assets.sh`).
    pub source: String,
    /// Tokenizer directory or `tokenizer.json` file, when the model source has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
    #[serde(default = "default_dtype")]
    pub dtype: DTypeName,
    /// `cpu`, `cuda` or `cuda:N`.
    #[serde(default = "default_device")]
    pub device: String,
    /// Memory for the prefix cache of the in-process engine, in MiB (0 = off): keys/values of
    /// finished sequences kept so that a later prompt extending one (the next turn of an
    /// episode, another task over the same tools) is prefilled only from where they differ.
    #[serde(default = "default_prefix_cache_mb")]
    pub prefix_cache_mb: usize,
}

fn default_prefix_cache_mb() -> usize {
    1024
}

fn default_dtype() -> DTypeName {
    DTypeName::F32
}

fn default_device() -> String {
    "cpu".to_string()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraSection {
    #[serde(default = "default_r")]
    pub r: usize,
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Modules that get adapters (PEFT names).
    #[serde(default = "default_targets")]
    pub targets: Vec<LoraTarget>,
    #[serde(default)]
    pub use_rslora: bool,
    /// Layer indices that get adapters (PEFT's `layers_to_transform`); absent = every layer.
    /// The backward pass stops at the lowest adapted layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<usize>>,
}

fn default_r() -> usize {
    8
}
fn default_alpha() -> f64 {
    16.0
}
fn default_targets() -> Vec<LoraTarget> {
    LoraTarget::ALL.to_vec()
}

impl Default for LoraSection {
    fn default() -> Self {
        LoraSection {
            r: default_r(),
            alpha: default_alpha(),
            targets: default_targets(),
            use_rslora: false,
            layers: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationSection {
    #[serde(default = "default_max_new_tokens")]
    pub max_new_tokens: usize,
    /// 0 = greedy.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Nucleus sampling mass (1.0 = off).
    #[serde(default = "default_top_p")]
    pub top_p: f64,
    /// Keep the k most likely tokens (0 = off).
    #[serde(default)]
    pub top_k: usize,
}

fn default_max_new_tokens() -> usize {
    256
}
fn default_temperature() -> f64 {
    0.7
}
fn default_top_p() -> f64 {
    1.0
}

impl Default for GenerationSection {
    fn default() -> Self {
        GenerationSection {
            max_new_tokens: default_max_new_tokens(),
            temperature: default_temperature(),
            top_p: default_top_p(),
            top_k: 0,
        }
    }
}

pub(super) fn invalid(path: &Path, key: &str, value: impl ToString, reason: &str) -> Error {
    Error::Invalid {
        path: path.to_path_buf(),
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

impl Config {
    /// Range and consistency checks that the type system cannot express.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let name_ok = !self.run.name.is_empty()
            && self
                .run
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !self.run.name.starts_with('.');
        if !name_ok {
            return Err(invalid(
                path,
                "run.name",
                format!("{:?}", self.run.name),
                "use letters, digits, '-', '_' or '.' (not leading)",
            ));
        }
        if self.model.source.trim().is_empty() {
            return Err(invalid(
                path,
                "model.source",
                "\"\"",
                "must name a model directory, a .gguf file, hf:org/name or asset:NAME",
            ));
        }
        let dev = self.model.device.as_str();
        let dev_ok = dev == "cpu"
            || dev == "cuda"
            || dev
                .strip_prefix("cuda:")
                .is_some_and(|n| n.parse::<usize>().is_ok());
        if !dev_ok {
            return Err(invalid(
                path,
                "model.device",
                format!("{dev:?}"),
                "allowed: \"cpu\", \"cuda\", \"cuda:N\"",
            ));
        }
        if self.lora.r == 0 || self.lora.r > 4096 {
            return Err(invalid(
                path,
                "lora.r",
                self.lora.r,
                "must be in 1..=4096 (a rank beyond a layer's width adds nothing)",
            ));
        }
        // `!(x > 0)` also rejects NaN.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(self.lora.alpha > 0.0) {
            return Err(invalid(path, "lora.alpha", self.lora.alpha, "must be > 0"));
        }
        if self.lora.targets.is_empty() {
            return Err(invalid(path, "lora.targets", "[]", "name at least one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj"));
        }
        let mut seen = self.lora.targets.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != self.lora.targets.len() {
            return Err(invalid(
                path,
                "lora.targets",
                format!("{:?}", self.lora.targets),
                "a module is listed twice",
            ));
        }
        let g = &self.generation;
        if g.max_new_tokens == 0 {
            return Err(invalid(path, "generation.max_new_tokens", 0, "must be > 0"));
        }
        if !(g.temperature >= 0.0 && g.temperature.is_finite()) {
            return Err(invalid(
                path,
                "generation.temperature",
                g.temperature,
                "must be >= 0 (0 = greedy)",
            ));
        }
        if !(g.top_p > 0.0 && g.top_p <= 1.0) {
            return Err(invalid(
                path,
                "generation.top_p",
                g.top_p,
                "must be in (0, 1]",
            ));
        }
        self.synth.validate(path)?;
        self.eval.validate(path)?;
        super::rewards::validate_rewards(&self.rewards, path)?;
        self.train.validate(path)?;
        self.loop_.validate(path)?;
        if let Err(e) = self.grpo.validate() {
            let (key, reason) = match e {
                crate::grpo::Error::Config { field, msg } => (format!("grpo.{field}"), msg),
                other => ("grpo".to_string(), other.to_string()),
            };
            return Err(Error::Invalid {
                path: path.to_path_buf(),
                key,
                value: "(see reason)".into(),
                reason,
            });
        }
        Ok(())
    }

    pub fn lora_config(&self) -> crate::model::LoraConfig {
        crate::model::LoraConfig {
            r: self.lora.r,
            alpha: self.lora.alpha,
            targets: self.lora.targets.clone(),
            use_rslora: self.lora.use_rslora,
            seed: self.run.seed,
            layers: self.lora.layers.clone(),
        }
    }
}
