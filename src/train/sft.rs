//! Supervised fine-tuning building blocks: masked token cross-entropy and one optimizer step over
//! a batch split into micro-batches with gradient accumulation.
//!
//! Each micro-batch's loss is its masked NLL sum divided by the loss-token count of the *whole*
//! batch, so the summed micro-batch gradients equal the gradient of the full-batch mean NLL.

use candle_core::{DType, Tensor};

use super::batch::{
    check_token_ids, loss_tokens, micro_batches, pad_batch, PaddedBatch, TokenSequence,
};
use super::error::{Error, Result};
use super::grads::Gradients;
use super::optim::{AdamW, StepOutcome};
use crate::model::{token_logprobs, AdapterUse, Batch, LogprobOptions, Mode, Model};

/// `−Σ logp·mask / normalizer` (scalar). `logp`, `mask`: `[B, T]`.
pub fn masked_nll(logp: &Tensor, mask: &Tensor, normalizer: f64) -> Result<Tensor> {
    if logp.dims() != mask.dims() {
        return Err(Error::Invalid(format!(
            "log-probs {:?} and loss mask {:?} differ in shape",
            logp.dims(),
            mask.dims()
        )));
    }
    if !normalizer.is_finite() || normalizer <= 0.0 {
        return Err(Error::Invalid(format!(
            "loss normalizer must be finite and > 0, got {normalizer}"
        )));
    }
    let mask = mask.to_dtype(logp.dtype())?;
    Ok(((logp * mask)?.sum_all()?.neg()? / normalizer)?)
}

/// Target log-probs `[B, T]` of a padded batch under the adapter-on policy (training forward).
pub fn batch_logprobs(model: &Model, batch: &PaddedBatch, chunk_size: usize) -> Result<Tensor> {
    let geometry = Batch::padded(model, &batch.attention, AdapterUse::On)?;
    let hidden = model.forward(&batch.inputs, &geometry, None, Mode::Train)?;
    let opts = LogprobOptions {
        temperature: 1.0,
        chunk_size,
        entropy: false,
    };
    Ok(token_logprobs(model, &hidden, &batch.targets, opts)?.0)
}

/// `Σ log p(target)` over the loss positions of a padded batch (scalar), under the adapter-on
/// policy (training forward). Only the loss positions go through the LM head: on tool-use SFT data
/// most positions are system prompt, tool schemas, tool results or padding, which carry no loss,
/// and the `[hidden × vocab]` head (and its backward) is a large share of a small model's cost.
/// Equal to `(batch_logprobs · loss_mask).sum()`.
pub fn masked_logprob_sum(model: &Model, batch: &PaddedBatch, chunk_size: usize) -> Result<Tensor> {
    let geometry = Batch::padded(model, &batch.attention, AdapterUse::On)?;
    let hidden = model.forward(&batch.inputs, &geometry, None, Mode::Train)?;
    let (b, t, h) = hidden.dims3()?;
    let mask: Vec<f32> = batch.loss_mask.flatten_all()?.to_vec1()?;
    let picked: Vec<u32> = mask
        .iter()
        .enumerate()
        .filter(|(_, &m)| m != 0.0)
        .map(|(i, _)| i as u32)
        .collect();
    if picked.is_empty() {
        return Err(Error::Invalid(
            "the batch has no loss-carrying tokens".into(),
        ));
    }
    let n = picked.len();
    let index = Tensor::from_vec(picked, n, hidden.device())?;
    let rows = hidden
        .reshape((b * t, h))?
        .index_select(&index, 0)?
        .unsqueeze(0)?;
    let targets = batch
        .targets
        .flatten_all()?
        .index_select(&index, 0)?
        .unsqueeze(0)?;
    let opts = LogprobOptions {
        temperature: 1.0,
        chunk_size,
        entropy: false,
    };
    Ok(token_logprobs(model, &rows, &targets, opts)?.0.sum_all()?)
}

/// Settings of one SFT step.
#[derive(Debug, Clone, Copy)]
pub struct SftStepOptions {
    /// Sequences per forward/backward pass.
    pub micro_batch_size: usize,
    /// Token id used for padding (never trained on).
    pub pad_id: u32,
    /// Positions per log-prob chunk.
    pub chunk_size: usize,
}

/// What one SFT step did.
#[derive(Debug, Clone, Copy)]
pub struct SftStepReport {
    /// Mean masked NLL over the batch's loss tokens (before the update).
    pub loss: f64,
    pub loss_tokens: usize,
    pub outcome: StepOutcome,
}

/// Accumulated gradients of the full-batch mean masked NLL and its value.
pub fn sft_gradients(
    model: &Model,
    opt: &AdamW,
    seqs: &[TokenSequence],
    opts: &SftStepOptions,
) -> Result<(f64, usize, Gradients)> {
    let total: usize = seqs.iter().map(loss_tokens).sum();
    if total == 0 {
        return Err(Error::Invalid(
            "the batch has no loss-carrying tokens".into(),
        ));
    }
    let mut grads = Gradients::empty(opt.vars().len());
    let mut loss_sum = 0.0;
    check_token_ids(seqs, model.config().vocab_size)?;
    for range in micro_batches(seqs.len(), opts.micro_batch_size)? {
        let chunk = seqs.get(range.clone()).unwrap_or(&[]);
        let batch = pad_batch(chunk, opts.pad_id, model.device())?;
        if batch.loss_tokens == 0 {
            continue;
        }
        let loss = (masked_logprob_sum(model, &batch, opts.chunk_size)?.neg()? / total as f64)?;
        loss_sum += loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        grads.accumulate(&opt.gradients(&loss.backward()?))?;
    }
    Ok((loss_sum, total, grads))
}

/// One optimizer step on `seqs`, micro-batched with gradient accumulation.
pub fn sft_step(
    model: &Model,
    opt: &mut AdamW,
    seqs: &[TokenSequence],
    opts: &SftStepOptions,
) -> Result<SftStepReport> {
    let (loss, loss_tokens, grads) = sft_gradients(model, opt, seqs, opts)?;
    let outcome = opt.step(loss, &grads)?;
    Ok(SftStepReport {
        loss,
        loss_tokens,
        outcome,
    })
}
