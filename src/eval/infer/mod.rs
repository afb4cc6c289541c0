//! `trainer eval --bfcl`: BFCL v4 inference with our model (single-turn categories, and the
//! multi-turn and memory ones through [`crate::eval::multi_turn::driver`]), result files in the official
//! layout, then scoring with [`crate::eval::score`].
//!
//! * [`profile`]: which official model entry we stand in for (`fc` = `Qwen/Qwen3-8B-FC`,
//!   `prompting` = `Qwen/Qwen3-8B`).
//! * [`prompt`]: the handlers' prompt construction; [`response`]: what they store as `result`.
//! * [`generator`]: greedy completions from the local backend.
//! * [`store`]: resumable result files; [`select`]: categories and `limit`.
//! * [`multi_turn`]: batched multi-turn conversations of one category; [`memory`]: the memory
//!   categories (prerequisite conversations, snapshots, then the questions);
//! * [`run`]: the evaluation itself; [`from_config`]: paths and model loading for the CLI;
//!   [`summary`]: `summary.json` and the printed table.

pub mod from_config;
pub mod generator;
pub mod memory;
pub mod multi_turn;
pub mod profile;
pub mod prompt;
pub mod response;
pub mod run;
pub mod select;
pub mod store;
pub mod summary;

use std::path::PathBuf;

pub use from_config::{eval_args, eval_from_config, EvalOptions};
pub use generator::{Generated, Generator};
pub use profile::EvalProfile;
pub use run::{run_eval, EvalArgs, RunInfo};
pub use summary::EvalSummary;

/// Errors of the evaluation stage.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name that is neither a BFCL category nor a collection.
    #[error("invalid BFCL category {0:?}; use a category name (simple_python, live_multiple, ...) or a collection (all, single_turn, live, non_live, python, ...)")]
    UnknownCategory(String),
    /// Every requested category is unsupported.
    #[error("nothing to evaluate: {0}")]
    NothingToEvaluate(String),
    /// A category this crate cannot evaluate.
    #[error("category {category}: {why}")]
    UnsupportedCategory {
        /// Category name.
        category: String,
        /// What is missing.
        why: String,
    },
    /// The BFCL data directory is missing.
    #[error(
        "BFCL data not found at {0} (run `scripts/fetch-assets.sh --bfcl`, or set [eval] data_dir)"
    )]
    NoData(PathBuf),
    /// `--iter N` names an iteration directory that does not exist.
    #[error("--iter {iter}: {path} does not exist (iteration directories are written by `trainer run`; evaluate the base model without --iter)")]
    NoIteration {
        /// The iteration number.
        iter: usize,
        /// The expected directory.
        path: PathBuf,
    },
    /// Conflicting or invalid options.
    #[error("{0}")]
    Invalid(String),
    /// A dataset entry has an unexpected shape.
    #[error("entry {id}: {msg}")]
    Entry {
        /// Entry ID.
        id: String,
        /// What is wrong.
        msg: String,
    },
    /// Filesystem error.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// An existing result file has a malformed line.
    #[error("{path}:{line}: {msg}")]
    ResultFile {
        /// Result file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// The output directory holds results of a different model or settings.
    #[error("{path}: existing results were made with {key} = {before}, this run has {now}; use another --out directory or delete the old results")]
    ResumeMismatch {
        /// The run-info file.
        path: PathBuf,
        /// The differing setting.
        key: String,
        /// Its value in the existing results.
        before: String,
        /// Its value now.
        now: String,
    },
    /// A JSON file could not be read or written.
    #[error("{path}: {msg}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What failed.
        msg: String,
    },
    /// BFCL data could not be loaded.
    #[error(transparent)]
    Data(#[from] crate::eval::data::Error),
    /// Scoring failed.
    #[error("scoring: {0}")]
    Score(#[from] crate::eval::score::Error),
    /// Multi-turn data could not be loaded.
    #[error(transparent)]
    MultiTurnData(#[from] crate::eval::multi_turn::driver_data::Error),
    /// The model failed.
    #[error("model: {0}")]
    Backend(#[from] crate::backend::Error),
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;
