//! Reading JSON Schemas the way the generators need them: the effective type of a (sub)schema,
//! its properties and required names, with `allOf` merged and `anyOf`/`oneOf` narrowed to their
//! first non-null branch.

use serde_json::{Map, Value as Json};

/// The JSON type a schema describes, as far as generation is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `"string"`.
    String,
    /// `"integer"`.
    Integer,
    /// `"number"`.
    Number,
    /// `"boolean"`.
    Boolean,
    /// `"array"`.
    Array,
    /// `"object"`.
    Object,
    /// `"null"` only.
    Null,
    /// Anything (no type information).
    Any,
}

impl Kind {
    /// Whether values of this kind are single scalars (string, number, boolean).
    pub fn is_scalar(self) -> bool {
        matches!(
            self,
            Kind::String | Kind::Integer | Kind::Number | Kind::Boolean
        )
    }
}

/// The schema with `allOf` merged into one object schema and `anyOf`/`oneOf` replaced by their
/// first branch that is not `{"type": "null"}`. Other keywords of the outer schema win.
pub fn effective(schema: &Json) -> Json {
    let Json::Object(map) = schema else {
        return schema.clone();
    };
    let mut out = map.clone();
    for key in ["anyOf", "oneOf"] {
        if let Some(Json::Array(branches)) = out.remove(key) {
            let pick = branches
                .iter()
                .find(|b| type_name(b) != Some("null"))
                .or(branches.first());
            if let Some(Json::Object(b)) = pick.map(effective) {
                for (k, v) in b {
                    out.entry(k).or_insert(v);
                }
            }
        }
    }
    if let Some(Json::Array(parts)) = out.remove("allOf") {
        for part in parts {
            if let Json::Object(p) = effective(&part) {
                merge_into(&mut out, p);
            }
        }
    }
    Json::Object(out)
}

