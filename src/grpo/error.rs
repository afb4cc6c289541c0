/// Errors of the GRPO math: shapes, options, reward values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// An invalid option value; `field` is the TRL option name.
    #[error("grpo option `{field}`: {msg}")]
    Config { field: &'static str, msg: String },

    /// Inputs of the wrong shape or content.
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;
