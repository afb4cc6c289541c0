//! The real SmolLM2-135M-Instruct (Q4_1 GGUF, llama architecture) through `ModelSource`:
//! config from the GGUF metadata, Q/K un-permutation, and a greedy answer that names Paris.
//! Skipped with `TRAINER_SKIP_REAL_ASSETS=1`.

use candle_core::{DType, Device, Tensor};
use serde_json::json;
use trainer::chat::{RenderOptions, Tokenizer};
use trainer::model::load::{ModelSource, TokenizerFiles};
use trainer::model::{AdapterUse, Arch, Batch, Mode, Model};

fn smollm2() -> Option<ModelSource> {
    if trainer::assets::skip_real_assets() {
        println!("skipped: TRAINER_SKIP_REAL_ASSETS=1");
        return None;
    }
    let assets = trainer::assets::ensure_assets().unwrap_or_else(|e| panic!("{e}"));
    Some(ModelSource::resolve(assets.smollm2_gguf.to_str().unwrap()).unwrap())
}

fn argmax_last(model: &Model, hidden: &Tensor) -> u32 {
    let t = hidden.dim(1).unwrap();
    let last = hidden.narrow(1, t - 1, 1).unwrap();
    model
        .logits(&last)
        .unwrap()
        .flatten_all()
        .unwrap()
        .argmax(0)
        .unwrap()
        .to_scalar::<u32>()
        .unwrap()
}

/// Greedy decoding with the KV cache: prefill once, then one token per step.
fn greedy(model: &Model, prompt: &[u32], stop: &[u32], max_new: usize) -> Vec<u32> {
    let dev = Device::Cpu;
    let mut cache = model.new_cache();
    let ids = Tensor::from_slice(prompt, (1, prompt.len()), &dev).unwrap();
    let batch = Batch::dense(model, 1, prompt.len(), AdapterUse::Off).unwrap();
    let h = model
        .forward(&ids, &batch, Some(&mut cache), Mode::Infer)
        .unwrap();
    let mut next = argmax_last(model, &h);
    let mut out = Vec::new();
    while out.len() < max_new && !stop.contains(&next) {
        out.push(next);
        let s = cache.seq_len() + 1;
        let batch = Batch::new(
            model,
            &[vec![true; s]],
            &[vec![(s - 1) as u32]],
            AdapterUse::Off,
        )
        .unwrap();
        let ids = Tensor::from_slice(&[next], (1, 1), &dev).unwrap();
        let h = model
            .forward(&ids, &batch, Some(&mut cache), Mode::Infer)
            .unwrap();
        next = argmax_last(model, &h);
    }
    out
}

#[test]
fn smollm2_gguf_config_and_greedy_answer() {
    let Some(src) = smollm2() else { return };
    let c = &src.config;
    assert_eq!(c.arch, Arch::Llama);
    assert_eq!(c.num_hidden_layers, 30);
    assert_eq!(c.hidden_size, 576);
    assert_eq!(c.num_attention_heads, 9);
    assert_eq!(c.num_key_value_heads, 3);
    assert_eq!(c.head_dim, 64);
    assert_eq!(c.rope_theta, 100_000.0);
    assert_eq!(c.rms_norm_eps, 1e-5);
    assert!(c.tie_word_embeddings);
    assert!(!c.attention_bias);
    assert_eq!(c.vocab_size, 49_152);
    assert!(!src.weights.contains("lm_head.weight"));

    let tok = match &src.tokenizer {
        TokenizerFiles::Gguf { content, .. } => Tokenizer::from_gguf(content).unwrap(),
        other => panic!("expected GGUF tokenizer metadata, got {other:?}"),
    };
    let prompt = tok
        .apply_chat_template(
            &[json!({"role": "user", "content": "What is the capital of France?"})],
            &RenderOptions::new(true),
        )
        .unwrap();
    assert!(
        prompt.contains("<|im_start|>user\nWhat is the capital of France?<|im_end|>"),
        "{prompt}"
    );
    let ids = tok.encode(&prompt, false).unwrap();
    let model = src.load_model(DType::F32, &Device::Cpu).unwrap();
    let out = greedy(&model, &ids, tok.stop_ids(), 24);
    let text = tok.decode(&out, true).unwrap();
    println!("answer: {text:?}");
    assert!(text.contains("Paris"), "{text:?}");
}
