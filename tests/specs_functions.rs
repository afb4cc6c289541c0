//! OpenAI tools, MCP tools/list and BFCL-style function docs.

#[path = "specs_common/mod.rs"]
mod common;

use common::{fixture, load, names, tool};
use serde_json::json;
use trainer::specs::{
    ingest_str, to_openai_tools, IngestOptions, Operation, SkipReason, SpecFormat,
};

#[test]
fn openai_tools_object_form() {
    let spec = load("openai-tools.json");
    let file = fixture("openai-tools.json").display().to_string();
    assert_eq!(spec.report.format, Some(SpecFormat::OpenAiTools));
    assert_eq!(
        names(&spec),
        ["get_weather", "books_search", "no_args", "get_weather_2"]
    );
    let weather = tool(&spec, "get_weather");
    assert_eq!(weather.description, "Get the weather for a city.");
    assert_eq!(
        weather.parameters,
        json!({
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
            "additionalProperties": false
        })
    );
    assert_eq!(weather.provenance.pointer, "/tools/0/function");
    let books = tool(&spec, "books_search");
    assert_eq!(
        books.provenance.operation,
        Operation::Function {
            name: "books.search".into()
        }
    );
    assert_eq!(books.provenance.pointer, "/tools/2");
    assert_eq!(
        tool(&spec, "no_args").parameters,
        json!({"type": "object", "properties": {}, "required": []})
    );

    let skipped: Vec<(SkipReason, &str)> = spec
        .report
        .skipped
        .iter()
        .map(|s| (s.reason, s.message.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            (SkipReason::NotAFunction, format!("{file}#/tools/1: tool type \"web_search_preview\" is not a function").as_str()),
            (
                SkipReason::Malformed,
                format!("{file}#/tools/5/function/parameters: argument schema must have type \"object\", found \"string\"").as_str()
            ),
        ]
    );
}

#[test]
fn openai_tools_round_trip_through_to_openai() {
    let spec = load("openai-tools.json");
    let exported = to_openai_tools(&spec.tools);
    assert_eq!(
        exported[0],
        json!({
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the weather for a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
                    "required": ["city"],
                    "additionalProperties": false
                }
            }
        })
    );
    // The exported list is itself an OpenAI tools file that ingests to the same tools.
    let again = ingest_str(
        "exported.json",
        &exported.to_string(),
        &IngestOptions::default(),
    )
    .unwrap();
    let before: Vec<_> = spec
        .tools
        .iter()
        .map(|t| (&t.name, &t.description, &t.parameters))
        .collect();
    let after: Vec<_> = again
        .tools
        .iter()
        .map(|t| (&t.name, &t.description, &t.parameters))
        .collect();
    assert_eq!(before, after);
}

#[test]
fn mcp_tools_list_envelope_with_defs() {
    let spec = load("mcp-tools-list.json");
    let file = fixture("mcp-tools-list.json").display().to_string();
    assert_eq!(spec.report.format, Some(SpecFormat::McpTools));
    assert_eq!(names(&spec), ["read_file", "list_dir"]);
    let read = tool(&spec, "read_file");
    assert_eq!(
        read.parameters,
        json!({
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "range": {"type": "object", "properties": {"start": {"type": "integer"}, "end": {"type": "integer"}}}
            },
            "required": ["path"]
        })
    );
    assert_eq!(
        read.response_schema,
        Some(json!({"type": "object", "properties": {"content": {"type": "string"}}}))
    );
    assert_eq!(
        read.to_mcp()["outputSchema"],
        json!({"type": "object", "properties": {"content": {"type": "string"}}})
    );
    // Falls back to the title when there is no description.
    assert_eq!(tool(&spec, "list_dir").description, "List a directory");
    let messages: Vec<&str> = spec
        .report
        .skipped
        .iter()
        .map(|s| s.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            format!(
                "{file}#/result/tools/2/inputSchema/properties/x/$ref: $ref \"#/$defs/Missing\" points to nothing"
            )
            .as_str(),
            format!("{file}#/result/tools/3: function has no \"name\"").as_str(),
        ]
    );
    assert_eq!(spec.report.skipped[0].reason, SkipReason::BadRef);
}

#[test]
fn mcp_bare_result_and_list() {
    let opts = IngestOptions::default();
    let text = r#"{"tools": [{"name": "ping", "inputSchema": {"type": "object"}}]}"#;
    let spec = ingest_str("bare.json", text, &opts).unwrap();
    assert_eq!(spec.report.format, Some(SpecFormat::McpTools));
    assert_eq!(
        spec.tools[0].parameters,
        json!({"type": "object", "properties": {}, "required": []})
    );
    let list = ingest_str(
        "list.json",
        r#"[{"name": "ping", "inputSchema": {}}]"#,
        &opts,
    )
    .unwrap();
    assert_eq!(list.report.format, Some(SpecFormat::McpTools));
    assert_eq!(list.tools.len(), 1);
}

#[test]
fn bfcl_style_types_become_json_schema() {
    let spec = load("bfcl-style-functions.json");
    assert_eq!(spec.report.format, Some(SpecFormat::FunctionDocs));
    assert_eq!(
        names(&spec),
        [
            "math_toolkit_sum_of_multiples",
            "geometry_area",
            "math_toolkit_sum_of_multiples_2"
        ]
    );
    assert_eq!(
        tool(&spec, "math_toolkit_sum_of_multiples").parameters,
        json!({
            "type": "object",
            "properties": {
                "lower_limit": {"type": "integer"},
                "upper_limit": {"type": "integer"},
                "multiples": {"type": "array", "items": {"type": "integer"}}
            },
            "required": ["lower_limit", "upper_limit", "multiples"]
        })
    );
    assert_eq!(
        tool(&spec, "geometry_area").parameters,
        json!({
            "type": "object",
            "properties": {
                "size": {"type": "number", "description": "Edge length."},
                "corner": {"type": "array", "items": {"type": "number"}},
                "extra": {},
                "labels": {"type": "object"},
                "count": {"type": "integer"}
            },
            "required": ["size"]
        })
    );
    let dup = &spec.report.skipped;
    assert_eq!(dup.len(), 1);
    assert_eq!(dup[0].reason, SkipReason::Duplicate);
    assert_eq!(dup[0].pointer, "/2");
    assert_eq!(
        tool(&spec, "math_toolkit_sum_of_multiples_2")
            .provenance
            .operation,
        Operation::Function {
            name: "math_toolkit/sum of multiples".into()
        }
    );
}

#[test]
fn single_function_doc_and_forced_format() {
    let text = r#"{"name": "f", "description": "d", "parameters": {"type": "dict", "properties": {"x": {"type": "float"}}}}"#;
    let spec = ingest_str("one.json", text, &IngestOptions::default()).unwrap();
    assert_eq!(
        spec.tools[0].parameters["properties"]["x"],
        json!({"type": "number"})
    );
    // Forcing OpenAPI on it finds no paths: no tools, no error.
    let opts = IngestOptions {
        format: Some(SpecFormat::OpenApi3),
        ..IngestOptions::default()
    };
    let forced = ingest_str("one.json", text, &opts).unwrap();
    assert_eq!(forced.report.format, Some(SpecFormat::OpenApi3));
    assert!(forced.tools.is_empty());
}
