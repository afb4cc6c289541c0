//! ShareGPT export of trajectories (DESIGN.md §3: OpenAI chat JSONL is the format; ShareGPT an
//! option), in the tool-calling layout LLaMA-Factory reads (`formatting: sharegpt`, its default
//! tags):
//!
//! ```text
//! {"conversations": [{"from": "human", "value": ...}, {"from": "function_call", "value": ...},
//!                    {"from": "observation", "value": ...}, {"from": "gpt", "value": ...}],
//!  "system": "...", "tools": "<JSON list of function definitions>", "id": ..., "category": ...}
//! ```
//!
//! * A `function_call` value is the JSON text of `{"name", "arguments"}`, or of a list of them
//!   for parallel calls; text (or reasoning) the assistant wrote beside its calls has no place
//!   there and is dropped (counted). A thinking model's reasoning before a text answer goes into
//!   the `gpt` value as `<think>…</think>` (how LLaMA-Factory's reasoning templates read it).
//! * Records already in ShareGPT are written unchanged (converting twice is harmless); a file in
//!   which no record can be converted is refused, not replaced by an empty one.
//! * The results of one parallel call become one `observation`, joined by
//!   `"\n</tool_response>\n<tool_response>\n"` as LLaMA-Factory's own OpenAI-format converter
//!   joins consecutive tool messages (for Qwen templates this renders one `<tool_response>`
//!   block per result, as the native template does).
//! * The reader's rules hold for every record written: `human`/`observation` at even positions,
//!   `gpt`/`function_call` at odd ones, an even count (the model's turn last). A trajectory that
//!   cannot satisfy them (e.g. it ends with a tool result) is skipped with its reason.

use std::path::Path;

use serde_json::{json, Value as Json};

use super::error::{Error, Result};

/// What a conversion did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShareGptStats {
    /// Records written.
    pub converted: usize,
    /// Records left out: (id or line number, why).
    pub skipped: Vec<(String, String)>,
    /// Records already in ShareGPT (`conversations`), written unchanged.
    pub already: usize,
    /// Assistant texts (or reasoning) dropped because they stood beside tool calls.
    pub dropped_texts: usize,
}

/// Joins the results of one parallel call into one observation (LLaMA-Factory's separator).
const RESULT_SEPARATOR: &str = "\n</tool_response>\n<tool_response>\n";

/// One OpenAI-chat record (`messages`, optional `tools`, `id`, `category`) as a ShareGPT record;
/// `Err` says why it cannot be one. Returns also how many assistant texts were dropped.
pub fn to_sharegpt(record: &Json) -> std::result::Result<(Json, usize), String> {
    let messages = record
        .get("messages")
        .and_then(Json::as_array)
        .ok_or("no `messages` list")?;
    let mut system = None;
    let mut turns: Vec<Json> = Vec::new();
    let mut results: Vec<String> = Vec::new();
    let mut dropped = 0;
    for (i, m) in messages.iter().enumerate() {
        let role = m.get("role").and_then(Json::as_str).unwrap_or_default();
        let content = text_of(m.get("content"));
        if role != "tool" && !results.is_empty() {
            turns.push(turn("observation", results.join(RESULT_SEPARATOR)));
            results.clear();
        }
        match role {
            "system" if i == 0 => system = Some(content),
            "user" => turns.push(turn("human", content)),
            "tool" => results.push(content),
            "assistant" => match m.get("tool_calls").and_then(Json::as_array) {
                Some(calls) if !calls.is_empty() => {
                    dropped += usize::from(!content.trim().is_empty());
                    dropped += usize::from(reasoning_of(m).is_some());
                    let calls = calls
                        .iter()
                        .map(call_of)
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    let value = match <[Json; 1]>::try_from(calls) {
                        Ok([one]) => one,
                        Err(many) => Json::Array(many),
                    };
                    turns.push(turn("function_call", value.to_string()));
                }
                _ => turns.push(turn(
                    "gpt",
                    match reasoning_of(m) {
                        Some(r) => format!("<think>\n{r}\n</think>\n\n{content}"),
                        None => content,
                    },
                )),
            },
            other => return Err(format!("message {i} has role `{other}`")),
        }
    }
    if !results.is_empty() {
        turns.push(turn("observation", results.join(RESULT_SEPARATOR)));
    }
    check_turns(&turns)?;
    let mut out = json!({ "conversations": turns });
    if let Some(s) = system {
        out["system"] = Json::String(s);
    }
    if let Some(tools) = record.get("tools").and_then(Json::as_array) {
        let defs: Vec<&Json> = tools
            .iter()
            .map(|t| t.get("function").unwrap_or(t))
            .collect();
        out["tools"] =
            Json::String(Json::from(defs.into_iter().cloned().collect::<Vec<_>>()).to_string());
    }
    for key in ["id", "task_id", "category"] {
        if let Some(v) = record.get(key) {
            out[key] = v.clone();
        }
    }
    Ok((out, dropped))
}

