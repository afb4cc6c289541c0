use std::path::PathBuf;

use super::optim::SkipReason;

/// Errors of the optimization layer: optimizer steps, optimizer state files, SFT batching.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    #[error(transparent)]
    Model(#[from] crate::model::Error),

    #[error(transparent)]
    Checkpoint(#[from] crate::checkpoint::Error),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// An optimizer state file that cannot be read back (bad header, bad metadata, wrong dtype).
    #[error("optimizer state {path}: {msg}")]
    StateFormat { path: PathBuf, msg: String },

    /// An optimizer state file that does not fit the trainable variables it is loaded into.
    #[error("optimizer state {path}: variable `{name}`: {msg}")]
    StateMismatch {
        path: PathBuf,
        name: String,
        msg: String,
    },

    /// Too many optimizer steps in a row were skipped for a non-finite loss or gradient.
    #[error(
        "{consecutive} consecutive optimizer steps skipped (limit {limit}); last: {last}; \
         the adapter was left at its last good value"
    )]
    TooManySkips {
        consecutive: u32,
        limit: u32,
        last: SkipReason,
    },

    /// An invalid optimizer / schedule / batching setting; `field` names the option.
    #[error("`{field}`: {msg}")]
    Config { field: &'static str, msg: String },

    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn config(field: &'static str, msg: impl Into<String>) -> Self {
        Error::Config {
            field,
            msg: msg.into(),
        }
    }
}
