//! Forward parity of our decoder against candle-transformers' Qwen2 / Qwen3 on tiny random models,
//! and KV-cache / padding consistency.

mod common;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Activation, VarBuilder};
use common::*;
use trainer::model::{AdapterUse, Arch, Batch, Mode, ModelConfig};

fn reference_logits(cfg: &ModelConfig, w: &trainer::model::TensorMap, ids: &Tensor) -> Tensor {
    let vb = VarBuilder::from_tensors(w.0.clone(), DType::F32, &Device::Cpu);
    let hidden = match cfg.arch {
        Arch::Qwen2 => {
            let c = candle_transformers::models::qwen2::Config {
                vocab_size: cfg.vocab_size,
                hidden_size: cfg.hidden_size,
                intermediate_size: cfg.intermediate_size,
                num_hidden_layers: cfg.num_hidden_layers,
                num_attention_heads: cfg.num_attention_heads,
                num_key_value_heads: cfg.num_key_value_heads,
                max_position_embeddings: cfg.max_position_embeddings,
                sliding_window: 4096,
                max_window_layers: cfg.num_hidden_layers,
                tie_word_embeddings: cfg.tie_word_embeddings,
                rope_theta: cfg.rope_theta,
                rms_norm_eps: cfg.rms_norm_eps,
                use_sliding_window: false,
                hidden_act: Activation::Silu,
            };
            let mut m = candle_transformers::models::qwen2::Model::new(&c, vb).unwrap();
            m.forward(ids, 0, None).unwrap()
        }
        Arch::Qwen3 => {
            let c = candle_transformers::models::qwen3::Config {
                vocab_size: cfg.vocab_size,
                hidden_size: cfg.hidden_size,
                intermediate_size: cfg.intermediate_size,
                num_hidden_layers: cfg.num_hidden_layers,
                num_attention_heads: cfg.num_attention_heads,
                head_dim: cfg.head_dim,
                attention_bias: false,
                num_key_value_heads: cfg.num_key_value_heads,
                max_position_embeddings: cfg.max_position_embeddings,
                sliding_window: None,
                max_window_layers: cfg.num_hidden_layers,
                tie_word_embeddings: cfg.tie_word_embeddings,
                rope_theta: cfg.rope_theta,
                rms_norm_eps: cfg.rms_norm_eps,
                use_sliding_window: false,
                hidden_act: Activation::Silu,
            };
            let mut m = candle_transformers::models::qwen3::Model::new(&c, vb).unwrap();
            m.forward(ids, 0).unwrap()
        }
        Arch::Llama => unreachable!(),
    };
    let head = if cfg.tie_word_embeddings {
        &w.0["model.embed_tokens.weight"]
    } else {
        &w.0["lm_head.weight"]
    };
    hidden.broadcast_matmul(&head.t().unwrap()).unwrap()
}

fn check_parity(arch: Arch) {
    let (cfg, w, model) = tiny_model(arch, DType::F32);
    let rows = ids(1, 11, cfg.vocab_size, 3);
    let x = ids_tensor(&rows);
    let want = reference_logits(&cfg, &w, &x);
    for mode in [Mode::Infer, Mode::Train] {
        let batch = Batch::dense(&model, 1, 11, AdapterUse::On).unwrap();
        let hidden = model.forward(&x, &batch, None, mode).unwrap();
        let got = model.logits(&hidden).unwrap();
        assert_eq!(got.dims(), want.dims());
        let d = max_abs_diff(&got, &want);
        assert!(d < 1e-4, "{arch:?} {mode:?}: max |Δlogit| = {d}");
    }
}

#[test]
fn qwen2_logits_match_candle_transformers() {
    check_parity(Arch::Qwen2);
}

#[test]
fn qwen3_logits_match_candle_transformers() {
    check_parity(Arch::Qwen3);
}

