//! Tool calls in the Hermes / Qwen format:
//!
//! ```text
//! optional content
//! <tool_call>
//! {"name": "get_weather", "arguments": {"city": "Paris"}}
//! </tool_call>
//! <tool_call>
//! ...
//! </tool_call>
//! ```
//!
//! optionally preceded by `<think>reasoning</think>` (Qwen3).
//!
//! [`parse_lenient`] never fails: it recovers what it can and lists every deviation as a
//! [`Problem`]. [`parse_strict`] runs the same parser and fails when any problem other than
//! [`ProblemKind::UnexpectedKey`] was found. Decisions:
//! * `arguments` must be a JSON object. A JSON *string* that encodes an object (the OpenAI API's
//!   wire form) is a format error in strict mode — the Qwen template writes arguments as an object,
//!   so a model that emits a string has not learned the format — and is decoded in lenient mode.
//! * Text after the first block (other than whitespace) is an error in strict mode; lenient mode
//!   appends it to the content.
//! * Extra keys next to `name` / `arguments` are reported but accepted in both modes.
//! * Block ends are found JSON-aware, so `</tool_call>` inside an argument string does not end
//!   the block early.
//!
//! [`render_tool_calls`] writes the canonical text the Qwen3 chat template emits for an assistant
//! message, so that `parse_strict(&render_tool_calls(c, calls))` returns `c` and `calls`.

use crate::chat::pyjson::{dumps, write_string};
use serde::de::IgnoredAny;
use serde_json::{Map, Value as Json};
use std::fmt;

const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";
const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";

/// One function call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// Function name.
    pub name: String,
    /// Arguments object.
    pub arguments: Map<String, Json>,
}

impl ToolCall {
    /// A call from a name and an arguments object.
    pub fn new(name: impl Into<String>, arguments: Map<String, Json>) -> Self {
        ToolCall {
            name: name.into(),
            arguments,
        }
    }

    /// The OpenAI chat form `{"type": "function", "function": {"name", "arguments"}}` (arguments
    /// as an object, which the chat templates render as JSON).
    pub fn to_openai(&self) -> Json {
        serde_json::json!({
            "type": "function",
            "function": {"name": self.name, "arguments": Json::Object(self.arguments.clone())}
        })
    }
}

/// What kind of deviation from the format was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProblemKind {
    /// `<tool_call>` without a matching `</tool_call>`.
    UnclosedBlock,
    /// `</tool_call>` without an open block.
    UnopenedClose,
    /// A block with nothing in it.
    EmptyBlock,
    /// The block body is not JSON.
    InvalidJson,
    /// The block body is JSON but not an object.
    NotAnObject,
    /// The object has no `name`.
    MissingName,
    /// `name` is not a string.
    NameNotString,
    /// `name` is the empty string.
    EmptyName,
    /// The object has no `arguments`.
    MissingArguments,
    /// `arguments` is neither an object nor a string encoding one.
    ArgumentsNotObject,
    /// `arguments` is a JSON string encoding an object.
    ArgumentsAsString,
    /// Text after the JSON value inside a block.
    TrailingGarbage,
    /// The JSON is wrapped in a Markdown code fence.
    CodeFence,
    /// Keys other than `name` and `arguments` (accepted in both modes).
    UnexpectedKey,
    /// Non-whitespace text between or after tool-call blocks.
    TextBetweenCalls,
    /// `<think>` without `</think>`.
    UnclosedThink,
    /// More than one `</think>`.
    MultipleThink,
}

impl ProblemKind {
    /// Whether strict parsing rejects output with this problem.
    pub fn is_error(self) -> bool {
        self != ProblemKind::UnexpectedKey
    }
}

/// One deviation, located in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong.
    pub kind: ProblemKind,
    /// Index of the `<tool_call>` block (0-based), when it concerns one.
    pub block: Option<usize>,
    /// Byte offset in the parsed text.
    pub offset: usize,
    /// Details (the JSON error, the offending key or text excerpt).
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} at byte {}", self.kind, self.offset)?;
        if let Some(b) = self.block {
            write!(f, " (tool_call block {b})")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// A parsed assistant output.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedOutput {
    /// Text inside `<think>...</think>`, if any.
    pub reasoning: Option<String>,
    /// Text outside the reasoning and the tool-call blocks.
    pub content: String,
    /// The calls, in order.
    pub calls: Vec<ToolCall>,
    /// Every deviation found (in strict mode, only the ones that are not errors).
    pub problems: Vec<Problem>,
}

