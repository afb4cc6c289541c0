//! Tool calling for chat templates that know nothing about tools (SmolLM2's template renders only
//! `role` and `content`). Without this, `tools` and `tool_calls` would be dropped silently.
//!
//! The conversation is rewritten into plain messages in the Hermes/Qwen2.5 format the rest of the
//! project parses: the tools block goes into the system message with the same wording as Qwen2.5's
//! template, assistant tool calls become `<tool_call>` text, tool results are wrapped in
//! `<tool_response>` tags.

use serde_json::{Map, Value as Json};

use super::pyjson::dumps;
use super::toolcall::{render_tool_calls, ToolCall};

/// Whether a template renders `tools` and assistant `tool_calls` itself.
pub fn template_supports_tools(source: &str) -> bool {
    source.contains("tools") && source.contains("tool_calls")
}

/// The system-prompt block that lists the tools (Qwen2.5 wording).
pub fn tools_block(tools: &[Json]) -> String {
    let mut s = String::from(
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n\
         You are provided with function signatures within <tools></tools> XML tags:\n<tools>",
    );
    for t in tools {
        s.push('\n');
        s.push_str(&dumps(t));
    }
    s.push_str(
        "\n</tools>\n\nFor each function call, return a json object with function name and arguments \
         within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \
         \"arguments\": <args-json-object>}\n</tool_call>",
    );
    s
}

/// Calls of an OpenAI assistant message (`tool_calls[].function.{name, arguments}`; arguments as
/// an object or a JSON string). Malformed entries are kept as best they can be: a name is needed.
pub(crate) fn message_calls(msg: &Json) -> Vec<ToolCall> {
    let Some(list) = msg.get("tool_calls").and_then(Json::as_array) else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|c| {
            let f = c.get("function").unwrap_or(c);
            let name = f.get("name")?.as_str()?;
            let args = match f.get("arguments") {
                Some(Json::Object(m)) => m.clone(),
                Some(Json::String(s)) => match serde_json::from_str::<Json>(s) {
                    Ok(Json::Object(m)) => m,
                    _ => Map::new(),
                },
                _ => Map::new(),
            };
            Some(ToolCall::new(name, args))
        })
        .collect()
}

pub(crate) fn text_of(msg: &Json) -> String {
    match msg.get("content") {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Null) | None => String::new(),
        Some(other) => dumps(other),
    }
}

/// Rewrites `messages` (+ `tools`) into plain role/content messages for a tool-unaware template.
pub fn flatten_tool_messages(messages: &[Json], tools: &[Json]) -> Vec<Json> {
    let mut out = Vec::with_capacity(messages.len() + 1);
    let mut rest = messages;
    if !tools.is_empty() {
        let (system, tail) = match messages.first() {
            Some(m) if m.get("role").and_then(Json::as_str) == Some("system") => {
                (text_of(m), &messages[1..])
            }
            _ => (String::new(), messages),
        };
        let content = if system.is_empty() {
            tools_block(tools)
        } else {
            format!("{system}\n\n{}", tools_block(tools))
        };
        out.push(serde_json::json!({"role": "system", "content": content}));
        rest = tail;
    }
    for m in rest {
        let role = m.get("role").and_then(Json::as_str).unwrap_or("user");
        let msg = match role {
            "assistant" => {
                let calls = message_calls(m);
                serde_json::json!({"role": "assistant", "content": render_tool_calls(&text_of(m), &calls)})
            }
            "tool" => serde_json::json!({
                "role": "tool",
                "content": format!("<tool_response>\n{}\n</tool_response>", text_of(m)),
            }),
            _ => serde_json::json!({"role": role, "content": text_of(m)}),
        };
        out.push(msg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::parse_strict;

    #[test]
    fn tools_go_into_the_system_message_and_calls_become_text() {
        let tools = vec![
            serde_json::json!({"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}),
        ];
        let msgs = vec![
            serde_json::json!({"role": "system", "content": "Be brief."}),
            serde_json::json!({"role": "user", "content": "hi"}),
            serde_json::json!({"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]}),
            serde_json::json!({"role": "tool", "content": "{\"ok\": true}"}),
        ];
        let flat = flatten_tool_messages(&msgs, &tools);
        assert_eq!(flat.len(), 4);
        let sys = flat[0]["content"].as_str().unwrap();
        assert!(
            sys.starts_with("Be brief.\n\n# Tools") && sys.contains("{\"type\": \"function\""),
            "{sys}"
        );
        let parsed = parse_strict(flat[2]["content"].as_str().unwrap()).unwrap();
        assert_eq!(parsed.calls[0].name, "f");
        assert_eq!(parsed.calls[0].arguments["x"], 1);
        assert_eq!(
            flat[3]["content"],
            "<tool_response>\n{\"ok\": true}\n</tool_response>"
        );
    }

    #[test]
    fn detects_tool_aware_templates() {
        assert!(template_supports_tools(
            "{% if tools %}{{ m.tool_calls }}{% endif %}"
        ));
        assert!(!template_supports_tools(
            "{% for m in messages %}{{ m.content }}{% endfor %}"
        ));
    }
}
