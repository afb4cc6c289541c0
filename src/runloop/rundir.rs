//! The run directory (DESIGN.md §3) and its crash-safety bookkeeping.
//!
//! ```text
//! runs/<name>/config.resolved.toml
//! runs/<name>/latest                 last complete iteration ("iter_0002"); written last
//! runs/<name>/metrics.jsonl          rebuilt from the iterations' metrics files after each phase
//! runs/<name>/heldout/               held-out tasks + the toolsets they come from
//! runs/<name>/iter_NNNN/phases.json  completed phases of the iteration
//! runs/<name>/iter_NNNN/metrics/<phase>.jsonl
//! ```
//!
//! A phase writes its outputs (each atomically) and only then records itself in `phases.json`
//! (atomically). A process killed at any point therefore restarts at the first phase not recorded,
//! rewriting any outputs it may have left: nothing a finished phase wrote is lost, and metrics are
//! never duplicated because they live in per-phase files that a rerun replaces.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::error::{Result, RunError};
use crate::checkpoint::{write_file_atomic, write_json_atomic};
use crate::config::Config;

/// One completed phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub phase: String,
    pub seconds: f64,
}

/// `phases.json` of one iteration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    pub completed: Vec<PhaseRecord>,
}

impl Phases {
    /// Whether `phase` is recorded as complete.
    pub fn done(&self, phase: &str) -> bool {
        self.completed.iter().any(|p| p.phase == phase)
    }
}

/// Deletes the hidden temporaries (`.name.tmp-…`, `.name.old-…`, and `.name.tmp` of the
/// synthesis writers) that a killed process may have left behind in the run directory; their
/// phases are rerun, so nothing in them is needed.
fn remove_stale_temporaries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    for entry in entries {
        let p = entry.map_err(|e| io(dir, e))?.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stale = name.starts_with('.')
            && (name.contains(".tmp-") || name.contains(".old-") || name.ends_with(".tmp"));
        // `.{name}.old-…` is the previous version of `name`, moved aside just before the new one
        // was renamed in: when a kill came in between, it is the only version, so it goes back.
        let original = name
            .strip_prefix('.')
            .and_then(|n| n.rsplit_once(".old-"))
            .map(|(orig, _)| p.with_file_name(orig));
        if let Some(orig) = original.filter(|o| stale && !o.exists()) {
            std::fs::rename(&p, &orig).map_err(|e| io(&p, e))?;
            tracing::info!(
                "restored {} (a replacement was interrupted)",
                orig.display()
            );
            continue;
        }
        if stale {
            if p.is_dir() {
                std::fs::remove_dir_all(&p).map_err(|e| io(&p, e))?;
            } else {
                std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
            }
            removed.push(p);
        } else if p.is_dir() {
            removed.extend(remove_stale_temporaries(&p)?);
        }
    }
    Ok(removed)
}

/// A run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    root: PathBuf,
}

