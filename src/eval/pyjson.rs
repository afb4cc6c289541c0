//! Python's `json.loads` / `json.dumps(ensure_ascii=False)` on [`PyVal`]s.
//!
//! The official evaluator reads every data and result line with `json.loads`
//! (ints stay ints of any size, `NaN`/`Infinity` are accepted, a repeated key
//! keeps its first position and last value) and writes score files with
//! `json.dumps(entry, ensure_ascii=False)`.  Reproducing both keeps verdicts
//! and score-file text identical.
//!
//! Known approximation: a lone UTF-16 surrogate escape (`"\ud800"`), which
//! Python keeps as is, becomes U+FFFD here.

use crate::eval::pyrepr::{float_repr, py_str};
use crate::eval::pyval::{PyDict, PyVal};

/// Errors of this module.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// The text is not valid JSON (as Python's `json` module defines it).
    #[error("invalid JSON at char {pos}: {msg}")]
    Syntax {
        /// Character offset of the problem.
        pos: usize,
        /// What was wrong.
        msg: String,
    },
    /// `json.dumps` would raise `TypeError` for this value.
    #[error("{0}")]
    NotSerializable(String),
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

const MAX_DEPTH: usize = 900;

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    _src: &'a str,
}

/// `json.loads(text)`.
pub fn loads(text: &str) -> Result<PyVal> {
    let mut p = Parser {
        chars: text.chars().collect(),
        pos: 0,
        _src: text,
    };
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != p.chars.len() {
        return Err(p.err("Extra data"));
    }
    Ok(v)
}

