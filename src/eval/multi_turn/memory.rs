//! `MemoryAPI_kv` (memory_kv.py) and `MemoryAPI_rec_sum` (memory_rec_sum.py): the memory
//! backends of BFCL's agentic `memory_kv` and `memory_rec_sum` categories, with results
//! byte-identical to the originals (tests/bfcl_memory.rs against fixtures written by the
//! official classes).
//!
//! The Python classes load and save their state through snapshot files in the result directory
//! (`_load_scenario` / `_flush_memory_to_local_file`). Here the state is plain data: a backend
//! loads from its `initial_config` entry, which is the snapshot's content
//! (`{"core_memory": {...}, "archival_memory": {...}}` for the key-value store,
//! `{"memory": "..."}` for the recursive summary; missing keys start empty), and
//! [`Backend::state`] returns the same shape, which is what the runner writes as the snapshot
//! (`crate::eval::infer::memory`).
//!
//! `MemoryAPI_kv`'s key search ranks keys with rank_bm25 0.2.2's `BM25Plus` (k1 = 1.5, b = 0.75,
//! δ = 1), ported with numpy's order of floating-point operations so the printed scores match.

use super::backend::{Backend, PyException, PyResult, Returned};
use super::pyops::{dict, no_attr, type_name, unhashable};
use super::signature::{opt, req, Signature};
use super::{Error, Result};
use crate::eval::pyjson::push_json_str;
use crate::eval::pyrepr::py_str;
use crate::eval::pyval::{PyDict, PyVal};

/// The key-value memory class.
pub const MEMORY_KV: &str = "MemoryAPI_kv";
/// The recursive-summary memory class.
pub const MEMORY_REC_SUM: &str = "MemoryAPI_rec_sum";
/// The vector memory class (needs sentence-transformers and faiss; not ported).
pub const MEMORY_VECTOR: &str = "MemoryAPI_vector";

/// `MAX_CORE_MEMORY_SIZE`.
const MAX_CORE_SIZE: usize = 7;
/// `MAX_CORE_MEMORY_ENTRY_LENGTH`.
const MAX_CORE_ENTRY: usize = 300;
/// `MAX_ARCHIVAL_MEMORY_SIZE`.
const MAX_ARCHIVAL_SIZE: usize = 50;
/// `MAX_ARCHIVAL_MEMORY_ENTRY_LENGTH`.
const MAX_ARCHIVAL_ENTRY: usize = 2000;
/// memory_rec_sum's `MAX_MEMORY_ENTRY_LENGTH`.
const MAX_SUMMARY: usize = 10000;

fn five() -> PyVal {
    PyVal::Int(5)
}

const KV_SIGNATURES: &[Signature] = &[
    Signature {
        name: "archival_memory_add",
        params: &[req("key"), req("value")],
    },
    Signature {
        name: "archival_memory_clear",
        params: &[],
    },
    Signature {
        name: "archival_memory_key_search",
        params: &[req("query"), opt("k", five)],
    },
    Signature {
        name: "archival_memory_list_keys",
        params: &[],
    },
    Signature {
        name: "archival_memory_remove",
        params: &[req("key")],
    },
    Signature {
        name: "archival_memory_replace",
        params: &[req("key"), req("value")],
    },
    Signature {
        name: "archival_memory_retrieve",
        params: &[req("key")],
    },
    Signature {
        name: "core_memory_add",
        params: &[req("key"), req("value")],
    },
    Signature {
        name: "core_memory_clear",
        params: &[],
    },
    Signature {
        name: "core_memory_key_search",
        params: &[req("query"), opt("k", five)],
    },
    Signature {
        name: "core_memory_list_keys",
        params: &[],
    },
    Signature {
        name: "core_memory_remove",
        params: &[req("key")],
    },
    Signature {
        name: "core_memory_replace",
        params: &[req("key"), req("value")],
    },
    Signature {
        name: "core_memory_retrieve",
        params: &[req("key")],
    },
    Signature {
        name: "core_memory_retrieve_all",
        params: &[],
    },
];

const REC_SUM_SIGNATURES: &[Signature] = &[
    Signature {
        name: "memory_append",
        params: &[req("text")],
    },
    Signature {
        name: "memory_clear",
        params: &[],
    },
    Signature {
        name: "memory_replace",
        params: &[req("old_text"), req("new_text")],
    },
    Signature {
        name: "memory_retrieve",
        params: &[],
    },
    Signature {
        name: "memory_update",
        params: &[req("text")],
    },
];

/// An insertion-ordered `dict[str, str]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StrMap(Vec<(String, String)>);

