//! `QwenFCHandler.decode_ast`: every `<tool_call>\n...\n</tool_call>` block
//! (regex `<tool_call>\n(.*?)\n</tool_call>`, DOTALL) is `json.loads`ed;
//! blocks that are not valid JSON are skipped silently.

use super::{DecodeError, Result};
use crate::eval::pyjson;
use crate::eval::pyval::{PyDict, PyVal};

const OPEN: &str = "<tool_call>\n";
const CLOSE: &str = "\n</tool_call>";

/// `re.findall(r"<tool_call>\n(.*?)\n</tool_call>", s, re.DOTALL)`.
pub fn find_tool_call_blocks(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(rel) = s[from..].find(OPEN) {
        let body_start = from + rel + OPEN.len();
        match s[body_start..].find(CLOSE) {
            Some(end_rel) => {
                out.push(&s[body_start..body_start + end_rel]);
                from = body_start + end_rel + CLOSE.len();
            }
            None => break,
        }
    }
    out
}

/// Decodes the raw model text of the Qwen FC profile.
pub fn decode(result: &PyVal) -> Result<PyVal> {
    let PyVal::Str(s) = result else {
        return Err(DecodeError::Failed(
            "expected string or bytes-like object".to_string(),
        ));
    };
    let calls: Vec<PyVal> = find_tool_call_blocks(s)
        .into_iter()
        .filter_map(|block| pyjson::loads(block).ok())
        .collect();
    if calls.iter().any(|c| !matches!(c, PyVal::Dict(_))) {
        return Err(DecodeError::Failed(format!(
            "Model did not return a list of function calls: {s}"
        )));
    }
    let mut out = Vec::with_capacity(calls.len());
    for call in &calls {
        let PyVal::Dict(d) = call else { continue };
        let name = d
            .get_str("name")
            .ok_or_else(|| DecodeError::Failed("'name'".into()))?;
        let args = d
            .get_str("arguments")
            .ok_or_else(|| DecodeError::Failed("'arguments'".into()))?;
        let PyVal::Dict(args) = args else {
            return Err(DecodeError::Failed(format!(
                "'{}' object has no attribute 'items'",
                args.py_type().name()
            )));
        };
        let mut entry = PyDict::new();
        entry
            .insert(name.clone(), PyVal::Dict(args.clone()))
            .map_err(|u| DecodeError::Failed(format!("unhashable type: '{}'", u.0)))?;
        out.push(PyVal::Dict(entry));
    }
    Ok(PyVal::List(out))
}