fn io(path: &Path, e: std::io::Error) -> RunError {
    RunError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

impl RunDir {
    /// Opens (creating it if needed) the run directory of `cfg`. An existing run must have been
    /// started with the same resolved config: resuming with different settings would mix two
    /// experiments, so it is refused with the differing file named.
    pub fn open(cfg: &Config) -> Result<RunDir> {
        let root = cfg.run_dir();
        std::fs::create_dir_all(&root).map_err(|e| io(&root, e))?;
        let resolved = root.join("config.resolved.toml");
        let now = cfg.to_toml();
        if resolved.is_file() {
            let before = std::fs::read_to_string(&resolved).map_err(|e| io(&resolved, e))?;
            if before != now {
                // A run started by an earlier version lacks the keys added since; they take
                // their defaults. Any other difference is a different experiment.
                // A run from before `[synth.scenarios]` planned without personas or difficulty
                // levels: that is its setting, not today's default.
                // Likewise a run from before `loop.gap_source` took its mix from the held-out
                // accuracy.
                // And a run from before `synth.simulator_max_new_tokens` synthesized with the
                // programmatic simulators whatever `user_simulator` / `server_simulator` said.
                let sims_ignored = !before.contains("simulator_max_new_tokens");
                let old = Config::from_toml(&before, &resolved).ok().map(|mut old| {
                    if !before.contains("[synth.scenarios") {
                        old.synth.scenarios = crate::config::ScenarioSection::off();
                    }
                    if !before.contains("gap_source") {
                        old.loop_.gap_source = crate::config::GapSource::Heldout;
                    }
                    if sims_ignored {
                        old.synth.user_simulator = crate::config::SimMode::Programmatic;
                        old.synth.server_simulator = crate::config::SimMode::Programmatic;
                    }
                    old.to_toml()
                });
                if old.as_deref() != Some(now.as_str()) {
                    // Say how to resume when the LLM simulators are the only difference.
                    let mut programmatic = cfg.clone();
                    programmatic.synth.user_simulator = crate::config::SimMode::Programmatic;
                    programmatic.synth.server_simulator = crate::config::SimMode::Programmatic;
                    let hint = if sims_ignored && old == Some(programmatic.to_toml()) {
                        "; this run was started by a version whose loop synthesized with the \
                         programmatic simulators whatever synth.user_simulator / \
                         synth.server_simulator said: set both to \"programmatic\" to resume it"
                    } else {
                        ""
                    };
                    return Err(RunError::ConfigChanged {
                        path: resolved,
                        hint: hint.to_string(),
                    });
                }
                tracing::info!(
                    "{}: keys added since the run started take their defaults (file rewritten)",
                    resolved.display()
                );
                cfg.write_resolved(&root)?;
            }
        } else {
            cfg.write_resolved(&root)?;
        }
        for p in remove_stale_temporaries(&root)? {
            tracing::info!("removed {} (left by an interrupted write)", p.display());
        }
        Ok(RunDir { root })
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `iter_NNNN` (zero-padded to 4).
    pub fn iter_name(k: usize) -> String {
        format!("iter_{k:04}")
    }

    /// The directory of iteration `k`.
    pub fn iter_dir(&self, k: usize) -> PathBuf {
        self.root.join(Self::iter_name(k))
    }

    /// The held-out set's directory.
    pub fn heldout_dir(&self) -> PathBuf {
        self.root.join("heldout")
    }

    /// Completed phases of iteration `k` (none when it has not started). A corrupt file is an
    /// error naming it, never silently treated as empty.
    pub fn phases(&self, k: usize) -> Result<Phases> {
        let p = self.iter_dir(k).join("phases.json");
        if !p.exists() {
            return Ok(Phases::default());
        }
        let text = std::fs::read_to_string(&p).map_err(|e| io(&p, e))?;
        serde_json::from_str(&text).map_err(|e| RunError::Corrupt {
            path: p,
            message: e.to_string(),
        })
    }

    /// Records `phase` of iteration `k` as complete (atomically, after its outputs).
    pub fn mark_done(&self, k: usize, phase: &str, seconds: f64) -> Result<()> {
        let mut ph = self.phases(k)?;
        if !ph.done(phase) {
            ph.completed.push(PhaseRecord {
                phase: phase.to_string(),
                seconds,
            });
        }
        let p = self.iter_dir(k).join("phases.json");
        write_json_atomic(&p, &serde_json::to_value(&ph).unwrap_or(Json::Null))?;
        Ok(())
    }

    /// Writes the metrics lines of one phase (replacing an earlier attempt's).
    pub fn write_phase_metrics(&self, k: usize, phase: &str, lines: &[Json]) -> Result<()> {
        let mut text = String::new();
        for l in lines {
            text.push_str(&l.to_string());
            text.push('\n');
        }
        let p = self
            .iter_dir(k)
            .join("metrics")
            .join(format!("{phase}.jsonl"));
        write_file_atomic(&p, text.as_bytes())?;
        Ok(())
    }

    /// Every metrics line of the completed phases, in iteration and phase order; each phase's
    /// step lines are followed by one line with its wall time, `timing_s/<phase>` (the time of
    /// the attempt that completed it, from `phases.json`).
    pub fn all_metrics(&self, upto: usize) -> Result<Vec<Json>> {
        let mut out = Vec::new();
        for k in 0..=upto {
            let ph = self.phases(k)?;
            for rec in &ph.completed {
                let p = self
                    .iter_dir(k)
                    .join("metrics")
                    .join(format!("{}.jsonl", rec.phase));
                if p.is_file() {
                    let text = std::fs::read_to_string(&p).map_err(|e| io(&p, e))?;
                    for (i, line) in text.lines().enumerate() {
                        let v = serde_json::from_str(line).map_err(|e| RunError::Corrupt {
                            path: p.clone(),
                            message: format!("line {}: {e}", i + 1),
                        })?;
                        out.push(v);
                    }
                }
                let mut timing = serde_json::Map::new();
                timing.insert("iteration".into(), k.into());
                timing.insert("phase".into(), rec.phase.clone().into());
                timing.insert(format!("timing_s/{}", rec.phase), rec.seconds.into());
                out.push(Json::Object(timing));
            }
        }
        Ok(out)
    }

    /// Rebuilds `metrics.jsonl` from the completed phases of iterations `0..=upto`.
    pub fn rebuild_metrics(&self, upto: usize) -> Result<Vec<Json>> {
        let all = self.all_metrics(upto)?;
        let mut text = String::new();
        for l in &all {
            text.push_str(&l.to_string());
            text.push('\n');
        }
        write_file_atomic(&self.root.join("metrics.jsonl"), text.as_bytes())?;
        Ok(all)
    }

    /// The last complete iteration, from `latest`.
    pub fn latest(&self) -> Result<Option<usize>> {
        let p = self.root.join("latest");
        if !p.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&p).map_err(|e| io(&p, e))?;
        let name = text.trim();
        name.strip_prefix("iter_")
            .and_then(|n| n.parse::<usize>().ok())
            .map(Some)
            .ok_or_else(|| RunError::Corrupt {
                path: p.clone(),
                message: format!("expected `iter_NNNN`, found {name:?}"),
            })
    }

    /// Names iteration `k` as the last complete one (the last write of an iteration).
    pub fn set_latest(&self, k: usize) -> Result<()> {
        let text = format!("{}\n", Self::iter_name(k));
        write_file_atomic(&self.root.join("latest"), text.as_bytes())?;
        Ok(())
    }

    /// Marks iteration `k` as the best so far (`best` names it).
    pub fn set_best(&self, k: usize) -> Result<()> {
        let text = format!("{}\n", Self::iter_name(k));
        write_file_atomic(&self.root.join("best"), text.as_bytes())?;
        Ok(())
    }

    /// The iteration `best` names.
    pub fn best(&self) -> Option<usize> {
        std::fs::read_to_string(self.root.join("best"))
            .ok()
            .and_then(|t| t.trim().strip_prefix("iter_")?.parse().ok())
    }

    /// Deletes the checkpoints (adapter, optimizer, merged export) of iterations older than the
    /// last `keep` before `current`, except the best one; summaries, metrics and phases stay.
    pub fn prune(&self, current: usize, keep: usize) -> Result<Vec<PathBuf>> {
        let best = self.best();
        let mut removed = Vec::new();
        for k in 0..(current + 1).saturating_sub(keep) {
            if Some(k) == best {
                continue;
            }
            for name in ["adapter", "merged", "optimizer.safetensors"] {
                let p = self.iter_dir(k).join(name);
                if p.is_dir() {
                    std::fs::remove_dir_all(&p).map_err(|e| io(&p, e))?;
                    removed.push(p);
                } else if p.is_file() {
                    std::fs::remove_file(&p).map_err(|e| io(&p, e))?;
                    removed.push(p);
                }
            }
        }
        Ok(removed)
    }

    /// Reads a JSON file of the run (`None` when absent).
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Result<Option<T>> {
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(path).map_err(|e| io(path, e))?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| RunError::Corrupt {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
    }

    /// Writes a serializable value as pretty JSON, atomically.
    pub fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> Result<()> {
        let v = serde_json::to_value(value).map_err(|e| RunError::Corrupt {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        write_json_atomic(path, &v)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path, seed: u64) -> Config {
        let text = format!(
            "[run]\nname = \"r\"\noutput_dir = \"{}\"\nseed = {seed}\n[model]\nsource = \"none\"\n",
            dir.display()
        );
        Config::from_toml(&text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn a_run_from_before_new_keys_resumes_and_a_changed_value_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 1);
        RunDir::open(&cfg).unwrap();
        let resolved = cfg.run_dir().join("config.resolved.toml");
        let full = std::fs::read_to_string(&resolved).unwrap();
        // The file an earlier version wrote: without the refinement keys.
        let old: String = full
            .lines()
            .filter(|l| {
                ![
                    "refine",
                    "merge_threshold",
                    "refine_passes",
                    "max_candidates",
                ]
                .iter()
                .any(|k| l.starts_with(&format!("{k} =")))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(old.len() < full.len(), "the keys were removed");
        std::fs::write(&resolved, &old).unwrap();
        RunDir::open(&cfg).unwrap();
        assert_eq!(
            std::fs::read_to_string(&resolved).unwrap(),
            full,
            "rewritten"
        );
        // A value that differs is another experiment.
        std::fs::write(&resolved, &old).unwrap();
        let err = RunDir::open(&config(dir.path(), 2)).unwrap_err();
        assert!(matches!(err, RunError::ConfigChanged { .. }), "{err}");
        assert_eq!(
            std::fs::read_to_string(&resolved).unwrap(),
            old,
            "left as it was"
        );
    }

    #[test]
    fn a_run_from_before_gap_source_resumes_only_with_the_heldout_rule() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), 1);
        cfg.loop_.gap_source = crate::config::GapSource::Heldout;
        RunDir::open(&cfg).unwrap();
        let resolved = cfg.run_dir().join("config.resolved.toml");
        let full = std::fs::read_to_string(&resolved).unwrap();
        let old: String = full
            .lines()
            .filter(|l| !l.starts_with("gap_source ="))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(old.len() < full.len());
        std::fs::write(&resolved, &old).unwrap();
        RunDir::open(&cfg).unwrap();
        std::fs::write(&resolved, &old).unwrap();
        let err = RunDir::open(&config(dir.path(), 1)).unwrap_err();
        assert!(matches!(err, RunError::ConfigChanged { .. }), "{err}");
    }

    #[test]
    fn a_run_from_before_loop_simulators_resumes_only_with_programmatic_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), 1);
        cfg.synth.user_simulator = crate::config::SimMode::Llm;
        RunDir::open(&cfg).unwrap();
        let resolved = cfg.run_dir().join("config.resolved.toml");
        let full = std::fs::read_to_string(&resolved).unwrap();
        let old: String = full
            .lines()
            .filter(|l| !l.starts_with("simulator_max_new_tokens ="))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(old.len() < full.len());
        std::fs::write(&resolved, &old).unwrap();
        // The loop of that version ignored "llm": resuming with it would switch simulators.
        let err = RunDir::open(&cfg).unwrap_err();
        assert!(matches!(err, RunError::ConfigChanged { .. }), "{err}");
        assert!(
            err.to_string().contains("set both to \"programmatic\""),
            "{err}"
        );
        // With the simulators that actually played, it resumes.
        RunDir::open(&config(dir.path(), 1)).unwrap();
    }

    #[test]
    fn metrics_follow_each_phase_with_its_wall_time() {
        let dir = tempfile::tempdir().unwrap();
        let rd = RunDir::open(&config(dir.path(), 1)).unwrap();
        rd.write_phase_metrics(0, "sft", &[serde_json::json!({"step": 0, "loss": 1.5})])
            .unwrap();
        rd.mark_done(0, "synth", 12.5).unwrap();
        rd.mark_done(0, "sft", 3.0).unwrap();
        // A phase not recorded as done contributes nothing, even with a metrics file.
        rd.write_phase_metrics(1, "grpo", &[serde_json::json!({"step": 0})])
            .unwrap();
        let all = rd.rebuild_metrics(1).unwrap();
        let want = serde_json::json!([
            {"iteration": 0, "phase": "synth", "timing_s/synth": 12.5},
            {"step": 0, "loss": 1.5},
            {"iteration": 0, "phase": "sft", "timing_s/sft": 3.0},
        ]);
        assert_eq!(Json::Array(all), want);
        let text = std::fs::read_to_string(dir.path().join("r/metrics.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 3);
    }

    /// A replacement killed between moving the old version aside and renaming the new one in
    /// leaves only `.{name}.old-…`: opening the run puts it back; other temporaries go.
    #[test]
    fn an_interrupted_replacement_is_undone_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), 1);
        let rd = RunDir::open(&cfg).unwrap();
        let iter = rd.iter_dir(1);
        let old = iter.join(".adapter.old-123-4");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("adapter_config.json"), "{}").unwrap();
        let tmp = iter.join(".adapter.tmp-123-5");
        std::fs::create_dir_all(&tmp).unwrap();
        // An `.old-` whose original is in place is just stale.
        std::fs::create_dir_all(iter.join("eval")).unwrap();
        std::fs::write(iter.join(".eval.old-9-9"), "x").unwrap();
        std::fs::write(iter.join(".rewards.jsonl.tmp"), "{").unwrap();
        RunDir::open(&cfg).unwrap();
        assert!(!iter.join(".rewards.jsonl.tmp").exists());
        assert!(iter.join("adapter/adapter_config.json").is_file());
        assert!(!old.exists() && !tmp.exists());
        assert!(!iter.join(".eval.old-9-9").exists() && iter.join("eval").is_dir());
    }

    #[test]
    fn a_run_from_before_scenarios_resumes_only_with_scenarios_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path(), 1);
        cfg.synth.scenarios = crate::config::ScenarioSection::off();
        RunDir::open(&cfg).unwrap();
        let resolved = cfg.run_dir().join("config.resolved.toml");
        let full = std::fs::read_to_string(&resolved).unwrap();
        // The file an earlier version wrote: without the `[synth.scenarios*]` tables.
        let mut inside = false;
        let old: String = full
            .lines()
            .filter(|l| {
                if l.starts_with('[') {
                    inside = l.starts_with("[synth.scenarios");
                }
                !inside
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(!old.contains("personas"), "{old}");
        std::fs::write(&resolved, &old).unwrap();
        RunDir::open(&cfg).unwrap();
        assert_eq!(std::fs::read_to_string(&resolved).unwrap(), full);
        // With today's defaults (personas on) it would be another experiment.
        std::fs::write(&resolved, &old).unwrap();
        let err = RunDir::open(&config(dir.path(), 1)).unwrap_err();
        assert!(matches!(err, RunError::ConfigChanged { .. }), "{err}");
    }
}
