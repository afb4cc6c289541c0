//! `[train]` (optimization of the SFT and GRPO phases) and `[loop]` (the closed loop's
//! iteration plan). `[grpo]` is [`crate::grpo::GrpoOptions`] itself, under TRL's names.
//!
//! ```toml
//! [train]
//! sft_epochs = 2              # passes over the cold-start trajectories
//! sft_batch_size = 8          # sequences per optimizer step
//! sft_learning_rate = 2e-4
//! grpo_steps = 4              # GRPO steps (generated batches) per iteration; each makes
//!                             # grpo.num_iterations optimizer updates
//! grpo_checkpoint_steps = 5   # save GRPO progress every N steps (a kill resumes there)
//! grpo_tasks_per_step = 4     # tasks per step (each rolled out num_generations times)
//! grpo_learning_rate = 5e-5
//! micro_batch_size = 4        # sequences per forward/backward pass (gradient accumulation)
//! max_seq_len = 1024          # longer trajectories are left out of training (counted, logged)
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::schema::invalid;
use super::Result;
use crate::train::ScheduleKind;

/// The `[train]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Epochs of cold-start SFT.
    #[serde(default = "d_sft_epochs")]
    pub sft_epochs: usize,
    /// Sequences per SFT optimizer step.
    #[serde(default = "d_sft_batch")]
    pub sft_batch_size: usize,
    /// Peak SFT learning rate (LoRA: ~10× a full fine-tune's; the PEFT docs' usual 1e-4–3e-4).
    #[serde(default = "d_sft_lr")]
    pub sft_learning_rate: f64,
    /// GRPO optimizer steps per iteration.
    #[serde(default = "d_grpo_steps")]
    pub grpo_steps: usize,
    /// Tasks per GRPO step; each is rolled out `grpo.num_generations` times.
    #[serde(default = "d_grpo_tasks")]
    pub grpo_tasks_per_step: usize,
    /// Save the GRPO phase's progress (adapter, optimizer, metrics) every this many steps, so
    /// that a killed run resumes inside the phase (0 = only after the last step).
    #[serde(default = "d_grpo_checkpoint")]
    pub grpo_checkpoint_steps: usize,
    /// Peak GRPO learning rate (TRL's `GRPOConfig` default is 1e-6 for full fine-tuning; LoRA
    /// needs more).
    #[serde(default = "d_grpo_lr")]
    pub grpo_learning_rate: f64,
    /// Sequences per forward/backward pass; gradients are accumulated over the step's batch.
    #[serde(default = "d_micro")]
    pub micro_batch_size: usize,
    /// Trajectories longer than this (tokens) are not trained on.
    #[serde(default = "d_max_seq")]
    pub max_seq_len: usize,
    /// Positions per chunk of the log-softmax over the vocabulary.
    #[serde(default = "d_chunk")]
    pub logprob_chunk: usize,
    /// Global-norm gradient clipping (HF Trainer's `max_grad_norm`); 0 disables.
    #[serde(default = "d_clip")]
    pub max_grad_norm: f64,
    /// Decoupled AdamW weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// Fraction of each phase's steps spent in linear warmup.
    #[serde(default = "d_warmup")]
    pub warmup_ratio: f64,
    /// Schedule after warmup: `constant`, `linear` or `cosine`.
    #[serde(default = "d_schedule")]
    pub lr_schedule: ScheduleKind,
    /// Layer-wise activation recompute: keep only each layer's input during the training
    /// forward and recompute the layer in the backward (less memory for long sequences, about
    /// one more forward of time).
    #[serde(default)]
    pub gradient_checkpointing: bool,
}

fn d_sft_epochs() -> usize {
    2
}
fn d_sft_batch() -> usize {
    8
}
fn d_sft_lr() -> f64 {
    2e-4
}
fn d_grpo_steps() -> usize {
    4
}
fn d_grpo_tasks() -> usize {
    4
}
fn d_grpo_checkpoint() -> usize {
    5
}
fn d_grpo_lr() -> f64 {
    5e-5
}
fn d_micro() -> usize {
    4
}
fn d_max_seq() -> usize {
    1024
}
fn d_chunk() -> usize {
    64
}
fn d_clip() -> f64 {
    1.0
}
fn d_warmup() -> f64 {
    0.1
}
fn d_schedule() -> ScheduleKind {
    ScheduleKind::Cosine
}

