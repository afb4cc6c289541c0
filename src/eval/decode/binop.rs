//! `eval(ast.unparse(binop))`, which the official decoder applies to binary
//! operations (`a=2023-10-15` becomes `1998`).
//!
//! Literals, displays, unary and binary operators are evaluated with Python
//! semantics.  Anything that needs names, calls or attribute lookups raises
//! in Python in all realistic cases (`NameError`), so names fail; calls,
//! comparisons, subscripts and other rarely seen forms are reported as
//! [`DecodeError::Unsupported`].

use super::{DecodeError, Result};
use crate::eval::pyexpr::{BinOp, ConstVal, Expr, UnaryOp};
use crate::eval::pyval::{PyDict, PyVal};

const MAX_SEQ: i128 = 10_000_000;

fn fail(msg: impl Into<String>) -> DecodeError {
    DecodeError::Failed(msg.into())
}

fn unsupported(msg: impl Into<String>) -> DecodeError {
    DecodeError::Unsupported(msg.into())
}

/// Evaluates `e` like Python's `eval` would in the decoder's module.
pub fn eval_expr(e: &Expr) -> Result<PyVal> {
    match e {
        Expr::Constant { value, .. } => match value {
            ConstVal::Value(v) => Ok(v.clone()),
            ConstVal::Ellipsis => Err(unsupported("Ellipsis in an evaluated expression")),
        },
        // Builtins that support arithmetic never appear as bare names in
        // practice; everything else is a NameError or a TypeError.
        Expr::Name(n) => Err(fail(format!("name '{n}' is not defined"))),
        Expr::UnaryOp(op, operand) => unary(*op, eval_expr(operand)?),
        Expr::BinOp(l, op, r) => {
            let a = eval_expr(l)?;
            let b = eval_expr(r)?;
            binary(*op, a, b)
        }
        Expr::List(items) => Ok(PyVal::List(eval_items(items)?)),
        Expr::Tuple(items) => Ok(PyVal::Tuple(eval_items(items)?)),
        Expr::Dict(items) => {
            let mut d = PyDict::new();
            for (k, v) in items {
                let Some(k) = k else {
                    return Err(unsupported("dict unpacking in an evaluated expression"));
                };
                let key = eval_expr(k)?;
                let val = eval_expr(v)?;
                d.insert(key, val)
                    .map_err(|u| fail(format!("unhashable type: '{}'", u.0)))?;
            }
            Ok(PyVal::Dict(d))
        }
        _ => Err(unsupported("expression form inside a binary operation")),
    }
}

fn eval_items(items: &[Expr]) -> Result<Vec<PyVal>> {
    items
        .iter()
        .map(|i| {
            if matches!(i, Expr::Starred(_)) {
                Err(unsupported("starred item in an evaluated expression"))
            } else {
                eval_expr(i)
            }
        })
        .collect()
}

/// A number operand after Python's coercions.
enum N {
    I(i128),
    F(f64),
}

fn num(v: &PyVal) -> Result<Option<N>> {
    Ok(match v {
        PyVal::Bool(b) => Some(N::I(i128::from(*b))),
        PyVal::Int(i) => Some(N::I(*i)),
        PyVal::Float(f) => Some(N::F(*f)),
        PyVal::BigInt(_) | PyVal::Complex(..) => {
            return Err(unsupported("arithmetic on big integers or complex numbers"))
        }
        _ => None,
    })
}

fn as_float(n: &N) -> f64 {
    match n {
        N::I(i) => *i as f64,
        N::F(f) => *f,
    }
}

fn type_error(op: &str, a: &PyVal, b: &PyVal) -> DecodeError {
    fail(format!(
        "unsupported operand type(s) for {op}: '{}' and '{}'",
        a.py_type().name(),
        b.py_type().name()
    ))
}

