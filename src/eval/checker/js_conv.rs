//! `js_type_converter.py`: turns the source-text value of a JavaScript
//! argument into a Python value, regex for regex (including the 2-D array
//! and object-literal heuristics).  Values that do not match stay strings.

use super::java_conv::rx;
use super::pyconv::{inner, py_float, py_int, strip};
use super::{CheckError, Result};
use crate::eval::pyval::{PyDict, PyType, PyVal};

/// `JS_TYPE_CONVERSION[type_name]`.
pub fn js_type(type_name: &str) -> Result<PyType> {
    Ok(match type_name {
        "String" | "any" => PyType::Str,
        "integer" | "Bigint" => PyType::Int,
        "float" => PyType::Float,
        "Boolean" => PyType::Bool,
        "dict" => PyType::Dict,
        "array" => PyType::List,
        other => return Err(CheckError::Crash(format!("KeyError: '{other}'"))),
    })
}

fn is_match(pattern: &str, s: &str) -> Result<bool> {
    Ok(rx(pattern, false)?.match_start(s).is_some())
}

fn value_error(what: &str, v: &str) -> CheckError {
    CheckError::Crash(format!(
        "ValueError: could not convert {what}: {}",
        crate::eval::pyrepr::str_repr(v)
    ))
}

/// `js_type_converter(value, expected_type, nested_type)`.
pub fn js_type_converter(value: &str, expected: &str, nested: Option<&str>) -> Result<PyVal> {
    js_type(expected)
        .map_err(|_| CheckError::Crash(format!("ValueError: Unsupported type: {expected}")))?;
    let s = || PyVal::Str(value.to_string());
    Ok(match expected {
        "String" => {
            let dq = value.starts_with('"') && value.ends_with('"');
            let sq = value.starts_with('\'') && value.ends_with('\'');
            if !dq && !sq {
                return Ok(s());
            }
            PyVal::Str(inner(value))
        }
        "integer" => {
            if !is_match(r"^-?\d+$", value)? {
                return Ok(s());
            }
            py_int(value).ok_or_else(|| value_error("int", value))?
        }
        "float" => {
            if !is_match(r"^-?\d+(\.\d+)?$", value)? {
                return Ok(s());
            }
            PyVal::Float(py_float(value).ok_or_else(|| value_error("float", value))?)
        }
        "Bigint" => {
            if !is_match(r"^-?\d+n$", value)? {
                return Ok(s());
            }
            let n = value.chars().count();
            let cut: String = value.chars().take(n.saturating_sub(1)).collect();
            py_int(&cut).ok_or_else(|| value_error("int", &cut))?
        }
        "Boolean" => match value {
            "true" => PyVal::Bool(true),
            "false" => PyVal::Bool(false),
            _ => s(),
        },
        "dict" => parse_dict(strip(value))?,
        "array" => parse_array(strip(value), nested)?,
        _ => s(),
    })
}

fn parse_array(code: &str, nested: Option<&str>) -> Result<PyVal> {
    let two_d = rx(
        r"\[\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\]|\bnew\s+Array\(\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\)",
        false,
    )?;
    if let Some(m) = two_d.match_start(code) {
        let whole = m.group(0).unwrap_or_default();
        let mut out = Vec::new();
        for (idx, inner_m) in rx(r"\[(.*?)\]", false)?.find_all(&whole).iter().enumerate() {
            let g = inner_m.group(1).unwrap_or_default();
            let mut t = strip(&g).to_string();
            if idx == 0 && t.starts_with('[') {
                t.remove(0);
            }
            let row: Vec<PyVal> = t.split(',').map(|e| parse_js_value(strip(e))).collect();
            out.push(PyVal::List(row));
        }
        return Ok(PyVal::List(out));
    }
    let Some(m) = rx(r"\[(.*?)\]|\bnew\s+Array\((.*?)\)", false)?.match_start(code) else {
        return Ok(PyVal::Str(code.to_string()));
    };
    let body = m.group(1).or_else(|| m.group(2));
    let elements: Vec<String> = match body {
        Some(b) if !strip(&b).is_empty() => strip(&b).split(',').map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for e in &elements {
        let e = strip(e);
        match nested {
            Some(n) => {
                // The official code passes "String" as the nested type of
                // quoted elements, which the converter ignores.
                match js_type_converter(e, n, None) {
                    Ok(v) => out.push(v),
                    // `except: return code`
                    Err(_) => return Ok(PyVal::Str(code.to_string())),
                }
            }
            None => out.push(parse_js_value(e)),
        }
    }
    Ok(PyVal::List(out))
}

fn parse_dict(code: &str) -> Result<PyVal> {
    if code == "{}" {
        return Ok(PyVal::Dict(PyDict::new()));
    }
    let Some(m) = rx(r"\{(.*?)\}", false)?.match_start(code) else {
        return Ok(PyVal::Str(code.to_string()));
    };
    let content = m.group(1).unwrap_or_default();
    let mut d = PyDict::new();
    for p in rx(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)", false)?.find_all(&content) {
        let key_raw = p.group(1).unwrap_or_default();
        let key = strip(&key_raw).trim_matches(['\'', '"']).to_string();
        let value_raw = p.group(2).unwrap_or_default();
        let value = strip(&value_raw);
        let v = if value.starts_with('[') && value.ends_with(']') {
            parse_array(value, None)?
        } else if value.starts_with('{') && value.ends_with('}') {
            parse_dict(value)?
        } else {
            parse_js_value(value.trim_matches(['\'', '"']))
        };
        d.insert_str(&key, v);
    }
    Ok(PyVal::Dict(d))
}

/// `parse_js_value`.
pub fn parse_js_value(v: &str) -> PyVal {
    let v = strip(v);
    if v == "true" {
        return PyVal::Bool(true);
    }
    if v == "false" {
        return PyVal::Bool(false);
    }
    if (v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')) {
        return PyVal::Str(inner(v));
    }
    if let Some(i) = py_int(v) {
        return i;
    }
    if let Some(f) = py_float(v) {
        return PyVal::Float(f);
    }
    PyVal::Str(v.to_string())
}