impl Default for TrainSection {
    fn default() -> Self {
        TrainSection {
            sft_epochs: d_sft_epochs(),
            sft_batch_size: d_sft_batch(),
            sft_learning_rate: d_sft_lr(),
            grpo_steps: d_grpo_steps(),
            grpo_tasks_per_step: d_grpo_tasks(),
            grpo_checkpoint_steps: d_grpo_checkpoint(),
            grpo_learning_rate: d_grpo_lr(),
            micro_batch_size: d_micro(),
            max_seq_len: d_max_seq(),
            logprob_chunk: d_chunk(),
            max_grad_norm: d_clip(),
            weight_decay: 0.0,
            warmup_ratio: d_warmup(),
            lr_schedule: d_schedule(),
            gradient_checkpointing: false,
        }
    }
}

fn d_gap_source() -> GapSource {
    GapSource::Grpo
}

/// Where iteration 0's cold-start trajectories come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColdStart {
    /// A rule-driven assistant plays each task's blueprint (it knows the hidden plan: expected
    /// calls, which result feeds which argument); its episodes go through the same simulators and
    /// verifier. The data source for a base model that cannot call tools yet.
    Teacher,
    /// The policy itself (a model that already calls tools, e.g. an instruct model).
    Policy,
    /// No cold start: iteration 0 only evaluates the base model.
    None,
}

/// What the next iteration's category mix is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GapSource {
    /// The GRPO group pass rate per category: the share of the policy's rollouts on training
    /// tasks with a perfect reward (DESIGN.md §1; no extra inference, and the held-out set never
    /// steers training). Iteration 0 has no GRPO: the next mix is the configured one.
    Grpo,
    /// The held-out accuracy per category (the held-out tasks are never trained on, but their
    /// results then choose what the next round synthesizes).
    Heldout,
}

/// The `[loop]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoopSection {
    /// Iterations after iteration 0 (each: synthesize with the policy → GRPO → evaluate).
    #[serde(default = "d_iterations")]
    pub iterations: usize,
    /// Source of the cold-start SFT data.
    #[serde(default = "d_cold_start")]
    pub cold_start: ColdStart,
    /// Held-out synthetic tasks per category, drawn once per run from toolsets that are never
    /// trained on.
    #[serde(default = "d_heldout")]
    pub heldout_per_category: usize,
    /// Also evaluate the base model (adapter off) on the held-out set before the cold start
    /// (the report's "base" column; one more evaluation's time).
    #[serde(default = "d_eval_base")]
    pub eval_base: bool,
    /// Share of the toolsets reserved for the held-out set (at least one toolset).
    #[serde(default = "d_heldout_share")]
    pub heldout_toolset_share: f64,
    /// Gap targeting: next mix ∝ max(error rate, floor) per category.
    #[serde(default = "d_floor")]
    pub gap_floor: f64,
    /// Where the error rates come from.
    #[serde(default = "d_gap_source")]
    pub gap_source: GapSource,
    /// Iterations ≥ 1: the teacher replays up to this many of the tasks the policy failed in the
    /// synthesis phase, and the policy is fine-tuned on those verified demonstrations plus its
    /// own accepted trajectories before GRPO ("new data around the hard tasks"); 0 = off.
    #[serde(default = "d_repair")]
    pub repair_max: usize,
    /// Epochs of that fine-tuning.
    #[serde(default = "d_repair_epochs")]
    pub repair_epochs: usize,
    /// Peak learning rate of that fine-tuning (default: `train.sft_learning_rate`). It starts a
    /// fresh AdamW on an already trained adapter, so a lower rate than the cold start is usual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair_learning_rate: Option<f64>,
    /// Rehearsal: this many of iteration 0's verified cold-start trajectories (a seeded sample,
    /// different each iteration) are mixed into each later fine-tuning set, so that training on
    /// the failed tasks does not make the policy forget what it could already do; 0 = off.
    #[serde(default = "d_replay")]
    pub repair_replay: usize,
    /// Episodes the policy plays in each later iteration's synthesis (default: `synth.episodes`,
    /// which sizes iteration 0). The failed ones feed the repair set and lead the GRPO tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_episodes: Option<usize>,
    /// Assistant turns per GRPO rollout and held-out episode.
    #[serde(default = "d_turns")]
    pub max_turns: usize,
    /// Iteration directories kept (plus `best` and the latest); older ones are deleted.
    #[serde(default = "d_keep")]
    pub keep_last: usize,
    /// Also write a merged HF model directory each iteration (large for big models).
    #[serde(default)]
    pub export_merged: bool,
    /// BFCL categories evaluated after every iteration (empty = none; slow on CPU).
    #[serde(default)]
    pub bfcl_categories: Vec<String>,
    /// At most this many BFCL entries per category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfcl_limit: Option<usize>,
}