fn merge_into(out: &mut Map<String, Json>, part: Map<String, Json>) {
    for (k, v) in part {
        match (k.as_str(), out.get_mut(&k), v) {
            ("properties", Some(Json::Object(props)), Json::Object(more)) => {
                for (name, s) in more {
                    props.entry(name).or_insert(s);
                }
            }
            ("required", Some(Json::Array(req)), Json::Array(more)) => {
                for r in more {
                    if !req.contains(&r) {
                        req.push(r);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, v) => {
                out.insert(k, v);
            }
        }
    }
}

/// The `type` keyword as one name: a string, or the first non-null entry of a list.
fn type_name(schema: &Json) -> Option<&str> {
    match schema.get("type")? {
        Json::String(s) => Some(s.as_str()),
        Json::Array(list) => list
            .iter()
            .filter_map(Json::as_str)
            .find(|t| *t != "null")
            .or_else(|| list.iter().find_map(Json::as_str)),
        _ => None,
    }
}

/// The kind of an (effective) schema; inferred from other keywords when `type` is absent.
pub fn kind(schema: &Json) -> Kind {
    match type_name(schema) {
        Some("string") => Kind::String,
        Some("integer") => Kind::Integer,
        Some("number") => Kind::Number,
        Some("boolean") => Kind::Boolean,
        Some("array") => Kind::Array,
        Some("object") => Kind::Object,
        Some("null") => Kind::Null,
        _ => {
            if let Some(v) = first_enum(schema).or_else(|| schema.get("const")) {
                return kind_of_value(v);
            }
            if schema.get("properties").is_some() {
                Kind::Object
            } else if schema.get("items").is_some() {
                Kind::Array
            } else if schema.get("pattern").is_some() || schema.get("format").is_some() {
                Kind::String
            } else {
                Kind::Any
            }
        }
    }
}

/// The kind of a JSON value.
pub fn kind_of_value(v: &Json) -> Kind {
    match v {
        Json::Null => Kind::Null,
        Json::Bool(_) => Kind::Boolean,
        Json::Number(n) if n.is_i64() || n.is_u64() => Kind::Integer,
        Json::Number(_) => Kind::Number,
        Json::String(_) => Kind::String,
        Json::Array(_) => Kind::Array,
        Json::Object(_) => Kind::Object,
    }
}

fn first_enum(schema: &Json) -> Option<&Json> {
    schema.get("enum")?.as_array()?.first()
}

/// `properties` of an object schema (empty when absent).
pub fn properties(schema: &Json) -> Vec<(&str, &Json)> {
    match schema.get("properties") {
        Some(Json::Object(m)) => m.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        _ => Vec::new(),
    }
}

/// `required` names of an object schema that are also listed in its `properties`.
pub fn required(schema: &Json) -> Vec<String> {
    let props = properties(schema);
    match schema.get("required") {
        Some(Json::Array(list)) => list
            .iter()
            .filter_map(Json::as_str)
            .filter(|r| props.iter().any(|(p, _)| p == r))
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// A schema's `description`, or "".
pub fn description(schema: &Json) -> &str {
    schema
        .get("description")
        .and_then(Json::as_str)
        .unwrap_or_default()
}

/// Whether the schema constrains string values beyond their type (enum, const, pattern, format).
pub fn is_constrained(schema: &Json) -> bool {
    ["enum", "const", "pattern", "format"]
        .iter()
        .any(|k| schema.get(k).is_some())
}

/// Leaves (scalars) reachable from a schema through object properties and the first array
/// item, up to `max_depth` levels: `(JSON pointer, key, effective leaf schema)`. Array steps
/// use index 0 in the pointer.
pub fn leaves(schema: &Json, max_depth: usize) -> Vec<(String, String, Json)> {
    let mut out = Vec::new();
    walk(&effective(schema), "", "", max_depth, &mut out);
    out
}

fn walk(
    schema: &Json,
    pointer: &str,
    key: &str,
    depth: usize,
    out: &mut Vec<(String, String, Json)>,
) {
    match kind(schema) {
        Kind::Object => {
            if depth == 0 {
                return;
            }
            for (name, sub) in properties(schema) {
                let p = format!("{pointer}/{}", escape(name));
                walk(&effective(sub), &p, name, depth - 1, out);
            }
        }
        Kind::Array => {
            if depth == 0 {
                return;
            }
            if let Some(items) = schema.get("items") {
                let p = format!("{pointer}/0");
                walk(&effective(items), &p, key, depth - 1, out);
            }
        }
        k if k.is_scalar() && !pointer.is_empty() => {
            out.push((pointer.to_string(), key.to_string(), schema.clone()));
        }
        _ => {}
    }
}

/// RFC 6901 escaping of one pointer token.
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn effective_merges_and_narrows() {
        let s = json!({"allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"anyOf": [{"type": "null"}, {"type": "integer"}]}}, "required": ["b"]}
        ]});
        let e = effective(&s);
        assert_eq!(kind(&e), Kind::Object);
        assert_eq!(required(&e), vec!["a", "b"]);
        let b = effective(&e["properties"]["b"]);
        assert_eq!(kind(&b), Kind::Integer);
        assert_eq!(kind(&json!({"type": ["null", "number"]})), Kind::Number);
        assert_eq!(kind(&json!({"enum": ["x"]})), Kind::String);
    }

    #[test]
    fn leaves_walk_objects_and_first_items() {
        let s = json!({"type": "object", "properties": {
            "flights": {"type": "array", "items": {"type": "object", "properties": {
                "flight_id": {"type": "string"}, "price": {"type": "number"}}}},
            "count": {"type": "integer"}
        }});
        let l: Vec<(String, String)> = leaves(&s, 4).into_iter().map(|(p, k, _)| (p, k)).collect();
        assert_eq!(
            l,
            vec![
                ("/flights/0/flight_id".to_string(), "flight_id".to_string()),
                ("/flights/0/price".to_string(), "price".to_string()),
                ("/count".to_string(), "count".to_string()),
            ]
        );
    }
}
