//! The GRPO objective, as TRL 1.16's `GRPOTrainer._compute_loss` for
//! `loss_type ∈ {grpo, bnpo, dr_grpo, dapo}`:
//!
//! ```text
//! log_ratio = clamp(logp − old_logp, ±log_ratio_clamp)        (the clamp is ours, DESIGN.md §4)
//! log_w     = log_ratio                                        (token level)
//!           = Σ_t log_ratio·mask / max(Σ_t mask, 1)  → [B, 1]  (sequence level, GSPO)
//! ρ         = exp(log_w);   ρ̂ = clamp(ρ, 1 − ε_low, 1 + ε_high)
//! loss_t    = −min(ρ·A, ρ̂·A)  (+ β·kl_t)
//! kl_t      = exp(ref − logp) − (ref − logp) − 1,  times ρ when use_bias_correction_kl
//! ```
//! aggregated with the mask `m` (per loss type):
//! `grpo`: mean_b(Σ_t loss·m / max(Σ_t m, 1)) / accumulation_steps;
//! `bnpo`: Σ loss·m / max(Σ m, 1) / accumulation_steps;
//! `dr_grpo`: Σ loss·m / (B · max_completion_length) / accumulation_steps;
//! `dapo`: Σ loss·m / max(num_items_in_batch, 1).

use candle_core::{DType, Tensor};

use super::error::{Error, Result};
use super::metrics::{loss_metrics, LossMetrics};
use super::options::{GrpoOptions, ImportanceSamplingLevel, LossType};

/// Per-token inputs of one micro-batch (all `[B, T]` unless noted; the completion positions only).
#[derive(Debug, Clone, Copy)]
pub struct LossInputs<'a> {
    /// Log-probs of the sampled tokens under the current policy (differentiable).
    pub logp: &'a Tensor,
    /// Log-probs under the sampling policy; `None` = `logp.detach()` (`num_iterations = 1`).
    pub old_logp: Option<&'a Tensor>,
    /// Log-probs under the reference (adapter off); required when `beta > 0`.
    pub ref_logp: Option<&'a Tensor>,
    /// 1 on policy-sampled tokens, 0 on padding, tool results and user turns.
    pub mask: &'a Tensor,
    /// One advantage per row, `[B]`.
    pub advantages: &'a Tensor,
    /// Per-token entropy, for the `entropy` metric.
    pub entropy: Option<&'a Tensor>,
}

/// Normalizers that depend on the whole optimizer step, not just this micro-batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossScale {
    /// Loss tokens across all micro-batches of the optimizer step (the `dapo` normalizer; TRL's
    /// `num_items_in_batch` with `steps_per_generation = gradient_accumulation_steps`).
    pub num_items_in_batch: f64,
    /// Micro-batches per optimizer step (divides the `grpo`, `bnpo` and `dr_grpo` losses).
    pub accumulation_steps: usize,
}

impl LossScale {
    /// The scale of a step made of this single micro-batch.
    pub fn single(mask: &Tensor) -> Result<Self> {
        Ok(LossScale {
            num_items_in_batch: mask.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?,
            accumulation_steps: 1,
        })
    }
}

/// The loss of one micro-batch, its per-token terms, and TRL's logged metrics.
#[derive(Debug, Clone)]
pub struct GrpoLoss {
    /// Scalar to back-propagate.
    pub loss: Tensor,
    /// `[B, T]` per-token loss before masking.
    pub per_token_loss: Tensor,
    /// The importance ratio ρ: `[B, T]` (token level) or `[B, 1]` (sequence level).
    pub ratio: Tensor,
    /// `[B, T]` per-token KL term (after the bias correction), when `beta > 0`.
    pub per_token_kl: Option<Tensor>,
    pub metrics: LossMetrics,
}

fn check_shape(name: &str, t: &Tensor, dims: &[usize]) -> Result<()> {
    if t.dims() != dims {
        return Err(Error::Invalid(format!(
            "{name} has shape {:?}, expected {dims:?}",
            t.dims()
        )));
    }
    Ok(())
}

