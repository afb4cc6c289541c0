//! Agentic entries as the official `load_dataset_entry` prepares them:
//!
//! * memory (`process_memory_test_case`): for each scenario of [`MEMORY_SCENARIOS`], the
//!   prerequisite conversations of `memory_prereq_conversation/memory_<scenario>.json` (ids
//!   `memory_prereq_…` renamed `<category>_prereq_…`, each depending on the ones before it) and
//!   the scenario's questions of `BFCL_v4_memory.json` (ids renamed `<category>_…`, depending on
//!   every prerequisite); `involved_classes` becomes the category's backend class;
//! * web search: `BFCL_v4_web_search.json`, ids renamed per category;
//! * `process_agentic_test_case`: every entry but a prerequisite gets the answer-format system
//!   message first in its first turn;
//! * the function docs of the class, with the Python hint.
//!
//! Ground truth (`possible_answer/`) is aligned with the questions by position, as the official
//! scorer aligns it.

use std::collections::BTreeMap;
use std::path::Path;

use super::{is_prereq, memory_class, ANSWER_FORMAT_PROMPT, MEMORY_SCENARIOS};
use crate::eval::category::VERSION_PREFIX;
use crate::eval::data::read_jsonl;
use crate::eval::multi_turn::driver_data::{build_entry, load_func_docs, Error, MultiTurnEntry};
use crate::eval::pyval::{PyDict, PyVal};

type Result<T> = std::result::Result<T, Error>;

/// One agentic entry for scoring.
#[derive(Debug, Clone)]
pub struct AgenticEntry {
    /// `memory_kv_0-customer-0`, `web_search_base_3`, ...
    pub id: String,
    /// The prompt entry as the official scorer holds it (without `function`).
    pub raw: PyVal,
    /// `ground_truth`: acceptable answers.
    pub answers: Vec<String>,
}

/// A memory category ready for inference.
#[derive(Debug, Clone)]
pub struct MemoryDataset {
    /// `memory_kv` or `memory_rec_sum`.
    pub category: String,
    /// Per scenario (in [`MEMORY_SCENARIOS`] order), its prerequisite conversations in chain
    /// order.
    pub prereqs: Vec<(String, Vec<MultiTurnEntry>)>,
    /// The questions, in file order.
    pub questions: Vec<MultiTurnEntry>,
}

fn shape(path: &Path, id: &str, msg: impl Into<String>) -> Error {
    Error::Shape {
        path: path.to_path_buf(),
        id: id.to_string(),
        msg: msg.into(),
    }
}

fn dict_of<'a>(v: &'a PyVal, path: &Path, n: usize) -> Result<&'a PyDict> {
    v.as_dict()
        .ok_or_else(|| shape(path, &format!("line {}", n + 1), "not a JSON object"))
}

fn str_of<'a>(d: &'a PyDict, key: &str, path: &Path, id: &str) -> Result<&'a str> {
    d.get_str(key)
        .and_then(PyVal::as_str)
        .ok_or_else(|| shape(path, id, format!("missing string field {key:?}")))
}

/// Inserts the answer-format system message first in the first turn.
fn add_answer_format(d: &mut PyDict, path: &Path, id: &str) -> Result<()> {
    let mut question = d.get_str("question").cloned();
    let first = match &mut question {
        Some(PyVal::List(turns)) => match turns.first_mut() {
            Some(PyVal::List(first)) => first,
            _ => return Err(shape(path, id, "/question/0 is not a list of messages")),
        },
        _ => return Err(shape(path, id, "/question is missing or not a list")),
    };
    let mut system = PyDict::new();
    system.insert_str("role", PyVal::str("system"));
    system.insert_str("content", PyVal::str(ANSWER_FORMAT_PROMPT));
    first.insert(0, PyVal::Dict(system));
    if let Some(q) = question {
        d.insert_str("question", q);
    }
    Ok(())
}

fn str_list(items: &[String]) -> PyVal {
    PyVal::List(items.iter().cloned().map(PyVal::Str).collect())
}

/// The memory entries of `category` (prerequisites included), as raw prompt entries grouped by
/// scenario: `(scenario, prerequisites, questions)`.
type RawMemory = Vec<(String, Vec<(String, PyVal)>, Vec<(usize, String, PyVal)>)>;

