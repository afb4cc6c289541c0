//! The GRPO phase of an iteration: multi-turn rollouts in the three-agent loop, gated rewards,
//! group-relative advantages and `grpo.num_iterations` updates per generated batch (TRL
//! `GRPOTrainer` semantics: with more than one, the later updates are off-policy against the
//! log-probs before the first, and the ratio clipping acts).
//!
//! Per step, `train.grpo_tasks_per_step` tasks are each played `grpo.num_generations` times by
//! the policy (adapter on, sampling at `grpo.temperature`) against the programmatic user and
//! server simulators. Every episode is scored by the `[[rewards]]`; its turns are flattened
//! token-in/token-out into one sequence whose loss mask covers only the tokens the policy
//! sampled; the update uses the group-relative advantages. The group pass rate (share of the G
//! episodes with a perfect reward) is the task's consistency score (DESIGN.md §1).

use std::collections::BTreeMap;
use std::time::Instant;

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use super::error::Result;
use super::heldout::episode_config;
use super::sft_phase::{optimizer, peak_rss_mb};
use super::summary::TrainSummary;
use crate::backend::{GenParams, LocalBackend};
use crate::config::Config;
use crate::engine::SamplingParams;
use crate::grpo::compute_advantages;
use crate::rollout::flatten;
use crate::synth::episode::{run_episodes, Agents};
use crate::synth::plan::Task;
use crate::synth::words::derive_seed;
use crate::synth::{ProgrammaticUser, Registry, SchemaResults};
use crate::train::{grpo_update, AdamW, GrpoStepOptions, OldLogprobs, StepOutcome, TokenSequence};

/// What the phase measured besides the summary.
#[derive(Debug, Clone, Default)]
pub struct GrpoOutcome {
    pub summary: TrainSummary,
    /// One line per step (TRL metric names).
    pub metrics: Vec<Json>,
    /// Per category: (rollouts, rollouts with a perfect reward).
    pub pass: BTreeMap<String, (usize, usize)>,
    /// One record per rollout (`rewards.jsonl`): step, task, group, rewards, advantage, whether
    /// it was trained on, and the conversation — to inspect what the rewards paid for.
    pub rollouts: Vec<Json>,
}

/// The `G` replicas of a task: same blueprint, own sampling (and simulator) seed each.
fn replicas(task: &Task, g: usize, step: usize) -> Vec<Task> {
    (0..g)
        .map(|k| {
            let mut t = task.clone();
            t.seed = derive_seed(task.seed, &["grpo", &step.to_string(), &k.to_string()]);
            t
        })
        .collect()
}

/// A GRPO phase's progress: what [`GrpoOutcome`] accumulates, after `steps_done` steps. Saved
/// with the adapter and the optimizer state every `train.grpo_checkpoint_steps` steps, so that
/// a killed run resumes inside the phase with the same results.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GrpoProgress {
    pub steps_done: usize,
    pub summary: TrainSummary,
    pub metrics: Vec<Json>,
    pub pass: BTreeMap<String, (usize, usize)>,
    /// Kept out of `progress.json`: the checkpoint appends them to its rollout log
    /// ([`super::grpo_checkpoint`]); read here only from checkpoints of older versions.
    #[serde(default, skip_serializing)]
    pub rollouts: Vec<Json>,
    /// How many lines of the rollout log belong to this checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollouts_logged: Option<usize>,
    #[serde(with = "super::summary::nan_as_null")]
    reward_sum: f64,
    #[serde(with = "super::summary::nan_as_null")]
    kl_sum: f64,
    len_sum: f64,
    rows_total: usize,
}

/// Where a GRPO phase picks up: its saved progress and the optimizer state saved with it (the
/// adapter is already on the model).
pub struct GrpoResume {
    pub progress: GrpoProgress,
    pub optimizer_file: std::path::PathBuf,
}

/// Saves a checkpoint: the progress, the optimizer (and the caller adds the model's adapter).
pub type SaveCheckpoint<'a> = dyn FnMut(&mut GrpoProgress, &AdamW) -> Result<()> + 'a;

