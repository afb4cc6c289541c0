//! The OpenAI API surface of `trainer serve`: request bodies to our types (with 4xx errors that
//! name the offending field) and our completions to response bodies.

use serde_json::{json, Map, Value as Json};

use crate::backend::{ChatCompletion, ChatRequest, GenParams};

/// An error answered to the client: status, message and the request field concerned.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// Human-readable message.
    pub message: String,
    /// The request field (`messages[2].content`), when one is to blame.
    pub param: Option<String>,
}

impl ApiError {
    /// A 400 about `param`.
    pub fn bad(param: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            message: message.into(),
            param: Some(param.into()),
        }
    }

    /// Any status, no field.
    pub fn status(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            param: None,
        }
    }

    /// The OpenAI error body.
    pub fn body(&self) -> Json {
        let kind = match self.status {
            400 | 413 | 422 => "invalid_request_error",
            404 => "not_found_error",
            405 => "method_not_allowed",
            _ => "server_error",
        };
        json!({"error": {"message": self.message, "type": kind, "param": self.param, "code": null}})
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// One parsed chat completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatCall {
    /// The conversation (tool-call arguments decoded to objects, content parts joined).
    pub request: ChatRequest,
    /// Sampling.
    pub params: GenParams,
    /// `logprobs: true`.
    pub logprobs: bool,
    /// `return_tokens_as_token_ids: true` (vLLM's extension).
    pub token_ids: bool,
}

/// Server-side defaults for what a request leaves out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Defaults {
    /// Sampling and token budget.
    pub params: GenParams,
    /// Largest `max_tokens` accepted.
    pub max_tokens_limit: usize,
}

/// Checks `model` against the served name (absent = fine).
pub fn check_model(body: &Map<String, Json>, served: &str) -> ApiResult<()> {
    match body.get("model") {
        None | Some(Json::Null) => Ok(()),
        Some(Json::String(m)) if m == served => Ok(()),
        Some(Json::String(m)) => Err(ApiError {
            status: 404,
            message: format!("the model `{m}` does not exist; this server serves `{served}`"),
            param: Some("model".into()),
        }),
        Some(_) => Err(ApiError::bad("model", "must be a string")),
    }
}

