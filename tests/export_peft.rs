//! PEFT adapter export/import: exact key names, adapter_config.json fields, bit-exact round trips
//! (f32 and bf16 on disk), and validation errors that name the tensor / field.

mod common;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use common::*;
use serde_json::Value;
use trainer::checkpoint::peft::{ADAPTER_CONFIG, ADAPTER_WEIGHTS};
use trainer::checkpoint::{load_peft, read_safetensors, save_peft, PeftSaveOptions};
use trainer::model::{
    AdapterUse, Arch, Batch, LoraConfig, LoraTarget, Mode, Model, ModelConfig, TensorMap,
};

/// Deterministic values in [-0.5, 0.5).
fn pseudo_random(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// Attaches `lora` and gives every B a non-zero seeded value (a fresh B is zero).
fn adapted(cfg: &ModelConfig, w: &TensorMap, lora: &LoraConfig) -> Model {
    let mut m = Model::load(cfg, w, DType::F32, &Device::Cpu).unwrap();
    m.attach_lora(lora).unwrap();
    for (i, (_, lin)) in m.linears_mut().enumerate() {
        if let Some(p) = lin.lora().cloned() {
            let (out, r) = p.b.as_tensor().dims2().unwrap();
            let b = Tensor::from_vec(pseudo_random(out * r, i as u64 + 1), (out, r), &Device::Cpu)
                .unwrap();
            lin.set_adapter(p.a.as_tensor().clone(), b, p.scale)
                .unwrap();
        }
    }
    m
}

fn logits(model: &Model, adapter: AdapterUse) -> Tensor {
    let rows = ids(2, 6, model.config().vocab_size, 17);
    let batch = Batch::dense(model, 2, 6, adapter).unwrap();
    let h = model
        .forward(&ids_tensor(&rows), &batch, None, Mode::Infer)
        .unwrap();
    model.logits(&h).unwrap()
}

fn read_config(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(ADAPTER_CONFIG)).unwrap()).unwrap()
}

fn setup(arch: Arch, lora: &LoraConfig) -> (ModelConfig, TensorMap, Model) {
    let cfg = tiny_config(arch);
    let w = tiny_weights(&cfg, 41);
    let m = adapted(&cfg, &w, lora);
    (cfg, w, m)
}

