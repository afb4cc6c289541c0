//! One GRPO step, composed as TRL 1.16's `GRPOTrainer` does it:
//!
//! 1. every prompt is completed `G` times by the policy (adapter on), each row from its own seeded
//!    sampling stream, at `temperature`;
//! 2. a caller-supplied reward function scores each completion (`None` = unscorable);
//! 3. group-relative advantages ([`compute_advantages`]);
//! 4. per micro-batch of rows: the training forward on prompt + completion (right-padded), the
//!    log-probs of the sampled tokens from `logits / temperature`, the reference log-probs with
//!    the adapter off when `beta > 0`, [`grpo_loss`], backward, and the gradients summed with
//!    [`Gradients::accumulate`] (memory is bounded by the micro-batch);
//! 5. one AdamW step (global-norm clipping inside [`AdamW::step`]);
//! 6. steps 4–5 `num_iterations` (μ) times on the same batch. With μ = 1, `old_logp =
//!    logp.detach()` (on-policy, ratio 1); with μ > 1 the sampled tokens' log-probs under the
//!    policy before the first update are computed once (no grad) and are `old_logp` of all μ
//!    updates, so later updates see ratios ≠ 1 and the clipping acts ([`grpo_updates`]).
//!
//! As in TRL, the `grpo`, `bnpo` and `dr_grpo` losses of each micro-batch are divided by the
//! number of micro-batches, and `dapo` by the loss tokens of the whole step; with micro-batches of
//! unequal row counts the `grpo` aggregation therefore weights rows slightly unevenly (TRL has the
//! same property).

use std::time::Instant;

use candle_core::{DType, Tensor};

use super::batch::{check_token_ids, micro_batches, pad_batch, PaddedBatch, TokenSequence};
use super::grads::Gradients;
use super::optim::{AdamW, StepOutcome};
use crate::engine::{generate, FinishReason, GenConfig, GenRequest, SamplingParams};
use crate::grpo::{compute_advantages, grpo_loss, GrpoOptions, ImportanceSamplingLevel};
use crate::grpo::{LossInputs, LossScale};
use crate::model::{token_logprobs, AdapterUse, Batch, LogprobOptions, Mode, Model};

