//! GGUF loader on tiny models written the way llama.cpp's converter writes them: llama.cpp tensor
//! names, Q/K rows permuted for `llama` (weights and biases) and not for `qwen2` / `qwen3`,
//! hyper-parameters in `<arch>.*` metadata. The naming and the permutation are re-implemented here
//! from llama.cpp's converter (`LlamaModel.permute`), independently of the loader.

mod common;

use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use common::*;
use trainer::model::load::{GgufSource, ModelSource, TokenizerFiles};
use trainer::model::{AdapterUse, Arch, Batch, Mode, Model, ModelConfig, TensorMap, TensorSource};

/// llama.cpp's converter: `w.reshape(n_head, 2, rows / n_head / 2, *rest).swapaxes(1, 2)`.
fn llama_cpp_permute(t: &Tensor, n_head: usize) -> Tensor {
    let dims = t.dims().to_vec();
    let rest: usize = dims[1..].iter().product();
    t.reshape((n_head, 2, dims[0] / n_head / 2, rest))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape(dims)
        .unwrap()
}

fn gguf_name(hf: &str) -> String {
    let fixed = [
        ("model.embed_tokens.weight", "token_embd.weight"),
        ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ];
    if let Some((_, g)) = fixed.iter().find(|(h, _)| *h == hf) {
        return g.to_string();
    }
    let rest = hf.strip_prefix("model.layers.").unwrap();
    let (layer, suffix) = rest.split_once('.').unwrap();
    let g = match suffix {
        "input_layernorm.weight" => "attn_norm.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.q_proj.bias" => "attn_q.bias",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.k_proj.bias" => "attn_k.bias",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.v_proj.bias" => "attn_v.bias",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "self_attn.q_norm.weight" => "attn_q_norm.weight",
        "self_attn.k_norm.weight" => "attn_k_norm.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        other => panic!("unmapped {other}"),
    };
    format!("blk.{layer}.{g}")
}

/// Writes `w` as a GGUF file; 2-D tensors in `matrix_type`, 1-D in f32 (as llama.cpp does).
fn write_gguf(path: &Path, cfg: &ModelConfig, w: &TensorMap, matrix_type: GgmlDType) {
    let arch = cfg.arch.model_type();
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    for (name, t) in &w.0 {
        let mut t = t.clone();
        if cfg.arch == Arch::Llama {
            if name.contains("self_attn.q_proj.") {
                t = llama_cpp_permute(&t, cfg.num_attention_heads);
            } else if name.contains("self_attn.k_proj.") {
                t = llama_cpp_permute(&t, cfg.num_key_value_heads);
            }
        }
        let ty = if t.rank() == 2 {
            matrix_type
        } else {
            GgmlDType::F32
        };
        tensors.push((gguf_name(name), QTensor::quantize(&t, ty).unwrap()));
    }
    let k = |s: &str| format!("{arch}.{s}");
    let mut meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        (k("embedding_length"), Value::U32(cfg.hidden_size as u32)),
        (k("block_count"), Value::U32(cfg.num_hidden_layers as u32)),
        (
            k("feed_forward_length"),
            Value::U32(cfg.intermediate_size as u32),
        ),
        (
            k("attention.head_count"),
            Value::U32(cfg.num_attention_heads as u32),
        ),
        (
            k("attention.head_count_kv"),
            Value::U32(cfg.num_key_value_heads as u32),
        ),
        (k("rope.freq_base"), Value::F32(cfg.rope_theta as f32)),
        (
            k("attention.layer_norm_rms_epsilon"),
            Value::F32(cfg.rms_norm_eps as f32),
        ),
        (
            k("context_length"),
            Value::U32(cfg.max_position_embeddings as u32),
        ),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
    ];
    if cfg.arch == Arch::Qwen3 {
        meta.push((k("attention.key_length"), Value::U32(cfg.head_dim as u32)));
        meta.push((k("attention.value_length"), Value::U32(cfg.head_dim as u32)));
    } else {
        meta.push((k("rope.dimension_count"), Value::U32(cfg.head_dim as u32)));
    }
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut f, &meta_refs, &tensor_refs).unwrap();
}

fn logits(model: &Model, rows: &[Vec<u32>]) -> Tensor {
    let batch = Batch::dense(model, rows.len(), rows[0].len(), AdapterUse::Off).unwrap();
    let h = model
        .forward(&ids_tensor(rows), &batch, None, Mode::Infer)
        .unwrap();
    model.logits(&h).unwrap()
}

fn check_arch(cfg: ModelConfig) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("tiny.gguf");
    let w = tiny_weights(&cfg, 21);
    write_gguf(&path, &cfg, &w, GgmlDType::F32);
    let src = GgufSource::open(&path).unwrap();
    let mut want_cfg = cfg.clone();
    want_cfg.eos_token_ids = vec![2];
    assert_eq!(src.config(), &want_cfg, "{:?}", cfg.arch);
    assert_eq!(src.names(), w.names());
    for name in w.names() {
        let got = src.get(&name, DType::F32, &Device::Cpu).unwrap();
        assert_eq!(
            max_abs_diff(&got, &w.0[&name]),
            0.0,
            "{:?} {name}",
            cfg.arch
        );
    }
    let reference = Model::load(&cfg, &w, DType::F32, &Device::Cpu).unwrap();
    let ms = ModelSource::resolve(path.to_str().unwrap()).unwrap();
    assert!(matches!(ms.tokenizer, TokenizerFiles::Gguf { .. }));
    let model = ms.load_model(DType::F32, &Device::Cpu).unwrap();
    let rows = ids(2, 8, cfg.vocab_size, 9);
    assert_eq!(
        max_abs_diff(&logits(&model, &rows), &logits(&reference, &rows)),
        0.0
    );
}

