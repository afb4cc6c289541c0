//! Merged / base HF directory export: sharding with an index, reload through the HF-directory
//! loader with identical logits, tokenizer files, and overwrite protection.

mod common;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use common::*;
use serde_json::{json, Value};
use trainer::chat::Tokenizer;
use trainer::checkpoint::{export_hf, HfExportOptions};
use trainer::model::load::{ModelSource, SafetensorsDir};
use trainer::model::{
    AdapterUse, Arch, Batch, LoraConfig, Mode, Model, ModelConfig, TensorMap, TensorSource,
};

fn adapted(cfg: &ModelConfig, w: &TensorMap) -> Model {
    let mut m = Model::load(cfg, w, DType::F32, &Device::Cpu).unwrap();
    m.attach_lora(&LoraConfig {
        r: 4,
        alpha: 8.0,
        ..LoraConfig::default()
    })
    .unwrap();
    for (i, (_, lin)) in m.linears_mut().enumerate() {
        if let Some(p) = lin.lora().cloned() {
            let (out, r) = p.b.as_tensor().dims2().unwrap();
            let v: Vec<f32> = (0..out * r)
                .map(|j| (((j * 7 + i * 13) % 23) as f32 - 11.0) / 40.0)
                .collect();
            let b = Tensor::from_vec(v, (out, r), &Device::Cpu).unwrap();
            lin.set_adapter(p.a.as_tensor().clone(), b, p.scale)
                .unwrap();
        }
    }
    m
}

