//! LoRA correctness: finite-difference gradients in f64 through every adapter kind, every adapter
//! tensor of every layer gets a gradient, identity at B = 0, merged ≡ unmerged, per-row switching.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::*;
use trainer::model::{
    acc_dtype, token_logprobs, AdapterUse, Arch, Batch, LogprobOptions, LoraConfig, LoraTarget,
    Mode, Model,
};

/// Gives every adapter a non-zero B (a fresh adapter has B = 0, which makes ∂L/∂A vanish).
fn randomize_b(model: &Model, seed: u64) {
    for (i, (name, var)) in model.lora_vars().into_iter().enumerate() {
        if name.ends_with("lora_B.weight") {
            let (o, r) = var.as_tensor().dims2().unwrap();
            let data: Vec<f64> = ids(1, o * r, 1000, seed as u32 + i as u32)[0]
                .iter()
                .map(|&x| (x as f64 / 1000.0 - 0.5) * 0.4)
                .collect();
            let t = Tensor::from_vec(data, (o, r), &Device::Cpu)
                .unwrap()
                .to_dtype(var.dtype())
                .unwrap();
            var.set(&t).unwrap();
        }
    }
}

/// A scalar loss: weighted sum of target log-probs (like a policy-gradient surrogate).
fn loss(
    model: &Model,
    x: &Tensor,
    targets: &Tensor,
    weights: &Tensor,
    adapter: AdapterUse,
) -> Tensor {
    let (b, t) = x.dims2().unwrap();
    let batch = Batch::dense(model, b, t, adapter).unwrap();
    let h = model.forward(x, &batch, None, Mode::Train).unwrap();
    let opts = LogprobOptions {
        temperature: 0.7,
        chunk_size: 3,
        entropy: false,
    };
    let (lp, _) = token_logprobs(model, &h, targets, opts).unwrap();
    (lp * weights).unwrap().sum_all().unwrap()
}

fn setup(arch: Arch, dtype: DType) -> (Model, Tensor, Tensor, Tensor) {
    let (cfg, _, mut model) = tiny_model(arch, dtype);
    let lcfg = LoraConfig {
        r: 2,
        alpha: 4.0,
        targets: LoraTarget::ALL.to_vec(),
        use_rslora: false,
        seed: 1,
        layers: None,
    };
    model.attach_lora(&lcfg).unwrap();
    randomize_b(&model, 9);
    let rows = ids(2, 6, cfg.vocab_size, 4);
    let x = ids_tensor(&rows);
    let tg = ids_tensor(&ids(2, 6, cfg.vocab_size, 8));
    let w = Tensor::from_vec(
        (0..12)
            .map(|i| ((i * 7) % 5) as f64 - 2.0)
            .collect::<Vec<_>>(),
        (2, 6),
        &Device::Cpu,
    )
    .unwrap()
    .to_dtype(acc_dtype(dtype))
    .unwrap();
    (model, x, tg, w)
}

fn get(var: &Var, idx: usize) -> f64 {
    var.as_tensor()
        .flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()[idx]
}

fn set(var: &Var, idx: usize, value: f64) {
    let shape = var.as_tensor().dims().to_vec();
    let mut v = var
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    v[idx] = value;
    var.set(
        &Tensor::from_vec(v, shape, &Device::Cpu)
            .unwrap()
            .to_dtype(var.dtype())
            .unwrap(),
    )
    .unwrap();
}

