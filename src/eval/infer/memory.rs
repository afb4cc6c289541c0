//! Inference for the memory categories (`memory_kv`, `memory_rec_sum`), in the official order:
//! each scenario's prerequisite conversations run one after another, each starting from the
//! memory the previous one left, and the questions run last, each from the memory the whole
//! chain left (`_prepare_snapshot` / `_flush_memory_to_local_file`).
//!
//! Layout, as the official harness writes it under `result/<model>/agentic/memory/<backend>/`:
//! `BFCL_v4_<category>_prereq_result.json` (the conversations), `BFCL_v4_<category>_result.json`
//! (the questions; the scored file) and `memory_snapshot/`: `prereq_checkpoints/<id>.json` after
//! each completed conversation, and `<scenario>_final.json`, the latest one.
//!
//! Resuming: a conversation counts as done once its result line is written, and its checkpoint
//! is written before that line (a checkpoint without its line, left by a kill, is deleted when
//! the conversation runs again). A conversation starts from the checkpoint of the latest earlier
//! conversation of its chain that completed; one that ended in an inference error saves no
//! memory, as in the official harness, where the next one then starts from the last saved
//! memory. A completed conversation whose checkpoint is missing or malformed is an error naming
//! the file. When a chain has a conversation to (re)run, every later conversation of the chain
//! and every question of the scenario run again too (their answers, checkpoints and the
//! scenario's final snapshot are removed first, so a kill during the redo leaves it still to
//! do), so answers always come from the memory of the chain as it now stands, and a killed run
//! resumes to the files an uninterrupted one writes (given deterministic generation).
//!
//! With `limit`, only the scenarios of the kept questions have their conversations run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;

use super::generator::Generator;
use super::multi_turn::{run_conversations, StepSettings};
use super::select::pick_entries;
use super::store::{write_atomic, ResultFile};
use super::summary::InferenceStats;
use super::{Error, Result};
use crate::eval::agentic::data::{load_memory_dataset, MemoryDataset};
use crate::eval::category::{directory, VERSION_PREFIX};
use crate::eval::multi_turn::driver::{Conversation, Outcome};
use crate::eval::multi_turn::driver_data::MultiTurnEntry;
use crate::eval::multi_turn::executor::new_backend;
use crate::eval::multi_turn::PyProcess;
use crate::eval::pyjson;
use crate::eval::pyval::{PyDict, PyVal};

/// One memory category to run.
pub struct MemoryPlan {
    /// `memory_kv` or `memory_rec_sum`.
    pub category: String,
    /// Questions in the dataset.
    pub dataset_count: usize,
    /// The questions' result file (the scored one).
    pub file: ResultFile,
    /// The prerequisite conversations' result file.
    pub prereq_file: ResultFile,
    /// `memory_snapshot/`.
    pub snapshot_dir: PathBuf,
    /// Per needed scenario, its whole chain (done conversations included: their checkpoints
    /// seed the later ones) and the position from which it runs.
    pub chains: Vec<Chain>,
    /// Questions still to answer.
    pub pending: Vec<MultiTurnEntry>,
    /// Questions answered by this run.
    pub new_entries: usize,
}

/// One scenario's prerequisite conversations.
pub struct Chain {
    /// `customer`, ...
    pub scenario: String,
    /// The conversations, in order.
    pub entries: Vec<MultiTurnEntry>,
    /// `entries[start..]` run in this invocation: the first one without a result line and all
    /// after it.
    pub start: usize,
}

impl MemoryPlan {
    /// Conversations and questions still to run (for the progress bar).
    pub fn pending_count(&self) -> usize {
        let convs: usize = self.chains.iter().map(|c| c.entries.len() - c.start).sum();
        convs + self.pending.len()
    }

    /// Prerequisite conversations of the needed scenarios that ended in an inference error.
    pub fn prerequisite_errors(&self) -> usize {
        self.chains
            .iter()
            .flat_map(|c| &c.entries)
            .filter(|e| self.prereq_file.is_error(&e.id) == Some(true))
            .count()
    }
}

