//! GRPO options, named (and defaulted) as TRL 1.16's `GRPOConfig`.

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

/// How the loss is aggregated over tokens (TRL `loss_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossType {
    /// Per-sequence token mean, then the batch mean.
    Grpo,
    /// Token sum over the micro-batch / its loss tokens.
    Bnpo,
    /// Token sum / (B · `max_completion_length`).
    DrGrpo,
    /// Token sum / loss tokens of the whole optimizer-step batch (TRL's default).
    Dapo,
}

/// How rewards are scaled into advantages (TRL `scale_rewards`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleRewards {
    /// Divide by the group's standard deviation (TRL's default).
    Group,
    /// Divide by the standard deviation over the whole batch (the mean stays per group).
    Batch,
    /// No division: `A = r − mean(group)` (Dr. GRPO).
    None,
}

/// Whether the importance ratio is per token or per sequence (TRL `importance_sampling_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportanceSamplingLevel {
    Token,
    /// GSPO: `exp(mean over loss tokens of the log-ratio)`, broadcast over the sequence.
    Sequence,
}

/// GRPO options. Field names and defaults follow TRL 1.16's `GRPOConfig`; the last two are ours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpoOptions {
    /// Completions sampled per prompt (the group size G).
    #[serde(default = "default_num_generations")]
    pub num_generations: usize,
    /// Weight of the k3 KL penalty to the adapter-off reference; 0 disables it.
    #[serde(default)]
    pub beta: f64,
    /// Lower clipping range: the ratio is clipped to `[1 − epsilon, 1 + epsilon_high]`.
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
    /// Upper clipping range; `None` = `epsilon`.
    #[serde(default)]
    pub epsilon_high: Option<f64>,
    #[serde(default = "default_loss_type")]
    pub loss_type: LossType,
    #[serde(default = "default_scale_rewards")]
    pub scale_rewards: ScaleRewards,
    #[serde(default = "default_is_level")]
    pub importance_sampling_level: ImportanceSamplingLevel,
    /// Policy updates per generated batch; with 1, `old_logp = logp.detach()`.
    #[serde(default = "default_num_iterations")]
    pub num_iterations: usize,
    /// Completions that hit `max_completion_length` without an EOS get no loss (the rollout
    /// applies it with [`is_truncated`](super::is_truncated) and [`mask_truncated`](super::mask_truncated)).
    #[serde(default)]
    pub mask_truncated_completions: bool,
    /// Completion length budget (the `dr_grpo` normalizer).
    #[serde(default = "default_max_completion_length")]
    pub max_completion_length: usize,
    /// Sampling temperature; log-probs are computed from logits / temperature.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Multiply the per-token KL by the importance ratio (TRL's default since it follows
    /// DeepSeek-V3.2); changes the KL gradient even on-policy.
    #[serde(default = "default_true")]
    pub use_bias_correction_kl: bool,
    /// Ours (DAPO dynamic sampling): drop groups whose rewards have zero spread.
    #[serde(default)]
    pub drop_zero_std_groups: bool,
    /// Ours (DESIGN.md §4): the per-token log-ratio is clamped to ±this before `exp`. TRL 1.16 does
    /// not clamp in its GRPO path; values agree whenever |log-ratio| stays below the bound.
    #[serde(default = "default_log_ratio_clamp")]
    pub log_ratio_clamp: f64,
}

fn default_num_generations() -> usize {
    8
}
fn default_epsilon() -> f64 {
    0.2
}
fn default_loss_type() -> LossType {
    LossType::Dapo
}
fn default_scale_rewards() -> ScaleRewards {
    ScaleRewards::Group
}
fn default_is_level() -> ImportanceSamplingLevel {
    ImportanceSamplingLevel::Token
}
fn default_num_iterations() -> usize {
    1
}
fn default_max_completion_length() -> usize {
    512
}
fn default_temperature() -> f64 {
    1.0
}
fn default_true() -> bool {
    true
}
fn default_log_ratio_clamp() -> f64 {
    20.0
}

impl Default for GrpoOptions {
    fn default() -> Self {
        GrpoOptions {
            num_generations: default_num_generations(),
            beta: 0.0,
            epsilon: default_epsilon(),
            epsilon_high: None,
            loss_type: default_loss_type(),
            scale_rewards: default_scale_rewards(),
            importance_sampling_level: default_is_level(),
            num_iterations: default_num_iterations(),
            mask_truncated_completions: false,
            max_completion_length: default_max_completion_length(),
            temperature: default_temperature(),
            use_bias_correction_kl: true,
            drop_zero_std_groups: false,
            log_ratio_clamp: default_log_ratio_clamp(),
        }
    }
}

impl GrpoOptions {
    /// `(epsilon_low, epsilon_high)` as TRL resolves them.
    pub fn clip_range(&self) -> (f64, f64) {
        (self.epsilon, self.epsilon_high.unwrap_or(self.epsilon))
    }

    /// Checks ranges; errors name the offending field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, msg: String| Err(Error::Config { field, msg });
        if self.num_generations == 0 {
            return bad("num_generations", "must be ≥ 1".into());
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return bad("beta", format!("must be finite and ≥ 0, got {}", self.beta));
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0 && self.epsilon < 1.0) {
            return bad(
                "epsilon",
                format!("must be in (0, 1), got {}", self.epsilon),
            );
        }
        if let Some(e) = self.epsilon_high {
            if !(e.is_finite() && e > 0.0) {
                return bad("epsilon_high", format!("must be finite and > 0, got {e}"));
            }
        }
        if self.num_iterations == 0 {
            return bad("num_iterations", "must be ≥ 1".into());
        }
        if self.max_completion_length == 0 {
            return bad("max_completion_length", "must be ≥ 1".into());
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return bad(
                "temperature",
                format!("must be finite and > 0, got {}", self.temperature),
            );
        }
        if !(self.log_ratio_clamp.is_finite() && self.log_ratio_clamp > 0.0) {
            return bad(
                "log_ratio_clamp",
                format!("must be finite and > 0, got {}", self.log_ratio_clamp),
            );
        }
        Ok(())
    }
}