impl ParsedOutput {
    /// The OpenAI chat message for this output (`tool_calls` only when there are calls).
    pub fn to_message(&self) -> Json {
        let mut m = Map::new();
        m.insert("role".into(), Json::from("assistant"));
        m.insert("content".into(), Json::from(self.content.clone()));
        if let Some(r) = &self.reasoning {
            m.insert("reasoning_content".into(), Json::from(r.clone()));
        }
        if !self.calls.is_empty() {
            m.insert(
                "tool_calls".into(),
                Json::Array(self.calls.iter().map(ToolCall::to_openai).collect()),
            );
        }
        Json::Object(m)
    }
}

/// Errors of strict parsing.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The output violates the format; every violation is listed.
    #[error("malformed tool-call output: {}", list(.0))]
    Malformed(Vec<Problem>),
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Parses strictly: any problem that [`ProblemKind::is_error`] fails the parse.
pub fn parse_strict(text: &str) -> Result<ParsedOutput> {
    let parsed = parse_lenient(text);
    let errors: Vec<Problem> = parsed
        .problems
        .iter()
        .filter(|p| p.kind.is_error())
        .cloned()
        .collect();
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(Error::Malformed(errors))
    }
}

/// Parses leniently: recovers what it can and reports every deviation in `problems`.
pub fn parse_lenient(text: &str) -> ParsedOutput {
    let mut out = ParsedOutput::default();
    let (body_offset, body) = split_thinking(text, &mut out);
    parse_calls(body, body_offset, &mut out);
    out
}

/// Splits off the reasoning; returns the rest (and its offset).
///
/// Reasoning is recognized where a model writes it, before any tool call:
/// * output that starts with `<think>` (after whitespace): reasoning runs to the first `</think>`,
///   wherever it is (so reasoning may mention `<tool_call>`); without `</think>` it is
///   [`ProblemKind::UnclosedThink`] and runs to the first `<tool_call>`;
/// * otherwise a `</think>` before the first `<tool_call>` closes reasoning whose `<think>` was in
///   the prompt (the Qwen3 template's split: text after the last `<think>` before it).
///
/// Tags after the first `<tool_call>` belong to the calls (e.g. inside argument strings).
/// Content after `</think>` loses its leading newlines, as in the template. A further `</think>`
/// before the first `<tool_call>` is [`ProblemKind::MultipleThink`]; content starts after the last.
fn split_thinking<'a>(text: &'a str, out: &mut ParsedOutput) -> (usize, &'a str) {
    let lead = text.len() - text.trim_start().len();
    let starts_with_open = text[lead..].starts_with(THINK_OPEN);
    let first_call = text.find(OPEN).unwrap_or(text.len());
    let close = if starts_with_open {
        text.find(THINK_CLOSE)
    } else {
        text[..first_call].find(THINK_CLOSE)
    };
    let Some(close) = close else {
        if starts_with_open {
            out.problems.push(Problem {
                kind: ProblemKind::UnclosedThink,
                block: None,
                offset: lead,
                detail: "reasoning taken up to the first <tool_call> or the end".into(),
            });
            let start = lead + THINK_OPEN.len();
            let end = first_call.max(start);
            out.reasoning = Some(text[start..end].trim_matches('\n').to_string());
            return (end, &text[end..]);
        }
        return (0, text);
    };
    let reasoning = text[..close]
        .trim_end_matches('\n')
        .rsplit(THINK_OPEN)
        .next()
        .unwrap_or_default()
        .trim_start_matches('\n');
    out.reasoning = Some(reasoning.to_string());
    let mut after_start = close + THINK_CLOSE.len();
    let next_call = text[after_start..]
        .find(OPEN)
        .map_or(text.len(), |i| after_start + i);
    if let Some(last) = text[after_start..next_call].rfind(THINK_CLOSE) {
        out.problems.push(Problem {
            kind: ProblemKind::MultipleThink,
            block: None,
            offset: after_start + last,
            detail: "text between the first and last </think> is dropped".into(),
        });
        after_start += last + THINK_CLOSE.len();
    }
    let after = &text[after_start..];
    let rest = after.trim_start_matches('\n');
    (after_start + (after.len() - rest.len()), rest)
}

