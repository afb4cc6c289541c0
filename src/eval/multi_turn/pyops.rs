//! Python operators on [`PyVal`]s with CPython's exceptions, for the
//! backends' dynamically typed code paths.

use super::backend::PyException;
use crate::eval::pyrepr::py_str;
use crate::eval::pyval::{num_cmp, PyDict, PyVal};
use std::cmp::Ordering;

/// `type(v).__name__`.
pub fn type_name(v: &PyVal) -> &'static str {
    v.py_type().name()
}

/// Python ordering of `a` and `b` for the comparison written `op`
/// (`<`, `<=`, `>`, `>=`): numbers with numbers, `str` with `str`, else a
/// `TypeError`.
pub fn compare(a: &PyVal, b: &PyVal, op: &str) -> Result<Ordering, PyException> {
    let ord = match (a, b) {
        (PyVal::Str(x), PyVal::Str(y)) => Some(x.cmp(y)),
        _ => num_cmp(a, b),
    };
    ord.ok_or_else(|| {
        PyException::type_error(format!(
            "'{op}' not supported between instances of '{}' and '{}'",
            type_name(a),
            type_name(b)
        ))
    })
}

/// `a < b`.
pub fn lt(a: &PyVal, b: &PyVal) -> Result<bool, PyException> {
    Ok(compare(a, b, "<")? == Ordering::Less)
}

/// `a > b`.
pub fn gt(a: &PyVal, b: &PyVal) -> Result<bool, PyException> {
    Ok(compare(a, b, ">")? == Ordering::Greater)
}

/// `a + b` for numbers and strings.
pub fn add(a: &PyVal, b: &PyVal) -> Result<PyVal, PyException> {
    let int = |v: &PyVal| match v {
        PyVal::Int(i) => Some(*i),
        PyVal::Bool(b) => Some(i128::from(*b)),
        _ => None,
    };
    let float = |v: &PyVal| match v {
        PyVal::Float(f) => Some(*f),
        other => int(other).map(|i| i as f64),
    };
    if let (Some(x), Some(y)) = (int(a), int(b)) {
        if let Some(s) = x.checked_add(y) {
            return Ok(PyVal::Int(s));
        }
    }
    if matches!(a, PyVal::Float(_)) || matches!(b, PyVal::Float(_)) {
        if let (Some(x), Some(y)) = (float(a), float(b)) {
            return Ok(PyVal::Float(x + y));
        }
    }
    if let (PyVal::Str(x), PyVal::Str(y)) = (a, b) {
        return Ok(PyVal::str(format!("{x}{y}")));
    }
    Err(PyException::type_error(format!(
        "unsupported operand type(s) for +: '{}' and '{}'",
        type_name(a),
        type_name(b)
    )))
}

/// `d[key]` for a string key, raising `KeyError`, or `TypeError` when `d`
/// is not a dict.
pub fn item<'a>(d: &'a PyVal, key: &str) -> Result<&'a PyVal, PyException> {
    match d {
        PyVal::Dict(dict) => dict
            .get_str(key)
            .ok_or_else(|| PyException::key_error(&PyVal::str(key))),
        PyVal::List(_) | PyVal::Tuple(_) => Err(PyException::type_error(format!(
            "{} indices must be integers or slices, not str",
            type_name(d)
        ))),
        other => Err(PyException::type_error(format!(
            "'{}' object is not subscriptable",
            type_name(other)
        ))),
    }
}

/// `v.lower()` for a `str`, else the `AttributeError`.
pub fn lower(v: &PyVal) -> Result<String, PyException> {
    match v {
        PyVal::Str(s) => Ok(s.to_lowercase()),
        other => Err(no_attr(other, "lower")),
    }
}

/// `AttributeError: '<type>' object has no attribute '<name>'`.
pub fn no_attr(v: &PyVal, name: &str) -> PyException {
    PyException::attribute_error(format!(
        "'{}' object has no attribute '{name}'",
        type_name(v)
    ))
}

/// `f"{v}"`.
pub fn fmt(v: &PyVal) -> String {
    py_str(v)
}

/// A dict literal from string keys.
pub fn dict<const N: usize>(items: [(&str, PyVal); N]) -> PyVal {
    let mut d = PyDict::new();
    for (k, v) in items {
        d.insert_str(k, v);
    }
    PyVal::Dict(d)
}

/// The elements of a list-like value for iteration (`for x in v`), or the
/// `TypeError` for a non-iterable.
pub fn iter_list(v: &PyVal) -> Result<&[PyVal], PyException> {
    match v {
        PyVal::List(items) | PyVal::Tuple(items) => Ok(items),
        other => Err(PyException::type_error(format!(
            "'{}' object is not iterable",
            type_name(other)
        ))),
    }
}

