//! Padding-aware batching of variable-length token sequences for teacher-forced training.

use std::ops::Range;

use candle_core::{Device, Tensor};

use super::error::{Error, Result};

/// One training sequence: token ids and, per token, whether the model is trained to produce it
/// (true on assistant tokens; false on system / user / tool tokens).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenSequence {
    pub ids: Vec<u32>,
    pub loss_mask: Vec<bool>,
}

/// A right-padded batch: position `t` of row `b` reads `inputs[b][t]` and predicts `targets[b][t]`
/// (the next token). Padding positions have `attention = false` and `loss_mask = 0`.
#[derive(Debug, Clone)]
pub struct PaddedBatch {
    /// `[B, T]` u32.
    pub inputs: Tensor,
    /// `[B, T]` u32.
    pub targets: Tensor,
    /// `[B, T]` f32, 1.0 where the target token carries loss.
    pub loss_mask: Tensor,
    /// `B × T`, true on real (non-padding) positions; feed to `Batch::padded`.
    pub attention: Vec<Vec<bool>>,
    /// Number of positions with loss (the sum of `loss_mask`).
    pub loss_tokens: usize,
}

/// Loss-carrying targets of one sequence after the one-token shift.
pub fn loss_tokens(seq: &TokenSequence) -> usize {
    seq.loss_mask.iter().skip(1).filter(|&&m| m).count()
}

/// Shifts each sequence by one (inputs = ids[..n-1], targets = ids[1..], mask = loss_mask[1..])
/// and right-pads to the longest with `pad_id`.
pub fn pad_batch(seqs: &[TokenSequence], pad_id: u32, device: &Device) -> Result<PaddedBatch> {
    if seqs.is_empty() {
        return Err(Error::Invalid("empty batch of sequences".into()));
    }
    for (i, s) in seqs.iter().enumerate() {
        if s.ids.len() < 2 {
            return Err(Error::Invalid(format!(
                "sequence {i} has {} tokens; at least 2 are needed to predict one",
                s.ids.len()
            )));
        }
        if s.loss_mask.len() != s.ids.len() {
            return Err(Error::Invalid(format!(
                "sequence {i}: {} loss-mask entries for {} tokens",
                s.loss_mask.len(),
                s.ids.len()
            )));
        }
    }
    let t = seqs.iter().map(|s| s.ids.len() - 1).max().unwrap_or(0);
    let b = seqs.len();
    let mut inputs = Vec::with_capacity(b * t);
    let mut targets = Vec::with_capacity(b * t);
    let mut mask = Vec::with_capacity(b * t);
    let mut attention = Vec::with_capacity(b);
    let mut n_loss = 0;
    for s in seqs {
        let n = s.ids.len() - 1;
        let pad = t - n;
        inputs.extend(s.ids.iter().take(n).copied());
        inputs.extend(std::iter::repeat_n(pad_id, pad));
        targets.extend(s.ids.iter().skip(1).copied());
        targets.extend(std::iter::repeat_n(pad_id, pad));
        for &m in s.loss_mask.iter().skip(1) {
            mask.push(if m { 1.0f32 } else { 0.0 });
            n_loss += usize::from(m);
        }
        mask.extend(std::iter::repeat_n(0.0f32, pad));
        let mut row = vec![true; n];
        row.resize(t, false);
        attention.push(row);
    }
    Ok(PaddedBatch {
        inputs: Tensor::from_vec(inputs, (b, t), device)?,
        targets: Tensor::from_vec(targets, (b, t), device)?,
        loss_mask: Tensor::from_vec(mask, (b, t), device)?,
        attention,
        loss_tokens: n_loss,
    })
}

/// Every token id of `seqs` is below `vocab_size`. Checked on the host before a batch is
/// uploaded: on CUDA an out-of-range id in the embedding lookup is a device-side assert that
/// poisons the whole context (on the CPU candle reports it, after the fact).
pub fn check_token_ids(seqs: &[TokenSequence], vocab_size: usize) -> Result<()> {
    for (i, s) in seqs.iter().enumerate() {
        if let Some((t, &id)) = s
            .ids
            .iter()
            .enumerate()
            .find(|(_, &id)| id as usize >= vocab_size)
        {
            return Err(Error::Invalid(format!(
                "sequence {i}, token {t}: id {id} is outside the model's vocabulary of \
                 {vocab_size} (a tokenizer that does not match the model?)"
            )));
        }
    }
    Ok(())
}

/// Consecutive index ranges of at most `size` items covering `0..n`.
pub fn micro_batches(n: usize, size: usize) -> Result<Vec<Range<usize>>> {
    if size == 0 {
        return Err(Error::config("micro_batch_size", "must be ≥ 1"));
    }
    Ok((0..n).step_by(size).map(|s| s..(s + size).min(n)).collect())
}
