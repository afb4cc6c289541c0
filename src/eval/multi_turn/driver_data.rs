//! BFCL v4 multi-turn test entries as the official `load_dataset_entry` prepares them
//! (`populate_test_cases_with_predefined_functions`, then the language hint):
//!
//! * the function docs are the `multi_turn_func_doc/*.json` files of `involved_classes`, in
//!   that order;
//! * `missed_function` (miss_func) names are looked up in that list (first match), moved out of
//!   it, and kept per turn; they do **not** get the hint (it is added after the move);
//! * every remaining doc's description gets `" Note that the provided function is in Python 3
//!   syntax."`.
//!
//! The ground truth (`possible_answer/`) is parsed into calls for the checker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::call::Call;
use crate::eval::category::{MULTI_TURN, VERSION_PREFIX};
use crate::eval::data::read_jsonl;
use crate::eval::infer::prompt::PYTHON_HINT;
use crate::eval::pyval::{PyDict, PyVal};

/// `MULTI_TURN_FUNC_DOC_FILE_MAPPING` (the classes of the four multi-turn categories and of the
/// two ported memory backends).
pub const FUNC_DOC_FILES: [(&str, &str); 10] = [
    ("GorillaFileSystem", "gorilla_file_system.json"),
    ("MathAPI", "math_api.json"),
    ("MessageAPI", "message_api.json"),
    ("TwitterAPI", "posting_api.json"),
    ("TicketAPI", "ticket_api.json"),
    ("TradingBot", "trading_bot.json"),
    ("TravelAPI", "travel_booking.json"),
    ("VehicleControlAPI", "vehicle_control.json"),
    ("MemoryAPI_kv", "memory_kv.json"),
    ("MemoryAPI_rec_sum", "memory_rec_sum.json"),
];

/// Errors of multi-turn data loading.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or parsed.
    #[error(transparent)]
    Data(#[from] crate::eval::data::Error),
    /// The category is not a multi-turn category.
    #[error("category {0:?} is not a BFCL v4 multi-turn or agentic category this crate loads")]
    UnknownCategory(String),
    /// An entry or answer line lacks a field or has the wrong shape.
    #[error("{path}: entry {id}: {msg}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// The entry id (or line number when the id is missing).
        id: String,
        /// What is wrong, naming the field.
        msg: String,
    },
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// One multi-turn entry, ready for inference and checking.
#[derive(Debug, Clone)]
pub struct MultiTurnEntry {
    /// `multi_turn_base_0`.
    pub id: String,
    /// The question line as loaded (for score files).
    pub raw: PyVal,
    /// `question`: the messages of each turn (a held-out turn is empty).
    pub turns: Vec<Vec<Json>>,
    /// The function docs offered from the start (hint appended).
    pub functions: Vec<Json>,
    /// Held-out docs by turn index (no hint), as Python values (the prompting message
    /// prints them with `str()`).
    pub missed: BTreeMap<usize, Vec<PyVal>>,
    /// `initial_config`.
    pub initial_config: PyDict,
    /// `involved_classes`, in order.
    pub involved_classes: Vec<String>,
    /// The ground-truth call strings of each turn.
    pub ground_truth_text: Vec<Vec<String>>,
    /// The same, parsed.
    pub ground_truth: Vec<Vec<Call>>,
    /// Memory categories: the entry's `scenario` (`customer`, ...), which picks the memory
    /// instruction of the system prompt; `None` elsewhere.
    pub memory_scenario: Option<String>,
}

impl MultiTurnEntry {
    /// The checker's view of this entry.
    pub fn checker_entry(&self) -> super::checker::Entry<'_> {
        super::checker::Entry {
            id: &self.id,
            initial_config: &self.initial_config,
            involved_classes: &self.involved_classes,
            ground_truth: &self.ground_truth,
        }
    }
}

/// The function docs of every class in [`FUNC_DOC_FILES`].
pub(crate) fn load_func_docs(data_dir: &Path) -> Result<BTreeMap<&'static str, Vec<PyVal>>> {
    let mut out = BTreeMap::new();
    for (class, file) in FUNC_DOC_FILES {
        let path = data_dir.join("multi_turn_func_doc").join(file);
        out.insert(class, read_jsonl(&path)?);
    }
    Ok(out)
}

fn doc_name(doc: &PyVal) -> Option<&str> {
    doc.as_dict()?.get_str("name")?.as_str()
}

