//! `MathAPI.logarithm` and `MathAPI.square_root` on top of the mpmath and
//! decimal ports, with the Python argument handling that decides which
//! error a bad argument produces (`int()` of the precision, mpmath's
//! `convert`, `number < 0`, the decimal context's `prec` setter).
//!
//! A negative value or base gives mpmath's complex (`mpc`) result
//! ([`super::mpf_complex`]). Not ported (they raise an `Unsupported`
//! exception instead of returning a wrong string): complex arguments
//! (`2j`), decimal strings with exponents beyond 400, `mp.dps` above about
//! 745 digits (mpmath's AGM branch), decimal precisions above 10000 digits,
//! and the square root of a NaN or infinite float.

use super::backend::{PyException, Returned};
use super::mpf::{self, dps_to_prec, Mpf};
use super::mpf_complex::{self, Num};
use super::mpf_decimal::Decimal;
use super::mpf_log::LogError;
use super::pyops::dict;
use crate::eval::pyrepr::repr;
use crate::eval::pyval::PyVal;
use num_bigint::BigInt;

/// The largest binary precision `logarithm` works at (mp.dps ≈ 6000; the Taylor-series
/// logarithm ends near mp.dps 745, only special values go beyond).
const MAX_LOG_PREC: u64 = 20_000;

/// The largest decimal context precision this port computes.
const MAX_DECIMAL_PREC: i128 = 10_000;

fn unsupported(what: &str) -> PyException {
    PyException {
        kind: "Unsupported",
        message: format!("not ported to Rust: {what}"),
    }
}

fn error_dict(msg: &str) -> Returned {
    Returned::Value(dict([("error", PyVal::str(msg))]))
}

/// A Python exception a method catches (`except Exception`), turned into
/// its message, or one that escapes (`Unsupported`).
enum Raised {
    Caught(String),
    Escapes(PyException),
}

/// Python's `int(x)` as `dps_to_prec` applies it.
fn py_int(x: &PyVal) -> Result<i128, Raised> {
    match x {
        PyVal::Bool(b) => Ok(i128::from(*b)),
        PyVal::Int(i) => Ok(*i),
        PyVal::Float(f) if f.is_nan() => {
            Err(Raised::Caught("cannot convert float NaN to integer".into()))
        }
        PyVal::Float(f) if f.is_infinite() => Err(Raised::Caught(
            "cannot convert float infinity to integer".into(),
        )),
        PyVal::Float(f) if f.abs() < 1e36 => Ok(f.trunc() as i128),
        PyVal::Str(s) => parse_int(s).ok_or_else(|| {
            let trimmed = s.trim_matches(|c: char| c.is_ascii_whitespace());
            if parse_big_int(trimmed).is_some() {
                Raised::Escapes(unsupported("a precision beyond 128 bits"))
            } else if s.is_ascii() {
                Raised::Caught(format!(
                    "invalid literal for int() with base 10: {}",
                    repr(x)
                ))
            } else {
                Raised::Escapes(unsupported("int() of a non-ASCII string"))
            }
        }),
        PyVal::None | PyVal::List(_) | PyVal::Tuple(_) | PyVal::Dict(_) | PyVal::Complex(..) => {
            Err(Raised::Caught(format!(
                "int() argument must be a string, a bytes-like object or a real number, not '{}'",
                x.py_type().name()
            )))
        }
        _ => Err(Raised::Escapes(unsupported(
            "an oversized or bytes precision",
        ))),
    }
}

/// `int(s)` for ASCII text: surrounding whitespace, a sign, digits with
/// single underscores between them.
fn parse_int(s: &str) -> Option<i128> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace() || ('\x1c'..='\x1f').contains(&c));
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if body.is_empty()
        || body.starts_with('_')
        || body.ends_with('_')
        || body.contains("__")
        || !body.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let digits: String = body.chars().filter(|&c| c != '_').collect();
    let v: i128 = digits.parse().ok()?;
    Some(if neg { -v } else { v })
}

/// mpmath's `convert(x)` for a `log` argument.
fn to_mpf(x: &PyVal, prec: u64) -> Result<Mpf, Raised> {
    match x {
        PyVal::Bool(b) => Ok(Mpf::from_int(&BigInt::from(i32::from(*b)))),
        PyVal::Int(i) => Ok(Mpf::from_int(&BigInt::from(*i))),
        PyVal::BigInt(s) => s
            .parse::<BigInt>()
            .map(|n| Mpf::from_int(&n))
            .map_err(|_| Raised::Escapes(unsupported("a malformed big int"))),
        PyVal::Float(f) => Ok(Mpf::from_f64(*f)),
        PyVal::Complex(..) => Err(Raised::Escapes(unsupported("a complex logarithm"))),
        PyVal::Str(s) => match from_str(s, prec) {
            StrValue::Value(v) => Ok(v),
            StrValue::Invalid => Err(Raised::Caught(format!(
                "cannot create mpf from {}",
                repr(x)
            ))),
            StrValue::ZeroDivision => Err(Raised::Caught(String::new())),
            StrValue::Unsupported => Err(Raised::Escapes(unsupported(
                "mpmath parsing this numeric string",
            ))),
        },
        _ => Err(Raised::Caught(format!(
            "cannot create mpf from {}",
            repr(x)
        ))),
    }
}

