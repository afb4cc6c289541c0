//! Locations of the real assets fetched by `scripts/fetch-assets.sh` (DESIGN.md §6), and
//! [`ensure_assets`] for tests that need them.
//!
//! The cache directory is `$TRAINER_CACHE`, or `<crate root>/.cache/assets` where the crate root
//! is `$CARGO_MANIFEST_DIR` (set by `cargo run` / `cargo test`) or else the current directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Errors of asset lookup.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The assets are missing and the fetch script failed.
    #[error("real assets unavailable: {detail}; run scripts/fetch-assets.sh (offline? it needs npm and pip access to the registries)")]
    Unavailable {
        /// What failed (missing file, script exit status and its last output lines).
        detail: String,
    },
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Environment variable that overrides the cache directory.
pub const CACHE_ENV: &str = "TRAINER_CACHE";
/// Environment variable that makes real-asset tests skip (`1`).
pub const SKIP_ENV: &str = "TRAINER_SKIP_REAL_ASSETS";

/// Expected sizes of the fetched files (the script verifies sha256; sizes are a cheap check).
const QWEN3_TOKENIZER_JSON_SIZE: u64 = 11_422_654;
const QWEN3_TOKENIZER_CONFIG_SIZE: u64 = 9_675;
const SMOLLM2_GGUF_SIZE: u64 = 98_362_432;

fn crate_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The asset cache directory.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => crate_root().join(".cache").join("assets"),
    }
}

/// Directory holding the Qwen3 `tokenizer.json` and `tokenizer_config.json`.
pub fn qwen3_tokenizer_dir() -> PathBuf {
    cache_dir().join("qwen3-tokenizer")
}

/// Path of `SmolLM2-135M-Instruct.Q4_1.gguf`.
pub fn smollm2_gguf_path() -> PathBuf {
    cache_dir()
        .join("smollm2-135m-instruct")
        .join("SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// Path of the fetch script.
pub fn fetch_script() -> PathBuf {
    crate_root().join("scripts").join("fetch-assets.sh")
}

/// Whether `TRAINER_SKIP_REAL_ASSETS=1` asks real-asset tests to skip.
pub fn skip_real_assets() -> bool {
    std::env::var(SKIP_ENV).is_ok_and(|v| v == "1")
}

/// Paths of the core real assets, all present.
#[derive(Debug, Clone)]
pub struct Assets {
    /// See [`qwen3_tokenizer_dir`].
    pub qwen3_tokenizer_dir: PathBuf,
    /// See [`smollm2_gguf_path`].
    pub smollm2_gguf: PathBuf,
}

fn expected_files() -> Vec<(PathBuf, u64)> {
    let qwen = qwen3_tokenizer_dir();
    vec![
        (qwen.join("tokenizer.json"), QWEN3_TOKENIZER_JSON_SIZE),
        (
            qwen.join("tokenizer_config.json"),
            QWEN3_TOKENIZER_CONFIG_SIZE,
        ),
        (smollm2_gguf_path(), SMOLLM2_GGUF_SIZE),
    ]
}

/// The first expected file that is missing or has the wrong size.
fn first_missing() -> Option<PathBuf> {
    expected_files()
        .into_iter()
        .find(|(path, size)| std::fs::metadata(path).map(|m| m.len()).ok() != Some(*size))
        .map(|(path, _)| path)
}

/// Makes sure the core assets are present, running `scripts/fetch-assets.sh` once per process
/// when any is missing. Errors say what is missing and how the script failed.
pub fn ensure_assets() -> Result<Assets> {
    static RESULT: OnceLock<Result<Assets>> = OnceLock::new();
    RESULT.get_or_init(ensure_uncached).clone()
}

fn ensure_uncached() -> Result<Assets> {
    if let Some(missing) = first_missing() {
        run_fetch_script(&fetch_script(), &missing)?;
        if let Some(still) = first_missing() {
            return Err(Error::Unavailable {
                detail: format!(
                    "{} is still missing after running the fetch script",
                    still.display()
                ),
            });
        }
    }
    Ok(Assets {
        qwen3_tokenizer_dir: qwen3_tokenizer_dir(),
        smollm2_gguf: smollm2_gguf_path(),
    })
}

fn run_fetch_script(script: &Path, missing: &Path) -> Result<()> {
    let output = Command::new("bash")
        .arg(script)
        .env(CACHE_ENV, cache_dir())
        .output()
        .map_err(|e| Error::Unavailable {
            detail: format!(
                "{} is missing and {} could not be started: {e}",
                missing.display(),
                script.display()
            ),
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(Error::Unavailable {
        detail: format!(
            "{} is missing and {} failed ({}): {}",
            missing.display(),
            script.display(),
            output.status,
            tail.join(" | ")
        ),
    })
}