fn unary(op: UnaryOp, v: PyVal) -> Result<PyVal> {
    if op == UnaryOp::Not {
        return Ok(PyVal::Bool(!v.truthy()));
    }
    if matches!(v, PyVal::BigInt(_) | PyVal::Complex(..)) {
        return Err(unsupported(
            "unary operator on big integers or complex numbers",
        ));
    }
    match (op, &v) {
        (UnaryOp::USub, PyVal::Bool(_) | PyVal::Int(_) | PyVal::Float(_)) => {
            super::prompting::negate(&v)
        }
        (UnaryOp::UAdd, PyVal::Bool(b)) => Ok(PyVal::Int(i128::from(*b))),
        (UnaryOp::UAdd, PyVal::Int(_) | PyVal::Float(_)) => Ok(v),
        (UnaryOp::Invert, PyVal::Bool(b)) => Ok(PyVal::Int(!i128::from(*b))),
        (UnaryOp::Invert, PyVal::Int(i)) => Ok(PyVal::Int(!*i)),
        _ => Err(fail(format!(
            "bad operand type for unary operator: '{}'",
            v.py_type().name()
        ))),
    }
}

fn int_result(r: Option<i128>) -> Result<PyVal> {
    r.map(PyVal::Int)
        .ok_or_else(|| unsupported("integer result outside the supported range"))
}

fn repeat(items: &[PyVal], n: i128) -> Result<Vec<PyVal>> {
    if n <= 0 {
        return Ok(Vec::new());
    }
    if (items.len() as i128).saturating_mul(n) > MAX_SEQ {
        return Err(unsupported("huge sequence repetition"));
    }
    let mut out = Vec::new();
    for _ in 0..n {
        out.extend_from_slice(items);
    }
    Ok(out)
}

fn seq_count(v: &PyVal) -> Option<i128> {
    match v {
        PyVal::Bool(b) => Some(i128::from(*b)),
        PyVal::Int(i) => Some(*i),
        _ => None,
    }
}

/// Python's float floor division and modulo (`float_divmod`).
fn float_divmod(vx: f64, wx: f64) -> Result<(f64, f64)> {
    if wx == 0.0 {
        return Err(fail("float divmod()"));
    }
    let mut m = vx % wx;
    let mut div = (vx - m) / wx;
    if m != 0.0 {
        if (wx < 0.0) != (m < 0.0) {
            m += wx;
            div -= 1.0;
        }
    } else {
        m = 0.0_f64.copysign(wx);
    }
    let floordiv = if div != 0.0 {
        let mut f = div.floor();
        if div - f > 0.5 {
            f += 1.0;
        }
        f
    } else {
        0.0_f64.copysign(vx / wx)
    };
    Ok((floordiv, m))
}

fn int_divmod(a: i128, b: i128) -> Result<(i128, i128)> {
    if b == 0 {
        return Err(fail("integer division or modulo by zero"));
    }
    let mut q = a
        .checked_div(b)
        .ok_or_else(|| unsupported("integer overflow"))?;
    let mut r = a % b;
    if r != 0 && ((r < 0) != (b < 0)) {
        q -= 1;
        r += b;
    }
    Ok((q, r))
}

fn float_pow(x: f64, y: f64) -> Result<PyVal> {
    if x == 0.0 && y < 0.0 {
        return Err(fail("0.0 cannot be raised to a negative power"));
    }
    if x < 0.0 && x.is_finite() && y.is_finite() && y.fract() != 0.0 {
        return complex_pow(x, y);
    }
    let r = x.powf(y);
    if r.is_infinite() && x.is_finite() && y.is_finite() {
        return Err(fail("(34, 'Numerical result out of range')"));
    }
    Ok(PyVal::Float(r))
}

/// `complex(x) ** complex(y)` for a negative real base and a real,
/// non-integral exponent (CPython's `_Py_c_pow`).
fn complex_pow(x: f64, y: f64) -> Result<PyVal> {
    let vabs = x.abs().hypot(0.0);
    let len = vabs.powf(y);
    let at = 0.0_f64.atan2(x);
    let phase = at * y;
    let (re, im) = (len * phase.cos(), len * phase.sin());
    if !re.is_finite() || !im.is_finite() {
        return Err(fail("complex exponentiation"));
    }
    Ok(PyVal::Complex(re, im))
}

