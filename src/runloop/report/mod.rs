//! The run report: `report/report.md` plus PNG plots, rewritten after every iteration so that a
//! person can see at a glance how training goes (DESIGN.md §3, `runs/<name>/report/`).
//!
//! Drawn from the [`IterationSummary`] of each iteration and the per-step lines of
//! `metrics.jsonl` (TRL metric names: `reward`, `kl`, `completions/mean_length`, `loss`).
//! Plots with nothing to show yet (no GRPO step in iteration 0) are left out and the text says so.
//! Every file is written under a temporary name and renamed; the PNGs first, `report.md` last, so
//! the text never links a plot that is not there.

mod figures;
mod glyphs;
mod markdown;
pub mod plot;
pub mod series;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::checkpoint::write_file_atomic;
use crate::runloop::summary::IterationSummary;

pub use figures::{ACCEPTANCE, ACCURACY, KL, LENGTH, REWARD, SFT_LOSS};
pub use plot::PlotError;

/// Errors of writing or loading a report; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A JSON file or line could not be parsed.
    #[error("{path}: line {line}: {msg}")]
    Json {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    /// A plot could not be drawn.
    #[error("{path}: {source}")]
    Plot { path: PathBuf, source: PlotError },
    /// A report file could not be written.
    #[error(transparent)]
    Write(#[from] crate::checkpoint::Error),
}

/// Result of this module.
pub type Result<T> = std::result::Result<T, ReportError>;

/// The name of the report directory inside a run directory.
pub const REPORT_DIR: &str = "report";

/// Writes `run_dir/report/report.md` and its PNGs, titled with the run's directory name.
/// Returns the files written, `report.md` last.
pub fn write_report(
    run_dir: &Path,
    summaries: &[IterationSummary],
    metrics: &[Json],
) -> Result<Vec<PathBuf>> {
    let title = run_dir
        .file_name()
        .map_or_else(|| "run".to_string(), |n| n.to_string_lossy().into_owned());
    write_report_to(&run_dir.join(REPORT_DIR), &title, summaries, metrics)
}

/// Writes `report.md` and its PNGs into `out_dir` (created if needed), headed `title`.
/// `summaries` may come in any order; a repeated iteration keeps its last summary. A plot left out
/// for lack of data is removed if an earlier report had written it.
pub fn write_report_to(
    out_dir: &Path,
    title: &str,
    summaries: &[IterationSummary],
    metrics: &[Json],
) -> Result<Vec<PathBuf>> {
    let summaries = sorted_unique(summaries);
    let figures = figures::figures(&summaries, metrics);
    let mut written = Vec::new();
    for f in &figures {
        let path = out_dir.join(f.file);
        match &f.chart {
            Ok(chart) => {
                let png = plot::render_png(chart).map_err(|source| ReportError::Plot {
                    path: path.clone(),
                    source,
                })?;
                write_file_atomic(&path, &png)?;
                written.push(path);
            }
            Err(_) => match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(ReportError::Io { path, source }),
            },
        }
    }
    let refs: Vec<markdown::FigureRef<'_>> = figures
        .iter()
        .map(|f| markdown::FigureRef {
            file: f.file,
            caption: f.caption,
            drawn: f.chart.as_ref().map(|_| ()).map_err(String::as_str),
        })
        .collect();
    let steps = markdown::StepCounts {
        sft: series::step_series(metrics, "sft", "step").points.len(),
        grpo: series::step_series(metrics, "grpo", "step").points.len(),
    };
    let text = markdown::render(title, &summaries, &refs, steps);
    let md_path = out_dir.join("report.md");
    write_file_atomic(&md_path, text.as_bytes())?;
    written.push(md_path);
    Ok(written)
}

/// Summaries sorted by iteration, the last of any repeated iteration kept.
fn sorted_unique(summaries: &[IterationSummary]) -> Vec<IterationSummary> {
    let mut by_iter = std::collections::BTreeMap::new();
    for s in summaries {
        by_iter.insert(s.iteration, s);
    }
    by_iter.into_values().cloned().collect()
}

/// Reads what a report is drawn from out of a run directory: every `iter_NNNN/summary.json`
/// (iterations without one are skipped) and the lines of `metrics.jsonl` (none if it is absent).
pub fn load_run(run_dir: &Path) -> Result<(Vec<IterationSummary>, Vec<Json>)> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    let mut summaries = Vec::new();
    for entry in std::fs::read_dir(run_dir).map_err(io(run_dir))? {
        let entry = entry.map_err(io(run_dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_iter = name
            .strip_prefix("iter_")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let path = entry.path().join("summary.json");
        if !is_iter || !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let summary: IterationSummary =
            serde_json::from_str(&text).map_err(|e| ReportError::Json {
                path: path.clone(),
                line: e.line(),
                msg: e.to_string(),
            })?;
        summaries.push(summary);
    }
    summaries.sort_by_key(|s| s.iteration);
    let path = run_dir.join("metrics.jsonl");
    let metrics = match std::fs::read_to_string(&path) {
        Ok(text) => parse_jsonl(&path, &text)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(ReportError::Io { path, source }),
    };
    Ok((summaries, metrics))
}

fn parse_jsonl(path: &Path, text: &str) -> Result<Vec<Json>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|e| ReportError::Json {
                path: path.to_path_buf(),
                line: n + 1,
                msg: e.to_string(),
            })
        })
        .collect()
}
