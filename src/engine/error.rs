//! Errors of the generation engine.

/// What can go wrong while generating.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("model: {0}")]
    Model(#[from] crate::model::Error),

    #[error("tensor op: {0}")]
    Candle(#[from] candle_core::Error),

    /// A request or config value out of range; the message names the field and the value.
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, Error>;
