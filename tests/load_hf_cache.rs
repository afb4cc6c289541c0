//! Offline HF hub cache: a fake cache laid out as `huggingface_hub` lays it out
//! (`models--org--name/{blobs,refs,snapshots}` with snapshot files symlinked to blobs).

mod common;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use common::*;
use trainer::model::load::{Error as LoadError, ModelSource};
use trainer::model::{Arch, ModelConfig};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// Builds `<root>/models--org--tiny` holding a tiny Qwen2 model; returns its config.
fn fake_cache(root: &Path) -> ModelConfig {
    let cfg = tiny_config(Arch::Qwen2);
    let w = tiny_weights(&cfg, 31);
    let repo = root.join("models--org--tiny");
    let blobs = repo.join("blobs");
    let snap = repo.join("snapshots").join(COMMIT);
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs").join("main"), COMMIT).unwrap();
    std::fs::write(
        blobs.join("aaaa1111"),
        cfg.to_hf_json("float32").to_string(),
    )
    .unwrap();
    let tensors: Vec<(String, Tensor)> = w.0.clone().into_iter().collect();
    safetensors::serialize_to_file(tensors, None, &blobs.join("bbbb2222")).unwrap();
    std::os::unix::fs::symlink("../../blobs/aaaa1111", snap.join("config.json")).unwrap();
    std::os::unix::fs::symlink("../../blobs/bbbb2222", snap.join("model.safetensors")).unwrap();
    cfg
}

fn err(r: Result<ModelSource, LoadError>) -> String {
    match r {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn resolves_repo_ids_in_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = fake_cache(tmp.path());
    let cache = Some(tmp.path());
    for spec in [
        "hf:org/tiny",
        "org/tiny",
        "hf:org/tiny@main",
        &format!("hf:org/tiny@{COMMIT}"),
    ] {
        let s = ModelSource::resolve_with_cache(spec, cache).unwrap();
        assert_eq!(s.config, cfg, "{spec}");
        assert_eq!(s.name, "org/tiny");
        assert!(
            s.path.ends_with(format!("snapshots/{COMMIT}")),
            "{:?}",
            s.path
        );
        let t = s
            .weights
            .get("model.norm.weight", DType::F32, &Device::Cpu)
            .unwrap();
        assert_eq!(t.dims(), [cfg.hidden_size]);
        s.load_model(DType::F32, &Device::Cpu).unwrap();
    }
}

#[test]
fn a_trailing_newline_in_the_ref_is_tolerated() {
    let tmp = tempfile::tempdir().unwrap();
    fake_cache(tmp.path());
    std::fs::write(
        tmp.path().join("models--org--tiny/refs/main"),
        format!("{COMMIT}\n"),
    )
    .unwrap();
    ModelSource::resolve_with_cache("hf:org/tiny", Some(tmp.path())).unwrap();
}

#[test]
fn missing_models_and_revisions_say_trainer_never_downloads() {
    let tmp = tempfile::tempdir().unwrap();
    fake_cache(tmp.path());
    let e = err(ModelSource::resolve_with_cache(
        "hf:Qwen/Qwen3-8B",
        Some(tmp.path()),
    ));
    assert!(
        e.contains("Qwen/Qwen3-8B")
            && e.contains("not in the local HF cache at")
            && e.contains(tmp.path().to_str().unwrap())
            && e.contains("trainer never downloads"),
        "{e}"
    );
    let e = err(ModelSource::resolve_with_cache(
        "hf:org/tiny@v2",
        Some(tmp.path()),
    ));
    assert!(e.contains("v2") && e.contains("never downloads"), "{e}");
    // A bare id that is neither a path nor cached.
    let e = err(ModelSource::resolve_with_cache(
        "nobody/nothing",
        Some(tmp.path()),
    ));
    assert!(e.contains("nor is it a local path"), "{e}");
    // A snapshot whose shard is not downloaded: the loader names the missing file.
    let snap: PathBuf = tmp.path().join("models--org--tiny/snapshots").join(COMMIT);
    std::fs::remove_file(snap.join("model.safetensors")).unwrap();
    std::fs::write(
        snap.join("model.safetensors.index.json"),
        r#"{"weight_map":{"model.norm.weight":"model-00001-of-00002.safetensors"}}"#,
    )
    .unwrap();
    let e = err(ModelSource::resolve_with_cache(
        "hf:org/tiny",
        Some(tmp.path()),
    ));
    assert!(e.contains("model-00001-of-00002.safetensors"), "{e}");
}

#[test]
fn hf_home_environment_variable_is_honoured() {
    // The only test in this binary that touches the environment.
    let tmp = tempfile::tempdir().unwrap();
    let hub = tmp.path().join("hub");
    std::fs::create_dir_all(&hub).unwrap();
    let cfg = fake_cache(&hub);
    std::env::remove_var("HF_HUB_CACHE");
    std::env::set_var("HF_HOME", tmp.path());
    let s = ModelSource::resolve("hf:org/tiny").unwrap();
    assert_eq!(s.config, cfg);
    let e = err(ModelSource::resolve("hf:org/other"));
    assert!(e.contains(hub.to_str().unwrap()), "{e}");
}
