//! Training-path options of the model: gradient checkpointing (layer-wise recompute) gives the
//! same loss and gradients as the plain graph; `lora.layers` (PEFT's `layers_to_transform`) puts
//! adapters and gradients only on the chosen layers and survives a PEFT round trip; the frozen
//! base weights get no gradient.

mod common;

use candle_core::{DType, Device, Tensor};
use common::*;
use trainer::checkpoint::peft::read_adapter_config;
use trainer::checkpoint::{load_peft, save_peft, PeftSaveOptions};
use trainer::model::{
    acc_dtype, peak_rss_mb, token_logprobs, AdapterUse, Arch, Batch, LogprobOptions, LoraConfig,
    LoraTarget, Mode, Model,
};

/// Gives every adapter a non-zero B (a fresh adapter has B = 0, which makes ∂L/∂A vanish).
fn randomize_b(model: &Model, seed: u32) {
    for (i, (name, var)) in model.lora_vars().into_iter().enumerate() {
        if name.ends_with("lora_B.weight") {
            let (o, r) = var.as_tensor().dims2().unwrap();
            let data: Vec<f64> = ids(1, o * r, 1000, seed + i as u32)[0]
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

fn lora(layers: Option<Vec<usize>>) -> LoraConfig {
    LoraConfig {
        r: 2,
        alpha: 4.0,
        targets: LoraTarget::ALL.to_vec(),
        use_rslora: false,
        seed: 3,
        layers,
    }
}

/// Weighted sum of target log-probs over a padded batch (row 1 left-padded by 2).
fn loss(model: &Model, vocab: usize, adapter: AdapterUse) -> Tensor {
    loss_chunked(model, vocab, adapter, None)
}

/// [`loss`] with the MLP run over token chunks whenever an activation exceeds `mlp_elems`.
fn loss_chunked(
    model: &Model,
    vocab: usize,
    adapter: AdapterUse,
    mlp_elems: Option<usize>,
) -> Tensor {
    let x = ids_tensor(&ids(2, 7, vocab, 11));
    let tg = ids_tensor(&ids(2, 7, vocab, 12));
    let mask = vec![vec![true; 7], [vec![false; 2], vec![true; 5]].concat()];
    let mut batch = Batch::padded(model, &mask, adapter).unwrap();
    if let Some(n) = mlp_elems {
        batch = batch.with_mlp_chunk_elems(n);
    }
    let h = model.forward(&x, &batch, None, Mode::Train).unwrap();
    let opts = LogprobOptions {
        temperature: 0.9,
        chunk_size: 4,
        entropy: false,
    };
    let (lp, _) = token_logprobs(model, &h, &tg, opts).unwrap();
    let w: Vec<f64> = (0..14).map(|i| ((i * 5) % 7) as f64 - 3.0).collect();
    let w = Tensor::from_vec(w, (2, 7), &Device::Cpu)
        .unwrap()
        .to_dtype(acc_dtype(model.dtype()))
        .unwrap();
    (lp * w).unwrap().sum_all().unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

/// `(name, grad)` of every adapter tensor, `None` where the store has no gradient.
fn lora_grads(model: &Model, loss: &Tensor) -> Vec<(String, Option<Tensor>)> {
    let g = loss.backward().unwrap();
    model
        .lora_vars()
        .into_iter()
        .map(|(n, v)| {
            let t = g.get(v.as_tensor()).cloned();
            (n, t)
        })
        .collect()
}

#[test]
fn checkpointing_gives_the_same_loss_and_gradients() {
    for arch in [Arch::Qwen2, Arch::Qwen3] {
        for dtype in [DType::F64, DType::F32] {
            let (cfg, _, mut model) = tiny_model(arch, dtype);
            model.attach_lora(&lora(None)).unwrap();
            randomize_b(&model, 4);
            let l_plain = loss(&model, cfg.vocab_size, AdapterUse::On);
            let g_plain = lora_grads(&model, &l_plain);
            model.set_gradient_checkpointing(true);
            assert!(model.gradient_checkpointing());
            for adapter in [AdapterUse::On, AdapterUse::Rows(vec![true, false])] {
                let l_ckpt = loss(&model, cfg.vocab_size, adapter.clone());
                let g_ckpt = lora_grads(&model, &l_ckpt);
                model.set_gradient_checkpointing(false);
                let l_ref = loss(&model, cfg.vocab_size, adapter.clone());
                let g_ref = lora_grads(&model, &l_ref);
                model.set_gradient_checkpointing(true);
                let tol = if dtype == DType::F64 { 1e-10 } else { 1e-6 };
                let dl = (scalar(&l_ckpt) - scalar(&l_ref)).abs();
                assert!(
                    dl <= tol * scalar(&l_ref).abs().max(1.0),
                    "{arch:?} {dtype:?}: loss {dl}"
                );
                assert_eq!(g_ckpt.len(), 28);
                for ((n, a), (_, b)) in g_ckpt.iter().zip(&g_ref) {
                    let a = a
                        .as_ref()
                        .unwrap_or_else(|| panic!("{n}: no gradient with checkpointing"));
                    let b = b
                        .as_ref()
                        .unwrap_or_else(|| panic!("{n}: no gradient without"));
                    let scale = scalar(&b.abs().unwrap().max_all().unwrap()).max(1e-3);
                    let d = max_abs_diff(a, b);
                    assert!(
                        d <= 1e-6 * scale,
                        "{arch:?} {dtype:?} {adapter:?} {n}: {d} (scale {scale})"
                    );
                    assert!(
                        scale > 1e-3 || matches!(adapter, AdapterUse::Rows(_)),
                        "{n}: zero gradient"
                    );
                }
            }
            // The plain run without checkpointing equals the first one.
            model.set_gradient_checkpointing(false);
            let again = lora_grads(&model, &loss(&model, cfg.vocab_size, AdapterUse::On));
            for ((n, a), (_, b)) in again.iter().zip(&g_plain) {
                assert_eq!(
                    max_abs_diff(a.as_ref().unwrap(), b.as_ref().unwrap()),
                    0.0,
                    "{n}"
                );
            }
        }
    }
}

#[test]
fn token_chunked_mlp_gives_the_same_loss_and_gradients() {
    // The guard for candle's 32-bit CUDA element indices (model::MLP_CHUNK_ELEMS) splits the MLP
    // over tokens; here it is forced on tiny shapes: one token per chunk, and 3 + 3 + 1 tokens.
    for arch in [Arch::Qwen2, Arch::Qwen3] {
        let (cfg, _, mut model) = tiny_model(arch, DType::F64);
        model.attach_lora(&lora(None)).unwrap();
        randomize_b(&model, 5);
        let per_token = 2 * cfg.intermediate_size;
        let l_ref = loss(&model, cfg.vocab_size, AdapterUse::On);
        let g_ref = lora_grads(&model, &l_ref);
        for ckpt in [false, true] {
            model.set_gradient_checkpointing(ckpt);
            for elems in [1, 3 * per_token] {
                let l = loss_chunked(&model, cfg.vocab_size, AdapterUse::On, Some(elems));
                assert!(
                    (scalar(&l) - scalar(&l_ref)).abs() <= 1e-10 * scalar(&l_ref).abs().max(1.0),
                    "{arch:?} ckpt={ckpt} {elems}: {} vs {}",
                    scalar(&l),
                    scalar(&l_ref)
                );
                let g = lora_grads(&model, &l);
                assert_eq!(g.len(), 28);
                for ((n, a), (_, b)) in g.iter().zip(&g_ref) {
                    let a = a
                        .as_ref()
                        .unwrap_or_else(|| panic!("{n}: no gradient chunked"));
                    let b = b.as_ref().unwrap_or_else(|| panic!("{n}: no gradient"));
                    let scale = scalar(&b.abs().unwrap().max_all().unwrap());
                    assert!(scale > 1e-6, "{n}: zero gradient");
                    let d = max_abs_diff(a, b);
                    assert!(d <= 1e-10 * scale, "{arch:?} ckpt={ckpt} {elems} {n}: {d}");
                }
            }
        }
        model.set_gradient_checkpointing(false);
        // Inference forwards (prefill) too.
        let x = ids_tensor(&ids(2, 7, cfg.vocab_size, 21));
        let mask = vec![vec![true; 7]; 2];
        let full = Batch::padded(&model, &mask, AdapterUse::Rows(vec![true, false])).unwrap();
        let h_ref = model.forward(&x, &full, None, Mode::Infer).unwrap();
        let h = model
            .forward(
                &x,
                &full.clone().with_mlp_chunk_elems(per_token),
                None,
                Mode::Infer,
            )
            .unwrap();
        assert!(max_abs_diff(&h, &h_ref) <= 1e-12, "{arch:?}");
    }
}

#[test]
fn checkpointing_matches_finite_differences_f64() {
    let (cfg, _, mut model) = tiny_model(Arch::Qwen2, DType::F64);
    model.attach_lora(&lora(None)).unwrap();
    randomize_b(&model, 6);
    model.set_gradient_checkpointing(true);
    let l0 = loss(&model, cfg.vocab_size, AdapterUse::On);
    let grads = l0.backward().unwrap();
    let eps = 1e-6;
    for (name, var) in model.lora_vars().into_iter().filter(|(n, _)| {
        n.contains("layers.0.") && (n.contains("q_proj") || n.contains("down_proj"))
    }) {
        let g = grads.get(var.as_tensor()).unwrap().flatten_all().unwrap();
        let g: Vec<f64> = g.to_vec1().unwrap();
        let orig = var
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        for idx in [0, orig.len() / 2, orig.len() - 1] {
            let shape = var.as_tensor().dims().to_vec();
            let at = |delta: f64| {
                let mut v = orig.clone();
                v[idx] += delta;
                var.set(&Tensor::from_vec(v, shape.clone(), &Device::Cpu).unwrap())
                    .unwrap();
                scalar(&loss(&model, cfg.vocab_size, AdapterUse::On))
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps);
            var.set(&Tensor::from_vec(orig.clone(), shape, &Device::Cpu).unwrap())
                .unwrap();
            let diff = (fd - g[idx]).abs();
            assert!(
                diff <= 1e-6 * fd.abs().max(1.0),
                "{name}[{idx}]: fd {fd} vs {}",
                g[idx]
            );
        }
    }
}

#[test]
fn restricted_layers_get_adapters_and_gradients_only_there() {
    let (cfg, _, mut model) = tiny_model(Arch::Qwen2, DType::F32);
    model.attach_lora(&lora(Some(vec![1]))).unwrap();
    for (i, layer) in model.layers().iter().enumerate() {
        for (t, lin) in layer.linears() {
            assert_eq!(lin.lora().is_some(), i == 1, "layer {i} {}", t.name());
        }
    }
    let vars = model.lora_vars();
    assert_eq!(vars.len(), 14);
    assert!(vars.iter().all(|(n, _)| n.contains(".layers.1.")));
    randomize_b(&model, 8);
    for ckpt in [false, true] {
        model.set_gradient_checkpointing(ckpt);
        let l = loss(&model, cfg.vocab_size, AdapterUse::On);
        let g = l.backward().unwrap();
        for (n, v) in &vars {
            let gv = g
                .get(v.as_tensor())
                .unwrap_or_else(|| panic!("{n}: no gradient"));
            assert!(
                scalar(&gv.abs().unwrap().sum_all().unwrap()) > 0.0,
                "{n}: zero gradient"
            );
        }
        // Frozen tensors (embedding / LM head, base linears, norms) get no gradient.
        for (n, w) in model.named_weights() {
            assert!(
                g.get(&w).is_none(),
                "frozen {n} got a gradient (checkpointing {ckpt})"
            );
        }
    }
    // Out-of-range and empty layer lists are rejected.
    let (_, _, mut m2) = tiny_model(Arch::Qwen2, DType::F32);
    let e = m2
        .attach_lora(&lora(Some(vec![2])))
        .unwrap_err()
        .to_string();
    assert!(e.contains("index 2") && e.contains("2 layers"), "{e}");
    assert!(m2.attach_lora(&lora(Some(vec![]))).is_err());
}

#[test]
fn restricted_layers_peft_round_trip() {
    let (cfg, w, mut model) = tiny_model(Arch::Qwen3, DType::F32);
    let l = lora(Some(vec![1]));
    model.attach_lora(&l).unwrap();
    randomize_b(&model, 2);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("adapter");
    save_peft(&model, &l, &dir, &PeftSaveOptions::new("tiny")).unwrap();
    let text = std::fs::read_to_string(dir.join("adapter_config.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["layers_to_transform"], serde_json::json!([1]));
    let cfg_back = read_adapter_config(&dir).unwrap();
    assert_eq!(cfg_back.layers_to_transform, Some(vec![1]));
    assert_eq!(cfg_back.lora_config(3).layers, Some(vec![1]));

    let mut fresh = Model::load(&cfg, &w, DType::F32, &Device::Cpu).unwrap();
    load_peft(&dir, &mut fresh).unwrap();
    for (i, layer) in fresh.layers().iter().enumerate() {
        for (_, lin) in layer.linears() {
            assert_eq!(lin.lora().is_some(), i == 1, "{}", lin.path);
        }
    }
    let a = loss(&model, cfg.vocab_size, AdapterUse::On);
    let b = loss(&fresh, cfg.vocab_size, AdapterUse::On);
    assert_eq!(scalar(&a), scalar(&b));

    // A config naming a layer the model lacks is rejected, naming the field.
    let mut v = json.clone();
    v["layers_to_transform"] = serde_json::json!([0, 5]);
    std::fs::write(dir.join("adapter_config.json"), v.to_string()).unwrap();
    let mut other = Model::load(&cfg, &w, DType::F32, &Device::Cpu).unwrap();
    let e = load_peft(&dir, &mut other).unwrap_err().to_string();
    assert!(e.contains("layers_to_transform") && e.contains('5'), "{e}");
    // A single integer is accepted, as PEFT does.
    v["layers_to_transform"] = serde_json::json!(1);
    std::fs::write(dir.join("adapter_config.json"), v.to_string()).unwrap();
    assert_eq!(
        read_adapter_config(&dir).unwrap().layers_to_transform,
        Some(vec![1])
    );
    // Saving with a config whose layers do not match the attached adapters fails.
    let e = save_peft(
        &model,
        &lora(None),
        &tmp.path().join("x"),
        &PeftSaveOptions::new("t"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("layer 0"), "{e}");
}

#[test]
fn peak_rss_is_reported() {
    let mb = peak_rss_mb().expect("VmHWM on Linux");
    assert!(mb > 1.0 && mb < 1.0e6, "{mb}");
}
