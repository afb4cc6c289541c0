//! `java_type_converter.py`: turns the source-text value of a Java argument
//! into a Python value, regex for regex.  Values that do not match the
//! expected shape stay strings.

use super::minire::Regex;
use super::pyconv::{inner, py_float, py_int, strip};
use super::{CheckError, Result};
use crate::eval::pyval::{PyDict, PyType, PyVal};

pub(super) fn rx(pattern: &str, dotall: bool) -> Result<Regex> {
    Regex::new(pattern, dotall)
        .ok_or_else(|| CheckError::Crash(format!("internal: unsupported pattern {pattern}")))
}

fn is_match(pattern: &str, s: &str) -> Result<bool> {
    Ok(rx(pattern, false)?.match_start(s).is_some())
}

/// `JAVA_TYPE_CONVERSION[type_name]` (`Set` has no [`PyType`]; it is only
/// ever reached through the converter, which raises for it).
pub fn java_type(type_name: &str) -> Result<PyType> {
    Ok(match type_name {
        "byte" | "short" | "integer" | "long" => PyType::Int,
        "float" | "double" => PyType::Float,
        "boolean" => PyType::Bool,
        "char" | "String" | "any" => PyType::Str,
        "Array" | "ArrayList" | "Queue" | "Stack" => PyType::List,
        "HashMap" | "Hashtable" => PyType::Dict,
        "Set" => PyType::NoneType,
        other => return Err(CheckError::Crash(format!("KeyError: '{other}'"))),
    })
}

/// `float(re.sub(r"[fF]$", "", value))` (also `[lL]` for longs).
fn drop_suffix(value: &str, suffix: [char; 2]) -> String {
    let (body, nl) = match value.strip_suffix('\n') {
        Some(b) if b.ends_with(suffix) => (b, "\n"),
        _ => (value, ""),
    };
    match body.strip_suffix(suffix) {
        Some(b) => format!("{b}{nl}"),
        None => value.to_string(),
    }
}

fn value_error(what: &str, v: &str) -> CheckError {
    CheckError::Crash(format!(
        "ValueError: could not convert {what}: {}",
        crate::eval::pyrepr::str_repr(v)
    ))
}

/// `java_type_converter(value, expected_type, nested_type)`.
pub fn java_type_converter(value: &str, expected: &str, nested: Option<&str>) -> Result<PyVal> {
    java_type(expected)?;
    let s = || PyVal::Str(value.to_string());
    Ok(match expected {
        "byte" | "short" | "integer" => {
            if !is_match(r"^-?\d+$", value)? {
                return Ok(s());
            }
            py_int(value).ok_or_else(|| value_error("int", value))?
        }
        "float" => {
            if !is_match(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?[fF]$", value)? {
                return Ok(s());
            }
            let t = drop_suffix(value, ['f', 'F']);
            PyVal::Float(py_float(&t).ok_or_else(|| value_error("float", &t))?)
        }
        "double" => {
            if !is_match(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$", value)? {
                return Ok(s());
            }
            PyVal::Float(py_float(value).ok_or_else(|| value_error("float", value))?)
        }
        "long" => {
            if !is_match(r"^-?\d+[lL]$", value)? {
                return Ok(s());
            }
            let t = drop_suffix(value, ['l', 'L']);
            py_int(&t).ok_or_else(|| value_error("int", &t))?
        }
        "boolean" => match value {
            "true" => PyVal::Bool(true),
            "false" => PyVal::Bool(false),
            _ => s(),
        },
        // `^\'.$\'` can never match, so chars always stay strings.
        "char" | "String" | "any" => s(),
        "Array" => parse_array(value, nested)?,
        "ArrayList" => parse_arraylist(value, nested)?,
        "HashMap" => parse_hashmap(value)?,
        "Set" | "Hashtable" => {
            return Err(CheckError::Crash(
                "NotImplementedError: Set conversion is not implemented".into(),
            ))
        }
        other => {
            return Err(CheckError::Crash(format!(
                "NotImplementedError: {other} conversion is not implemented"
            )))
        }
    })
}

fn element(text: &str, nested: Option<&str>) -> Result<PyVal> {
    let t = strip(text);
    match nested {
        Some("char") | Some("String") => Ok(PyVal::Str(inner(t))),
        Some(n) => java_type_converter(t, n, None),
        None => parse_java_value(t),
    }
}