/// Prefill + one-token decode steps with the cache equal the full forward, for every arch.
#[test]
fn kv_cache_decoding_matches_full_forward() {
    for arch in [Arch::Qwen2, Arch::Qwen3, Arch::Llama] {
        let (cfg, _, model) = tiny_model(arch, DType::F32);
        let rows = ids(2, 9, cfg.vocab_size, 11);
        let full_batch = Batch::dense(&model, 2, 9, AdapterUse::On).unwrap();
        let full = model
            .forward(&ids_tensor(&rows), &full_batch, None, Mode::Infer)
            .unwrap();

        let mut cache = model.new_cache();
        let prefix: Vec<Vec<u32>> = rows.iter().map(|r| r[..5].to_vec()).collect();
        let pb = Batch::dense(&model, 2, 5, AdapterUse::On).unwrap();
        let mut outs = vec![model
            .forward(&ids_tensor(&prefix), &pb, Some(&mut cache), Mode::Infer)
            .unwrap()];
        for pos in 5..9 {
            let step: Vec<Vec<u32>> = rows.iter().map(|r| vec![r[pos]]).collect();
            let b = Batch::new(
                &model,
                &vec![vec![true; pos + 1]; 2],
                &vec![vec![pos as u32]; 2],
                AdapterUse::On,
            )
            .unwrap();
            outs.push(
                model
                    .forward(&ids_tensor(&step), &b, Some(&mut cache), Mode::Infer)
                    .unwrap(),
            );
        }
        let inc = Tensor::cat(&outs, 1).unwrap();
        let d = max_abs_diff(&inc, &full);
        assert!(d < 1e-5, "{arch:?}: cached vs full max diff {d}");
        assert_eq!(cache.seq_len(), 9);
    }
}

/// A left-padded row gives the same hidden states for its real tokens as the row alone.
#[test]
fn left_padding_is_invisible() {
    let (cfg, _, model) = tiny_model(Arch::Qwen2, DType::F32);
    let long = ids(1, 8, cfg.vocab_size, 5).remove(0);
    let short = ids(1, 5, cfg.vocab_size, 6).remove(0);
    let mut padded = vec![0u32; 3];
    padded.extend(&short);
    let mask = vec![vec![true; 8], [vec![false; 3], vec![true; 5]].concat()];
    for mode in [Mode::Infer, Mode::Train] {
        let b = Batch::padded(&model, &mask, AdapterUse::On).unwrap();
        let both = model
            .forward(&ids_tensor(&[long.clone(), padded.clone()]), &b, None, mode)
            .unwrap();
        let alone_b = Batch::dense(&model, 1, 5, AdapterUse::On).unwrap();
        let alone = model
            .forward(
                &ids_tensor(std::slice::from_ref(&short)),
                &alone_b,
                None,
                mode,
            )
            .unwrap();
        let got = both.narrow(0, 1, 1).unwrap().narrow(1, 3, 5).unwrap();
        let d = max_abs_diff(&got, &alone);
        assert!(d < 1e-5, "{mode:?}: padded row differs by {d}");
        assert!(!both
            .to_dtype(DType::F64)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
            .is_nan());
    }
}

#[test]
fn train_and_infer_modes_agree() {
    for arch in [Arch::Qwen2, Arch::Qwen3, Arch::Llama] {
        let (cfg, _, model) = tiny_model(arch, DType::F32);
        let x = ids_tensor(&ids(3, 7, cfg.vocab_size, 2));
        let b = Batch::dense(&model, 3, 7, AdapterUse::On).unwrap();
        let a = model.forward(&x, &b, None, Mode::Train).unwrap();
        let c = model.forward(&x, &b, None, Mode::Infer).unwrap();
        assert!(max_abs_diff(&a, &c) < 1e-5, "{arch:?}");
    }
}

/// f64 models (used by gradient checks) run in inference mode too: the fused kernels have no
/// f64 version, so inference falls back to the composed ops.
#[test]
fn f64_inference_works_and_matches_f32() {
    let (cfg, _, m64) = tiny_model(Arch::Qwen3, DType::F64);
    let (_, _, m32) = tiny_model(Arch::Qwen3, DType::F32);
    let x = ids_tensor(&ids(1, 6, cfg.vocab_size, 4));
    let b64 = Batch::dense(&m64, 1, 6, AdapterUse::Off).unwrap();
    let b32 = Batch::dense(&m32, 1, 6, AdapterUse::Off).unwrap();
    let h64 = m64.forward(&x, &b64, None, Mode::Infer).unwrap();
    let h32 = m32.forward(&x, &b32, None, Mode::Infer).unwrap();
    assert!(max_abs_diff(&h64, &h32) < 1e-4);
}
