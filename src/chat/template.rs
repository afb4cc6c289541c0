//! Jinja chat templates rendered exactly as transformers' `apply_chat_template(..., tokenize=False)`.
//!
//! What transformers (5.x) does, and this module mirrors:
//! * a sandboxed Jinja2 environment with `trim_blocks` and `lstrip_blocks`, `loopcontrols`,
//!   globals `raise_exception(msg)` and `strftime_now(fmt)`, and a `tojson` filter that is
//!   `json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`;
//! * messages with `None` values have those keys dropped; a message with `reasoning_content`,
//!   `thinking` or `reasoning` gets both `thinking` and `reasoning_content` set;
//! * the template sees `messages`, `tools` (or `None`), `documents` (`None`),
//!   `add_generation_prompt`, the tokenizer's special tokens (`bos_token`, `eos_token`, ...) and
//!   any extra keyword arguments (e.g. `enable_thinking`), which override special tokens;
//! * `{% generation %}` blocks (assistant-mask markers) render their body unchanged.
//!
//! Values print the way Python does (`None`, `True`, `1e-05`, `{'a': 1}`), and JSON objects keep
//! their key order.

use crate::chat::jinja_value::{from_json, to_json, write_py_str};
use crate::chat::pyjson::{dumps_with, DumpOptions};
use crate::chat::strftime::strftime_now;
use minijinja::value::{Kwargs, Rest, Value};
use minijinja::{AutoEscape, Environment, ErrorKind};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;

/// Errors of chat-template compilation and rendering.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The template source does not compile.
    #[error("chat template does not compile: {0:#}")]
    Compile(minijinja::Error),
    /// The template called `raise_exception(message)`.
    #[error("chat template raised an exception: {0}")]
    Raised(String),
    /// Rendering failed for another reason (undefined attribute, type error, ...).
    #[error("chat template rendering failed: {0:#}")]
    Render(minijinja::Error),
    /// The conversation is empty (transformers refuses it too).
    #[error("cannot apply a chat template to an empty conversation")]
    EmptyConversation,
    /// A message is not a JSON object.
    #[error("message {index} is not a JSON object: {value}")]
    MessageNotObject {
        /// Position of the message in the conversation.
        index: usize,
        /// The offending value.
        value: String,
    },
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

const TEMPLATE_NAME: &str = "chat_template";
const RAISE_PREFIX: &str = "raise_exception: ";
/// Largest integer `tojson(indent=...)` accepted (templates use 2 or 4; a huge one would allocate
/// without bound).
const MAX_TOJSON_INDENT: i64 = 64;

/// Options of one rendering, the arguments of `apply_chat_template`.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Tools in OpenAI format (`{"type": "function", "function": {...}}`); `None` passes `None`.
    pub tools: Option<Vec<Json>>,
    /// Append the header that starts an assistant turn.
    pub add_generation_prompt: bool,
    /// Extra template variables (`enable_thinking`, ...); they override special tokens.
    pub kwargs: Map<String, Json>,
}

impl RenderOptions {
    /// Options with `add_generation_prompt` set as given and nothing else.
    pub fn new(add_generation_prompt: bool) -> Self {
        RenderOptions {
            add_generation_prompt,
            ..Default::default()
        }
    }

    /// Sets the tools.
    pub fn with_tools(mut self, tools: Vec<Json>) -> Self {
        self.tools = Some(tools);
        self
    }

    /// Sets the `enable_thinking` variable (Qwen3 templates read it).
    pub fn enable_thinking(mut self, on: bool) -> Self {
        self.kwargs
            .insert("enable_thinking".to_string(), Json::Bool(on));
        self
    }

    /// Sets any extra template variable.
    pub fn with_kwarg(mut self, name: &str, value: Json) -> Self {
        self.kwargs.insert(name.to_string(), value);
        self
    }
}

/// A compiled chat template plus the special-token variables it is rendered with.
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    special_tokens: BTreeMap<String, String>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source_len", &self.source.len())
            .field("special_tokens", &self.special_tokens)
            .finish()
    }
}

impl ChatTemplate {
    /// Compiles a Jinja chat template.
    pub fn new(source: &str) -> Result<Self> {
        let source = rewrite_generation_tags(source);
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(false)
            .build()
            .map_err(Error::Compile)?;
        env.set_syntax(syntax);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(|out, _state, value| {
            let mut s = String::new();
            write_py_str(&mut s, value);
            out.write_str(&s)
                .map_err(|_| minijinja::Error::from(ErrorKind::WriteFailure))
        });
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", |format: String| strftime_now(&format));
        env.add_template_owned(TEMPLATE_NAME, source.clone())
            .map_err(Error::Compile)?;
        Ok(ChatTemplate {
            env,
            source,
            special_tokens: BTreeMap::new(),
        })
    }

