//! The rule-driven assistant ("teacher") that produces the closed loop's cold-start data when
//! the base model cannot call tools yet (`[loop] cold_start = "teacher"`).
//!
//! It plays each task's blueprint the way a competent tool-calling model would: it asks for a
//! withheld value, declines an irrelevant request, makes the expected calls (all at once for
//! parallel tasks, one per turn for gated multi-step ones, reading each dependent argument from
//! the earlier *actual* result at the blueprint's JSON pointer), retries after a server failure,
//! and ends with an answer that reports values the tools returned. It sits behind
//! [`ChatBackend`], so its episodes run through the same user and server simulators and the same
//! verifier as the policy's; it runs no model, so its completions carry no token ids (SFT renders
//! the accepted conversations with the chat template instead).

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};

use super::plan::{Category, Task};
use super::words::{derive_seed, humanize};
use crate::backend::{ChatBackend, ChatCompletion, ChatRequest, GenParams, Result};
use crate::chat::toolcall::{render_tool_calls, ToolCall};

/// The teacher: knows every task it may be asked about, found by the request's `task_id`
/// (set by the episode loop) or, without one, by the conversation's opening user message (the
/// planned request text; an LLM user simulator rephrases it, the id still finds the task).
pub struct Teacher {
    by_id: BTreeMap<String, Task>,
    by_request: BTreeMap<String, String>,
}

impl Teacher {
    /// A teacher for these tasks (when two tasks share a request text, the first wins that
    /// text).
    pub fn new(tasks: &[Task]) -> Teacher {
        let mut by_id = BTreeMap::new();
        let mut by_request = BTreeMap::new();
        for t in tasks {
            by_id.entry(t.id.clone()).or_insert_with(|| t.clone());
            by_request
                .entry(t.request.clone())
                .or_insert_with(|| t.id.clone());
        }
        Teacher { by_id, by_request }
    }

    /// The next assistant message text for a conversation of task `task_id` (when known).
    pub fn respond(&self, task_id: Option<&str>, messages: &[Json]) -> String {
        let opening = || {
            messages
                .iter()
                .find(|m| m["role"] == "user")
                .and_then(|m| m["content"].as_str())
                .and_then(|text| self.by_request.get(text))
        };
        let task = match task_id {
            Some(id) => self.by_id.get(id),
            None => opening().and_then(|id| self.by_id.get(id)),
        };
        match task {
            Some(task) => next_action(task, messages),
            None => "I am not sure what you need; could you describe the task again?".into(),
        }
    }
}

/// Tool results so far, parsed (non-JSON content becomes a string).
fn results(messages: &[Json]) -> Vec<Json> {
    messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            let c = m["content"].as_str().unwrap_or("");
            serde_json::from_str(c).unwrap_or_else(|_| Json::String(c.to_string()))
        })
        .collect()
}

fn calls(task: &Task, steps: std::ops::Range<usize>, res: &[Json]) -> String {
    let calls: Vec<ToolCall> = task
        .steps
        .get(steps)
        .unwrap_or(&[])
        .iter()
        .map(|s| {
            let mut args: Map<String, Json> = s.arguments.clone();
            for l in &s.links {
                if let Some(v) = res.get(l.from_step).and_then(|r| r.pointer(&l.pointer)) {
                    args.insert(l.argument.clone(), v.clone());
                }
            }
            ToolCall::new(s.tool.clone(), args)
        })
        .collect();
    render_tool_calls("", &calls)
}

fn next_action(task: &Task, messages: &[Json]) -> String {
    let res = results(messages);
    let n = task.steps.len();
    let last_failed = res.last().is_some_and(|r| r.get("error").is_some());
    match task.category {
        Category::Irrelevance => {
            "I'm sorry, but none of the tools I have can help with that request.".into()
        }
        Category::MissingParam => {
            let users = messages.iter().filter(|m| m["role"] == "user").count();
            match (&task.withheld, res.is_empty()) {
                (Some(w), true) if users < 2 => {
                    format!(
                        "I can do that. Which {} should I use?",
                        humanize(&w.argument)
                    )
                }
                (_, true) => calls(task, 0..n, &res),
                _ => answer(task, &res),
            }
        }
        Category::MultiStep => {
            let done = res.iter().filter(|r| r.get("error").is_none()).count();
            if done < n {
                calls(task, done..done + 1, &res)
            } else {
                answer(task, &res)
            }
        }
        _ if res.is_empty() || last_failed => calls(task, 0..n, &res),
        _ => answer(task, &res),
    }
}

/// Distinct string and number leaves of a result with their field names, depth-first.
fn leaves(v: &Json, key: &str, out: &mut Vec<(String, Json)>) {
    match v {
        Json::Object(m) => {
            for (k, x) in m {
                leaves(x, k, out);
            }
        }
        Json::Array(a) => {
            for x in a.iter().take(3) {
                leaves(x, key, out);
            }
        }
        // Flags say nothing the verifier can check an answer against (it grounds answers in
        // returned strings and numbers).
        Json::Null | Json::Bool(_) => {}
        other => {
            let pair = (key.to_string(), other.clone());
            if !out.contains(&pair) {
                out.push(pair);
            }
        }
    }
}

/// Openers of the closing answer, one picked per task: a single fixed opener (every answer starting
/// with the same word) becomes a strong first-token attractor for a small model, which then
/// "answers" before calling anything.
const OPENERS: [&str; 5] = [
    "",
    "Here is what I found: ",
    "All set. ",
    "Done. ",
    "I have it: ",
];

/// The closing answer: an opener, then up to two returned values the user did not already give.
fn answer(task: &Task, res: &[Json]) -> String {
    let given: Vec<&Json> = task.facts.iter().map(|f| &f.value).collect();
    let mut found = Vec::new();
    for r in res.iter().filter(|r| r.get("error").is_none()) {
        leaves(r, "result", &mut found);
    }
    let fresh: Vec<&(String, Json)> = found.iter().filter(|(_, v)| !given.contains(&v)).collect();
    let pick: Vec<&(String, Json)> = if fresh.is_empty() {
        found.iter().take(2).collect()
    } else {
        fresh.into_iter().take(2).collect()
    };
    if pick.is_empty() {
        return "Done: the request went through.".into();
    }
    let opener = OPENERS[(derive_seed(0, &[&task.id]) % OPENERS.len() as u64) as usize];
    let parts: Vec<String> = pick
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Json::String(s) => s.trim_end_matches('.').to_string(),
                other => other.to_string(),
            };
            format!("{} is {v}", humanize(k))
        })
        .collect();
    let text = format!("the {}.", parts.join(", and the "));
    match opener.is_empty() {
        true => super::phrasing::cap(&text),
        false if opener.ends_with(": ") => format!("{opener}{text}"),
        false => format!("{opener}{}", super::phrasing::cap(&text)),
    }
}

impl ChatBackend for Teacher {
    fn complete(&self, requests: &[ChatRequest], _: &GenParams) -> Result<Vec<ChatCompletion>> {
        Ok(requests
            .iter()
            .map(|r| ChatCompletion::from_text(self.respond(r.task_id.as_deref(), &r.messages)))
            .collect())
    }

    fn name(&self) -> &str {
        "teacher (rule-driven blueprint player)"
    }
}
