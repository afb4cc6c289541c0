//! Loader for the BFCL v4 single-turn data shipped in the `bfcl_eval/data/`
//! package directory (JSON Lines despite the `.json` extension):
//! `BFCL_v4_<category>.json` (questions + function docs) and
//! `possible_answer/BFCL_v4_<category>.json` (ground truth).

use std::path::{Path, PathBuf};

use crate::eval::category::{is_relevance_or_irrelevance, is_single_turn, VERSION_PREFIX};
use crate::eval::pyjson;
use crate::eval::pyval::PyVal;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line is not valid JSON.
    #[error("{path}:{line}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parse error.
        source: pyjson::Error,
    },
    /// A line is valid JSON but lacks a required field.
    #[error("{path}:{line}: {msg}")]
    Shape {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// The category is not a single-turn category.
    #[error("category {0:?} is not a single-turn BFCL v4 category")]
    UnknownCategory(String),
    /// Question and answer files disagree.
    #[error("{0}")]
    Mismatch(String),
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// The default data directory: `${TRAINER_CACHE:-<repo_root>/.cache/assets}/bfcl/data`.
pub fn default_data_dir() -> PathBuf {
    crate::assets::cache_dir().join("bfcl").join("data")
}

/// Reads a JSON Lines file like the official `load_file`: every line
/// (including a blank one) must be a JSON value.
pub fn read_jsonl(path: &Path) -> Result<Vec<PyVal>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let v = pyjson::loads(line).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            line: n + 1,
            source,
        })?;
        out.push(v);
    }
    Ok(out)
}

/// One test entry (`{"id", "question", "function", ...}`).
#[derive(Debug, Clone)]
pub struct TestEntry {
    /// The entry ID, e.g. `simple_python_0` or `live_simple_19-3-15`.
    pub id: String,
    /// The whole JSON object, as the official evaluator holds it.
    pub raw: PyVal,
}

impl TestEntry {
    /// The `question` turns as JSON (a list of turns, each a list of messages).
    pub fn question_json(&self) -> serde_json::Value {
        self.field("question")
    }

    /// The `function` docs as JSON (a list of Gorilla-style function schemas).
    pub fn functions_json(&self) -> serde_json::Value {
        self.field("function")
    }

    fn field(&self, key: &str) -> serde_json::Value {
        self.raw
            .as_dict()
            .and_then(|d| d.get_str(key))
            .map(PyVal::to_json)
            .unwrap_or(serde_json::Value::Null)
    }
}

/// One single-turn category: its entries and (except for relevance and
/// irrelevance) the aligned ground truth.
#[derive(Debug, Clone)]
pub struct CategoryData {
    /// Category name, e.g. `live_multiple`.
    pub category: String,
    /// Entries in file order.
    pub entries: Vec<TestEntry>,
    /// `ground_truth` objects aligned with `entries` by index.
    pub answers: Option<Vec<PyVal>>,
}

fn id_of(path: &Path, line: usize, v: &PyVal) -> Result<String> {
    v.as_dict()
        .and_then(|d| d.get_str("id"))
        .and_then(PyVal::as_str)
        .map(str::to_string)
        .ok_or_else(|| Error::Shape {
            path: path.to_path_buf(),
            line,
            msg: "missing string field \"id\"".into(),
        })
}

/// Loads a single-turn category from `data_dir` (laid out like `bfcl_eval/data/`).
pub fn load_category(data_dir: &Path, category: &str) -> Result<CategoryData> {
    if !is_single_turn(category) {
        return Err(Error::UnknownCategory(category.to_string()));
    }
    let qpath = data_dir.join(format!("{VERSION_PREFIX}_{category}.json"));
    let mut entries = Vec::new();
    for (n, v) in read_jsonl(&qpath)?.into_iter().enumerate() {
        let id = id_of(&qpath, n + 1, &v)?;
        entries.push(TestEntry { id, raw: v });
    }
    let answers = if is_relevance_or_irrelevance(category) {
        None
    } else {
        let apath = data_dir
            .join("possible_answer")
            .join(format!("{VERSION_PREFIX}_{category}.json"));
        let answers = read_jsonl(&apath)?;
        if answers.len() != entries.len() {
            return Err(Error::Mismatch(format!(
                "Length of ground truth ({}) should match prompt entries ({}) for {category}",
                answers.len(),
                entries.len()
            )));
        }
        Some(answers)
    };
    Ok(CategoryData {
        category: category.to_string(),
        entries,
        answers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_jsonl_reports_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        std::fs::write(&p, "{\"id\": \"a_0\"}\n{bad}\n").unwrap();
        let err = read_jsonl(&p).unwrap_err().to_string();
        assert!(err.contains("x.json:2"), "{err}");
    }
}