fn d_iterations() -> usize {
    2
}
fn d_cold_start() -> ColdStart {
    ColdStart::Teacher
}
fn d_eval_base() -> bool {
    true
}
fn d_heldout() -> usize {
    3
}
fn d_heldout_share() -> f64 {
    0.25
}
fn d_floor() -> f64 {
    0.1
}
fn d_repair() -> usize {
    16
}
fn d_repair_epochs() -> usize {
    1
}
fn d_replay() -> usize {
    8
}
fn d_turns() -> usize {
    4
}
fn d_keep() -> usize {
    3
}

impl Default for LoopSection {
    fn default() -> Self {
        LoopSection {
            iterations: d_iterations(),
            cold_start: d_cold_start(),
            heldout_per_category: d_heldout(),
            eval_base: d_eval_base(),
            heldout_toolset_share: d_heldout_share(),
            gap_floor: d_floor(),
            gap_source: d_gap_source(),
            repair_max: d_repair(),
            repair_epochs: d_repair_epochs(),
            repair_learning_rate: None,
            repair_replay: d_replay(),
            policy_episodes: None,
            max_turns: d_turns(),
            keep_last: d_keep(),
            export_merged: false,
            bfcl_categories: Vec::new(),
            bfcl_limit: None,
        }
    }
}

fn positive(path: &Path, key: &str, v: usize) -> Result<()> {
    if v == 0 {
        return Err(invalid(path, key, v, "must be > 0"));
    }
    Ok(())
}

fn rate(path: &Path, key: &str, v: f64) -> Result<()> {
    if !(v.is_finite() && v > 0.0 && v < 1.0) {
        return Err(invalid(path, key, v, "must be a learning rate in (0, 1)"));
    }
    Ok(())
}

impl TrainSection {
    /// Range checks.
    pub fn validate(&self, path: &Path) -> Result<()> {
        positive(path, "train.sft_batch_size", self.sft_batch_size)?;
        positive(path, "train.grpo_tasks_per_step", self.grpo_tasks_per_step)?;
        positive(path, "train.micro_batch_size", self.micro_batch_size)?;
        positive(path, "train.max_seq_len", self.max_seq_len)?;
        positive(path, "train.logprob_chunk", self.logprob_chunk)?;
        rate(path, "train.sft_learning_rate", self.sft_learning_rate)?;
        rate(path, "train.grpo_learning_rate", self.grpo_learning_rate)?;
        if !(self.max_grad_norm.is_finite() && self.max_grad_norm >= 0.0) {
            return Err(invalid(
                path,
                "train.max_grad_norm",
                self.max_grad_norm,
                "must be ≥ 0 (0 disables clipping)",
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(invalid(
                path,
                "train.weight_decay",
                self.weight_decay,
                "must be ≥ 0",
            ));
        }
        if !(0.0..1.0).contains(&self.warmup_ratio) {
            return Err(invalid(
                path,
                "train.warmup_ratio",
                self.warmup_ratio,
                "must be in [0, 1)",
            ));
        }
        Ok(())
    }
}

impl LoopSection {
    /// Range checks.
    pub fn validate(&self, path: &Path) -> Result<()> {
        positive(path, "loop.max_turns", self.max_turns)?;
        positive(path, "loop.keep_last", self.keep_last)?;
        if let Some(lr) = self.repair_learning_rate {
            rate(path, "loop.repair_learning_rate", lr)?;
        }
        if self.policy_episodes == Some(0) {
            return Err(invalid(
                path,
                "loop.policy_episodes",
                0,
                "must be > 0 (leave it out to use synth.episodes)",
            ));
        }
        if !(self.heldout_toolset_share > 0.0 && self.heldout_toolset_share < 1.0) {
            return Err(invalid(
                path,
                "loop.heldout_toolset_share",
                self.heldout_toolset_share,
                "must be in (0, 1): some toolsets are held out, the rest are trained on",
            ));
        }
        if !(0.0..=1.0).contains(&self.gap_floor) {
            return Err(invalid(
                path,
                "loop.gap_floor",
                self.gap_floor,
                "must be in [0, 1]",
            ));
        }
        if self.bfcl_limit == Some(0) {
            return Err(invalid(
                path,
                "loop.bfcl_limit",
                0,
                "must be > 0 (leave it out for every entry)",
            ));
        }
        for c in &self.bfcl_categories {
            if crate::eval::category::parse_category_args(std::slice::from_ref(c)).is_err() {
                return Err(invalid(
                    path,
                    "loop.bfcl_categories",
                    format!("{c:?}"),
                    "not a BFCL v4 category or collection (see eval.categories)",
                ));
            }
        }
        Ok(())
    }
}
