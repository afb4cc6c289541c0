//! Writes what `scripts/check_export.py` compares against transformers + peft (run both with
//! `scripts/check-export.sh`):
//!
//! ```text
//! cargo run --example export_check -- OUT_DIR [--no-smollm2]
//! ```
//!
//! For each case (the real SmolLM2-135M-Instruct GGUF, a tiny random Qwen2 and a tiny random
//! Qwen3) it loads the model in f32, attaches a seeded LoRA with non-zero `B` on all seven
//! targets, and writes under `OUT_DIR/<case>/`:
//! - `base/`: the base model as an HF directory (with tokenizer files for SmolLM2),
//! - `adapter/`: the PEFT adapter,
//! - `merged/`: the merged model as an HF directory,
//! - `logits.safetensors`: `ids` `[T]` (i64), `base_logits` and `lora_logits` `[T, V]` computed
//!   in f32, and `base_logits_f64` / `lora_logits_f64` from the same weights in f64 (f32 rounding
//!   noise of a 30-layer model is ~1e-4 in either implementation; f64 isolates the export itself),
//! - `meta.json`: the case, and for SmolLM2 the rendered chat prompt its ids come from.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde_json::json;
use trainer::chat::{RenderOptions, Tokenizer};
use trainer::checkpoint::{export_hf, save_peft, HfExportOptions, PeftSaveOptions};
use trainer::model::load::{ModelSource, TokenizerFiles};
use trainer::model::{
    AdapterUse, Arch, Batch, LoraConfig, Mode, Model, ModelConfig, RopeScaling, TensorMap,
};