/// Loads a multi-turn category (questions, function docs, ground truth) from `data_dir`.
pub fn load_multi_turn_category(data_dir: &Path, category: &str) -> Result<Vec<MultiTurnEntry>> {
    if !MULTI_TURN.contains(&category) {
        return Err(Error::UnknownCategory(category.to_string()));
    }
    let docs = load_func_docs(data_dir)?;
    let qpath = data_dir.join(format!("{VERSION_PREFIX}_{category}.json"));
    let apath = data_dir
        .join("possible_answer")
        .join(format!("{VERSION_PREFIX}_{category}.json"));
    let questions = read_jsonl(&qpath)?;
    let answers = read_jsonl(&apath)?;
    let mut answer_by_id: BTreeMap<String, &PyVal> = BTreeMap::new();
    for (n, a) in answers.iter().enumerate() {
        let id = str_field(a, "id").ok_or_else(|| Error::Shape {
            path: apath.clone(),
            id: format!("line {}", n + 1),
            msg: "missing string field \"id\"".into(),
        })?;
        answer_by_id.insert(id.to_string(), a);
    }
    questions
        .into_iter()
        .enumerate()
        .map(|(n, q)| {
            let id = str_field(&q, "id")
                .ok_or_else(|| Error::Shape {
                    path: qpath.clone(),
                    id: format!("line {}", n + 1),
                    msg: "missing string field \"id\"".into(),
                })?
                .to_string();
            let answer = answer_by_id.get(&id).copied().ok_or_else(|| Error::Shape {
                path: apath.clone(),
                id: id.clone(),
                msg: "no ground truth line with this id".into(),
            })?;
            build_entry(&docs, q, Some(answer), &id).map_err(|msg| Error::Shape {
                path: qpath.clone(),
                id,
                msg,
            })
        })
        .collect()
}

fn str_field<'a>(v: &'a PyVal, key: &str) -> Option<&'a str> {
    v.as_dict()?.get_str(key)?.as_str()
}

fn str_list(v: Option<&PyVal>, what: &str) -> std::result::Result<Vec<String>, String> {
    v.and_then(PyVal::as_list)
        .ok_or_else(|| format!("{what} is missing or not a list"))?
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{what}/{i} is not a string"))
        })
        .collect()
}

/// One entry from its question line `raw` and its ground-truth line (`None`: an entry checked
/// without ground-truth calls, such as a memory entry, whose answer is text).
pub(crate) fn build_entry(
    docs: &BTreeMap<&'static str, Vec<PyVal>>,
    raw: PyVal,
    answer: Option<&PyVal>,
    id: &str,
) -> std::result::Result<MultiTurnEntry, String> {
    let d = raw.as_dict().ok_or("not a JSON object")?;
    let involved_classes = str_list(d.get_str("involved_classes"), "/involved_classes")?;
    let initial_config = match d.get_str("initial_config") {
        Some(PyVal::Dict(c)) => c.clone(),
        None => PyDict::new(),
        Some(_) => return Err("/initial_config is not an object".into()),
    };
    let turns = match d.get_str("question").map(PyVal::to_json) {
        Some(Json::Array(turns)) => turns
            .into_iter()
            .enumerate()
            .map(|(i, t)| match t {
                Json::Array(m) => Ok(m),
                _ => Err(format!("/question/{i} is not a list of messages")),
            })
            .collect::<std::result::Result<Vec<_>, _>>()?,
        _ => return Err("/question is missing or not a list".into()),
    };
    let mut functions: Vec<PyVal> = Vec::new();
    for class in &involved_classes {
        let class_docs = docs
            .get(class.as_str())
            .ok_or_else(|| format!("/involved_classes: no function docs for class {class}"))?;
        functions.extend(class_docs.iter().cloned());
    }
    let mut missed = BTreeMap::new();
    if let Some(m) = d.get_str("missed_function") {
        let m = m.as_dict().ok_or("/missed_function is not an object")?;
        for (turn, names) in m.iter() {
            let turn_key = turn.as_str().unwrap_or_default();
            let turn_idx: usize = turn_key
                .parse()
                .map_err(|_| format!("/missed_function: key {turn_key:?} is not a turn index"))?;
            let names = str_list(Some(names), &format!("/missed_function/{turn_key}"))?;
            let mut held = Vec::new();
            for name in names {
                if let Some(pos) = functions.iter().position(|f| doc_name(f) == Some(&name)) {
                    held.push(functions.remove(pos));
                }
            }
            missed.insert(turn_idx, held);
        }
    }
    let functions = functions
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut doc = f.to_json();
            match doc.get_mut("description") {
                Some(Json::String(desc)) => desc.push_str(PYTHON_HINT),
                _ => return Err(format!("function doc {i}: description is not a string")),
            }
            Ok(doc)
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    let gt = match answer {
        None => &[][..],
        Some(answer) => answer
            .as_dict()
            .and_then(|a| a.get_str("ground_truth"))
            .and_then(PyVal::as_list)
            .ok_or("ground truth: /ground_truth is missing or not a list")?,
    };
    let ground_truth_text = gt
        .iter()
        .enumerate()
        .map(|(i, t)| str_list(Some(t), &format!("ground truth /ground_truth/{i}")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let ground_truth = ground_truth_text
        .iter()
        .map(|turn| {
            turn.iter()
                .map(|c| Call::parse(c).map_err(|e| format!("ground truth: {e}")))
                .collect::<std::result::Result<Vec<_>, _>>()
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(MultiTurnEntry {
        id: id.to_string(),
        raw,
        turns,
        functions,
        missed,
        initial_config,
        involved_classes,
        ground_truth_text,
        ground_truth,
        memory_scenario: None,
    })
}