fn logits(model: &Model, adapter: AdapterUse) -> Tensor {
    let rows = ids(2, 7, model.config().vocab_size, 23);
    let batch = Batch::dense(model, 2, 7, adapter).unwrap();
    let h = model
        .forward(&ids_tensor(&rows), &batch, None, Mode::Infer)
        .unwrap();
    model.logits(&h).unwrap()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn merged_export_in_several_shards_reloads_with_identical_logits() {
    let cfg = tiny_config(Arch::Qwen3);
    let w = tiny_weights(&cfg, 51);
    let model = adapted(&cfg, &w);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("merged");
    let opts = HfExportOptions {
        max_shard_bytes: 16 * 1024,
        ..HfExportOptions::default()
    };
    let summary = export_hf(&model, &out, &opts).unwrap();
    let n = summary.weight_files.len();
    assert!(n >= 3, "expected several shards, got {n}");
    for (i, f) in summary.weight_files.iter().enumerate() {
        let name = format!("model-{:05}-of-{:05}.safetensors", i + 1, n);
        assert!(f.ends_with(&name), "{f:?}");
        let bytes = std::fs::read(f).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let sizes: Vec<usize> = st.tensors().iter().map(|(_, v)| v.data().len()).collect();
        // Within the limit, or a single tensor larger than the limit on its own.
        assert!(
            sizes.iter().sum::<usize>() <= 16 * 1024 || sizes.len() == 1,
            "{f:?}: {sizes:?}"
        );
    }
    let index = read_json(&out.join("model.safetensors.index.json"));
    assert_eq!(index["metadata"]["total_size"], json!(summary.total_size));
    let expected_total: usize = model
        .named_weights()
        .iter()
        .map(|(_, t)| t.elem_count() * 4)
        .sum();
    assert_eq!(summary.total_size, expected_total as u64);
    let map = index["weight_map"].as_object().unwrap();
    assert_eq!(map.len(), model.named_weights().len());
    let config = read_json(&out.join("config.json"));
    assert_eq!(config["torch_dtype"], "float32");
    assert_eq!(config["model_type"], "qwen3");
    assert_eq!(
        read_json(&out.join("generation_config.json"))["eos_token_id"],
        2
    );
    // No temporary leftovers next to the output.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);

    let src = ModelSource::resolve(out.to_str().unwrap()).unwrap();
    assert_eq!(src.config, cfg);
    let reloaded = src.load_model(DType::F32, &Device::Cpu).unwrap();
    let mut merged = model.clone();
    merged.merge_lora().unwrap();
    let got = logits(&reloaded, AdapterUse::Off);
    assert_eq!(max_abs_diff(&got, &logits(&merged, AdapterUse::On)), 0.0);
    let d = max_abs_diff(&got, &logits(&model, AdapterUse::On));
    assert!(d < 1e-5, "merged vs adapter forward: {d}");
    assert!(max_abs_diff(&got, &logits(&model, AdapterUse::Off)) > 1e-3);
}

#[test]
fn base_export_is_bit_exact_even_from_a_merged_model_and_bf16_rounds() {
    let cfg = tiny_config(Arch::Qwen2);
    let w = tiny_weights(&cfg, 52);
    let mut model = adapted(&cfg, &w);
    model.merge_lora().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("base");
    let opts = HfExportOptions {
        merge_adapter: false,
        ..HfExportOptions::default()
    };
    let s = export_hf(&model, &out, &opts).unwrap();
    assert_eq!(s.weight_files, vec![out.join("model.safetensors")]);
    assert!(!out.join("model.safetensors.index.json").exists());
    let src = SafetensorsDir::open(&out).unwrap();
    assert_eq!(src.names(), w.names());
    for name in w.names() {
        let t = src.get(&name, DType::F32, &Device::Cpu).unwrap();
        // Unmerging subtracts what merging added: equal up to f32 rounding of W + ΔW − ΔW.
        assert!(max_abs_diff(&t, &w.0[&name]) < 1e-6, "{name}");
    }

    let unmerged = adapted(&cfg, &w);
    let out16 = tmp.path().join("bf16");
    let opts = HfExportOptions {
        dtype: Some(DType::BF16),
        merge_adapter: false,
        ..HfExportOptions::default()
    };
    export_hf(&unmerged, &out16, &opts).unwrap();
    assert_eq!(
        read_json(&out16.join("config.json"))["torch_dtype"],
        "bfloat16"
    );
    let src = SafetensorsDir::open(&out16).unwrap();
    for name in w.names() {
        assert_eq!(src.tensor_info(&name).unwrap().0, DType::BF16);
        let t = src.get(&name, DType::F32, &Device::Cpu).unwrap();
        let want = w.0[&name].to_dtype(DType::BF16).unwrap();
        assert_eq!(max_abs_diff(&t, &want), 0.0, "{name}");
    }
    // Existing output: refused, then replaced with overwrite.
    assert!(export_hf(&unmerged, &out16, &opts).is_err());
    let opts = HfExportOptions {
        overwrite: true,
        ..opts
    };
    export_hf(&unmerged, &out16, &opts).unwrap();
}

const TOKENIZER_JSON: &str = r#"{
  "version": "1.0", "truncation": null, "padding": null,
  "added_tokens": [
    {"id": 0, "content": "<|im_start|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
    {"id": 1, "content": "<|im_end|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
  ],
  "normalizer": null,
  "pre_tokenizer": {"type": "Whitespace"},
  "post_processor": null,
  "decoder": null,
  "model": {"type": "WordLevel", "vocab": {"<|im_start|>": 0, "<|im_end|>": 1, "hello": 2, "world": 3, "user": 4, "[UNK]": 5}, "unk_token": "[UNK]"}
}"#;

const TEMPLATE: &str =
    "{% for m in messages %}<|im_start|>{{ m['role'] }} {{ m['content'] }}<|im_end|>{% endfor %}";

#[test]
fn tokenizer_files_are_written_and_reload() {
    let tmp = tempfile::tempdir().unwrap();
    let tdir = tmp.path().join("tok");
    std::fs::create_dir_all(&tdir).unwrap();
    std::fs::write(tdir.join("tokenizer.json"), TOKENIZER_JSON).unwrap();
    std::fs::write(
        tdir.join("tokenizer_config.json"),
        json!({"chat_template": TEMPLATE, "eos_token": "<|im_end|>", "pad_token": "<|im_end|>"})
            .to_string(),
    )
    .unwrap();
    let tok = Tokenizer::from_dir(&tdir).unwrap();

    let cfg = tiny_config(Arch::Llama);
    let w = tiny_weights(&cfg, 53);
    let model = Model::load(&cfg, &w, DType::F32, &Device::Cpu).unwrap();
    let out = tmp.path().join("with-tok");
    let opts = HfExportOptions {
        tokenizer: Some(&tok),
        ..HfExportOptions::default()
    };
    export_hf(&model, &out, &opts).unwrap();
    let tc = read_json(&out.join("tokenizer_config.json"));
    assert_eq!(tc["chat_template"], TEMPLATE);
    assert_eq!(tc["eos_token"], "<|im_end|>");
    assert_eq!(tc["added_tokens_decoder"]["1"]["content"], "<|im_end|>");
    assert_eq!(tc["added_tokens_decoder"]["1"]["special"], true);

    let src = ModelSource::resolve(out.to_str().unwrap()).unwrap();
    let dir = match &src.tokenizer {
        trainer::model::load::TokenizerFiles::Dir(d) => d.clone(),
        other => panic!("{other:?}"),
    };
    let back = Tokenizer::from_dir(dir).unwrap();
    let text = "<|im_start|>user hello world<|im_end|>";
    assert_eq!(
        back.encode(text, false).unwrap(),
        tok.encode(text, false).unwrap()
    );
    assert_eq!(back.encode(text, false).unwrap(), vec![0, 4, 2, 3, 1]);
    assert_eq!(back.chat_template_source(None), Some(TEMPLATE));
    assert_eq!(back.eos_id(), Some(1));
    assert_eq!(back.special_tokens(), tok.special_tokens());
}
