//! GRPO behaviours beyond the TRL golden numbers: the log-ratio clamp, truncation masking, dropping
//! zero-variance groups, accumulation identities, option parsing, and input validation.

use candle_core::{DType, Device, Tensor, Var};
use trainer::grpo::{
    compute_advantages, grpo_loss, is_truncated, mask_from_rows, mask_truncated, GrpoOptions,
    LossInputs, LossScale, LossType, ScaleRewards,
};

fn t2(v: &[f64], b: usize, t: usize) -> Tensor {
    Tensor::from_vec(v.to_vec(), (b, t), &Device::Cpu).unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

fn vec(t: &Tensor) -> Vec<f64> {
    t.flatten_all().unwrap().to_vec1::<f64>().unwrap()
}

/// A fixed batch: 4 rows × 5 tokens, ragged mask, off-policy old log-probs, reference log-probs.
fn batch() -> (Tensor, Tensor, Tensor, Tensor, Tensor) {
    let logp: Vec<f64> = (0..20).map(|i| -0.1 - 0.13 * (i % 7) as f64).collect();
    let old: Vec<f64> = logp
        .iter()
        .enumerate()
        .map(|(i, x)| x + 0.05 * ((i * 5 % 9) as f64 - 4.0))
        .collect();
    let reference: Vec<f64> = logp
        .iter()
        .enumerate()
        .map(|(i, x)| x - 0.07 * ((i * 3 % 5) as f64 - 2.0))
        .collect();
    let mask = mask_from_rows(
        &[
            vec![true; 5],
            vec![true, true, false, false, false],
            vec![true, false, true, true, false],
            vec![true, true, true, true, false],
        ],
        DType::F64,
        &Device::Cpu,
    )
    .unwrap();
    let adv = Tensor::new(&[0.7f64, -1.2, 0.3, 0.9], &Device::Cpu).unwrap();
    (
        t2(&logp, 4, 5),
        t2(&old, 4, 5),
        t2(&reference, 4, 5),
        mask,
        adv,
    )
}

fn loss_of(opts: &GrpoOptions, rows: std::ops::Range<usize>, scale: LossScale) -> f64 {
    let (logp, old, reference, mask, adv) = batch();
    let n = rows.len();
    let pick = |t: &Tensor| t.narrow(0, rows.start, n).unwrap();
    let (logp, old, reference, mask, adv) = (
        pick(&logp),
        pick(&old),
        pick(&reference),
        pick(&mask),
        pick(&adv),
    );
    let inputs = LossInputs {
        logp: &logp,
        old_logp: Some(&old),
        ref_logp: Some(&reference),
        mask: &mask,
        advantages: &adv,
        entropy: None,
    };
    scalar(&grpo_loss(opts, &inputs, &scale).unwrap().loss)
}

#[test]
fn accumulated_micro_batches_add_up_to_the_full_batch_loss() {
    let (_, _, _, mask, _) = batch();
    let total = LossScale::single(&mask).unwrap().num_items_in_batch;
    for lt in [LossType::Dapo, LossType::Grpo, LossType::DrGrpo] {
        let opts = GrpoOptions {
            loss_type: lt,
            beta: 0.05,
            max_completion_length: 5,
            ..GrpoOptions::default()
        };
        let full = loss_of(&opts, 0..4, LossScale::single(&mask).unwrap());
        let split = LossScale {
            num_items_in_batch: total,
            accumulation_steps: 2,
        };
        let halves = loss_of(&opts, 0..2, split) + loss_of(&opts, 2..4, split);
        assert!(
            (full - halves).abs() < 1e-12,
            "{lt:?}: full batch {full} vs accumulated halves {halves}"
        );
    }
}

#[test]
fn log_ratio_is_clamped_and_clamped_tokens_get_no_gradient() {
    let logp = Var::from_tensor(&t2(&[-0.5, -1.0, -0.2], 1, 3)).unwrap();
    // Token 0 is 30 nats more likely now than when sampled: its log-ratio is clamped to 20.
    let old = t2(&[-30.5, -1.1, -0.2], 1, 3);
    let mask = t2(&[1.0, 1.0, 1.0], 1, 3);
    let adv = Tensor::new(&[-1.0f64], &Device::Cpu).unwrap();
    let opts = GrpoOptions {
        loss_type: LossType::Bnpo,
        ..GrpoOptions::default()
    };
    let inputs = LossInputs {
        logp: logp.as_tensor(),
        old_logp: Some(&old),
        ref_logp: None,
        mask: &mask,
        advantages: &adv,
        entropy: None,
    };
    let out = grpo_loss(&opts, &inputs, &LossScale::single(&mask).unwrap()).unwrap();
    let ratio = vec(&out.ratio);
    assert!((ratio[0] - 20f64.exp()).abs() / 20f64.exp() < 1e-12);
    let g = vec(out.loss.backward().unwrap().get(logp.as_tensor()).unwrap());
    assert_eq!(g[0], 0.0, "a clamped log-ratio must not pass gradient");
    assert!(
        g[1] != 0.0,
        "an unclamped token inside the clip range passes gradient"
    );
    assert!(out.metrics.clip_ratio_low_mean == 0.0 && out.metrics.clip_ratio_high_mean == 0.0);
}

#[test]
fn truncated_completions_are_masked_whole() {
    assert!(is_truncated(&[5, 6, 7], &[2, 0]));
    assert!(!is_truncated(&[5, 6, 2], &[2, 0]));
    assert!(!is_truncated(&[5, 0, 0], &[2, 0]));
    assert!(!is_truncated(&[], &[2]));
    let mask = t2(&[1.0, 1.0, 1.0, 1.0, 0.0, 0.0], 2, 3);
    let masked = mask_truncated(&mask, &[true, false]).unwrap();
    assert_eq!(vec(&masked), vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
    assert!(mask_truncated(&mask, &[true]).is_err());
}

#[test]
fn zero_variance_groups_are_flagged_and_dropped() {
    let rewards = [
        Some(1.0),
        Some(1.0),
        Some(1.0), // zero spread
        Some(0.0),
        Some(1.0),
        None, // spread
        Some(0.5),
        None,
        None, // a single scorable row: no spread
    ];
    let a = compute_advantages(&rewards, 3, ScaleRewards::Group).unwrap();
    assert_eq!(a.zero_std_groups, vec![true, false, true]);
    assert_eq!(a.informative_rows(3), vec![3, 4, 5]);
    // TRL counts rows whose std is ~0 (NaN std is not "zero"): the first group's three rows.
    assert!((a.frac_reward_zero_std - 3.0 / 9.0).abs() < 1e-12);
    assert!(a
        .values
        .iter()
        .enumerate()
        .all(|(i, v)| (3..5).contains(&i) || *v == 0.0));
}

#[test]
fn invalid_inputs_are_typed_errors() {
    assert!(compute_advantages(&[Some(1.0); 5], 2, ScaleRewards::Group).is_err());
    assert!(compute_advantages(&[Some(f64::NAN), Some(1.0)], 2, ScaleRewards::Group).is_err());
    assert!(compute_advantages(&[], 2, ScaleRewards::Group).is_err());
    let (logp, old, _, mask, adv) = batch();
    let opts = GrpoOptions {
        beta: 0.1,
        ..GrpoOptions::default()
    };
    let mut inputs = LossInputs {
        logp: &logp,
        old_logp: Some(&old),
        ref_logp: None,
        mask: &mask,
        advantages: &adv,
        entropy: None,
    };
    let scale = LossScale::single(&mask).unwrap();
    let e = grpo_loss(&opts, &inputs, &scale).unwrap_err().to_string();
    assert!(e.contains("reference"), "{e}");
    let short = adv.narrow(0, 0, 3).unwrap();
    inputs.ref_logp = Some(&old);
    inputs.advantages = &short;
    let e = grpo_loss(&opts, &inputs, &scale).unwrap_err().to_string();
    assert!(e.contains("advantages"), "{e}");
    let bad = GrpoOptions {
        epsilon: 1.5,
        ..GrpoOptions::default()
    };
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("epsilon"), "{e}");
}

#[test]
fn options_use_trl_names_and_defaults() {
    let o: GrpoOptions = serde_json::from_str(
        r#"{"num_generations": 4, "beta": 0.04, "epsilon_high": 0.28, "loss_type": "dr_grpo",
            "scale_rewards": "batch", "importance_sampling_level": "sequence",
            "mask_truncated_completions": true}"#,
    )
    .unwrap();
    assert_eq!(o.loss_type, LossType::DrGrpo);
    assert_eq!(o.clip_range(), (0.2, 0.28));
    assert!(o.use_bias_correction_kl);
    let d = GrpoOptions::default();
    assert_eq!(
        (d.loss_type, d.scale_rewards),
        (LossType::Dapo, ScaleRewards::Group)
    );
    assert!(serde_json::from_str::<GrpoOptions>(r#"{"epsilon_low": 0.1}"#).is_err());
    assert!(serde_json::from_str::<GrpoOptions>(r#"{"loss_type": "ppo"}"#).is_err());
}