impl Parser<'_> {
    fn err(&self, msg: &str) -> Error {
        Error::Syntax {
            pos: self.pos,
            msg: msg.to_string(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.pos += 1;
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let n = word.chars().count();
        if self.pos + n <= self.chars.len()
            && self.chars[self.pos..self.pos + n]
                .iter()
                .copied()
                .eq(word.chars())
        {
            self.pos += n;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<PyVal> {
        if depth > MAX_DEPTH {
            return Err(self.err("maximum recursion depth exceeded"));
        }
        match self.peek() {
            Some('{') => self.object(depth),
            Some('[') => self.array(depth),
            Some('"') => Ok(PyVal::Str(self.string()?)),
            Some('n') if self.eat_word("null") => Ok(PyVal::None),
            Some('t') if self.eat_word("true") => Ok(PyVal::Bool(true)),
            Some('f') if self.eat_word("false") => Ok(PyVal::Bool(false)),
            Some('N') if self.eat_word("NaN") => Ok(PyVal::Float(f64::NAN)),
            Some('I') if self.eat_word("Infinity") => Ok(PyVal::Float(f64::INFINITY)),
            Some('-') if self.eat_word("-Infinity") => Ok(PyVal::Float(f64::NEG_INFINITY)),
            Some('-' | '0'..='9') => self.number(),
            _ => Err(self.err("Expecting value")),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some('0'..='9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<PyVal> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        match self.peek() {
            Some('0') => self.pos += 1,
            Some('1'..='9') => {
                self.digits();
            }
            _ => {
                self.pos = start;
                return Err(self.err("Expecting value"));
            }
        }
        let int_end = self.pos;
        let mut is_float = false;
        if self.peek() == Some('.') && matches!(self.chars.get(self.pos + 1), Some('0'..='9')) {
            self.pos += 1;
            self.digits();
            is_float = true;
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.peek(), Some('+' | '-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                self.pos = save;
            } else {
                is_float = true;
            }
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        if is_float {
            let f: f64 = text
                .parse()
                .map_err(|_| self.err("invalid float literal"))?;
            return Ok(PyVal::Float(f));
        }
        let _ = int_end;
        Ok(int_from_decimal(&text))
    }

    fn hex4(&mut self) -> Result<u32> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = self
                .peek()
                .ok_or_else(|| self.err("Invalid \\uXXXX escape"))?;
            let d = c
                .to_digit(16)
                .ok_or_else(|| self.err("Invalid \\uXXXX escape"))?;
            v = v * 16 + d;
            self.pos += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let c = self
                .peek()
                .ok_or_else(|| self.err("Unterminated string starting at"))?;
            self.pos += 1;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let e = self.peek().ok_or_else(|| self.err("Unterminated string"))?;
                    self.pos += 1;
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        '/' => out.push('/'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        'u' => {
                            let hi = self.hex4()?;
                            let mut code = hi;
                            if (0xd800..0xdc00).contains(&hi)
                                && self.peek() == Some('\\')
                                && self.chars.get(self.pos + 1) == Some(&'u')
                            {
                                let save = self.pos;
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if (0xdc00..0xe000).contains(&lo) {
                                    code = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                                } else {
                                    self.pos = save;
                                }
                            }
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        _ => return Err(self.err("Invalid \\escape")),
                    }
                }
                c if (c as u32) < 0x20 => return Err(self.err("Invalid control character at")),
                c => out.push(c),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<PyVal> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(']') {
            self.pos += 1;
            return Ok(PyVal::List(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {
                    self.pos += 1;
                    return Ok(PyVal::List(items));
                }
                _ => return Err(self.err("Expecting ',' delimiter")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<PyVal> {
        self.pos += 1;
        let mut d = PyDict::new();
        self.skip_ws();
        if self.peek() == Some('}') {
            self.pos += 1;
            return Ok(PyVal::Dict(d));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some('"') {
                return Err(self.err("Expecting property name enclosed in double quotes"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(':') {
                return Err(self.err("Expecting ':' delimiter"));
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.value(depth + 1)?;
            d.insert_str(&key, v);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {
                    self.pos += 1;
                    return Ok(PyVal::Dict(d));
                }
                _ => return Err(self.err("Expecting ',' delimiter")),
            }
        }
    }
}

/// An `int` from canonical-or-not decimal text (optional sign, digits).
pub fn int_from_decimal(text: &str) -> PyVal {
    if let Ok(i) = text.parse::<i128>() {
        return PyVal::Int(i);
    }
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return PyVal::Int(0);
    }
    let canon = if neg {
        format!("-{digits}")
    } else {
        digits.to_string()
    };
    match canon.parse::<i128>() {
        Ok(i) => PyVal::Int(i),
        Err(_) => PyVal::BigInt(canon),
    }
}

/// `json.dumps(v, ensure_ascii=False)`.
pub fn dumps(v: &PyVal) -> Result<String> {
    let mut out = String::new();
    dump_into(&mut out, v)?;
    Ok(out)
}

fn float_json(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_string()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        float_repr(f)
    }
}

/// Appends a JSON string literal as Python's encoder writes it with `ensure_ascii=False`.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn dump_into(out: &mut String, v: &PyVal) -> Result<()> {
    match v {
        PyVal::None => out.push_str("null"),
        PyVal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        PyVal::Int(i) => out.push_str(&i.to_string()),
        PyVal::BigInt(s) => out.push_str(s),
        PyVal::Float(f) => out.push_str(&float_json(*f)),
        PyVal::Str(s) => push_json_str(out, s),
        PyVal::List(items) | PyVal::Tuple(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                dump_into(out, item)?;
            }
            out.push(']');
        }
        PyVal::Dict(d) => {
            out.push('{');
            for (n, (k, val)) in d.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                let key = match k {
                    PyVal::Str(s) => s.clone(),
                    PyVal::Float(f) => float_json(*f),
                    PyVal::Bool(true) => "true".to_string(),
                    PyVal::Bool(false) => "false".to_string(),
                    PyVal::None => "null".to_string(),
                    PyVal::Int(i) => i.to_string(),
                    PyVal::BigInt(s) => s.clone(),
                    other => {
                        return Err(Error::NotSerializable(format!(
                            "keys must be str, int, float, bool or None, not {}",
                            other.py_type().name()
                        )))
                    }
                };
                push_json_str(out, &key);
                out.push_str(": ");
                dump_into(out, val)?;
            }
            out.push('}');
        }
        PyVal::Complex(..) | PyVal::Bytes(_) => {
            return Err(Error::NotSerializable(format!(
                "Object of type {} is not JSON serializable",
                v.py_type().name()
            )))
        }
    }
    Ok(())
}

/// The official `make_json_serializable`: recurses into dicts (values only)
/// and lists; any other value that `json.dumps` rejects becomes `str(value)`.
pub fn make_json_serializable(v: &PyVal) -> PyVal {
    match v {
        PyVal::Dict(d) => {
            let mut out = PyDict::new();
            for (k, val) in d.iter() {
                // Keys were hashable in the source dict, so insertion cannot fail.
                let _ = out.insert(k.clone(), make_json_serializable(val));
            }
            PyVal::Dict(out)
        }
        PyVal::List(items) => PyVal::List(items.iter().map(make_json_serializable).collect()),
        other => {
            if dumps(other).is_ok() {
                other.clone()
            } else {
                PyVal::Str(py_str(other))
            }
        }
    }
}

/// Converts a `serde_json::Value` into the value `json.loads` would produce
/// (integers that serde stored as floats are not recovered).
pub fn from_serde(v: &serde_json::Value) -> PyVal {
    use serde_json::Value;
    match v {
        Value::Null => PyVal::None,
        Value::Bool(b) => PyVal::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                PyVal::Int(i128::from(i))
            } else if let Some(u) = n.as_u64() {
                PyVal::Int(i128::from(u))
            } else {
                PyVal::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => PyVal::Str(s.clone()),
        Value::Array(a) => PyVal::List(a.iter().map(from_serde).collect()),
        Value::Object(m) => {
            let mut d = PyDict::new();
            for (k, val) in m {
                d.insert_str(k, from_serde(val));
            }
            PyVal::Dict(d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_follows_python_json() {
        let v = loads(r#"{"a": 1, "b": [1.0, 2e3, -0, NaN], "a": "x"}"#).unwrap();
        assert_eq!(
            dumps(&v).unwrap(),
            r#"{"a": "x", "b": [1.0, 2000.0, 0, NaN]}"#
        );
        assert!(loads("[1,]").is_err());
        assert!(loads("01").is_err());
        assert!(loads("\"a\tb\"").is_err());
        assert!(loads("1 2").is_err());
        let big = loads("123456789012345678901234567890123456789012").unwrap();
        assert!(matches!(big, PyVal::BigInt(_)));
        assert_eq!(
            dumps(&loads(r#""\ud83d\ude00 é""#).unwrap()).unwrap(),
            "\"😀 é\""
        );
    }

    #[test]
    fn dumps_escapes_like_python() {
        let v = PyVal::str("a\"b\\c\n\u{1}\u{7f}é");
        assert_eq!(dumps(&v).unwrap(), "\"a\\\"b\\\\c\\n\\u0001\u{7f}é\"");
        assert!(dumps(&PyVal::Bytes(vec![1])).is_err());
        let s = make_json_serializable(&PyVal::List(vec![PyVal::Bytes(b"x".to_vec())]));
        assert_eq!(dumps(&s).unwrap(), "[\"b'x'\"]");
    }
}