/// A located `<tool_call>` block.
struct Block<'a> {
    offset: usize,
    body: &'a str,
    closed: bool,
}

fn parse_calls(text: &str, base: usize, out: &mut ParsedOutput) {
    let mut pos = 0;
    let mut segments: Vec<(usize, &str)> = Vec::new();
    let mut blocks: Vec<Block> = Vec::new();
    loop {
        let rest = &text[pos..];
        let open = rest.find(OPEN);
        let close = rest.find(CLOSE);
        match (open, close) {
            (_, Some(c)) if open.is_none_or(|o| c < o) => {
                out.problems.push(Problem {
                    kind: ProblemKind::UnopenedClose,
                    block: None,
                    offset: base + pos + c,
                    detail: String::new(),
                });
                segments.push((pos, &rest[..c]));
                pos += c + CLOSE.len();
            }
            (Some(o), _) => {
                segments.push((pos, &rest[..o]));
                let body_start = pos + o + OPEN.len();
                let (body_end, closed, next) = find_block_end(text, body_start);
                blocks.push(Block {
                    offset: base + pos + o,
                    body: &text[body_start..body_end],
                    closed,
                });
                pos = next;
            }
            _ => {
                segments.push((pos, rest));
                break;
            }
        }
    }

    // Content: the text before the first block, minus the one newline that separates it from
    // the block; other non-blank text is a problem and is appended.
    let mut content = String::new();
    for (i, (offset, seg)) in segments.iter().enumerate() {
        if i == 0 {
            content = if blocks.is_empty() {
                seg.to_string()
            } else {
                seg.strip_suffix('\n').unwrap_or(seg).to_string()
            };
            continue;
        }
        let trimmed = seg.trim();
        if trimmed.is_empty() {
            continue;
        }
        out.problems.push(Problem {
            kind: ProblemKind::TextBetweenCalls,
            block: None,
            offset: base + offset,
            detail: excerpt(trimmed),
        });
        if !content.is_empty() {
            content.push('\n');
        }
        content.push_str(trimmed);
    }
    out.content = content;

    for (index, block) in blocks.iter().enumerate() {
        if !block.closed {
            out.problems.push(Problem {
                kind: ProblemKind::UnclosedBlock,
                block: Some(index),
                offset: block.offset,
                detail: String::new(),
            });
        }
        if let Some(call) = parse_block(block, index, &mut out.problems) {
            out.calls.push(call);
        }
    }
}

/// Finds where the block starting at `body_start` ends: (body end, closed, resume position).
fn find_block_end(text: &str, body_start: usize) -> (usize, bool, usize) {
    let rest = &text[body_start..];
    // JSON-aware: a complete JSON object followed by `</tool_call>`.
    let lead = rest.len() - rest.trim_start().len();
    if rest[lead..].starts_with('{') {
        let mut stream =
            serde_json::Deserializer::from_str(&rest[lead..]).into_iter::<IgnoredAny>();
        if let Some(Ok(_)) = stream.next() {
            let json_end = lead + stream.byte_offset();
            let after = &rest[json_end..];
            let ws = after.len() - after.trim_start().len();
            if after[ws..].starts_with(CLOSE) {
                let end = body_start + json_end + ws;
                return (end, true, end + CLOSE.len());
            }
        }
    }
    let close = rest.find(CLOSE);
    let open = rest.find(OPEN);
    match (close, open) {
        (Some(c), o) if o.is_none_or(|o| c < o) => {
            (body_start + c, true, body_start + c + CLOSE.len())
        }
        (_, Some(o)) => (body_start + o, false, body_start + o),
        _ => (text.len(), false, text.len()),
    }
}