/// The reader's rules (LLaMA-Factory `SharegptDatasetConverter`): a record it would skip is not
/// written.
pub fn check_turns(turns: &[Json]) -> std::result::Result<(), String> {
    const SIDES: [[&str; 2]; 2] = [["human", "observation"], ["gpt", "function_call"]];
    if turns.is_empty() {
        return Err("no turns".into());
    }
    for (i, t) in turns.iter().enumerate() {
        let from = t["from"].as_str().unwrap_or_default();
        if !SIDES[i % 2].contains(&from) {
            let before = i
                .checked_sub(1)
                .and_then(|p| turns[p]["from"].as_str())
                .unwrap_or("the start");
            return Err(format!(
                "turn {i} (`{from}`) follows `{before}`: user/tool turns and model turns must \
                 alternate"
            ));
        }
    }
    if !turns.len().is_multiple_of(2) {
        let last = turns[turns.len() - 1]["from"].as_str().unwrap_or_default();
        return Err(format!("ends with a `{last}` turn instead of the model's"));
    }
    Ok(())
}

/// A record already in ShareGPT passes through only if its reader would take it: turns of
/// `{from, value}` strings under the turn rules, `system`/`tools` (when present) strings.
fn check_sharegpt(record: &Json) -> std::result::Result<(), String> {
    let turns = record
        .get("conversations")
        .and_then(Json::as_array)
        .ok_or("`conversations` is not a list")?;
    for (i, t) in turns.iter().enumerate() {
        if !(t.get("from").is_some_and(Json::is_string)
            && t.get("value").is_some_and(Json::is_string))
        {
            return Err(format!(
                "turn {i} is not {{\"from\": string, \"value\": string}}"
            ));
        }
    }
    check_turns(turns)?;
    for key in ["system", "tools"] {
        if record.get(key).is_some_and(|v| !v.is_string()) {
            return Err(format!("`{key}` is not a string"));
        }
    }
    Ok(())
}

fn turn(from: &str, value: String) -> Json {
    json!({ "from": from, "value": value })
}

/// A thinking model's reasoning (`reasoning_content`, or `thinking`/`reasoning`), if any.
fn reasoning_of(m: &Json) -> Option<&str> {
    ["reasoning_content", "thinking", "reasoning"]
        .iter()
        .find_map(|k| m.get(*k).and_then(Json::as_str))
        .filter(|r| !r.trim().is_empty())
}

fn text_of(content: Option<&Json>) -> String {
    match content {
        Some(Json::String(s)) => s.clone(),
        None | Some(Json::Null) => String::new(),
        Some(other) => other.to_string(),
    }
}

/// `{"name", "arguments"}` of an OpenAI tool call (arguments as a JSON object, also when the
/// record holds them as a JSON string).
fn call_of(call: &Json) -> std::result::Result<Json, String> {
    let f = call.get("function").unwrap_or(call);
    let name = f
        .get("name")
        .and_then(Json::as_str)
        .ok_or("a tool call without a name")?;
    let arguments = match f.get("arguments") {
        Some(Json::String(s)) => {
            serde_json::from_str(s).unwrap_or_else(|_| Json::String(s.clone()))
        }
        Some(v) => v.clone(),
        None => json!({}),
    };
    Ok(json!({ "name": name, "arguments": arguments }))
}