/// Parses a `POST /v1/chat/completions` body. `seed` is used when the request has none.
pub fn parse_chat(body: &Json, served: &str, d: &Defaults, seed: u64) -> ApiResult<ChatCall> {
    let body = body
        .as_object()
        .ok_or_else(|| ApiError::status(400, "the body must be a JSON object"))?;
    check_model(body, served)?;
    if body.get("stream").and_then(Json::as_bool) == Some(true) {
        return Err(ApiError::bad("stream", "streaming is not supported"));
    }
    if let Some(n) = body.get("n").filter(|n| !n.is_null()) {
        if n.as_u64() != Some(1) {
            return Err(ApiError::bad("n", "only n = 1 is supported"));
        }
    }
    if let Some(t) = body.get("top_logprobs").filter(|t| !t.is_null()) {
        if t.as_u64() != Some(0) {
            return Err(ApiError::bad(
                "top_logprobs",
                "alternatives are not reported; only the sampled token's logprob",
            ));
        }
    }
    match body.get("stop") {
        None | Some(Json::Null) => {}
        Some(Json::Array(a)) if a.is_empty() => {}
        Some(_) => {
            return Err(ApiError::bad(
                "stop",
                "stop strings are not supported (the model's end-of-turn tokens stop generation)",
            ))
        }
    }
    let messages = body
        .get("messages")
        .and_then(Json::as_array)
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::bad("messages", "must be a non-empty array"))?
        .iter()
        .enumerate()
        .map(|(i, m)| message(m, i))
        .collect::<ApiResult<Vec<_>>>()?;
    let mut tools = match body.get("tools") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(t)) => t
            .iter()
            .enumerate()
            .map(|(i, t)| tool(t, i))
            .collect::<ApiResult<Vec<_>>>()?,
        Some(_) => return Err(ApiError::bad("tools", "must be an array")),
    };
    match body.get("tool_choice") {
        None | Some(Json::Null) => {}
        Some(Json::String(s)) if s == "auto" => {}
        Some(Json::String(s)) if s == "none" => tools.clear(),
        Some(_) => {
            return Err(ApiError::bad(
                "tool_choice",
                "only \"auto\" and \"none\" are supported (no constrained decoding)",
            ))
        }
    }
    let mut params = d.params;
    if let Some(t) = number(body, "temperature")? {
        if !(t >= 0.0 && t.is_finite()) {
            return Err(ApiError::bad("temperature", "must be >= 0 (0 = greedy)"));
        }
        params.sampling.temperature = t;
    }
    if let Some(p) = number(body, "top_p")? {
        if !(p > 0.0 && p <= 1.0) {
            return Err(ApiError::bad("top_p", "must be in (0, 1]"));
        }
        params.sampling.top_p = p;
    }
    if let Some(k) = body.get("top_k").filter(|k| !k.is_null()) {
        params.sampling.top_k = match k.as_i64() {
            Some(-1) | Some(0) => 0,
            Some(k) if k > 0 => k as usize,
            _ => {
                return Err(ApiError::bad(
                    "top_k",
                    "must be an integer >= 0 (-1 or 0 = off)",
                ))
            }
        };
    }
    for key in ["max_tokens", "max_completion_tokens"] {
        if let Some(m) = body.get(key).filter(|m| !m.is_null()) {
            let m = m
                .as_u64()
                .filter(|m| *m >= 1)
                .ok_or_else(|| ApiError::bad(key, "must be an integer >= 1"))?;
            if m as usize > d.max_tokens_limit {
                return Err(ApiError::bad(
                    key,
                    format!("at most {} on this server", d.max_tokens_limit),
                ));
            }
            params.max_new_tokens = m as usize;
        }
    }
    let seed = match body.get("seed") {
        None | Some(Json::Null) => seed,
        Some(s) => s
            .as_u64()
            .or_else(|| s.as_i64().map(|i| i as u64))
            .ok_or_else(|| ApiError::bad("seed", "must be an integer"))?,
    };
    let logprobs = flag(body, "logprobs")?;
    let token_ids = flag(body, "return_tokens_as_token_ids")?;
    Ok(ChatCall {
        request: ChatRequest {
            task_id: None,
            messages,
            tools,
            seed,
            adapter: true,
            history_ids: Vec::new(),
        },
        params,
        logprobs,
        token_ids,
    })
}

fn number(body: &Map<String, Json>, key: &str) -> ApiResult<Option<f64>> {
    match body.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| ApiError::bad(key, "must be a number")),
    }
}

fn flag(body: &Map<String, Json>, key: &str) -> ApiResult<bool> {
    match body.get(key) {
        None | Some(Json::Null) => Ok(false),
        Some(Json::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::bad(key, "must be a boolean")),
    }
}

