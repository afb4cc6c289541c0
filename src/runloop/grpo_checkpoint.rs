//! The GRPO phase's checkpoint inside an iteration directory, so a killed run resumes inside
//! the phase with the results of an uninterrupted one.
//!
//! * `grpo_checkpoint/` — `adapter/`, the optimizer state and `progress.json` (written last):
//!   a new version is written as `grpo_checkpoint.partial/` and renamed into place; the old one
//!   is renamed to `.trash` before it is deleted, so a half-deleted checkpoint is never taken
//!   for a complete one.
//! * `grpo_checkpoint.rollouts.jsonl` — the phase's rollouts, appended at each checkpoint
//!   (`progress.json` records how many lines belong to it; lines after those, written before a
//!   kill, are dropped on resume). Rewriting every rollout at every checkpoint made the I/O grow
//!   with the square of the steps.
//!
//! The checkpoint is removed once the phase is recorded ([`GrpoCheckpoint::remove`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::error::{Result, RunError};
use super::grpo_phase::GrpoProgress;
use super::rundir::RunDir;

const NAME: &str = "grpo_checkpoint";

/// The GRPO checkpoint of one iteration directory.
pub struct GrpoCheckpoint {
    current: PathBuf,
    partial: PathBuf,
    trash: PathBuf,
    log: PathBuf,
    /// Rollout lines in the log that belong to the newest checkpoint.
    logged: usize,
}

/// A checkpoint found on disk: progress (its rollouts restored) and where its files are.
pub struct SavedGrpo {
    pub progress: GrpoProgress,
    pub adapter: PathBuf,
    pub optimizer: PathBuf,
}

impl GrpoCheckpoint {
    pub fn new(iter_dir: &Path) -> Self {
        Self {
            current: iter_dir.join(NAME),
            partial: iter_dir.join(format!("{NAME}.partial")),
            trash: iter_dir.join(format!("{NAME}.trash")),
            log: iter_dir.join(format!("{NAME}.rollouts.jsonl")),
            logged: 0,
        }
    }

    /// The directory of the checkpoint in place.
    pub fn dir(&self) -> &Path {
        &self.current
    }

    /// Settles an interrupted save and reads the checkpoint in place, if any. The rollout log
    /// is cut back to the lines the checkpoint counts; without a checkpoint it is removed.
    pub fn load(&mut self, rd: &RunDir) -> Result<Option<SavedGrpo>> {
        self.settle()?;
        let progress_file = self.current.join("progress.json");
        let Some(mut progress) = rd.read_json::<GrpoProgress>(&progress_file)? else {
            remove_file(&self.log)?;
            self.logged = 0;
            return Ok(None);
        };
        match progress.rollouts_logged {
            // Cut in place (no temporary file that a kill could leave behind); repeatable.
            Some(n) => progress.rollouts = read_log(&self.log, n)?,
            // A checkpoint of an older version holds its rollouts in progress.json itself: the
            // log is written from them (a kill here leaves the same state to start over from).
            None => {
                remove_file(&self.log)?;
                append_log(&self.log, &progress.rollouts)?;
            }
        }
        self.logged = progress.rollouts.len();
        Ok(Some(SavedGrpo {
            progress,
            adapter: self.current.join("adapter"),
            optimizer: self.current.join(crate::train::OPTIMIZER_FILE),
        }))
    }

    /// Saves a checkpoint: `write` fills the new directory (adapter, optimizer state); the new
    /// rollouts are appended to the log; `progress.json` goes last, then the rename.
    pub fn save(
        &mut self,
        rd: &RunDir,
        progress: &mut GrpoProgress,
        write: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        remove_dir(&self.partial)?;
        write(&self.partial)?;
        let new = progress.rollouts.get(self.logged..).unwrap_or_default();
        append_log(&self.log, new)?;
        self.logged = progress.rollouts.len();
        progress.rollouts_logged = Some(self.logged);
        // Written last: a `.partial` with progress.json is complete (and the newest).
        rd.write_json(&self.partial.join("progress.json"), progress)?;
        self.settle()
    }

    /// Removes the checkpoint and its rollout log (once the phase is recorded).
    pub fn remove(&self) -> Result<()> {
        remove_dir(&self.partial)?;
        if self.current.exists() {
            remove_dir(&self.trash)?;
            rename(&self.current, &self.trash)?;
        }
        remove_dir(&self.trash)?;
        remove_file(&self.log)
    }

    /// Makes the newest complete checkpoint the one in place: a `.partial` whose progress.json
    /// exists (written last) replaces the current one. Every step is a rename or the deletion
    /// of a directory no longer in place, so a kill at any point leaves a complete checkpoint
    /// found by the next call.
    fn settle(&self) -> Result<()> {
        if self.partial.join("progress.json").is_file() {
            if self.current.exists() {
                remove_dir(&self.trash)?;
                rename(&self.current, &self.trash)?;
            }
            rename(&self.partial, &self.current)?;
        }
        remove_dir(&self.trash)
    }
}

/// The first `n` rollouts of the log; the log is cut after them (lines after them, or a torn
/// last line, were written after the checkpoint and are not part of it).
fn read_log(path: &Path, n: usize) -> Result<Vec<Json>> {
    // Bytes, not text: a kill can cut the last line inside a multi-byte character.
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && n == 0 => return Ok(Vec::new()),
        Err(e) => return Err(io_err(path, e)),
    };
    let mut end = 0;
    let mut out = Vec::with_capacity(n);
    for (i, line) in bytes.split_inclusive(|&b| b == b'\n').take(n).enumerate() {
        let Some(body) = line.strip_suffix(b"\n") else {
            break; // a torn line is not one of the checkpoint's
        };
        out.push(serde_json::from_slice(body).map_err(|e| RunError::Corrupt {
            path: path.to_path_buf(),
            message: format!("line {}: {e}", i + 1),
        })?);
        end += line.len();
    }
    if out.len() < n {
        return Err(RunError::Corrupt {
            path: path.to_path_buf(),
            message: format!(
                "the GRPO checkpoint counts {n} rollouts but the log holds {}; remove the \
                 grpo_checkpoint directory beside it to redo the GRPO phase",
                out.len()
            ),
        });
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    f.set_len(end as u64).map_err(|e| io_err(path, e))?;
    f.sync_data().map_err(|e| io_err(path, e))?;
    Ok(out)
}

