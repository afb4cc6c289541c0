//! Contamination guard: refuses BFCL evaluation data, which must never become training data.
//!
//! Evidence looked for: file names like `BFCL_v3_simple.json` / `BFCL_v4_live_multiple.json`,
//! paths through the `bfcl_eval` package or the `berkeley-function-call-leaderboard` repo,
//! and entries whose `id` is a BFCL test id (`simple_python_12`, `live_multiple_3-1-0`,
//! `multi_turn_base_7`, `memory_kv_0-customer-0`, ...).

use std::path::Path;

use serde_json::Value;

/// BFCL category prefixes of test ids (v3 and v4 names, retired ones included).
const CATEGORIES: &[&str] = &[
    "simple",
    "simple_python",
    "simple_java",
    "simple_javascript",
    "java",
    "javascript",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_irrelevance",
    "live_relevance",
    "multi_turn_base",
    "multi_turn_miss_func",
    "multi_turn_miss_param",
    "multi_turn_long_context",
    "multi_turn_composite",
    "web_search",
    "web_search_base",
    "web_search_no_snippet",
    "memory",
    "memory_kv",
    "memory_vector",
    "memory_rec_sum",
    "exec_simple",
    "exec_multiple",
    "exec_parallel",
    "exec_parallel_multiple",
    "rest",
    "sql",
    "chatable",
];

/// Path components that only BFCL's own data lives under.
const BFCL_DIRS: &[&str] = &["bfcl_eval", "berkeley-function-call-leaderboard"];

/// Evidence that `path` is BFCL data, judged from its name alone.
pub fn path_evidence(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_string_lossy();
    if is_bfcl_file_name(&name) {
        return Some(format!(
            "file name {name:?} is a BFCL data file name (BFCL_v*_...)"
        ));
    }
    path.components().find_map(|c| {
        let part = c.as_os_str().to_string_lossy();
        BFCL_DIRS
            .contains(&part.as_ref())
            .then(|| format!("path goes through {part:?}, the BFCL evaluation data"))
    })
}

/// `BFCL_v<digits>_...`.
fn is_bfcl_file_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("BFCL_v") else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && rest[digits..].starts_with('_')
}

/// Evidence that a parsed document is BFCL data: an entry (the document itself or an element
/// of a top-level list) whose `id` is a BFCL test id. Returns the pointer and the id.
pub fn content_evidence(doc: &Value) -> Option<String> {
    let entries: Box<dyn Iterator<Item = (String, &Value)>> = match doc {
        Value::Array(items) => Box::new(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("/{i}/id"), v)),
        ),
        other => Box::new(std::iter::once(("/id".to_string(), other))),
    };
    for (pointer, entry) in entries {
        if let Some(id) = entry.get("id").and_then(Value::as_str) {
            if is_bfcl_id(id) {
                return Some(format!("entry id {id:?} at {pointer} is a BFCL test id"));
            }
        }
    }
    None
}

/// Whether `id` has the shape of a BFCL test id: `<category>_<n>` or `<category>_<n>-<n>-<n>`
/// (live), or `memory..._<n>-<word>-<n>`.
pub fn is_bfcl_id(id: &str) -> bool {
    let Some((prefix, tail)) = id.rsplit_once('_') else {
        return false;
    };
    if !CATEGORIES.contains(&prefix) {
        return false;
    }
    let parts: Vec<&str> = tail.split('-').collect();
    let number = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    match parts.as_slice() {
        [n] => number(n),
        [a, b, c] => {
            number(a) && number(c) && (number(b) || (prefix.starts_with("memory") && word(b)))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognizes_bfcl_ids() {
        for id in [
            "simple_python_12",
            "simple_0",
            "live_multiple_3-1-0",
            "multi_turn_base_7",
            "parallel_multiple_0",
            "irrelevance_239",
            "memory_kv_0-customer-0",
            "web_search_base_0",
        ] {
            assert!(is_bfcl_id(id), "{id}");
        }
        for id in [
            "simple",
            "simple_python_x",
            "user_12",
            "live_multiple_3-1",
            "my_tool_1",
        ] {
            assert!(!is_bfcl_id(id), "{id}");
        }
    }

    #[test]
    fn recognizes_bfcl_paths() {
        assert!(path_evidence(Path::new("data/BFCL_v4_simple_python.json")).is_some());
        assert!(path_evidence(Path::new("x/bfcl_eval/data/multi_turn_func_doc/a.json")).is_some());
        assert!(path_evidence(Path::new("specs/petstore.json")).is_none());
        assert!(path_evidence(Path::new("BFCL_vx_a.json")).is_none());
    }
}
