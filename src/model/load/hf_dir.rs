//! A Hugging Face model directory: `config.json` plus `model.safetensors`, or shards
//! `model-0000N-of-0000M.safetensors` with (or, leniently, without) `model.safetensors.index.json`.
//!
//! Weight files are memory-mapped; [`TensorSource::get`] copies one tensor out of the mapping and
//! converts it, so loading never holds the checkpoint twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Tensor};
use serde_json::Value;

use super::error::{Error, Result};
use crate::model::{ModelConfig, TensorSource};

/// Name of the single-file checkpoint.
pub const SINGLE_FILE: &str = "model.safetensors";
/// Name of the shard index.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

struct WeightFile {
    path: PathBuf,
    st: MmapedSafetensors,
}

/// A lazily read Hugging Face safetensors checkpoint with its `config.json`.
pub struct SafetensorsDir {
    dir: PathBuf,
    config: ModelConfig,
    files: Vec<WeightFile>,
    /// Tensor name → index into `files`.
    routing: BTreeMap<String, usize>,
}

impl std::fmt::Debug for SafetensorsDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsDir")
            .field("dir", &self.dir)
            .field(
                "files",
                &self.files.iter().map(|w| &w.path).collect::<Vec<_>>(),
            )
            .field("tensors", &self.routing.len())
            .finish()
    }
}

impl SafetensorsDir {
    /// Opens `dir`: parses `config.json`, maps the weight files and reads their headers.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            return Err(Error::io(
                &dir,
                std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
            ));
        }
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            return Err(Error::MissingConfig { dir });
        }
        let text = std::fs::read_to_string(&config_path).map_err(|e| Error::io(&config_path, e))?;
        let config = ModelConfig::from_hf_json(&text, &config_path.display().to_string())?;
        let (files, routing) = open_weights(&dir)?;
        Ok(SafetensorsDir {
            dir,
            config,
            files,
            routing,
        })
    }

    /// The parsed `config.json`.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The model directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The weight files, in index order.
    pub fn weight_files(&self) -> Vec<&Path> {
        self.files.iter().map(|w| w.path.as_path()).collect()
    }

    /// On-disk dtype and shape of a tensor, without reading its data.
    pub fn tensor_info(&self, name: &str) -> Option<(DType, Vec<usize>)> {
        let file = self.files.get(*self.routing.get(name)?)?;
        let view = file.st.get(name).ok()?;
        let dtype = DType::try_from(view.dtype()).ok()?;
        Some((dtype, view.shape().to_vec()))
    }
}

impl TensorSource for SafetensorsDir {
    fn get(&self, name: &str, dtype: DType, device: &Device) -> crate::model::Result<Tensor> {
        use crate::model::Error as ME;
        let file = self
            .routing
            .get(name)
            .and_then(|&i| self.files.get(i))
            .ok_or_else(|| ME::MissingTensor(name.to_string()))?;
        let view = file.st.get(name).map_err(|e| {
            ME::Invalid(format!(
                "{}: tensor `{name}`: {}",
                file.path.display(),
                strip_path(e)
            ))
        })?;
        let disk = match DType::try_from(view.dtype()) {
            Ok(d @ (DType::BF16 | DType::F16 | DType::F32 | DType::F64)) => d,
            _ => {
                return Err(ME::Invalid(format!(
                    "{}: tensor `{name}` has dtype {:?}; only bf16, f16, f32 and f64 weights are supported",
                    file.path.display(),
                    view.dtype()
                )))
            }
        };
        let t = Tensor::from_raw_buffer(view.data(), disk, view.shape(), device)?;
        Ok(t.to_dtype(dtype)?)
    }

    fn contains(&self, name: &str) -> bool {
        self.routing.contains_key(name)
    }

    fn names(&self) -> Vec<String> {
        self.routing.keys().cloned().collect()
    }
}

/// candle wraps errors as `path: "..." inner`; we name the file ourselves.
fn strip_path(e: candle_core::Error) -> String {
    match e {
        candle_core::Error::WithPath { inner, .. } => inner.to_string(),
        other => other.to_string(),
    }
}

fn map_file(path: &Path) -> Result<WeightFile> {
    // SAFETY: the mapping is read-only; like every mmap-based loader we rely on the checkpoint not
    // being modified while the model is being loaded.
    let st = unsafe { MmapedSafetensors::new(path) }.map_err(|e| Error::Safetensors {
        file: path.to_path_buf(),
        msg: strip_path(e),
    })?;
    Ok(WeightFile {
        path: path.to_path_buf(),
        st,
    })
}

fn names_of(w: &WeightFile) -> Vec<String> {
    w.st.tensors().into_iter().map(|(n, _)| n).collect()
}

type Opened = (Vec<WeightFile>, BTreeMap<String, usize>);

