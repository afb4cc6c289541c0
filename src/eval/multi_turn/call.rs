//! A backend call as the official harness evaluates it: a function name with
//! positional and keyword arguments (Python literals).

use super::{Error, Result};
use crate::eval::pyexpr::{parse_eval, ConstVal, Expr, UnaryOp};
use crate::eval::pyval::{PyDict, PyVal};

/// One call `name(*args, **kwargs)`.
#[derive(Clone, Debug)]
pub struct Call {
    /// The function (method) name.
    pub name: String,
    /// Positional arguments, in order.
    pub args: Vec<PyVal>,
    /// Keyword arguments, in call order (a repeated keyword keeps every
    /// occurrence; binding reports it).
    pub kwargs: Vec<(String, PyVal)>,
}

impl Call {
    /// A call with keyword arguments only.
    pub fn with_kwargs(name: impl Into<String>, kwargs: Vec<(String, PyVal)>) -> Self {
        Call {
            name: name.into(),
            args: Vec::new(),
            kwargs,
        }
    }

    /// Parses a ground-truth call string such as `cd(folder='document')` or
    /// `sort('final_report.pdf')`. Argument values must be literals (or
    /// constant arithmetic), which is all the BFCL ground truth uses.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |reason: String| Error::BadCall {
            text: text.to_string(),
            reason,
        };
        let expr = parse_eval(text).map_err(|e| bad(e.to_string()))?;
        let Expr::Call(func, args, keywords) = expr else {
            return Err(bad("not a call".into()));
        };
        let Expr::Name(name) = *func else {
            return Err(bad("the callee is not a plain name".into()));
        };
        let args = args
            .iter()
            .map(|a| literal(a).map_err(bad))
            .collect::<Result<Vec<_>>>()?;
        let mut kwargs = Vec::with_capacity(keywords.len());
        for kw in keywords {
            let Some(key) = kw.arg else {
                return Err(bad("`**kwargs` is not supported".into()));
            };
            let value = literal(&kw.value).map_err(bad)?;
            kwargs.push((key, value));
        }
        Ok(Call { name, args, kwargs })
    }

    /// Converts one decoded call of the official decoders, `{name: {kwargs}}`,
    /// into a call; `None` when `v` does not have that shape.
    pub fn from_decoded(v: &PyVal) -> Option<Self> {
        let d = v.as_dict()?;
        if d.len() != 1 {
            return None;
        }
        let (name, args) = d.iter().next()?;
        let name = name.as_str()?.to_string();
        let kwargs = args
            .as_dict()?
            .iter()
            .map(|(k, v)| Some((k.as_str()?.to_string(), v.clone())))
            .collect::<Option<Vec<_>>>()?;
        Some(Call::with_kwargs(name, kwargs))
    }
}

/// The value of a literal argument expression: constants, signed numbers,
/// lists, tuples and dicts of literals.
fn literal(e: &Expr) -> std::result::Result<PyVal, String> {
    match e {
        Expr::Constant {
            value: ConstVal::Value(v),
            ..
        } => Ok(v.clone()),
        Expr::UnaryOp(op @ (UnaryOp::USub | UnaryOp::UAdd), inner) => {
            let v = literal(inner)?;
            let neg = *op == UnaryOp::USub;
            match v {
                PyVal::Int(i) if neg => Ok(PyVal::int_neg(i)),
                PyVal::Float(f) if neg => Ok(PyVal::Float(-f)),
                PyVal::Int(_) | PyVal::Float(_) => Ok(v),
                other => Err(format!("bad operand for unary sign: {other:?}")),
            }
        }
        Expr::List(items) => Ok(PyVal::List(
            items
                .iter()
                .map(literal)
                .collect::<std::result::Result<_, _>>()?,
        )),
        Expr::Tuple(items) => Ok(PyVal::Tuple(
            items
                .iter()
                .map(literal)
                .collect::<std::result::Result<_, _>>()?,
        )),
        Expr::Dict(items) => {
            let mut d = PyDict::new();
            for (k, v) in items {
                let k = k
                    .as_ref()
                    .ok_or("`**` in a dict literal is not supported")?;
                d.insert(literal(k)?, literal(v)?)
                    .map_err(|u| format!("unhashable dict key: {}", u.0))?;
            }
            Ok(PyVal::Dict(d))
        }
        other => Err(format!("not a literal: {other:?}")),
    }
}
