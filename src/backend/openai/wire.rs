//! The chat completions wire format: our [`ChatRequest`] as an OpenAI request body, and a
//! response as a [`ChatCompletion`] whose text is written in our `<tool_call>` form.

use serde_json::{json, Map, Value as Json};

use crate::backend::{ChatCompletion, ChatRequest, GenParams};
use crate::chat::pyjson::write_string;
use crate::chat::{parse_lenient, render_tool_calls, ToolCall};
use crate::engine::FinishReason;

/// What a request asks for besides the conversation and sampling.
#[derive(Debug, Clone, Copy, Default)]
pub struct WireOptions {
    /// `logprobs: true`.
    pub logprobs: bool,
    /// `return_tokens_as_token_ids: true` (vLLM; `trainer serve`).
    pub token_ids: bool,
}

/// The body of `POST /chat/completions` for one request.
pub fn request_body(model: &str, req: &ChatRequest, params: &GenParams, opts: WireOptions) -> Json {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert(
        "messages".into(),
        Json::Array(req.messages.iter().map(wire_message).collect()),
    );
    if !req.tools.is_empty() {
        body.insert("tools".into(), Json::Array(req.tools.clone()));
    }
    let s = &params.sampling;
    body.insert("temperature".into(), json!(s.temperature));
    body.insert("top_p".into(), json!(s.top_p));
    if s.top_k > 0 {
        // Not in OpenAI's API; vLLM, SGLang and llama.cpp accept it.
        body.insert("top_k".into(), json!(s.top_k));
    }
    body.insert("max_tokens".into(), json!(params.max_new_tokens));
    body.insert("seed".into(), json!(req.seed));
    if opts.logprobs {
        body.insert("logprobs".into(), json!(true));
        if opts.token_ids {
            body.insert("return_tokens_as_token_ids".into(), json!(true));
        }
    }
    Json::Object(body)
}

/// One message as the API wants it: `tool_calls[].function.arguments` as a JSON *string*
/// (ours are objects) and every call with an `id` and a `type`.
fn wire_message(m: &Json) -> Json {
    let mut m = m.clone();
    if let Some(Json::Array(calls)) = m.get_mut("tool_calls") {
        for (i, call) in calls.iter_mut().enumerate() {
            let Some(obj) = call.as_object_mut() else {
                continue;
            };
            obj.entry("id")
                .or_insert_with(|| json!(format!("call_{i}")));
            obj.entry("type").or_insert_with(|| json!("function"));
            if let Some(args) = obj
                .get_mut("function")
                .and_then(|f| f.as_object_mut())
                .and_then(|f| f.get_mut("arguments"))
            {
                if !args.is_string() {
                    *args = Json::String(args.to_string());
                }
            }
        }
    }
    m
}

/// A response that does not have the expected shape: the JSON pointer and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeError {
    pub pointer: String,
    pub message: String,
}

fn shape(pointer: &str, message: impl Into<String>) -> ShapeError {
    ShapeError {
        pointer: pointer.to_string(),
        message: message.into(),
    }
}

/// A call as the server sent it: arguments decoded to an object, or the raw text when they
/// are not a JSON object.
enum WireCall {
    Ok(ToolCall),
    Raw { name: String, arguments: String },
}

