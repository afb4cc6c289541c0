//! A model of the Python values that the official BFCL checker manipulates.
//!
//! The official evaluator decodes model output into plain Python objects and
//! compares them with the JSON-loaded ground truth using Python semantics
//! (`==` across `bool`/`int`/`float`, exact `type(x) == T` checks, `in` on
//! lists, insertion-ordered dicts).  [`PyVal`] mirrors exactly the value kinds
//! that can reach the checker, and the functions here reproduce the Python
//! semantics the checker relies on.

use std::cmp::Ordering;

/// A Python value as produced by `json.loads` or by the official AST decoder.
#[derive(Clone, Debug)]
pub enum PyVal {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An `int` that fits in `i128`.
    Int(i128),
    /// An `int` outside the `i128` range, as its canonical decimal text
    /// (optional leading `-`, no leading zeros).
    BigInt(String),
    /// A `float`.
    Float(f64),
    /// A `complex` (real, imaginary).
    Complex(f64, f64),
    /// A `str`.
    Str(String),
    /// A `bytes` object.
    Bytes(Vec<u8>),
    /// A `list`.
    List(Vec<PyVal>),
    /// A `tuple`.
    Tuple(Vec<PyVal>),
    /// A `dict` (insertion ordered, keys unique under Python `==`).
    Dict(PyDict),
}

/// The exact Python type of a [`PyVal`], as `type(x)` would report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PyType {
    /// `NoneType`
    NoneType,
    /// `bool`
    Bool,
    /// `int`
    Int,
    /// `float`
    Float,
    /// `complex`
    Complex,
    /// `str`
    Str,
    /// `bytes`
    Bytes,
    /// `list`
    List,
    /// `tuple`
    Tuple,
    /// `dict`
    Dict,
}

impl PyType {
    /// The name Python prints for the type (`type(x).__name__`).
    pub fn name(self) -> &'static str {
        match self {
            PyType::NoneType => "NoneType",
            PyType::Bool => "bool",
            PyType::Int => "int",
            PyType::Float => "float",
            PyType::Complex => "complex",
            PyType::Str => "str",
            PyType::Bytes => "bytes",
            PyType::List => "list",
            PyType::Tuple => "tuple",
            PyType::Dict => "dict",
        }
    }

    /// `str(type)`, e.g. `<class 'int'>`.
    pub fn class_repr(self) -> String {
        format!("<class '{}'>", self.name())
    }
}

/// An insertion-ordered Python dict.
#[derive(Clone, Debug, Default)]
pub struct PyDict {
    items: Vec<(PyVal, PyVal)>,
}

/// Raised when a value that Python cannot hash is used as a dict key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhashable(pub &'static str);

impl PyDict {
    /// An empty dict.
    pub fn new() -> Self {
        Self::default()
    }

    /// `d[key] = value`: replaces the value of an equal key in place (keeping
    /// the original key object and position), or appends.
    pub fn insert(&mut self, key: PyVal, value: PyVal) -> Result<(), Unhashable> {
        check_hashable(&key)?;
        for (k, v) in self.items.iter_mut() {
            if py_eq(k, &key) {
                *v = value;
                return Ok(());
            }
        }
        self.items.push((key, value));
        Ok(())
    }

    /// Inserts a `str` key (always hashable).
    pub fn insert_str(&mut self, key: &str, value: PyVal) {
        for (k, v) in self.items.iter_mut() {
            if let PyVal::Str(s) = k {
                if s == key {
                    *v = value;
                    return;
                }
            }
        }
        self.items.push((PyVal::Str(key.to_string()), value));
    }

    /// `d.get(key)` for any key; unhashable keys are simply not found.
    pub fn get(&self, key: &PyVal) -> Option<&PyVal> {
        self.items
            .iter()
            .find(|(k, _)| py_eq(k, key))
            .map(|(_, v)| v)
    }

    /// `d.get("key")`.
    pub fn get_str(&self, key: &str) -> Option<&PyVal> {
        self.items
            .iter()
            .find(|(k, _)| matches!(k, PyVal::Str(s) if s == key))
            .map(|(_, v)| v)
    }

    /// `key in d`, raising like Python for unhashable keys.
    pub fn contains(&self, key: &PyVal) -> Result<bool, Unhashable> {
        check_hashable(key)?;
        Ok(self.get(key).is_some())
    }

    /// Items in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &(PyVal, PyVal)> {
        self.items.iter()
    }

    /// Keys in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &PyVal> {
        self.items.iter().map(|(k, _)| k)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The first value, if any (`list(d.values())[0]`).
    pub fn first_value(&self) -> Option<&PyVal> {
        self.items.first().map(|(_, v)| v)
    }

    /// The first key, if any (`list(d.keys())[0]`).
    pub fn first_key(&self) -> Option<&PyVal> {
        self.items.first().map(|(k, _)| k)
    }
}

/// Checks that Python could hash `v` (used as a dict key or set member).
pub fn check_hashable(v: &PyVal) -> Result<(), Unhashable> {
    match v {
        PyVal::List(_) => Err(Unhashable("list")),
        PyVal::Dict(_) => Err(Unhashable("dict")),
        PyVal::Tuple(items) => items.iter().try_for_each(check_hashable),
        _ => Ok(()),
    }
}

