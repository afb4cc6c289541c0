//! Shared fixture readers of the BFCL multi-turn tests (fixtures in tests/fixtures/bfcl_multi_turn/,
//! written by the scripts/bfcl_multi_turn_*fixtures*.py generators from the official wheel).
#![allow(dead_code)]

use std::path::PathBuf;

use trainer::eval::pyjson;
use trainer::eval::pyval::PyVal;

/// `tests/fixtures/bfcl_multi_turn/<name>`, parsed as Python-compatible JSON.
pub fn fixture(name: &str) -> PyVal {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bfcl_multi_turn")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    pyjson::loads(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Field `key` of a fixture dict.
pub fn field<'a>(v: &'a PyVal, key: &str) -> &'a PyVal {
    v.as_dict()
        .and_then(|d| d.get_str(key))
        .unwrap_or_else(|| panic!("fixture field `{key}` missing"))
}

/// A fixture list of strings.
pub fn strings(v: &PyVal) -> Vec<String> {
    v.as_list()
        .expect("list")
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}
