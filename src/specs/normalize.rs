//! Keyword-level helpers of schema normalization: type names, `allOf`/`oneOf`/`anyOf`
//! simplification, `null` types, `required` pruning, stubs for schemas that are not expanded.

use serde_json::{Map, Value};

/// A type name, mapped to JSON Schema.
pub enum TypeName {
    /// A JSON Schema type.
    Known(&'static str),
    /// Swagger 2's `file`: a string in `binary` format.
    File,
    /// No constraint (`any`).
    Any,
    /// Not a type name we know.
    Unknown,
}

/// Maps JSON Schema, Gorilla/BFCL, Java and JavaScript type names to JSON Schema types.
pub fn map_type_name(name: &str) -> TypeName {
    match name.trim().to_ascii_lowercase().as_str() {
        "object" | "dict" | "hashmap" | "map" => TypeName::Known("object"),
        "array" | "list" | "tuple" | "arraylist" => TypeName::Known("array"),
        "string" | "str" | "char" | "character" => TypeName::Known("string"),
        "integer" | "int" | "long" | "short" | "byte" | "bigint" => TypeName::Known("integer"),
        "number" | "float" | "double" | "decimal" => TypeName::Known("number"),
        "boolean" | "bool" => TypeName::Known("boolean"),
        "null" | "none" => TypeName::Known("null"),
        "file" => TypeName::File,
        "any" => TypeName::Any,
        _ => TypeName::Unknown,
    }
}

/// Only the (JSON Schema) type of a schema, for schemas past the size budget.
pub fn type_only(schema: &Value) -> Value {
    let mut m = Map::new();
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        if let TypeName::Known(t) = map_type_name(t) {
            m.insert("type".into(), Value::String(t.into()));
        }
    }
    Value::Object(m)
}

/// A stand-in for a reference that is not expanded.
pub fn stub(target: &Value, reference: &str, why: &str) -> Value {
    let mut m = Map::new();
    if let Some(t) = target.get("type").and_then(Value::as_str) {
        if let TypeName::Known(t) = map_type_name(t) {
            m.insert("type".into(), Value::String(t.into()));
        }
    }
    let name = reference.rsplit('/').next().unwrap_or(reference);
    m.insert(
        "description".into(),
        Value::String(format!("{name} (not expanded: {why} reference)")),
    );
    Value::Object(m)
}

/// Merges `allOf` members into the schema, or flattens trivial `oneOf`/`anyOf`; keeps the
/// combinator as it is when that would change the meaning.
pub fn apply_combinator(out: &mut Map<String, Value>, key: &str, members: Vec<Value>) {
    match key {
        "allOf" => {
            let mut merged = out.clone();
            let ok = members.iter().all(|m| match m {
                Value::Object(m) => merge_schema(&mut merged, m),
                _ => false,
            });
            if ok {
                *out = merged;
            } else {
                out.insert(key.into(), Value::Array(members));
            }
        }
        _ => {
            let (nulls, others): (Vec<&Value>, Vec<&Value>) =
                members.iter().partition(|m| is_null_schema(m));
            if let [Value::Object(only)] = others.as_slice() {
                let mut merged = out.clone();
                if merge_schema(&mut merged, only) {
                    if !nulls.is_empty() {
                        add_null_type(&mut merged);
                    }
                    *out = merged;
                    return;
                }
            }
            out.insert(key.into(), Value::Array(members));
        }
    }
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
}

/// Merges `extra` into `base` (for `allOf`); false (and `base` possibly half-merged, so the
/// caller works on a copy) when the two conflict.
fn merge_schema(base: &mut Map<String, Value>, extra: &Map<String, Value>) -> bool {
    for (k, v) in extra {
        match k.as_str() {
            "type" => match base.get("type") {
                None => {
                    base.insert(k.clone(), v.clone());
                }
                Some(existing) if existing == v => {}
                Some(_) => return false,
            },
            "properties" => {
                let Value::Object(props) = v else {
                    return false;
                };
                let entry = base
                    .entry("properties")
                    .or_insert_with(|| Value::Object(Map::new()));
                let Value::Object(base_props) = entry else {
                    return false;
                };
                for (name, schema) in props {
                    if !base_props.contains_key(name) {
                        base_props.insert(name.clone(), schema.clone());
                    }
                }
            }
            "required" => {
                let Value::Array(names) = v else { return false };
                let entry = base
                    .entry("required")
                    .or_insert_with(|| Value::Array(Vec::new()));
                let Value::Array(base_names) = entry else {
                    return false;
                };
                for name in names {
                    if !base_names.contains(name) {
                        base_names.push(name.clone());
                    }
                }
            }
            "allOf" | "anyOf" | "oneOf" | "not" => {
                if base.contains_key(k) {
                    return false;
                }
                base.insert(k.clone(), v.clone());
            }
            _ => {
                if !base.contains_key(k) {
                    base.insert(k.clone(), v.clone());
                }
            }
        }
    }
    true
}