impl PyVal {
    /// `-i` as a Python int: `-i128::MIN` leaves the `i128` range and becomes a [`PyVal::BigInt`].
    pub fn int_neg(i: i128) -> PyVal {
        match i.checked_neg() {
            Some(n) => PyVal::Int(n),
            None => PyVal::BigInt(i.unsigned_abs().to_string()),
        }
    }

    /// `abs(i)` as a Python int (see [`PyVal::int_neg`]).
    pub fn int_abs(i: i128) -> PyVal {
        if i < 0 {
            PyVal::int_neg(i)
        } else {
            PyVal::Int(i)
        }
    }

    /// `type(self)`.
    pub fn py_type(&self) -> PyType {
        match self {
            PyVal::None => PyType::NoneType,
            PyVal::Bool(_) => PyType::Bool,
            PyVal::Int(_) | PyVal::BigInt(_) => PyType::Int,
            PyVal::Float(_) => PyType::Float,
            PyVal::Complex(..) => PyType::Complex,
            PyVal::Str(_) => PyType::Str,
            PyVal::Bytes(_) => PyType::Bytes,
            PyVal::List(_) => PyType::List,
            PyVal::Tuple(_) => PyType::Tuple,
            PyVal::Dict(_) => PyType::Dict,
        }
    }

    /// A `str` value.
    pub fn str(s: impl Into<String>) -> PyVal {
        PyVal::Str(s.into())
    }

    /// The string, if this is a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PyVal::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The dict, if this is a `dict`.
    pub fn as_dict(&self) -> Option<&PyDict> {
        match self {
            PyVal::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The items, if this is a `list`.
    pub fn as_list(&self) -> Option<&[PyVal]> {
        match self {
            PyVal::List(v) => Some(v),
            _ => None,
        }
    }

    /// `self == ""`.
    pub fn is_empty_str(&self) -> bool {
        matches!(self, PyVal::Str(s) if s.is_empty())
    }

    /// Python truthiness (`bool(x)`).
    pub fn truthy(&self) -> bool {
        match self {
            PyVal::None => false,
            PyVal::Bool(b) => *b,
            PyVal::Int(i) => *i != 0,
            PyVal::BigInt(_) => true,
            PyVal::Float(f) => *f != 0.0,
            PyVal::Complex(r, i) => *r != 0.0 || *i != 0.0,
            PyVal::Str(s) => !s.is_empty(),
            PyVal::Bytes(b) => !b.is_empty(),
            PyVal::List(v) | PyVal::Tuple(v) => !v.is_empty(),
            PyVal::Dict(d) => !d.is_empty(),
        }
    }

    /// Converts to a `serde_json::Value` (tuples become arrays; non-string
    /// dict keys are rendered like `json.dumps` does; values JSON cannot hold
    /// become their Python `str()`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            PyVal::None => Value::Null,
            PyVal::Bool(b) => Value::Bool(*b),
            PyVal::Int(i) => {
                if let Ok(v) = i64::try_from(*i) {
                    Value::from(v)
                } else if let Ok(v) = u64::try_from(*i) {
                    Value::from(v)
                } else {
                    Value::String(i.to_string())
                }
            }
            PyVal::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(crate::eval::pyrepr::repr(self))),
            PyVal::Str(s) => Value::String(s.clone()),
            PyVal::List(v) | PyVal::Tuple(v) => {
                Value::Array(v.iter().map(PyVal::to_json).collect())
            }
            PyVal::Dict(d) => {
                let mut m = serde_json::Map::new();
                for (k, v) in d.iter() {
                    let key = match k {
                        PyVal::Str(s) => s.clone(),
                        other => crate::eval::pyjson::dumps(other)
                            .unwrap_or_else(|_| crate::eval::pyrepr::repr(other)),
                    };
                    m.insert(key, v.to_json());
                }
                Value::Object(m)
            }
            PyVal::BigInt(_) | PyVal::Complex(..) | PyVal::Bytes(_) => {
                Value::String(crate::eval::pyrepr::repr(self))
            }
        }
    }
}

/// A numeric view used for cross-type comparisons.
enum Num<'a> {
    I(i128),
    Big(&'a str),
    F(f64),
    C(f64, f64),
}

fn as_num(v: &PyVal) -> Option<Num<'_>> {
    match v {
        PyVal::Bool(b) => Some(Num::I(i128::from(*b))),
        PyVal::Int(i) => Some(Num::I(*i)),
        PyVal::BigInt(s) => Some(Num::Big(s)),
        PyVal::Float(f) => Some(Num::F(*f)),
        PyVal::Complex(r, i) => Some(Num::C(*r, *i)),
        _ => None,
    }
}

const TWO_POW_127: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;

/// Exact comparison of an `i128` with an `f64` (Python compares int and float exactly).
fn int_eq_float(i: i128, f: f64) -> bool {
    f.is_finite() && f.fract() == 0.0 && (-TWO_POW_127..TWO_POW_127).contains(&f) && f as i128 == i
}