/// `a <= b`.
pub fn le(a: &PyVal, b: &PyVal) -> Result<bool, PyException> {
    Ok(compare(a, b, "<=")? != Ordering::Greater)
}

/// `a >= b`.
pub fn ge(a: &PyVal, b: &PyVal) -> Result<bool, PyException> {
    Ok(compare(a, b, ">=")? != Ordering::Less)
}

/// `a - b` for numbers.
pub fn sub(a: &PyVal, b: &PyVal) -> Result<PyVal, PyException> {
    let neg = match b {
        PyVal::Int(i) => PyVal::int_neg(*i),
        PyVal::Bool(x) => PyVal::Int(-i128::from(*x)),
        PyVal::Float(f) => PyVal::Float(-f),
        _ => PyVal::None,
    };
    if matches!(neg, PyVal::None) || !matches!(a, PyVal::Int(_) | PyVal::Bool(_) | PyVal::Float(_))
    {
        return Err(PyException::type_error(format!(
            "unsupported operand type(s) for -: '{}' and '{}'",
            type_name(a),
            type_name(b)
        )));
    }
    add(a, &neg)
}

/// `float(v)` for a number.
pub fn to_float(v: &PyVal) -> Result<f64, PyException> {
    match v {
        PyVal::Int(i) => Ok(*i as f64),
        PyVal::Bool(b) => Ok(f64::from(u8::from(*b))),
        PyVal::Float(f) => Ok(*f),
        other => Err(PyException::type_error(format!(
            "float() argument must be a string or a real number, not '{}'",
            type_name(other)
        ))),
    }
}

/// `format(v, ".2f")` for a number.
pub fn fixed2(v: &PyVal) -> Result<String, PyException> {
    Ok(format!("{:.2}", to_float(v)?))
}

/// `d.get(key)` on a dict value with Python's hashing rules.
pub fn dict_get<'a>(d: &'a PyDict, key: &PyVal) -> Result<Option<&'a PyVal>, PyException> {
    if d.contains(key).map_err(|_| unhashable(key))? {
        Ok(d.get(key))
    } else {
        Ok(None)
    }
}

/// `TypeError: unhashable type: '<type>'`.
pub fn unhashable(v: &PyVal) -> PyException {
    PyException::type_error(format!("unhashable type: '{}'", type_name(v)))
}

/// `a * b` for numbers (int * int stays int).
pub fn mul(a: &PyVal, b: &PyVal) -> Result<PyVal, PyException> {
    let int = |v: &PyVal| match v {
        PyVal::Int(i) => Some(*i),
        PyVal::Bool(b) => Some(i128::from(*b)),
        _ => None,
    };
    if let (Some(x), Some(y)) = (int(a), int(b)) {
        if let Some(p) = x.checked_mul(y) {
            return Ok(PyVal::Int(p));
        }
    }
    match (to_float(a), to_float(b)) {
        (Ok(x), Ok(y)) => Ok(PyVal::Float(x * y)),
        _ => Err(PyException::type_error(match (a, b) {
            (PyVal::Str(_) | PyVal::List(_), PyVal::Float(_)) => {
                "can't multiply sequence by non-int of type 'float'".to_string()
            }
            _ => format!(
                "unsupported operand type(s) for *: '{}' and '{}'",
                type_name(a),
                type_name(b)
            ),
        })),
    }
}

/// `a / b` (true division) for numbers.
pub fn truediv(a: &PyVal, b: &PyVal) -> Result<PyVal, PyException> {
    let (Ok(x), Ok(y)) = (to_float(a), to_float(b)) else {
        return Err(PyException::type_error(format!(
            "unsupported operand type(s) for /: '{}' and '{}'",
            type_name(a),
            type_name(b)
        )));
    };
    if y == 0.0 {
        let message = if matches!(b, PyVal::Float(_)) {
            "float division by zero"
        } else {
            "division by zero"
        };
        return Err(PyException {
            kind: "ZeroDivisionError",
            message: message.into(),
        });
    }
    Ok(PyVal::Float(x / y))
}

/// `float(v)` including numeric strings (`ValueError` otherwise).
pub fn float_of(v: &PyVal) -> Result<f64, PyException> {
    match v {
        PyVal::Str(s) => {
            let t = s.trim();
            let plain = t
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
            match t.parse::<f64>() {
                Ok(f)
                    if plain
                        || ["inf", "infinity", "nan"].contains(
                            &t.trim_start_matches(['-', '+']).to_lowercase().as_str(),
                        ) =>
                {
                    Ok(f)
                }
                _ => Err(PyException::value_error(format!(
                    "could not convert string to float: {}",
                    crate::eval::pyrepr::str_repr(s)
                ))),
            }
        }
        other => to_float(other),
    }
}
