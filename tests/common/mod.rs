//! Shared helpers for integration tests: tiny random models (hidden ≤ 64, 2 layers, vocab ≤ 512).
#![allow(dead_code)]

pub mod cuda_emu;
pub mod train_path;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use trainer::chat::Tokenizer;
use trainer::model::{Arch, Model, ModelConfig, RopeScaling, TensorMap};

pub fn tiny_config(arch: Arch) -> ModelConfig {
    ModelConfig {
        arch,
        vocab_size: 97,
        hidden_size: 32,
        intermediate_size: 48,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        // Qwen3 gets an explicit head_dim that differs from hidden / heads.
        head_dim: if arch == Arch::Qwen3 { 16 } else { 8 },
        rope_theta: 10_000.0,
        rope_scaling: RopeScaling::None,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: arch != Arch::Qwen3,
        attention_bias: arch == Arch::Qwen2,
        max_position_embeddings: 512,
        bos_token_id: None,
        eos_token_ids: vec![2],
    }
}

pub fn tiny_weights(cfg: &ModelConfig, seed: u64) -> TensorMap {
    TensorMap::random(cfg, seed, 0.2).expect("random weights")
}

pub fn tiny_model(arch: Arch, dtype: DType) -> (ModelConfig, TensorMap, Model) {
    let cfg = tiny_config(arch);
    let w = tiny_weights(&cfg, 7);
    let m = Model::load(&cfg, &w, dtype, &Device::Cpu).expect("load tiny model");
    (cfg, w, m)
}

/// Deterministic pseudo-random token ids in `[0, vocab)`.
pub fn ids(b: usize, t: usize, vocab: usize, seed: u32) -> Vec<Vec<u32>> {
    let mut x = seed.wrapping_mul(2654435761).wrapping_add(12345);
    (0..b)
        .map(|_| {
            (0..t)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x % vocab as u32
                })
                .collect()
        })
        .collect()
}

pub fn ids_tensor(rows: &[Vec<u32>]) -> Tensor {
    let b = rows.len();
    let t = rows[0].len();
    Tensor::from_vec(rows.concat(), (b, t), &Device::Cpu).unwrap()
}

/// Elements of `t` as f64.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()
}

/// The f32 bit patterns of a tensor (any dtype, converted to f32), for bit-exact comparisons.
pub fn bits(t: &Tensor) -> Vec<u32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
        .iter()
        .map(|x| x.to_bits())
        .collect()
}

/// `max |a − b|` over all elements; a NaN or infinity on one side only counts as an infinite
/// difference (candle's `max` reduction skips NaNs, so it cannot be used for this).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    values(a)
        .iter()
        .zip(values(b))
        .map(|(&x, y)| {
            if x == y || (x.is_nan() && y.is_nan()) {
                0.0
            } else if x.is_finite() && y.is_finite() {
                (x - y).abs()
            } else {
                f64::INFINITY
            }
        })
        .fold(0.0, f64::max)
}

/// `max |t|`; infinite when `t` holds a NaN.
pub fn max_abs(t: &Tensor) -> f64 {
    values(t)
        .iter()
        .map(|v| if v.is_nan() { f64::INFINITY } else { v.abs() })
        .fold(0.0, f64::max)
}

/// `n` seeded uniform values in `[lo, hi)`.
pub fn uniform(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| lo + (hi - lo) * rng.random::<f64>())
        .collect()
}

