//! Bridges between JSON and minijinja values with Python semantics.
//!
//! * JSON objects become an insertion-ordered map object ([`JsonMap`]), so that iteration and
//!   `tojson` see keys in the order the caller wrote them, as Python dicts do (minijinja's own
//!   maps are sorted unless its `preserve_order` feature is on).
//! * [`to_json`] turns a template value back into JSON for `tojson`.
//! * [`write_py_str`] prints a value the way Jinja2 (Python's `str()`) does: `None`, `True`,
//!   `1e-05`, `['a', 1]`, `{'k': 'v'}`.

use crate::chat::pyjson::float_repr;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};
use serde_json::Value as Json;
use std::fmt::{self, Write as _};
use std::sync::Arc;

/// A JSON object exposed to templates, keeping its key order.
#[derive(Debug)]
pub struct JsonMap {
    entries: Vec<(Value, Value)>,
}

impl Object for JsonMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.entries.iter().map(|(k, _)| k.clone()).collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.entries.len())
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        write_py_map(&mut s, self.entries.iter().cloned());
        f.write_str(&s)
    }
}

/// Converts JSON into a template value (objects keep their key order).
pub fn from_json(value: &Json) -> Value {
    match value {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::from(items.iter().map(from_json).collect::<Vec<_>>()),
        Json::Object(map) => Value::from_object(JsonMap {
            entries: map
                .iter()
                .map(|(k, v)| (Value::from(k.as_str()), from_json(v)))
                .collect(),
        }),
    }
}

/// Converts a template value into JSON, as Python's `json.dumps` would see it.
///
/// Fails (with a description) on values JSON cannot hold: undefined, NaN/infinite floats,
/// integers beyond 64 bits, functions and other plain objects.
pub fn to_json(value: &Value) -> Result<Json, String> {
    match value.kind() {
        ValueKind::None => Ok(Json::Null),
        ValueKind::Bool => Ok(Json::Bool(value.is_true())),
        ValueKind::Number => number_to_json(value),
        ValueKind::String => Ok(Json::String(value.as_str().unwrap_or_default().to_string())),
        ValueKind::Seq | ValueKind::Iterable => {
            let iter = value.try_iter().map_err(|e| e.to_string())?;
            iter.map(|v| to_json(&v))
                .collect::<Result<Vec<_>, _>>()
                .map(Json::Array)
        }
        ValueKind::Map => {
            let mut map = serde_json::Map::new();
            let iter = value.try_iter().map_err(|e| e.to_string())?;
            for key in iter {
                let item = value.get_item(&key).map_err(|e| e.to_string())?;
                map.insert(json_key(&key)?, to_json(&item)?);
            }
            Ok(Json::Object(map))
        }
        ValueKind::Undefined => Err("Object of type Undefined is not JSON serializable".into()),
        other => Err(format!("Object of type {other} is not JSON serializable")),
    }
}

fn number_to_json(value: &Value) -> Result<Json, String> {
    if value.is_integer() {
        if let Ok(i) = i64::try_from(value.clone()) {
            return Ok(Json::from(i));
        }
        if let Ok(u) = u64::try_from(value.clone()) {
            return Ok(Json::from(u));
        }
        return Err(format!("integer {value} does not fit in 64 bits"));
    }
    let f = f64::try_from(value.clone()).map_err(|e| e.to_string())?;
    serde_json::Number::from_f64(f)
        .map(Json::Number)
        .ok_or_else(|| format!("float {f} is not representable in JSON"))
}

/// Python's `json.dumps` converts non-string keys: `1` → `"1"`, `True` → `"true"`, `None` → `"null"`.
fn json_key(key: &Value) -> Result<String, String> {
    match key.kind() {
        ValueKind::String => Ok(key.as_str().unwrap_or_default().to_string()),
        ValueKind::None => Ok("null".into()),
        ValueKind::Bool => Ok(if key.is_true() { "true" } else { "false" }.into()),
        ValueKind::Number => match number_to_json(key)? {
            Json::Number(n) if n.is_f64() => Ok(float_repr(n.as_f64().unwrap_or(f64::NAN))),
            other => Ok(other.to_string()),
        },
        other => Err(format!(
            "keys must be str, int, float, bool or None, not {other}"
        )),
    }
}

/// Writes `value` as Python's `str(value)` would print it in a template.
pub fn write_py_str(out: &mut String, value: &Value) {
    match value.kind() {
        ValueKind::Undefined => {}
        ValueKind::String => out.push_str(value.as_str().unwrap_or_default()),
        _ => write_py_repr(out, value),
    }
}

/// Writes Python's `repr(value)` (used for items inside containers).
pub fn write_py_repr(out: &mut String, value: &Value) {
    match value.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number => {
            if value.is_integer() {
                let _ = write!(out, "{value}");
            } else {
                let f = f64::try_from(value.clone()).unwrap_or(f64::NAN);
                out.push_str(&py_float_str(f));
            }
        }
        ValueKind::String => write_py_string_repr(out, value.as_str().unwrap_or_default()),
        ValueKind::Seq => {
            out.push('[');
            if let Ok(iter) = value.try_iter() {
                for (i, item) in iter.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_py_repr(out, &item);
                }
            }
            out.push(']');
        }
        ValueKind::Map => {
            let pairs = value.try_iter().into_iter().flatten().map(|k| {
                let v = value.get_item(&k).unwrap_or_default();
                (k, v)
            });
            write_py_map(out, pairs);
        }
        _ => {
            let _ = write!(out, "{value}");
        }
    }
}

fn write_py_map(out: &mut String, pairs: impl Iterator<Item = (Value, Value)>) {
    out.push('{');
    for (i, (k, v)) in pairs.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_py_repr(out, &k);
        out.push_str(": ");
        write_py_repr(out, &v);
    }
    out.push('}');
}

/// `str(float)` in Python: like `repr`, but `inf`/`nan` instead of JSON's spellings.
fn py_float_str(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        float_repr(f)
    }
}

/// Python's `repr(str)`: single quotes unless the text has `'` and no `"`; escapes backslash,
/// the quote, `\n`, `\r`, `\t`, and other control characters (approximating `str.isprintable`
/// by the C0/C1 control ranges).
fn write_py_string_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trip_keeps_order() {
        let j = json!({"z": 1, "a": [1.5, "x", null, true], "m": {"q": {}, "b": []}});
        assert_eq!(to_json(&from_json(&j)).unwrap(), j);
        let keys: Vec<String> = from_json(&j)
            .try_iter()
            .unwrap()
            .map(|k| k.to_string())
            .collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn python_str_of_values() {
        let v = from_json(&json!({"a": [1, 2.0, "it's", "x\"y'z", null, false]}));
        let mut s = String::new();
        write_py_str(&mut s, &v);
        // Python: str({'a': [1, 2.0, "it's", 'x"y\'z', None, False]})
        assert_eq!(s, r#"{'a': [1, 2.0, "it's", 'x"y\'z', None, False]}"#);
    }

    #[test]
    fn undefined_is_not_json() {
        assert!(to_json(&Value::UNDEFINED).is_err());
    }
}
