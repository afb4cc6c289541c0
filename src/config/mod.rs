//! The run configuration: a TOML file with a fixed schema (`deny_unknown_fields`), validated at
//! load time with errors that name the file, the key and the allowed values. The fully resolved
//! config (defaults filled in) is written into the run directory.

mod endpoint;
mod eval;
mod mcp;
mod rewards;
mod schema;
mod synth;
mod train;

use std::path::{Path, PathBuf};

pub use endpoint::EndpointSection;
pub use eval::EvalSection;
pub use mcp::McpServerConfig;
pub use rewards::{
    default_rewards, FormatReward, GatedReward, GatedWeights, RewardSpec, TurnsReward,
};
pub use schema::*;
pub use synth::{CategoryWeights, RefineMode, ScenarioSection, SimMode, SynthSection};
pub use train::{ColdStart, GapSource, LoopSection, TrainSection};

/// Configuration errors. Every variant names the file it came from.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("config {path}: {message}")]
    Parse { path: PathBuf, message: String },

    #[error("config {path}: key `{key}` = {value}: {reason}")]
    Invalid {
        path: PathBuf,
        key: String,
        value: String,
        reason: String,
    },

    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// The embedded default config (`configs/default.toml`), used when a command gets no file.
pub const DEFAULT_TOML: &str = include_str!("../../configs/default.toml");

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml(&text, path)
    }

    /// Parses and validates config text; `path` is used in error messages.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config> {
        let cfg: Config = toml::from_str(text).map_err(|e| Error::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// The resolved config as TOML (all defaults spelled out).
    pub fn to_toml(&self) -> String {
        // Serializing a plain struct of strings, numbers and tables cannot fail.
        toml::to_string_pretty(self)
            .unwrap_or_else(|e| format!("# could not serialize config: {e}\n"))
    }

    /// The run directory `output_dir/name`.
    pub fn run_dir(&self) -> PathBuf {
        Path::new(&self.run.output_dir).join(&self.run.name)
    }

    /// Writes `config.resolved.toml` into `dir` atomically (temp file + rename).
    pub fn write_resolved(&self, dir: &Path) -> Result<PathBuf> {
        let path = dir.join("config.resolved.toml");
        let tmp = dir.join(".config.resolved.toml.tmp");
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            std::fs::write(&tmp, self.to_toml())?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests;
