//! Rewards of GRPO: typed, named functions that score one finished synthesis [`Episode`]
//! (DESIGN.md §4, "Gated reward"). The closed loop runs G episodes per task with the policy in
//! the three-agent loop and scores each with the configured `[[rewards]]`
//! ([`RewardSpec`]); [`score_all`] weights and sums them.
//!
//! * [`gated`] — InfTool's staged reward: format gate → function gate → argument credit →
//!   workflow gate → final answer check; a failed gate zeroes every later stage.
//! * [`format`] — the format gate alone (1 or 0).
//! * [`turns`] — 1 minus a penalty per assistant turn beyond the task's minimum.
//!
//! A reward is `None` ("unscorable") when the task itself cannot be graded (a step names a tool
//! the registry lacks, a link points forward, a category without its data); GRPO gives such rows
//! advantage 0 and leaves them out of the baseline.

pub mod format;
pub mod gated;
pub mod matching;
pub mod task;
pub mod turns;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

pub use crate::config::{FormatReward, GatedReward, GatedWeights, RewardSpec, TurnsReward};
use crate::synth::{Episode, Registry};

/// A stage of the gated reward, in gate order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Every assistant turn parsed cleanly, none truncated, no hallucinated tool.
    Format,
    /// Called names and counts match; irrelevance: no call; missing_param: asked first;
    /// error_recovery: a successful retry after the injected failure.
    Function,
    /// Argument values (types exact, strings normalized), schema validity.
    Arguments,
    /// Dependent steps take their gated arguments from the earlier results.
    Workflow,
    /// The final text answer mentions a value the tools returned.
    Answer,
}

impl Stage {
    /// Every stage, in gate order.
    pub const ALL: [Stage; 5] = [
        Stage::Format,
        Stage::Function,
        Stage::Arguments,
        Stage::Workflow,
        Stage::Answer,
    ];

    /// The snake_case name (also the component key).
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Format => "format",
            Stage::Function => "function",
            Stage::Arguments => "arguments",
            Stage::Workflow => "workflow",
            Stage::Answer => "answer",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first stage that did not pass, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The stage.
    pub stage: Stage,
    /// What failed (call, argument, expected and actual values).
    pub detail: String,
}

/// One reward's verdict on one episode.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RewardOutcome {
    /// The value in [0, 1]; `None` = unscorable.
    pub total: Option<f64>,
    /// Per-stage (or per-part) values in [0, 1], before weighting.
    pub components: BTreeMap<String, f64>,
    /// Stages passed, in order.
    pub passed: Vec<Stage>,
    /// The first stage that failed.
    pub failed: Option<Failure>,
    /// Why the episode is unscorable.
    pub unscorable: Option<String>,
    /// Counts for logging (steps, calls, correct steps, turns, ...).
    pub extras: BTreeMap<String, f64>,
}

impl RewardOutcome {
    /// An unscorable verdict.
    pub fn unscorable(reason: impl Into<String>) -> RewardOutcome {
        RewardOutcome {
            unscorable: Some(reason.into()),
            ..RewardOutcome::default()
        }
    }
}

/// Scores one episode with one reward.
pub fn score(spec: &RewardSpec, registry: &Registry, ep: &Episode) -> RewardOutcome {
    match spec {
        RewardSpec::Gated(g) => gated::score(&g.weights, registry, ep),
        RewardSpec::Format(_) => format::score(ep),
        RewardSpec::Turns(t) => turns::score(t.penalty_per_turn, ep),
    }
}

/// Every reward of an episode and their weighted sum.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    /// `Σ weight · value`; `None` when a reward with a non-zero weight is unscorable (the row
    /// is then unscorable as a whole, rather than TRL's sum over the scorable ones, so that a
    /// partly scored row is never compared with fully scored ones in its group).
    pub total: Option<f64>,
    /// `(name, value)` of each reward, in config order (for `rewards/<name>/mean`).
    pub per_reward: Vec<(String, Option<f64>)>,
    /// The full verdicts, in config order.
    pub outcomes: Vec<RewardOutcome>,
}

/// Scores one episode with every configured reward.
pub fn score_all(specs: &[RewardSpec], registry: &Registry, ep: &Episode) -> Scored {
    let outcomes: Vec<RewardOutcome> = specs.iter().map(|s| score(s, registry, ep)).collect();
    let per_reward: Vec<(String, Option<f64>)> = specs
        .iter()
        .zip(&outcomes)
        .map(|(s, o)| (s.name().to_string(), o.total))
        .collect();
    let mut total = Some(0.0);
    for (s, o) in specs.iter().zip(&outcomes) {
        total = match (total, o.total) {
            (Some(t), Some(v)) => Some(t + s.weight() * v),
            (t, None) if s.weight() == 0.0 => t,
            _ => None,
        };
    }
    Scored {
        total,
        per_reward,
        outcomes,
    }
}