/// One message: `role` checked, content parts joined, tool-call arguments as objects.
fn message(m: &Json, i: usize) -> ApiResult<Json> {
    let at = format!("messages[{i}]");
    let obj = m
        .as_object()
        .ok_or_else(|| ApiError::bad(&at, "must be an object"))?;
    let role = obj
        .get("role")
        .and_then(Json::as_str)
        .ok_or_else(|| ApiError::bad(format!("{at}.role"), "missing or not a string"))?;
    if !matches!(role, "system" | "developer" | "user" | "assistant" | "tool") {
        return Err(ApiError::bad(
            format!("{at}.role"),
            format!("{role:?}: allowed system, developer, user, assistant, tool"),
        ));
    }
    let mut out = obj.clone();
    if role == "developer" {
        out.insert("role".into(), json!("system"));
    }
    let content = match obj.get("content") {
        None | Some(Json::Null) if role == "assistant" => Json::from(""),
        Some(Json::String(s)) => Json::from(s.clone()),
        Some(Json::Array(parts)) => Json::from(text_parts(parts, &at)?),
        _ => {
            return Err(ApiError::bad(
                format!("{at}.content"),
                "must be a string or an array of text parts",
            ))
        }
    };
    out.insert("content".into(), content);
    if let Some(calls) = obj.get("tool_calls").filter(|c| !c.is_null()) {
        if role != "assistant" {
            return Err(ApiError::bad(
                format!("{at}.tool_calls"),
                "only assistant messages have tool_calls",
            ));
        }
        let calls = calls
            .as_array()
            .ok_or_else(|| ApiError::bad(format!("{at}.tool_calls"), "must be an array"))?
            .iter()
            .enumerate()
            .map(|(j, c)| history_call(c, &format!("{at}.tool_calls[{j}]")))
            .collect::<ApiResult<Vec<_>>>()?;
        out.insert("tool_calls".into(), Json::Array(calls));
    }
    Ok(Json::Object(out))
}

fn text_parts(parts: &[Json], at: &str) -> ApiResult<String> {
    let mut text = String::new();
    for (k, p) in parts.iter().enumerate() {
        match (
            p.get("type").and_then(Json::as_str),
            p.get("text").and_then(Json::as_str),
        ) {
            (Some("text"), Some(t)) => text.push_str(t),
            _ => {
                return Err(ApiError::bad(
                    format!("{at}.content[{k}]"),
                    "only {\"type\": \"text\", \"text\": ...} parts are supported",
                ))
            }
        }
    }
    Ok(text)
}

/// A call of the history: `function.arguments` decoded from its JSON string to an object
/// (the form the chat templates and our local backend use).
fn history_call(c: &Json, at: &str) -> ApiResult<Json> {
    let mut call = c
        .as_object()
        .cloned()
        .ok_or_else(|| ApiError::bad(at, "must be an object"))?;
    let f = call
        .get_mut("function")
        .and_then(Json::as_object_mut)
        .ok_or_else(|| ApiError::bad(format!("{at}.function"), "missing or not an object"))?;
    if f.get("name").and_then(Json::as_str).is_none() {
        return Err(ApiError::bad(
            format!("{at}.function.name"),
            "missing or not a string",
        ));
    }
    let args = match f.get("arguments") {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(o)) => o.clone(),
        Some(Json::String(s)) if s.trim().is_empty() => Map::new(),
        Some(Json::String(s)) => match serde_json::from_str::<Json>(s) {
            Ok(Json::Object(o)) => o,
            _ => {
                return Err(ApiError::bad(
                    format!("{at}.function.arguments"),
                    "must be a JSON object encoded as a string",
                ))
            }
        },
        Some(_) => {
            return Err(ApiError::bad(
                format!("{at}.function.arguments"),
                "must be a JSON object encoded as a string",
            ))
        }
    };
    f.insert("arguments".into(), Json::Object(args));
    Ok(Json::Object(call))
}

fn tool(t: &Json, i: usize) -> ApiResult<Json> {
    let at = format!("tools[{i}]");
    match t.get("type").and_then(Json::as_str) {
        None | Some("function") => {}
        Some(other) => {
            return Err(ApiError::bad(
                format!("{at}.type"),
                format!("{other:?}: only \"function\" tools are supported"),
            ))
        }
    }
    if t.pointer("/function/name").and_then(Json::as_str).is_none() {
        return Err(ApiError::bad(
            format!("{at}.function.name"),
            "missing or not a string",
        ));
    }
    Ok(t.clone())
}

/// What the response carries besides the message.
#[derive(Debug, Clone, Copy)]
pub struct ResponseMeta<'a> {
    /// `chatcmpl-...`.
    pub id: &'a str,
    /// Unix seconds.
    pub created: u64,
    /// Served model name.
    pub model: &'a str,
}

