//! Errors of the closed loop: every stage's error, plus the run directory's own.

use std::path::PathBuf;

/// A closed-loop error; the message names the phase's file or setting.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A run-directory file that cannot be trusted (not written by a completed phase, edited).
    #[error(
        "{path} is corrupt ({message}); delete it (or the iteration directory) to redo that phase"
    )]
    Corrupt { path: PathBuf, message: String },
    /// The run directory was started with another config.
    #[error(
        "{path} differs from the config given now: resuming would mix two experiments; \
         use another run.name (or delete the run directory to start over){hint}"
    )]
    ConfigChanged {
        path: PathBuf,
        /// What would make this config match the run, when known (starts with "; ").
        hint: String,
    },
    #[error("config: {0}")]
    Config(#[from] crate::config::Error),
    #[error("synthesis: {0}")]
    Synth(#[from] crate::synth::Error),
    #[error("model backend: {0}")]
    Backend(#[from] crate::backend::Error),
    #[error("training: {0}")]
    Train(#[from] crate::train::Error),
    #[error("GRPO: {0}")]
    Grpo(#[from] crate::train::GrpoStepError),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] crate::checkpoint::Error),
    #[error("model: {0}")]
    Model(#[from] crate::model::Error),
    #[error("BFCL evaluation: {0}")]
    Eval(#[from] crate::eval::infer::Error),
    #[error("GRPO: {0}")]
    GrpoMath(#[from] crate::grpo::Error),
    #[error("report: {0}")]
    Report(#[from] crate::runloop::report::ReportError),
    #[error("tensor op: {0}")]
    Candle(#[from] candle_core::Error),
    /// A phase that cannot run with what it was given; the message says why and what to change.
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T> = std::result::Result<T, RunError>;