/// `fmt % args` for `str` with plain `%s`, `%r`, `%d`, `%i` and `%%`.
fn percent_format(fmt: &str, args: &PyVal) -> Result<PyVal> {
    let items: Vec<PyVal> = match args {
        PyVal::Tuple(items) => items.clone(),
        PyVal::List(_) | PyVal::Dict(_) => {
            return Err(unsupported(
                "printf-style formatting with a mapping or list",
            ))
        }
        other => vec![other.clone()],
    };
    let mut out = String::new();
    let mut next = items.iter();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let conv = chars.next().ok_or_else(|| fail("incomplete format"))?;
        if conv == '%' {
            out.push('%');
            continue;
        }
        let arg = match conv {
            's' | 'r' | 'd' | 'i' => next
                .next()
                .ok_or_else(|| fail("not enough arguments for format string"))?,
            _ => {
                return Err(unsupported(
                    "printf-style conversion other than %s %r %d %i",
                ))
            }
        };
        match conv {
            's' => out.push_str(&crate::eval::pyrepr::py_str(arg)),
            'r' => out.push_str(&crate::eval::pyrepr::repr(arg)),
            _ => match arg {
                PyVal::Bool(b) => out.push_str(if *b { "1" } else { "0" }),
                PyVal::Int(i) => out.push_str(&i.to_string()),
                PyVal::BigInt(s) => out.push_str(s),
                PyVal::Float(f) if f.abs() < 1e38 => {
                    out.push_str(&format!("{}", f.trunc() as i128))
                }
                PyVal::Float(f) if f.is_finite() => return Err(unsupported("%d of a huge float")),
                PyVal::Float(_) => {
                    return Err(fail("cannot convert float infinity or NaN to integer"))
                }
                other => {
                    return Err(fail(format!(
                        "%d format: a real number is required, not {}",
                        other.py_type().name()
                    )))
                }
            },
        }
    }
    if next.next().is_some() {
        return Err(fail("not all arguments converted during string formatting"));
    }
    Ok(PyVal::Str(out))
}

fn int_pow(a: i128, b: i128) -> Result<PyVal> {
    if b < 0 {
        if a == 0 {
            return Err(fail("0.0 cannot be raised to a negative power"));
        }
        return float_pow(a as f64, b as f64);
    }
    let e = u32::try_from(b).map_err(|_| unsupported("huge exponent"))?;
    int_result(a.checked_pow(e))
}

fn shift(a: i128, b: i128, left: bool) -> Result<PyVal> {
    if b < 0 {
        return Err(fail("negative shift count"));
    }
    if left {
        if a == 0 {
            return Ok(PyVal::Int(0));
        }
        let s = u32::try_from(b).map_err(|_| unsupported("huge shift"))?;
        if s >= 127 {
            return Err(unsupported("integer result outside the supported range"));
        }
        let r = a << s;
        if r >> s != a {
            return Err(unsupported("integer result outside the supported range"));
        }
        Ok(PyVal::Int(r))
    } else if b >= 127 {
        Ok(PyVal::Int(if a < 0 { -1 } else { 0 }))
    } else {
        Ok(PyVal::Int(a >> b))
    }
}

