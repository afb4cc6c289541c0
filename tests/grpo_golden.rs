//! GRPO math against TRL 1.16: advantages (every `scale_rewards` mode, unscorable rows), per-token
//! losses, ratios, KL, each loss aggregation, the gradient w.r.t. the log-probs, and the logged
//! metrics. Golden numbers: `scripts/grpo_golden.py` → `tests/fixtures/grpo/golden.json`.

use candle_core::{DType, Device, Tensor, Var};
use serde_json::Value;
use trainer::grpo::{
    compute_advantages, grpo_loss, GrpoOptions, ImportanceSamplingLevel, LossInputs, LossScale,
    LossType, ScaleRewards,
};

const TOL: f64 = 1e-6;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/grpo/golden.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("read golden.json"))
        .expect("parse golden.json")
}

/// JSON numbers, with `null` read as NaN.
fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// |a − b| with NaN = NaN counting as equal; returns the error (∞ on a NaN mismatch).
fn err(a: f64, b: f64) -> f64 {
    if a.is_nan() && b.is_nan() {
        0.0
    } else if a.is_nan() || b.is_nan() {
        f64::INFINITY
    } else {
        (a - b).abs()
    }
}

fn max_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| err(*x, *y))
        .fold(0.0, f64::max)
}

fn host(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

#[test]
fn advantages_match_trl_every_scale_mode() {
    let g = golden();
    let cases = g["advantages"].as_array().unwrap();
    assert!(cases.len() >= 12);
    let mut worst = 0.0f64;
    for c in cases {
        let name = format!("{} / {}", c["name"], c["scale_rewards"]);
        let rewards: Vec<Option<f64>> = c["rewards"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::as_f64)
            .collect();
        let scale: ScaleRewards = serde_json::from_value(c["scale_rewards"].clone()).unwrap();
        let gsize = c["num_generations"].as_u64().unwrap() as usize;
        let a = compute_advantages(&rewards, gsize, scale).unwrap();
        let e = [
            max_err(&a.values, &floats(&c["advantages"])),
            max_err(&a.std_rewards, &floats(&c["std_rewards"])),
            err(a.frac_reward_zero_std, num(&c["frac_reward_zero_std"])),
            err(a.reward, num(&c["reward"])),
            err(a.reward_std, num(&c["reward_std"])),
        ];
        for (what, x) in ["advantages", "std", "frac_zero_std", "reward", "reward_std"]
            .iter()
            .zip(e)
        {
            assert!(x <= TOL, "{name}: {what} differs from TRL by {x}");
            worst = worst.max(x);
        }
        // Unscorable rows never get an advantage.
        for (r, v) in rewards.iter().zip(&a.values) {
            if r.is_none() {
                assert_eq!(*v, 0.0, "{name}: unscorable row with advantage {v}");
            }
        }
    }
    eprintln!("advantages: max |Δ| vs TRL = {worst:e}");
}

fn tensor(v: &Value, shape: (usize, usize), dtype: DType) -> Tensor {
    Tensor::from_vec(floats(v), shape, &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

fn options(c: &Value, loss_type: LossType) -> GrpoOptions {
    let level = match c["importance_sampling_level"].as_str().unwrap() {
        "token" => ImportanceSamplingLevel::Token,
        _ => ImportanceSamplingLevel::Sequence,
    };
    GrpoOptions {
        beta: num(&c["beta"]),
        epsilon: num(&c["epsilon"]),
        epsilon_high: Some(num(&c["epsilon_high"])),
        loss_type,
        importance_sampling_level: level,
        max_completion_length: c["max_completion_length"].as_u64().unwrap() as usize,
        use_bias_correction_kl: c["use_bias_correction_kl"].as_bool().unwrap(),
        ..GrpoOptions::default()
    }
}

/// Runs every golden loss case × loss type in `dtype`; returns the worst error seen per quantity.
fn check_losses(dtype: DType, tol: f64) -> [f64; 5] {
    let g = golden();
    let mut worst = [0.0f64; 5];
    let cases = g["losses"].as_array().unwrap();
    assert!(cases.len() >= 6);
    for c in cases {
        let (b, t) = (
            c["B"].as_u64().unwrap() as usize,
            c["T"].as_u64().unwrap() as usize,
        );
        let logp = Var::from_tensor(&tensor(&c["logp"], (b, t), dtype)).unwrap();
        let old = (!c["old_logp"].is_null()).then(|| tensor(&c["old_logp"], (b, t), dtype));
        let reference = (!c["ref_logp"].is_null()).then(|| tensor(&c["ref_logp"], (b, t), dtype));
        let mask = tensor(&c["mask"], (b, t), dtype);
        let entropy = tensor(&c["entropy"], (b, t), dtype);
        let adv = Tensor::from_vec(floats(&c["advantages"]), b, &Device::Cpu)
            .unwrap()
            .to_dtype(dtype)
            .unwrap();
        let scale = LossScale {
            num_items_in_batch: num(&c["num_items_in_batch"]),
            accumulation_steps: c["accumulation_steps"].as_u64().unwrap() as usize,
        };
        for (lt_name, res) in c["results"].as_object().unwrap() {
            let lt: LossType = serde_json::from_value(Value::String(lt_name.clone())).unwrap();
            let name = format!("{} / {lt_name} / {dtype:?}", c["name"]);
            let opts = options(c, lt);
            let inputs = LossInputs {
                logp: logp.as_tensor(),
                old_logp: old.as_ref(),
                ref_logp: reference.as_ref(),
                mask: &mask,
                advantages: &adv,
                entropy: Some(&entropy),
            };
            let out = grpo_loss(&opts, &inputs, &scale).unwrap();
            let loss = host(&out.loss)[0];
            let grads = out.loss.backward().unwrap();
            let grad = host(grads.get(logp.as_tensor()).expect("gradient w.r.t. logp"));
            let e_loss = err(loss, num(&res["loss"]));
            let e_grad = max_err(&grad, &floats(&res["grad_logp"]));
            let e_ptl = max_err(&host(&out.per_token_loss), &floats(&res["per_token_loss"]));
            let e_ratio = max_err(&host(&out.ratio), &floats(&res["ratio"]));
            let e_kl = match (&out.per_token_kl, res["per_token_kl"].is_null()) {
                (Some(k), false) => max_err(&host(k), &floats(&res["per_token_kl"])),
                (None, true) => 0.0,
                _ => panic!("{name}: KL presence differs from TRL"),
            };
            for (what, x) in [
                ("loss", e_loss),
                ("grad_logp", e_grad),
                ("per_token_loss", e_ptl),
                ("ratio", e_ratio),
                ("per_token_kl", e_kl),
            ] {
                assert!(x <= tol, "{name}: {what} differs from TRL by {x}");
            }
            for (w, x) in worst.iter_mut().zip([e_loss, e_grad, e_ptl, e_ratio, e_kl]) {
                *w = w.max(x);
            }

            let m = &res["metrics"];
            let ours = out.metrics;
            let mut pairs = vec![
                ("clip_ratio/low_mean", ours.clip_ratio_low_mean),
                ("clip_ratio/high_mean", ours.clip_ratio_high_mean),
                ("clip_ratio/region_mean", ours.clip_ratio_region_mean),
                ("clip_ratio/low_min", ours.clip_ratio_low_min),
                ("clip_ratio/high_max", ours.clip_ratio_high_max),
                ("entropy", ours.entropy.expect("entropy metric")),
            ];
            match (ours.kl, m.get("kl")) {
                (Some(kl), Some(_)) => pairs.push(("kl", kl)),
                (None, None) => {}
                _ => panic!("{name}: kl metric presence differs from TRL"),
            }
            for (key, value) in pairs {
                let x = err(value, num(&m[key]));
                assert!(x <= tol, "{name}: metric {key} = {value}, TRL {}", m[key]);
            }
            assert_eq!(
                ours.named().len(),
                m.as_object().unwrap().len(),
                "{name}: metric set differs from TRL's"
            );
        }
    }
    worst
}

#[test]
fn losses_gradients_and_metrics_match_trl_f64() {
    let w = check_losses(DType::F64, TOL);
    eprintln!(
        "f64 max |Δ| vs TRL: loss {:e}, grad {:e}, per-token loss {:e}, ratio {:e}, kl {:e}",
        w[0], w[1], w[2], w[3], w[4]
    );
}

#[test]
fn losses_match_trl_in_f32_too() {
    let w = check_losses(DType::F32, 1e-5);
    eprintln!(
        "f32 max |Δ| vs TRL: loss {:e}, grad {:e}, per-token loss {:e}, ratio {:e}, kl {:e}",
        w[0], w[1], w[2], w[3], w[4]
    );
}