/// The response body of one completion. With tool calls: `content` (null when empty), the
/// calls with their arguments as JSON strings and `finish_reason: "tool_calls"`; without: the
/// raw text as `content`. `token_texts` are the sampled tokens' texts for the logprobs
/// (`token_id:N` is written where one is missing, and always with `return_tokens_as_token_ids`).
pub fn chat_response(
    c: &ChatCompletion,
    call: &ChatCall,
    meta: ResponseMeta<'_>,
    token_texts: &[String],
) -> Json {
    let mut msg = Map::new();
    msg.insert("role".into(), json!("assistant"));
    let finish = if c.parsed.calls.is_empty() {
        msg.insert("content".into(), json!(c.text));
        c.finish.as_str()
    } else {
        let content = c.parsed.content.trim();
        msg.insert(
            "content".into(),
            if content.is_empty() {
                Json::Null
            } else {
                json!(content)
            },
        );
        if let Some(r) = &c.parsed.reasoning {
            msg.insert("reasoning_content".into(), json!(r));
        }
        let calls: Vec<Json> = c
            .parsed
            .calls
            .iter()
            .enumerate()
            .map(|(i, tc)| {
                json!({
                    "id": format!("call_{}_{i}", meta.id.trim_start_matches("chatcmpl-")),
                    "type": "function",
                    "function": {
                        "name": tc.name,
                        "arguments": Json::Object(tc.arguments.clone()).to_string(),
                    }
                })
            })
            .collect();
        msg.insert("tool_calls".into(), Json::Array(calls));
        "tool_calls"
    };
    let logprobs = if call.logprobs {
        let content: Vec<Json> = c
            .completion_ids
            .iter()
            .zip(&c.logprobs)
            .enumerate()
            .map(|(i, (id, lp))| {
                let token = match token_texts.get(i) {
                    Some(t) if !call.token_ids => t.clone(),
                    _ => format!("token_id:{id}"),
                };
                json!({"token": token, "logprob": lp, "bytes": token.as_bytes(), "top_logprobs": []})
            })
            .collect();
        json!({ "content": content })
    } else {
        Json::Null
    };
    let prompt = c.prompt_ids.len();
    let completion = c.completion_ids.len();
    json!({
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [{
            "index": 0,
            "message": Json::Object(msg),
            "logprobs": logprobs,
            "finish_reason": finish,
        }],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    })
}

/// Parses a `POST /v1/embeddings` body: the input texts.
pub fn parse_embeddings(body: &Json, served: &str) -> ApiResult<Vec<String>> {
    let body = body
        .as_object()
        .ok_or_else(|| ApiError::status(400, "the body must be a JSON object"))?;
    check_model(body, served)?;
    match body.get("encoding_format") {
        None | Some(Json::Null) => {}
        Some(Json::String(f)) if f == "float" => {}
        Some(_) => {
            return Err(ApiError::bad(
                "encoding_format",
                "only \"float\" is supported",
            ))
        }
    }
    let texts = match body.get("input") {
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, t)| {
                t.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::bad(
                        format!("input[{i}]"),
                        "must be a string (token id input is not supported)",
                    )
                })
            })
            .collect::<ApiResult<Vec<_>>>()?,
        _ => {
            return Err(ApiError::bad(
                "input",
                "must be a string or a non-empty array of strings",
            ))
        }
    };
    Ok(texts)
}

/// The response body of an embeddings call.
pub fn embeddings_response(vectors: &[Vec<f32>], tokens: usize, model: &str) -> Json {
    let data: Vec<Json> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"object": "embedding", "index": i, "embedding": v}))
        .collect();
    json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    })
}