fn binary(op: BinOp, a: PyVal, b: PyVal) -> Result<PyVal> {
    let sym = match op {
        BinOp::Add => "+",
        BinOp::Sub => "-",
        BinOp::Mult => "*",
        BinOp::MatMult => "@",
        BinOp::Div => "/",
        BinOp::Mod => "%",
        BinOp::FloorDiv => "//",
        BinOp::Pow => "** or pow()",
        BinOp::LShift => "<<",
        BinOp::RShift => ">>",
        BinOp::BitOr => "|",
        BinOp::BitXor => "^",
        BinOp::BitAnd => "&",
    };
    // Sequences first.
    match (op, &a, &b) {
        (BinOp::Add, PyVal::Str(x), PyVal::Str(y)) => return Ok(PyVal::Str(format!("{x}{y}"))),
        (BinOp::Add, PyVal::Bytes(x), PyVal::Bytes(y)) => {
            return Ok(PyVal::Bytes([x.as_slice(), y.as_slice()].concat()))
        }
        (BinOp::Add, PyVal::List(x), PyVal::List(y)) => {
            return Ok(PyVal::List([x.as_slice(), y.as_slice()].concat()))
        }
        (BinOp::Add, PyVal::Tuple(x), PyVal::Tuple(y)) => {
            return Ok(PyVal::Tuple([x.as_slice(), y.as_slice()].concat()))
        }
        (BinOp::Mult, PyVal::Str(_) | PyVal::Bytes(_) | PyVal::List(_) | PyVal::Tuple(_), n)
        | (BinOp::Mult, n, PyVal::Str(_) | PyVal::Bytes(_) | PyVal::List(_) | PyVal::Tuple(_))
            if seq_count(n).is_some() =>
        {
            let count = seq_count(n).unwrap_or(0);
            let seq = if seq_count(&a).is_some() { &b } else { &a };
            return match seq {
                PyVal::Str(s) => {
                    let chars: Vec<PyVal> = s.chars().map(|c| PyVal::Str(c.to_string())).collect();
                    let rep = repeat(&chars, count)?;
                    Ok(PyVal::Str(rep.iter().filter_map(|c| c.as_str()).collect()))
                }
                PyVal::Bytes(bs) => {
                    let items: Vec<PyVal> = bs.iter().map(|x| PyVal::Int(i128::from(*x))).collect();
                    let rep = repeat(&items, count)?;
                    Ok(PyVal::Bytes(
                        rep.iter()
                            .map(|x| match x {
                                PyVal::Int(i) => *i as u8,
                                _ => 0,
                            })
                            .collect(),
                    ))
                }
                PyVal::List(items) => Ok(PyVal::List(repeat(items, count)?)),
                PyVal::Tuple(items) => Ok(PyVal::Tuple(repeat(items, count)?)),
                _ => Err(type_error(sym, &a, &b)),
            };
        }
        (BinOp::Mod, PyVal::Str(f), args) => return percent_format(f, args),
        (BinOp::Mod, PyVal::Bytes(_), _) => {
            return Err(unsupported("printf-style bytes formatting"))
        }
        (BinOp::BitOr, PyVal::Dict(_), PyVal::Dict(_)) => return Err(unsupported("dict union")),
        _ => {}
    }
    let (Some(x), Some(y)) = (num(&a)?, num(&b)?) else {
        return Err(type_error(sym, &a, &b));
    };
    let both_bool = matches!((&a, &b), (PyVal::Bool(_), PyVal::Bool(_)));
    match (x, y) {
        (N::I(x), N::I(y)) => match op {
            BinOp::Add => int_result(x.checked_add(y)),
            BinOp::Sub => int_result(x.checked_sub(y)),
            BinOp::Mult => int_result(x.checked_mul(y)),
            BinOp::Div => {
                if y == 0 {
                    return Err(fail("division by zero"));
                }
                const EXACT: i128 = 1 << 53;
                if x.abs() > EXACT || y.abs() > EXACT {
                    return Err(unsupported("true division of big integers"));
                }
                Ok(PyVal::Float(x as f64 / y as f64))
            }
            BinOp::FloorDiv => Ok(PyVal::Int(int_divmod(x, y)?.0)),
            BinOp::Mod => Ok(PyVal::Int(int_divmod(x, y)?.1)),
            BinOp::Pow => int_pow(x, y),
            BinOp::LShift => shift(x, y, true),
            BinOp::RShift => shift(x, y, false),
            BinOp::BitAnd if both_bool => Ok(PyVal::Bool(x & y != 0)),
            BinOp::BitOr if both_bool => Ok(PyVal::Bool(x | y != 0)),
            BinOp::BitXor if both_bool => Ok(PyVal::Bool(x ^ y != 0)),
            BinOp::BitAnd => Ok(PyVal::Int(x & y)),
            BinOp::BitOr => Ok(PyVal::Int(x | y)),
            BinOp::BitXor => Ok(PyVal::Int(x ^ y)),
            BinOp::MatMult => Err(type_error(sym, &a, &b)),
        },
        (x, y) => {
            let (fx, fy) = (as_float(&x), as_float(&y));
            match op {
                BinOp::Add => Ok(PyVal::Float(fx + fy)),
                BinOp::Sub => Ok(PyVal::Float(fx - fy)),
                BinOp::Mult => Ok(PyVal::Float(fx * fy)),
                BinOp::Div => {
                    if fy == 0.0 {
                        return Err(fail("float division by zero"));
                    }
                    Ok(PyVal::Float(fx / fy))
                }
                BinOp::FloorDiv => Ok(PyVal::Float(float_divmod(fx, fy)?.0)),
                BinOp::Mod => Ok(PyVal::Float(float_divmod(fx, fy)?.1)),
                BinOp::Pow => float_pow(fx, fy),
                _ => Err(type_error(sym, &a, &b)),
            }
        }
    }
}
