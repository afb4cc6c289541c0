//! Measured memory against the plan's formulas, on the real SmolLM2-135M-Instruct (f32, CPU).
//! Ignored by default (each needs its own process, since the peak RSS is per process, and tens of
//! seconds): run one at a time,
//!
//! ```text
//! cargo test --test plan_measure -- --ignored --exact gen_adapter_on
//! ```
//!
//! Each test loads the model, resets the process's peak RSS (`/proc/self/clear_refs`), runs one
//! generation call or one training forward/backward, and compares the peak RSS growth over the
//! RSS before the call with the plan's estimate for the same shapes. RSS also holds the
//! allocator's retained memory, so the comparison is an order-of-magnitude check, bounded below
//! and above.

use candle_core::{DType, Device, Tensor};
use trainer::engine::{generate, GenConfig, GenRequest};
use trainer::model::load::ModelSource;
use trainer::model::{
    current_rss_mb, peak_rss_mb, token_logprobs, AdapterUse, Batch, LogprobOptions, LoraConfig,
    LoraTarget, Mode, Model,
};
use trainer::plan::{estimate, model_geometry, Budget, DeviceKind, Fidelity, Phase, PlanInputs};

const ROWS_GEN: usize = 16;
const ROWS_TRAIN: usize = 4;
const T: usize = 512;
const LAYERS: std::ops::Range<usize> = 20..30;

fn model(checkpointing: bool) -> Model {
    let path = trainer::assets::smollm2_gguf_path();
    let src = ModelSource::resolve(path.to_str().unwrap()).unwrap();
    let mut m = src.load_model(DType::F32, &Device::Cpu).unwrap();
    m.attach_lora(&LoraConfig {
        r: 16,
        alpha: 32.0,
        targets: LoraTarget::ALL.to_vec(),
        use_rslora: false,
        seed: 0,
        layers: Some(LAYERS.collect()),
    })
    .unwrap();
    m.set_gradient_checkpointing(checkpointing);
    m
}

fn inputs(rows: usize, checkpointing: bool) -> PlanInputs {
    let geometry = model_geometry("asset:smollm2-135m-instruct").unwrap();
    PlanInputs {
        geometry,
        budget: Budget {
            device: DeviceKind::Cpu,
            bytes: 1e12,
            source: "test".into(),
        },
        dtype_bytes: 4.0,
        lora_r: 16,
        lora_targets: LoraTarget::ALL.to_vec(),
        lora_layers: Some(LAYERS.collect()),
        micro_batch: rows,
        max_seq_len: T,
        logprob_chunk: 64,
        gradient_checkpointing: checkpointing,
        reference_forward: false,
        gen_rows: rows,
        gen_new_tokens: 2,
        prefix_cache_bytes: 0.0,
        fidelity: Fidelity::AsCoded,
    }
}

/// Resets `VmHWM` to the current RSS.
fn reset_peak() -> f64 {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    current_rss_mb().unwrap()
}

fn ids(n: usize, vocab: usize, offset: usize) -> Vec<u32> {
    (0..n)
        .map(|i| ((i * 7919 + 13 + offset) % vocab) as u32)
        .collect()
}

fn report(name: &str, base_mb: f64, estimate_mb: f64) {
    let peak = peak_rss_mb().unwrap();
    let grown = peak - base_mb;
    println!(
        "{}",
        serde_json::json!({"scenario": name, "rss_before_mb": base_mb, "peak_rss_mb": peak,
            "measured_growth_mb": grown, "estimate_mb": estimate_mb, "ratio": grown / estimate_mb})
    );
    assert!(
        grown > 0.7 * estimate_mb && grown < 1.25 * estimate_mb,
        "{name}: measured growth {grown:.0} MB vs estimate {estimate_mb:.0} MB"
    );
}

fn phase_mb(p: &PlanInputs, phase: Phase, skip: &[&str]) -> f64 {
    estimate(p)
        .components
        .iter()
        .filter(|c| c.phase == phase && !skip.contains(&c.name.as_str()))
        .map(|c| c.bytes)
        .sum::<f64>()
        / (1u64 << 20) as f64
}

