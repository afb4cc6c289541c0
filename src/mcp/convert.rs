//! Conversions between MCP (`rmcp` types) and this crate: tools both ways, tool results both
//! ways.

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{json, Value as Json};

use super::error::{Error, Result};
use crate::specs::{ingest_value, IngestOptions, Operation, SpecFormat, Tool};
use crate::synth::server::{CallStatus, ToolResult};

/// Provenance `file` of the tools of the external server `server`: `mcp://<server>`.
pub fn provenance_file(server: &str) -> String {
    format!("mcp://{server}")
}

/// The configured server name of a tool listed by an external MCP server, and the tool's
/// original (unsanitized) name there.
pub fn mcp_origin(tool: &Tool) -> Option<(&str, &str)> {
    let server = tool.provenance.file.strip_prefix("mcp://")?;
    if tool.provenance.format != SpecFormat::McpTools {
        return None;
    }
    match &tool.provenance.operation {
        Operation::Function { name } => Some((server, name.as_str())),
        Operation::Http { .. } => None,
    }
}

/// Our tools from an external server's `tools/list` entries, normalized exactly as an MCP
/// `tools/list` spec file is (names sanitized, `$ref`s inlined, `outputSchema` kept as the
/// response schema); provenance says `mcp://<server>` in format `mcp-tools`, with `note` added.
pub fn tools_from_list(
    server: &str,
    listed: &[rmcp::model::Tool],
    note: &str,
) -> Result<Vec<Tool>> {
    let doc = json!({ "tools": listed });
    let opts = IngestOptions {
        format: Some(SpecFormat::McpTools),
        ..IngestOptions::default()
    };
    let spec = ingest_value(&provenance_file(server), &doc, &opts).map_err(|e| Error::Tools {
        server: server.to_string(),
        message: e.to_string(),
    })?;
    for s in &spec.report.skipped {
        tracing::warn!(server, "MCP tool skipped: {s:?}");
    }
    Ok(spec
        .tools
        .into_iter()
        .map(|mut t| {
            t.provenance.notes.push(note.to_string());
            t
        })
        .collect())
}

/// The MCP `tools/list` entry of one of our tools (`None`, with a warning, if MCP cannot carry
/// it: the input schema must be a JSON object).
pub fn to_rmcp_tool(tool: &Tool) -> Option<rmcp::model::Tool> {
    match serde_json::from_value(tool.to_mcp()) {
        Ok(t) => Some(t),
        Err(e) => {
            tracing::warn!("tool `{}` not served: {e}", tool.name);
            None
        }
    }
}

/// The JSON recorded for a real server's answer, and its status: `structuredContent` when
/// present, else a single text block parsed as JSON, else `{"text": ...}` (all text blocks) or
/// `{"content": [...]}`; `isError` becomes `{"error": {"code": "TOOL_ERROR", "message", ...}}`
/// with [`CallStatus::ToolError`].
pub fn result_json(r: &CallToolResult) -> (Json, CallStatus) {
    let texts: Vec<&str> = r
        .content
        .iter()
        .filter_map(|b| b.as_text().map(|t| t.text.as_str()))
        .collect();
    let all_text = texts.len() == r.content.len();
    if r.is_error == Some(true) {
        let mut error = json!({
            "code": "TOOL_ERROR",
            "message": texts.join("\n"),
            "retryable": false,
        });
        if let (Some(s), Some(map)) = (&r.structured_content, error.as_object_mut()) {
            map.insert("details".into(), s.clone());
        }
        return (json!({ "error": error }), CallStatus::ToolError);
    }
    let value = match (&r.structured_content, texts.as_slice()) {
        (Some(s), _) => s.clone(),
        (None, [one]) if all_text => {
            serde_json::from_str(one).unwrap_or_else(|_| json!({ "text": one }))
        }
        (None, _) if all_text => json!({ "text": texts.join("\n") }),
        (None, _) => json!({ "content": r.content }),
    };
    (value, CallStatus::Ok)
}

/// The MCP answer of a simulated call: results as `structuredContent` (objects, plus the same
/// JSON as text) or text; every failure (unknown tool, invalid arguments) as `isError: true`
/// with the structured error as JSON text only (clients such as the TypeScript SDK check any
/// `structuredContent` against the tool's `outputSchema`, errors included).
pub fn to_call_result(r: &ToolResult) -> CallToolResult {
    match (r.status, &r.content) {
        (CallStatus::Ok, Json::Object(_)) => CallToolResult::structured(r.content.clone()),
        (CallStatus::Ok, other) => {
            CallToolResult::success(vec![ContentBlock::text(other.to_string())])
        }
        _ => CallToolResult::error(vec![ContentBlock::text(r.content.to_string())]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(v: Json) -> CallToolResult {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn results_prefer_structured_content_then_json_text() {
        let r = result(
            json!({"content": [{"type": "text", "text": "{\"a\":1}"}], "structuredContent": {"b": 2}}),
        );
        assert_eq!(result_json(&r), (json!({"b": 2}), CallStatus::Ok));
        let r = result(json!({"content": [{"type": "text", "text": "{\"a\":1}"}]}));
        assert_eq!(result_json(&r), (json!({"a": 1}), CallStatus::Ok));
        let r = result(json!({"content": [{"type": "text", "text": "done"}]}));
        assert_eq!(result_json(&r), (json!({"text": "done"}), CallStatus::Ok));
        let r = result(
            json!({"content": [{"type": "text", "text": "no such entity"}], "isError": true}),
        );
        let (v, s) = result_json(&r);
        assert_eq!(s, CallStatus::ToolError);
        assert_eq!(v["error"]["message"], "no such entity");
    }

    #[test]
    fn simulated_errors_are_tool_errors() {
        let r = to_call_result(&ToolResult {
            content: json!({"error": {"code": "INVALID_ARGUMENTS"}}),
            status: CallStatus::InvalidArguments,
        });
        assert_eq!(r.is_error, Some(true));
        assert_eq!(r.structured_content, None);
        let text = &r.content[0].as_text().unwrap().text;
        assert_eq!(
            serde_json::from_str::<Json>(text).unwrap()["error"]["code"],
            "INVALID_ARGUMENTS"
        );
        let r = to_call_result(&ToolResult {
            content: json!({"x": 1}),
            status: CallStatus::Ok,
        });
        assert_eq!(r.is_error, Some(false));
        assert_eq!(r.structured_content, Some(json!({"x": 1})));
    }
}