/// What mpmath's `from_str` makes of a string.
enum StrValue {
    Value(Mpf),
    /// `from_str` raises `ValueError`, which `convert` turns into
    /// "cannot create mpf from ...".
    Invalid,
    /// `from_rational` divides by zero (`ZeroDivisionError`, which
    /// `convert` lets through).
    ZeroDivision,
    /// Exponents beyond 400, non-ASCII text.
    Unsupported,
}

/// A digit group of a Python float literal: digits with single
/// underscores between them.
fn digit_group(t: &str) -> bool {
    !t.is_empty()
        && !t.starts_with('_')
        && !t.ends_with('_')
        && !t.contains("__")
        && t.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

/// Whether `float(t)` accepts `t` (ASCII, no surrounding whitespace).
fn float_literal(t: &str) -> bool {
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    if ["inf", "infinity", "nan"].contains(&body) {
        return true;
    }
    let (mant, exp) = match body.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let exp_ok = exp.is_none_or(|e| digit_group(e.strip_prefix(['+', '-']).unwrap_or(e)));
    let mant_ok = match mant.split_once('.') {
        Some((a, b)) => {
            (a.is_empty() || digit_group(a))
                && (b.is_empty() || digit_group(b))
                && !(a.is_empty() && b.is_empty())
        }
        None => digit_group(mant),
    };
    exp_ok && mant_ok
}

/// mpmath's `from_str(x, prec)` (with `str_to_man_exp`'s literal string
/// handling, underscores and all).
fn from_str(x: &str, prec: u64) -> StrValue {
    if !x.is_ascii() {
        return StrValue::Unsupported;
    }
    let lower = x.to_ascii_lowercase();
    let t = lower.trim_matches(|c: char| c.is_ascii_whitespace() || ('\x1c'..='\x1f').contains(&c));
    match t {
        "inf" | "+inf" => return StrValue::Value(Mpf::PosInf),
        "-inf" => return StrValue::Value(Mpf::NegInf),
        "nan" => return StrValue::Value(Mpf::NaN),
        _ => {}
    }
    if let Some((p, q)) = t.split_once('/') {
        // `p, q = x.split('/')`, `int()` of each without trailing `l`s,
        // then `from_rational(p, q, prec)`.
        if q.contains('/') {
            return StrValue::Invalid;
        }
        let int = |v: &str| {
            parse_big_int(
                v.trim_end_matches('l')
                    .trim_matches(|c: char| c.is_ascii_whitespace()),
            )
        };
        let (Some(p), Some(q)) = (int(p), int(q)) else {
            return StrValue::Invalid;
        };
        return match mpf::div(&Mpf::from_int(&p), &Mpf::from_int(&q), prec) {
            Ok(v) => StrValue::Value(v),
            Err(_) => StrValue::ZeroDivision,
        };
    }
    let t = t.trim_end_matches('l');
    if t.bytes().any(|b| b.is_ascii_whitespace()) {
        return StrValue::Unsupported;
    }
    if !float_literal(t) {
        return StrValue::Invalid;
    }
    let (mant, mut exp) = match t.split_once('e') {
        Some((m, e)) => match parse_int(e) {
            Some(e) => (m, e),
            // An integer beyond i128: far outside the exponents the port computes.
            None if parse_big_int(e).is_some() => return StrValue::Unsupported,
            None => return StrValue::Invalid,
        },
        None => (t, 0),
    };
    let digits = match mant.split_once('.') {
        Some((a, b)) => {
            let b = b.trim_end_matches('0');
            exp = match i128::try_from(b.len())
                .ok()
                .and_then(|n| exp.checked_sub(n))
            {
                Some(e) => e,
                None => return StrValue::Unsupported,
            };
            format!("{a}{b}")
        }
        None => mant.to_string(),
    };
    let Some(man) = parse_big_int(&digits) else {
        return StrValue::Invalid;
    };
    if exp.unsigned_abs() > 400 {
        return StrValue::Unsupported;
    }
    let ten = BigInt::from(10).pow(exp.unsigned_abs() as u32);
    if exp >= 0 {
        let (sign, m) = (man * ten).into_parts();
        StrValue::Value(mpf::normalize(sign == num_bigint::Sign::Minus, m, 0, prec))
    } else {
        match mpf::div(&Mpf::from_int(&man), &Mpf::from_int(&ten), prec) {
            Ok(v) => StrValue::Value(v),
            Err(_) => StrValue::Invalid,
        }
    }
}

/// `int(s)` for ASCII text of any size (same rules as [`parse_int`]).
fn parse_big_int(s: &str) -> Option<BigInt> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if !digit_group(body) {
        return None;
    }
    let v: BigInt = body.replace('_', "").parse().ok()?;
    Some(if neg { -v } else { v })
}

