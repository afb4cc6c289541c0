//! From one model step to the calls the official harness executes:
//!
//! 1. `handler.decode_execute(step)` for the two Qwen profiles: `default_decode_execute_prompting`
//!    (the prompting decoder, then `decoded_output_to_execution_list`/`parse_nested_value`) and
//!    `QwenFCHandler.decode_execute` (`<tool_call>` JSON, then `convert_to_function_call`). Both
//!    yield Python call strings such as `cd(folder='document')`.
//! 2. `execute_multi_turn_func_call` runs each string with `eval` after prefixing backend method
//!    names with their instance (`_process_method_calls`). [`exec_step`] turns a string into a
//!    [`Call`] when `eval` would simply call that method with literal arguments, into the exact
//!    result when `eval` fails before any call (an undefined dotted name), and into
//!    [`ExecStep::Unsupported`] for anything else `eval` would do (nested calls, Python builtins,
//!    argument text the method-name rewriting would alter), so such steps are never silently
//!    executed differently.

use std::collections::HashSet;

use super::call::Call;
use super::executor::Executor;
use crate::eval::checker::Language;
use crate::eval::decode::{decode_ast, DecodeError, Profile};
use crate::eval::pyjson;
use crate::eval::pyrepr::{py_str, repr};
use crate::eval::pyval::{PyDict, PyVal};

/// Why a step has no calls to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepDecodeError {
    /// The official decoder raises too: the step is a plain message.
    Failed(String),
    /// The Rust decoder does not evaluate this syntax; the official one might succeed.
    Unsupported(String),
}

/// One execution string as the harness would run it.
#[derive(Debug, Clone)]
pub enum ExecStep {
    /// A backend method (or an undefined name) called with literal arguments.
    Call(Call),
    /// `eval` fails before calling anything; this is its tool-message string.
    Fixed(String),
    /// Something this port does not reproduce (with the reason).
    Unsupported(String),
}

/// `handler.decode_execute(step)`: the step's execution strings (possibly none).
pub fn decode_execute(profile: Profile, step: &str) -> Result<Vec<String>, StepDecodeError> {
    match profile {
        Profile::Prompting => {
            let decoded = decode_ast(Profile::Prompting, &PyVal::str(step), Language::Python)
                .map_err(|e| match e {
                    DecodeError::Failed(m) => StepDecodeError::Failed(m),
                    DecodeError::Unsupported(m) => StepDecodeError::Unsupported(m),
                })?;
            execution_list(&decoded).map_err(StepDecodeError::Failed)
        }
        Profile::QwenFc => fc_execution_list(step).map_err(StepDecodeError::Failed),
    }
}

/// `is_empty_execute_response` (decoded strings are never empty, so: no strings).
pub fn is_empty_execute_response(decoded: &[String]) -> bool {
    decoded.is_empty() || (decoded.len() == 1 && decoded[0].is_empty())
}

/// `decoded_output_to_execution_list`.
fn execution_list(decoded: &PyVal) -> Result<Vec<String>, String> {
    let items = decoded.as_list().ok_or("decoded output is not a list")?;
    let mut out = Vec::new();
    for item in items {
        let d = item
            .as_dict()
            .ok_or_else(|| format!("'{}' object has no attribute 'items'", type_name(item)))?;
        for (key, value) in d.iter() {
            let args = kwargs_of(value)?;
            let parts = args
                .iter()
                .map(|(k, v)| Ok(format!("{}={}", py_str(k), nested_value(v)?)))
                .collect::<Result<Vec<_>, String>>()?;
            out.push(format!("{}({})", py_str(key), parts.join(", ")));
        }
    }
    Ok(out)
}

fn type_name(v: &PyVal) -> &'static str {
    v.py_type().name()
}

fn kwargs_of(v: &PyVal) -> Result<&PyDict, String> {
    v.as_dict()
        .ok_or_else(|| format!("'{}' object has no attribute 'items'", type_name(v)))
}

