//! JSON text exactly as Python's `json.dumps` writes it.
//!
//! Chat templates serialize tools and tool-call arguments with `tojson`, which transformers
//! implements as `json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
//! Rendering byte-identical prompts therefore needs Python's formatting rules, which differ from
//! `serde_json`'s: `", "` / `": "` separators, `repr`-style floats (`1e-05`, `1e+16`, `100.0`),
//! and `\uXXXX` escapes only for control characters (or for all non-ASCII with `ensure_ascii`).

use serde_json::{Map, Number, Value};
use std::fmt::Write as _;

/// Options of `json.dumps` that chat templates use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpOptions {
    /// Escape every non-ASCII character as `\uXXXX` (surrogate pairs above U+FFFF).
    pub ensure_ascii: bool,
    /// Pretty-print with this string per nesting level (Python's `indent`, an int becomes spaces).
    pub indent: Option<String>,
    /// `(item_separator, key_separator)`; `None` means Python's defaults for the indent mode.
    pub separators: Option<(String, String)>,
    /// Sort object keys.
    pub sort_keys: bool,
}

impl Default for DumpOptions {
    /// The options transformers' `tojson` uses by default (`ensure_ascii=False`).
    fn default() -> Self {
        DumpOptions {
            ensure_ascii: false,
            indent: None,
            separators: None,
            sort_keys: false,
        }
    }
}

/// `json.dumps(value, ensure_ascii=False)`: the canonical compact form of chat templates.
pub fn dumps(value: &Value) -> String {
    dumps_with(value, &DumpOptions::default())
}

/// `json.dumps(value, **options)`.
pub fn dumps_with(value: &Value, options: &DumpOptions) -> String {
    let (item_sep, key_sep) = match &options.separators {
        Some((item, key)) => (item.as_str(), key.as_str()),
        None if options.indent.is_some() => (",", ": "),
        None => (", ", ": "),
    };
    let writer = Writer {
        options,
        item_sep,
        key_sep,
    };
    let mut out = String::new();
    writer.value(&mut out, value, 0);
    out
}

struct Writer<'a> {
    options: &'a DumpOptions,
    item_sep: &'a str,
    key_sep: &'a str,
}

impl Writer<'_> {
    fn value(&self, out: &mut String, value: &Value, depth: usize) {
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Number(n) => write_number(out, n),
            Value::String(s) => write_string(out, s, self.options.ensure_ascii),
            Value::Array(items) => self.array(out, items, depth),
            Value::Object(map) => self.object(out, map, depth),
        }
    }

    fn newline(&self, out: &mut String, depth: usize) {
        if let Some(indent) = &self.options.indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(indent);
            }
        }
    }

    fn array(&self, out: &mut String, items: &[Value], depth: usize) {
        if items.is_empty() {
            out.push_str("[]");
            return;
        }
        out.push('[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(self.item_sep);
            }
            self.newline(out, depth + 1);
            self.value(out, item, depth + 1);
        }
        self.newline(out, depth);
        out.push(']');
    }

    fn object(&self, out: &mut String, map: &Map<String, Value>, depth: usize) {
        if map.is_empty() {
            out.push_str("{}");
            return;
        }
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        if self.options.sort_keys {
            entries.sort_by(|a, b| a.0.cmp(b.0));
        }
        out.push('{');
        for (i, (key, item)) in entries.into_iter().enumerate() {
            if i > 0 {
                out.push_str(self.item_sep);
            }
            self.newline(out, depth + 1);
            write_string(out, key, self.options.ensure_ascii);
            out.push_str(self.key_sep);
            self.value(out, item, depth + 1);
        }
        self.newline(out, depth);
        out.push('}');
    }
}

fn write_number(out: &mut String, n: &Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        out.push_str(&float_repr(f));
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, in fixed notation when the decimal
/// exponent is in `-4..16`, otherwise scientific with a signed, at least two-digit exponent.
pub fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "-1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::from(sign);
    if (-4..16).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    }
    out
}

/// A JSON string literal as Python writes it.
pub fn write_string(out: &mut String, s: &str, ensure_ascii: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn float_repr_matches_python() {
        // Expected strings are Python 3.11 `repr(x)`.
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (100.0, "100.0"),
            (0.1, "0.1"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e300, "1.5e+300"),
            (-2.5e-7, "-2.5e-07"),
            (123456.789, "123456.789"),
            (-0.0, "-0.0"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(*f), *want, "repr({f:e})");
        }
    }

    #[test]
    fn dumps_matches_python_defaults() {
        let v = json!({"b": [1, 2.0, null, true], "a": "é\"\\\n\u{1}\u{7f}", "c": {}});
        assert_eq!(
            dumps(&v),
            "{\"b\": [1, 2.0, null, true], \"a\": \"é\\\"\\\\\\n\\u0001\u{7f}\", \"c\": {}}"
        );
    }

    #[test]
    fn dumps_indent_and_ascii() {
        let v = json!({"k": ["😀", []]});
        let opts = DumpOptions {
            ensure_ascii: true,
            indent: Some("  ".into()),
            ..DumpOptions::default()
        };
        assert_eq!(
            dumps_with(&v, &opts),
            "{\n  \"k\": [\n    \"\\ud83d\\ude00\",\n    []\n  ]\n}"
        );
    }
}
