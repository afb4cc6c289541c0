//! Python container operations (`in`, `len`, `[]`, iteration) with the
//! exceptions CPython would raise, for checker code paths that the data can
//! push onto unusual value kinds.

use super::CheckError;
use crate::eval::pyrepr::repr;
use crate::eval::pyval::{py_eq, py_in, PyVal};

fn crash(msg: String) -> CheckError {
    CheckError::Crash(msg)
}

/// `item in container`.
pub fn contains(container: &PyVal, item: &PyVal) -> Result<bool, CheckError> {
    match container {
        PyVal::List(v) | PyVal::Tuple(v) => Ok(py_in(item, v)),
        PyVal::Dict(d) => d
            .contains(item)
            .map_err(|u| crash(format!("TypeError: unhashable type: '{}'", u.0))),
        PyVal::Str(s) => match item {
            PyVal::Str(sub) => Ok(s.contains(sub.as_str())),
            other => Err(crash(format!(
                "TypeError: 'in <string>' requires string as left operand, not {}",
                other.py_type().name()
            ))),
        },
        PyVal::Bytes(b) => match item {
            PyVal::Bytes(sub) => {
                Ok(sub.is_empty() || b.windows(sub.len()).any(|w| w == sub.as_slice()))
            }
            PyVal::Int(i) => Ok(u8::try_from(*i).is_ok_and(|x| b.contains(&x))),
            other => Err(crash(format!(
                "TypeError: a bytes-like object is required, not '{}'",
                other.py_type().name()
            ))),
        },
        other => Err(crash(format!(
            "TypeError: argument of type '{}' is not iterable",
            other.py_type().name()
        ))),
    }
}

/// `len(v)`.
pub fn len(v: &PyVal) -> Result<usize, CheckError> {
    match v {
        PyVal::List(x) | PyVal::Tuple(x) => Ok(x.len()),
        PyVal::Dict(d) => Ok(d.len()),
        PyVal::Str(s) => Ok(s.chars().count()),
        PyVal::Bytes(b) => Ok(b.len()),
        other => Err(crash(format!(
            "TypeError: object of type '{}' has no len()",
            other.py_type().name()
        ))),
    }
}

/// `v[i]` for a non-negative integer index.
pub fn index(v: &PyVal, i: usize) -> Result<PyVal, CheckError> {
    let out_of_range = || crash("IndexError: index out of range".to_string());
    match v {
        PyVal::List(x) | PyVal::Tuple(x) => x.get(i).cloned().ok_or_else(out_of_range),
        PyVal::Str(s) => s
            .chars()
            .nth(i)
            .map(|c| PyVal::Str(c.to_string()))
            .ok_or_else(out_of_range),
        PyVal::Bytes(b) => b
            .get(i)
            .map(|x| PyVal::Int(i128::from(*x)))
            .ok_or_else(out_of_range),
        PyVal::Dict(d) => d
            .get(&PyVal::Int(i as i128))
            .cloned()
            .ok_or_else(|| crash(format!("KeyError: {i}"))),
        other => Err(crash(format!(
            "TypeError: '{}' object is not subscriptable",
            other.py_type().name()
        ))),
    }
}

/// `container[key]` for a dict/list/str container and any key.
pub fn getitem(container: &PyVal, key: &PyVal) -> Result<PyVal, CheckError> {
    match container {
        PyVal::Dict(d) => {
            d.contains(key)
                .map_err(|u| crash(format!("TypeError: unhashable type: '{}'", u.0)))?;
            d.get(key)
                .cloned()
                .ok_or_else(|| crash(format!("KeyError: {}", repr(key))))
        }
        PyVal::List(_) | PyVal::Tuple(_) | PyVal::Str(_) | PyVal::Bytes(_) => match key {
            PyVal::Int(i) if *i >= 0 => index(container, *i as usize),
            PyVal::Bool(b) => index(container, usize::from(*b)),
            PyVal::Int(i) => {
                let n = len(container)? as i128;
                if -i > n {
                    Err(crash("IndexError: index out of range".to_string()))
                } else {
                    index(container, (n + i) as usize)
                }
            }
            other => Err(crash(format!(
                "TypeError: indices must be integers or slices, not {}",
                other.py_type().name()
            ))),
        },
        other => Err(crash(format!(
            "TypeError: '{}' object is not subscriptable",
            other.py_type().name()
        ))),
    }
}

/// `list(v)` (iteration order), for list/tuple/str/dict.
pub fn iterate(v: &PyVal) -> Result<Vec<PyVal>, CheckError> {
    match v {
        PyVal::List(x) | PyVal::Tuple(x) => Ok(x.clone()),
        PyVal::Str(s) => Ok(s.chars().map(|c| PyVal::Str(c.to_string())).collect()),
        PyVal::Bytes(b) => Ok(b.iter().map(|x| PyVal::Int(i128::from(*x))).collect()),
        PyVal::Dict(d) => Ok(d.keys().cloned().collect()),
        other => Err(crash(format!(
            "TypeError: '{}' object is not iterable",
            other.py_type().name()
        ))),
    }
}

/// `a != ""`.
pub fn ne_empty_str(a: &PyVal) -> bool {
    !py_eq(a, &PyVal::str(""))
}
