use std::path::PathBuf;

/// Errors of opening a model: every variant names the file (or cache path) it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A JSON file (`model.safetensors.index.json`, ...) is malformed.
    #[error("{path}: {msg}")]
    Json { path: PathBuf, msg: String },

    /// The model directory has no `config.json`.
    #[error("{dir}: no config.json (a Hugging Face model directory needs one)")]
    MissingConfig { dir: PathBuf },

    /// The model directory has no safetensors weights.
    #[error("{dir}: no model.safetensors, model.safetensors.index.json or model-0000N-of-0000M.safetensors shards{hint}")]
    NoWeights { dir: PathBuf, hint: String },

    /// A weight file named by the index (or a shard of a numbered series) does not exist.
    #[error("{file}: missing weight file ({why})")]
    MissingShard { file: PathBuf, why: String },

    /// A safetensors file could not be parsed (corrupt or truncated header, ...).
    #[error("{file}: not a valid safetensors file: {msg}")]
    Safetensors { file: PathBuf, msg: String },

    /// The index names a tensor that its weight file does not contain.
    #[error("{index}: tensor `{tensor}` is mapped to {file}, which does not contain it")]
    IndexMismatch {
        index: PathBuf,
        tensor: String,
        file: PathBuf,
    },

    /// A GGUF file could not be read or lacks something the model needs.
    #[error("{file}: {msg}")]
    Gguf { file: PathBuf, msg: String },

    /// A model repository is not in the local Hugging Face cache.
    #[error(
        "`{repo}` is not in the local HF cache at {cache}; trainer never downloads ({detail})"
    )]
    NotInCache {
        repo: String,
        cache: PathBuf,
        detail: String,
    },

    /// The model spec is none of: directory, `.gguf` file, `hf:org/name`.
    #[error("cannot load `{spec}`: {msg}")]
    BadSpec { spec: String, msg: String },

    /// An error of the model core (config parsing, tensors).
    #[error(transparent)]
    Model(#[from] crate::model::Error),
}

/// Result type of the loaders.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn gguf(file: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Gguf {
            file: file.into(),
            msg: msg.into(),
        }
    }
}
