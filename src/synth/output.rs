//! Output files of a synthesis run, written to temporary names and renamed:
//! `F.jsonl` (accepted trajectories, OpenAI chat format), `F.tokens.jsonl` (their token-level
//! records), `F.rejected.jsonl` (rejected ones with the reason), `F.tasks.jsonl` (the plan),
//! `F.toolsets.jsonl`, `F.refine.jsonl` (the MCP-tree refinement's merges) and `F.stats.json`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value as Json};

use super::episode::Episode;
use super::error::{Error, Result};
use super::plan::Task;
use super::stats::Stats;
use super::verify::Rejection;
use crate::toolsets::Toolset;

/// The files of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputFiles {
    /// Accepted trajectories (OpenAI chat JSONL).
    pub chat: PathBuf,
    /// Token records of the accepted trajectories.
    pub tokens: PathBuf,
    /// Rejected trajectories with reasons.
    pub rejected: PathBuf,
    /// Planned tasks.
    pub tasks: PathBuf,
    /// Toolsets.
    pub toolsets: PathBuf,
    /// Merges of the MCP-tree refinement (one JSON line each).
    pub refine: PathBuf,
    /// Statistics.
    pub stats: PathBuf,
}

impl OutputFiles {
    /// Paths next to `out` (`x.jsonl` → `x.tokens.jsonl`, ...).
    pub fn for_output(out: &Path) -> OutputFiles {
        let stem = match out.file_name().and_then(|n| n.to_str()) {
            Some(n) => n.strip_suffix(".jsonl").unwrap_or(n).to_string(),
            None => "synth".to_string(),
        };
        let sibling = |suffix: &str| out.with_file_name(format!("{stem}{suffix}"));
        OutputFiles {
            chat: out.to_path_buf(),
            tokens: sibling(".tokens.jsonl"),
            rejected: sibling(".rejected.jsonl"),
            tasks: sibling(".tasks.jsonl"),
            toolsets: sibling(".toolsets.jsonl"),
            refine: sibling(".refine.jsonl"),
            stats: sibling(".stats.json"),
        }
    }
}

/// Writes `lines` (one JSON value each) to `path` atomically.
pub fn write_jsonl(path: &Path, lines: impl IntoIterator<Item = Json>) -> Result<()> {
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = tmp_name(path);
    let file = std::fs::File::create(&tmp).map_err(err)?;
    let mut w = std::io::BufWriter::new(file);
    for line in lines {
        serde_json::to_writer(&mut w, &line).map_err(|e| err(e.into()))?;
        w.write_all(b"\n").map_err(err)?;
    }
    w.flush().map_err(err)?;
    drop(w);
    std::fs::rename(&tmp, path).map_err(err)
}

fn tmp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes every output file.
pub fn write_all(
    files: &OutputFiles,
    tasks: &[Task],
    toolsets: &[Toolset],
    episodes: &[Episode],
    verdicts: &[std::result::Result<(), Rejection>],
    stats: &Stats,
) -> Result<()> {
    let accepted: Vec<&Episode> = episodes
        .iter()
        .zip(verdicts)
        .filter(|(_, v)| v.is_ok())
        .map(|(e, _)| e)
        .collect();
    write_jsonl(
        &files.chat,
        accepted.iter().map(|e| e.trajectory.to_chat_record()),
    )?;
    write_jsonl(
        &files.tokens,
        accepted.iter().map(|e| e.trajectory.to_token_record()),
    )?;
    write_jsonl(
        &files.rejected,
        episodes.iter().zip(verdicts).filter_map(|(e, v)| {
            v.as_ref().err().map(|r| {
                let mut rec = e.trajectory.to_chat_record();
                if let Some(m) = rec.as_object_mut() {
                    m.insert("reason".into(), json!(r.reason.as_str()));
                    m.insert("detail".into(), json!(r.detail));
                }
                rec
            })
        }),
    )?;
    write_jsonl(
        &files.tasks,
        tasks
            .iter()
            .map(|t| serde_json::to_value(t).unwrap_or(Json::Null)),
    )?;
    write_jsonl(
        &files.toolsets,
        toolsets
            .iter()
            .map(|t| serde_json::to_value(t).unwrap_or(Json::Null)),
    )?;
    let text = serde_json::to_string_pretty(stats).unwrap_or_default();
    let err = |source| Error::Write {
        path: files.stats.clone(),
        source,
    };
    let tmp = tmp_name(&files.stats);
    std::fs::write(&tmp, text + "\n").map_err(err)?;
    std::fs::rename(&tmp, &files.stats).map_err(err)
}