/// Computes the GRPO loss of one micro-batch.
pub fn grpo_loss(opts: &GrpoOptions, inp: &LossInputs<'_>, scale: &LossScale) -> Result<GrpoLoss> {
    opts.validate()?;
    let (b, t) = inp.logp.dims2()?;
    let dt = inp.logp.dtype();
    check_shape("mask", inp.mask, &[b, t])?;
    check_shape("advantages", inp.advantages, &[b])?;
    if let Some(o) = inp.old_logp {
        check_shape("old_logp", o, &[b, t])?;
    }
    if let Some(r) = inp.ref_logp {
        check_shape("ref_logp", r, &[b, t])?;
    }
    if let Some(e) = inp.entropy {
        check_shape("entropy", e, &[b, t])?;
    }
    if scale.accumulation_steps == 0 {
        return Err(Error::Invalid("accumulation_steps must be ≥ 1".into()));
    }
    let mask = inp.mask.to_dtype(dt)?;
    let adv = inp.advantages.to_dtype(dt)?.reshape((b, 1))?;
    let old = match inp.old_logp {
        Some(o) => o.to_dtype(dt)?.detach(),
        None => inp.logp.detach(),
    };

    let c = opts.log_ratio_clamp;
    let log_ratio = (inp.logp - &old)?.clamp(-c, c)?;
    let log_w = match opts.importance_sampling_level {
        ImportanceSamplingLevel::Token => log_ratio,
        ImportanceSamplingLevel::Sequence => {
            let num = (&log_ratio * &mask)?.sum_keepdim(1)?;
            let den = mask.sum_keepdim(1)?.maximum(1.0)?;
            (num / den)?
        }
    };
    let ratio = log_w.exp()?;
    let (eps_low, eps_high) = opts.clip_range();
    let clipped = ratio.clamp(1.0 - eps_low, 1.0 + eps_high)?;
    let surrogate = ratio
        .broadcast_mul(&adv)?
        .minimum(&clipped.broadcast_mul(&adv)?)?
        .neg()?;

    let (per_token_loss, per_token_kl) = if opts.beta != 0.0 {
        let r = inp
            .ref_logp
            .ok_or_else(|| Error::Invalid("beta > 0 needs reference log-probs".into()))?;
        let d = (r.to_dtype(dt)?.detach() - inp.logp)?;
        let kl = ((d.exp()? - &d)? - 1.0)?;
        let kl = if opts.use_bias_correction_kl {
            kl.broadcast_mul(&ratio)?
        } else {
            kl
        };
        (surrogate.broadcast_add(&(&kl * opts.beta)?)?, Some(kl))
    } else {
        (surrogate.broadcast_as((b, t))?.contiguous()?, None)
    };

    let masked_sum = (&per_token_loss * &mask)?;
    let accum = scale.accumulation_steps as f64;
    let loss = match opts.loss_type {
        LossType::Grpo => {
            let per_seq = masked_sum
                .sum(1)?
                .broadcast_div(&mask.sum(1)?.maximum(1.0)?)?;
            (per_seq.mean_all()? / accum)?
        }
        LossType::Bnpo => {
            let tokens = mask.sum_all()?.maximum(1.0)?;
            (masked_sum.sum_all()?.div(&tokens)? / accum)?
        }
        LossType::DrGrpo => {
            let denom = (b * opts.max_completion_length) as f64;
            ((masked_sum.sum_all()? / denom)? / accum)?
        }
        LossType::Dapo => (masked_sum.sum_all()? / scale.num_items_in_batch.max(1.0))?,
    };

    let metrics = loss_metrics(
        &ratio.detach(),
        opts.importance_sampling_level == ImportanceSamplingLevel::Sequence,
        inp.advantages,
        inp.mask,
        per_token_kl.as_ref().map(Tensor::detach).as_ref(),
        inp.entropy,
        (eps_low, eps_high),
    )?;
    Ok(GrpoLoss {
        loss,
        per_token_loss,
        ratio,
        per_token_kl,
        metrics,
    })
}