impl StrMap {
    fn position(&self, key: &str) -> Option<usize> {
        self.0.iter().position(|(k, _)| k == key)
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.position(key).map(|i| self.0[i].1.as_str())
    }

    /// `d[key] = value`: in place when present, else appended.
    fn set(&mut self, key: String, value: String) {
        match self.position(&key) {
            Some(i) => self.0[i].1 = value,
            None => self.0.push((key, value)),
        }
    }

    fn remove(&mut self, key: &str) -> bool {
        match self.position(key) {
            Some(i) => {
                self.0.remove(i);
                true
            }
            None => false,
        }
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn keys(&self) -> Vec<String> {
        self.0.iter().map(|(k, _)| k.clone()).collect()
    }

    fn to_pyval(&self) -> PyVal {
        let mut d = PyDict::new();
        for (k, v) in &self.0 {
            d.insert_str(k, PyVal::str(v.clone()));
        }
        PyVal::Dict(d)
    }

    /// A snapshot's dict of strings.
    fn from_pyval(v: Option<&PyVal>, class: &str, field: &str) -> Result<Self> {
        let Some(v) = v else {
            return Ok(Self::default());
        };
        let bad = || Error::BadConfig {
            class: class.to_string(),
            reason: format!("{field} must be an object of strings"),
        };
        let d = v.as_dict().ok_or_else(bad)?;
        let mut out = Self::default();
        for (k, v) in d.iter() {
            match (k, v) {
                (PyVal::Str(k), PyVal::Str(v)) => out.set(k.clone(), v.clone()),
                _ => return Err(bad()),
            }
        }
        Ok(out)
    }

    /// `json.dumps(d, indent=4)` (ASCII-escaped, as the default encoder writes it).
    pub fn dumps_indent4(&self) -> String {
        if self.0.is_empty() {
            return "{}".into();
        }
        let mut out = String::from("{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            out.push_str(if i == 0 { "\n    " } else { ",\n    " });
            push_json_str(&mut out, k);
            out.push_str(": ");
            push_json_str(&mut out, v);
        }
        out.push_str("\n}");
        super::backend::ascii_escape(&out)
    }
}

/// `_is_valid_key_format`: `re.match(r"^[a-z]+(_[a-z0-9]+)*$", s)` (`$` also matches before a
/// final newline).
fn valid_key(s: &str) -> bool {
    let s = s.strip_suffix('\n').unwrap_or(s);
    let mut parts = s.split('_');
    let first = parts.next().unwrap_or("");
    !first.is_empty()
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// `len(s)` (code points).
fn py_len(s: &str) -> usize {
    s.chars().count()
}

/// `str.split()` with no separator: runs of Python whitespace (Unicode `White_Space` plus the
/// information separators U+001C..U+001F).
fn py_split(s: &str) -> Vec<&str> {
    s.split(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
        .filter(|t| !t.is_empty())
        .collect()
}

/// `text.replace("_", " ").lower().split()`.
fn tokenize(text: &str) -> Vec<String> {
    let lowered = text.replace('_', " ").to_lowercase();
    py_split(&lowered).into_iter().map(str::to_string).collect()
}

/// rank_bm25's `BM25Plus(corpus).get_scores(query)`; `None` for an empty corpus (Python raises
/// `ZeroDivisionError` computing the average length).
pub fn bm25plus_scores(corpus: &[Vec<String>], query: &[String]) -> Option<Vec<f64>> {
    let (k1, b, delta) = (1.5f64, 0.75f64, 1.0f64);
    if corpus.is_empty() {
        return None;
    }
    let n = corpus.len();
    let total: usize = corpus.iter().map(Vec::len).sum();
    let avgdl = total as f64 / n as f64;
    // Term frequencies per document, and document frequencies.
    let freqs: Vec<std::collections::HashMap<&str, usize>> = corpus
        .iter()
        .map(|doc| {
            let mut f = std::collections::HashMap::new();
            for w in doc {
                *f.entry(w.as_str()).or_insert(0) += 1;
            }
            f
        })
        .collect();
    let mut nd: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for f in &freqs {
        for w in f.keys() {
            *nd.entry(w).or_insert(0) += 1;
        }
    }
    let mut score = vec![0.0f64; n];
    for q in query {
        let idf = nd
            .get(q.as_str())
            .map_or(0.0, |&df| ((n + 1) as f64 / df as f64).ln());
        for (i, s) in score.iter_mut().enumerate() {
            let qf = freqs[i].get(q.as_str()).copied().unwrap_or(0) as f64;
            let dl = corpus[i].len() as f64;
            // numpy evaluates: k1 * ((1 - b) + (b * dl) / avgdl) + qf, left to right.
            let den = k1 * ((1.0 - b) + (b * dl) / avgdl) + qf;
            *s += idf * (delta + (qf * (k1 + 1.0)) / den);
        }
    }
    Some(score)
}

/// `_similarity_search(query, keys, k)`: `{"ranked_results": [[score, key], ...][:k]}`.
fn similarity_search(keys: Vec<String>, query: &PyVal, k: &PyVal) -> PyResult<Returned> {
    let corpus: Vec<Vec<String>> = keys.iter().map(|t| tokenize(t)).collect();
    if corpus.is_empty() {
        return Err(PyException {
            kind: "ZeroDivisionError",
            message: "division by zero".into(),
        });
    }
    let PyVal::Str(query) = query else {
        return Err(no_attr(query, "replace"));
    };
    let scores = bm25plus_scores(&corpus, &tokenize(query)).unwrap_or_default();
    let mut ranked: Vec<(f64, String)> = scores.into_iter().zip(keys).collect();
    // sorted(..., key=score, reverse=True) is stable: ties keep the keys' order.
    ranked.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    let ranked = py_slice_to(ranked, k)?;
    let items = ranked
        .into_iter()
        .map(|(s, key)| PyVal::Tuple(vec![PyVal::Float(s), PyVal::Str(key)]))
        .collect();
    Ok(Returned::Value(dict([(
        "ranked_results",
        PyVal::List(items),
    )])))
}

/// `items[:k]` with Python's slice rules (`None` keeps all, negative counts from the end).
fn py_slice_to<T>(mut items: Vec<T>, k: &PyVal) -> PyResult<Vec<T>> {
    let len = items.len() as i128;
    let stop = match k {
        PyVal::None => len,
        PyVal::Bool(b) => i128::from(*b),
        PyVal::Int(i) => *i,
        PyVal::BigInt(s) => {
            if s.starts_with('-') {
                0
            } else {
                len
            }
        }
        _ => {
            return Err(PyException::type_error(
                "slice indices must be integers or None or have an __index__ method",
            ))
        }
    };
    let stop = if stop < 0 {
        (len + stop).max(0)
    } else {
        stop.min(len)
    };
    items.truncate(stop as usize);
    Ok(items)
}

/// `key in d` for a dict of strings: unhashable keys raise, non-string keys are never found.
fn lookup_key(key: &PyVal) -> PyResult<Option<&str>> {
    match key {
        PyVal::Str(s) => Ok(Some(s)),
        PyVal::List(_) | PyVal::Dict(_) => Err(unhashable(key)),
        PyVal::Tuple(items) => {
            // A tuple hashes only if its items do.
            for it in items {
                lookup_key(it)?;
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

fn status(msg: &str) -> Returned {
    Returned::Value(dict([("status", PyVal::str(msg))]))
}

fn error(msg: impl Into<String>) -> Returned {
    Returned::Value(dict([("error", PyVal::str(msg.into()))]))
}

/// Which of the two key-value stores a method works on.
#[derive(Clone, Copy)]
enum Store {
    Core,
    Archival,
}

impl Store {
    fn limits(self) -> (usize, usize, &'static str) {
        match self {
            Store::Core => (
                MAX_CORE_SIZE,
                MAX_CORE_ENTRY,
                "Core memory is full. Please clear some entries.",
            ),
            Store::Archival => (
                MAX_ARCHIVAL_SIZE,
                MAX_ARCHIVAL_ENTRY,
                "Long term memory is full. Please clear some entries.",
            ),
        }
    }
}

/// `MemoryAPI_kv`: a small core memory (shown in the system prompt) and a larger archival one.
#[derive(Clone, Debug, Default)]
pub struct MemoryKv {
    core: StrMap,
    archival: StrMap,
}

impl MemoryKv {
    /// Loads a snapshot (`{"core_memory", "archival_memory"}`; missing keys start empty).
    pub fn load(config: &PyDict) -> Result<Self> {
        Ok(MemoryKv {
            core: StrMap::from_pyval(config.get_str("core_memory"), MEMORY_KV, "core_memory")?,
            archival: StrMap::from_pyval(
                config.get_str("archival_memory"),
                MEMORY_KV,
                "archival_memory",
            )?,
        })
    }

    /// `_dump_core_memory_to_context`.
    pub fn dump_to_context(&self) -> String {
        if self.core.len() == 0 {
            "There is no content in the core memory at this point.".into()
        } else {
            self.core.dumps_indent4()
        }
    }

    fn map(&mut self, store: Store) -> &mut StrMap {
        match store {
            Store::Core => &mut self.core,
            Store::Archival => &mut self.archival,
        }
    }

    fn add(&mut self, store: Store, key: &PyVal, value: &PyVal) -> Returned {
        let (key, value) = (py_str(key), py_str(value));
        let (max_size, max_len, full) = store.limits();
        let map = self.map(store);
        if map.len() >= max_size {
            return error(full);
        }
        if py_len(&value) > max_len {
            return error(format!(
                "Entry is too long. Please shorten the entry to less than {max_len} characters."
            ));
        }
        if !valid_key(&key) {
            return error("Key must be in snake_case format and cannot contain spaces.");
        }
        if map.get(&key).is_some() {
            return error("Key name must be unique.");
        }
        map.set(key, value);
        status(match store {
            Store::Core => "Key-value pair added.",
            Store::Archival => "Key added.",
        })
    }

    fn replace(&mut self, store: Store, key: &PyVal, value: &PyVal) -> Returned {
        let (key, value) = (py_str(key), py_str(value));
        let (_, max_len, _) = store.limits();
        let map = self.map(store);
        if map.get(&key).is_none() {
            return error("Key not found.");
        }
        if py_len(&value) > max_len {
            return error(format!(
                "Entry is too long. Please shorten the entry to less than {max_len} characters."
            ));
        }
        map.set(key, value);
        status("Key replaced.")
    }

    fn remove(&mut self, store: Store, key: &PyVal) -> PyResult<Returned> {
        let map = self.map(store);
        Ok(match lookup_key(key)? {
            Some(k) if map.remove(k) => status("Key removed."),
            _ => error("Key not found."),
        })
    }

    fn retrieve(&mut self, store: Store, key: &PyVal) -> PyResult<Returned> {
        let map = self.map(store);
        Ok(match lookup_key(key)?.and_then(|k| map.get(k)) {
            Some(v) => Returned::Value(dict([("value", PyVal::str(v))])),
            None => error("Key not found."),
        })
    }

    fn list_keys(&mut self, store: Store) -> Returned {
        let keys = self.map(store).keys().into_iter().map(PyVal::Str).collect();
        Returned::Value(dict([("keys", PyVal::List(keys))]))
    }
}

impl Backend for MemoryKv {
    fn class_name(&self) -> &'static str {
        MEMORY_KV
    }

    fn signatures(&self) -> &'static [Signature] {
        KV_SIGNATURES
    }

    fn invoke(&mut self, method: &str, args: Vec<PyVal>) -> PyResult<Returned> {
        let arg = |i: usize| args.get(i).cloned().unwrap_or(PyVal::None);
        let (store, op) = match method.split_once("_memory_") {
            Some(("core", op)) => (Store::Core, op),
            Some(("archival", op)) => (Store::Archival, op),
            _ => return Err(no_method(MEMORY_KV, method)),
        };
        match op {
            "add" => Ok(self.add(store, &arg(0), &arg(1))),
            "replace" => Ok(self.replace(store, &arg(0), &arg(1))),
            "remove" => self.remove(store, &arg(0)),
            "retrieve" => self.retrieve(store, &arg(0)),
            "list_keys" => Ok(self.list_keys(store)),
            "key_search" => similarity_search(self.map(store).keys(), &arg(0), &arg(1)),
            "clear" => {
                *self.map(store) = StrMap::default();
                Ok(status(match store {
                    Store::Core => "Short term memory cleared.",
                    Store::Archival => "Long term memory cleared.",
                }))
            }
            "retrieve_all" if matches!(store, Store::Core) => {
                Ok(Returned::Value(self.core.to_pyval()))
            }
            _ => Err(no_method(MEMORY_KV, method)),
        }
    }

    /// The snapshot: `{"core_memory", "archival_memory"}` (the Python instance also holds its
    /// snapshot paths and test id, which no checker compares for these categories).
    fn memory_context(&self) -> Option<String> {
        Some(self.dump_to_context())
    }

    fn state(&self) -> PyDict {
        let mut d = PyDict::new();
        d.insert_str("core_memory", self.core.to_pyval());
        d.insert_str("archival_memory", self.archival.to_pyval());
        d
    }
}

fn no_method(class: &str, method: &str) -> PyException {
    PyException::attribute_error(format!("'{class}' object has no attribute '{method}'"))
}

/// `MemoryAPI_rec_sum`: one text the model keeps summarizing.
#[derive(Clone, Debug, Default)]
pub struct MemoryRecSum {
    memory: String,
}

impl MemoryRecSum {
    /// Loads a snapshot (`{"memory": "..."}`; missing starts empty).
    pub fn load(config: &PyDict) -> Result<Self> {
        let memory = match config.get_str("memory") {
            None => String::new(),
            Some(PyVal::Str(s)) => s.clone(),
            Some(other) => {
                return Err(Error::BadConfig {
                    class: MEMORY_REC_SUM.into(),
                    reason: format!(
                        "Memory data should be a string, but got {} instead.",
                        type_name(other)
                    ),
                })
            }
        };
        Ok(MemoryRecSum { memory })
    }

    /// `_dump_core_memory_to_context`.
    pub fn dump_to_context(&self) -> String {
        if self.memory.is_empty() {
            "There is no content in the memory at this point.".into()
        } else {
            self.memory.clone()
        }
    }

    fn too_long(what: &str) -> Returned {
        error(format!(
            "Entry will be too long after {what}. Please shorten the entry to less than {MAX_SUMMARY} characters."
        ))
    }
}

impl Backend for MemoryRecSum {
    fn class_name(&self) -> &'static str {
        MEMORY_REC_SUM
    }

    fn signatures(&self) -> &'static [Signature] {
        REC_SUM_SIGNATURES
    }

    fn invoke(&mut self, method: &str, args: Vec<PyVal>) -> PyResult<Returned> {
        let arg = |i: usize| py_str(args.get(i).unwrap_or(&PyVal::None));
        Ok(match method {
            "memory_append" => {
                let text = arg(0);
                if py_len(&self.memory) + py_len(&text) > MAX_SUMMARY {
                    Self::too_long("appending")
                } else {
                    self.memory.push_str(&text);
                    status("Memory appended.")
                }
            }
            "memory_update" => {
                let text = arg(0);
                if py_len(&text) > MAX_SUMMARY {
                    Self::too_long("updating")
                } else {
                    self.memory = text;
                    status("Memory updated.")
                }
            }
            "memory_clear" => {
                self.memory.clear();
                status("Short term memory cleared.")
            }
            "memory_replace" => {
                let (old, new) = (arg(0), arg(1));
                if !self.memory.contains(old.as_str()) {
                    error(format!("Text '{old}' not found in memory."))
                } else if py_len(&new) > MAX_SUMMARY {
                    Self::too_long("replacing")
                } else {
                    self.memory = self.memory.replace(old.as_str(), &new);
                    status("Memory updated.")
                }
            }
            "memory_retrieve" => {
                if self.memory.is_empty() {
                    error("Memory is empty.")
                } else {
                    Returned::Value(dict([("memory_content", PyVal::str(self.memory.clone()))]))
                }
            }
            _ => return Err(no_method(MEMORY_REC_SUM, method)),
        })
    }

    /// The snapshot: `{"memory"}`.
    fn memory_context(&self) -> Option<String> {
        Some(self.dump_to_context())
    }

    fn state(&self) -> PyDict {
        let mut d = PyDict::new();
        d.insert_str("memory", PyVal::str(self.memory.clone()));
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_format_follows_the_regex() {
        for ok in ["a", "user_name", "item_2", "abc\n", "x_1_y"] {
            assert!(valid_key(ok), "{ok:?}");
        }
        for bad in [
            "", "User", "_a", "a_", "a__b", "a b", "1a", "a-b", "abc\n\n", "é",
        ] {
            assert!(!valid_key(bad), "{bad:?}");
        }
    }

    #[test]
    fn slices_like_python() {
        let v = || vec![1, 2, 3];
        assert_eq!(py_slice_to(v(), &PyVal::Int(2)).unwrap(), vec![1, 2]);
        assert_eq!(py_slice_to(v(), &PyVal::Int(-1)).unwrap(), vec![1, 2]);
        assert_eq!(
            py_slice_to(v(), &PyVal::Int(-9)).unwrap(),
            Vec::<i32>::new()
        );
        assert_eq!(py_slice_to(v(), &PyVal::None).unwrap(), vec![1, 2, 3]);
        assert_eq!(py_slice_to(v(), &PyVal::Bool(true)).unwrap(), vec![1]);
        assert!(py_slice_to(v(), &PyVal::str("2")).is_err());
    }

    #[test]
    fn empty_corpus_has_no_scores() {
        assert!(bm25plus_scores(&[], &["a".into()]).is_none());
        let s = bm25plus_scores(&[vec!["user".into(), "name".into()]], &["name".into()]).unwrap();
        // idf = ln(2/1); qf = 1, dl = avgdl: 1 + 2.5 / (1.5 + 1) = 2.
        assert!((s[0] - 2.0 * 2f64.ln()).abs() < 1e-15);
    }
}
