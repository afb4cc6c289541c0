//! What the official handlers store as `result`, and one result-file line.

use serde_json::Value as Json;

use crate::chat::pyjson::{dumps_with, DumpOptions};

/// `QwenHandler` / `QwenFCHandler._parse_query_response_prompting`: when the completion contains
/// `</think>`, everything up to the last `</think>` is reasoning and the stored answer is the rest
/// with leading newlines removed; otherwise the completion is stored unchanged.
pub fn clean_response(completion: &str) -> &str {
    match completion.rsplit_once("</think>") {
        Some((_, answer)) => answer.trim_start_matches('\n'),
        None => completion,
    }
}

/// `_llm_response_generation.multi_threaded_inference`'s error result.
pub fn error_result(message: &str) -> String {
    format!("Error during inference: {message}")
}

/// Whether a stored `result` is an [`error_result`].
pub fn is_error_result(result: &str) -> bool {
    result.starts_with("Error during inference: ")
}

/// One result line, as `json.dumps(entry)` writes it (`ensure_ascii=True`, keys in this order):
/// `{"id", "result", "input_token_count", "output_token_count"}` plus a trailing newline.
pub fn result_line(id: &str, result: &str, input_tokens: usize, output_tokens: usize) -> String {
    json_line(serde_json::json!({
        "id": id,
        "result": result,
        "input_token_count": input_tokens,
        "output_token_count": output_tokens,
    }))
}

/// One multi-turn result line: `{"id", "result", "input_token_count", "output_token_count"}` with
/// `result` the official layout (per turn, per step: the stored answer text) and the token
/// counts per turn and step, as `json.dumps` writes it, plus a trailing newline.
pub fn multi_turn_result_line(
    id: &str,
    result: &[Vec<String>],
    input_tokens: &[Vec<usize>],
    output_tokens: &[Vec<usize>],
) -> String {
    json_line(serde_json::json!({
        "id": id,
        "result": result,
        "input_token_count": input_tokens,
        "output_token_count": output_tokens,
    }))
}

/// `json.dumps(v)` (`ensure_ascii=True`) plus a trailing newline.
fn json_line(v: serde_json::Value) -> String {
    let mut line = dumps_with(
        &v,
        &DumpOptions {
            ensure_ascii: true,
            ..DumpOptions::default()
        },
    );
    line.push('\n');
    line
}

/// The `id` of a result line, if the line is a JSON object with a string `id` and a `result`.
pub fn parse_line_id(line: &str) -> Option<String> {
    let v: Json = serde_json::from_str(line).ok()?;
    v.get("result")?;
    v.get("id")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn think_blocks_are_removed_like_the_handler() {
        assert_eq!(
            clean_response("<think>\nx\n</think>\n\n[f(a=1)]"),
            "[f(a=1)]"
        );
        assert_eq!(clean_response("a</think>b</think>\n\nc\n"), "c\n");
        assert_eq!(clean_response("  [f()]"), "  [f()]");
        assert_eq!(clean_response("<think>unfinished"), "<think>unfinished");
    }

    #[test]
    fn result_lines_are_python_json() {
        let l = result_line(
            "simple_python_0",
            "<tool_call>\n{\"é\": 1}\n</tool_call>",
            12,
            3,
        );
        assert_eq!(
            l,
            "{\"id\": \"simple_python_0\", \"result\": \"<tool_call>\\n{\\\"\\u00e9\\\": 1}\\n</tool_call>\", \"input_token_count\": 12, \"output_token_count\": 3}\n"
        );
        assert_eq!(parse_line_id(&l).as_deref(), Some("simple_python_0"));
        assert_eq!(parse_line_id("{\"id\": \"x_1\"}"), None);
        assert_eq!(parse_line_id("{\"id\": \"x_1\", \"res"), None);
    }
}
