//! Wall time and peak memory of the training forward + backward of one GRPO micro-batch, without
//! generation: SmolLM2-135M-Instruct in f32, `rows` × (`prompt_len` + `new_tokens`) tokens, LoRA
//! r = 8 on all 7 linear modules, chunked log-probs (with entropy, as the GRPO step asks) of the
//! completion positions, loss = −mean log-prob. For profiling the training path in isolation.
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release --example bench_grpo_fb -- [--reps 3] [--checkpointing]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use clap::Parser;
use trainer::model::load::ModelSource;
use trainer::model::{
    peak_rss_mb, token_logprobs, AdapterUse, Batch, LogprobOptions, LoraConfig, LoraTarget, Mode,
};

#[derive(Parser, Debug)]
struct Args {
    /// GGUF model file (default: the SmolLM2-135M-Instruct asset).
    #[arg(long)]
    gguf: Option<PathBuf>,
    #[arg(long, default_value_t = 3)]
    reps: usize,
    #[arg(long, default_value_t = 8)]
    rows: usize,
    #[arg(long, default_value_t = 64)]
    prompt_len: usize,
    #[arg(long, default_value_t = 64)]
    new_tokens: usize,
    /// Layer-wise activation recompute.
    #[arg(long)]
    checkpointing: bool,
    /// Adapt only these layer indices (comma separated); default all.
    #[arg(long, value_delimiter = ',')]
    layers: Option<Vec<usize>>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let gguf = args.gguf.unwrap_or_else(trainer::assets::smollm2_gguf_path);
    let spec = gguf.to_str().context("GGUF path is not UTF-8")?;
    let source = ModelSource::resolve(spec).with_context(|| gguf.display().to_string())?;
    let mut model = source.load_model(DType::F32, &Device::Cpu)?;
    model.attach_lora(&LoraConfig {
        r: 8,
        alpha: 16.0,
        targets: LoraTarget::ALL.to_vec(),
        use_rslora: false,
        seed: 0,
        layers: args.layers.clone(),
    })?;
    model.set_gradient_checkpointing(args.checkpointing);
    // Give B a non-zero value so that every adapter is on the gradient path.
    for (_, v) in model.lora_vars() {
        let t = v.as_tensor();
        v.set(&(t.ones_like()? * 1e-3)?)?;
    }
    let vars = model.lora_vars();
    let vocab = model.config().vocab_size as u32;
    let t = args.prompt_len + args.new_tokens;
    let ids: Vec<u32> = (0..args.rows * t)
        .map(|i| (i as u32 * 7919 + 13) % vocab)
        .collect();
    let ids = Tensor::from_vec(ids, (args.rows, t), &Device::Cpu)?;
    let inputs = ids.narrow(1, 0, t - 1)?.contiguous()?;
    let targets = ids.narrow(1, 1, t - 1)?.contiguous()?;
    let start = args.prompt_len - 1;
    let len = t - 1 - start;
    let targets = targets.narrow(1, start, len)?;
    let batch = Batch::dense(&model, args.rows, t - 1, AdapterUse::On)?;
    let opts = LogprobOptions {
        temperature: 1.0,
        chunk_size: 64,
        entropy: true,
    };
    for rep in 0..args.reps {
        let t0 = Instant::now();
        let hidden = model.forward(&inputs, &batch, None, Mode::Train)?;
        let hidden = hidden.narrow(1, start, len)?;
        let (lp, ent) = token_logprobs(&model, &hidden, &targets, opts)?;
        let ent = ent.map(|e| e.detach());
        let loss = lp.mean_all()?.neg()?;
        let forward_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let grads = loss.backward()?;
        let backward_s = t1.elapsed().as_secs_f64();
        let mut sq = 0.0f64;
        let mut missing = 0;
        for (_, v) in &vars {
            match grads.get(v.as_tensor()) {
                Some(g) => {
                    sq += g
                        .sqr()?
                        .sum_all()?
                        .to_dtype(DType::F64)?
                        .to_scalar::<f64>()?
                }
                None => missing += 1,
            }
        }
        drop(grads);
        let ent_mean = match ent {
            Some(e) => e.mean_all()?.to_scalar::<f32>()?,
            None => f32::NAN,
        };
        println!(
            "{}",
            serde_json::json!({
                "impl": "trainer", "bench": "grpo_fb", "rows": args.rows, "seq": t - 1,
                "rep": rep, "checkpointing": args.checkpointing,
                "forward_s": forward_s, "backward_s": backward_s,
                "loss": loss.to_scalar::<f32>()?, "entropy": ent_mean,
                "grad_norm": sq.sqrt(), "vars_without_grad": missing,
                "peak_rss_mb": peak_rss_mb(),
            })
        );
    }
    Ok(())
}
