//! Log-probabilities of given target tokens, computed a chunk of positions at a time so the full
//! `[B, T, vocab]` logits tensor is never materialized at once (f32 arithmetic throughout).

use candle_core::{Tensor, D};

use super::decoder::Model;
use super::error::{Error, Result};
use super::layers::acc_dtype;
use super::selected_logsoftmax::selected_log_softmax;

#[derive(Debug, Clone, Copy)]
pub struct LogprobOptions {
    /// Logits are divided by the sampling temperature before the softmax (TRL does the same).
    pub temperature: f64,
    /// Positions per chunk.
    pub chunk_size: usize,
    /// Also return the per-position entropy of the (tempered) distribution (a metric: it carries
    /// no gradient).
    pub entropy: bool,
}

impl Default for LogprobOptions {
    fn default() -> Self {
        LogprobOptions {
            temperature: 1.0,
            chunk_size: 64,
            entropy: false,
        }
    }
}

/// `hidden: [B, T, H]` (final hidden states), `targets: [B, T]` u32 → `log p(target) : [B, T]`
/// (and the entropy `[B, T]` if asked). Differentiable w.r.t. `hidden`.
pub fn token_logprobs(
    model: &Model,
    hidden: &Tensor,
    targets: &Tensor,
    opts: LogprobOptions,
) -> Result<(Tensor, Option<Tensor>)> {
    let (b, t, h) = hidden.dims3()?;
    if targets.dims() != [b, t] {
        return Err(Error::Invalid(format!(
            "targets {:?} do not match hidden states [{b}, {t}, ..]",
            targets.dims()
        )));
    }
    if !(opts.temperature > 0.0) || opts.chunk_size == 0 {
        return Err(Error::Invalid(
            "temperature and chunk_size must be positive".into(),
        ));
    }
    let w = model.lm_head();
    let mut lps = Vec::new();
    let mut ents = Vec::new();
    let mut start = 0;
    while start < t {
        let len = opts.chunk_size.min(t - start);
        let hs = hidden.narrow(1, start, len)?.reshape((b * len, h))?;
        // The LM head is frozen: only the hidden-state gradient is computed.
        let logits = super::frozen::frozen_linear(&hs, w)?.to_dtype(acc_dtype(hs.dtype()))?;
        let tgt = targets
            .narrow(1, start, len)?
            .reshape((b * len, 1))?
            .contiguous()?;
        if logits.device().is_cpu() {
            // One fused node per chunk (forward and backward in one pass each).
            let tg: Vec<u32> = tgt.flatten_all()?.to_vec1()?;
            let (lp, ent) = selected_log_softmax(&logits, &tg, opts.temperature, opts.entropy)?;
            lps.push(lp.reshape((b, len))?);
            if let Some(e) = ent {
                ents.push(e.reshape((b, len))?);
            }
            start += len;
            continue;
        }
        let logits = (logits / opts.temperature)?;
        // logsumexp with a detached max: the shift is a constant, so the gradient is the softmax.
        let m = logits.detach().max_keepdim(D::Minus1)?;
        let shifted = logits.broadcast_sub(&m)?;
        let sum_exp = shifted.exp()?.sum_keepdim(D::Minus1)?;
        let lse = (sum_exp.log()? + &m)?;
        let picked = logits.gather(&tgt, D::Minus1)?;
        lps.push((picked - &lse)?.reshape((b, len))?);
        if opts.entropy {
            let logp = logits.broadcast_sub(&lse)?;
            let ent = (logp.exp()? * &logp)?.sum(D::Minus1)?.neg()?.detach();
            ents.push(ent.reshape((b, len))?);
        }
        start += len;
    }
    let lp = Tensor::cat(&lps, 1)?;
    let ent = if opts.entropy {
        Some(Tensor::cat(&ents, 1)?)
    } else {
        None
    };
    Ok((lp, ent))
}