/// Finds and maps the weight files of `dir`.
fn open_weights(dir: &Path) -> Result<Opened> {
    let index = dir.join(INDEX_FILE);
    if index.is_file() {
        return open_indexed(dir, &index);
    }
    let single = dir.join(SINGLE_FILE);
    if single.is_file() {
        let w = map_file(&single)?;
        let routing = names_of(&w).into_iter().map(|n| (n, 0)).collect();
        return Ok((vec![w], routing));
    }
    let shards = numbered_shards(dir)?;
    if !shards.is_empty() {
        let mut files = Vec::with_capacity(shards.len());
        let mut routing = BTreeMap::new();
        for (i, p) in shards.iter().enumerate() {
            let w = map_file(p)?;
            for n in names_of(&w) {
                routing.insert(n, i);
            }
            files.push(w);
        }
        return Ok((files, routing));
    }
    Err(Error::NoWeights {
        dir: dir.to_path_buf(),
        hint: no_weights_hint(dir),
    })
}

fn open_indexed(dir: &Path, index: &Path) -> Result<Opened> {
    let text = std::fs::read_to_string(index).map_err(|e| Error::io(index, e))?;
    let bad = |msg: String| Error::Json {
        path: index.to_path_buf(),
        msg,
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let map = v
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("`weight_map` is missing or not an object".into()))?;
    let mut file_ids: BTreeMap<String, usize> = BTreeMap::new();
    let mut files: Vec<WeightFile> = Vec::new();
    let mut routing = BTreeMap::new();
    for (tensor, file) in map {
        let file = file
            .as_str()
            .ok_or_else(|| bad(format!("`weight_map.{tensor}` is not a file name")))?;
        if file.contains('/') || file.contains('\\') || file == ".." || file.is_empty() {
            return Err(bad(format!(
                "`weight_map.{tensor}` = `{file}` is not a plain file name"
            )));
        }
        let id = match file_ids.get(file) {
            Some(&id) => id,
            None => {
                let path = dir.join(file);
                if !path.is_file() {
                    return Err(Error::MissingShard {
                        file: path,
                        why: format!("named by {} for tensor `{tensor}`", index.display()),
                    });
                }
                files.push(map_file(&path)?);
                file_ids.insert(file.to_string(), files.len() - 1);
                files.len() - 1
            }
        };
        routing.insert(tensor.clone(), id);
    }
    // Every tensor the index promises must be in its file: fail now with a clear message rather
    // than in the middle of a load.
    for (tensor, &id) in &routing {
        if let Some(w) = files.get(id) {
            if w.st.get(tensor).is_err() {
                return Err(Error::IndexMismatch {
                    index: index.to_path_buf(),
                    tensor: tensor.clone(),
                    file: w.path.clone(),
                });
            }
        }
    }
    Ok((files, routing))
}

/// Parses `model-00002-of-00005.safetensors` into `(2, 5)`.
fn shard_numbers(name: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix("model-")?.strip_suffix(".safetensors")?;
    let (i, n) = rest.split_once("-of-")?;
    Some((i.parse().ok()?, n.parse().ok()?))
}

/// Numbered shards without an index: all of `1..=M` must be present.
fn numbered_shards(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut found: BTreeMap<usize, (usize, String)> = BTreeMap::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((i, n)) = shard_numbers(&name) {
            found.insert(i, (n, name));
        }
    }
    let Some((_, (total, example))) = found.iter().next().map(|(i, v)| (*i, v.clone())) else {
        return Ok(Vec::new());
    };
    let width = example
        .strip_prefix("model-")
        .and_then(|r| r.split_once('-'))
        .map_or(5, |(a, _)| a.len());
    let mut out = Vec::with_capacity(total);
    for i in 1..=total {
        match found.get(&i) {
            Some((n, name)) if *n == total => out.push(dir.join(name)),
            Some((n, name)) => {
                return Err(Error::MissingShard {
                    file: dir.join(name),
                    why: format!("shard series disagree: {n} vs {total} shards"),
                })
            }
            None => {
                return Err(Error::MissingShard {
                    file: dir.join(format!("model-{i:0width$}-of-{total:0width$}.safetensors")),
                    why: format!("shard {i} of {total}; there is no {INDEX_FILE} either"),
                })
            }
        }
    }
    Ok(out)
}

fn no_weights_hint(dir: &Path) -> String {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return String::new();
    };
    let names: Vec<String> = rd
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if let Some(g) = names.iter().find(|n| n.ends_with(".gguf")) {
        return format!(" (found {g}: pass the .gguf file itself)");
    }
    if names
        .iter()
        .any(|n| n.ends_with(".bin") || n.ends_with(".pt"))
    {
        return " (found PyTorch .bin weights, which trainer does not read: convert them to safetensors)"
            .into();
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::shard_numbers;

    #[test]
    fn parses_shard_names() {
        assert_eq!(
            shard_numbers("model-00002-of-00005.safetensors"),
            Some((2, 5))
        );
        assert_eq!(shard_numbers("model.safetensors"), None);
        assert_eq!(shard_numbers("model-a-of-00005.safetensors"), None);
    }
}