/// Deterministic values in [-1, 1).
fn pseudo_random(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((x >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect()
}

fn tiny_config(arch: Arch) -> ModelConfig {
    ModelConfig {
        arch,
        vocab_size: 256,
        hidden_size: 64,
        intermediate_size: 128,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        // Qwen3: an explicit head_dim different from hidden / heads.
        head_dim: if arch == Arch::Qwen3 { 32 } else { 16 },
        rope_theta: 1_000_000.0,
        rope_scaling: RopeScaling::None,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: arch == Arch::Qwen2,
        attention_bias: arch == Arch::Qwen2,
        max_position_embeddings: 4096,
        bos_token_id: None,
        eos_token_ids: vec![1],
    }
}

/// `model`'s weights (from `src`) in f64 with a copy of its adapter.
fn in_f64(model: &Model, src: &dyn trainer::model::TensorSource) -> Result<Model> {
    let mut m = Model::load(model.config(), src, DType::F64, &Device::Cpu)?;
    for ((_, from), (_, to)) in model.linears().zip(m.linears_mut()) {
        if let Some(p) = from.lora() {
            to.set_adapter(p.a.as_tensor().clone(), p.b.as_tensor().clone(), p.scale)?;
        }
    }
    Ok(m)
}

/// Attaches `lora` and sets every `B` to seeded values of size `b_scale` (a fresh `B` is zero).
fn attach(model: &mut Model, lora: &LoraConfig, b_scale: f32) -> Result<()> {
    model.attach_lora(lora)?;
    for (i, (_, lin)) in model.linears_mut().enumerate() {
        if let Some(p) = lin.lora().cloned() {
            let (out, r) = p.b.as_tensor().dims2()?;
            let v: Vec<f32> = pseudo_random(out * r, 1000 + i as u64)
                .into_iter()
                .map(|x| x * b_scale)
                .collect();
            let b = Tensor::from_vec(v, (out, r), &Device::Cpu)?;
            lin.set_adapter(p.a.as_tensor().clone(), b, p.scale)?;
        }
    }
    Ok(())
}

fn logits(model: &Model, ids: &[u32], adapter: AdapterUse) -> Result<Tensor> {
    let x = Tensor::from_slice(ids, (1, ids.len()), &Device::Cpu)?;
    let batch = Batch::dense(model, 1, ids.len(), adapter)?;
    // candle's fused rms-norm has no f64 kernel: f64 uses the unfused (training) ops.
    let mode = if model.dtype() == DType::F64 {
        Mode::Train
    } else {
        Mode::Infer
    };
    let h = model.forward(&x, &batch, None, mode)?;
    Ok(model.logits(&h)?.squeeze(0)?)
}

struct Case {
    name: &'static str,
    model: Model,
    /// The same weights and adapter in f64.
    model64: Model,
    lora: LoraConfig,
    ids: Vec<u32>,
    tokenizer: Option<Tokenizer>,
    prompt: Option<String>,
    base_name: String,
    max_shard_bytes: u64,
}

fn smollm2_case() -> Result<Case> {
    let assets = trainer::assets::ensure_assets()?;
    let src = ModelSource::resolve(&assets.smollm2_gguf.to_string_lossy())?;
    let tok = match &src.tokenizer {
        TokenizerFiles::Gguf { content, .. } => Tokenizer::from_gguf(content)?,
        other => bail!("expected GGUF tokenizer metadata, got {other:?}"),
    };
    let prompt = tok.apply_chat_template(
        &[json!({"role": "user", "content": "What is the capital of France?"})],
        &RenderOptions::new(true),
    )?;
    let ids = tok.encode(&prompt, false)?;
    let mut model = src.load_model(DType::F32, &Device::Cpu)?;
    let lora = LoraConfig {
        r: 8,
        alpha: 16.0,
        seed: 1,
        ..LoraConfig::default()
    };
    attach(&mut model, &lora, 0.02)?;
    let model64 = in_f64(&model, src.weights.as_ref())?;
    Ok(Case {
        name: "smollm2",
        model,
        model64,
        lora,
        ids,
        tokenizer: Some(tok),
        prompt: Some(prompt),
        base_name: "HuggingFaceTB/SmolLM2-135M-Instruct".into(),
        // ~540 MB of f32 weights: several shards.
        max_shard_bytes: 200_000_000,
    })
}

fn tiny_case(name: &'static str, arch: Arch, lora: LoraConfig) -> Result<Case> {
    let cfg = tiny_config(arch);
    let w = TensorMap::random(&cfg, 7, 0.1)?;
    let mut model = Model::load(&cfg, &w, DType::F32, &Device::Cpu)?;
    attach(&mut model, &lora, 0.1)?;
    let model64 = in_f64(&model, &w)?;
    let ids: Vec<u32> = pseudo_random(24, 5)
        .into_iter()
        .map(|x| ((x + 1.0) * 0.5 * cfg.vocab_size as f32) as u32 % cfg.vocab_size as u32)
        .collect();
    Ok(Case {
        name,
        model,
        model64,
        lora,
        ids,
        tokenizer: None,
        prompt: None,
        base_name: format!("tiny-random-{}", arch.model_type()),
        max_shard_bytes: 64 * 1024,
    })
}

fn write_case(out: &Path, case: &Case) -> Result<()> {
    let dir = out.join(case.name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir)?;
    let base = HfExportOptions {
        merge_adapter: false,
        max_shard_bytes: case.max_shard_bytes,
        tokenizer: case.tokenizer.as_ref(),
        ..HfExportOptions::default()
    };
    export_hf(&case.model, &dir.join("base"), &base)?;
    save_peft(
        &case.model,
        &case.lora,
        &dir.join("adapter"),
        &PeftSaveOptions::new(case.base_name.clone()),
    )?;
    let merged = HfExportOptions {
        merge_adapter: true,
        ..base
    };
    export_hf(&case.model, &dir.join("merged"), &merged)?;
    let base_logits = logits(&case.model, &case.ids, AdapterUse::Off)?;
    let lora_logits = logits(&case.model, &case.ids, AdapterUse::On)?;
    let ids = Tensor::from_slice(&case.ids, case.ids.len(), &Device::Cpu)?.to_dtype(DType::I64)?;
    let tensors = vec![
        ("ids".to_string(), ids),
        ("base_logits".to_string(), base_logits),
        ("lora_logits".to_string(), lora_logits),
        (
            "base_logits_f64".to_string(),
            logits(&case.model64, &case.ids, AdapterUse::Off)?,
        ),
        (
            "lora_logits_f64".to_string(),
            logits(&case.model64, &case.ids, AdapterUse::On)?,
        ),
    ];
    safetensors::serialize_to_file(tensors, None, &dir.join("logits.safetensors"))?;
    let meta = json!({
        "case": case.name,
        "arch": case.model.config().arch.model_type(),
        "prompt": case.prompt,
        "use_rslora": case.lora.use_rslora,
    });
    std::fs::write(dir.join("meta.json"), serde_json::to_string_pretty(&meta)?)?;
    println!(
        "{}: {} tokens, vocab {}, written to {}",
        case.name,
        case.ids.len(),
        case.model.config().vocab_size,
        dir.display()
    );
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = match args.iter().find(|a| !a.starts_with("--")) {
        Some(p) => PathBuf::from(p),
        None => bail!("usage: export_check OUT_DIR [--no-smollm2]"),
    };
    let with_smollm2 = !args.iter().any(|a| a == "--no-smollm2");
    std::fs::create_dir_all(&out)?;
    let all = LoraConfig {
        r: 8,
        alpha: 16.0,
        seed: 3,
        ..LoraConfig::default()
    };
    let mut cases = vec![
        tiny_case("qwen2", Arch::Qwen2, all.clone())?,
        tiny_case(
            "qwen3",
            Arch::Qwen3,
            LoraConfig {
                r: 4,
                alpha: 6.0,
                use_rslora: true,
                ..all
            },
        )?,
    ];
    if with_smollm2 {
        cases.insert(0, smollm2_case()?);
    }
    for case in &cases {
        write_case(&out, case)?;
    }
    Ok(())
}
