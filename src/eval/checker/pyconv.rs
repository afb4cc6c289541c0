//! Python built-ins the Java/JS type converters rely on: `int(str)`,
//! `float(str)`, `str.strip()`, `s[1:-1]` and the `\s` / `\w` / `\d` classes
//! of Python's `re` module (ASCII digits only for `\d`).

use crate::eval::pyjson::int_from_decimal;
use crate::eval::pyval::PyVal;

/// Python's `str.isspace()` for one char (also `\s` of `re`).
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `\w` of `re` (Unicode word characters).
pub fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `str.strip()`.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `s[1:-1]` on code points.
pub fn inner(s: &str) -> String {
    let n = s.chars().count();
    if n <= 2 {
        return String::new();
    }
    s.chars().skip(1).take(n - 2).collect()
}

/// Digits with single underscores between them (Python numeric strings).
fn digits_ok(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('_')
        && !s.ends_with('_')
        && !s.contains("__")
        && s.chars().all(|c| c.is_ascii_digit() || c == '_')
}

/// `int(s)` for a `str`: `None` where Python raises `ValueError`.
pub fn py_int(s: &str) -> Option<PyVal> {
    let t = strip(s);
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if !digits_ok(body) {
        return None;
    }
    let digits: String = body.chars().filter(|c| *c != '_').collect();
    let text = if neg { format!("-{digits}") } else { digits };
    Some(int_from_decimal(&text))
}

/// `float(s)` for a `str`: `None` where Python raises `ValueError`.
pub fn py_float(s: &str) -> Option<f64> {
    let t = strip(s);
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let lower = body.to_ascii_lowercase();
    let special = match lower.as_str() {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    };
    let v = match special {
        Some(v) => v,
        None => {
            let (mant, exp) = match lower.find('e') {
                Some(i) => (&lower[..i], Some(&lower[i + 1..])),
                None => (lower.as_str(), None),
            };
            let (int_part, frac) = match mant.find('.') {
                Some(i) => (&mant[..i], Some(&mant[i + 1..])),
                None => (mant, None),
            };
            let int_ok = int_part.is_empty() || digits_ok(int_part);
            let frac_ok = frac.is_none_or(|f| f.is_empty() || digits_ok(f));
            let has_digits = !int_part.is_empty() || frac.is_some_and(|f| !f.is_empty());
            let exp_ok = exp.is_none_or(|e| {
                let e = e.strip_prefix(['+', '-']).unwrap_or(e);
                digits_ok(e)
            });
            if !(int_ok && frac_ok && has_digits && exp_ok) {
                return None;
            }
            let clean: String = lower.chars().filter(|c| *c != '_').collect();
            clean.parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_number_parsing() {
        assert!(matches!(py_int(" 1_000 "), Some(PyVal::Int(1000))));
        assert!(py_int("1__0").is_none());
        assert!(py_int("1.0").is_none());
        assert_eq!(py_float("1e3"), Some(1000.0));
        assert_eq!(py_float(".5"), Some(0.5));
        assert_eq!(py_float("5."), Some(5.0));
        assert_eq!(py_float("."), None);
        assert_eq!(py_float("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(py_float("1.5f"), None);
        assert_eq!(inner("\"é\""), "é");
        assert_eq!(inner("a"), "");
    }
}
