//! No input may panic, hang or blow up: exhaustive and random mutations of the fixture specs,
//! pathological `$ref` graphs and deep nesting.

#[path = "specs_common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::fixture;
use proptest::prelude::*;
use serde_json::{json, Value};
use trainer::specs::{ingest_str, ingest_value, IngestOptions};

/// The fixtures that parse, as JSON values (the BFCL ones are ingested with the override so
/// that the mutations reach the function-doc reader too).
const FIXTURES: &[&str] = &[
    "petstore-3.0.json",
    "todo-3.1.yaml",
    "store-swagger-2.0.yaml",
    "openai-tools.json",
    "mcp-tools-list.json",
    "bfcl-style-functions.json",
    "broken-operations.json",
    "bfcl-questions.jsonl",
];

fn fixture_texts() -> Vec<(String, String)> {
    FIXTURES
        .iter()
        .map(|n| (n.to_string(), std::fs::read_to_string(fixture(n)).unwrap()))
        .collect()
}

fn fixture_docs() -> Vec<(String, Value)> {
    fixture_texts()
        .into_iter()
        .map(|(n, text)| {
            let doc = if n.ends_with(".json") || n.ends_with(".jsonl") {
                serde_json::from_str(&text).unwrap_or_else(|_| {
                    Value::Array(
                        text.lines()
                            .map(|l| serde_json::from_str(l).unwrap())
                            .collect(),
                    )
                })
            } else {
                serde_norway::from_str(&text).unwrap()
            };
            (n, doc)
        })
        .collect()
}

fn opts() -> IngestOptions {
    IngestOptions {
        allow_bfcl: true,
        keep_deprecated: true,
        ..IngestOptions::default()
    }
}

/// Every JSON pointer in a document.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn poisons() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(-1.5),
        json!("x"),
        json!([]),
        json!({}),
        json!({"$ref": "#"}),
        json!({"$ref": "#/paths"}),
        json!({"$ref": "#/components/schemas/Node"}),
        json!({"$ref": "#/$defs/Range"}),
        json!({"$ref": "x.json#/a"}),
        json!([{"$ref": "#"}, {"allOf": [{"$ref": "#"}]}]),
        json!({"type": ["dict", 3], "properties": {"a": {"$ref": "#"}}, "required": "a"}),
    ]
}

#[test]
fn every_node_replaced_by_every_poison_never_panics() {
    let mut runs = 0;
    for (name, doc) in fixture_docs() {
        let mut ptrs = Vec::new();
        pointers(&doc, String::new(), &mut ptrs);
        for ptr in &ptrs {
            for poison in poisons() {
                let mut mutated = doc.clone();
                if ptr.is_empty() {
                    mutated = poison;
                } else if let Some(slot) = mutated.pointer_mut(ptr) {
                    *slot = poison;
                }
                let _ = ingest_value(&name, &mutated, &opts());
                runs += 1;
            }
        }
    }
    assert!(runs > 3000, "only {runs} mutations");
}