/// Converts an OpenAI-chat trajectories file (`trainer synth` output, a run's
/// `iter_NNNN/trajectories.jsonl`) to ShareGPT JSONL at `output` (atomically; `output` may be
/// `input`).
pub fn convert_file(input: &Path, output: &Path) -> Result<ShareGptStats> {
    let text = std::fs::read_to_string(input).map_err(|e| Error::Input {
        path: input.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut stats = ShareGptStats::default();
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: Json = serde_json::from_str(line).map_err(|e| Error::Input {
            path: input.to_path_buf(),
            message: format!("line {}: {e}", n + 1),
        })?;
        let converted = if record.get("conversations").is_some() && record.get("messages").is_none()
        {
            check_sharegpt(&record).map(|()| (record.clone(), None))
        } else {
            to_sharegpt(&record).map(|(r, dropped)| (r, Some(dropped)))
        };
        match converted {
            Ok((r, None)) => {
                stats.already += 1;
                lines.push(r);
            }
            Ok((r, Some(dropped))) => {
                stats.converted += 1;
                stats.dropped_texts += dropped;
                lines.push(r);
            }
            Err(why) => {
                let id = record
                    .get("id")
                    .and_then(Json::as_str)
                    .map_or_else(|| format!("line {}", n + 1), str::to_string);
                stats.skipped.push((id, why));
            }
        }
    }
    if lines.is_empty() {
        if let Some((id, why)) = stats.skipped.first() {
            // A wrong input file: do not replace anything with an empty one.
            return Err(Error::Input {
                path: input.to_path_buf(),
                message: format!(
                    "no record could be converted ({} left out; {id}: {why}); nothing written",
                    stats.skipped.len()
                ),
            });
        }
    }
    super::output::write_jsonl(output, lines)?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, name: &str, args: Json) -> Json {
        json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}})
    }

    #[test]
    fn a_single_call_trajectory() {
        let rec = json!({
            "id": "t1", "category": "single",
            "messages": [
                {"role": "system", "content": "S"},
                {"role": "user", "content": "read MES-1"},
                {"role": "assistant", "content": "", "tool_calls": [call("c0", "read", json!({"id": "MES-1"}))]},
                {"role": "tool", "tool_call_id": "c0", "name": "read", "content": "{\"ok\":1}"},
                {"role": "assistant", "content": "Done."}
            ],
            "tools": [{"type": "function", "function": {"name": "read", "parameters": {"type": "object"}}}]
        });
        let (got, dropped) = to_sharegpt(&rec).unwrap();
        assert_eq!(dropped, 0);
        assert_eq!(
            got,
            json!({
                "conversations": [
                    {"from": "human", "value": "read MES-1"},
                    {"from": "function_call", "value": "{\"name\":\"read\",\"arguments\":{\"id\":\"MES-1\"}}"},
                    {"from": "observation", "value": "{\"ok\":1}"},
                    {"from": "gpt", "value": "Done."}
                ],
                "system": "S",
                "tools": "[{\"name\":\"read\",\"parameters\":{\"type\":\"object\"}}]",
                "id": "t1", "category": "single"
            })
        );
    }

    #[test]
    fn parallel_calls_become_a_list_and_their_results_one_observation() {
        let rec = json!({"messages": [
            {"role": "user", "content": "two"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                call("a", "f", json!("{\"x\": 1}")), call("b", "g", json!({}))]},
            {"role": "tool", "content": "A"},
            {"role": "tool", "content": "B"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "thanks"},
            {"role": "assistant", "content": "bye"}
        ]});
        let (got, dropped) = to_sharegpt(&rec).unwrap();
        assert_eq!(dropped, 1, "the text beside the calls");
        let thinking = json!({"messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a", "reasoning_content": "because"}]});
        let (t, _) = to_sharegpt(&thinking).unwrap();
        assert_eq!(
            t["conversations"][1]["value"],
            "<think>\nbecause\n</think>\n\na"
        );
        let turns = got["conversations"].as_array().unwrap();
        let froms: Vec<&str> = turns.iter().map(|t| t["from"].as_str().unwrap()).collect();
        assert_eq!(
            froms,
            [
                "human",
                "function_call",
                "observation",
                "gpt",
                "human",
                "gpt"
            ]
        );
        let calls: Json = serde_json::from_str(turns[1]["value"].as_str().unwrap()).unwrap();
        assert_eq!(
            calls,
            json!([{"name": "f", "arguments": {"x": 1}}, {"name": "g", "arguments": {}}])
        );
        assert_eq!(turns[2]["value"], "A\n</tool_response>\n<tool_response>\nB");
        assert!(got.get("system").is_none() && got.get("tools").is_none());
    }

    #[test]
    fn records_the_reader_would_skip_are_refused_with_the_reason() {
        let ends_with_tool = json!({"messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "tool_calls": [call("a", "f", json!({}))]},
            {"role": "tool", "content": "r"}
        ]});
        let err = to_sharegpt(&ends_with_tool).unwrap_err();
        assert!(err.contains("ends with a `observation` turn"), "{err}");
        let two_users = json!({"messages": [
            {"role": "user", "content": "q"}, {"role": "user", "content": "q2"},
            {"role": "assistant", "content": "a"}
        ]});
        let err = to_sharegpt(&two_users).unwrap_err();
        assert!(err.contains("turn 1 (`human`) follows `human`"), "{err}");
        let late_system = json!({"messages": [
            {"role": "user", "content": "q"}, {"role": "system", "content": "s"}
        ]});
        assert!(to_sharegpt(&late_system)
            .unwrap_err()
            .contains("role `system`"));
        assert!(to_sharegpt(&json!({})).is_err());
    }

    #[test]
    fn a_file_is_converted_in_place_and_bad_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        let good = json!({"id": "g", "messages": [
            {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]});
        let bad = json!({"id": "b", "messages": [{"role": "user", "content": "q"}]});
        std::fs::write(&p, format!("{good}\n\n{bad}\n")).unwrap();
        let stats = convert_file(&p, &p).unwrap();
        assert_eq!(stats.converted, 1);
        assert_eq!(stats.skipped.len(), 1);
        assert_eq!(stats.skipped[0].0, "b");
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("\"conversations\""));

        // Converting again passes the ShareGPT records through.
        let again = convert_file(&p, &p).unwrap();
        assert_eq!((again.converted, again.already), (0, 1));
        assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
        // A ShareGPT-looking record the reader would not take is left out too.
        let odd = json!({"conversations": [{"from": "human", "value": "q"}]});
        let r = dir.path().join("r.jsonl");
        std::fs::write(&r, format!("{odd}\n{good}\n")).unwrap();
        let s = convert_file(&r, &r).unwrap();
        assert_eq!((s.converted, s.already, s.skipped.len()), (1, 0, 1));
        assert!(
            s.skipped[0].1.contains("ends with a `human` turn"),
            "{:?}",
            s.skipped
        );
        let tools_list = json!({"conversations": [{"from": "human", "value": "q"},
            {"from": "gpt", "value": "a"}], "tools": []});
        assert!(check_sharegpt(&tools_list).unwrap_err().contains("`tools`"));
        // A file of which nothing converts is refused and left as it is.
        let q = dir.path().join("q.jsonl");
        std::fs::write(&q, format!("{bad}\n")).unwrap();
        let err = convert_file(&q, &q).unwrap_err().to_string();
        assert!(err.contains("no record could be converted"), "{err}");
        assert_eq!(std::fs::read_to_string(&q).unwrap(), format!("{bad}\n"));

        std::fs::write(&p, "{\"messages\": [}\n").unwrap();
        let err = convert_file(&p, &p).unwrap_err().to_string();
        assert!(err.contains("t.jsonl") && err.contains("line 1"), "{err}");
        let err = convert_file(&dir.path().join("none.jsonl"), &p).unwrap_err();
        assert!(err.to_string().contains("none.jsonl"), "{err}");
    }
}