/// `GET /v1/models`.
pub fn models_response(model: &str, created: u64) -> Json {
    json!({"object": "list", "data": [
        {"id": model, "object": "model", "created": created, "owned_by": "trainer"}
    ]})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SamplingParams;

    fn greedy(max_new_tokens: usize) -> GenParams {
        GenParams {
            sampling: SamplingParams {
                temperature: 0.0,
                top_k: 0,
                top_p: 1.0,
            },
            max_new_tokens,
        }
    }

    fn defaults() -> Defaults {
        Defaults {
            params: greedy(32),
            max_tokens_limit: 1024,
        }
    }

    fn parse(v: Json) -> ApiResult<ChatCall> {
        parse_chat(&v, "m", &defaults(), 5)
    }

    #[test]
    fn parses_history_and_sampling() {
        let c = parse(json!({
            "model": "m",
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "be "}, {"type": "text", "text": "brief"}]},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{\"x\": [1, 2]}"}}]},
                {"role": "tool", "tool_call_id": "a", "content": "{}"}
            ],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
            "temperature": 0.5, "top_p": 0.9, "top_k": -1, "max_tokens": 7, "seed": 3,
            "logprobs": true
        }))
        .unwrap();
        let m = &c.request.messages;
        assert_eq!(m[0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(m[2]["content"], "");
        assert_eq!(
            m[2]["tool_calls"][0]["function"]["arguments"],
            json!({"x": [1, 2]})
        );
        assert_eq!(c.request.tools.len(), 1);
        assert_eq!(c.request.seed, 3);
        assert_eq!(c.params.sampling.temperature, 0.5);
        assert_eq!(c.params.sampling.top_p, 0.9);
        assert_eq!(c.params.sampling.top_k, 0);
        assert_eq!(c.params.max_new_tokens, 7);
        assert!(c.logprobs && !c.token_ids);
        let d = parse(
            json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": "none",
            "tools": [{"type": "function", "function": {"name": "f"}}]}),
        )
        .unwrap();
        assert!(d.request.tools.is_empty());
        assert_eq!(d.request.seed, 5);
        assert_eq!(d.params, greedy(32));
    }

    #[test]
    fn bad_requests_name_the_field() {
        let cases = [
            (json!([]), None),
            (json!({"messages": []}), Some("messages")),
            (
                json!({"messages": [{"role": "bot", "content": "x"}]}),
                Some("messages[0].role"),
            ),
            (
                json!({"messages": [{"role": "user"}]}),
                Some("messages[0].content"),
            ),
            (
                json!({"messages": [{"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": "{bad"}}]}]}),
                Some("messages[0].tool_calls[0].function.arguments"),
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "temperature": -1}),
                Some("temperature"),
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}),
                Some("max_tokens"),
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 5000}),
                Some("max_tokens"),
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "stream": true}),
                Some("stream"),
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "n": 2}),
                Some("n"),
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}),
                Some("tools[0].function.name"),
            ),
            (
                json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"}),
                Some("tool_choice"),
            ),
        ];
        for (body, param) in cases {
            let e = parse(body.clone()).unwrap_err();
            assert_eq!(e.status, 400, "{body}");
            assert_eq!(e.param.as_deref(), param, "{body}: {}", e.message);
        }
        let e = parse(json!({"model": "other", "messages": [{"role": "user", "content": "x"}]}))
            .unwrap_err();
        assert_eq!(e.status, 404);
        assert_eq!(e.body()["error"]["type"], "not_found_error");
    }

    #[test]
    fn embeddings_input_forms() {
        assert_eq!(
            parse_embeddings(&json!({"input": "a"}), "m").unwrap(),
            vec!["a"]
        );
        assert_eq!(
            parse_embeddings(&json!({"input": ["a", "b"], "model": "m"}), "m").unwrap(),
            vec!["a", "b"]
        );
        assert_eq!(
            parse_embeddings(&json!({"input": [1, 2]}), "m")
                .unwrap_err()
                .param
                .as_deref(),
            Some("input[0]")
        );
        assert_eq!(
            parse_embeddings(&json!({"input": []}), "m")
                .unwrap_err()
                .param
                .as_deref(),
            Some("input")
        );
    }
}
