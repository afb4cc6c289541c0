//! Cold-start SFT over verified trajectories: each conversation becomes one sequence with the
//! loss on the assistant's tokens only ([`conversation_sequence`]); seeded shuffling per epoch;
//! padding-aware micro-batches with gradient accumulation; AdamW with warmup + decay.

use std::time::Instant;

use indicatif::ProgressBar;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value as Json};

use super::error::{Result, RunError};
use super::summary::TrainSummary;
use crate::chat::Tokenizer;
use crate::config::Config;
use crate::model::Model;
use crate::train::sft_data::conversation_sequence;
use crate::train::{
    loss_tokens, sft_step, AdamW, AdamWConfig, LrSchedule, SftStepOptions, StepOutcome,
    TokenSequence,
};

/// AdamW for a phase of `total_steps` steps with the `[train]` schedule.
pub fn optimizer(cfg: &Config, model: &Model, lr: f64, total_steps: usize) -> Result<AdamW> {
    let t = &cfg.train;
    let mut a = AdamWConfig::with_lr(lr);
    a.weight_decay = t.weight_decay;
    a.max_grad_norm = (t.max_grad_norm > 0.0).then_some(t.max_grad_norm);
    a.schedule = LrSchedule {
        kind: t.lr_schedule,
        warmup_steps: (t.warmup_ratio * total_steps as f64).ceil() as u64,
        total_steps: total_steps as u64,
        ..LrSchedule::default()
    };
    let vars = model.lora_vars();
    if vars.is_empty() {
        return Err(RunError::Invalid(
            "the model has no LoRA adapter to train (lora.targets / lora.layers select nothing)"
                .into(),
        ));
    }
    Ok(AdamW::new(vars, a)?)
}

/// Training sequences of chat records (`{"messages", "tools"}`); returns them and how many were
/// left out (too long for `train.max_seq_len`, or not renderable), with a reason each.
pub fn sequences(
    cfg: &Config,
    tokenizer: &Tokenizer,
    records: &[Json],
) -> (Vec<TokenSequence>, Vec<String>) {
    let mut out = Vec::new();
    let mut dropped = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let messages = r["messages"].as_array().cloned().unwrap_or_default();
        let tools = r["tools"].as_array().cloned().unwrap_or_default();
        match conversation_sequence(tokenizer, &messages, &tools) {
            Ok(s) if s.ids.len() > cfg.train.max_seq_len => dropped.push(format!(
                "trajectory {i}: {} tokens > train.max_seq_len = {}",
                s.ids.len(),
                cfg.train.max_seq_len
            )),
            Ok(s) if loss_tokens(&s) == 0 => {
                dropped.push(format!("trajectory {i}: no assistant tokens"))
            }
            Ok(s) => out.push(s),
            Err(e) => dropped.push(format!("trajectory {i}: {e}")),
        }
    }
    (out, dropped)
}

/// Runs the SFT phase; returns its summary and one metrics line per step.
#[allow(clippy::too_many_arguments)]
pub fn run_sft(
    cfg: &Config,
    model: &Model,
    tokenizer: &Tokenizer,
    records: &[Json],
    iteration: usize,
    epochs: usize,
    learning_rate: f64,
    bar: &ProgressBar,
) -> Result<(TrainSummary, Vec<Json>, AdamW)> {
    let t0 = Instant::now();
    let t = &cfg.train;
    let (seqs, dropped) = sequences(cfg, tokenizer, records);
    for d in &dropped {
        tracing::warn!("SFT: left out {d}");
    }
    if seqs.is_empty() {
        return Err(RunError::Invalid(format!(
            "no usable SFT trajectories ({} verified, {} left out); synthesize more \
             (synth.episodes) or raise train.max_seq_len",
            records.len(),
            dropped.len()
        )));
    }
    let lens: Vec<usize> = seqs.iter().map(|s| s.ids.len()).collect();
    tracing::info!(
        "SFT: {} sequences, {} tokens (mean {}, max {}), {} loss tokens, {} epochs",
        seqs.len(),
        lens.iter().sum::<usize>(),
        lens.iter().sum::<usize>() / lens.len().max(1),
        lens.iter().max().copied().unwrap_or(0),
        seqs.iter().map(loss_tokens).sum::<usize>(),
        epochs
    );
    let per_epoch = seqs.len().div_ceil(t.sft_batch_size);
    let total = per_epoch * epochs;
    let mut opt = optimizer(cfg, model, learning_rate, total.max(1))?;
    let pad_id = tokenizer.eos_id().unwrap_or(0);
    let step_opts = SftStepOptions {
        micro_batch_size: t.micro_batch_size,
        pad_id,
        chunk_size: t.logprob_chunk,
    };
    bar.set_length(total as u64);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.run.seed ^ 0x5F7 ^ iteration as u64);
    let mut order: Vec<usize> = (0..seqs.len()).collect();
    let mut summary = TrainSummary {
        phase: "sft".into(),
        sequences: seqs.len(),
        dropped: dropped.len(),
        ..TrainSummary::default()
    };
    let mut lines = Vec::with_capacity(total);
    let mut step = 0usize;
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        for chunk in order.chunks(t.sft_batch_size) {
            let batch: Vec<TokenSequence> = chunk.iter().map(|&i| seqs[i].clone()).collect();
            let lr = opt.current_lr();
            let r = sft_step(model, &mut opt, &batch, &step_opts)?;
            let grad_norm = match r.outcome {
                StepOutcome::Applied { grad_norm, .. } => {
                    summary.steps += 1;
                    Some(grad_norm)
                }
                StepOutcome::Skipped { reason, .. } => {
                    summary.skipped += 1;
                    tracing::warn!("SFT step {step} skipped: {reason:?}");
                    None
                }
            };
            if step == 0 {
                summary.first_loss = r.loss;
            }
            summary.last_loss = r.loss;
            lines.push(json!({
                "iteration": iteration,
                "phase": "sft",
                "step": step,
                "epoch": epoch,
                "loss": r.loss,
                "learning_rate": lr,
                "grad_norm": grad_norm,
                "num_tokens": r.loss_tokens,
            }));
            tracing::debug!(step, loss = r.loss, lr, tokens = r.loss_tokens, "SFT step");
            step += 1;
            bar.inc(1);
            bar.set_message(format!("loss {:.3}", r.loss));
        }
    }
    summary.peak_rss_mb = peak_rss_mb();
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok((summary, lines, opt))
}

/// Peak resident set size of this process in MB (`VmHWM`; 0 where unavailable).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}
