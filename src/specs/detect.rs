//! Which kind of spec a parsed document is, detected from its content.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The spec formats this module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SpecFormat {
    /// OpenAPI 3.0 or 3.1 (JSON or YAML).
    #[serde(rename = "openapi-3")]
    OpenApi3,
    /// Swagger 2.0 (JSON or YAML).
    #[serde(rename = "swagger-2")]
    Swagger2,
    /// OpenAI `tools` JSON: a list of `{"type":"function","function":{...}}` or `{"tools":[...]}`.
    #[serde(rename = "openai-tools")]
    OpenAiTools,
    /// An MCP `tools/list` result (`{"tools":[{name, description, inputSchema}]}`), bare or in a
    /// JSON-RPC envelope (`{"result":{"tools":[...]}}`).
    #[serde(rename = "mcp-tools")]
    McpTools,
    /// BFCL-style function docs (`{"name","description","parameters":{"type":"dict",...}}`),
    /// also legacy OpenAI `functions` lists; one doc, a list, or JSON Lines.
    #[serde(rename = "function-docs")]
    FunctionDocs,
}

impl SpecFormat {
    /// The format's stable kebab-case name (also accepted by [`FromStr`]).
    pub fn as_str(self) -> &'static str {
        match self {
            SpecFormat::OpenApi3 => "openapi-3",
            SpecFormat::Swagger2 => "swagger-2",
            SpecFormat::OpenAiTools => "openai-tools",
            SpecFormat::McpTools => "mcp-tools",
            SpecFormat::FunctionDocs => "function-docs",
        }
    }
}

impl fmt::Display for SpecFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SpecFormat {
    type Err = String;

    /// Parses a format name: `openapi`, `openapi-3`, `swagger`, `swagger-2`, `openai`,
    /// `openai-tools`, `mcp`, `mcp-tools`, `bfcl`, `functions`, `function-docs`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "openapi" | "openapi-3" | "openapi3" => Ok(SpecFormat::OpenApi3),
            "swagger" | "swagger-2" | "swagger2" => Ok(SpecFormat::Swagger2),
            "openai" | "openai-tools" => Ok(SpecFormat::OpenAiTools),
            "mcp" | "mcp-tools" => Ok(SpecFormat::McpTools),
            "bfcl" | "functions" | "function-docs" => Ok(SpecFormat::FunctionDocs),
            other => Err(format!(
                "unknown spec format {other:?} (expected openapi, swagger, openai, mcp or bfcl)"
            )),
        }
    }
}

/// Detects the format of a parsed document, or `None` when it matches none.
pub fn detect(doc: &Value) -> Option<SpecFormat> {
    match doc {
        Value::Object(map) => {
            if let Some(v) = map.get("openapi") {
                return version_major(v)
                    .filter(|m| *m == 3)
                    .map(|_| SpecFormat::OpenApi3);
            }
            if let Some(v) = map.get("swagger") {
                return version_major(v)
                    .filter(|m| *m == 2)
                    .map(|_| SpecFormat::Swagger2);
            }
            if let Some(Value::Object(result)) = map.get("result") {
                if result.get("tools").is_some_and(Value::is_array) {
                    return Some(SpecFormat::McpTools);
                }
            }
            if let Some(Value::Array(tools)) = map.get("tools") {
                return detect_list(tools).or(Some(SpecFormat::McpTools));
            }
            if let Some(Value::Array(functions)) = map.get("functions") {
                return detect_list(functions);
            }
            detect_item(doc)
        }
        Value::Array(items) => detect_list(items),
        _ => None,
    }
}

/// The major version of an `openapi`/`swagger` field (`"3.0.1"`, `3.1`, `"2.0"`).
fn version_major(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.trim().split('.').next()?.parse().ok(),
        Value::Number(n) => n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64),
        _ => None,
    }
}

/// The format of a list: that of its first recognizable item.
fn detect_list(items: &[Value]) -> Option<SpecFormat> {
    items.iter().find_map(detect_item)
}

/// The format of one tool-like item.
fn detect_item(item: &Value) -> Option<SpecFormat> {
    let map = item.as_object()?;
    if map.contains_key("inputSchema") {
        return Some(SpecFormat::McpTools);
    }
    if map.get("type").and_then(Value::as_str).is_some() && !map.contains_key("parameters") {
        // `{"type":"function","function":{...}}` or a built-in tool such as `{"type":"web_search"}`.
        return Some(SpecFormat::OpenAiTools);
    }
    if map.get("type").and_then(Value::as_str) == Some("function") {
        // The flat (Responses API) form: `{"type":"function","name":..,"parameters":..}`.
        return Some(SpecFormat::OpenAiTools);
    }
    if map.get("name").is_some_and(Value::is_string) && map.contains_key("parameters") {
        return Some(SpecFormat::FunctionDocs);
    }
    if map.get("function").is_some_and(Value::is_array) {
        // A BFCL question entry that carries its function docs.
        return Some(SpecFormat::FunctionDocs);
    }
    None
}