#[test]
fn exponential_ref_graph_is_bounded() {
    // S0 refers to S1 twice, S1 to S2 twice, ...: 2^40 nodes if fully inlined.
    let mut schemas = serde_json::Map::new();
    for i in 0..40 {
        schemas.insert(
            format!("S{i}"),
            json!({"type": "object", "properties": {
                "a": {"$ref": format!("#/components/schemas/S{}", i + 1)},
                "b": {"$ref": format!("#/components/schemas/S{}", i + 1)}
            }}),
        );
    }
    schemas.insert("S40".into(), json!({"type": "string"}));
    let doc = json!({
        "openapi": "3.0.0",
        "paths": {"/x": {"post": {
            "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}},
            "responses": {"200": {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/S0"}}}}}
        }}},
        "components": {"schemas": schemas}
    });
    let start = Instant::now();
    let spec = ingest_value("exp.json", &doc, &IngestOptions::default()).unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    let size = spec.tools[0].parameters.to_string().len()
        + spec.tools[0]
            .response_schema
            .as_ref()
            .unwrap()
            .to_string()
            .len();
    assert!(size < 400_000, "schema of {size} bytes");
    assert!(spec.tools[0]
        .provenance
        .notes
        .iter()
        .any(|n| n.contains("too deeply nested") || n.contains("larger than")));
}

#[test]
fn mutual_recursion_and_self_reference_terminate() {
    let doc = json!({
        "openapi": "3.0.0",
        "paths": {"/x": {"get": {
            "parameters": [{"name": "q", "in": "query", "schema": {"$ref": "#/components/schemas/A"}}],
            "responses": {"200": {"$ref": "#/components/responses/R"}}
        }}},
        "components": {
            "schemas": {
                "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
                "B": {"allOf": [{"$ref": "#/components/schemas/A"}, {"$ref": "#/components/schemas/B"}]},
                "Self": {"$ref": "#/components/schemas/Self"}
            },
            "responses": {"R": {"$ref": "#/components/responses/R"}}
        }
    });
    let spec = ingest_value("rec.json", &doc, &IngestOptions::default()).unwrap();
    let q = &spec.tools[0].parameters["properties"]["q"];
    // B = allOf[A, B]: both members are cut as recursive, and the stubs merge.
    assert_eq!(
        q["properties"]["b"],
        json!({"type": "object", "description": "A (not expanded: recursive reference)"})
    );
    assert_eq!(spec.tools[0].response_schema, None);
}

#[test]
fn deeply_nested_documents_fail_cleanly() {
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        ingest_str("deep.json", &deep_json, &IngestOptions::default())
            .unwrap_err()
            .kind(),
        "parse"
    );
    let deep_yaml = format!("a: {}1{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        ingest_str("deep.yaml", &deep_yaml, &IngestOptions::default())
            .unwrap_err()
            .kind(),
        "parse"
    );
    // A deep but parseable schema is cut at the depth limit.
    let mut schema = json!({"type": "string"});
    for _ in 0..100 {
        schema = json!({"type": "object", "properties": {"x": schema}});
    }
    let doc = json!({"name": "deep", "parameters": schema});
    let spec = ingest_value("deep-schema.json", &doc, &IngestOptions::default()).unwrap();
    assert!(spec.tools[0].provenance.notes[0]
        .starts_with("schema nested deeper than 32 levels cut at /parameters/properties/x"));
}

#[test]
fn billion_laughs_yaml_is_refused_or_bounded() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = format!("*a{}", i - 1);
        text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
    }
    let start = Instant::now();
    let _ = ingest_str("laughs.yaml", &text, &IngestOptions::default());
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// One random edit of a JSON value.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, usize),
    Remove(usize),
    Duplicate(usize, usize),
}

fn apply(doc: &mut Value, edit: &Edit) {
    let mut ptrs = Vec::new();
    pointers(doc, String::new(), &mut ptrs);
    let pick = |i: usize| ptrs[i % ptrs.len()].clone();
    match edit {
        Edit::Replace(at, p) => {
            let poisons = poisons();
            if let Some(slot) = doc.pointer_mut(&pick(*at)) {
                *slot = poisons[p % poisons.len()].clone();
            }
        }
        Edit::Remove(at) => {
            let ptr = pick(*at);
            if let Some((parent, key)) = ptr.rsplit_once('/') {
                match doc.pointer_mut(parent) {
                    Some(Value::Object(m)) => {
                        m.shift_remove(&key.replace("~1", "/").replace("~0", "~"));
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(i) = key.parse::<usize>() {
                            if i < a.len() {
                                a.remove(i);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Edit::Duplicate(from, to) => {
            let source = doc.pointer(&pick(*from)).cloned();
            if let (Some(source), Some(slot)) = (source, doc.pointer_mut(&pick(*to))) {
                *slot = source;
            }
        }
    }
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Replace(a, b)),
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Duplicate(a, b)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_structural_mutations_never_panic(which in 0usize..FIXTURES.len(), edits in prop::collection::vec(edit_strategy(), 1..6)) {
        let docs = fixture_docs();
        let (name, mut doc) = docs[which].clone();
        for edit in &edits {
            apply(&mut doc, edit);
        }
        let _ = ingest_value(&name, &doc, &opts());
    }

    #[test]
    fn random_byte_mutations_never_panic(which in 0usize..FIXTURES.len(), cuts in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let texts = fixture_texts();
        let (name, text) = &texts[which];
        let mut bytes = text.clone().into_bytes();
        for (at, byte) in cuts {
            let i = at % bytes.len();
            bytes[i] = byte;
        }
        let mutated = String::from_utf8_lossy(&bytes);
        let _ = ingest_str(name, &mutated, &opts());
    }
}
