//! Generation throughput of the `trainer` engine (driven by `scripts/bench_generate.py`, which runs
//! HF transformers on the same weights in the same session).
//!
//! ```text
//! RAYON_NUM_THREADS=2 cargo run --release --example bench_generate -- \
//!     --prompts prompts.json [--gguf FILE] [--new-tokens 64] [--temperature 1.0] [--reps 3]
//!     [--greedy-check 8] [--shared] [--lora 8] [--threads 2]
//! ```
//! `prompts.json` is a JSON list of token-id lists (one per row). Prints one JSON line per timed
//! repetition (`{"impl": "trainer", "bench": "generate", ...}`, DESIGN.md §8); `--greedy-check N`
//! instead prints `{"greedy_tokens": [[...], ...]}` for a cross-check against transformers.
//!
//! The SmolLM2 GGUF is dequantized to f32 here with llama.cpp's Q/K row permutation undone
//! (DESIGN.md §5); transformers does the same when it loads the file with `gguf_file=`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{DType, Device, Tensor};
use clap::Parser;
use trainer::engine::{generate, GenConfig, GenRequest, SamplingParams};
use trainer::model::{Arch, LoraConfig, LoraTarget, Model, ModelConfig, RopeScaling, TensorMap};

#[derive(Parser, Debug)]
struct Args {
    /// JSON file: list of prompts, each a list of token ids.
    #[arg(long)]
    prompts: PathBuf,
    /// GGUF model file (default: the SmolLM2-135M-Instruct asset).
    #[arg(long)]
    gguf: Option<PathBuf>,
    #[arg(long, default_value_t = 64)]
    new_tokens: usize,
    #[arg(long, default_value_t = 1.0)]
    temperature: f64,
    /// Timed repetitions (after one short warm-up).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print greedy tokens for this many new tokens instead of timing.
    #[arg(long)]
    greedy_check: Option<usize>,
    /// Use only the first prompt, sampled once per row (shared-prefix prefill).
    #[arg(long)]
    shared: bool,
    /// Model name reported in the JSON lines.
    #[arg(long, default_value = "smollm2-135m")]
    model_name: String,
    /// CPU threads for candle (default: RAYON_NUM_THREADS, else candle's default).
    #[arg(long)]
    threads: Option<usize>,
    /// Attach a LoRA adapter of this rank to every linear layer and generate with it on (the
    /// GRPO policy's situation; a fresh adapter, so the tokens are the base model's).
    #[arg(long)]
    lora: Option<usize>,
}

fn meta<'a>(c: &'a Content, key: &str) -> Result<&'a Value> {
    c.metadata
        .get(key)
        .ok_or_else(|| anyhow!("GGUF metadata key `{key}` is missing"))
}

fn meta_usize(c: &Content, key: &str) -> Result<usize> {
    Ok(meta(c, key)?.to_u32().with_context(|| key.to_string())? as usize)
}

fn meta_f64(c: &Content, key: &str) -> Result<f64> {
    Ok(f64::from(
        meta(c, key)?.to_f32().with_context(|| key.to_string())?,
    ))
}

/// HF name of a llama.cpp tensor name.
fn hf_name(gguf: &str) -> Option<String> {
    let fixed = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, name) = rest.split_once('.')?;
    let module = match name {
        "attn_norm.weight" => "input_layernorm.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{module}"))
}

/// Undoes llama.cpp's interleaved-RoPE row permutation of a Q or K projection.
fn unpermute(w: &Tensor, heads: usize) -> Result<Tensor> {
    let (out, inp) = w.dims2()?;
    let hd = out / heads;
    Ok(w.reshape((heads, hd / 2, 2, inp))?
        .transpose(1, 2)?
        .reshape((out, inp))?)
}

