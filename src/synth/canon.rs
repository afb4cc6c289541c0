//! Canonical JSON (keys sorted) and value normalization for comparisons.

use serde_json::{Map, Value as Json};

/// The value with object keys sorted at every level.
pub fn canonical(v: &Json) -> Json {
    match v {
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                if let Some(x) = m.get(k) {
                    out.insert(k.clone(), canonical(x));
                }
            }
            Json::Object(out)
        }
        Json::Array(a) => Json::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Canonical compact text of a value (keys sorted).
pub fn canonical_string(v: &Json) -> String {
    canonical(v).to_string()
}

/// A string as compared: trimmed, lower-cased, inner whitespace collapsed, surrounding quotes
/// and a final period removed.
pub fn normalize_str(s: &str) -> String {
    let t = s
        .trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .trim_end_matches('.');
    t.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Whether two values are equal under normalization: strings as [`normalize_str`], numbers by
/// value (`5` equals `5.0`; a numeric string equals the number), arrays element-wise in order,
/// objects key-wise.
pub fn values_match(expected: &Json, actual: &Json) -> bool {
    match (expected, actual) {
        (Json::String(a), Json::String(b)) => normalize_str(a) == normalize_str(b),
        (Json::Number(a), Json::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
            _ => false,
        },
        (Json::Number(a), Json::String(b)) | (Json::String(b), Json::Number(a)) => {
            match (a.as_f64(), b.trim().parse::<f64>()) {
                (Some(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                _ => false,
            }
        }
        (Json::Array(a), Json::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| values_match(x, y))
        }
        (Json::Object(a), Json::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, x)| b.get(k).is_some_and(|y| values_match(x, y)))
        }
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn normalization() {
        assert!(values_match(&json!("New York"), &json!(" new  york. ")));
        assert!(values_match(&json!(5), &json!(5.0)));
        assert!(!values_match(&json!(5), &json!(5.1)));
        assert!(!values_match(&json!(["a", "b"]), &json!(["b", "a"])));
        assert!(values_match(
            &json!({"a": 1, "b": "X"}),
            &json!({"b": "x", "a": 1.0})
        ));
        assert!(!values_match(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!values_match(&json!(true), &json!("true")));
        assert_eq!(
            canonical_string(&json!({"b": 1, "a": {"d": 2, "c": 3}})),
            r#"{"a":{"c":3,"d":2},"b":1}"#
        );
    }
}
