//! `default_decode_ast_prompting` + `ast_parse(..., PYTHON)` +
//! `resolve_ast_call` / `resolve_ast_by_type`, rule for rule.

use super::binop::eval_expr;
use super::{DecodeError, Result};
use crate::eval::pyexpr::{parse_eval, unparse, ConstVal, Expr, Keyword};
use crate::eval::pyval::{PyDict, PyVal};

/// Python's `str.isspace()` for one char.
pub fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The first step of the official prompting decoders (`default_decode_ast_prompting`): the raw
/// text stripped of backticks, newlines and spaces, wrapped in `[`…`]` where those are missing.
pub(crate) fn bracketed(result: &PyVal) -> Result<String> {
    let PyVal::Str(raw) = result else {
        return Err(DecodeError::Failed(format!(
            "'{}' object has no attribute 'strip'",
            result.py_type().name()
        )));
    };
    let mut s = raw
        .trim_matches(|c| matches!(c, '`' | '\n' | ' '))
        .to_string();
    if !s.starts_with('[') {
        s.insert(0, '[');
    }
    if !s.ends_with(']') {
        s.push(']');
    }
    Ok(s)
}

/// Decodes the raw model text of the prompting profile.
pub fn decode(result: &PyVal) -> Result<PyVal> {
    let s = bracketed(result)?;
    let cleaned = s.trim_matches(py_isspace).trim_matches('\'');
    let body = parse_eval(cleaned)?;
    let calls = match &body {
        Expr::Call(..) => vec![resolve_call(&body)?],
        Expr::List(elts) | Expr::Tuple(elts) | Expr::Set(elts) => {
            let mut out = Vec::with_capacity(elts.len());
            for e in elts {
                if !matches!(e, Expr::Call(..)) {
                    return Err(DecodeError::Failed(String::new()));
                }
                out.push(resolve_call(e)?);
            }
            out
        }
        _ => {
            return Err(DecodeError::Failed(
                "parsed body has no attribute 'elts'".to_string(),
            ))
        }
    };
    Ok(PyVal::List(calls))
}

/// The dotted function name of a call (`resolve_ast_call`'s name logic).
fn call_name(func: &Expr) -> String {
    let mut parts = Vec::new();
    let mut cur = func;
    while let Expr::Attribute(value, attr) = cur {
        parts.push(attr.as_str());
        cur = value;
    }
    if let Expr::Name(id) = cur {
        parts.push(id.as_str());
    }
    parts.reverse();
    parts.join(".")
}

/// `resolve_ast_call`: `{name: {kw: value}}`; positional arguments are dropped.
fn resolve_call(call: &Expr) -> Result<PyVal> {
    let Expr::Call(func, _args, keywords) = call else {
        return Err(DecodeError::Failed("not a call".into()));
    };
    let name = call_name(func);
    let mut args = PyDict::new();
    for Keyword { arg, value } in keywords {
        let v = resolve_value(value)?;
        let key = match arg {
            Some(a) => PyVal::Str(a.clone()),
            None => PyVal::None,
        };
        // Keys are str or None: always hashable.
        let _ = args.insert(key, v);
    }
    let mut out = PyDict::new();
    out.insert_str(&name, PyVal::Dict(args));
    Ok(PyVal::Dict(out))
}

fn unsupported_type(e: &Expr) -> DecodeError {
    let kind = match e {
        Expr::FString(_) => "JoinedStr",
        Expr::Attribute(..) => "Attribute",
        Expr::Slice(..) => "Slice",
        Expr::Starred(_) => "Starred",
        Expr::Set(_) => "Set",
        Expr::Comp(..) => "comprehension",
        Expr::BoolOp(..) => "BoolOp",
        Expr::Compare(..) => "Compare",
        Expr::IfExp(..) => "IfExp",
        Expr::NamedExpr(..) => "NamedExpr",
        Expr::Await(_) => "Await",
        _ => "expression",
    };
    DecodeError::Failed(format!("Unsupported AST type: <class 'ast.{kind}'>"))
}

/// `resolve_ast_by_type`.
fn resolve_value(e: &Expr) -> Result<PyVal> {
    match e {
        Expr::Constant { value, .. } => Ok(match value {
            ConstVal::Ellipsis => PyVal::str("..."),
            ConstVal::Value(v) => v.clone(),
        }),
        // `-value.operand.value`: only a numeric constant operand survives,
        // whatever the operator is.
        Expr::UnaryOp(_, operand) => match &**operand {
            Expr::Constant {
                value: ConstVal::Value(v),
                ..
            } => negate(v),
            _ => Err(DecodeError::Failed("bad operand for unary operator".into())),
        },
        Expr::List(items) => Ok(PyVal::List(
            items.iter().map(resolve_value).collect::<Result<_>>()?,
        )),
        Expr::Dict(items) => {
            let mut d = PyDict::new();
            for (k, v) in items {
                let Some(k) = k else {
                    return Err(DecodeError::Failed(
                        "Unsupported AST type: <class 'NoneType'>".into(),
                    ));
                };
                let key = resolve_value(k)?;
                let val = resolve_value(v)?;
                d.insert(key, val)
                    .map_err(|u| DecodeError::Failed(format!("unhashable type: '{}'", u.0)))?;
            }
            Ok(PyVal::Dict(d))
        }
        Expr::BinOp(..) => eval_expr(e),
        Expr::Name(id) => Ok(PyVal::Str(id.clone())),
        Expr::Call(_, _, keywords) => {
            if keywords.is_empty() {
                Ok(PyVal::Str(unparse(e)?))
            } else {
                resolve_call(e)
            }
        }
        Expr::Tuple(items) => Ok(PyVal::Tuple(
            items.iter().map(resolve_value).collect::<Result<_>>()?,
        )),
        Expr::Lambda(..) => Err(DecodeError::Failed(
            "'Lambda' body is not subscriptable".into(),
        )),
        Expr::Subscript(value, slice) => Ok(PyVal::Str(format!(
            "{}[{}]",
            unparse(value)?,
            unparse(slice)?
        ))),
        other => Err(unsupported_type(other)),
    }
}

/// Python's unary minus on a constant value.
pub fn negate(v: &PyVal) -> Result<PyVal> {
    match v {
        PyVal::Bool(b) => Ok(PyVal::Int(-i128::from(*b))),
        PyVal::Int(i) => match i.checked_neg() {
            Some(n) => Ok(PyVal::Int(n)),
            None => Ok(PyVal::BigInt(
                i.to_string().trim_start_matches('-').to_string(),
            )),
        },
        PyVal::BigInt(s) => Ok(match s.strip_prefix('-') {
            Some(pos) => crate::eval::pyjson::int_from_decimal(pos),
            None => crate::eval::pyjson::int_from_decimal(&format!("-{s}")),
        }),
        PyVal::Float(f) => Ok(PyVal::Float(-f)),
        PyVal::Complex(r, i) => Ok(PyVal::Complex(-r, -i)),
        other => Err(DecodeError::Failed(format!(
            "bad operand type for unary -: '{}'",
            other.py_type().name()
        ))),
    }
}