/// Plans a memory category: its questions (after `limit`) not yet answered, and the chains of
/// their scenarios.
pub fn plan_memory(
    data_dir: &Path,
    model_dir: &Path,
    category: &str,
    limit: Option<usize>,
    stats: &mut InferenceStats,
) -> Result<MemoryPlan> {
    let MemoryDataset {
        prereqs, questions, ..
    } = load_memory_dataset(data_dir, category)?;
    let dir = model_dir.join(directory(category));
    let mut file = ResultFile::open(&dir.join(format!("{VERSION_PREFIX}_{category}_result.json")))?;
    let mut prereq_file =
        ResultFile::open(&dir.join(format!("{VERSION_PREFIX}_{category}_prereq_result.json")))?;
    let snapshot_dir = dir.join("memory_snapshot");
    let dataset_count = questions.len();
    let keep: BTreeSet<usize> = pick_entries(dataset_count, limit).into_iter().collect();
    let scenario_of = |q: &MultiTurnEntry| q.memory_scenario.clone().unwrap_or_default();
    let mut chains = Vec::new();
    for (scenario, entries) in prereqs {
        let in_scenario: Vec<(usize, &MultiTurnEntry)> = questions
            .iter()
            .enumerate()
            .filter(|(_, q)| scenario_of(q) == scenario)
            .collect();
        if !in_scenario.iter().any(|(i, _)| keep.contains(i)) {
            continue;
        }
        let start = entries
            .iter()
            .position(|e| !prereq_file.contains(&e.id))
            .unwrap_or(entries.len());
        if start < entries.len() {
            // The chain changes from `start` on: the later conversations and every answer of the
            // scenario came from the old memory. Forget them on disk before anything runs, so a
            // kill during the redo leaves the redo still to do.
            let later: Vec<String> = entries[start..].iter().map(|e| e.id.clone()).collect();
            prereq_file.remove(&later)?;
            let answers: Vec<String> = in_scenario.iter().map(|(_, q)| q.id.clone()).collect();
            file.remove(&answers)?;
            for id in &later {
                remove_if_present(&checkpoint_path(&snapshot_dir, id))?;
            }
            let final_path = snapshot_dir.join(format!("{scenario}_final.json"));
            match latest_checkpoint(&snapshot_dir, &entries, start, &prereq_file)? {
                Some((_, text)) => write_atomic(&final_path, text.as_bytes())?,
                None => remove_if_present(&final_path)?,
            }
        }
        stats.resumed_entries += start;
        chains.push(Chain {
            scenario,
            entries,
            start,
        });
    }
    let mut pending = Vec::new();
    for (i, q) in questions.into_iter().enumerate() {
        if !keep.contains(&i) {
            continue;
        }
        if file.contains(&q.id) {
            stats.resumed_entries += 1;
        } else {
            pending.push(q);
        }
    }
    Ok(MemoryPlan {
        category: category.to_string(),
        dataset_count,
        file,
        prereq_file,
        snapshot_dir,
        chains,
        pending,
        new_entries: 0,
    })
}

fn checkpoint_path(snapshot_dir: &Path, id: &str) -> PathBuf {
    snapshot_dir
        .join("prereq_checkpoints")
        .join(format!("{id}.json"))
}

/// The memory a conversation at position `pos` of `chain` starts from: the checkpoint of the
/// latest earlier conversation that completed (its answer is not an inference error), else
/// empty. A completed conversation without a usable checkpoint is an error naming the file.
fn starting_memory(
    snapshot_dir: &Path,
    chain: &[MultiTurnEntry],
    pos: usize,
    answers: &ResultFile,
) -> Result<PyDict> {
    Ok(latest_checkpoint(snapshot_dir, chain, pos, answers)?
        .map(|(state, _)| state)
        .unwrap_or_default())
}

/// The checkpoint [`starting_memory`] uses, loaded and checked, with its text (`None`: start
/// empty).
fn latest_checkpoint(
    snapshot_dir: &Path,
    chain: &[MultiTurnEntry],
    pos: usize,
    answers: &ResultFile,
) -> Result<Option<(PyDict, String)>> {
    for earlier in chain[..pos].iter().rev() {
        if answers.is_error(&earlier.id) != Some(false) {
            continue;
        }
        let path = checkpoint_path(snapshot_dir, &earlier.id);
        let redo = format!(
            "delete the line of {} from {} to redo it and the rest of its scenario",
            earlier.id,
            answers.path().display()
        );
        let bad = |msg: String| Error::Json {
            path: path.clone(),
            msg: format!("{msg} ({redo})"),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(bad(
                    "the memory snapshot of a completed conversation is missing".into(),
                ))
            }
            Err(source) => return Err(Error::Io { path, source }),
        };
        let state = match pyjson::loads(&text) {
            Ok(PyVal::Dict(d)) => d,
            Ok(_) => return Err(bad("a damaged memory snapshot: not a JSON object".into())),
            Err(e) => return Err(bad(format!("a damaged memory snapshot: {e}"))),
        };
        // The backend must load it; a malformed snapshot would fail every later entry.
        let class = earlier.involved_classes.first().map_or("", String::as_str);
        new_backend(class, &state, &PyProcess::new())
            .map_err(|e| bad(format!("not a memory snapshot of {class}: {e}")))?;
        return Ok(Some((state, text)));
    }
    Ok(None)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// `entry` with its backend loading `state`.