/// Runs `train.grpo_steps` GRPO steps over `tasks` (taken in order, cycling), from `resume`
/// when given; `checkpoint` is called every `train.grpo_checkpoint_steps` steps and after the
/// last one.
#[allow(clippy::too_many_arguments)]
pub fn run_grpo(
    cfg: &Config,
    backend: &LocalBackend,
    registry: &Registry,
    tasks: &[Task],
    iteration: usize,
    bar: &ProgressBar,
    resume: Option<GrpoResume>,
    checkpoint: &mut SaveCheckpoint<'_>,
) -> Result<GrpoOutcome> {
    let t = &cfg.train;
    let g = &cfg.grpo;
    let model = backend.model();
    let mu = g.num_iterations.max(1);
    let mut opt = optimizer(cfg, model, t.grpo_learning_rate, (t.grpo_steps * mu).max(1))?;
    let mut step_opts = GrpoStepOptions::new(g.clone());
    step_opts.micro_batch_size = t.micro_batch_size;
    step_opts.chunk_size = t.logprob_chunk;
    step_opts.pad_id = backend.tokenizer().eos_id().unwrap_or(0);
    let gen = GenParams {
        sampling: SamplingParams {
            temperature: g.temperature,
            top_k: 0,
            top_p: 1.0,
        },
        max_new_tokens: g.max_completion_length,
    };
    let ep_cfg = episode_config(cfg, gen, true);
    let agents = Agents {
        policy: backend,
        user: &ProgrammaticUser,
        server: &SchemaResults,
    };
    let mut out = GrpoProgress {
        summary: TrainSummary {
            phase: "grpo".into(),
            ..TrainSummary::default()
        },
        ..GrpoProgress::default()
    };
    if let Some(r) = resume {
        opt.load_state(&r.optimizer_file)?;
        out = r.progress;
    }
    if tasks.is_empty() {
        return Err(super::error::RunError::Invalid(
            "GRPO has no tasks: the synthesis phase planned none (check synth.episodes and the \
             category weights)"
                .into(),
        ));
    }
    bar.set_length(t.grpo_steps as u64);
    bar.set_position(out.steps_done as u64);
    let n = g.num_generations;
    for step in out.steps_done..t.grpo_steps {
        let chosen: Vec<&Task> = (0..t.grpo_tasks_per_step)
            .map(|i| &tasks[(step * t.grpo_tasks_per_step + i) % tasks.len()])
            .collect();
        let group_tasks: Vec<Task> = chosen.iter().flat_map(|t| replicas(t, n, step)).collect();
        let ts = Instant::now();
        let tg = Instant::now();
        let episodes = run_episodes(registry, &group_tasks, &agents, &ep_cfg, &mut |_| {})?;
        let generate_s = tg.elapsed().as_secs_f64();

        let mut rewards: Vec<Option<f64>> = Vec::with_capacity(episodes.len());
        let mut per_reward: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        let mut seqs: Vec<Option<TokenSequence>> = Vec::with_capacity(episodes.len());
        let mut scores = Vec::with_capacity(episodes.len());
        let (mut lengths, mut clipped, mut calls, mut failed_calls) = (0usize, 0usize, 0usize, 0);
        for ep in &episodes {
            let scored = crate::reward::score_all(&cfg.rewards, registry, ep);
            for (name, v) in &scored.per_reward {
                if let Some(v) = v {
                    let e = per_reward.entry(name.clone()).or_default();
                    e.0 += v;
                    e.1 += 1;
                }
            }
            let truncated = ep.trajectory.turns.iter().any(|t| t.finish == "length");
            clipped += usize::from(truncated);
            lengths += ep.sampled_tokens;
            calls += ep.calls.len();
            failed_calls += ep
                .calls
                .iter()
                .filter(|c| c.status != crate::synth::CallStatus::Ok)
                .count();
            let flat = flatten(&ep.trajectory.id, &ep.trajectory.turns).ok();
            let keep = !(g.mask_truncated_completions && truncated);
            seqs.push(flat.map(|f| TokenSequence {
                loss_mask: f.loss_mask.iter().map(|&m| m == 1 && keep).collect(),
                ids: f.ids,
            }));
            // A rollout without a usable token sequence cannot be trained on: unscorable.
            rewards.push(if seqs.last().is_some_and(Option::is_some) {
                scored.total
            } else {
                None
            });
            let e = out
                .pass
                .entry(ep.task.category.as_str().to_string())
                .or_default();
            e.0 += 1;
            e.1 += usize::from(scored.total.is_some_and(|r| r >= 1.0 - 1e-9));
            scores.push(scored);
        }
        let adv = compute_advantages(&rewards, n, g.scale_rewards)?;
        let rows: Vec<usize> = if g.drop_zero_std_groups {
            adv.informative_rows(n)
        } else {
            (0..episodes.len()).collect()
        };
        let trained: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&r| {
                seqs.get(r)
                    .and_then(Option::as_ref)
                    .is_some_and(|s| s.ids.len() <= t.max_seq_len)
            })
            .collect();
        let (train_seqs, train_adv): (Vec<TokenSequence>, Vec<f64>) = trained
            .iter()
            .filter_map(|&r| {
                let s = seqs.get(r)?.as_ref()?;
                Some((s.clone(), adv.values.get(r).copied().unwrap_or(0.0)))
            })
            .unzip();
        for (r, (ep, scored)) in episodes.iter().zip(&scores).enumerate() {
            let rewards: serde_json::Map<String, Json> = scored
                .per_reward
                .iter()
                .map(|(name, v)| (name.clone(), json!(v)))
                .collect();
            out.rollouts.push(json!({
                "iteration": iteration,
                "step": step,
                "group": r / n,
                "task_id": ep.task.id,
                "category": ep.task.category.as_str(),
                "reward": scored.total,
                "rewards": rewards,
                "advantage": adv.values.get(r).copied().filter(|a| a.is_finite()),
                "trained": trained.contains(&r),
                "outcome": format!("{:?}", ep.outcome),
                "messages": ep.trajectory.messages,
            }));
        }
        let rows_n = episodes.len().max(1) as f64;
        let mean_len = lengths as f64 / rows_n;
        let old = if mu > 1 {
            Some(OldLogprobs::compute(model, &train_seqs, &step_opts)?)
        } else {
            None
        };
        for update in 0..mu {
            let lr = opt.current_lr();
            let up = grpo_update(
                model,
                &mut opt,
                &train_seqs,
                &train_adv,
                old.as_ref(),
                &step_opts,
            )?;
            match up.outcome {
                Some(StepOutcome::Applied { .. }) => out.summary.steps += 1,
                Some(StepOutcome::Skipped { reason, .. }) => {
                    out.summary.skipped += 1;
                    tracing::warn!("GRPO step {step} (update {update}) skipped: {reason:?}");
                }
                None => {}
            }
            // One line per optimizer update (TRL logs per optimizer step); the rollout metrics
            // repeat over the μ updates of a batch.
            let mut line = json!({
                "iteration": iteration,
                "phase": "grpo",
                "step": step * mu + update,
                "loss": up.loss,
                "reward": adv.reward,
                "reward_std": adv.reward_std,
                "frac_reward_zero_std": adv.frac_reward_zero_std,
                "completions/mean_length": mean_len,
                "completions/clipped_ratio": clipped as f64 / rows_n,
                "clip_ratio/region_mean": up.clip_ratio_region_mean,
                "entropy": up.entropy,
                "grad_norm": up.grad_norm,
                "learning_rate": lr,
                "tools/call_frequency": calls as f64 / rows_n,
                "tools/failure_frequency": failed_calls as f64 / (calls.max(1) as f64),
                "num_tokens": up.loss_tokens,
                "timing_s/generate": generate_s,
                "timing_s/forward_backward": up.forward_backward_s,
            });
            if let Some(kl) = up.kl {
                line["kl"] = json!(kl);
                out.kl_sum += kl;
            }
            for (name, (sum, cnt)) in &per_reward {
                line[format!("rewards/{name}/mean")] = json!(sum / (*cnt).max(1) as f64);
            }
            if step == 0 && update == 0 {
                out.summary.first_loss = up.loss;
            }
            out.summary.last_loss = up.loss;
            out.metrics.push(line);
        }
        out.summary.sequences += train_seqs.len();
        out.summary.dropped += rows.len() - train_seqs.len();
        out.reward_sum += adv.reward * episodes.len() as f64;
        out.len_sum += lengths as f64;
        out.rows_total += episodes.len();
        out.steps_done = step + 1;
        // Wall time is the phase's across resumes (the summary field accumulates).
        out.summary.seconds += ts.elapsed().as_secs_f64();
        // Always after the last step: the phase's adapter then overwrites the one it started
        // from, and a kill before the phase is recorded must resume from this final state.
        let every = t.grpo_checkpoint_steps;
        if (every > 0 && out.steps_done.is_multiple_of(every)) || out.steps_done == t.grpo_steps {
            checkpoint(&mut out, &opt)?;
        }
        bar.inc(1);
        bar.set_message(format!("reward {:.2}", adv.reward));
    }
    let rows = out.rows_total.max(1) as f64;
    out.summary.reward = Some(out.reward_sum / rows);
    out.summary.mean_length = Some(out.len_sum / rows);
    if g.beta != 0.0 {
        out.summary.kl = Some(out.kl_sum / (t.grpo_steps * mu).max(1) as f64);
    }
    out.summary.peak_rss_mb = peak_rss_mb();
    Ok(GrpoOutcome {
        summary: out.summary,
        metrics: out.metrics,
        pass: out.pass,
        rollouts: out.rollouts,
    })
}