#[test]
fn f32_round_trip_is_bit_exact_with_peft_names_and_config() {
    let lora = LoraConfig {
        r: 4,
        alpha: 8.0,
        ..LoraConfig::default()
    };
    let (cfg, w, model) = setup(Arch::Qwen2, &lora);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("adapter");
    save_peft(
        &model,
        &lora,
        &dir,
        &PeftSaveOptions::new("Qwen/Qwen2.5-0.5B"),
    )
    .unwrap();

    // Keys are exactly lora_vars() names, e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight.
    let file = read_safetensors(&dir.join(ADAPTER_WEIGHTS)).unwrap();
    let mut want: Vec<String> = model.lora_vars().into_iter().map(|(n, _)| n).collect();
    want.sort();
    let got: Vec<String> = file.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(got, want);
    assert!(got.contains(&"base_model.model.model.layers.1.mlp.down_proj.lora_B.weight".into()));
    assert_eq!(got.len(), 2 * 7 * cfg.num_hidden_layers);

    let c = read_config(&dir);
    assert_eq!(c["peft_type"], "LORA");
    assert_eq!(c["task_type"], "CAUSAL_LM");
    assert_eq!(c["r"], 4);
    assert_eq!(c["lora_alpha"], 8);
    assert_eq!(c["use_rslora"], false);
    assert_eq!(c["lora_dropout"], 0.0);
    assert_eq!(c["bias"], "none");
    assert_eq!(c["fan_in_fan_out"], false);
    assert_eq!(c["inference_mode"], true);
    assert_eq!(c["base_model_name_or_path"], "Qwen/Qwen2.5-0.5B");
    assert_eq!(
        c["target_modules"],
        serde_json::json!([
            "down_proj",
            "gate_proj",
            "k_proj",
            "o_proj",
            "q_proj",
            "up_proj",
            "v_proj"
        ])
    );

    let mut fresh = Model::load(&cfg, &w, DType::F32, &Device::Cpu).unwrap();
    let back = load_peft(&dir, &mut fresh).unwrap();
    assert_eq!(back.lora_config(lora.seed), lora);
    let (a, b) = (model.lora_vars(), fresh.lora_vars());
    assert_eq!(a.len(), b.len());
    for ((na, va), (nb, vb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert_eq!(bits(va.as_tensor()), bits(vb.as_tensor()), "{na}");
    }
    assert_eq!(
        max_abs_diff(
            &logits(&model, AdapterUse::On),
            &logits(&fresh, AdapterUse::On)
        ),
        0.0
    );
    // Refuses to overwrite unless asked.
    assert!(save_peft(&model, &lora, &dir, &PeftSaveOptions::new("x")).is_err());
    let mut opts = PeftSaveOptions::new("x");
    opts.overwrite = true;
    save_peft(&model, &lora, &dir, &opts).unwrap();
}

#[test]
fn bf16_round_trip_is_bit_exact() {
    let lora = LoraConfig {
        r: 2,
        alpha: 3.5,
        targets: vec![LoraTarget::VProj, LoraTarget::QProj],
        use_rslora: true,
        seed: 5,
        layers: None,
    };
    let (cfg, w, model) = setup(Arch::Qwen3, &lora);
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = PeftSaveOptions::new("base");
    opts.dtype = DType::BF16;
    let d1 = tmp.path().join("a1");
    save_peft(&model, &lora, &d1, &opts).unwrap();
    let c = read_config(&d1);
    assert_eq!(c["lora_alpha"], 3.5);
    assert_eq!(c["use_rslora"], true);
    assert_eq!(c["target_modules"], serde_json::json!(["q_proj", "v_proj"]));
    let f1 = read_safetensors(&d1.join(ADAPTER_WEIGHTS)).unwrap();
    assert!(f1.iter().all(|(_, t)| t.dtype() == DType::BF16));
    assert_eq!(f1.len(), 2 * 2 * cfg.num_hidden_layers);

    let mut fresh = Model::load(&cfg, &w, DType::F32, &Device::Cpu).unwrap();
    let back = load_peft(&d1, &mut fresh).unwrap();
    assert!((back.scale() - 3.5 / 2f64.sqrt()).abs() < 1e-12);
    // Loaded values are exactly the bf16-rounded originals.
    for ((n, va), (_, vb)) in model.lora_vars().iter().zip(fresh.lora_vars().iter()) {
        let rounded = va.as_tensor().to_dtype(DType::BF16).unwrap();
        assert_eq!(bits(&rounded), bits(vb.as_tensor()), "{n}");
    }
    // Saving the loaded adapter again gives identical tensors.
    let d2 = tmp.path().join("a2");
    save_peft(&fresh, &back.lora_config(5), &d2, &opts).unwrap();
    let f2 = read_safetensors(&d2.join(ADAPTER_WEIGHTS)).unwrap();
    for ((n1, t1), (n2, t2)) in f1.iter().zip(&f2) {
        assert_eq!(n1, n2);
        assert_eq!(bits(t1), bits(t2), "{n1}");
    }
}

/// Rewrites the adapter file with `edit` applied to its tensor list.
fn rewrite(dir: &Path, edit: impl FnOnce(&mut Vec<(String, Tensor)>)) {
    let mut t = read_safetensors(&dir.join(ADAPTER_WEIGHTS)).unwrap();
    edit(&mut t);
    safetensors::serialize_to_file(t, None, &dir.join(ADAPTER_WEIGHTS)).unwrap();
}

fn edit_config(dir: &Path, key: &str, value: Value) {
    let mut c = read_config(dir);
    c[key] = value;
    std::fs::write(dir.join(ADAPTER_CONFIG), c.to_string()).unwrap();
}

#[test]
fn validation_errors_name_the_tensor_or_field() {
    let lora = LoraConfig {
        r: 4,
        alpha: 8.0,
        ..LoraConfig::default()
    };
    let (cfg, w, model) = setup(Arch::Llama, &lora);
    let tmp = tempfile::tempdir().unwrap();
    let fresh = || Model::load(&cfg, &w, DType::F32, &Device::Cpu).unwrap();
    let save = |name: &str| {
        let d = tmp.path().join(name);
        save_peft(&model, &lora, &d, &PeftSaveOptions::new("b")).unwrap();
        d
    };

    let missing = "base_model.model.model.layers.1.self_attn.o_proj.lora_B.weight";
    let d = save("missing");
    rewrite(&d, |t| t.retain(|(n, _)| n != missing));
    let mut m = fresh();
    let e = load_peft(&d, &mut m).unwrap_err().to_string();
    assert!(e.contains(missing) && e.contains("missing"), "{e}");
    assert!(
        m.lora_vars().is_empty(),
        "a failed load must leave the model untouched"
    );

    let d = save("extra");
    rewrite(&d, |t| {
        let x = t[0].1.clone();
        t.push(("base_model.model.lm_head.lora_A.weight".into(), x));
    });
    let e = load_peft(&d, &mut fresh()).unwrap_err().to_string();
    assert!(e.contains("base_model.model.lm_head.lora_A.weight"), "{e}");

    let d = save("rank");
    edit_config(&d, "r", serde_json::json!(8));
    let e = load_peft(&d, &mut fresh()).unwrap_err().to_string();
    assert!(
        e.contains("lora_A.weight") && e.contains("[4,") && e.contains("[8,"),
        "{e}"
    );

    let d = save("targets");
    edit_config(
        &d,
        "target_modules",
        serde_json::json!(["q_proj", "v_proj"]),
    );
    let e = load_peft(&d, &mut fresh()).unwrap_err().to_string();
    assert!(
        e.contains(
            "unexpected tensor `base_model.model.model.layers.0.mlp.down_proj.lora_A.weight`"
        ),
        "{e}"
    );

    let d = save("dora");
    edit_config(&d, "use_dora", serde_json::json!(true));
    let e = load_peft(&d, &mut fresh()).unwrap_err().to_string();
    assert!(e.contains("use_dora") && e.contains(ADAPTER_CONFIG), "{e}");

    let d = save("module");
    edit_config(
        &d,
        "target_modules",
        serde_json::json!(["q_proj", "lm_head"]),
    );
    let e = load_peft(&d, &mut fresh()).unwrap_err().to_string();
    assert!(e.contains("lm_head") && e.contains("target_modules"), "{e}");

    // A model whose adapters do not match the config it is saved with.
    let other = LoraConfig {
        r: 2,
        ..lora.clone()
    };
    let e = save_peft(
        &model,
        &other,
        &tmp.path().join("x"),
        &PeftSaveOptions::new("b"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("rank 4"), "{e}");
    assert!(!tmp.path().join("x").exists());

    // A merged adapter must be unmerged before another is loaded.
    let d = save("ok");
    let mut merged = model.clone();
    merged.merge_lora().unwrap();
    let e = load_peft(&d, &mut merged).unwrap_err().to_string();
    assert!(e.contains("unmerge"), "{e}");
}