/// `parse_nested_value`: a dict whose values are all dicts prints as a call, another dict as
/// `{'k': v}` (keys with `str()`, unescaped), anything else with `repr()`.
fn nested_value(v: &PyVal) -> Result<String, String> {
    let PyVal::Dict(d) = v else {
        return Ok(repr(v));
    };
    if d.iter().all(|(_, x)| matches!(x, PyVal::Dict(_))) {
        let (name, args) = d.iter().next().ok_or("list index out of range")?;
        let args = kwargs_of(args)?;
        let parts = args
            .iter()
            .map(|(k, x)| Ok(format!("{}={}", py_str(k), nested_value(x)?)))
            .collect::<Result<Vec<_>, String>>()?;
        return Ok(format!("{}({})", py_str(name), parts.join(", ")));
    }
    let parts = d
        .iter()
        .map(|(k, x)| Ok(format!("'{}': {}", py_str(k), nested_value(x)?)))
        .collect::<Result<Vec<_>, String>>()?;
    Ok(format!("{{{}}}", parts.join(", ")))
}

/// `re.findall(r"<tool_call>\n(.*?)\n</tool_call>", s, re.DOTALL)`.
fn tool_call_blocks(s: &str) -> Vec<&str> {
    const OPEN: &str = "<tool_call>\n";
    const CLOSE: &str = "\n</tool_call>";
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find(OPEN) {
        let body = &rest[start + OPEN.len()..];
        let Some(end) = body.find(CLOSE) else { break };
        out.push(&body[..end]);
        rest = &body[end + CLOSE.len()..];
    }
    out
}

/// `QwenFCHandler._extract_tool_calls`: the blocks that are valid JSON.
pub fn extract_tool_calls(s: &str) -> Vec<PyVal> {
    tool_call_blocks(s)
        .into_iter()
        .filter_map(|b| pyjson::loads(b).ok())
        .collect()
}

/// `QwenFCHandler.decode_execute` + `convert_to_function_call`.
fn fc_execution_list(step: &str) -> Result<Vec<String>, String> {
    let calls = extract_tool_calls(step);
    if calls.iter().any(|c| !matches!(c, PyVal::Dict(_))) {
        return Err(format!(
            "Model did not return a list of function calls: {step}"
        ));
    }
    let mut out = Vec::new();
    for call in &calls {
        let d = call.as_dict().ok_or("not a dict")?;
        let name = d.get_str("name").ok_or("'name'")?;
        let arguments = d.get_str("arguments").ok_or("'arguments'")?;
        if matches!(name, PyVal::List(_) | PyVal::Dict(_)) {
            return Err(format!("unhashable type: '{}'", type_name(name)));
        }
        let parsed;
        let args = match arguments {
            PyVal::Str(s) => {
                parsed = pyjson::loads(s).map_err(|e| e.to_string())?;
                &parsed
            }
            other => other,
        };
        let parts: Vec<String> = kwargs_of(args)?
            .iter()
            .map(|(k, v)| format!("{}={}", py_str(k), repr(v)))
            .collect();
        out.push(format!("{}({})", py_str(name), parts.join(",")));
    }
    Ok(out)
}

/// Names `eval` resolves in `multi_turn_utils` without a backend instance: the module's globals
/// and Python's builtins (exception classes are matched by suffix).
const PY_NAMES: &[&str] = &[
    "copy",
    "importlib",
    "inspect",
    "json",
    "re",
    "CLASS_FILE_PATH_MAPPING",
    "STATELESS_CLASSES",
    "execute_multi_turn_func_call",
    "is_empty_execute_response",
    "_process_method_calls",
    "Ellipsis",
    "False",
    "None",
    "NotImplemented",
    "True",
    "abs",
    "aiter",
    "all",
    "anext",
    "any",
    "ascii",
    "bin",
    "bool",
    "breakpoint",
    "bytearray",
    "bytes",
    "callable",
    "chr",
    "classmethod",
    "compile",
    "complex",
    "copyright",
    "credits",
    "delattr",
    "dict",
    "dir",
    "divmod",
    "enumerate",
    "eval",
    "exec",
    "exit",
    "filter",
    "float",
    "format",
    "frozenset",
    "getattr",
    "globals",
    "hasattr",
    "hash",
    "help",
    "hex",
    "id",
    "input",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "license",
    "list",
    "locals",
    "map",
    "max",
    "memoryview",
    "min",
    "next",
    "object",
    "oct",
    "open",
    "ord",
    "pow",
    "print",
    "property",
    "quit",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "setattr",
    "slice",
    "sorted",
    "staticmethod",
    "str",
    "sum",
    "super",
    "tuple",
    "type",
    "vars",
    "zip",
];

