//! GRPO end to end on a toy verifiable task: a tiny random model learns to emit tokens from a
//! fixed subset of the vocabulary (reward = fraction of completion tokens in the subset). Seeded
//! and deterministic: the mean reward must rise clearly, and two runs must agree bit for bit.

mod common;

use candle_core::{DType, Device};
use common::*;
use trainer::grpo::GrpoOptions;
use trainer::model::{Arch, LoraConfig, LoraTarget, Model, TensorMap};
use trainer::train::{
    grpo_step, grpo_update, grpo_updates, AdamW, AdamWConfig, GrpoStepOptions, OldLogprobs,
    StepOutcome, TokenSequence,
};

/// Target subset: token ids 10..30 (20 of 97, so a uniform policy scores about 0.21).
fn in_target(t: u32) -> bool {
    (10..30).contains(&t)
}

fn reward(completion: &[u32]) -> Option<f64> {
    if completion.is_empty() {
        return None;
    }
    Some(completion.iter().filter(|&&t| in_target(t)).count() as f64 / completion.len() as f64)
}

struct Run {
    rewards: Vec<f64>,
    kls: Vec<Option<f64>>,
    /// PEFT names of the LoRA tensors.
    names: Vec<String>,
    /// Bit patterns of every LoRA tensor after training.
    final_bits: Vec<Vec<u32>>,
}

fn train(steps: u64, beta: f64, micro_batch_size: usize) -> Run {
    train_with(steps, beta, micro_batch_size, AdamWConfig::with_lr(2e-2))
}

/// The toy policy: a tiny random Qwen2 with LoRA on every target.
fn toy_model() -> Model {
    let mut cfg = tiny_config(Arch::Qwen2);
    cfg.hidden_size = 64;
    cfg.intermediate_size = 96;
    cfg.head_dim = 16;
    let weights = TensorMap::random(&cfg, 11, 0.2).unwrap();
    let mut model = Model::load(&cfg, &weights, DType::F32, &Device::Cpu).unwrap();
    model
        .attach_lora(&LoraConfig {
            r: 8,
            alpha: 16.0,
            targets: LoraTarget::ALL.to_vec(),
            use_rslora: false,
            seed: 3,
            layers: None,
        })
        .unwrap();
    model
}

fn lora_bits(model: &Model) -> Vec<Vec<u32>> {
    model
        .lora_vars()
        .iter()
        .map(|(_, v)| bits(v.as_tensor()))
        .collect()
}