/// Loads a llama-architecture GGUF (SmolLM2) as an f32 model.
fn load_gguf(path: &Path) -> Result<(ModelConfig, Model)> {
    let mut file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let content = Content::read(&mut file).with_context(|| path.display().to_string())?;
    let arch = meta(&content, "general.architecture")?.to_string()?.clone();
    if arch != "llama" {
        bail!(
            "{}: architecture `{arch}` is not supported by this bench",
            path.display()
        );
    }
    let heads = meta_usize(&content, "llama.attention.head_count")?;
    let kv_heads = meta_usize(&content, "llama.attention.head_count_kv")?;
    let hidden = meta_usize(&content, "llama.embedding_length")?;
    let device = Device::Cpu;
    let mut map = HashMap::new();
    let names: Vec<String> = content.tensor_infos.keys().cloned().collect();
    for name in names {
        let Some(hf) = hf_name(&name) else {
            continue;
        };
        let q = content.tensor(&mut file, &name, &device)?;
        let mut t = q.dequantize(&device)?.to_dtype(DType::F32)?;
        if name.ends_with("attn_q.weight") {
            t = unpermute(&t, heads)?;
        } else if name.ends_with("attn_k.weight") {
            t = unpermute(&t, kv_heads)?;
        }
        map.insert(hf, t);
    }
    let vocab = map
        .get("model.embed_tokens.weight")
        .ok_or_else(|| anyhow!("{}: no token_embd.weight", path.display()))?
        .dim(0)?;
    let eos = meta(&content, "tokenizer.ggml.eos_token_id")
        .and_then(|v| Ok(v.to_u32()?))
        .ok();
    let cfg = ModelConfig {
        arch: Arch::Llama,
        vocab_size: vocab,
        hidden_size: hidden,
        intermediate_size: meta_usize(&content, "llama.feed_forward_length")?,
        num_hidden_layers: meta_usize(&content, "llama.block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        head_dim: hidden / heads,
        rope_theta: meta_f64(&content, "llama.rope.freq_base")?,
        rope_scaling: RopeScaling::None,
        rms_norm_eps: meta_f64(&content, "llama.attention.layer_norm_rms_epsilon")?,
        tie_word_embeddings: !map.contains_key("lm_head.weight"),
        attention_bias: false,
        max_position_embeddings: meta_usize(&content, "llama.context_length")?,
        bos_token_id: None,
        eos_token_ids: eos.into_iter().collect(),
    };
    let model = Model::load(&cfg, &TensorMap(map), DType::F32, &device)?;
    Ok((cfg, model))
}

/// Peak resident set size of this process in MB (Linux `VmHWM`).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(n) = args.threads {
        trainer::engine::set_cpu_threads(n);
    }
    let gguf = args
        .gguf
        .clone()
        .unwrap_or_else(trainer::assets::smollm2_gguf_path);
    let text = std::fs::read_to_string(&args.prompts)
        .with_context(|| args.prompts.display().to_string())?;
    let mut prompts: Vec<Vec<u32>> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: expected a list of token-id lists",
            args.prompts.display()
        )
    })?;
    if prompts.is_empty() {
        bail!("{}: no prompts", args.prompts.display());
    }
    if args.shared {
        let first = prompts[0].clone();
        prompts.iter_mut().for_each(|p| *p = first.clone());
    }
    let t0 = Instant::now();
    let (_cfg, mut model) = load_gguf(&gguf)?;
    if let Some(r) = args.lora {
        model.attach_lora(&LoraConfig {
            r,
            alpha: 2.0 * r as f64,
            targets: LoraTarget::ALL.to_vec(),
            use_rslora: false,
            seed: 0,
            layers: None,
        })?;
    }
    let load_s = t0.elapsed().as_secs_f64();
    let requests: Vec<GenRequest> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| GenRequest::new(p.clone(), args.seed + i as u64))
        .collect();

    if let Some(n) = args.greedy_check {
        let cfg = GenConfig {
            sampling: SamplingParams::greedy(),
            max_new_tokens: n,
            ..GenConfig::default()
        };
        let outs = generate(&model, &requests, &cfg)?;
        let toks: Vec<&Vec<u32>> = outs.iter().map(|o| &o.tokens).collect();
        println!("{}", serde_json::json!({ "greedy_tokens": toks }));
        return Ok(());
    }

    // No stop ids: every row makes exactly `new_tokens` tokens.
    let cfg = GenConfig {
        sampling: SamplingParams {
            temperature: args.temperature,
            top_k: 0,
            top_p: 1.0,
        },
        max_new_tokens: args.new_tokens,
        ..GenConfig::default()
    };
    let warm = GenConfig {
        max_new_tokens: 4.min(args.new_tokens),
        ..cfg.clone()
    };
    generate(&model, &requests, &warm)?;
    let threads = trainer::engine::cpu_threads();
    for rep in 0..args.reps {
        let t = Instant::now();
        let outs = generate(&model, &requests, &cfg)?;
        let secs = t.elapsed().as_secs_f64();
        let n: usize = outs.iter().map(|o| o.tokens.len()).sum();
        let line = serde_json::json!({
            "impl": "trainer",
            "bench": "generate",
            "model": args.model_name,
            "threads": threads,
            "batch": requests.len(),
            "prompt_len": prompts[0].len(),
            "new_tokens": args.new_tokens,
            "tokens_per_s": (n as f64 / secs * 10.0).round() / 10.0,
            "peak_rss_mb": peak_rss_mb().map(|x| x.round()),
            "generated": n,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "rep": rep,
            "load_s": (load_s * 100.0).round() / 100.0,
            "shared_prefix": args.shared,
            "lora_r": args.lora,
        });
        println!("{line}");
    }
    Ok(())
}