/// Names the harness refuses to evaluate (checked on the name after the instance prefix).
const REFUSED: [&str; 8] = [
    "kill", "exit", "quit", "remove", "unlink", "popen", "Popen", "run",
];

fn is_python_name(name: &str) -> bool {
    name.starts_with("__")
        || PY_NAMES.contains(&name)
        || [
            "Error",
            "Exception",
            "Warning",
            "Exit",
            "Interrupt",
            "Iteration",
        ]
        .iter()
        .any(|s| name.ends_with(s))
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Byte offsets and names of the `_process_method_calls` matches
/// (`\b([a-zA-Z_]\w*)\s*(?=\()`) in `s`.
fn call_name_matches(s: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut iter = s.char_indices().peekable();
    let mut prev_word = false;
    while let Some((i, c)) = iter.next() {
        if !is_word(c) {
            prev_word = false;
            continue;
        }
        if prev_word {
            continue;
        }
        prev_word = true;
        let mut end = i + c.len_utf8();
        while let Some(&(j, d)) = iter.peek() {
            if !is_word(d) {
                break;
            }
            end = j + d.len_utf8();
            iter.next();
        }
        let after = s[end..].trim_start();
        if (c.is_ascii_alphabetic() || c == '_') && after.starts_with('(') {
            out.push((i, &s[i..end]));
        }
    }
    out
}

/// What `execute_multi_turn_func_call` does with one execution string, given the public method
/// names of the entry's backend instances.
pub fn exec_step(text: &str, methods: &HashSet<&str>) -> ExecStep {
    let unsupported = |why: String| ExecStep::Unsupported(format!("`{text}`: {why}"));
    let callee = text.split('(').next().unwrap_or_default().trim();
    let rewritten = call_name_matches(text)
        .into_iter()
        .filter(|(_, name)| methods.contains(name))
        .count();
    let callee_is_method = callee
        .rsplit('.')
        .next()
        .is_some_and(|last| methods.contains(last));
    if rewritten > usize::from(callee_is_method) {
        return unsupported(
            "the harness would also rewrite a method name inside the arguments".into(),
        );
    }
    if callee.contains('.') {
        let segments: Vec<&str> = callee.split('.').collect();
        let checked = match segments.as_slice() {
            [_, last] if methods.contains(last) => None,
            [_, second, ..] => Some(*second),
            _ => None,
        };
        if let Some(name) = checked {
            if REFUSED.contains(&name) {
                return ExecStep::Fixed(format!(
                    "Error during execution: Function call {name} is not allowed."
                ));
            }
        }
        let first = segments.first().copied().unwrap_or_default();
        let identifier = first
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && first.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if identifier && !is_python_name(first) && !methods.contains(first) {
            return ExecStep::Fixed(format!(
                "Error during execution: name '{first}' is not defined"
            ));
        }
        return unsupported("a dotted callee that Python would resolve".into());
    }
    if REFUSED.contains(&callee) {
        return ExecStep::Fixed(format!(
            "Error during execution: Function call {callee} is not allowed."
        ));
    }
    if !methods.contains(callee) && is_python_name(callee) {
        return unsupported(format!(
            "`{callee}` is a Python builtin, not a backend method"
        ));
    }
    match Call::parse(text) {
        Ok(call) => ExecStep::Call(call),
        Err(e) => unsupported(e.to_string()),
    }
}

/// Runs `call` like [`Executor::execute`] (the tool-message string, exceptions as
/// `"Error during execution: ..."`), or `Err` with the reason when the backend took a path this
/// port does not reproduce (an exception of kind `Unsupported`).
pub fn execute_call(exec: &mut Executor, call: &Call) -> Result<String, String> {
    match exec.try_execute(call) {
        Ok(s) => Ok(s),
        Err(e) if e.kind == "Unsupported" => Err(format!("`{}`: {}", call.name, e.message)),
        Err(e) => Ok(format!("Error during execution: {}", e.message)),
    }
}

/// Whether the entry runs with `long_context=True` backends (`"long_context" in category or
/// "composite" in category`).
pub fn is_long_context(entry_id: &str) -> bool {
    let category = entry_id.rsplit_once('_').map_or(entry_id, |(c, _)| c);
    category.contains("long_context") || category.contains("composite")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn methods() -> HashSet<&'static str> {
        ["cd", "ls", "echo", "mkdir"].into_iter().collect()
    }

    #[test]
    fn prompting_steps_become_python_call_strings() {
        let got = decode_execute(
            Profile::Prompting,
            "[cd(folder='a b'), echo(content=\"x\", n=1.5)]",
        );
        assert_eq!(
            got,
            Ok(vec![
                "cd(folder='a b')".to_string(),
                "echo(content='x', n=1.5)".to_string()
            ])
        );
        assert!(matches!(
            decode_execute(Profile::Prompting, "Done."),
            Err(StepDecodeError::Failed(_))
        ));
        assert!(decode_execute(Profile::Prompting, "I moved the file.").is_err());
        assert_eq!(decode_execute(Profile::Prompting, ""), Ok(vec![]));
    }

    #[test]
    fn fc_steps_use_repr_without_spaces() {
        let step = "<tool_call>\n{\"name\": \"cd\", \"arguments\": {\"folder\": \"d\", \"f\": true, \"n\": null}}\n</tool_call>\n<tool_call>\n{\"name\": \"ls\", \"arguments\": \"{\\\"a\\\": 1}\"}\n</tool_call>";
        assert_eq!(
            decode_execute(Profile::QwenFc, step),
            Ok(vec![
                "cd(folder='d',f=True,n=None)".to_string(),
                "ls(a=1)".to_string()
            ])
        );
        assert_eq!(decode_execute(Profile::QwenFc, "no calls"), Ok(vec![]));
        assert!(decode_execute(Profile::QwenFc, "<tool_call>\n[1]\n</tool_call>").is_err());
        assert!(decode_execute(
            Profile::QwenFc,
            "<tool_call>\n{\"name\": \"cd\"}\n</tool_call>"
        )
        .is_err());
    }

    #[test]
    fn exec_steps_follow_eval() {
        let m = methods();
        assert!(matches!(exec_step("cd(folder='x')", &m), ExecStep::Call(c) if c.name == "cd"));
        assert!(matches!(exec_step("nope(a=1)", &m), ExecStep::Call(_)));
        assert!(matches!(
            exec_step("GorillaFileSystem.cd(folder='x')", &m),
            ExecStep::Fixed(s) if s == "Error during execution: name 'GorillaFileSystem' is not defined"
        ));
        assert!(matches!(
            exec_step("a.kill(x=1)", &m),
            ExecStep::Fixed(s) if s == "Error during execution: Function call kill is not allowed."
        ));
        assert!(matches!(
            exec_step("json.dumps(obj=1)", &m),
            ExecStep::Unsupported(_)
        ));
        assert!(matches!(
            exec_step("print(x=1)", &m),
            ExecStep::Unsupported(_)
        ));
        assert!(matches!(
            exec_step("exit(code=1)", &m),
            ExecStep::Fixed(s) if s == "Error during execution: Function call exit is not allowed."
        ));
        assert!(matches!(
            exec_step("echo(content='run ls (now)')", &m),
            ExecStep::Unsupported(_)
        ));
        assert!(matches!(
            exec_step("echo(content='run nope(now)')", &m),
            ExecStep::Call(_)
        ));
        assert!(matches!(
            exec_step("echo(content=inf)", &m),
            ExecStep::Unsupported(_)
        ));
        assert!(matches!(
            exec_step("echo(content=ls(a=1))", &m),
            ExecStep::Unsupported(_)
        ));
    }

    #[test]
    fn nested_values_print_like_parse_nested_value() {
        let v = crate::eval::pyjson::loads(r#"{"a": {"b": 1}}"#).unwrap();
        assert_eq!(nested_value(&v).unwrap(), "a(b=1)");
        let v = crate::eval::pyjson::loads(r#"{"a": 1, "b": "x"}"#).unwrap();
        assert_eq!(nested_value(&v).unwrap(), "{'a': 1, 'b': 'x'}");
        let v = crate::eval::pyjson::loads("{}").unwrap();
        assert!(nested_value(&v).is_err());
    }
}