fn parse_block(block: &Block, index: usize, problems: &mut Vec<Problem>) -> Option<ToolCall> {
    let mut report = |kind: ProblemKind, detail: String| {
        problems.push(Problem {
            kind,
            block: Some(index),
            offset: block.offset,
            detail,
        })
    };
    let mut body = block.body.trim();
    if body.is_empty() {
        report(ProblemKind::EmptyBlock, String::new());
        return None;
    }
    if let Some(unfenced) = strip_code_fence(body) {
        report(ProblemKind::CodeFence, String::new());
        body = unfenced;
    }
    let mut stream = serde_json::Deserializer::from_str(body).into_iter::<Json>();
    let value = match stream.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            report(ProblemKind::InvalidJson, format!("{e}: {}", excerpt(body)));
            return None;
        }
        None => {
            report(ProblemKind::InvalidJson, "no JSON value".into());
            return None;
        }
    };
    let trailing = body.get(stream.byte_offset()..).unwrap_or_default().trim();
    if !trailing.is_empty() {
        report(ProblemKind::TrailingGarbage, excerpt(trailing));
    }
    let Json::Object(mut obj) = value else {
        report(ProblemKind::NotAnObject, excerpt(body));
        return None;
    };

    for key in obj.keys() {
        if key != "name" && key != "arguments" {
            report(ProblemKind::UnexpectedKey, key.clone());
        }
    }
    let name = match obj.remove("name") {
        Some(Json::String(s)) if !s.is_empty() => s,
        Some(Json::String(_)) => {
            report(ProblemKind::EmptyName, String::new());
            return None;
        }
        Some(other) => {
            report(ProblemKind::NameNotString, excerpt(&other.to_string()));
            return None;
        }
        None => {
            report(ProblemKind::MissingName, String::new());
            return None;
        }
    };
    let arguments = match obj.remove("arguments") {
        Some(Json::Object(args)) => args,
        Some(Json::String(s)) => match serde_json::from_str::<Json>(&s) {
            Ok(Json::Object(args)) => {
                report(ProblemKind::ArgumentsAsString, excerpt(&s));
                args
            }
            _ => {
                report(
                    ProblemKind::ArgumentsNotObject,
                    format!("string that is not a JSON object: {}", excerpt(&s)),
                );
                return None;
            }
        },
        Some(other) => {
            report(ProblemKind::ArgumentsNotObject, excerpt(&other.to_string()));
            return None;
        }
        None => match obj.remove("parameters") {
            Some(Json::Object(args)) => {
                report(
                    ProblemKind::MissingArguments,
                    "used `parameters` instead".into(),
                );
                args
            }
            _ => {
                report(ProblemKind::MissingArguments, "assumed no arguments".into());
                Map::new()
            }
        },
    };
    Some(ToolCall { name, arguments })
}

/// `` ```json\n{...}\n``` `` → `{...}`.
fn strip_code_fence(body: &str) -> Option<&str> {
    let inner = body.strip_prefix("```")?;
    let inner = match inner.find('\n') {
        Some(nl)
            if inner[..nl]
                .trim()
                .chars()
                .all(|c| c.is_ascii_alphanumeric()) =>
        {
            &inner[nl + 1..]
        }
        _ => inner,
    };
    let inner = inner.trim_end();
    Some(inner.strip_suffix("```").unwrap_or(inner).trim())
}

