//! One entry point for "a model": a Hugging Face directory, a `.gguf` file, or a repository in the
//! local HF cache (`hf:org/name[@revision]`, or a bare `org/name` that is not a local path).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::quantized::gguf_file::Content;
use candle_core::{DType, Device};

use super::error::{Error, Result};
use super::gguf::GgufSource;
use super::hf_cache::{default_hf_cache_dir, resolve_in_cache};
use super::hf_dir::SafetensorsDir;
use crate::model::{Model, ModelConfig, TensorSource};

/// Where the tokenizer of a model lives, for `chat::Tokenizer::from_dir` / `from_gguf`.
#[derive(Debug, Clone)]
pub enum TokenizerFiles {
    /// A directory with `tokenizer.json` (and usually `tokenizer_config.json`).
    Dir(PathBuf),
    /// The tokenizer is described by the GGUF metadata.
    Gguf {
        path: PathBuf,
        content: Arc<Content>,
    },
    /// The model comes without tokenizer files.
    None,
}

/// A resolved model: its configuration, its lazily read weights and its tokenizer files.
pub struct ModelSource {
    /// Architecture hyper-parameters.
    pub config: ModelConfig,
    /// Weights under their Hugging Face names, read on demand.
    pub weights: Box<dyn TensorSource + Send + Sync>,
    /// Where the tokenizer can be built from.
    pub tokenizer: TokenizerFiles,
    /// The directory or file the weights come from.
    pub path: PathBuf,
    /// What to record as `base_model_name_or_path`: the repository id for cached models, the
    /// path otherwise.
    pub name: String,
}

impl std::fmt::Debug for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSource")
            .field("config", &self.config)
            .field("path", &self.path)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn is_gguf_file(path: &Path) -> bool {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
    {
        return true;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == b"GGUF"
}

fn gguf_files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.extension()
                        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// `org/name` or `org/name@rev`, with no path-like prefix.
fn looks_like_repo_id(spec: &str) -> bool {
    let id = spec.split('@').next().unwrap_or(spec);
    id.matches('/').count() == 1
        && !id.starts_with('.')
        && !id.starts_with('/')
        && !id.ends_with('/')
        && !id.contains('\\')
}

impl ModelSource {
    /// Resolves `spec` (directory, `.gguf` file, `hf:org/name[@rev]`, or `org/name` found in
    /// the local HF cache at [`default_hf_cache_dir`]).
    pub fn resolve(spec: &str) -> Result<Self> {
        Self::resolve_with_cache(spec, default_hf_cache_dir().as_deref())
    }

    /// [`resolve`](Self::resolve) with an explicit HF cache directory.
    pub fn resolve_with_cache(spec: &str, hf_cache: Option<&Path>) -> Result<Self> {
        if let Some(repo) = spec.strip_prefix("hf:") {
            return Self::from_cache(repo, hf_cache);
        }
        let path = Path::new(spec);
        if path.is_file() {
            if is_gguf_file(path) {
                return Self::from_gguf(path);
            }
            return Err(Error::BadSpec {
                spec: spec.into(),
                msg: "a file must be a .gguf model; for safetensors pass the model directory"
                    .into(),
            });
        }
        if path.is_dir() {
            return Self::from_path_dir(path, spec);
        }
        if looks_like_repo_id(spec) {
            return Self::from_cache(spec, hf_cache).map_err(|e| match e {
                Error::NotInCache {
                    repo,
                    cache,
                    detail,
                } => Error::NotInCache {
                    repo,
                    cache,
                    detail: format!("{detail}; nor is it a local path"),
                },
                other => other,
            });
        }
        Err(Error::BadSpec {
            spec: spec.into(),
            msg: "no such file or directory (use hf:org/name for the HF cache)".into(),
        })
    }

    fn from_path_dir(dir: &Path, name: &str) -> Result<Self> {
        if !dir.join("config.json").is_file() {
            if let [one] = gguf_files_in(dir).as_slice() {
                return Self::from_gguf(one);
            }
        }
        let mut s = Self::from_dir(dir)?;
        s.name = name.to_string();
        Ok(s)
    }

    /// A model in the local HF cache (`org/name[@rev]`); never downloads.
    pub fn from_cache(repo: &str, hf_cache: Option<&Path>) -> Result<Self> {
        let cache = hf_cache.ok_or_else(|| Error::NotInCache {
            repo: repo.to_string(),
            cache: PathBuf::from("<unknown>"),
            detail: "no cache directory: set HF_HUB_CACHE, HF_HOME or HOME".into(),
        })?;
        let snapshot = resolve_in_cache(cache, repo)?;
        let mut s = if snapshot.join("config.json").is_file() {
            Self::from_dir(&snapshot)?
        } else {
            match gguf_files_in(&snapshot).as_slice() {
                [one] => Self::from_gguf(one)?,
                many => {
                    return Err(Error::BadSpec {
                        spec: repo.to_string(),
                        msg: format!(
                            "snapshot {} holds {} .gguf files; pass the one to use as a path",
                            snapshot.display(),
                            many.len()
                        ),
                    })
                }
            }
        };
        s.name = repo.split('@').next().unwrap_or(repo).to_string();
        Ok(s)
    }

    /// A Hugging Face model directory.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let src = SafetensorsDir::open(dir)?;
        let tokenizer = if dir.join("tokenizer.json").is_file() {
            TokenizerFiles::Dir(dir.to_path_buf())
        } else {
            TokenizerFiles::None
        };
        Ok(ModelSource {
            config: src.config().clone(),
            weights: Box::new(src),
            tokenizer,
            path: dir.to_path_buf(),
            name: dir.display().to_string(),
        })
    }

    /// A llama.cpp GGUF file (tensors are dequantized on load).
    pub fn from_gguf(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let src = GgufSource::open(path)?;
        let tokenizer = TokenizerFiles::Gguf {
            path: path.to_path_buf(),
            content: src.content().clone(),
        };
        Ok(ModelSource {
            config: src.config().clone(),
            tokenizer,
            weights: Box::new(src),
            path: path.to_path_buf(),
            name: path.display().to_string(),
        })
    }

    /// Builds the model in `dtype` on `device`.
    pub fn load_model(&self, dtype: DType, device: &Device) -> Result<Model> {
        Ok(Model::load(
            &self.config,
            self.weights.as_ref(),
            dtype,
            device,
        )?)
    }
}