/// Adds `"null"` to the schema's type (when it has one).
pub fn add_null_type(out: &mut Map<String, Value>) {
    match out.get_mut("type") {
        Some(Value::String(t)) if t != "null" => {
            let t = std::mem::take(t);
            out.insert(
                "type".into(),
                Value::Array(vec![Value::String(t), Value::String("null".into())]),
            );
        }
        Some(Value::Array(list)) => {
            let null = Value::String("null".into());
            if !list.contains(&null) {
                list.push(null);
            }
        }
        _ => {}
    }
}

/// Keeps only the `required` names that are properties (when properties are listed), once each.
pub fn prune_required(out: &mut Map<String, Value>) {
    let Some(Value::Array(names)) = out.get("required") else {
        return;
    };
    let props = out.get("properties").and_then(Value::as_object);
    let mut kept: Vec<Value> = Vec::new();
    for name in names {
        let Some(s) = name.as_str() else { continue };
        if props.is_some_and(|p| !p.contains_key(s)) || kept.contains(name) {
            continue;
        }
        kept.push(name.clone());
    }
    if kept.is_empty() {
        out.shift_remove("required");
    } else {
        out.insert("required".into(), Value::Array(kept));
    }
}

/// Puts `type` and `description` first, the rest in encounter order.
pub fn canonical_order(mut out: Map<String, Value>) -> Map<String, Value> {
    let mut ordered = Map::new();
    for key in ["type", "description"] {
        if let Some(v) = out.shift_remove(key) {
            ordered.insert(key.into(), v);
        }
    }
    ordered.extend(out);
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn conflicting_all_of_is_kept() {
        let mut out = Map::new();
        let members = vec![json!({"type": "string"}), json!({"type": "integer"})];
        apply_combinator(&mut out, "allOf", members.clone());
        assert_eq!(Value::Object(out), json!({"allOf": members}));
    }

    #[test]
    fn all_of_merges_properties_and_required() {
        let mut out = obj(json!({"description": "own"}));
        apply_combinator(
            &mut out,
            "allOf",
            vec![
                json!({"type": "object", "description": "a", "properties": {"x": {"type": "string"}}, "required": ["x"]}),
                json!({"properties": {"x": {"type": "integer"}, "y": {}}, "required": ["y", "x"]}),
            ],
        );
        assert_eq!(
            Value::Object(out),
            json!({"description": "own", "type": "object", "properties": {"x": {"type": "string"}, "y": {}}, "required": ["x", "y"]})
        );
    }

    #[test]
    fn one_of_with_null_flattens_to_nullable() {
        let mut out = Map::new();
        apply_combinator(
            &mut out,
            "oneOf",
            vec![
                json!({"type": "null"}),
                json!({"type": "string", "format": "date"}),
            ],
        );
        assert_eq!(
            Value::Object(out),
            json!({"type": ["string", "null"], "format": "date"})
        );
        let mut two = Map::new();
        let members = vec![json!({"type": "string"}), json!({"type": "integer"})];
        apply_combinator(&mut two, "anyOf", members.clone());
        assert_eq!(Value::Object(two), json!({"anyOf": members}));
    }

    #[test]
    fn type_names() {
        for (name, want) in [
            ("dict", "object"),
            ("float", "number"),
            ("tuple", "array"),
            ("long", "integer"),
            ("String", "string"),
            ("Boolean", "boolean"),
            ("HashMap", "object"),
            ("ArrayList", "array"),
            ("Bigint", "integer"),
        ] {
            assert!(
                matches!(map_type_name(name), TypeName::Known(t) if t == want),
                "{name}"
            );
        }
        assert!(matches!(map_type_name("any"), TypeName::Any));
        assert!(matches!(map_type_name("file"), TypeName::File));
        assert!(matches!(map_type_name("wibble"), TypeName::Unknown));
    }
}
