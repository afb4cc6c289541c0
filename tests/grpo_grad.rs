//! The GRPO loss is differentiable end to end: tiny model + LoRA (non-zero B), policy log-probs in
//! `Mode::Train`, `old_logp` = detached policy log-probs, `ref_logp` = adapter-off forward; the
//! analytic gradient w.r.t. LoRA tensors matches central finite differences in f64.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::*;
use trainer::grpo::{
    compute_advantages, grpo_loss, mask_from_rows, GrpoOptions, ImportanceSamplingLevel,
    LossInputs, LossScale, LossType, ScaleRewards,
};
use trainer::model::{
    token_logprobs, AdapterUse, Arch, Batch, LogprobOptions, LoraConfig, LoraTarget, Mode, Model,
};

const PROMPT: usize = 3;
const COMPLETION: usize = 5;
const ROWS: usize = 4;

/// Deterministic non-zero B for every adapter (a fresh adapter has B = 0, so ∂L/∂A would vanish).
fn randomize_b(model: &Model) {
    for (i, (name, var)) in model.lora_vars().into_iter().enumerate() {
        if name.ends_with("lora_B.weight") {
            let (o, r) = var.as_tensor().dims2().unwrap();
            let data: Vec<f64> = ids(1, o * r, 1000, 31 + i as u32)[0]
                .iter()
                .map(|&x| (x as f64 / 1000.0 - 0.5) * 0.4)
                .collect();
            var.set(&Tensor::from_vec(data, (o, r), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
}

/// Completion-token log-probs `[ROWS, COMPLETION]` of `seq` (prompt + completion ids).
fn completion_logp(model: &Model, seq: &[Vec<u32>], adapter: AdapterUse) -> Tensor {
    let inputs: Vec<Vec<u32>> = seq.iter().map(|r| r[..r.len() - 1].to_vec()).collect();
    let targets: Vec<Vec<u32>> = seq.iter().map(|r| r[1..].to_vec()).collect();
    let t = PROMPT + COMPLETION - 1;
    let batch = Batch::dense(model, ROWS, t, adapter).unwrap();
    let hidden = model
        .forward(&ids_tensor(&inputs), &batch, None, Mode::Train)
        .unwrap();
    let opts = LogprobOptions {
        temperature: 0.9,
        chunk_size: 3,
        entropy: false,
    };
    let (lp, _) = token_logprobs(model, &hidden, &ids_tensor(&targets), opts).unwrap();
    lp.narrow(1, PROMPT - 1, COMPLETION).unwrap()
}

struct Setup {
    model: Model,
    seq: Vec<Vec<u32>>,
    old: Tensor,
    reference: Tensor,
    mask: Tensor,
    adv: Tensor,
}

fn setup() -> Setup {
    let (cfg, _, mut model) = tiny_model(Arch::Qwen3, DType::F64);
    model
        .attach_lora(&LoraConfig {
            r: 2,
            alpha: 4.0,
            targets: LoraTarget::ALL.to_vec(),
            use_rslora: false,
            seed: 3,
            layers: None,
        })
        .unwrap();
    randomize_b(&model);
    let seq = ids(ROWS, PROMPT + COMPLETION, cfg.vocab_size, 17);
    let old = completion_logp(&model, &seq, AdapterUse::On).detach();
    let reference = completion_logp(&model, &seq, AdapterUse::Off).detach();
    // Row 1 is a multi-turn trajectory with a tool result inside the completion; row 3 is
    // right-padded.
    let mask = mask_from_rows(
        &[
            vec![true; COMPLETION],
            vec![true, true, false, false, true],
            vec![true; COMPLETION],
            vec![true, true, true, false, false],
        ],
        DType::F64,
        &Device::Cpu,
    )
    .unwrap();
    let a = compute_advantages(
        &[Some(1.0), Some(0.2), Some(0.0), Some(0.9)],
        2,
        ScaleRewards::Group,
    )
    .unwrap();
    let adv = Tensor::new(a.values.as_slice(), &Device::Cpu).unwrap();
    Setup {
        model,
        seq,
        old,
        reference,
        mask,
        adv,
    }
}

fn loss(s: &Setup, opts: &GrpoOptions, old: &Tensor) -> Tensor {
    let logp = completion_logp(&s.model, &s.seq, AdapterUse::On);
    let inputs = LossInputs {
        logp: &logp,
        old_logp: Some(old),
        ref_logp: Some(&s.reference),
        mask: &s.mask,
        advantages: &s.adv,
        entropy: None,
    };
    let scale = LossScale {
        num_items_in_batch: 20.0,
        accumulation_steps: 2,
    };
    grpo_loss(opts, &inputs, &scale).unwrap().loss
}

fn scalar(t: &Tensor) -> f64 {
    t.to_scalar::<f64>().unwrap()
}

fn get(var: &Var, idx: usize) -> f64 {
    var.as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()[idx]
}

fn set(var: &Var, idx: usize, value: f64) {
    let mut v = var
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    v[idx] = value;
    var.set(&Tensor::from_vec(v, var.dims(), &Device::Cpu).unwrap())
        .unwrap();
}

fn check(s: &Setup, opts: &GrpoOptions, old: &Tensor, label: &str) -> f64 {
    let l = loss(s, opts, old);
    let grads = l.backward().unwrap();
    let vars = s.model.lora_vars();
    let mut worst = 0.0f64;
    let mut nonzero = 0;
    for (k, (name, var)) in vars.iter().enumerate().step_by(5) {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{label}: no gradient for {name}"));
        let g: Vec<f64> = g.flatten_all().unwrap().to_vec1().unwrap();
        let n = g.len();
        for idx in [k % n, (7 * k + 3) % n, n - 1] {
            let x = get(var, idx);
            let h = 1e-5;
            set(var, idx, x + h);
            let up = scalar(&loss(s, opts, old));
            set(var, idx, x - h);
            let down = scalar(&loss(s, opts, old));
            set(var, idx, x);
            let fd = (up - down) / (2.0 * h);
            let an = g[idx];
            let e = (an - fd).abs() / fd.abs().max(1e-4);
            assert!(
                e < 1e-5,
                "{label} {name}[{idx}]: analytic {an} vs finite difference {fd}"
            );
            worst = worst.max(e);
            nonzero += usize::from(an != 0.0);
        }
    }
    assert!(nonzero > 0, "{label}: every checked gradient is zero");
    worst
}

#[test]
fn grpo_loss_gradient_matches_finite_differences() {
    let s = setup();
    // An off-policy "old" with some tokens far outside the clip range (clipped, gradient-free)
    // and some inside it.
    let shift: Vec<f64> = (0..ROWS * COMPLETION)
        .map(|i| [0.05, -0.6, 0.1, 0.7, -0.08][i % 5])
        .collect();
    let off_policy =
        (&s.old + Tensor::from_vec(shift, (ROWS, COMPLETION), &Device::Cpu).unwrap()).unwrap();
    let cases = [
        (
            "token/dapo/kl+bias",
            ImportanceSamplingLevel::Token,
            LossType::Dapo,
            0.1,
            true,
            &s.old,
        ),
        (
            "sequence/grpo/kl",
            ImportanceSamplingLevel::Sequence,
            LossType::Grpo,
            0.05,
            true,
            &s.old,
        ),
        (
            "token/bnpo/kl no bias",
            ImportanceSamplingLevel::Token,
            LossType::Bnpo,
            0.2,
            false,
            &s.old,
        ),
        (
            "token/dr_grpo/off-policy",
            ImportanceSamplingLevel::Token,
            LossType::DrGrpo,
            0.0,
            true,
            &off_policy,
        ),
        (
            "sequence/dapo/off-policy",
            ImportanceSamplingLevel::Sequence,
            LossType::Dapo,
            0.04,
            true,
            &off_policy,
        ),
    ];
    for (label, level, lt, beta, bias, old) in cases {
        let opts = GrpoOptions {
            num_generations: 2,
            beta,
            epsilon_high: Some(0.28),
            loss_type: lt,
            importance_sampling_level: level,
            max_completion_length: COMPLETION,
            use_bias_correction_kl: bias,
            temperature: 0.9,
            ..GrpoOptions::default()
        };
        let worst = check(&s, &opts, old, label);
        eprintln!("{label}: max relative FD error {worst:e}");
    }
}