fn excerpt(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// The assistant text the Qwen3 chat template writes for `content` plus `calls`
/// (`content`, then each call as `<tool_call>\n{"name": ..., "arguments": ...}\n</tool_call>`,
/// separated by newlines, arguments as Python's `json.dumps`). The name is JSON-escaped, which
/// equals the template's raw insertion for every name without `"`, `\` or control characters.
pub fn render_tool_calls(content: &str, calls: &[ToolCall]) -> String {
    let mut out = content.to_string();
    for (i, call) in calls.iter().enumerate() {
        if i > 0 || !content.is_empty() {
            out.push('\n');
        }
        out.push_str(OPEN);
        out.push_str("\n{\"name\": ");
        write_string(&mut out, &call.name, false);
        out.push_str(", \"arguments\": ");
        out.push_str(&dumps(&Json::Object(call.arguments.clone())));
        out.push_str("}\n");
        out.push_str(CLOSE);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn args(v: Json) -> Map<String, Json> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn kinds(text: &str) -> Vec<ProblemKind> {
        parse_lenient(text)
            .problems
            .iter()
            .map(|p| p.kind)
            .collect()
    }

    fn strict_kinds(text: &str) -> Vec<ProblemKind> {
        match parse_strict(text) {
            Ok(_) => Vec::new(),
            Err(Error::Malformed(ps)) => ps.iter().map(|p| p.kind).collect(),
        }
    }

    #[test]
    fn canonical_single_call() {
        let text = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>";
        let p = parse_strict(text).unwrap();
        assert_eq!(p.content, "");
        assert_eq!(p.reasoning, None);
        assert_eq!(
            p.calls,
            vec![ToolCall::new("get_weather", args(json!({"city": "Paris"})))]
        );
        assert!(p.problems.is_empty());
    }

    #[test]
    fn content_thinking_and_two_calls() {
        let text = "<think>\nI should call.\n</think>\n\nSure.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {\"x\": [1, 2.5]}}\n</tool_call>";
        let p = parse_strict(text).unwrap();
        assert_eq!(p.reasoning.as_deref(), Some("I should call."));
        assert_eq!(p.content, "Sure.");
        assert_eq!(p.calls.len(), 2);
        assert_eq!(p.calls[1].arguments["x"], json!([1, 2.5]));
    }

    #[test]
    fn plain_answer_has_no_calls() {
        let p = parse_strict("The capital of France is Paris.").unwrap();
        assert_eq!(p.content, "The capital of France is Paris.");
        assert!(p.calls.is_empty());
    }

    #[test]
    fn close_tag_inside_argument_string() {
        let text = "<tool_call>\n{\"name\": \"echo\", \"arguments\": {\"s\": \"a</tool_call>b\"}}\n</tool_call>";
        let p = parse_strict(text).unwrap();
        assert_eq!(p.calls[0].arguments["s"], json!("a</tool_call>b"));
    }

    #[test]
    fn unclosed_final_block() {
        let text = "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"k\": 1}}";
        assert_eq!(strict_kinds(text), vec![ProblemKind::UnclosedBlock]);
        let p = parse_lenient(text);
        assert_eq!(p.calls, vec![ToolCall::new("a", args(json!({"k": 1})))]);
    }

    #[test]
    fn unopened_close() {
        assert_eq!(
            strict_kinds("hi </tool_call>"),
            vec![ProblemKind::UnopenedClose]
        );
        assert_eq!(parse_lenient("hi </tool_call>").content, "hi ");
    }

    #[test]
    fn empty_block() {
        assert_eq!(
            strict_kinds("<tool_call>\n\n</tool_call>"),
            vec![ProblemKind::EmptyBlock]
        );
    }

    #[test]
    fn invalid_json() {
        let k =
            strict_kinds("<tool_call>\n{\"name\": \"a\", \"arguments\": {\"k\": }}\n</tool_call>");
        assert_eq!(k, vec![ProblemKind::InvalidJson]);
        assert!(parse_lenient("<tool_call>{oops</tool_call>")
            .calls
            .is_empty());
    }

    #[test]
    fn not_an_object() {
        assert_eq!(
            strict_kinds("<tool_call>[1, 2]</tool_call>"),
            vec![ProblemKind::NotAnObject]
        );
    }

    #[test]
    fn name_problems() {
        assert_eq!(
            strict_kinds("<tool_call>{\"arguments\": {}}</tool_call>"),
            vec![ProblemKind::MissingName]
        );
        assert_eq!(
            strict_kinds("<tool_call>{\"name\": 3, \"arguments\": {}}</tool_call>"),
            vec![ProblemKind::NameNotString]
        );
        assert_eq!(
            strict_kinds("<tool_call>{\"name\": \"\", \"arguments\": {}}</tool_call>"),
            vec![ProblemKind::EmptyName]
        );
    }

    #[test]
    fn argument_problems() {
        assert_eq!(
            strict_kinds("<tool_call>{\"name\": \"a\"}</tool_call>"),
            vec![ProblemKind::MissingArguments]
        );
        assert_eq!(
            strict_kinds("<tool_call>{\"name\": \"a\", \"arguments\": [1]}</tool_call>"),
            vec![ProblemKind::ArgumentsNotObject]
        );
        let as_string =
            "<tool_call>{\"name\": \"a\", \"arguments\": \"{\\\"k\\\": 2}\"}</tool_call>";
        assert_eq!(
            strict_kinds(as_string),
            vec![ProblemKind::ArgumentsAsString]
        );
        assert_eq!(parse_lenient(as_string).calls[0].arguments["k"], json!(2));
        let params = "<tool_call>{\"name\": \"a\", \"parameters\": {\"k\": 3}}</tool_call>";
        assert_eq!(parse_lenient(params).calls[0].arguments["k"], json!(3));
    }

    #[test]
    fn trailing_garbage_and_code_fence() {
        let t = "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}}\n</tool_call>";
        assert_eq!(strict_kinds(t), vec![ProblemKind::TrailingGarbage]);
        assert_eq!(parse_lenient(t).calls.len(), 1);
        let f = "<tool_call>\n```json\n{\"name\": \"a\", \"arguments\": {}}\n```\n</tool_call>";
        assert_eq!(strict_kinds(f), vec![ProblemKind::CodeFence]);
        assert_eq!(parse_lenient(f).calls.len(), 1);
    }

    #[test]
    fn unexpected_key_is_only_a_warning() {
        let t = "<tool_call>{\"name\": \"a\", \"arguments\": {}, \"id\": \"x\"}</tool_call>";
        let p = parse_strict(t).unwrap();
        assert_eq!(p.problems[0].kind, ProblemKind::UnexpectedKey);
        assert_eq!(p.calls.len(), 1);
    }

    #[test]
    fn text_between_calls() {
        let t = "<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call> and then";
        assert_eq!(strict_kinds(t), vec![ProblemKind::TextBetweenCalls]);
        assert_eq!(parse_lenient(t).content, "and then");
    }

    #[test]
    fn think_problems() {
        let t = "<think>hmm\n<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>";
        assert_eq!(strict_kinds(t), vec![ProblemKind::UnclosedThink]);
        let p = parse_lenient(t);
        assert_eq!(p.reasoning.as_deref(), Some("hmm"));
        assert_eq!(p.calls.len(), 1);
        assert_eq!(
            strict_kinds("<think>a</think>b</think>c"),
            vec![ProblemKind::MultipleThink]
        );
    }

    #[test]
    fn nested_open_ends_previous_block() {
        let t = "<tool_call>{\"name\": \"a\", \"arguments\": {}<tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_call>";
        let p = parse_lenient(t);
        let k: Vec<_> = p.problems.iter().map(|p| p.kind).collect();
        assert!(k.contains(&ProblemKind::UnclosedBlock), "{k:?}");
        assert_eq!(p.calls.last().map(|c| c.name.as_str()), Some("b"));
        assert!(kinds(t).contains(&ProblemKind::InvalidJson));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("<tool_call>{}</tool_call>", "[".repeat(100_000));
        assert_eq!(strict_kinds(&deep), vec![ProblemKind::InvalidJson]);
        let deep_obj = format!(
            "<tool_call>{{\"name\": \"a\", \"arguments\": {}1{}}}</tool_call>",
            "{\"k\": ".repeat(5_000),
            "}".repeat(5_000)
        );
        assert_eq!(strict_kinds(&deep_obj), vec![ProblemKind::InvalidJson]);
    }

    #[test]
    fn reasoning_may_mention_tags_and_arguments_may_contain_them() {
        let t = "<think>I will emit <tool_call> now.</think>\n\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"s\": \"<think>x</think>\"}}\n</tool_call>";
        let p = parse_strict(t).unwrap();
        assert_eq!(p.reasoning.as_deref(), Some("I will emit <tool_call> now."));
        assert_eq!(p.content, "");
        assert_eq!(p.calls[0].arguments["s"], json!("<think>x</think>"));
        // Reasoning whose <think> was in the prompt (open-less form).
        let p = parse_strict("plan\n</think>\n\nanswer").unwrap();
        assert_eq!(p.reasoning.as_deref(), Some("plan"));
        assert_eq!(p.content, "answer");
    }

    #[test]
    fn error_message_lists_problems() {
        let err = parse_strict("<tool_call>{\"name\": 1}</tool_call></tool_call>").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("UnopenedClose") && msg.contains("NameNotString"),
            "{msg}"
        );
    }

    #[test]
    fn render_then_parse() {
        let calls = vec![
            ToolCall::new("f", args(json!({"a": 1, "b": "é\n", "c": [1e-5, null]}))),
            ToolCall::new("g", Map::new()),
        ];
        for content in ["", "Let me check.", "two\nlines\n"] {
            let text = render_tool_calls(content, &calls);
            let p = parse_strict(&text).unwrap();
            assert_eq!(p.content, content);
            assert_eq!(p.calls, calls);
        }
        assert_eq!(
            render_tool_calls("x", &calls[1..]),
            "x\n<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call>"
        );
    }
}