/// Saves a tiny random Qwen3 with the real Qwen3 tokenizer's vocabulary and stop ids as an HF
/// directory (`config.json` + `model.safetensors`, f32) in `dir`; returns the tokenizer directory
/// (fetched by `scripts/fetch-assets.sh` through `trainer::assets`).
pub fn save_tiny_qwen3_dir(dir: &Path, seed: u64, max_positions: usize) -> PathBuf {
    let assets = trainer::assets::ensure_assets().unwrap_or_else(|e| panic!("{e}"));
    let tok = Tokenizer::from_dir(&assets.qwen3_tokenizer_dir).expect("Qwen3 tokenizer");
    let mut cfg = tiny_config(Arch::Qwen3);
    cfg.vocab_size = tok.vocab_size();
    cfg.eos_token_ids = tok.stop_ids().to_vec();
    cfg.max_position_embeddings = max_positions;
    cfg.tie_word_embeddings = true;
    std::fs::create_dir_all(dir).expect("model dir");
    std::fs::write(
        dir.join("config.json"),
        cfg.to_hf_json("float32").to_string(),
    )
    .expect("config.json");
    let w = tiny_weights(&cfg, seed);
    let tensors: Vec<(String, Tensor)> = w.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    safetensors::serialize_to_file(tensors, None, &dir.join("model.safetensors"))
        .expect("model.safetensors");
    assets.qwen3_tokenizer_dir.clone()
}

/// `(y, dx)` of the loss `sum(f(x) * c)` by autograd.
pub fn value_and_grad(
    f: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
    x: &Tensor,
    c: &Tensor,
) -> (Tensor, Tensor) {
    let xv = candle_core::Var::from_tensor(x).unwrap();
    let y = f(xv.as_tensor()).unwrap();
    let grads = (&y * c).unwrap().sum_all().unwrap().backward().unwrap();
    let dx = grads
        .get(xv.as_tensor())
        .expect("no gradient for x")
        .clone();
    (y, dx)
}

/// Asserts that `grad` (an autograd gradient) matches the central differences
/// `(loss(x + h·eᵢ) − loss(x − h·eᵢ)) / 2h` of `loss` at `x` within `tol`, element by element.
pub fn assert_central_differences(
    what: &str,
    loss: impl Fn(&[f64]) -> f64,
    x: &Tensor,
    grad: &Tensor,
    h: f64,
    tol: f64,
) {
    let (xs, gs) = (values(x), values(grad));
    assert_eq!(xs.len(), gs.len(), "{what}: gradient length");
    for (i, g) in gs.iter().enumerate() {
        let (mut p, mut m) = (xs.clone(), xs.clone());
        p[i] += h;
        m[i] -= h;
        let fd = (loss(&p) - loss(&m)) / (2.0 * h);
        assert!(
            (fd - g).abs() <= tol,
            "{what}[{i}]: finite differences {fd} vs {g}"
        );
    }
}

/// Runs `plan` on `inputs` and asserts that its first output, shaped like `want`, is within
/// `rel · max(1, max |want|)` of it (NaN-aware); `what` names the case in the failure message.
pub fn assert_emulated(
    plan: &trainer::kernels::plan::Plan,
    inputs: &[Tensor],
    want: &Tensor,
    rel: f64,
    what: &str,
) {
    let got = cuda_emu::run_plan(plan, inputs).unwrap_or_else(|e| panic!("{what}: {e}"));
    let got = got[0].reshape(want.dims()).expect("output shape");
    let d = max_abs_diff(&got, want);
    let tol = rel * max_abs(want).max(1.0);
    assert!(d <= tol, "{what}: max diff {d:e} > {tol:e}");
}

/// Writes `dir/<name>.toml`: a CPU run of the model at `model` (tokenizer `tok`) whose `[eval]`
/// reads BFCL data from `data`, generates 6 tokens per step, and adds `eval_extra` lines.
pub fn tiny_eval_config(
    dir: &Path,
    name: &str,
    model: &Path,
    tok: &Path,
    data: &Path,
    eval_extra: &str,
) -> PathBuf {
    let cfg = dir.join(format!("{name}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[run]\nname = \"{name}\"\noutput_dir = \"{}\"\nthreads = 1\n\n[model]\nsource = \"{}\"\ntokenizer = \"{}\"\n\n[eval]\nmax_new_tokens = 6\ndata_dir = \"{}\"\n{eval_extra}",
            dir.display(),
            model.display(),
            tok.display(),
            data.display()
        ),
    )
    .unwrap();
    cfg
}