fn run_generation(adapter: bool) -> f64 {
    let m = model(false);
    let vocab = m.config().vocab_size;
    // Distinct prompts of T - 2 tokens, 2 new tokens each: the rows finish together, so the
    // cache is never gathered (the plan's ×2 for that does not apply here).
    let reqs: Vec<GenRequest> = (0..ROWS_GEN)
        .map(|r| GenRequest {
            prompt: ids(T - 2, vocab, r),
            seed: r as u64,
            adapter,
        })
        .collect();
    let cfg = GenConfig {
        max_new_tokens: 2,
        ..GenConfig::default()
    };
    let base = reset_peak();
    let out = generate(&m, &reqs, &cfg).unwrap();
    assert_eq!(out.len(), ROWS_GEN);
    base
}

#[test]
#[ignore = "measurement: run alone, see the module docs"]
fn gen_adapter_on() {
    let base = run_generation(true);
    let p = inputs(ROWS_GEN, false);
    // The cache itself (the estimate adds one layer's gather, 1/30 of it, for dropping rows).
    let kv = estimate(&p)
        .components
        .iter()
        .find(|c| c.name == "KV cache")
        .map(|c| c.bytes / (1.0 + 1.0 / 30.0) / (1u64 << 20) as f64)
        .unwrap();
    let act = phase_mb(&p, Phase::Generation, &["KV cache"]);
    report("gen_adapter_on", base, kv + act);
}

#[test]
#[ignore = "measurement: run alone, see the module docs"]
fn gen_adapter_off() {
    let base = run_generation(false);
    let mut p = inputs(ROWS_GEN, false);
    // Adapter off: no graph, so one layer's transients (the as-designed formula).
    p.fidelity = Fidelity::AsDesigned;
    // The cache itself (the estimate adds one layer's gather, 1/30 of it, for dropping rows).
    let kv = estimate(&p)
        .components
        .iter()
        .find(|c| c.name == "KV cache")
        .map(|c| c.bytes / (1.0 + 1.0 / 30.0) / (1u64 << 20) as f64)
        .unwrap();
    let act = phase_mb(&p, Phase::Generation, &["KV cache"]);
    report("gen_adapter_off", base, kv + act);
}

fn run_training(checkpointing: bool) -> f64 {
    let m = model(checkpointing);
    let vocab = m.config().vocab_size;
    let all = Tensor::from_vec(
        ids(ROWS_TRAIN * (T + 1), vocab, 0),
        (ROWS_TRAIN, T + 1),
        &Device::Cpu,
    )
    .unwrap();
    let inputs = all.narrow(1, 0, T).unwrap().contiguous().unwrap();
    let targets = all.narrow(1, 1, T).unwrap().contiguous().unwrap();
    let batch = Batch::dense(&m, ROWS_TRAIN, T, AdapterUse::On).unwrap();
    let base = reset_peak();
    let hidden = m.forward(&inputs, &batch, None, Mode::Train).unwrap();
    let opts = LogprobOptions {
        temperature: 1.0,
        chunk_size: 64,
        entropy: true,
    };
    let (lp, _) = token_logprobs(&m, &hidden, &targets, opts).unwrap();
    let loss = lp.mean_all().unwrap().neg().unwrap();
    let grads = loss.backward().unwrap();
    assert!(m
        .lora_vars()
        .iter()
        .all(|(_, v)| grads.get(v.as_tensor()).is_some()));
    base
}

#[test]
#[ignore = "measurement: run alone, see the module docs"]
fn train_no_checkpointing() {
    let base = run_training(false);
    let p = inputs(ROWS_TRAIN, false);
    report(
        "train_no_checkpointing",
        base,
        phase_mb(&p, Phase::Training, &[]),
    );
}

#[test]
#[ignore = "measurement: run alone, see the module docs"]
fn train_checkpointing() {
    let base = run_training(true);
    let p = inputs(ROWS_TRAIN, true);
    report(
        "train_checkpointing",
        base,
        phase_mb(&p, Phase::Training, &[]),
    );
}
