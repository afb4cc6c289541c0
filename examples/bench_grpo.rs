//! Wall time of one GRPO step of the `trainer` (generation + forward/backward + AdamW) on
//! SmolLM2-135M-Instruct in f32: 1 prompt of 64 tokens, G = 8, 64 new tokens (no stop), LoRA r = 8
//! on all 7 linear modules, micro-batches of 8 rows.
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release --example bench_grpo -- [--gguf FILE] [--reps 2]
//! ```
//! Prints one JSON line per timed step (`{"impl": "trainer", "bench": "grpo", ...}`, DESIGN.md §8).
//! The reward is a toy (fraction of even token ids); only the timing matters here.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use clap::Parser;
use trainer::grpo::GrpoOptions;
use trainer::model::load::ModelSource;
use trainer::model::{LoraConfig, LoraTarget};
use trainer::train::{grpo_step, AdamW, AdamWConfig, GrpoStepOptions};

#[derive(Parser, Debug)]
struct Args {
    /// GGUF model file (default: the SmolLM2-135M-Instruct asset).
    #[arg(long)]
    gguf: Option<PathBuf>,
    #[arg(long, default_value_t = 2)]
    reps: usize,
    #[arg(long, default_value_t = 64)]
    prompt_len: usize,
    #[arg(long, default_value_t = 64)]
    new_tokens: usize,
    #[arg(long, default_value_t = 8)]
    generations: usize,
    /// Rows per training forward/backward pass.
    #[arg(long, default_value_t = 8)]
    micro_batch: usize,
    /// Layer-wise activation recompute in the training forward.
    #[arg(long)]
    checkpointing: bool,
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
        layers: None,
    })?;
    model.set_gradient_checkpointing(args.checkpointing);
    let vocab = model.config().vocab_size as u32;
    let prompt: Vec<u32> = (0..args.prompt_len as u32)
        .map(|i| (i * 7919 + 13) % vocab)
        .collect();
    let grpo = GrpoOptions {
        num_generations: args.generations,
        max_completion_length: args.new_tokens,
        ..GrpoOptions::default()
    };
    let mut opts = GrpoStepOptions::new(grpo);
    opts.micro_batch_size = args.micro_batch;
    let mut opt = AdamW::new(model.lora_vars(), AdamWConfig::with_lr(1e-5))?;
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_default();
    for rep in 0..args.reps {
        let t = Instant::now();
        let r = grpo_step(
            &model,
            &mut opt,
            std::slice::from_ref(&prompt),
            &mut |_, c| Some(c.iter().filter(|&&t| t % 2 == 0).count() as f64 / 64.0),
            &opts,
            rep as u64,
        )?;
        let step_s = t.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({
                "impl": "trainer", "bench": "grpo", "model": "smollm2-135m", "dtype": "f32",
                "G": args.generations, "prompt_len": args.prompt_len,
                "new_tokens": args.new_tokens, "lora_r": 8, "micro_batch": args.micro_batch, "threads": threads, "rep": rep,
                "step_s": step_s, "generate_s": r.generate_s,
                "forward_backward_s": r.forward_backward_s,
                "mean_length": r.mean_length, "grad_norm": r.grad_norm,
                "checkpointing": args.checkpointing,
                "peak_rss_mb": trainer::model::peak_rss_mb(),
            })
        );
    }
    Ok(())
}