fn big_eq_float(s: &str, f: f64) -> bool {
    f.is_finite() && f.fract() == 0.0 && format!("{f:.0}") == s
}

fn num_eq(a: &Num<'_>, b: &Num<'_>) -> bool {
    match (a, b) {
        (Num::I(x), Num::I(y)) => x == y,
        (Num::I(x), Num::F(y)) | (Num::F(y), Num::I(x)) => int_eq_float(*x, *y),
        (Num::Big(x), Num::Big(y)) => x == y,
        (Num::Big(_), Num::I(_)) | (Num::I(_), Num::Big(_)) => false,
        (Num::Big(x), Num::F(y)) | (Num::F(y), Num::Big(x)) => big_eq_float(x, *y),
        (Num::F(x), Num::F(y)) => x == y,
        (Num::C(r1, i1), Num::C(r2, i2)) => r1 == r2 && i1 == i2,
        (Num::C(r, i), other) | (other, Num::C(r, i)) => *i == 0.0 && num_eq(&Num::F(*r), other),
    }
}

/// Python `a == b` for the value kinds in [`PyVal`].
pub fn py_eq(a: &PyVal, b: &PyVal) -> bool {
    if let (Some(x), Some(y)) = (as_num(a), as_num(b)) {
        return num_eq(&x, &y);
    }
    match (a, b) {
        (PyVal::None, PyVal::None) => true,
        (PyVal::Str(x), PyVal::Str(y)) => x == y,
        (PyVal::Bytes(x), PyVal::Bytes(y)) => x == y,
        (PyVal::List(x), PyVal::List(y)) | (PyVal::Tuple(x), PyVal::Tuple(y)) => seq_eq(x, y),
        (PyVal::Dict(x), PyVal::Dict(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => false,
    }
}

fn seq_eq(x: &[PyVal], y: &[PyVal]) -> bool {
    x.len() == y.len() && x.iter().zip(y).all(|(a, b)| py_eq(a, b))
}

/// Python `x in items` for a list.
pub fn py_in(x: &PyVal, items: &[PyVal]) -> bool {
    items.iter().any(|e| py_eq(e, x))
}

/// Python ordering of two numbers (used by the expression evaluator); `None`
/// when not comparable.
pub fn num_cmp(a: &PyVal, b: &PyVal) -> Option<Ordering> {
    let fa = match a {
        PyVal::Bool(b) => f64::from(u8::from(*b)),
        PyVal::Int(i) => *i as f64,
        PyVal::Float(f) => *f,
        _ => return None,
    };
    let fb = match b {
        PyVal::Bool(b) => f64::from(u8::from(*b)),
        PyVal::Int(i) => *i as f64,
        PyVal::Float(f) => *f,
        _ => return None,
    };
    fa.partial_cmp(&fb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negation_and_abs_leave_i128_as_python_ints() {
        assert!(matches!(PyVal::int_neg(5), PyVal::Int(-5)));
        assert!(matches!(PyVal::int_abs(-5), PyVal::Int(5)));
        assert!(matches!(PyVal::int_abs(i128::MAX), PyVal::Int(i128::MAX)));
        let two_127 = "170141183460469231731687303715884105728";
        for v in [PyVal::int_neg(i128::MIN), PyVal::int_abs(i128::MIN)] {
            assert!(matches!(v, PyVal::BigInt(ref s) if s == two_127), "{v:?}");
        }
    }

    #[test]
    fn cross_type_equality_follows_python() {
        assert!(py_eq(&PyVal::Int(1), &PyVal::Float(1.0)));
        assert!(py_eq(&PyVal::Bool(true), &PyVal::Int(1)));
        assert!(py_eq(&PyVal::Bool(true), &PyVal::Float(1.0)));
        assert!(!py_eq(&PyVal::Int(1), &PyVal::str("1")));
        assert!(!py_eq(&PyVal::List(vec![]), &PyVal::Tuple(vec![])));
        assert!(py_eq(&PyVal::Complex(2.0, 0.0), &PyVal::Int(2)));
        assert!(!py_eq(&PyVal::Float(f64::NAN), &PyVal::Float(f64::NAN)));
        assert!(
            py_eq(
                &PyVal::BigInt("100000000000000000000000000000000000000000".into()),
                &PyVal::Float(1e41_f64.round())
            ) == (format!("{:.0}", 1e41_f64) == "100000000000000000000000000000000000000000")
        );
    }

    #[test]
    fn dict_insert_keeps_first_key_and_position() {
        let mut d = PyDict::new();
        d.insert(PyVal::Int(1), PyVal::str("a")).unwrap();
        d.insert(PyVal::str("x"), PyVal::str("b")).unwrap();
        d.insert(PyVal::Float(1.0), PyVal::str("c")).unwrap();
        assert_eq!(d.len(), 2);
        assert!(matches!(d.first_key(), Some(PyVal::Int(1))));
        assert!(matches!(d.first_value(), Some(PyVal::Str(s)) if s == "c"));
        assert!(d.insert(PyVal::List(vec![]), PyVal::None).is_err());
    }
}
