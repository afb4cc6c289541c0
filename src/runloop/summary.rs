//! What one iteration of the closed loop measured: the record `iter_NNNN/summary.json` holds,
//! the report is drawn from, and the next iteration's category mix is computed from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Held-out score of one category.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoryScore {
    /// Held-out tasks of the category.
    pub tasks: usize,
    /// Episodes the verifier accepted (task solved in every checkable way).
    pub passed: usize,
    /// `passed / tasks`.
    pub accuracy: f64,
    /// Mean gated reward of the episodes.
    pub mean_reward: f64,
}

/// A held-out evaluation (synthetic tasks from toolsets never trained on).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeldoutResult {
    /// Whether the LoRA adapter was on.
    pub adapter: bool,
    /// Per category (snake_case names).
    pub per_category: BTreeMap<String, CategoryScore>,
    /// Per difficulty level of the tasks (`easy`, `medium`, `hard`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_difficulty: BTreeMap<String, CategoryScore>,
    /// Over all tasks.
    pub accuracy: f64,
    /// Over all tasks.
    pub mean_reward: f64,
    /// Rejection reasons of the failed episodes, counted.
    pub failures: BTreeMap<String, usize>,
}

/// The synthesis phase of an iteration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SynthSummary {
    /// Who played the assistant (`teacher`, or the policy's name).
    pub assistant: String,
    pub episodes: usize,
    pub accepted: usize,
    /// `accepted / episodes`.
    pub acceptance_rate: f64,
    /// Per category: `(episodes, accepted)`.
    pub per_category: BTreeMap<String, (usize, usize)>,
    pub seconds: f64,
}

/// An `f64` that may be NaN: JSON has no NaN, so it is written as `null` and `null` reads back
/// as NaN (a plain `f64` field would refuse to load it).
pub(crate) mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_none()
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

/// The training phase of an iteration (SFT in iteration 0, GRPO later).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    /// `sft` or `grpo`.
    pub phase: String,
    /// Optimizer steps applied.
    pub steps: usize,
    /// Steps skipped (non-finite loss or gradient).
    pub skipped: usize,
    /// Sequences trained on / left out (too long, unusable).
    pub sequences: usize,
    pub dropped: usize,
    /// Loss of the first and the last step.
    #[serde(with = "nan_as_null")]
    pub first_loss: f64,
    #[serde(with = "nan_as_null")]
    pub last_loss: f64,
    /// GRPO: mean reward over all rollouts of the phase (`reward`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<f64>,
    /// GRPO: mean KL to the adapter-off reference (`kl`), when `beta > 0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kl: Option<f64>,
    /// GRPO: mean completion tokens per rollout (`completions/mean_length`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_length: Option<f64>,
    /// Peak resident memory of the process so far, MB.
    pub peak_rss_mb: f64,
    pub seconds: f64,
}

/// One iteration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IterationSummary {
    pub iteration: usize,
    /// Iteration 0 only: the base model before any training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heldout_base: Option<HeldoutResult>,
    /// After this iteration's training.
    pub heldout: HeldoutResult,
    pub synth: SynthSummary,
    /// Iterations ≥ 1: fine-tuning on the teacher's demonstrations of the failed tasks and the
    /// policy's accepted trajectories (before GRPO).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair: Option<TrainSummary>,
    /// SFT in iteration 0, GRPO later.
    pub train: TrainSummary,
    /// Category weights used by this iteration's synthesis.
    pub mix: BTreeMap<String, f64>,
    /// Category weights for the next iteration (from this iteration's held-out error rates).
    pub next_mix: BTreeMap<String, f64>,
    /// BFCL accuracy per category, when `[loop] bfcl_categories` is set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bfcl: BTreeMap<String, f64>,
    /// Wall time per phase (`timing_s/<phase>`).
    pub timing_s: BTreeMap<String, f64>,
}

/// The best iteration by held-out accuracy; on equal accuracy the higher mean gated reward (the
/// finer signal on a small held-out set), then the later iteration — what the run directory's
/// `best` points at.
pub fn best_iteration(summaries: &[IterationSummary]) -> Option<&IterationSummary> {
    summaries.iter().max_by(|a, b| {
        a.heldout
            .accuracy
            .total_cmp(&b.heldout.accuracy)
            .then(a.heldout.mean_reward.total_cmp(&b.heldout.mean_reward))
            .then(a.iteration.cmp(&b.iteration))
    })
}