    /// Sets the special-token variables (`bos_token`, `eos_token`, `pad_token`, ...), as
    /// transformers' `special_tokens_map`.
    pub fn with_special_tokens<I, K, V>(mut self, tokens: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.special_tokens = tokens
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// The template source (after `{% generation %}` rewriting).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders a conversation of OpenAI-format messages.
    pub fn render(&self, messages: &[Json], options: &RenderOptions) -> Result<String> {
        if messages.is_empty() {
            return Err(Error::EmptyConversation);
        }
        let messages = messages
            .iter()
            .enumerate()
            .map(|(index, m)| normalize_message(index, m))
            .collect::<Result<Vec<_>>>()?;

        let mut ctx: BTreeMap<String, Value> = BTreeMap::new();
        for (k, v) in &self.special_tokens {
            ctx.insert(k.clone(), Value::from(v.as_str()));
        }
        for (k, v) in &options.kwargs {
            ctx.insert(k.clone(), from_json(v));
        }
        ctx.insert(
            "messages".into(),
            Value::from(messages.iter().map(from_json).collect::<Vec<_>>()),
        );
        ctx.insert(
            "tools".into(),
            match &options.tools {
                Some(tools) => Value::from(tools.iter().map(from_json).collect::<Vec<_>>()),
                None => Value::from(()),
            },
        );
        ctx.insert("documents".into(), Value::from(()));
        ctx.insert(
            "add_generation_prompt".into(),
            Value::from(options.add_generation_prompt),
        );

        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(Error::Render)?;
        template.render(Value::from(ctx)).map_err(classify_error)
    }
}

/// transformers drops `None`-valued keys and aliases the reasoning fields.
fn normalize_message(index: usize, message: &Json) -> Result<Json> {
    let Json::Object(map) = message else {
        return Err(Error::MessageNotObject {
            index,
            value: message.to_string(),
        });
    };
    let map: Map<String, Json> = map
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let reasoning = ["reasoning_content", "thinking", "reasoning"]
        .iter()
        .find_map(|k| map.get(*k))
        .cloned();
    let Some(reasoning) = reasoning else {
        return Ok(Json::Object(map));
    };
    // Python: {"thinking": r, **message, "reasoning_content": r}
    let mut out = Map::new();
    out.insert("thinking".into(), reasoning.clone());
    for (k, v) in map {
        out.insert(k, v);
    }
    out.insert("reasoning_content".into(), reasoning);
    Ok(Json::Object(out))
}

fn classify_error(err: minijinja::Error) -> Error {
    if err.kind() == ErrorKind::InvalidOperation {
        if let Some(msg) = err.detail().and_then(|d| d.strip_prefix(RAISE_PREFIX)) {
            return Error::Raised(msg.to_string());
        }
    }
    Error::Render(err)
}

fn raise_exception(message: String) -> std::result::Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("{RAISE_PREFIX}{message}"),
    ))
}

