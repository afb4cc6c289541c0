//! `trainer bfcl score`: reads result files laid out like the official
//! evaluator's, scores every single-turn, multi-turn and agentic category with the
//! official rules and writes the official score files (and leaderboard CSVs).
//! Agentic categories are scored by [`crate::eval::agentic::score`]; memory prerequisite
//! result files (`*_prereq_result.json`) are not scored, as in the official evaluator.
//! Multi-turn categories are scored by
//! [`crate::eval::multi_turn::driver_score`], all in one [`crate::eval::multi_turn::PyProcess`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::eval::agentic::data::load_agentic_category;
use crate::eval::agentic::score::{score_agentic_category, AgenticContext};
use crate::eval::category::{
    self, is_relevance_or_irrelevance, is_single_turn, language, parse_category_args, sort_key,
    VERSION_PREFIX,
};
use crate::eval::checker::CheckError;
use crate::eval::data::{self, load_category, read_jsonl, CategoryData};
use crate::eval::decode::{find_model, ModelSpec};
use crate::eval::entry::{evaluate_ast, evaluate_relevance, Context, EntryOutcome};
use crate::eval::leaderboard;
use crate::eval::multi_turn::driver_data::load_multi_turn_category;
use crate::eval::multi_turn::driver_score::{score_multi_turn_category, MultiTurnContext};
use crate::eval::pyjson::{dumps, make_json_serializable};
use crate::eval::pyval::{PyDict, PyVal};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model is not one this scorer can decode.
    #[error("unsupported model {0:?}; supported: Qwen/Qwen3-8B, Qwen/Qwen3-8B-FC")]
    UnknownModel(String),
    /// `--category` named something that is not a category or collection.
    #[error("invalid test category name: {0:?}")]
    UnknownCategory(String),
    /// The category was requested explicitly but is not implemented.
    #[error("category {category}: not implemented yet ({why})")]
    NotImplemented {
        /// Category name.
        category: String,
        /// What is missing.
        why: String,
    },
    /// No result directory for the model.
    #[error("no result directory {0}")]
    NoResultDir(PathBuf),
    /// Two result files for one category.
    #[error("two result files for category {category}: {first} and {second}")]
    DuplicateCategory {
        /// Category name.
        category: String,
        /// One file.
        first: PathBuf,
        /// The other file.
        second: PathBuf,
    },
    /// Filesystem error.
    #[error("{path}: {source}")]
    Io {
        /// Path involved.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// Data or result file could not be read.
    #[error(transparent)]
    Data(#[from] data::Error),
    /// A result line is malformed.
    #[error("{path}:{line}: {msg}")]
    BadResultLine {
        /// Result file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// Result IDs do not fit the dataset (the official tool raises too).
    #[error("{path}: {msg}")]
    ResultIds {
        /// Result file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The official checker would raise on this entry.
    #[error("{path}: entry {id}: {source}")]
    Checker {
        /// Result file.
        path: PathBuf,
        /// Entry ID.
        id: String,
        /// The checker error.
        source: CheckError,
    },
    /// A failed entry cannot be written as JSON (the official tool raises too).
    #[error("{path}: entry {id}: cannot serialize the score entry: {msg}")]
    Serialize {
        /// Score file.
        path: PathBuf,
        /// Entry ID.
        id: String,
        /// Why.
        msg: String,
    },
    /// Leaderboard CSV generation failed.
    #[error(transparent)]
    Leaderboard(#[from] leaderboard::Error),
    /// Multi-turn data could not be loaded.
    #[error(transparent)]
    MultiTurnData(#[from] crate::eval::multi_turn::driver_data::Error),
    /// A multi-turn entry's backends could not be created.
    #[error("{path}: entry {id}: {source}")]
    MultiTurn {
        /// Result file.
        path: PathBuf,
        /// Entry ID.
        id: String,
        /// What failed.
        source: crate::eval::multi_turn::Error,
    },
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Arguments of [`score`].
#[derive(Debug, Clone)]
pub struct ScoreArgs {
    /// `D`: contains `<model with / replaced by _>/<anything>/BFCL_v4_<category>_result.json`.
    pub result_dir: PathBuf,
    /// `S`: receives `<model>/<group>/BFCL_v4_<category>_score.json` and the CSVs.
    pub score_dir: PathBuf,
    /// Registered model name (`Qwen/Qwen3-8B` or `Qwen/Qwen3-8B-FC`).
    pub model: String,
    /// Categories or collections; `None` scores every result file found.
    pub categories: Option<Vec<String>>,
    /// Allow result files that hold a subset of a category's IDs.
    pub partial_eval: bool,
    /// BFCL data directory (laid out like `bfcl_eval/data/`).
    pub data_dir: PathBuf,
}

/// One failed entry.
#[derive(Debug, Clone, Serialize)]
pub struct FailedEntry {
    /// Entry ID.
    pub id: String,
    /// Official `error_type`.
    pub error_type: String,
}

/// `error_type` of an entry this crate could not score (not an official error type).
pub const UNSCORED_ERROR_TYPE: &str = "trainer:unscored";

/// An entry that was not scored, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Unscored {
    /// Entry ID.
    pub id: String,
    /// Why it could not be scored faithfully.
    pub reason: String,
}

/// Score of one category.
#[derive(Debug, Clone, Serialize)]
pub struct CategoryScore {
    /// Category name.
    pub category: String,
    /// `non_live`, `live` or `multi_turn`.
    pub group: String,
    /// `correct_count / total_count`.
    pub accuracy: f64,
    /// Entries that passed.
    pub correct_count: usize,
    /// Entries in the result file.
    pub total_count: usize,
    /// Entries whose output used a Python construct this crate does not
    /// evaluate (scored as decode failures; the official verdict may differ).
    pub unsupported_decodes: usize,
    /// Failed entries in score-file order.
    pub failures: Vec<FailedEntry>,
    /// Entries this crate cannot score faithfully (multi-turn: unported backend paths such as
    /// `MathAPI.logarithm`, `long_context` backends, call syntax the harness would evaluate
    /// differently). They count as not correct in `accuracy` (a lower bound) and appear in the
    /// score file with `error_type` [`UNSCORED_ERROR_TYPE`].
    pub unscored: Vec<Unscored>,
    /// The result file read.
    pub result_file: PathBuf,
    /// The score file written.
    pub score_file: PathBuf,
}

/// A result file that was found but not scored.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
}

/// What [`score`] did.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreSummary {
    /// Registered model name.
    pub model: String,
    /// Scored categories, sorted by name.
    pub categories: Vec<CategoryScore>,
    /// Result files found but not scored (categories this crate does not score).
    pub skipped: Vec<Skipped>,
    /// The official v4 aggregation (missing categories count as 0).
    pub overall: leaderboard::Aggregate,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Every `BFCL_v4_*_result.json` under `dir`, recursively, sorted.
fn find_result_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io_err(&d))? {
            let entry = entry.map_err(io_err(&d))?;
            let path = entry.path();
            let ft = entry.file_type().map_err(io_err(&path))?;
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(cat) = name
                .strip_prefix(&format!("{VERSION_PREFIX}_"))
                .and_then(|r| r.strip_suffix("_result.json"))
            {
                out.push((cat.to_string(), path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Scores result files like `bfcl evaluate --model M [--test-category ...]`.
pub fn score(args: &ScoreArgs) -> Result<ScoreSummary> {
    let model = find_model(&args.model).ok_or_else(|| Error::UnknownModel(args.model.clone()))?;
    let model_dir_name = model.name.replace('/', "_");
    let model_result_dir = args.result_dir.join(&model_dir_name);
    if !model_result_dir.is_dir() {
        return Err(Error::NoResultDir(model_result_dir));
    }
    let (wanted, explicit) = match &args.categories {
        Some(c) => (
            parse_category_args(c).map_err(Error::UnknownCategory)?,
            true,
        ),
        None => (
            category::all_categories()
                .iter()
                .map(|s| s.to_string())
                .collect(),
            false,
        ),
    };

    let mut by_category: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut skipped = Vec::new();
    for (cat, path) in find_result_files(&model_result_dir)? {
        if !wanted.contains(&cat) {
            continue;
        }
        let why = if !is_single_turn(&cat)
            && !category::MULTI_TURN.contains(&cat.as_str())
            && !category::AGENTIC.contains(&cat.as_str())
        {
            Some("only the single-turn, multi-turn and agentic categories are implemented")
        } else {
            None
        };
        if let Some(why) = why {
            if explicit {
                return Err(Error::NotImplemented {
                    category: cat,
                    why: why.to_string(),
                });
            }
            skipped.push(Skipped {
                path,
                reason: why.to_string(),
            });
            continue;
        }
        if let Some(first) = by_category.get(&cat) {
            return Err(Error::DuplicateCategory {
                category: cat,
                first: first.clone(),
                second: path,
            });
        }
        by_category.insert(cat, path);
    }

    let ctx_model: &ModelSpec = model;
    let mut categories = Vec::new();
    let mut latencies = leaderboard::CostLatency::default();
    // The official checker runs every multi-turn entry in one Python process.
    let process = crate::eval::multi_turn::PyProcess::new();
    for (cat, path) in &by_category {
        let results = load_results(path)?;
        latencies.record(&results);
        if category::MULTI_TURN.contains(&cat.as_str()) {
            let entries = load_multi_turn_category(&args.data_dir, cat)?;
            categories.push(score_multi_turn_category(
                &MultiTurnContext {
                    model: ctx_model,
                    model_dir_name: &model_dir_name,
                    category: cat,
                    score_dir: &args.score_dir,
                    partial_eval: args.partial_eval,
                    process: &process,
                },
                &entries,
                results,
                path,
            )?);
            continue;
        }
        if category::AGENTIC.contains(&cat.as_str()) {
            let entries = load_agentic_category(&args.data_dir, cat)?;
            categories.push(score_agentic_category(
                &AgenticContext {
                    model: ctx_model,
                    model_dir_name: &model_dir_name,
                    category: cat,
                    score_dir: &args.score_dir,
                    partial_eval: args.partial_eval,
                },
                &entries,
                results,
                path,
            )?);
            continue;
        }
        let data = load_category(&args.data_dir, cat)?;
        let cs = score_category(
            ctx_model,
            &model_dir_name,
            &data,
            results,
            path,
            &args.score_dir,
            args.partial_eval,
        )?;
        categories.push(cs);
    }
    let overall = leaderboard::write_csvs(&args.score_dir, &args.data_dir, model, &latencies)?;
    Ok(ScoreSummary {
        model: model.name.to_string(),
        categories,
        skipped,
        overall,
    })
}

/// One parsed result line.
#[derive(Debug, Clone)]
pub struct ResultLine {
    /// `id`.
    pub id: String,
    /// `result` (a string for the supported profiles).
    pub result: PyVal,
    /// The whole line object.
    pub raw: PyVal,
}

/// Loads a result file and sorts it with the official `sort_key`.
pub fn load_results(path: &Path) -> Result<Vec<ResultLine>> {
    let mut out = Vec::new();
    for (n, v) in read_jsonl(path)?.into_iter().enumerate() {
        let bad = |msg: &str| Error::BadResultLine {
            path: path.to_path_buf(),
            line: n + 1,
            msg: msg.to_string(),
        };
        let d = v.as_dict().ok_or_else(|| bad("not a JSON object"))?;
        let id = d
            .get_str("id")
            .and_then(PyVal::as_str)
            .ok_or_else(|| bad("missing string field \"id\""))?
            .to_string();
        if sort_key(&id).is_none() {
            return Err(bad(&format!(
                "id {id:?} does not end in _<index> (the official tool cannot sort it)"
            )));
        }
        let result = d
            .get_str("result")
            .ok_or_else(|| bad("missing field \"result\""))?
            .clone();
        out.push(ResultLine { id, result, raw: v });
    }
    out.sort_by_key(|r| sort_key(&r.id));
    Ok(out)
}

/// The dataset indices of the (sorted) results, in result order, with the official tool's
/// checks: a non-empty file, every ID of the category unless `partial_eval`, no duplicate or
/// foreign IDs.
pub fn pick_entries(
    ids: &[&str],
    results: &[ResultLine],
    partial_eval: bool,
    result_path: &Path,
    cat: &str,
) -> Result<Vec<usize>> {
    let ids_err = |msg: String| Error::ResultIds {
        path: result_path.to_path_buf(),
        msg,
    };
    if results.is_empty() {
        return Err(ids_err("the result file is empty".into()));
    }
    if !partial_eval && results.len() != ids.len() {
        return Err(ids_err(format!(
            "Length of model result ({}) does not match length of test entries ({}). If you intended to run only on a subset (eg. entries present in the model result), please pass the `--partial-eval` flag.",
            results.len(),
            ids.len()
        )));
    }
    let present: std::collections::HashSet<&str> = results.iter().map(|r| r.id.as_str()).collect();
    let picked: Vec<usize> = (0..ids.len())
        .filter(|&i| ids.get(i).is_some_and(|id| present.contains(id)))
        .collect();
    if picked.len() != results.len() {
        return Err(ids_err(format!(
            "The length of the model result ({}) does not match the length of the prompt ({}): duplicate IDs or IDs not in {cat}.",
            results.len(),
            picked.len()
        )));
    }
    Ok(picked)
}

/// Scores one category's results and writes its score file.
pub fn score_category(
    model: &ModelSpec,
    model_dir_name: &str,
    data: &CategoryData,
    results: Vec<ResultLine>,
    result_path: &Path,
    score_dir: &Path,
    partial_eval: bool,
) -> Result<CategoryScore> {
    let cat = data.category.as_str();
    let ids_err = |msg: String| Error::ResultIds {
        path: result_path.to_path_buf(),
        msg,
    };
    let ids: Vec<&str> = data.entries.iter().map(|e| e.id.as_str()).collect();
    let picked = pick_entries(&ids, &results, partial_eval, result_path, cat)?;

    let ctx = Context {
        model,
        model_dir_name,
        category: cat,
    };
    let lang = language(cat);
    let mut correct = 0usize;
    let mut unsupported = 0usize;
    let mut failed_dicts = Vec::new();
    let mut failures = Vec::new();
    for (r, &i) in results.iter().zip(&picked) {
        let prompt = &data.entries[i].raw;
        let outcome: EntryOutcome = if is_relevance_or_irrelevance(cat) {
            evaluate_relevance(&ctx, &r.id, &r.result, prompt)
        } else {
            let gt_line = data
                .answers
                .as_ref()
                .and_then(|a| a.get(i))
                .ok_or_else(|| ids_err(format!("no ground truth for {}", r.id)))?;
            let gt = gt_line
                .as_dict()
                .and_then(|d| d.get_str("ground_truth"))
                .ok_or_else(|| {
                    ids_err(format!("ground truth line {} lacks ground_truth", i + 1))
                })?;
            evaluate_ast(&ctx, &r.id, &r.result, prompt, gt, lang).map_err(|source| {
                Error::Checker {
                    path: result_path.to_path_buf(),
                    id: r.id.clone(),
                    source,
                }
            })?
        };
        if outcome.unsupported {
            unsupported += 1;
        }
        if outcome.valid {
            correct += 1;
        } else if let Some(f) = outcome.failure {
            failures.push(FailedEntry {
                id: r.id.clone(),
                error_type: outcome.error_type.unwrap_or_default(),
            });
            failed_dicts.push((r.id.clone(), f));
        }
    }
    let total = results.len();
    let accuracy = correct as f64 / total as f64;
    let group = category::group(cat);
    let score_path =
        write_score_file(score_dir, model_dir_name, cat, correct, total, failed_dicts)?;
    Ok(CategoryScore {
        category: cat.to_string(),
        group: group.to_string(),
        accuracy,
        correct_count: correct,
        total_count: total,
        unsupported_decodes: unsupported,
        failures,
        unscored: Vec::new(),
        result_file: result_path.to_path_buf(),
        score_file: score_path,
    })
}

/// What the entries of a multi-turn or agentic category came to.
#[derive(Debug, Default)]
pub struct Tally {
    /// Entries that passed.
    pub correct: usize,
    /// Failed entries (official error types).
    pub failures: Vec<FailedEntry>,
    /// Entries not scored faithfully.
    pub unscored: Vec<Unscored>,
    /// The score-file lines of failed and unscored entries, in result order.
    pub failed_dicts: Vec<(String, PyVal)>,
}

/// Writes the score file of a multi-turn or agentic category (`total` results) and returns its
/// [`CategoryScore`].
pub fn finish_category(
    score_dir: &Path,
    model_dir_name: &str,
    cat: &str,
    total: usize,
    tally: Tally,
    result_path: &Path,
) -> Result<CategoryScore> {
    let correct = tally.correct;
    let score_file = write_score_file(
        score_dir,
        model_dir_name,
        cat,
        correct,
        total,
        tally.failed_dicts,
    )?;
    Ok(CategoryScore {
        category: cat.to_string(),
        group: category::group(cat).to_string(),
        accuracy: correct as f64 / total.max(1) as f64,
        correct_count: correct,
        total_count: total,
        unsupported_decodes: 0,
        failures: tally.failures,
        unscored: tally.unscored,
        result_file: result_path.to_path_buf(),
        score_file,
    })
}

/// The result line's `inference_log` (`""` when absent), as the official runners copy it into
/// a failed entry's score line.
pub fn inference_log(line: &ResultLine) -> PyVal {
    line.raw
        .as_dict()
        .and_then(|r| r.get_str("inference_log"))
        .cloned()
        .unwrap_or_else(|| PyVal::str(""))
}

/// Writes `S/<model>/<group>/BFCL_v4_<cat>_score.json`: the header
/// `{"accuracy", "correct_count", "total_count"}`, then one line per failed entry; returns its path.
pub fn write_score_file(
    score_dir: &Path,
    model_dir_name: &str,
    cat: &str,
    correct: usize,
    total: usize,
    failed_dicts: Vec<(String, PyVal)>,
) -> Result<PathBuf> {
    let accuracy = if total == 0 {
        0.0
    } else {
        correct as f64 / total as f64
    };
    let score_path = score_dir
        .join(model_dir_name)
        .join(category::directory(cat))
        .join(format!("{VERSION_PREFIX}_{cat}_score.json"));
    let mut header = PyDict::new();
    header.insert_str("accuracy", PyVal::Float(accuracy));
    header.insert_str("correct_count", PyVal::Int(correct as i128));
    header.insert_str("total_count", PyVal::Int(total as i128));
    let mut text = String::new();
    for (id, entry) in std::iter::once((String::new(), PyVal::Dict(header))).chain(failed_dicts) {
        let line = dumps(&make_json_serializable(&entry)).map_err(|e| Error::Serialize {
            path: score_path.clone(),
            id: id.clone(),
            msg: e.to_string(),
        })?;
        text.push_str(&line);
        text.push('\n');
    }
    write_atomic(&score_path, text.as_bytes())?;
    Ok(score_path)
}

/// Writes `bytes` to a temporary sibling and renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    Ok(())
}
