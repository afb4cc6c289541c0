//! Hugging Face directory loader: single file and shards (with and without an index), on-disk
//! bf16/f16/f32, both config.json forms, and errors that name the file.
//! Fixtures are written with the `safetensors` crate directly (not with trainer's exporter).

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use common::*;
use serde_json::json;
use trainer::model::load::{Error as LoadError, ModelSource, SafetensorsDir};
use trainer::model::{AdapterUse, Arch, Batch, Mode, Model, ModelConfig, TensorMap, TensorSource};

fn write_config(dir: &Path, cfg: &ModelConfig) {
    std::fs::write(
        dir.join("config.json"),
        cfg.to_hf_json("float32").to_string(),
    )
    .unwrap();
}

/// Writes `names` of `w` (converted to `dtype`) into one safetensors file.
fn write_st(path: &Path, w: &TensorMap, names: &[String], dtype: DType) {
    let tensors: Vec<(String, Tensor)> = names
        .iter()
        .map(|n| (n.clone(), w.0[n].to_dtype(dtype).unwrap()))
        .collect();
    safetensors::serialize_to_file(tensors, None, path).unwrap();
}

/// Splits the tensor names into `n` groups, round robin.
fn groups(w: &TensorMap, n: usize) -> Vec<Vec<String>> {
    let mut g = vec![Vec::new(); n];
    for (i, name) in w.names().into_iter().enumerate() {
        g[i % n].push(name);
    }
    g
}

fn write_sharded(dir: &Path, w: &TensorMap, n: usize, dtype: DType, index: bool) -> Vec<PathBuf> {
    let mut map = serde_json::Map::new();
    let mut files = Vec::new();
    for (i, names) in groups(w, n).iter().enumerate() {
        let file = format!("model-{:05}-of-{:05}.safetensors", i + 1, n);
        write_st(&dir.join(&file), w, names, dtype);
        for name in names {
            map.insert(name.clone(), json!(file));
        }
        files.push(dir.join(file));
    }
    if index {
        std::fs::write(
            dir.join("model.safetensors.index.json"),
            json!({"metadata": {"total_size": 0}, "weight_map": map}).to_string(),
        )
        .unwrap();
    }
    files
}

fn logits(model: &Model, rows: &[Vec<u32>]) -> Tensor {
    let batch = Batch::dense(model, rows.len(), rows[0].len(), AdapterUse::Off).unwrap();
    let h = model
        .forward(&ids_tensor(rows), &batch, None, Mode::Infer)
        .unwrap();
    model.logits(&h).unwrap()
}

/// The reference: the same weights rounded through `dtype`, loaded from memory.
fn reference(cfg: &ModelConfig, w: &TensorMap, dtype: DType) -> Model {
    let rounded = TensorMap(
        w.0.iter()
            .map(|(k, t)| {
                (
                    k.clone(),
                    t.to_dtype(dtype).unwrap().to_dtype(DType::F32).unwrap(),
                )
            })
            .collect(),
    );
    Model::load(cfg, &rounded, DType::F32, &Device::Cpu).unwrap()
}

fn err_text(r: Result<SafetensorsDir, LoadError>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn single_file_bf16_loads_and_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(Arch::Qwen2);
    let w = tiny_weights(&cfg, 11);
    write_config(tmp.path(), &cfg);
    write_st(
        &tmp.path().join("model.safetensors"),
        &w,
        &w.names(),
        DType::BF16,
    );
    let src = SafetensorsDir::open(tmp.path()).unwrap();
    assert_eq!(src.config(), &cfg);
    assert_eq!(src.names(), w.names());
    assert_eq!(
        src.tensor_info("model.embed_tokens.weight"),
        Some((DType::BF16, vec![cfg.vocab_size, cfg.hidden_size]))
    );
    let model = Model::load(&cfg, &src, DType::F32, &Device::Cpu).unwrap();
    let rows = ids(2, 7, cfg.vocab_size, 5);
    let d = max_abs_diff(
        &logits(&model, &rows),
        &logits(&reference(&cfg, &w, DType::BF16), &rows),
    );
    assert_eq!(d, 0.0, "bf16 on disk → f32 must be exact");
    // Any target dtype: bf16 on disk loaded as f16 equals the f32 value rounded to f16.
    let t = src
        .get("model.norm.weight", DType::F16, &Device::Cpu)
        .unwrap();
    let want = w.0["model.norm.weight"]
        .to_dtype(DType::BF16)
        .unwrap()
        .to_dtype(DType::F16)
        .unwrap();
    assert_eq!(t.dtype(), DType::F16);
    assert_eq!(max_abs_diff(&t, &want), 0.0);
}