#[test]
fn llama_qk_rows_are_unpermuted() {
    check_arch(tiny_config(Arch::Llama));
}

#[test]
fn llama_with_attention_bias_unpermutes_biases() {
    let mut cfg = tiny_config(Arch::Llama);
    cfg.attention_bias = true;
    check_arch(cfg);
}

#[test]
fn qwen2_is_not_permuted() {
    check_arch(tiny_config(Arch::Qwen2));
}

#[test]
fn qwen3_untied_with_qk_norms() {
    let cfg = tiny_config(Arch::Qwen3);
    assert!(!cfg.tie_word_embeddings);
    check_arch(cfg);
}

#[test]
fn quantized_q8_0_dequantizes_like_the_original_weights() {
    // Q8_0 blocks run along rows, so permuting rows commutes with quantization: the loaded
    // q_proj must equal dequantize(quantize(W_hf)) exactly.
    let mut cfg = tiny_config(Arch::Llama);
    cfg.intermediate_size = 64;
    let w = tiny_weights(&cfg, 22);
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("q8.gguf");
    write_gguf(&path, &cfg, &w, GgmlDType::Q8_0);
    let src = GgufSource::open(&path).unwrap();
    for name in [
        "model.layers.1.self_attn.q_proj.weight",
        "model.layers.0.self_attn.k_proj.weight",
        "model.layers.0.mlp.down_proj.weight",
    ] {
        let want = QTensor::quantize(&w.0[name], GgmlDType::Q8_0)
            .unwrap()
            .dequantize(&Device::Cpu)
            .unwrap();
        let got = src.get(name, DType::F32, &Device::Cpu).unwrap();
        assert_eq!(max_abs_diff(&got, &want), 0.0, "{name}");
    }
    // And the quantized model stays close to the f32 one.
    let reference = Model::load(&cfg, &w, DType::F32, &Device::Cpu).unwrap();
    let model = Model::load(&cfg, &src, DType::F32, &Device::Cpu).unwrap();
    let rows = ids(1, 6, cfg.vocab_size, 4);
    let d = max_abs_diff(&logits(&model, &rows), &logits(&reference, &rows));
    assert!(d > 0.0 && d < 0.5, "max |Δlogit| {d}");
}

#[test]
fn unsupported_architecture_and_tensor_are_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.gguf");
    let t = QTensor::quantize(
        &Tensor::zeros((4, 4), DType::F32, &Device::Cpu).unwrap(),
        GgmlDType::F32,
    )
    .unwrap();
    let arch = Value::String("gpt2".into());
    let mut f = std::fs::File::create(&path).unwrap();
    gguf_file::write(
        &mut f,
        &[("general.architecture", &arch)],
        &[("token_embd.weight", &t)],
    )
    .unwrap();
    let e = GgufSource::open(&path).unwrap_err().to_string();
    assert!(e.contains("gpt2") && e.contains("bad.gguf"), "{e}");

    // A tensor the decoder has no use for (e.g. an output bias) is an error, not silently dropped.
    let cfg = tiny_config(Arch::Qwen2);
    let w = tiny_weights(&cfg, 23);
    let path = tmp.path().join("extra.gguf");
    write_gguf(&path, &cfg, &w, GgmlDType::F32);
    assert!(GgufSource::open(&path).is_ok());
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    let mut meta = Vec::new();
    {
        let content = {
            let mut r = std::fs::File::open(&path).unwrap();
            gguf_file::Content::read(&mut r).unwrap()
        };
        let mut r = std::fs::File::open(&path).unwrap();
        for name in content.tensor_infos.keys() {
            tensors.push((
                name.clone(),
                content.tensor(&mut r, name, &Device::Cpu).unwrap(),
            ));
        }
        tensors.push(("blk.0.attn_output.bias".into(), t));
        for (k, v) in content.metadata {
            meta.push((k, v));
        }
    }
    let bad = tmp.path().join("extra2.gguf");
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(&bad).unwrap();
    gguf_file::write(&mut f, &meta_refs, &tensor_refs).unwrap();
    let e = GgufSource::open(&bad).unwrap_err().to_string();
    assert!(e.contains("blk.0.attn_output.bias"), "{e}");
}

/// A damaged header whose dimensions multiply past the address space is a typed error naming
/// the tensor (candle multiplies them unchecked), never an overflow panic.
#[test]
fn overflowing_tensor_dimensions_are_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(Arch::Qwen2);
    let w = tiny_weights(&cfg, 5);
    let path = tmp.path().join("dims.gguf");
    write_gguf(&path, &cfg, &w, GgmlDType::F32);
    let mut bytes = std::fs::read(&path).unwrap();
    // Tensor info: u64 name length, name, u32 n_dims, u64 dims...
    let name = b"token_embd.weight";
    let at = bytes
        .windows(name.len() + 4)
        .position(|win| &win[..name.len()] == name && win[name.len()..] == 2u32.to_le_bytes())
        .expect("token_embd.weight tensor info")
        + name.len()
        + 4;
    bytes[at..at + 8].copy_from_slice(&(1u64 << 62).to_le_bytes());
    bytes[at + 8..at + 16].copy_from_slice(&64u64.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = match GgufSource::open(&path) {
        Err(e) => e.to_string(),
        Ok(src) => src
            .get("model.embed_tokens.weight", DType::F32, &Device::Cpu)
            .expect_err("overflowing dimensions must not load")
            .to_string(),
    };
    assert!(
        err.contains("token_embd.weight") && err.contains("dims.gguf"),
        "{err}"
    );
}
