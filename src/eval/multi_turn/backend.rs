//! The interface every ported backend class implements, Python exceptions
//! as values, and the harness's conversion of a return value into the
//! string that goes into the tool message.

use super::call::Call;
use super::signature::Signature;
use crate::eval::pyjson;
use crate::eval::pyrepr::{py_str, repr};
use crate::eval::pyval::{PyDict, PyVal};

/// A Python exception raised by a backend method (or by the call itself);
/// the harness reports it as `"Error during execution: {str(e)}"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PyException {
    /// The exception class name (`TypeError`, `KeyError`, ...).
    pub kind: &'static str,
    /// `str(e)`.
    pub message: String,
}

impl PyException {
    /// A `TypeError`.
    pub fn type_error(message: impl Into<String>) -> Self {
        PyException {
            kind: "TypeError",
            message: message.into(),
        }
    }

    /// A `ValueError`.
    pub fn value_error(message: impl Into<String>) -> Self {
        PyException {
            kind: "ValueError",
            message: message.into(),
        }
    }

    /// An `AttributeError`.
    pub fn attribute_error(message: impl Into<String>) -> Self {
        PyException {
            kind: "AttributeError",
            message: message.into(),
        }
    }

    /// A `KeyError` for `key` (`str(KeyError(k))` is `repr(k)`).
    pub fn key_error(key: &PyVal) -> Self {
        PyException {
            kind: "KeyError",
            message: repr(key),
        }
    }

    /// A `NameError` for an undefined name.
    pub fn name_error(name: &str) -> Self {
        PyException {
            kind: "NameError",
            message: format!("name '{name}' is not defined"),
        }
    }
}

/// What a backend method returned.
#[derive(Clone, Debug)]
pub enum Returned {
    /// A plain Python value.
    Value(PyVal),
    /// A value with objects [`PyVal`] cannot hold (`Decimal`, `mpf`),
    /// already rendered the way the harness renders it (`str(value)`).
    Rendered(String),
}

impl Returned {
    /// The string the harness puts in the tool message: a `str` unchanged,
    /// a `dict` through `json.dumps` (falling back to `str` when it is not
    /// serializable), anything else through `str`.
    pub fn to_message(&self) -> String {
        match self {
            Returned::Value(PyVal::Str(s)) => s.clone(),
            Returned::Value(v @ PyVal::Dict(_)) => match pyjson::dumps(v) {
                Ok(json) => ascii_escape(&json),
                Err(_) => py_str(v),
            },
            Returned::Value(v) => py_str(v),
            Returned::Rendered(s) => s.clone(),
        }
    }
}

/// Turns `json.dumps(ensure_ascii=False)` output into `ensure_ascii=True`
/// output: outside string literals JSON text is ASCII, so escaping every
/// non-ASCII character as `\uXXXX` (UTF-16 surrogate pairs above the BMP)
/// is exactly what the default encoder does.
pub fn ascii_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// One executable backend class.
pub trait Backend {
    /// The Python class name (`TicketAPI`).
    fn class_name(&self) -> &'static str;

    /// The public methods, as `inspect.getmembers` would list them.
    fn signatures(&self) -> &'static [Signature];

    /// Runs a public method on already bound arguments (in parameter order).
    fn invoke(&mut self, method: &str, args: Vec<PyVal>) -> Result<Returned, PyException>;

    /// The public instance attributes (`vars(obj)` without `_` names), in
    /// the order Python assigns them; these are what the official state
    /// checker compares. A Python `set` is exposed as a sorted list.
    fn state(&self) -> PyDict;

    /// `_dump_core_memory_to_context()` of a memory backend (the text its system prompt
    /// shows); `None` for other classes.
    fn memory_context(&self) -> Option<String> {
        None
    }

    /// Binds `call`'s arguments and runs the method.
    fn call(&mut self, call: &Call) -> Result<Returned, PyException> {
        let class = self.class_name();
        let Some(sig) = self.signatures().iter().find(|s| s.name == call.name) else {
            return Err(PyException::attribute_error(format!(
                "'{class}' object has no attribute '{}'",
                call.name
            )));
        };
        let args = sig.bind(class, call)?;
        self.invoke(call.name.as_str(), args)
    }
}

/// The outcome of Python code that may raise.
pub type PyResult<T> = std::result::Result<T, PyException>;