#[test]
fn indexed_shards_f16_and_transformers5_config() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(Arch::Qwen3);
    let w = tiny_weights(&cfg, 12);
    // transformers 5 form: rope_parameters, dtype, sliding_window: null.
    let mut v = cfg.to_hf_json("float16");
    let o = v.as_object_mut().unwrap();
    let theta = o.remove("rope_theta").unwrap();
    o.remove("rope_scaling");
    o.remove("torch_dtype");
    o.insert("dtype".into(), json!("float16"));
    o.insert(
        "rope_parameters".into(),
        json!({"rope_theta": theta, "rope_type": "default"}),
    );
    std::fs::write(tmp.path().join("config.json"), v.to_string()).unwrap();
    let files = write_sharded(tmp.path(), &w, 3, DType::F16, true);
    let src = ModelSource::resolve(tmp.path().to_str().unwrap()).unwrap();
    assert_eq!(src.config, cfg);
    assert_eq!(src.weights.names(), w.names());
    let model = src.load_model(DType::F32, &Device::Cpu).unwrap();
    let rows = ids(1, 9, cfg.vocab_size, 6);
    let d = max_abs_diff(
        &logits(&model, &rows),
        &logits(&reference(&cfg, &w, DType::F16), &rows),
    );
    assert_eq!(d, 0.0);
    let dir = SafetensorsDir::open(tmp.path()).unwrap();
    assert_eq!(dir.weight_files().len(), files.len());
}

#[test]
fn numbered_shards_without_index_and_missing_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(Arch::Llama);
    let w = tiny_weights(&cfg, 13);
    write_config(tmp.path(), &cfg);
    let files = write_sharded(tmp.path(), &w, 3, DType::F32, false);
    let src = SafetensorsDir::open(tmp.path()).unwrap();
    let model = Model::load(&cfg, &src, DType::F32, &Device::Cpu).unwrap();
    let rows = ids(1, 5, cfg.vocab_size, 7);
    let d = max_abs_diff(
        &logits(&model, &rows),
        &logits(&reference(&cfg, &w, DType::F32), &rows),
    );
    assert_eq!(d, 0.0);
    std::fs::remove_file(&files[1]).unwrap();
    let e = err_text(SafetensorsDir::open(tmp.path()));
    assert!(
        e.contains("model-00002-of-00003.safetensors") && e.contains("shard 2 of 3"),
        "{e}"
    );
}

#[test]
fn index_naming_a_missing_file_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(Arch::Qwen2);
    let w = tiny_weights(&cfg, 14);
    write_config(tmp.path(), &cfg);
    let files = write_sharded(tmp.path(), &w, 2, DType::F32, true);
    std::fs::remove_file(&files[1]).unwrap();
    let e = err_text(SafetensorsDir::open(tmp.path()));
    assert!(
        e.contains("model-00002-of-00002.safetensors")
            && e.contains("model.safetensors.index.json"),
        "{e}"
    );
}

#[test]
fn index_mapping_a_tensor_to_the_wrong_file_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(Arch::Qwen2);
    let w = tiny_weights(&cfg, 15);
    write_config(tmp.path(), &cfg);
    let g = groups(&w, 2);
    write_st(&tmp.path().join("a.safetensors"), &w, &g[0], DType::F32);
    write_st(&tmp.path().join("b.safetensors"), &w, &g[1], DType::F32);
    let mut map: HashMap<String, String> = HashMap::new();
    for n in &g[0] {
        map.insert(n.clone(), "a.safetensors".into());
    }
    for n in &g[1] {
        map.insert(n.clone(), "a.safetensors".into()); // wrong
    }
    std::fs::write(
        tmp.path().join("model.safetensors.index.json"),
        json!({ "weight_map": map }).to_string(),
    )
    .unwrap();
    let e = err_text(SafetensorsDir::open(tmp.path()));
    assert!(
        e.contains("a.safetensors") && e.contains(&g[1][0]) && e.contains("does not contain"),
        "{e}"
    );
}

#[test]
fn corrupt_header_missing_config_and_no_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(Arch::Qwen2);
    // No config.json.
    let e = err_text(SafetensorsDir::open(tmp.path()));
    assert!(
        e.contains("config.json") && e.contains(tmp.path().to_str().unwrap()),
        "{e}"
    );
    write_config(tmp.path(), &cfg);
    // No weights, but a .bin file.
    std::fs::write(tmp.path().join("pytorch_model.bin"), b"x").unwrap();
    let e = err_text(SafetensorsDir::open(tmp.path()));
    assert!(
        e.contains("no model.safetensors") && e.contains(".bin"),
        "{e}"
    );
    // A header that claims more bytes than the file has.
    let mut bytes = 1000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{\"a\":");
    std::fs::write(tmp.path().join("model.safetensors"), bytes).unwrap();
    let e = err_text(SafetensorsDir::open(tmp.path()));
    assert!(
        e.contains("model.safetensors") && e.contains("not a valid safetensors"),
        "{e}"
    );
}

#[test]
fn unsupported_dtype_names_tensor_and_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(Arch::Qwen2);
    write_config(tmp.path(), &cfg);
    let t = Tensor::new(&[1i64, 2, 3], &Device::Cpu).unwrap();
    safetensors::serialize_to_file(
        vec![("model.norm.weight".to_string(), t)],
        None,
        &tmp.path().join("model.safetensors"),
    )
    .unwrap();
    let src = SafetensorsDir::open(tmp.path()).unwrap();
    let e = src
        .get("model.norm.weight", DType::F32, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.norm.weight") && e.contains("model.safetensors") && e.contains("I64"),
        "{e}"
    );
    let e = src
        .get("lm_head.weight", DType::F32, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("lm_head.weight"), "{e}");
}