/// Errors of a GRPO step: any layer it composes, or bad inputs.
#[derive(Debug, thiserror::Error)]
pub enum GrpoStepError {
    #[error("optimizer: {0}")]
    Train(#[from] super::error::Error),
    #[error("grpo: {0}")]
    Grpo(#[from] crate::grpo::Error),
    #[error("generation: {0}")]
    Engine(#[from] crate::engine::Error),
    #[error("model: {0}")]
    Model(#[from] crate::model::Error),
    #[error("tensor op: {0}")]
    Candle(#[from] candle_core::Error),
    /// A setting or input out of range; the message names it.
    #[error("{0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, GrpoStepError>;

/// Settings of one GRPO step besides the TRL options.
#[derive(Debug, Clone, PartialEq)]
pub struct GrpoStepOptions {
    /// TRL's options (`num_generations`, `beta`, `temperature`, `max_completion_length`, …).
    pub grpo: GrpoOptions,
    /// Token ids that end a completion (EOS); empty = always `max_completion_length` tokens.
    pub stop_ids: Vec<u32>,
    /// Rows per training forward/backward pass.
    pub micro_batch_size: usize,
    /// Positions per log-prob chunk (bounds the `[rows, positions, vocab]` logits).
    pub chunk_size: usize,
    /// Token id used for right padding (never trained on).
    pub pad_id: u32,
    /// Rows generated at once (0 = all).
    pub max_generation_rows: usize,
}

impl GrpoStepOptions {
    /// Defaults around the given TRL options: no stop ids, micro-batches of 8 rows.
    pub fn new(grpo: GrpoOptions) -> Self {
        GrpoStepOptions {
            grpo,
            stop_ids: Vec::new(),
            micro_batch_size: 8,
            chunk_size: 64,
            pad_id: 0,
            max_generation_rows: 0,
        }
    }
}

/// What one GRPO step did, with TRL's logged metrics. With `num_iterations` > 1 the update's
/// fields (`kl`, `clip_ratio_region_mean`, `grad_norm`, `entropy`, `loss`, `outcome`) are the
/// last update's and `forward_backward_s` is the time of all of them.
#[derive(Debug, Clone)]
pub struct GrpoStepReport {
    /// Mean reward over scorable completions (`reward`).
    pub reward: f64,
    /// Unbiased std of the rewards (`reward_std`).
    pub reward_std: f64,
    pub frac_reward_zero_std: f64,
    /// Mean completion length in tokens (`completions/mean_length`).
    pub mean_length: f64,
    /// Fraction of completions that hit `max_completion_length` without a stop token
    /// (`completions/clipped_ratio`).
    pub clipped_ratio: f64,
    /// Masked mean per-token KL to the reference (`kl`), when `beta > 0`.
    pub kl: Option<f64>,
    /// `clip_ratio/region_mean` over all loss tokens (rows, at sequence level).
    pub clip_ratio_region_mean: f64,
    /// Pre-clip global gradient norm (`grad_norm`); `None` when no update was attempted.
    pub grad_norm: Option<f64>,
    /// Masked mean per-token entropy of the policy (`entropy`).
    pub entropy: f64,
    /// The summed micro-batch losses (`loss`).
    pub loss: f64,
    /// Seconds spent generating (`timing_s/generate`).
    pub generate_s: f64,
    /// Seconds spent in the training forward/backward passes (`timing_s/forward_backward`).
    pub forward_backward_s: f64,
    /// The optimizer's verdict; `None` when no row carried loss (nothing to update).
    pub outcome: Option<StepOutcome>,
    /// The completions, row `p·G + g` = sample `g` of prompt `p`.
    pub completions: Vec<Vec<u32>>,
    pub rewards: Vec<Option<f64>>,
}

impl GrpoStepReport {
    /// `(name, value)` pairs under TRL's metric names (absent metrics left out).
    pub fn named(&self) -> Vec<(&'static str, f64)> {
        let mut out = vec![
            ("loss", self.loss),
            ("reward", self.reward),
            ("reward_std", self.reward_std),
            ("frac_reward_zero_std", self.frac_reward_zero_std),
            ("completions/mean_length", self.mean_length),
            ("completions/clipped_ratio", self.clipped_ratio),
            ("clip_ratio/region_mean", self.clip_ratio_region_mean),
            ("entropy", self.entropy),
            ("timing_s/generate", self.generate_s),
            ("timing_s/forward_backward", self.forward_backward_s),
        ];
        if let Some(kl) = self.kl {
            out.push(("kl", kl));
        }
        if let Some(g) = self.grad_norm {
            out.push(("grad_norm", g));
        }
        out
    }
}

/// The sampling seed of row `row` of a step seeded with `seed` (SplitMix64 of their combination).
pub fn row_seed(seed: u64, row: usize) -> u64 {
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(row as u64)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Scores completion `row` (of prompt `row / G`): `reward(prompt_index, completion_tokens)`.
pub type RewardFn<'a> = dyn FnMut(usize, &[u32]) -> Option<f64> + 'a;

/// Token-weighted running sums of per-micro-batch metrics.
#[derive(Default)]
struct MetricSums {
    weight: f64,
    region: f64,
    kl: f64,
    entropy: f64,
}

/// One GRPO step on `prompts` (token ids). `seed` seeds this step's sampling (vary it per step).
pub fn grpo_step(
    model: &Model,
    opt: &mut AdamW,
    prompts: &[Vec<u32>],
    reward: &mut RewardFn<'_>,
    opts: &GrpoStepOptions,
    seed: u64,
) -> Result<GrpoStepReport> {
    let g = &opts.grpo;
    g.validate()?;
    if prompts.is_empty() {
        return Err(GrpoStepError::Invalid(
            "no prompts for the GRPO step".into(),
        ));
    }
    if opts.micro_batch_size == 0 || opts.chunk_size == 0 {
        return Err(GrpoStepError::Invalid(format!(
            "micro_batch_size ({}) and chunk_size ({}) must be ≥ 1",
            opts.micro_batch_size, opts.chunk_size
        )));
    }
    let n = g.num_generations;

    // 1. Generation with the adapter on.
    let t0 = Instant::now();
    let requests: Vec<GenRequest> = prompts
        .iter()
        .flat_map(|p| std::iter::repeat_n(p, n))
        .enumerate()
        .map(|(row, p)| GenRequest::new(p.clone(), row_seed(seed, row)))
        .collect();
    let gen_cfg = GenConfig {
        sampling: SamplingParams {
            temperature: g.temperature,
            top_k: 0,
            top_p: 1.0,
        },
        max_new_tokens: g.max_completion_length,
        stop_ids: opts.stop_ids.clone(),
        stop_sequences: Vec::new(),
        max_batch_rows: opts.max_generation_rows,
        ..GenConfig::default()
    };
    let outputs = generate(model, &requests, &gen_cfg)?;
    let generate_s = t0.elapsed().as_secs_f64();

    // 2–3. Rewards and advantages.
    let rewards: Vec<Option<f64>> = outputs
        .iter()
        .enumerate()
        .map(|(row, o)| reward(row / n, &o.tokens))
        .collect();
    let adv = compute_advantages(&rewards, n, g.scale_rewards)?;
    let truncated: Vec<bool> = outputs
        .iter()
        .map(|o| o.finish == FinishReason::Length)
        .collect();
    let rows_total = outputs.len().max(1) as f64;
    let mean_length = outputs.iter().map(|o| o.tokens.len()).sum::<usize>() as f64 / rows_total;
    let clipped_ratio = truncated.iter().filter(|&&t| t).count() as f64 / rows_total;

    // 4. Loss rows: all, or only groups with reward spread (DAPO dynamic sampling).
    let rows: Vec<usize> = if g.drop_zero_std_groups {
        adv.informative_rows(n)
    } else {
        (0..outputs.len()).collect()
    };
    let seqs: Vec<TokenSequence> = rows
        .iter()
        .map(|&r| {
            let prompt = &requests[r].prompt;
            let completion = &outputs[r].tokens;
            let keep = !(g.mask_truncated_completions && truncated[r]);
            let mut ids = prompt.clone();
            ids.extend_from_slice(completion);
            let mut loss_mask = vec![false; prompt.len()];
            loss_mask.resize(ids.len(), keep);
            TokenSequence { ids, loss_mask }
        })
        .collect();
    let row_adv: Vec<f64> = rows
        .iter()
        .map(|&r| adv.values.get(r).copied().unwrap_or(0.0))
        .collect();
    let updates = grpo_updates(model, opt, &seqs, &row_adv, opts)?;
    let up = updates
        .last()
        .cloned()
        .ok_or_else(|| GrpoStepError::Invalid("num_iterations must be ≥ 1".into()))?;
    let forward_backward_s = updates.iter().map(|u| u.forward_backward_s).sum();
    Ok(GrpoStepReport {
        reward: adv.reward,
        reward_std: adv.reward_std,
        frac_reward_zero_std: adv.frac_reward_zero_std,
        mean_length,
        clipped_ratio,
        kl: up.kl,
        clip_ratio_region_mean: up.clip_ratio_region_mean,
        grad_norm: up.grad_norm,
        entropy: up.entropy,
        loss: up.loss,
        generate_s,
        forward_backward_s,
        outcome: up.outcome,
        completions: outputs.into_iter().map(|o| o.tokens).collect(),
        rewards,
    })
}

/// What one GRPO update did (TRL's metric names in the doc of each field).
#[derive(Debug, Clone)]
pub struct UpdateReport {
    /// Summed micro-batch losses (`loss`).
    pub loss: f64,
    /// Masked mean per-token KL to the reference (`kl`), when `beta > 0`.
    pub kl: Option<f64>,
    /// `clip_ratio/region_mean`.
    pub clip_ratio_region_mean: f64,
    /// Masked mean per-token entropy (`entropy`).
    pub entropy: f64,
    /// Pre-clip global gradient norm (`grad_norm`); `None` when nothing was updated.
    pub grad_norm: Option<f64>,
    /// `timing_s/forward_backward`.
    pub forward_backward_s: f64,
    /// The optimizer's verdict; `None` when no row carried loss.
    pub outcome: Option<StepOutcome>,
    /// Loss-carrying tokens of the step.
    pub loss_tokens: usize,
}

/// The log-probs of the sampled tokens under the policy as it is now, one detached tensor per
/// micro-batch of [`grpo_update`] (`None` for a micro-batch without loss tokens): the `old_logp`
/// of `num_iterations > 1`. Computed with the training forward, so that the first update on
/// them has ratio 1 exactly, as with `old_logp = logp.detach()`.
#[derive(Debug, Clone)]
pub struct OldLogprobs(Vec<Option<Tensor>>);

impl OldLogprobs {
    /// Computes them for `seqs` (the same sequences and options the updates will get).
    pub fn compute(model: &Model, seqs: &[TokenSequence], opts: &GrpoStepOptions) -> Result<Self> {
        check_update_options(opts)?;
        check_token_ids(seqs, model.config().vocab_size)?;
        let mut out = Vec::new();
        for range in micro_batches(seqs.len(), opts.micro_batch_size)? {
            let chunk = seqs.get(range).unwrap_or(&[]);
            let batch = pad_batch(chunk, opts.pad_id, model.device())?;
            if batch.loss_tokens == 0 {
                out.push(None);
                continue;
            }
            let (start, len) = target_window(&batch, chunk)?;
            let (logp, _) = policy_logprobs(model, &batch, start, len, opts, false)?;
            out.push(Some(logp.detach()));
        }
        Ok(OldLogprobs(out))
    }
}

/// The μ = `grpo.num_iterations` updates of one generated batch (see the module doc): with
/// μ > 1, [`OldLogprobs`] first, then μ × [`grpo_update`]. One report per update.
pub fn grpo_updates(
    model: &Model,
    opt: &mut AdamW,
    seqs: &[TokenSequence],
    advantages: &[f64],
    opts: &GrpoStepOptions,
) -> Result<Vec<UpdateReport>> {
    let mu = opts.grpo.num_iterations.max(1);
    let old = if mu > 1 {
        Some(OldLogprobs::compute(model, seqs, opts)?)
    } else {
        None
    };
    (0..mu)
        .map(|_| grpo_update(model, opt, seqs, advantages, old.as_ref(), opts))
        .collect()
}

fn check_update_options(opts: &GrpoStepOptions) -> Result<()> {
    if opts.micro_batch_size == 0 || opts.chunk_size == 0 {
        return Err(GrpoStepError::Invalid(format!(
            "micro_batch_size ({}) and chunk_size ({}) must be ≥ 1",
            opts.micro_batch_size, opts.chunk_size
        )));
    }
    Ok(())
}

/// One GRPO update on already sampled sequences: `seqs[i]` (prompt + completion ids, or a whole
/// multi-turn trajectory, with the loss mask on the policy's sampled tokens only) with advantage
/// `advantages[i]`; micro-batched forward/backward with accumulated gradients, then one AdamW
/// step. `old`: the sampling policy's log-probs ([`OldLogprobs`] of the same `seqs` and
/// options); `None` = `logp.detach()` (on-policy).
pub fn grpo_update(
    model: &Model,
    opt: &mut AdamW,
    seqs: &[TokenSequence],
    advantages: &[f64],
    old: Option<&OldLogprobs>,
    opts: &GrpoStepOptions,
) -> Result<UpdateReport> {
    let g = &opts.grpo;
    if seqs.len() != advantages.len() {
        return Err(GrpoStepError::Invalid(format!(
            "{} sequences but {} advantages",
            seqs.len(),
            advantages.len()
        )));
    }
    check_update_options(opts)?;
    let total_tokens: usize = seqs
        .iter()
        .map(|s| s.loss_mask.iter().filter(|&&m| m).count())
        .sum();
    let t1 = Instant::now();
    let mut grads = Gradients::empty(opt.vars().len());
    let mut loss_sum = 0.0;
    let mut sums = MetricSums::default();
    check_token_ids(seqs, model.config().vocab_size)?;
    let ranges = micro_batches(seqs.len(), opts.micro_batch_size)?;
    if let Some(o) = old {
        if o.0.len() != ranges.len() {
            return Err(GrpoStepError::Invalid(format!(
                "old log-probs of {} micro-batches for {} (computed for other sequences or \
                 options)",
                o.0.len(),
                ranges.len()
            )));
        }
    }
    let scale = LossScale {
        num_items_in_batch: total_tokens as f64,
        accumulation_steps: ranges.len().max(1),
    };
    if total_tokens > 0 {
        for (i, range) in ranges.iter().enumerate() {
            let chunk = seqs.get(range.clone()).unwrap_or(&[]);
            let adv: Vec<f32> = advantages
                .get(range.clone())
                .unwrap_or(&[])
                .iter()
                .map(|&a| a as f32)
                .collect();
            let batch = pad_batch(chunk, opts.pad_id, model.device())?;
            if batch.loss_tokens == 0 {
                continue;
            }
            let adv = Tensor::from_vec(adv, chunk.len(), model.device())?;
            let old_i = old.and_then(|o| o.0.get(i)).and_then(Option::as_ref);
            let out = micro_batch_loss(model, &batch, chunk, &adv, old_i, opts, &scale)?;
            loss_sum += out.loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            grads.accumulate(&opt.gradients(&out.loss.backward()?))?;
            let w = if g.importance_sampling_level == ImportanceSamplingLevel::Sequence {
                chunk.len() as f64
            } else {
                out.tokens
            };
            sums.weight += w;
            sums.region += w * out.metrics.clip_ratio_region_mean;
            sums.kl += out.tokens * out.metrics.kl.unwrap_or(0.0);
            sums.entropy += out.tokens * out.metrics.entropy.unwrap_or(0.0);
        }
    }
    // On CUDA the last backward may still be queued: wait for it, so that the time is the work's.
    model.device().synchronize()?;
    let forward_backward_s = t1.elapsed().as_secs_f64();
    let outcome = if total_tokens > 0 {
        Some(opt.step(loss_sum, &grads)?)
    } else {
        None
    };
    let grad_norm = match outcome {
        Some(StepOutcome::Applied { grad_norm, .. }) => Some(grad_norm),
        Some(StepOutcome::Skipped { .. }) => Some(f64::NAN),
        None => None,
    };
    let tokens = total_tokens.max(1) as f64;
    Ok(UpdateReport {
        loss: loss_sum,
        kl: (g.beta != 0.0).then_some(sums.kl / tokens),
        clip_ratio_region_mean: sums.region / sums.weight.max(1.0),
        entropy: sums.entropy / tokens,
        grad_norm,
        forward_backward_s,
        outcome,
        loss_tokens: total_tokens,
    })
}

/// The first target position (after the one-token shift) that is a completion token, over the
/// rows of a micro-batch: log-probs are only computed from there on.
fn first_completion_target(chunk: &[TokenSequence]) -> usize {
    chunk
        .iter()
        .map(|s| {
            s.loss_mask
                .iter()
                .skip(1)
                .position(|&m| m)
                .unwrap_or(usize::MAX)
        })
        .min()
        .unwrap_or(0)
}

struct MicroOut {
    loss: Tensor,
    metrics: crate::grpo::LossMetrics,
    /// Loss tokens of this micro-batch.
    tokens: f64,
}

/// The target positions a micro-batch's log-probs cover: from its first completion target on.
fn target_window(batch: &PaddedBatch, chunk: &[TokenSequence]) -> Result<(usize, usize)> {
    let (_, t) = batch.targets.dims2()?;
    let start = first_completion_target(chunk).min(t.saturating_sub(1));
    Ok((start, t - start))
}

/// The policy's (adapter on, training forward) log-probs of the targets in the window, and the
/// per-token entropy when asked.
fn policy_logprobs(
    model: &Model,
    batch: &PaddedBatch,
    start: usize,
    len: usize,
    opts: &GrpoStepOptions,
    entropy: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let targets = batch.targets.narrow(1, start, len)?;
    let geometry = Batch::padded(model, &batch.attention, AdapterUse::On)?;
    let hidden = model.forward(&batch.inputs, &geometry, None, Mode::Train)?;
    let hidden = hidden.narrow(1, start, len)?;
    let lp_opts = LogprobOptions {
        temperature: opts.grpo.temperature,
        chunk_size: opts.chunk_size,
        entropy,
    };
    Ok(token_logprobs(model, &hidden, &targets, lp_opts)?)
}

fn micro_batch_loss(
    model: &Model,
    batch: &PaddedBatch,
    chunk: &[TokenSequence],
    advantages: &Tensor,
    old_logp: Option<&Tensor>,
    opts: &GrpoStepOptions,
    scale: &LossScale,
) -> Result<MicroOut> {
    let g = &opts.grpo;
    let (start, len) = target_window(batch, chunk)?;
    let targets = batch.targets.narrow(1, start, len)?;
    let mask = batch.loss_mask.narrow(1, start, len)?;
    let (logp, entropy) = policy_logprobs(model, batch, start, len, opts, true)?;
    let entropy = entropy.map(|e| e.detach());

    let ref_logp = if g.beta != 0.0 {
        let geometry = Batch::padded(model, &batch.attention, AdapterUse::Off)?;
        let hidden = model.forward(&batch.inputs, &geometry, None, Mode::Infer)?;
        let hidden = hidden.narrow(1, start, len)?.detach();
        let lp_opts = LogprobOptions {
            temperature: g.temperature,
            chunk_size: opts.chunk_size,
            entropy: false,
        };
        Some(
            token_logprobs(model, &hidden, &targets, lp_opts)?
                .0
                .detach(),
        )
    } else {
        None
    };
    let out = grpo_loss(
        g,
        &LossInputs {
            logp: &logp,
            old_logp,
            ref_logp: ref_logp.as_ref(),
            mask: &mask,
            advantages,
            entropy: entropy.as_ref(),
        },
        scale,
    )?;
    Ok(MicroOut {
        loss: out.loss,
        metrics: out.metrics,
        tokens: batch.loss_tokens as f64,
    })
}
