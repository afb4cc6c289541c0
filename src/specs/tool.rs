//! The normalized tool: one JSON-Schema function, whatever spec it came from.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::detect::SpecFormat;

/// A normalized tool definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Function name, matching `^[a-zA-Z0-9_-]{1,64}$`, unique within its file.
    pub name: String,
    /// What the tool does (may be empty when the spec says nothing).
    pub description: String,
    /// JSON Schema of the arguments: `{"type":"object","properties":{..},"required":[..]}`,
    /// with every `$ref` inlined.
    pub parameters: Value,
    /// JSON Schema of a successful result, when the spec gives one (for the server simulator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_schema: Option<Value>,
    /// Where the tool came from.
    pub provenance: Provenance,
}

impl Tool {
    /// A tool written directly as one function of an OpenAI `tools` file (at pointer `/0`,
    /// no response schema): for tools built in code, such as tests' fixtures.
    pub fn function(file: &str, name: &str, description: &str, parameters: Value) -> Tool {
        Tool {
            name: name.into(),
            description: description.into(),
            parameters,
            response_schema: None,
            provenance: Provenance {
                file: file.into(),
                format: SpecFormat::OpenAiTools,
                api_title: None,
                api_version: None,
                operation: Operation::Function { name: name.into() },
                pointer: "/0".into(),
                arguments: Vec::new(),
                notes: Vec::new(),
            },
        }
    }
}

/// Where a tool came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The spec file (as given).
    pub file: String,
    /// The spec's format.
    pub format: SpecFormat,
    /// `info.title` of an OpenAPI/Swagger document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_title: Option<String>,
    /// `info.version` of an OpenAPI/Swagger document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The original operation or function.
    pub operation: Operation,
    /// JSON pointer of the operation or function inside the file.
    pub pointer: String,
    /// How each argument maps back to the original request (OpenAPI/Swagger only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<ArgumentOrigin>,
    /// Simplifications made while normalizing (cut recursive refs, oversized schemas, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The original operation behind a tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Operation {
    /// An HTTP operation of an OpenAPI/Swagger document.
    Http {
        /// Upper-case HTTP method.
        method: String,
        /// Path template, as in the spec.
        path: String,
        /// The `operationId`, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operation_id: Option<String>,
    },
    /// A named function (OpenAI, MCP, BFCL-style docs).
    Function {
        /// The original, unsanitized name.
        name: String,
    },
}

/// Where one argument of an HTTP tool goes in the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArgLocation {
    /// A path template variable.
    Path,
    /// A query parameter.
    Query,
    /// A request header.
    Header,
    /// A cookie.
    Cookie,
    /// The whole request body.
    Body,
    /// One top-level property of a JSON (or form) request body.
    BodyProperty,
    /// A Swagger 2 `formData` parameter.
    FormData,
}

/// The origin of one argument of an HTTP tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgumentOrigin {
    /// The argument's name in [`Tool::parameters`].
    pub name: String,
    /// Where it goes.
    pub location: ArgLocation,
    /// Its original name in the spec (parameter name or body property).
    pub original: String,
}

impl Tool {
    /// The OpenAI tool JSON: `{"type":"function","function":{name,description,parameters}}`.
    pub fn to_openai(&self) -> Value {
        json!({
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            }
        })
    }

    /// The MCP `tools/list` entry: `{name, description, inputSchema}` (plus `outputSchema`
    /// when the result schema is an object schema, as MCP requires).
    pub fn to_mcp(&self) -> Value {
        let mut entry = json!({
            "name": self.name,
            "description": self.description,
            "inputSchema": self.parameters,
        });
        if let (Some(schema), Value::Object(map)) = (&self.response_schema, &mut entry) {
            if schema.get("type").and_then(Value::as_str) == Some("object") {
                map.insert("outputSchema".to_string(), schema.clone());
            }
        }
        entry
    }
}

/// A list of tools as an OpenAI `tools` array.
pub fn to_openai_tools(tools: &[Tool]) -> Value {
    Value::Array(tools.iter().map(Tool::to_openai).collect())
}
