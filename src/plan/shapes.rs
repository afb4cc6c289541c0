//! The model geometry a plan needs, read without loading any weight: from a Hugging Face
//! `config.json` ([`ModelConfig::from_hf_json`], the loader's own parser) or from GGUF metadata
//! ([`GgufSource::open`], which reads the metadata and tensor directory only).

use std::path::{Path, PathBuf};

use super::{Error, Result};
use crate::model::load::{default_hf_cache_dir, resolve_in_cache, GgufSource};
use crate::model::ModelConfig;

/// Architecture hyper-parameters and where they were read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometry {
    /// The parsed configuration (the same struct the loader builds the model from).
    pub config: ModelConfig,
    /// The `config.json` or `.gguf` file it came from.
    pub file: PathBuf,
    /// Whether the weights on disk are GGUF (dequantized to the compute dtype on load).
    pub gguf: bool,
}

/// Geometry of the model `spec` names, as `model.source` does: a directory (with `config.json`, or
/// a single `.gguf`), a `.gguf` file, a `config.json` file, `hf:org/name[@rev]` or a bare
/// `org/name` in the local HF cache, or `asset:smollm2-135m-instruct`. Never reads weights, and a
/// directory needs no weight files: a `config.json` alone is enough.
pub fn model_geometry(spec: &str) -> Result<Geometry> {
    if spec.starts_with("asset:") {
        let path = crate::backend::resolve_model_spec(spec).map_err(|e| Error::Source {
            spec: spec.into(),
            msg: e.to_string(),
        })?;
        return geometry_from_path(Path::new(&path));
    }
    let repo = spec.strip_prefix("hf:");
    let path = Path::new(spec);
    if repo.is_none() && path.exists() {
        return geometry_from_path(path);
    }
    let repo = repo.unwrap_or(spec);
    let id = repo.split('@').next().unwrap_or(repo);
    if id.matches('/').count() != 1 || id.starts_with('/') || id.starts_with('.') {
        return Err(Error::Source {
            spec: spec.into(),
            msg: "no such file or directory (use hf:org/name for the HF cache)".into(),
        });
    }
    let cache = default_hf_cache_dir().ok_or_else(|| Error::Source {
        spec: spec.into(),
        msg: "no HF cache directory: set HF_HUB_CACHE, HF_HOME or HOME".into(),
    })?;
    let snapshot = resolve_in_cache(&cache, repo).map_err(|e| Error::Source {
        spec: spec.into(),
        msg: format!("{e}; pass --model-config with the model's config.json to plan without it"),
    })?;
    geometry_from_path(&snapshot)
}

/// Geometry from a `config.json` file, a `.gguf` file, or a directory holding either.
pub fn geometry_from_path(path: &Path) -> Result<Geometry> {
    if path.is_dir() {
        let cfg = path.join("config.json");
        if cfg.is_file() {
            return from_config_json(&cfg);
        }
        let ggufs: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::Geometry {
                path: path.to_path_buf(),
                msg: e.to_string(),
            })?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("gguf"))
            })
            .collect();
        return match ggufs.as_slice() {
            [one] => from_gguf(one),
            [] => Err(Error::Geometry {
                path: path.join("config.json"),
                msg: "missing: a model directory needs a config.json (or exactly one .gguf file)"
                    .into(),
            }),
            _ => Err(Error::Geometry {
                path: path.to_path_buf(),
                msg: format!(
                    "{} .gguf files and no config.json: pass the file to plan",
                    ggufs.len()
                ),
            }),
        };
    }
    if !path.is_file() {
        return Err(Error::Geometry {
            path: path.to_path_buf(),
            msg: "no such file or directory".into(),
        });
    }
    if path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("json"))
    {
        from_config_json(path)
    } else {
        from_gguf(path)
    }
}

fn from_config_json(path: &Path) -> Result<Geometry> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::Geometry {
        path: path.to_path_buf(),
        msg: format!("cannot read: {e}"),
    })?;
    let config = ModelConfig::from_hf_json(&text, &shown).map_err(|e| Error::Geometry {
        path: path.to_path_buf(),
        msg: match e {
            crate::model::Error::Config { field, msg, .. } => format!("field `{field}`: {msg}"),
            other => other.to_string(),
        },
    })?;
    Ok(Geometry {
        config,
        file: path.to_path_buf(),
        gguf: false,
    })
}

fn from_gguf(path: &Path) -> Result<Geometry> {
    let shown = path.display().to_string();
    let src = GgufSource::open(path).map_err(|e| Error::Geometry {
        path: path.to_path_buf(),
        msg: strip_prefix_path(&e.to_string(), &shown),
    })?;
    Ok(Geometry {
        config: src.config().clone(),
        file: path.to_path_buf(),
        gguf: true,
    })
}

/// Our error prints the path first; drop a leading copy of it from the inner message.
fn strip_prefix_path(msg: &str, path: &str) -> String {
    msg.strip_prefix(path)
        .map(|m| m.trim_start_matches([':', ' ']).to_string())
        .unwrap_or_else(|| msg.to_string())
}
