//! The tools of a run, by name, each with its compiled argument validator (the `jsonschema`
//! crate, formats checked) and the response schema the server simulator answers with.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value as Json};

use super::error::{Error, Result};
use super::schema;
use super::words::split_ident;
use crate::specs::Tool;

/// One tool with what synthesis needs precomputed.
pub struct ToolEntry {
    /// The normalized tool.
    pub tool: Tool,
    /// Compiled validator of [`Tool::parameters`].
    validator: jsonschema::Validator,
    /// `response_schema`, or a synthesized one (see [`synthesized_response`]).
    pub response: Json,
    /// Whether [`Self::response`] came from the spec.
    pub response_from_spec: bool,
}

/// One schema violation of a call's arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// JSON pointer into the arguments.
    pub pointer: String,
    /// What the validator said.
    pub message: String,
}

impl ToolEntry {
    /// Schema violations of `arguments` (empty = valid).
    pub fn violations(&self, arguments: &Json) -> Vec<Violation> {
        self.validator
            .iter_errors(arguments)
            .map(|e| Violation {
                pointer: e.instance_path().as_str().to_string(),
                message: e.to_string(),
            })
            .collect()
    }

    /// Whether `arguments` satisfy the tool's parameter schema.
    pub fn is_valid(&self, arguments: &Json) -> bool {
        self.validator.is_valid(arguments)
    }

    /// Name and description, the context for realistic values.
    pub fn context(&self) -> String {
        format!("{} {}", self.tool.name, self.tool.description)
    }
}

/// Tools by name.
pub struct Registry {
    entries: Vec<ToolEntry>,
    by_name: BTreeMap<String, usize>,
}

/// Compiles a validator the way calls are checked everywhere: draft detected from the schema
/// (2020-12 when it says nothing), `format` asserted.
pub fn compile(schema: &Json) -> std::result::Result<jsonschema::Validator, String> {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| e.to_string())
}

impl Registry {
    /// Builds the registry; tool names must be unique.
    pub fn new(tools: Vec<Tool>) -> Result<Registry> {
        let mut entries = Vec::with_capacity(tools.len());
        let mut by_name = BTreeMap::new();
        for tool in tools {
            if let Some(&i) = by_name.get(&tool.name) {
                let first: &ToolEntry = &entries[i];
                return Err(Error::DuplicateTool {
                    name: tool.name.clone(),
                    first: first.tool.provenance.file.clone(),
                    second: tool.provenance.file.clone(),
                });
            }
            let validator = compile(&tool.parameters).map_err(|message| Error::BadSchema {
                tool: tool.name.clone(),
                file: tool.provenance.file.clone(),
                message,
            })?;
            let (response, response_from_spec) = match &tool.response_schema {
                Some(s) if schema::kind(&schema::effective(s)) != schema::Kind::Any => {
                    (s.clone(), true)
                }
                _ => (synthesized_response(&tool), false),
            };
            by_name.insert(tool.name.clone(), entries.len());
            entries.push(ToolEntry {
                tool,
                validator,
                response,
                response_from_spec,
            });
        }
        Ok(Registry { entries, by_name })
    }

    /// The entry of a tool.
    pub fn get(&self, name: &str) -> Option<&ToolEntry> {
        self.by_name.get(name).and_then(|&i| self.entries.get(i))
    }

    /// All entries, in input order.
    pub fn entries(&self) -> &[ToolEntry] {
        &self.entries
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no tools.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// OpenAI tool JSON of the named tools (unknown names are skipped).
    pub fn openai_tools(&self, names: &[String]) -> Vec<Json> {
        names
            .iter()
            .filter_map(|n| self.get(n))
            .map(|e| e.tool.to_openai())
            .collect()
    }
}

/// The response schema used when a spec gives none: `status`, an `id` for tools that create
/// something (named `<thing>_id`), the echoed scalar arguments, and a `message`.
pub fn synthesized_response(tool: &Tool) -> Json {
    let words = split_ident(&tool.name);
    let creates = words.first().is_some_and(|w| {
        matches!(
            w.as_str(),
            "create"
                | "add"
                | "book"
                | "send"
                | "schedule"
                | "register"
                | "post"
                | "place"
                | "new"
                | "upload"
                | "reserve"
                | "submit"
                | "insert"
        )
    });
    let mut props = Map::new();
    props.insert(
        "status".into(),
        json!({"type": "string", "enum": ["success"]}),
    );
    if creates {
        let thing = words.get(1).cloned().unwrap_or_else(|| "item".into());
        props.insert(format!("{thing}_id"), json!({"type": "string"}));
    }
    let params = schema::effective(&tool.parameters);
    for (name, sub) in schema::properties(&params) {
        if schema::kind(&schema::effective(sub)).is_scalar() {
            props.insert(name.to_string(), schema::effective(sub));
        }
    }
    let computes = words
        .iter()
        .chain(split_ident(&tool.description).iter())
        .any(|w| {
            matches!(
                w.as_str(),
                "calculate"
                    | "compute"
                    | "convert"
                    | "evaluate"
                    | "solve"
                    | "split"
                    | "estimate"
                    | "count"
                    | "sum"
                    | "average"
            )
        });
    if computes {
        props.insert("result".into(), json!({"type": "number"}));
    }
    props.insert("message".into(), json!({"type": "string"}));
    let required: Vec<&String> = props.keys().collect();
    json!({"type": "object", "properties": props, "required": required})
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn tool(name: &str, params: Json) -> Tool {
        Tool::function("t.json", name, "", params)
    }

    #[test]
    fn validates_with_formats_and_names_pointers() {
        let r = Registry::new(vec![tool(
            "f",
            json!({"type": "object", "properties": {"d": {"type": "string", "format": "date"}, "n": {"type": "integer", "minimum": 1}}, "required": ["d"]}),
        )])
        .unwrap();
        let e = r.get("f").unwrap();
        assert!(e.is_valid(&json!({"d": "2025-01-31"})));
        let v = e.violations(&json!({"d": "31/01/2025", "n": 0}));
        let mut ptrs: Vec<&str> = v.iter().map(|x| x.pointer.as_str()).collect();
        ptrs.sort();
        assert_eq!(ptrs, vec!["/d", "/n"]);
        assert!(!e.is_valid(&json!({})));
    }

    #[test]
    fn duplicate_names_are_rejected() {
        let t = tool("f", json!({"type": "object"}));
        let e = Registry::new(vec![t.clone(), t]).err().unwrap().to_string();
        assert!(e.contains("`f`"), "{e}");
    }

    #[test]
    fn synthesized_response_has_an_id_for_creators() {
        let t = tool(
            "create_event",
            json!({"type": "object", "properties": {"title": {"type": "string"}}}),
        );
        let s = synthesized_response(&t);
        assert!(s["properties"]["event_id"].is_object());
        assert!(s["properties"]["title"].is_object());
    }
}