fn load_memory_raw(data_dir: &Path, category: &str) -> Result<RawMemory> {
    let class =
        memory_class(category).ok_or_else(|| Error::UnknownCategory(category.to_string()))?;
    let qpath = data_dir.join(format!("{VERSION_PREFIX}_memory.json"));
    let questions = read_jsonl(&qpath)?;
    let mut out = Vec::new();
    for scenario in MEMORY_SCENARIOS {
        let ppath = data_dir
            .join("memory_prereq_conversation")
            .join(format!("memory_{scenario}.json"));
        let mut prereq_ids = Vec::new();
        let mut prereqs = Vec::new();
        for (n, line) in read_jsonl(&ppath)?.into_iter().enumerate() {
            let mut d = dict_of(&line, &ppath, n)?.clone();
            let id =
                str_of(&d, "id", &ppath, &format!("line {}", n + 1))?.replace("memory", category);
            d.insert_str("id", PyVal::str(id.clone()));
            d.insert_str("depends_on", str_list(&prereq_ids));
            d.insert_str("involved_classes", str_list(std::slice::from_ref(&class)));
            prereq_ids.push(id.clone());
            prereqs.push((id, PyVal::Dict(d)));
        }
        let mut qs = Vec::new();
        for (n, line) in questions.iter().enumerate() {
            let d = dict_of(line, &qpath, n)?;
            let raw_id = str_of(d, "id", &qpath, &format!("line {}", n + 1))?;
            if str_of(d, "scenario", &qpath, raw_id)? != scenario {
                continue;
            }
            let mut d = d.clone();
            let id = raw_id.replace("memory", category);
            d.insert_str("id", PyVal::str(id.clone()));
            d.insert_str("depends_on", str_list(&prereq_ids));
            d.insert_str("involved_classes", str_list(std::slice::from_ref(&class)));
            add_answer_format(&mut d, &qpath, &id)?;
            qs.push((n, id, PyVal::Dict(d)));
        }
        out.push((scenario.to_string(), prereqs, qs));
    }
    Ok(out)
}

/// A memory category for inference: every prerequisite conversation and question, with the
/// backend's function docs.
pub fn load_memory_dataset(data_dir: &Path, category: &str) -> Result<MemoryDataset> {
    let docs = load_func_docs(data_dir)?;
    let qpath = data_dir.join(format!("{VERSION_PREFIX}_memory.json"));
    let mut prereqs = Vec::new();
    let mut questions: Vec<(usize, MultiTurnEntry)> = Vec::new();
    for (scenario, chain, qs) in load_memory_raw(data_dir, category)? {
        let mut entries = Vec::new();
        for (id, raw) in chain {
            let mut e =
                build_entry(&docs, raw, None, &id).map_err(|msg| shape(&qpath, &id, msg))?;
            e.memory_scenario = Some(scenario.clone());
            entries.push(e);
        }
        prereqs.push((scenario.clone(), entries));
        for (n, id, raw) in qs {
            let mut e =
                build_entry(&docs, raw, None, &id).map_err(|msg| shape(&qpath, &id, msg))?;
            e.memory_scenario = Some(scenario.clone());
            questions.push((n, e));
        }
    }
    questions.sort_by_key(|(n, _)| *n);
    Ok(MemoryDataset {
        category: category.to_string(),
        prereqs,
        questions: questions.into_iter().map(|(_, e)| e).collect(),
    })
}

/// The ground-truth answers of `file` (`possible_answer/<file>`), in file order.
fn load_answers(data_dir: &Path, file: &str) -> Result<Vec<Vec<String>>> {
    let path = data_dir.join("possible_answer").join(file);
    read_jsonl(&path)?
        .iter()
        .enumerate()
        .map(|(n, line)| {
            let id = format!("line {}", n + 1);
            let d = dict_of(line, &path, n)?;
            d.get_str("ground_truth")
                .and_then(PyVal::as_list)
                .and_then(|l| l.iter().map(|a| a.as_str().map(str::to_string)).collect())
                .ok_or_else(|| shape(&path, &id, "ground_truth is not a list of strings"))
        })
        .collect()
}

/// The entries of an agentic category as the official scorer loads them
/// (`include_prereq=False`), with their ground truth.
pub fn load_agentic_category(data_dir: &Path, category: &str) -> Result<Vec<AgenticEntry>> {
    if is_prereq(category) || !crate::eval::category::AGENTIC.contains(&category) {
        return Err(Error::UnknownCategory(category.to_string()));
    }
    // (dataset position, id, prompt entry)
    let mut prompts: Vec<(usize, String, PyVal)> = Vec::new();
    let answers = if category.starts_with("memory") {
        for (_, _, qs) in load_memory_raw(data_dir, category)? {
            prompts.extend(qs);
        }
        load_answers(data_dir, &format!("{VERSION_PREFIX}_memory.json"))?
    } else {
        let path = data_dir.join(format!("{VERSION_PREFIX}_web_search.json"));
        for (n, line) in read_jsonl(&path)?.into_iter().enumerate() {
            let mut d = dict_of(&line, &path, n)?.clone();
            let id = str_of(&d, "id", &path, &format!("line {}", n + 1))?
                .replace("web_search", category);
            d.insert_str("id", PyVal::str(id.clone()));
            add_answer_format(&mut d, &path, &id)?;
            prompts.push((n, id, PyVal::Dict(d)));
        }
        load_answers(data_dir, &format!("{VERSION_PREFIX}_web_search.json"))?
    };
    prompts.sort_by_key(|(n, _, _)| *n);
    let by_pos: BTreeMap<usize, Vec<String>> = answers.into_iter().enumerate().collect();
    prompts
        .into_iter()
        .map(|(n, id, raw)| {
            let answers = by_pos.get(&n).cloned().ok_or_else(|| {
                shape(
                    &data_dir.join("possible_answer"),
                    &id,
                    format!("no ground truth at line {}", n + 1),
                )
            })?;
            Ok(AgenticEntry { id, raw, answers })
        })
        .collect()
}
