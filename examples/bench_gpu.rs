//! The `trainer` side of `scripts/bench_gpu.sh`: batched generation throughput (and decode
//! tokens/s) and the wall time of one GRPO step on a chosen device and dtype, for a GGUF model
//! (SmolLM2-135M) or a random-init model of any Qwen2 geometry (a HF `config.json`).
//!
//! ```text
//! cargo run --release --example bench_gpu -- --device cpu --dtype f32 --gguf FILE
//! scripts/build-cuda.sh --example bench_gpu && target/cuda/release/examples/bench_gpu \
//!     --device cuda --dtype bf16 --hf-config qwen-0.5b/config.json
//! ```
//! Prints one JSON line per timed repetition (`{"impl": "trainer", "bench": "generate" | "grpo",
//! ...}`, DESIGN.md §8). Random weights are generated on the device, tensor by tensor
//! (`RandomWeights`), so a Qwen2.5-32B geometry needs no checkpoint and no host memory for an f32
//! copy. Each GRPO line also carries the memory plan's estimate for the same shapes
//! (`plan_total_gib`, `plan_generation_gib`, `plan_training_gib`: `trainer plan`'s formulas with
//! this run's rows, tokens, micro-batch, LoRA rank and recompute) and, on CUDA, the measured peak
//! device memory (`gpu_peak_gib`: the device's used memory, polled every 2 ms from a second
//! thread, from before the model is loaded to the end of the step; `gpu_base_gib`: used before the
//! load, e.g. another process). The 32B peak against the plan:
//!
//! ```text
//! target/cuda/release/examples/bench_gpu --device cuda --dtype bf16 --model-name qwen2.5-32b \
//!     --hf-config tests/fixtures/plan/qwen2.5-32b/config.json --benches grpo --reps 1 \
//!     --checkpointing --micro-batch 1 --generations 8 --prompt-len 1024 --new-tokens 1024
//! ```
//!
//! Decode tokens/s is `batch · (N − 1) / (t(N) − t(1))`: the time of N new
//! tokens minus the time of one (prefill + first token). Generation samples at temperature 1 with
//! no stop, so every row makes exactly N tokens. The GRPO reward is a toy (fraction of even ids).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use clap::Parser;
use trainer::engine::{generate, GenConfig, GenRequest, SamplingParams};
use trainer::grpo::GrpoOptions;
use trainer::model::load::ModelSource;
use trainer::model::{LoraConfig, LoraTarget, Model, ModelConfig, RandomWeights};
use trainer::plan::{estimate, Budget, DeviceKind, Fidelity, Geometry, PlanInputs};
use trainer::train::{grpo_step, AdamW, AdamWConfig, GrpoStepOptions};

#[derive(Parser, Debug)]
struct Args {
    /// `cpu`, `cuda` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// `f32`, `bf16` or `f16`.
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// GGUF model file (dequantized to `--dtype`).
    #[arg(long, conflicts_with = "hf_config")]
    gguf: Option<PathBuf>,
    /// A HF `config.json`: random weights of that geometry (seeded).
    #[arg(long)]
    hf_config: Option<PathBuf>,
    #[arg(long, default_value = "model")]
    model_name: String,
    /// Generation rows.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    #[arg(long, default_value_t = 128)]
    prompt_len: usize,
    #[arg(long, default_value_t = 128)]
    new_tokens: usize,
    /// GRPO group size (one prompt, G completions).
    #[arg(long, default_value_t = 8)]
    generations: usize,
    /// Rows per training forward/backward pass.
    #[arg(long, default_value_t = 8)]
    micro_batch: usize,
    #[arg(long)]
    checkpointing: bool,
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// `generate`, `grpo` or `generate,grpo`.
    #[arg(long, default_value = "generate,grpo")]
    benches: String,
}

fn device(name: &str) -> Result<Device> {
    let ordinal = match name {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        other => other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("--device {other}: allowed cpu, cuda, cuda:N"))?,
    };
    Device::new_cuda(ordinal).with_context(|| format!("cannot open {name}"))
}

fn dtype(name: &str) -> Result<DType> {
    Ok(match name {
        "f32" => DType::F32,
        "bf16" => DType::BF16,
        "f16" => DType::F16,
        other => bail!("--dtype {other}: allowed f32, bf16, f16"),
    })
}

fn load(args: &Args, dt: DType, dev: &Device) -> Result<Model> {
    match (&args.gguf, &args.hf_config) {
        (Some(g), None) => {
            let spec = g.to_str().context("GGUF path is not UTF-8")?;
            let source = ModelSource::resolve(spec).with_context(|| g.display().to_string())?;
            Ok(source.load_model(dt, dev)?)
        }
        (None, Some(c)) => {
            let text = std::fs::read_to_string(c).with_context(|| c.display().to_string())?;
            let cfg = ModelConfig::from_hf_json(&text, &c.display().to_string())?;
            if dev.is_cuda() {
                dev.set_seed(0)?;
            }
            Ok(Model::load(&cfg, &RandomWeights::new(&cfg, 0.02), dt, dev)?)
        }
        _ => bail!("give exactly one of --gguf and --hf-config"),
    }
}