#[test]
fn finite_difference_gradients_f64_every_lora_kind() {
    for arch in [Arch::Qwen2, Arch::Qwen3] {
        let (model, x, tg, w) = setup(arch, DType::F64);
        let l0 = loss(&model, &x, &tg, &w, AdapterUse::On);
        let grads = l0.backward().unwrap();
        let vars = model.lora_vars();
        // Every kind (q,k,v,o,gate,up,down) × {A, B} × layer 1, a few elements each.
        let mut checked = 0;
        for (name, var) in vars.iter().filter(|(n, _)| n.contains("layers.1.")) {
            let g = grads
                .get(var.as_tensor())
                .expect("gradient")
                .flatten_all()
                .unwrap()
                .to_vec1::<f64>()
                .unwrap();
            let n = g.len();
            for idx in [0, n / 2, n - 1] {
                let orig = get(var, idx);
                let h = 1e-6;
                set(var, idx, orig + h);
                let lp = loss(&model, &x, &tg, &w, AdapterUse::On)
                    .to_scalar::<f64>()
                    .unwrap();
                set(var, idx, orig - h);
                let lm = loss(&model, &x, &tg, &w, AdapterUse::On)
                    .to_scalar::<f64>()
                    .unwrap();
                set(var, idx, orig);
                let fd = (lp - lm) / (2.0 * h);
                let err = (fd - g[idx]).abs() / (fd.abs().max(g[idx].abs()).max(1e-6));
                assert!(
                    err < 1e-5,
                    "{arch:?} {name}[{idx}]: analytic {} vs finite difference {fd}",
                    g[idx]
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 7 * 2 * 3, "{arch:?}: every LoRA kind checked");
    }
}

#[test]
fn every_lora_tensor_of_every_layer_gets_a_gradient() {
    for arch in [Arch::Qwen2, Arch::Qwen3, Arch::Llama] {
        let (model, x, tg, w) = setup(arch, DType::F32);
        let grads = loss(&model, &x, &tg, &w, AdapterUse::On)
            .backward()
            .unwrap();
        let vars = model.lora_vars();
        assert_eq!(
            vars.len(),
            2 * 7 * 2,
            "{arch:?}: 2 layers × 7 modules × (A, B)"
        );
        for (name, var) in &vars {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{arch:?}: {name} got no gradient"));
            let norm = g
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                norm > 0.0 && norm.is_finite(),
                "{arch:?}: {name} gradient norm {norm}"
            );
        }
    }
}

#[test]
fn adapter_off_rows_get_no_gradient_and_mixed_rows_match_separate_runs() {
    let (model, x, _, _) = setup(Arch::Qwen2, DType::F32);
    let (b, t) = x.dims2().unwrap();
    let run = |a: AdapterUse| {
        let batch = Batch::dense(&model, b, t, a).unwrap();
        model.forward(&x, &batch, None, Mode::Train).unwrap()
    };
    let on = run(AdapterUse::On);
    let off = run(AdapterUse::Off);
    let mixed = run(AdapterUse::Rows(vec![true, false]));
    assert!(
        max_abs_diff(&on, &off) > 1e-3,
        "adapter must change the output"
    );
    assert!(
        max_abs_diff(
            &mixed.narrow(0, 0, 1).unwrap(),
            &on.narrow(0, 0, 1).unwrap()
        ) < 1e-6
    );
    assert!(
        max_abs_diff(
            &mixed.narrow(0, 1, 1).unwrap(),
            &off.narrow(0, 1, 1).unwrap()
        ) < 1e-6
    );
    // With the adapter off everywhere, the loss does not depend on any LoRA tensor.
    let grads = off.sum_all().unwrap().backward().unwrap();
    for (name, var) in model.lora_vars() {
        if let Some(g) = grads.get(var.as_tensor()) {
            assert_eq!(
                g.abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap(),
                0.0,
                "{name}"
            );
        }
    }
}

#[test]
fn fresh_adapter_is_identity() {
    for arch in [Arch::Qwen2, Arch::Qwen3, Arch::Llama] {
        let (cfg, _, mut model) = tiny_model(arch, DType::F32);
        let x = ids_tensor(&ids(2, 5, cfg.vocab_size, 1));
        let b = Batch::dense(&model, 2, 5, AdapterUse::On).unwrap();
        let base = model.forward(&x, &b, None, Mode::Infer).unwrap();
        model.attach_lora(&LoraConfig::default()).unwrap();
        let with = model.forward(&x, &b, None, Mode::Infer).unwrap();
        assert_eq!(
            max_abs_diff(&base, &with),
            0.0,
            "{arch:?}: B = 0 must leave outputs bit-identical"
        );
    }
}

#[test]
fn merged_equals_unmerged() {
    for arch in [Arch::Qwen2, Arch::Qwen3, Arch::Llama] {
        let (mut model, x, _, _) = setup(arch, DType::F32);
        let (b, t) = x.dims2().unwrap();
        let batch = Batch::dense(&model, b, t, AdapterUse::On).unwrap();
        let before = model.forward(&x, &batch, None, Mode::Infer).unwrap();
        let base_w = model.layers()[0].self_attn.q_proj.weight().clone();
        model.merge_lora().unwrap();
        let merged = model.forward(&x, &batch, None, Mode::Infer).unwrap();
        let d = max_abs_diff(&before, &merged);
        assert!(d < 1e-5, "{arch:?}: merged vs unmerged {d}");
        // The base model is unavailable while merged, with a clear error.
        let off = Batch::dense(&model, b, t, AdapterUse::Off).unwrap();
        let e = model
            .forward(&x, &off, None, Mode::Infer)
            .unwrap_err()
            .to_string();
        assert!(e.contains("merged"), "{e}");
        model.unmerge_lora().unwrap();
        let w = model.layers()[0].self_attn.q_proj.weight();
        assert!(
            max_abs_diff(w, &base_w) < 1e-6,
            "{arch:?}: unmerge restores the base weight"
        );
    }
}

/// Inference forward (generation, scoring) runs the adapters as constants: no graph is recorded
/// through the trainable tensors (which would keep every adapted layer's activations alive for a
/// whole decode), with the same values as the training forward.
#[test]
fn inference_forward_records_no_graph_through_the_adapter() {
    for arch in [Arch::Qwen2, Arch::Qwen3, Arch::Llama] {
        let (model, x, _, _) = setup(arch, DType::F32);
        let (b, t) = x.dims2().unwrap();
        let batch = Batch::dense(&model, b, t, AdapterUse::On).unwrap();
        let train = model.forward(&x, &batch, None, Mode::Train).unwrap();
        let infer = model.forward(&x, &batch, None, Mode::Infer).unwrap();
        assert!(
            train.track_op(),
            "{arch:?}: the training forward must reach the adapter"
        );
        assert!(!infer.track_op(), "{arch:?}: inference recorded a graph");
        let d = max_abs_diff(&train, &infer);
        assert!(d < 1e-5, "{arch:?}: inference vs training forward {d}");
    }
}

/// A generation call's adapter snapshot (the adapters cast once to the model dtype, a
/// power-of-two scale folded into B, except in f16) gives bit-identically the inference forward
/// that reads the f32 parameters — in f32, bf16 and f16 (where the casts happen), for a folded (2) and an unfolded
/// (1.5) scale, with the adapter on, off and switched per row; after the adapters change, a new
/// snapshot follows them (the engine takes one per call) while an old half-precision one (a copy) does not —
/// which shows the forward reads the snapshot.
#[test]
fn adapter_snapshot_is_bit_identical_to_the_parameters() {
    for arch in [Arch::Qwen2, Arch::Llama] {
        for dtype in [DType::F32, DType::BF16, DType::F16] {
            for alpha in [4.0, 3.0] {
                let (cfg, _, mut model) = tiny_model(arch, dtype);
                model
                    .attach_lora(&LoraConfig {
                        r: 2,
                        alpha,
                        targets: LoraTarget::ALL.to_vec(),
                        use_rslora: false,
                        seed: 5,
                        layers: None,
                    })
                    .unwrap();
                randomize_b(&model, 9);
                let x = ids_tensor(&ids(3, 6, cfg.vocab_size, 17));
                let snapshot = model.adapter_snapshot().unwrap();
                assert!(snapshot.is_some(), "active adapters give a snapshot");
                let adapters = [
                    AdapterUse::On,
                    AdapterUse::Off,
                    AdapterUse::Rows(vec![true, false, true]),
                ];
                for adapter in adapters {
                    let plain = Batch::dense(&model, 3, 6, adapter.clone()).unwrap();
                    let snap = plain.clone().with_adapters(snapshot.clone());
                    let want = model.forward(&x, &plain, None, Mode::Infer).unwrap();
                    let got = model.forward(&x, &snap, None, Mode::Infer).unwrap();
                    let what = format!("{arch:?} {dtype:?} alpha {alpha} {adapter:?}");
                    assert_eq!(max_abs_diff(&want, &got), 0.0, "{what}");
                    // Training forwards ignore the snapshot and read the parameters.
                    let train = model.forward(&x, &snap, None, Mode::Train).unwrap();
                    assert!(
                        adapter == AdapterUse::Off || train.track_op(),
                        "{what}: training must reach the parameters"
                    );
                }
                let on = Batch::dense(&model, 3, 6, AdapterUse::On).unwrap();
                let before = model.forward(&x, &on, None, Mode::Infer).unwrap();
                randomize_b(&model, 21);
                let now = model.forward(&x, &on, None, Mode::Infer).unwrap();
                let old = on.clone().with_adapters(snapshot.clone());
                let old = model.forward(&x, &old, None, Mode::Infer).unwrap();
                let fresh = on.with_adapters(model.adapter_snapshot().unwrap());
                let fresh = model.forward(&x, &fresh, None, Mode::Infer).unwrap();
                assert!(max_abs_diff(&before, &now) > 0.0, "the change matters");
                assert_eq!(max_abs_diff(&now, &fresh), 0.0);
                if dtype != DType::F32 {
                    // A half-precision snapshot is a copy: the forward really reads it.
                    assert_eq!(max_abs_diff(&before, &old), 0.0, "{arch:?} alpha {alpha}");
                }
            }
        }
    }
    // No adapter, no snapshot.
    let (_, _, model) = tiny_model(Arch::Qwen3, DType::F32);
    assert!(model.adapter_snapshot().unwrap().is_none());
}