/// transformers' `tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
fn tojson(
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> std::result::Result<Value, minijinja::Error> {
    let bad = |msg: String| minijinja::Error::new(ErrorKind::InvalidOperation, msg);
    let json = to_json(value).map_err(|e| bad(format!("tojson: {e}")))?;
    let positional = |i: usize| args.get(i).cloned();
    let named = |name: &str, i: usize| -> std::result::Result<Option<Value>, minijinja::Error> {
        if kwargs.has(name) {
            Ok(Some(kwargs.get::<Value>(name)?))
        } else {
            Ok(positional(i))
        }
    };
    if args.len() > 4 {
        return Err(bad("tojson takes at most 4 positional arguments".into()));
    }
    let mut options = DumpOptions::default();
    if let Some(v) = named("ensure_ascii", 0)? {
        options.ensure_ascii = v.is_true();
    }
    if let Some(v) = named("indent", 1)? {
        options.indent = if v.is_none() {
            None
        } else if let Some(s) = v.as_str() {
            Some(s.to_string())
        } else if let Some(n) = v.as_i64() {
            if n > MAX_TOJSON_INDENT {
                return Err(bad(format!(
                    "tojson: indent {n} is too large (at most {MAX_TOJSON_INDENT})"
                )));
            }
            Some(" ".repeat(usize::try_from(n).unwrap_or(0)))
        } else {
            return Err(bad(format!(
                "tojson: indent must be an int or str, got {v}"
            )));
        };
    }
    if let Some(v) = named("separators", 2)? {
        if !v.is_none() {
            let parts: Vec<Value> = v.try_iter()?.collect();
            match parts.as_slice() {
                [a, b] if a.as_str().is_some() && b.as_str().is_some() => {
                    options.separators = Some((
                        a.as_str().unwrap_or_default().to_string(),
                        b.as_str().unwrap_or_default().to_string(),
                    ));
                }
                _ => return Err(bad("tojson: separators must be a pair of strings".into())),
            }
        }
    }
    if let Some(v) = named("sort_keys", 3)? {
        options.sort_keys = v.is_true();
    }
    kwargs.assert_all_used()?;
    Ok(Value::from(dumps_with(&json, &options)))
}

/// Replaces `{% generation %}` / `{% endgeneration %}` (transformers' assistant-mask extension)
/// with `{% if true %}` / `{% endif %}`, keeping whitespace-control markers, so the body renders
/// unchanged and block whitespace handling stays identical.
fn rewrite_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(pos) = rest.find("{%") {
        out.push_str(&rest[..pos]);
        let tag = &rest[pos..];
        match parse_generation_tag(tag) {
            Some((len, left, name, right)) => {
                let body = if name == "generation" {
                    "if true"
                } else {
                    "endif"
                };
                out.push_str("{%");
                out.push_str(left);
                out.push(' ');
                out.push_str(body);
                out.push(' ');
                out.push_str(right);
                out.push_str("%}");
                rest = &tag[len..];
            }
            None => {
                out.push_str("{%");
                rest = &tag[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses `{%[-+]? generation|endgeneration [-+]?%}` at the start of `s`:
/// (length, left marker, name, right marker).
fn parse_generation_tag(s: &str) -> Option<(usize, &str, &str, &str)> {
    let inner = s.strip_prefix("{%")?;
    let end = inner.find("%}")?;
    let body = &inner[..end];
    let (left, body) = match body.chars().next() {
        Some(c @ ('-' | '+')) => (&inner[..c.len_utf8()], &body[1..]),
        _ => ("", body),
    };
    let (body, right) = match body.chars().last() {
        Some(c @ ('-' | '+')) => (&body[..body.len() - 1], &inner[end - c.len_utf8()..end]),
        _ => (body, ""),
    };
    let name = body.trim();
    if name == "generation" || name == "endgeneration" {
        Some((2 + end + 2, left, name, right))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(src: &str, messages: Json, opts: RenderOptions) -> Result<String> {
        let messages = messages.as_array().cloned().unwrap_or_default();
        ChatTemplate::new(src)?.render(&messages, &opts)
    }

    #[test]
    fn python_printing_and_tojson() {
        let src = "{{ messages[0].x }}|{{ messages[0].y }}|{{ messages[0].z }}|{{ messages[0] | tojson }}|{{ messages[0].z | tojson(indent=1) }}";
        let m = json!([{"role": "user", "x": true, "y": 1e-5, "z": {"b": 1, "a": [2]}, "n": null}]);
        let out = render(src, m, RenderOptions::default()).unwrap();
        assert_eq!(
            out,
            "True|1e-05|{'b': 1, 'a': [2]}|{\"role\": \"user\", \"x\": true, \"y\": 1e-05, \"z\": {\"b\": 1, \"a\": [2]}}|{\n \"b\": 1,\n \"a\": [\n  2\n ]\n}"
        );
    }

    #[test]
    fn tojson_indent_is_bounded() {
        let m = json!([{"role": "user", "z": [1]}]);
        let out = render(
            "{{ messages[0].z | tojson(indent=-3) }}",
            m.clone(),
            RenderOptions::default(),
        )
        .unwrap();
        assert_eq!(
            out, "[\n1\n]",
            "a negative indent behaves as 0, as in Python"
        );
        let err = render(
            "{{ messages[0].z | tojson(indent=9223372036854775807) }}",
            m,
            RenderOptions::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("indent 9223372036854775807 is too large"),
            "{err}"
        );
    }

    #[test]
    fn raise_exception_is_typed() {
        let err = render(
            "{{ raise_exception('no system role') }}",
            json!([{"role": "system"}]),
            RenderOptions::default(),
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::Raised(ref m) if m == "no system role"),
            "{err}"
        );
    }

    #[test]
    fn generation_tags_render_their_body() {
        let src = "{% for m in messages %}\n  {%- generation %}\n[{{ m.content }}]\n  {%- endgeneration %}\n{% endfor %}";
        let out = render(
            src,
            json!([{"content": "a"}, {"content": "b"}]),
            RenderOptions::default(),
        )
        .unwrap();
        assert_eq!(out, "[a][b]");
    }

    #[test]
    fn empty_conversation_and_bad_message() {
        assert!(matches!(
            render("x", json!([]), RenderOptions::default()),
            Err(Error::EmptyConversation)
        ));
        assert!(matches!(
            render("x", json!(["hi"]), RenderOptions::default()),
            Err(Error::MessageNotObject { index: 0, .. })
        ));
    }

    #[test]
    fn reasoning_fields_are_aliased_and_none_dropped() {
        let out = render(
            "{{ messages[0] | tojson }}",
            json!([{"role": "assistant", "content": null, "reasoning": "r"}]),
            RenderOptions::default(),
        )
        .unwrap();
        assert_eq!(
            out,
            r#"{"thinking": "r", "role": "assistant", "reasoning": "r", "reasoning_content": "r"}"#
        );
    }
}