/// The bench prompt: id_i = (i · 7919 + 13 + row) mod vocab.
fn prompt(len: usize, vocab: usize, row: usize) -> Vec<u32> {
    (0..len)
        .map(|i| ((i * 7919 + 13 + row) % vocab) as u32)
        .collect()
}

/// LoRA rank of the benchmark (every linear of every layer).
const LORA_R: usize = 8;

/// The memory plan's estimate for this run's GRPO step: one prompt, `generations` rows of up to
/// `prompt_len + new_tokens` tokens, no prefix cache.
fn plan_estimate(
    args: &Args,
    cfg: &ModelConfig,
    dt: DType,
    opts: &GrpoStepOptions,
) -> serde_json::Value {
    let seq = args.prompt_len + args.new_tokens;
    let inputs = PlanInputs {
        geometry: Geometry {
            config: cfg.clone(),
            file: args
                .hf_config
                .clone()
                .or(args.gguf.clone())
                .unwrap_or_default(),
            gguf: args.gguf.is_some(),
        },
        budget: Budget {
            device: if args.device == "cpu" {
                DeviceKind::Cpu
            } else {
                DeviceKind::Cuda
            },
            bytes: f64::INFINITY,
            source: "bench".into(),
        },
        dtype_bytes: dt.size_in_bytes() as f64,
        lora_r: LORA_R,
        lora_targets: LoraTarget::ALL.to_vec(),
        lora_layers: None,
        micro_batch: args.micro_batch,
        max_seq_len: seq,
        logprob_chunk: opts.chunk_size,
        gradient_checkpointing: args.checkpointing,
        reference_forward: opts.grpo.beta > 0.0,
        gen_rows: args.generations,
        gen_new_tokens: args.new_tokens,
        prefix_cache_bytes: 0.0,
        fidelity: Fidelity::AsCoded,
    };
    let p = estimate(&inputs);
    let gib = |b: f64| b / (1u64 << 30) as f64;
    serde_json::json!({
        "plan_total_gib": gib(p.total_bytes),
        "plan_resident_gib": gib(p.resident_bytes),
        "plan_generation_gib": gib(p.generation_bytes),
        "plan_training_gib": gib(p.training_bytes),
        "plan_margin_gib": gib(p.margin_bytes),
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    let dev = device(&args.device)?;
    let dt = dtype(&args.dtype)?;
    let poller = gpu_mem::Poller::start(&dev)?;
    let t_load = Instant::now();
    let mut model = load(&args, dt, &dev)?;
    model.attach_lora(&LoraConfig {
        r: LORA_R,
        alpha: 16.0,
        targets: LoraTarget::ALL.to_vec(),
        use_rslora: false,
        seed: 0,
        layers: None,
    })?;
    model.set_gradient_checkpointing(args.checkpointing);
    let load_s = t_load.elapsed().as_secs_f64();
    let cfg = model.config().clone();
    let vocab = cfg.vocab_size;
    let base = serde_json::json!({
        "impl": "trainer", "model": args.model_name, "device": args.device, "dtype": args.dtype,
        "params": cfg.num_parameters(), "layers": cfg.num_hidden_layers,
        "kv_dim": cfg.kv_dim(), "load_s": load_s,
    });
    let record = |extra: serde_json::Value| {
        let mut r = base.clone();
        if let (Some(r), Some(e)) = (r.as_object_mut(), extra.as_object()) {
            r.extend(e.clone());
        }
        println!("{r}");
    };
    let benches: Vec<&str> = args.benches.split(',').collect();

    if benches.contains(&"generate") {
        let requests: Vec<GenRequest> = (0..args.batch)
            .map(|r| GenRequest::new(prompt(args.prompt_len, vocab, r), r as u64))
            .collect();
        let gen = |n: usize| -> Result<f64> {
            let cfg = GenConfig {
                sampling: SamplingParams {
                    temperature: 1.0,
                    top_k: 0,
                    top_p: 1.0,
                },
                max_new_tokens: n,
                ..GenConfig::default()
            };
            let t = Instant::now();
            let outs = generate(&model, &requests, &cfg)?;
            let secs = t.elapsed().as_secs_f64();
            if let Some(o) = outs.iter().find(|o| o.tokens.len() != n) {
                bail!("a row made {} tokens, not {n}", o.tokens.len());
            }
            Ok(secs)
        };
        gen(2.min(args.new_tokens))?; // warm-up (kernels, allocator)
        for rep in 0..args.reps {
            let first_s = gen(1)?;
            let wall_s = gen(args.new_tokens)?;
            let new = (args.batch * args.new_tokens) as f64;
            let decode = (args.batch * args.new_tokens.saturating_sub(1)) as f64;
            record(serde_json::json!({
                "bench": "generate", "rep": rep, "batch": args.batch,
                "prompt_len": args.prompt_len, "new_tokens": args.new_tokens,
                "wall_s": wall_s, "first_token_s": first_s,
                "tokens_per_s": new / wall_s,
                "decode_tokens_per_s": decode / (wall_s - first_s).max(1e-9),
            }));
        }
    }

    if benches.contains(&"grpo") {
        let grpo = GrpoOptions {
            num_generations: args.generations,
            max_completion_length: args.new_tokens,
            ..GrpoOptions::default()
        };
        let mut opts = GrpoStepOptions::new(grpo);
        opts.micro_batch_size = args.micro_batch;
        let planned = plan_estimate(&args, &cfg, dt, &opts);
        let mut opt = AdamW::new(model.lora_vars(), AdamWConfig::with_lr(1e-5))?;
        let p = prompt(args.prompt_len, vocab, 0);
        // The first step warms up; every step is printed (rep 0 is the warm-up).
        for rep in 0..=args.reps {
            let t = Instant::now();
            let r = grpo_step(
                &model,
                &mut opt,
                std::slice::from_ref(&p),
                &mut |_, c| {
                    let even = c.iter().filter(|&&t| t % 2 == 0).count();
                    Some(even as f64 / c.len().max(1) as f64)
                },
                &opts,
                rep as u64,
            )?;
            let mut rec = serde_json::json!({
                "bench": "grpo", "rep": rep, "warmup": rep == 0, "G": args.generations,
                "prompt_len": args.prompt_len, "new_tokens": args.new_tokens,
                "micro_batch": args.micro_batch, "checkpointing": args.checkpointing,
                "step_s": t.elapsed().as_secs_f64(), "generate_s": r.generate_s,
                "forward_backward_s": r.forward_backward_s, "mean_length": r.mean_length,
                "peak_rss_mb": trainer::model::peak_rss_mb(),
            });
            if let (Some(m), Some(pl)) = (rec.as_object_mut(), planned.as_object()) {
                m.extend(pl.clone());
                if let Some(p) = poller.as_ref() {
                    let (base, peak) = p.read();
                    m.insert("gpu_base_gib".into(), base.into());
                    m.insert("gpu_peak_gib".into(), peak.into());
                }
            }
            record(rec);
        }
    }
    Ok(())
}

/// Peak device memory in use, polled from a second thread (CUDA builds; `None` elsewhere).
mod gpu_mem {
    use anyhow::Result;
    use candle_core::Device;

    #[cfg(feature = "cuda")]
    pub struct Poller {
        base: f64,
        peak: std::sync::Arc<std::sync::atomic::AtomicU64>,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }

    #[cfg(feature = "cuda")]
    impl Poller {
        /// Starts polling `dev`'s used memory (total − free) every 2 ms; `None` on a CPU device.
        pub fn start(dev: &Device) -> Result<Option<Poller>> {
            use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
            use std::sync::Arc;
            let Device::Cuda(cuda) = dev else {
                return Ok(None);
            };
            let ctx = cuda.cuda_stream().context().clone();
            let used = move || -> Result<u64> {
                let (free, total) = ctx.mem_get_info()?;
                Ok((total - free) as u64)
            };
            let base = used()?;
            let peak = Arc::new(AtomicU64::new(base));
            let stop = Arc::new(AtomicBool::new(false));
            let (p, s) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    if let Ok(u) = used() {
                        p.fetch_max(u, Ordering::Relaxed);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            });
            Ok(Some(Poller {
                base: base as f64,
                peak,
                stop,
            }))
        }

        /// `(used before the model was loaded, peak so far)` in GiB.
        pub fn read(&self) -> (f64, f64) {
            let gib = (1u64 << 30) as f64;
            let peak = self.peak.load(std::sync::atomic::Ordering::Relaxed) as f64;
            (self.base / gib, peak / gib)
        }
    }

    #[cfg(feature = "cuda")]
    impl Drop for Poller {
        fn drop(&mut self) {
            self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[cfg(not(feature = "cuda"))]
    pub struct Poller;

    #[cfg(not(feature = "cuda"))]
    impl Poller {
        pub fn start(_dev: &Device) -> Result<Option<Poller>> {
            Ok(None)
        }

        pub fn read(&self) -> (f64, f64) {
            (0.0, 0.0)
        }
    }
}