fn train_with(steps: u64, beta: f64, micro_batch_size: usize, adam: AdamWConfig) -> Run {
    let model = toy_model();
    let cfg = model.config().clone();
    let mut opt = AdamW::new(model.lora_vars(), adam).unwrap();
    let grpo = GrpoOptions {
        num_generations: 8,
        max_completion_length: 7,
        beta,
        ..GrpoOptions::default()
    };
    let mut opts = GrpoStepOptions::new(grpo);
    opts.micro_batch_size = micro_batch_size;
    let prompts = ids(4, 5, cfg.vocab_size, 42);
    let mut rewards = Vec::new();
    let mut kls = Vec::new();
    for step in 0..steps {
        let r = grpo_step(
            &model,
            &mut opt,
            &prompts,
            &mut |_, c| reward(c),
            &opts,
            1000 + step,
        )
        .unwrap();
        assert!(matches!(r.outcome, Some(StepOutcome::Applied { .. })));
        assert_eq!(r.completions.len(), 32);
        assert!(r.completions.iter().all(|c| c.len() == 7));
        assert_eq!(r.mean_length, 7.0);
        assert_eq!(r.clipped_ratio, 1.0);
        // On-policy: the importance ratio is exactly 1, so nothing is clipped.
        assert_eq!(r.clip_ratio_region_mean, 0.0);
        assert!(r.entropy > 0.0 && r.entropy <= (97f64).ln() + 1e-6);
        assert_eq!(r.kl.is_some(), beta > 0.0);
        rewards.push(r.reward);
        kls.push(r.kl);
    }
    let names = model.lora_vars().into_iter().map(|(n, _)| n).collect();
    let final_bits = lora_bits(&model);
    Run {
        rewards,
        kls,
        names,
        final_bits,
    }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

#[test]
fn grpo_raises_the_toy_reward_deterministically() {
    let steps = 20;
    // 32 rows in micro-batches of 12, 12 and 8.
    let a = train(steps, 0.0, 12);
    let start = mean(&a.rewards[..3]);
    let end = mean(&a.rewards[a.rewards.len() - 3..]);
    eprintln!("GRPO toy rewards: {:?}", a.rewards);
    eprintln!("start {start:.3} → end {end:.3}");
    // Measured: 0.243 → 0.997 (the reward saturates after about 8 steps).
    assert!(start < 0.4, "a random policy scores about 0.2, got {start}");
    assert!(end > start + 0.5, "reward rose only from {start} to {end}");
    let b = train(steps, 0.0, 12);
    assert_eq!(
        a.rewards.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        b.rewards.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    assert_eq!(a.final_bits, b.final_bits);
}

/// With the default `dapo` loss (normalized by the whole step's loss tokens) the summed
/// micro-batch gradients are the full-batch gradient. Adam's first step is nearly scale-free, so
/// `eps = 1` (and no clipping) makes the update ≈ `lr · g` and sensitive to the gradient's scale.
#[test]
fn micro_batching_matches_the_full_batch_update() {
    let mut adam = AdamWConfig::with_lr(1e-2);
    adam.eps = 1.0;
    adam.max_grad_norm = None;
    let full = train_with(1, 0.0, 32, adam);
    let split = train_with(1, 0.0, 5, adam);
    assert_eq!(full.rewards, split.rewards, "same seeds, same completions");
    // lora_B starts at zero, so its final value is the update itself.
    let (mut worst, mut size) = (0.0f64, 0.0f64);
    for ((name, a), b) in full
        .names
        .iter()
        .zip(&full.final_bits)
        .zip(&split.final_bits)
    {
        if !name.ends_with("lora_B.weight") {
            continue;
        }
        for (x, y) in a.iter().zip(b) {
            let (x, y) = (f32::from_bits(*x) as f64, f32::from_bits(*y) as f64);
            worst = worst.max((x - y).abs());
            size = size.max(x.abs());
        }
    }
    eprintln!("lora_B update max {size:e}, full vs micro-batched differ by {worst:e}");
    assert!(size > 0.0);
    assert!(
        worst < 1e-3 * size,
        "micro-batched update differs by {worst} (size {size})"
    );
}

#[test]
fn grpo_with_kl_penalty_reports_kl() {
    let run = train(3, 0.04, 16);
    let kl: Vec<f64> = run.kls.iter().map(|k| k.unwrap()).collect();
    eprintln!("kl per step: {kl:?}");
    // LoRA B starts at zero: the policy is the reference at step 0, then moves away.
    assert!(kl[0].abs() < 1e-5, "step-0 kl {}", kl[0]);
    assert!(kl[2] > 1e-6, "kl after two updates {}", kl[2]);
}

/// `grpo.num_iterations` = μ > 1 (TRL): the first update of a batch, against the log-probs from
/// before it, is the on-policy update bit for bit; the later ones are off-policy (ratio ≠ 1),
/// so the clipping acts; `grpo_updates` makes μ optimizer steps.
#[test]
fn several_updates_per_batch_start_on_policy_then_clip() {
    let vocab = toy_model().config().vocab_size;
    // 16 rows: a 5-token prompt and 7 completion tokens, advantages ±1.
    let rows = ids(16, 12, vocab, 7);
    let seqs: Vec<TokenSequence> = rows
        .iter()
        .map(|r| TokenSequence {
            ids: r.clone(),
            loss_mask: (0..r.len()).map(|i| i >= 5).collect(),
        })
        .collect();
    let adv: Vec<f64> = (0..16)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let mut opts = GrpoStepOptions::new(GrpoOptions {
        num_iterations: 3,
        ..GrpoOptions::default()
    });
    opts.micro_batch_size = 6;
    let adam = AdamWConfig::with_lr(0.1);

    let on_policy = toy_model();
    let mut opt = AdamW::new(on_policy.lora_vars(), adam).unwrap();
    let r = grpo_update(&on_policy, &mut opt, &seqs, &adv, None, &opts).unwrap();
    assert_eq!(r.clip_ratio_region_mean, 0.0);

    let model = toy_model();
    let mut opt = AdamW::new(model.lora_vars(), adam).unwrap();
    let old = OldLogprobs::compute(&model, &seqs, &opts).unwrap();
    let first = grpo_update(&model, &mut opt, &seqs, &adv, Some(&old), &opts).unwrap();
    assert_eq!(lora_bits(&model), lora_bits(&on_policy));
    assert_eq!(first.loss.to_bits(), r.loss.to_bits());
    assert_eq!(first.clip_ratio_region_mean, 0.0);
    let second = grpo_update(&model, &mut opt, &seqs, &adv, Some(&old), &opts).unwrap();
    let third = grpo_update(&model, &mut opt, &seqs, &adv, Some(&old), &opts).unwrap();
    eprintln!(
        "clipped share per update: {} {} {}",
        first.clip_ratio_region_mean, second.clip_ratio_region_mean, third.clip_ratio_region_mean
    );
    assert!(third.clip_ratio_region_mean > 0.0, "{third:?}");

    // grpo_updates: the same three updates, three optimizer steps.
    let again = toy_model();
    let mut opt = AdamW::new(again.lora_vars(), adam).unwrap();
    let reports = grpo_updates(&again, &mut opt, &seqs, &adv, &opts).unwrap();
    assert_eq!(reports.len(), 3);
    assert_eq!(opt.step_count(), 3);
    assert_eq!(lora_bits(&again), lora_bits(&model));
    // Old log-probs of other sequences are refused, not misapplied.
    let err = grpo_update(&again, &mut opt, &seqs[..4], &adv[..4], Some(&old), &opts);
    assert!(err.is_err());
}