fn log_of(x: &PyVal, prec: u64) -> Result<Num, Raised> {
    mpf_complex::log(&to_mpf(x, prec)?, prec).map_err(|e| {
        Raised::Escapes(match e {
            LogError::Complex => unsupported("a complex logarithm"),
            LogError::TooPrecise => unsupported("mpmath's AGM logarithm (mp.dps above ~745)"),
        })
    })
}

fn logarithm_inner(value: &PyVal, base: &PyVal, precision: &PyVal) -> Result<String, Raised> {
    let n = py_int(precision)?;
    let prec_f = dps_to_prec(n);
    // Above mpmath's Taylor-series range (mp.dps ~745) the port computes only special values
    // (its AGM logarithm is not ported); a precision far beyond that is refused before any
    // conversion, which would otherwise allocate without bound.
    if prec_f.is_nan() || prec_f > MAX_LOG_PREC as f64 {
        return Err(Raised::Escapes(unsupported(
            "mpmath's AGM logarithm (mp.dps above ~745)",
        )));
    }
    let prec = prec_f as u64;
    let num = log_of(value, prec)?;
    let den = log_of(base, prec)?;
    let q = mpf_complex::div(&num, &den, prec).map_err(|_| Raised::Caught(String::new()))?;
    let text = mpf_complex::repr(&q, prec)
        .ok_or_else(|| Raised::Escapes(unsupported("printing an mpf beyond 2^3500")))?;
    Ok(format!("{{'result': {text}}}"))
}

/// `MathAPI.logarithm(value, base, precision)`.
pub fn logarithm(value: &PyVal, base: &PyVal, precision: &PyVal) -> Result<Returned, PyException> {
    match logarithm_inner(value, base, precision) {
        Ok(text) => Ok(Returned::Rendered(text)),
        Err(Raised::Caught(msg)) => Ok(error_dict(&msg)),
        Err(Raised::Escapes(e)) => Err(e),
    }
}

/// The decimal context's `prec` setter; `Ok(None)` for the `TypeError`
/// that `square_root` catches.
fn context_prec(precision: &PyVal) -> Result<Option<i128>, PyException> {
    let range = || PyException::value_error("valid range for prec is [1, MAX_PREC]");
    let overflow = || PyException {
        kind: "OverflowError",
        message: "Python int too large to convert to C ssize_t".into(),
    };
    let n = match precision {
        PyVal::Bool(b) => i128::from(*b),
        PyVal::Int(i) => *i,
        PyVal::BigInt(_) => return Err(overflow()),
        _ => return Ok(None),
    };
    if n > i128::from(i64::MAX) || n < i128::from(i64::MIN) {
        return Err(overflow());
    }
    if !(1..=999_999_999_999_999_999).contains(&n) {
        return Err(range());
    }
    Ok(Some(n))
}

/// `MathAPI.square_root(number, precision)`.
pub fn square_root(number: &PyVal, precision: &PyVal) -> Result<Returned, PyException> {
    let invalid = "Input must be a number or computation resulted in an invalid operation";
    let decimal = match number {
        PyVal::Bool(b) => Decimal::from_int(&BigInt::from(i32::from(*b))),
        PyVal::Int(i) => Decimal::from_int(&BigInt::from(*i)),
        PyVal::BigInt(s) => match s.parse::<BigInt>() {
            Ok(n) => Decimal::from_int(&n),
            Err(_) => return Err(unsupported("a malformed big int")),
        },
        PyVal::Float(f) if f.is_finite() => match Decimal::from_f64(*f) {
            Some(d) => d,
            None => return Err(unsupported("a float Decimal")),
        },
        PyVal::Float(_) => return Err(unsupported("the square root of a NaN or infinity")),
        _ => return Ok(error_dict(invalid)),
    };
    let negative = match number {
        PyVal::Float(f) => *f < 0.0,
        _ => decimal.neg,
    };
    if negative {
        return Ok(error_dict(
            "Cannot calculate square root of a negative number",
        ));
    }
    let Some(prec) = context_prec(precision)? else {
        return Ok(error_dict(invalid));
    };
    if prec > MAX_DECIMAL_PREC {
        return Err(unsupported("a decimal precision above 10000 digits"));
    }
    let root = decimal.sqrt(prec as u64);
    Ok(Returned::Rendered(format!(
        "{{'result': Decimal('{}')}}",
        root.to_str()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int_parsing() {
        assert_eq!(parse_int(" 1_0 "), Some(10));
        assert_eq!(parse_int("-7"), Some(-7));
        assert_eq!(parse_int("1__0"), None);
        assert_eq!(parse_int("_1"), None);
        assert_eq!(parse_int(""), None);
    }
}