fn seeded(entry: &MultiTurnEntry, state: PyDict) -> MultiTurnEntry {
    let mut e = entry.clone();
    let mut config = PyDict::new();
    for class in &entry.involved_classes {
        config.insert_str(class, PyVal::Dict(state.clone()));
    }
    e.initial_config = config;
    e
}

/// Saves a finished prerequisite conversation's memory (not after an inference error).
fn save_checkpoint(snapshot_dir: &Path, conv: &Conversation, scenario: &str) -> Result<()> {
    if !matches!(conv.outcome(), Some(Outcome::Turns { .. })) {
        return Ok(());
    }
    let Some(state) = conv.backend_state() else {
        return Ok(());
    };
    let path = checkpoint_path(snapshot_dir, conv.id());
    let text = pyjson::dumps(&PyVal::Dict(state)).map_err(|e| Error::Json {
        path: path.clone(),
        msg: e.to_string(),
    })?;
    write_atomic(&path, text.as_bytes())?;
    write_atomic(
        &snapshot_dir.join(format!("{scenario}_final.json")),
        text.as_bytes(),
    )
}

/// Runs the plan: the prerequisite conversations wave by wave (the k-th conversation of every
/// needed scenario together), then every pending question.
pub fn run_memory_category(
    gen: &dyn Generator,
    plan: &mut MemoryPlan,
    settings: StepSettings,
    bar: &ProgressBar,
    stats: &mut InferenceStats,
) -> Result<()> {
    bar.set_message(format!("{} (memory)", plan.category));
    let process = PyProcess::new();
    let longest = plan
        .chains
        .iter()
        .map(|c| c.entries.len())
        .max()
        .unwrap_or(0);
    for pos in 0..longest {
        let mut wave = Vec::new();
        let mut scenario_of = std::collections::HashMap::new();
        for chain in &plan.chains {
            let Some(entry) = chain.entries.get(pos).filter(|_| pos >= chain.start) else {
                continue;
            };
            // A checkpoint left without its result line (a kill in between) is stale.
            remove_if_present(&checkpoint_path(&plan.snapshot_dir, &entry.id))?;
            let state =
                starting_memory(&plan.snapshot_dir, &chain.entries, pos, &plan.prereq_file)?;
            wave.push(seeded(entry, state));
            scenario_of.insert(entry.id.clone(), chain.scenario.clone());
        }
        if wave.is_empty() {
            continue;
        }
        let snapshot_dir = plan.snapshot_dir.clone();
        run_conversations(
            gen,
            &wave,
            &process,
            &mut plan.prereq_file,
            settings,
            bar,
            stats,
            &mut |conv| match scenario_of.get(conv.id()) {
                Some(scenario) => save_checkpoint(&snapshot_dir, conv, scenario),
                None => Ok(()),
            },
        )?;
    }
    if !plan.prereq_file.is_empty() {
        plan.prereq_file.finish()?;
    }
    // The conversations count in `stats.new_entries` (they are result lines too);
    // `plan.new_entries` counts the category's own entries, the questions.
    let mut questions = Vec::with_capacity(plan.pending.len());
    for q in plan.pending.drain(..) {
        let chain = plan
            .chains
            .iter()
            .find(|c| Some(c.scenario.as_str()) == q.memory_scenario.as_deref())
            .map(|c| c.entries.as_slice())
            .unwrap_or(&[]);
        let state = starting_memory(&plan.snapshot_dir, chain, chain.len(), &plan.prereq_file)?;
        questions.push(seeded(&q, state));
    }
    let errors = plan.prerequisite_errors();
    if errors > 0 {
        bar.suspend(|| {
            tracing::warn!(
                category = plan.category,
                errors,
                "prerequisite conversations ended in an inference error (e.g. the prompt outgrew \
                 the context); their memory was not saved and the questions see the memory of \
                 the last completed one"
            )
        });
    }
    plan.new_entries += run_conversations(
        gen,
        &questions,
        &process,
        &mut plan.file,
        settings,
        bar,
        stats,
        &mut |_| Ok(()),
    )?;
    plan.file.finish()
}