/// Appends rollouts to the log and syncs it before the checkpoint that counts them is written.
fn append_log(path: &Path, rollouts: &[Json]) -> Result<()> {
    let mut buf = Vec::new();
    for r in rollouts {
        serde_json::to_writer(&mut buf, r).map_err(|e| RunError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        buf.push(b'\n');
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    f.write_all(&buf).map_err(|e| io_err(path, e))?;
    f.sync_data().map_err(|e| io_err(path, e))
}

fn io_err(p: &Path, source: std::io::Error) -> RunError {
    RunError::Io {
        path: p.to_path_buf(),
        source,
    }
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| io_err(from, e))
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(dir, e)),
        _ => Ok(()),
    }
}

fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err(path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run_dir(tmp: &Path) -> RunDir {
        let text = format!(
            "[run]\nname = \"r\"\noutput_dir = \"{}\"\n[model]\nsource = \"none\"\n",
            tmp.display()
        );
        let cfg = crate::config::Config::from_toml(&text, Path::new("t.toml")).unwrap();
        RunDir::open(&cfg).unwrap()
    }

    fn progress(steps: usize, rollouts: usize) -> GrpoProgress {
        let mut p = GrpoProgress::default();
        p.steps_done = steps;
        p.rollouts = (0..rollouts).map(|i| json!({ "n": i })).collect();
        p
    }

    fn save(ck: &mut GrpoCheckpoint, rd: &RunDir, p: &mut GrpoProgress) {
        ck.save(rd, p, |d| {
            std::fs::create_dir_all(d.join("adapter")).map_err(|e| io_err(d, e))
        })
        .unwrap();
    }

    #[test]
    fn rollouts_are_appended_once_and_cut_back_to_the_checkpoint_on_resume() {
        let tmp = tempfile::tempdir().unwrap();
        let rd = run_dir(tmp.path());
        let it = tmp.path().join("iter");
        std::fs::create_dir_all(&it).unwrap();
        let mut ck = GrpoCheckpoint::new(&it);
        assert!(ck.load(&rd).unwrap().is_none());
        let (mut p1, mut p2) = (progress(1, 2), progress(2, 4));
        save(&mut ck, &rd, &mut p1);
        save(&mut ck, &rd, &mut p2);
        let log = it.join("grpo_checkpoint.rollouts.jsonl");
        assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 4);
        // progress.json does not repeat the rollouts.
        let saved = std::fs::read_to_string(it.join("grpo_checkpoint/progress.json")).unwrap();
        assert!(!saved.contains("\"n\""), "{saved}");

        // A kill after the next append but before its progress.json, mid-line.
        // (The torn line ends inside the two-byte UTF-8 "é".)
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(b"{\"n\": 4}\n{\"n\": \"\xc3")
            .unwrap();
        let mut again = GrpoCheckpoint::new(&it);
        let s = again.load(&rd).unwrap().unwrap();
        assert_eq!(s.progress.steps_done, 2);
        assert_eq!(s.progress.rollouts, progress(2, 4).rollouts);
        let cut = std::fs::read_to_string(&log).unwrap();
        assert_eq!(cut.lines().count(), 4);
        assert!(cut.ends_with("{\"n\":3}\n"), "{cut}");
        let mut p3 = progress(3, 6);
        save(&mut again, &rd, &mut p3);
        let back = GrpoCheckpoint::new(&it).load(&rd).unwrap().unwrap();
        assert_eq!(back.progress.rollouts, progress(3, 6).rollouts);

        again.remove().unwrap();
        let left: Vec<_> = std::fs::read_dir(&it).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_log_shorter_than_the_checkpoint_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let rd = run_dir(tmp.path());
        let mut ck = GrpoCheckpoint::new(tmp.path());
        save(&mut ck, &rd, &mut progress(1, 3));
        let log = tmp.path().join("grpo_checkpoint.rollouts.jsonl");
        std::fs::write(&log, "{}\n").unwrap();
        let err = GrpoCheckpoint::new(tmp.path()).load(&rd).err().unwrap();
        assert!(err.to_string().contains("counts 3 rollouts"), "{err}");
    }

    #[test]
    fn a_checkpoint_with_its_rollouts_inline_still_resumes() {
        let tmp = tempfile::tempdir().unwrap();
        let rd = run_dir(tmp.path());
        let dir = tmp.path().join("grpo_checkpoint");
        std::fs::create_dir_all(&dir).unwrap();
        // The format before the rollout log: progress.json carried them.
        let mut old = serde_json::to_value(progress(1, 0)).unwrap();
        old["rollouts"] = json!([{ "n": 0 }, { "n": 1 }]);
        std::fs::write(dir.join("progress.json"), old.to_string()).unwrap();
        let mut ck = GrpoCheckpoint::new(tmp.path());
        let s = ck.load(&rd).unwrap().unwrap();
        assert_eq!(s.progress.rollouts, progress(1, 2).rollouts);
        save(&mut ck, &rd, &mut progress(2, 3));
        let log = tmp.path().join("grpo_checkpoint.rollouts.jsonl");
        assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 3);
    }
}