/// Parses `choices[0]` of a response. Token ids come only from `token_ids` log-probs; the
/// prompt's ids are never known.
pub fn parse_response(v: &Json, opts: WireOptions) -> Result<ChatCompletion, ShapeError> {
    let choice = v
        .pointer("/choices/0")
        .ok_or_else(|| shape("/choices/0", "missing (no choices in the response)"))?;
    let msg = choice
        .get("message")
        .and_then(Json::as_object)
        .ok_or_else(|| shape("/choices/0/message", "missing or not an object"))?;
    let content = match msg.get("content") {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(s)) => s.clone(),
        Some(other) => {
            return Err(shape(
                "/choices/0/message/content",
                format!("expected a string or null, got {}", kind(other)),
            ))
        }
    };
    let reasoning = ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|k| msg.get(*k).and_then(Json::as_str))
        .filter(|r| !r.is_empty());
    let mut calls = Vec::new();
    if let Some(list) = msg.get("tool_calls").filter(|t| !t.is_null()) {
        let list = list
            .as_array()
            .ok_or_else(|| shape("/choices/0/message/tool_calls", "not an array"))?;
        for (i, c) in list.iter().enumerate() {
            calls.push(wire_call(c, i)?);
        }
    }
    let mut text = String::new();
    if let Some(r) = reasoning {
        text.push_str("<think>\n");
        text.push_str(r);
        text.push_str("\n</think>\n\n");
    }
    text.push_str(&calls_text(&content, &calls));
    let finish = match choice.get("finish_reason").and_then(Json::as_str) {
        Some("length") => FinishReason::Length,
        _ => FinishReason::Stop,
    };
    let (completion_ids, logprobs) = if opts.logprobs {
        token_logprobs(choice, opts.token_ids)?
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(ChatCompletion {
        parsed: parse_lenient(&text),
        text,
        prompt_ids: Vec::new(),
        completion_ids,
        logprobs,
        finish,
    })
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

fn wire_call(c: &Json, i: usize) -> Result<WireCall, ShapeError> {
    let at = format!("/choices/0/message/tool_calls/{i}/function");
    let f = c
        .get("function")
        .and_then(Json::as_object)
        .ok_or_else(|| shape(&at, "missing or not an object"))?;
    let name = f
        .get("name")
        .and_then(Json::as_str)
        .ok_or_else(|| shape(&format!("{at}/name"), "missing or not a string"))?
        .to_string();
    let raw = match f.get("arguments") {
        None | Some(Json::Null) => return Ok(WireCall::Ok(ToolCall::new(name, Map::new()))),
        Some(Json::Object(o)) => return Ok(WireCall::Ok(ToolCall::new(name, o.clone()))),
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    if raw.trim().is_empty() {
        return Ok(WireCall::Ok(ToolCall::new(name, Map::new())));
    }
    Ok(match serde_json::from_str::<Json>(&raw) {
        Ok(Json::Object(o)) => WireCall::Ok(ToolCall::new(name, o)),
        _ => WireCall::Raw {
            name,
            arguments: raw,
        },
    })
}

/// `content` then one `<tool_call>` block per call, as [`render_tool_calls`] writes them; a
/// call whose arguments are not a JSON object keeps its raw text, so that the parser reports
/// it as the format problem it is (exactly as for local output).
fn calls_text(content: &str, calls: &[WireCall]) -> String {
    let mut out = content.to_string();
    for (i, call) in calls.iter().enumerate() {
        if i > 0 || !content.is_empty() {
            out.push('\n');
        }
        match call {
            WireCall::Ok(c) => out.push_str(&render_tool_calls("", std::slice::from_ref(c))),
            WireCall::Raw { name, arguments } => {
                out.push_str("<tool_call>\n{\"name\": ");
                write_string(&mut out, name, false);
                out.push_str(", \"arguments\": ");
                out.push_str(arguments);
                out.push_str("}\n</tool_call>");
            }
        }
    }
    out
}

/// `choices[0].logprobs.content[]`: the log-probs, and the ids when tokens are `token_id:N`.
fn token_logprobs(choice: &Json, with_ids: bool) -> Result<(Vec<u32>, Vec<f32>), ShapeError> {
    let at = "/choices/0/logprobs/content";
    let items = choice
        .pointer("/logprobs/content")
        .and_then(Json::as_array)
        .ok_or_else(|| {
            shape(
                at,
                "missing: logprobs = true was asked, but the server sent none",
            )
        })?;
    let mut ids = Vec::with_capacity(items.len());
    let mut lps = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let lp = item
            .get("logprob")
            .and_then(Json::as_f64)
            .ok_or_else(|| shape(&format!("{at}/{i}/logprob"), "missing or not a number"))?;
        lps.push(lp as f32);
        if with_ids {
            let token = item.get("token").and_then(Json::as_str).unwrap_or("");
            let id = token
                .strip_prefix("token_id:")
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| {
                    shape(
                        &format!("{at}/{i}/token"),
                        format!("{token:?} is not `token_id:N`; does the server support return_tokens_as_token_ids (vLLM)? Set token_ids = false otherwise"),
                    )
                })?;
            ids.push(id);
        }
    }
    Ok((ids, lps))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SamplingParams;

    fn params() -> GenParams {
        GenParams {
            sampling: SamplingParams {
                temperature: 0.0,
                top_k: 0,
                top_p: 1.0,
            },
            max_new_tokens: 16,
        }
    }

    #[test]
    fn request_body_sends_arguments_as_strings() {
        let req = ChatRequest {
            task_id: None,
            messages: vec![
                json!({"role": "user", "content": "hi"}),
                json!({"role": "assistant", "content": "", "tool_calls": [
                    {"type": "function", "function": {"name": "f", "arguments": {"a": 1}}}
                ]}),
                json!({"role": "tool", "tool_call_id": "call_0", "content": "{\"ok\": true}"}),
            ],
            tools: vec![json!({"type": "function", "function": {"name": "f"}})],
            seed: 7,
            adapter: true,
            history_ids: Vec::new(),
        };
        let b = request_body("m", &req, &params(), WireOptions::default());
        assert_eq!(b["model"], "m");
        assert_eq!(b["seed"], 7);
        assert_eq!(b["max_tokens"], 16);
        assert_eq!(b["temperature"], 0.0);
        assert!(b.get("logprobs").is_none() && b.get("top_k").is_none());
        let call = &b["messages"][1]["tool_calls"][0];
        assert_eq!(call["function"]["arguments"], "{\"a\":1}");
        assert_eq!(call["id"], "call_0");
        assert_eq!(b["messages"][2], req.messages[2]);
        assert_eq!(b["tools"][0]["function"]["name"], "f");
        // The caller's messages are untouched.
        assert!(req.messages[1]["tool_calls"][0]["function"]["arguments"].is_object());
    }

    #[test]
    fn tool_calls_become_our_text_form() {
        let v = json!({"choices": [{"finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": null,
        "tool_calls": [
            {"id": "x", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
            {"id": "y", "type": "function", "function": {"name": "noop", "arguments": ""}}
        ]}}]});
        let c = parse_response(&v, WireOptions::default()).unwrap();
        let want = vec![
            ToolCall::new(
                "get_weather",
                json!({"city": "Paris"}).as_object().unwrap().clone(),
            ),
            ToolCall::new("noop", Map::new()),
        ];
        assert_eq!(c.text, render_tool_calls("", &want));
        assert_eq!(c.parsed.calls, want);
        assert!(c.parsed.problems.is_empty());
        assert_eq!(c.finish, FinishReason::Stop);
        assert!(c.prompt_ids.is_empty() && c.completion_ids.is_empty() && c.logprobs.is_empty());
    }

    #[test]
    fn malformed_arguments_are_a_format_problem_not_an_error() {
        let v = json!({"choices": [{"finish_reason": "length", "message": {
        "content": "Sure.", "tool_calls": [
            {"function": {"name": "f", "arguments": "{\"a\": 1"}}
        ]}}]});
        let c = parse_response(&v, WireOptions::default()).unwrap();
        assert!(c.text.starts_with("Sure.\n<tool_call>"));
        assert!(c.parsed.calls.is_empty());
        assert!(!c.parsed.problems.is_empty());
        assert_eq!(c.finish, FinishReason::Length);
    }

    #[test]
    fn reasoning_and_logprobs_with_ids() {
        let v = json!({"choices": [{"finish_reason": "stop",
        "message": {"content": "Hello", "reasoning_content": "think"},
        "logprobs": {"content": [
            {"token": "token_id:12", "logprob": -0.5},
            {"token": "token_id:7", "logprob": -1.25}
        ]}}]});
        let opts = WireOptions {
            logprobs: true,
            token_ids: true,
        };
        let c = parse_response(&v, opts).unwrap();
        assert_eq!(c.parsed.reasoning.as_deref(), Some("think"));
        assert_eq!(c.parsed.content, "Hello");
        assert_eq!(c.completion_ids, vec![12, 7]);
        assert_eq!(c.logprobs, vec![-0.5, -1.25]);
        let no_ids = json!({"choices": [{"message": {"content": "a"},
            "logprobs": {"content": [{"token": "a", "logprob": -0.1}]}}]});
        let e = parse_response(&no_ids, opts).unwrap_err();
        assert_eq!(e.pointer, "/choices/0/logprobs/content/0/token");
        let missing = json!({"choices": [{"message": {"content": "a"}}]});
        assert_eq!(
            parse_response(&missing, opts).unwrap_err().pointer,
            "/choices/0/logprobs/content"
        );
    }

    #[test]
    fn shape_errors_name_the_pointer() {
        let e = parse_response(&json!({"error": "x"}), WireOptions::default()).unwrap_err();
        assert_eq!(e.pointer, "/choices/0");
        let e = parse_response(
            &json!({"choices": [{"message": {"content": 3}}]}),
            WireOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/choices/0/message/content");
        let e = parse_response(
            &json!({"choices": [{"message": {"tool_calls": [{"function": {"arguments": "{}"}}]}}]}),
            WireOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/choices/0/message/tool_calls/0/function/name");
    }
}
