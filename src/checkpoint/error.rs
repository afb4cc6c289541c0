use std::path::PathBuf;

/// Errors of checkpoint export and import; each names the file and, where relevant, the tensor or
/// config field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The output already exists and overwriting was not asked for.
    #[error("{path}: already exists (refusing to overwrite)")]
    AlreadyExists { path: PathBuf },

    /// A JSON file is malformed or a field has the wrong value.
    #[error("{path}: field `{field}`: {msg}")]
    Config {
        path: PathBuf,
        field: String,
        msg: String,
    },

    /// A safetensors file could not be read or written.
    #[error("{path}: {msg}")]
    Safetensors { path: PathBuf, msg: String },

    /// A tensor the model needs is not in the file.
    #[error("{path}: missing tensor `{tensor}`")]
    MissingTensor { path: PathBuf, tensor: String },

    /// The file holds a tensor that does not belong to the model / adapter configuration.
    #[error("{path}: unexpected tensor `{tensor}` ({why})")]
    UnexpectedTensor {
        path: PathBuf,
        tensor: String,
        why: String,
    },

    /// A tensor has the wrong shape (e.g. an adapter of another rank).
    #[error("{path}: tensor `{tensor}` has shape {got:?}, expected {expected:?}")]
    TensorShape {
        path: PathBuf,
        tensor: String,
        got: Vec<usize>,
        expected: Vec<usize>,
    },

    /// The model's adapters cannot be written as one PEFT adapter (mixed ranks, partial targets).
    #[error("adapter: {0}")]
    Adapter(String),

    /// The tokenizer could not be serialized.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    #[error(transparent)]
    Model(#[from] crate::model::Error),

    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result type of the checkpoint module.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn config(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        msg: impl Into<String>,
    ) -> Self {
        Error::Config {
            path: path.into(),
            field: field.into(),
            msg: msg.into(),
        }
    }
}