fn parse_arraylist(input: &str, nested: Option<&str>) -> Result<PyVal> {
    if let Some(m) = rx(r"new\s+ArrayList<\w*>\(Arrays\.asList\((.+?)\)\)", false)?.search(input) {
        let body = m.group(1).unwrap_or_default();
        let items: Result<Vec<PyVal>> = body.split(',').map(|e| element(e, nested)).collect();
        return Ok(PyVal::List(items?));
    }
    if let Some(m) = rx(r"new\s+ArrayList<\w*>\(\)\s*\{\{\s*(.+?)\s*\}\}", true)?.search(input) {
        let adds = m.group(1).unwrap_or_default();
        let mut items = Vec::new();
        for a in rx(r"add\((.+?)\)", false)?.find_all(&adds) {
            let v = a.group(1).unwrap_or_default();
            let v = strip(&v);
            items.push(match nested {
                Some("char") | Some("String") => PyVal::Str(inner(v)),
                Some(n) => java_type_converter(v, n, None)?,
                None => parse_java_value(v)?,
            });
        }
        return Ok(PyVal::List(items));
    }
    if rx(r"new\s+ArrayList<\w*>\(\)", false)?
        .search(input)
        .is_some()
    {
        return Ok(PyVal::List(Vec::new()));
    }
    Ok(PyVal::Str(input.to_string()))
}

fn parse_array(input: &str, nested: Option<&str>) -> Result<PyVal> {
    let Some(m) = rx(r"new\s+\w+\[\]\s*\{(.*?)\}", false)?.search(input) else {
        return Ok(PyVal::Str(input.to_string()));
    };
    let body = m.group(1).unwrap_or_default();
    let mut items = Vec::new();
    for x in body.split(',') {
        let x = strip(x);
        if x.is_empty() {
            continue;
        }
        items.push(match nested {
            Some(n) => java_type_converter(x, n, None)?,
            None => parse_java_value(x)?,
        });
    }
    Ok(PyVal::List(items))
}

fn parse_hashmap(input: &str) -> Result<PyVal> {
    let full = rx(
        r"new\s+HashMap<.*?>\s*\(\)\s*\{\s*\{?\s*(.*?)\s*\}?\s*\}",
        true,
    )?;
    if let Some(m) = full.search(input) {
        let mut d = PyDict::new();
        let puts = m.group(1).unwrap_or_default();
        if !strip(&puts).is_empty() {
            for p in rx(r#"put\("(.*?)",\s*(.*?)\)"#, false)?.find_all(&puts) {
                let key = m_group(&p, 1);
                let value = parse_java_value(strip(&m_group(&p, 2)))?;
                d.insert_str(&key, value);
            }
        }
        return Ok(PyVal::Dict(d));
    }
    if rx(r"new\s+HashMap<.*?>\s*\(\)", true)?
        .search(input)
        .is_some()
    {
        return Ok(PyVal::Dict(PyDict::new()));
    }
    Ok(PyVal::Str(input.to_string()))
}

fn m_group(m: &super::minire::Match, i: usize) -> String {
    m.group(i).unwrap_or_default()
}

/// `parse_java_value`: a value without type information.
pub fn parse_java_value(v: &str) -> Result<PyVal> {
    if v == "true" {
        return Ok(PyVal::Bool(true));
    }
    if v == "false" {
        return Ok(PyVal::Bool(false));
    }
    if v.starts_with('"') && v.ends_with('"') {
        return Ok(PyVal::Str(inner(v)));
    }
    if is_match(r"^-?\d+[lL]$", v)? {
        let cut: String = {
            let n = v.chars().count();
            v.chars().take(n.saturating_sub(1)).collect()
        };
        return py_int(&cut).ok_or_else(|| value_error("int", &cut));
    }
    if is_match(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?[fF]$", v)? {
        let t = drop_suffix(v, ['f', 'F']);
        return Ok(PyVal::Float(
            py_float(&t).ok_or_else(|| value_error("float", &t))?,
        ));
    }
    if let Some(i) = py_int(v) {
        return Ok(i);
    }
    if let Some(f) = py_float(v) {
        return Ok(PyVal::Float(f));
    }
    Ok(PyVal::Str(v.to_string()))
}
