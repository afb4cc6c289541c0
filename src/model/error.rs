use std::path::PathBuf;

/// Errors of the model core: loading, shapes, configs, numerics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    #[error("model config {file}: field `{field}`: {msg}")]
    Config {
        file: String,
        field: String,
        msg: String,
    },

    #[error("weights: missing tensor `{0}`")]
    MissingTensor(String),

    #[error("weights: tensor `{name}` has shape {got:?}, expected {expected:?}")]
    Shape {
        name: String,
        got: Vec<usize>,
        expected: Vec<usize>,
    },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },

    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn config(file: &str, field: &str, msg: impl Into<String>) -> Self {
        Error::Config {
            file: file.to_string(),
            field: field.to_string(),
            msg: msg.into(),
        }
    }
}
