//! The verifier: a trajectory is kept only when it is right in every checkable way.
//!
//! Checks, in order (the first failure is the rejection reason):
//! format (every assistant turn parses cleanly and none was cut by the token limit); irrelevance
//! tasks make no call; every call names an offered tool with schema-valid arguments;
//! missing-parameter tasks ask before calling; the expected calls are all made (names, counts,
//! argument values under normalization; no unexpected arguments except schema defaults) and
//! every gated argument equals the value at its pointer in the result of the earlier call it
//! depends on, which came before it; error-recovery tasks retried after the injected failure;
//! no extra calls; the episode ends with a text answer that mentions a value the tools
//! returned; and it is not a near-duplicate of an accepted trajectory ([`Dedup`]).

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::canon::{canonical_string, normalize_str, values_match};
use super::episode::{CallRecord, Episode};
use super::plan::{Category, Step, Task};
use super::registry::Registry;
use super::server::CallStatus;
use super::words::{fnv1a, tokens};

/// Why a trajectory was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// An assistant turn did not parse cleanly as the tool-call format.
    FormatError,
    /// An assistant turn hit the token limit.
    Truncated,
    /// A call named a tool that is not offered.
    UnknownTool,
    /// A call's arguments violate the tool's schema.
    InvalidArguments,
    /// An irrelevance task got a call.
    IrrelevanceCalled,
    /// A missing-parameter task: the assistant never asked for the missing value.
    NoClarification,
    /// A missing-parameter task: the assistant called before the user gave the value.
    PrematureCall,
    /// An expected call was never made.
    MissingCall,
    /// The right tool was called with wrong argument values (or unexpected arguments).
    WrongArguments,
    /// A gated argument does not come from the earlier result it depends on.
    DependencyNotFromResult,
    /// An error-recovery task: no successful retry after the injected failure.
    NoRetry,
    /// A successful call that no expected call accounts for.
    ExtraCall,
    /// The episode did not end with a text answer (limits, or a call last).
    NoFinalAnswer,
    /// The final answer mentions none of the values the tools returned.
    AnswerInconsistent,
    /// Too similar to an accepted trajectory.
    NearDuplicate,
}

impl Reason {
    /// Every reason, in check order.
    pub const ALL: [Reason; 15] = [
        Reason::FormatError,
        Reason::Truncated,
        Reason::IrrelevanceCalled,
        Reason::UnknownTool,
        Reason::InvalidArguments,
        Reason::NoClarification,
        Reason::PrematureCall,
        Reason::MissingCall,
        Reason::WrongArguments,
        Reason::DependencyNotFromResult,
        Reason::NoRetry,
        Reason::ExtraCall,
        Reason::NoFinalAnswer,
        Reason::AnswerInconsistent,
        Reason::NearDuplicate,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::FormatError => "format_error",
            Reason::Truncated => "truncated",
            Reason::UnknownTool => "unknown_tool",
            Reason::InvalidArguments => "invalid_arguments",
            Reason::IrrelevanceCalled => "irrelevance_called",
            Reason::NoClarification => "no_clarification",
            Reason::PrematureCall => "premature_call",
            Reason::MissingCall => "missing_call",
            Reason::WrongArguments => "wrong_arguments",
            Reason::DependencyNotFromResult => "dependency_not_from_result",
            Reason::NoRetry => "no_retry",
            Reason::ExtraCall => "extra_call",
            Reason::NoFinalAnswer => "no_final_answer",
            Reason::AnswerInconsistent => "answer_inconsistent",
            Reason::NearDuplicate => "near_duplicate",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejection: the reason and what exactly failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// The reason.
    pub reason: Reason,
    /// Details (call, argument, expected and actual values).
    pub detail: String,
}

fn reject(reason: Reason, detail: impl Into<String>) -> Rejection {
    Rejection {
        reason,
        detail: detail.into(),
    }
}

enum ArgCheck {
    Ok,
    Wrong(String),
    Dependency(String),
}

/// The `default` of a tool's top-level argument in its parameter schema, if any.
pub fn schema_default(registry: &Registry, tool: &str, arg: &str) -> Option<Json> {
    registry
        .get(tool)?
        .tool
        .parameters
        .get("properties")?
        .get(arg)?
        .get("default")
        .cloned()
}

fn check_args(
    registry: &Registry,
    step: &Step,
    call: &CallRecord,
    calls: &[CallRecord],
    matched: &[Option<usize>],
) -> ArgCheck {
    for (k, expected) in &step.arguments {
        match call.arguments.get(k) {
            Some(actual) if values_match(expected, actual) => {}
            Some(actual) => {
                return ArgCheck::Wrong(format!(
                    "{}: argument `{k}` = {actual}, expected {expected}",
                    call.name
                ))
            }
            None => {
                return ArgCheck::Wrong(format!(
                    "{}: argument `{k}` missing (expected {expected})",
                    call.name
                ))
            }
        }
    }
    for link in &step.links {
        let producer = matched
            .get(link.from_step)
            .copied()
            .flatten()
            .and_then(|i| calls.get(i));
        let Some(producer) = producer else {
            return ArgCheck::Dependency(format!(
                "{}: `{}` depends on step {} which was not done",
                call.name, link.argument, link.from_step
            ));
        };
        if producer.result_index >= call.message_index {
            return ArgCheck::Dependency(format!(
                "{}: `{}` was sent before the result of {} arrived",
                call.name, link.argument, producer.name
            ));
        }
        let source = producer.result.pointer(&link.pointer);
        match (source, call.arguments.get(&link.argument)) {
            (Some(s), Some(a)) if values_match(s, a) => {}
            (s, a) => {
                return ArgCheck::Dependency(format!(
                    "{}: `{}` = {}, but {}#{} is {}",
                    call.name,
                    link.argument,
                    a.map_or("(missing)".into(), Json::to_string),
                    producer.name,
                    link.pointer,
                    s.map_or("(absent)".into(), Json::to_string)
                ))
            }
        }
    }
    for (k, v) in &call.arguments {
        let known = step.arguments.contains_key(k) || step.links.iter().any(|l| &l.argument == k);
        if !known && schema_default(registry, &call.name, k).is_none_or(|d| !values_match(&d, v)) {
            return ArgCheck::Wrong(format!("{}: unexpected argument `{k}` = {v}", call.name));
        }
    }
    ArgCheck::Ok
}

/// Which successful call satisfies each step (`None` = unmatched), steps taken in order and
/// calls greedily in order.
pub fn match_steps(registry: &Registry, task: &Task, calls: &[CallRecord]) -> Vec<Option<usize>> {
    let mut matched: Vec<Option<usize>> = vec![None; task.steps.len()];
    let mut used = vec![false; calls.len()];
    for (s, step) in task.steps.iter().enumerate() {
        for (i, call) in calls.iter().enumerate() {
            if used[i] || call.status != CallStatus::Ok || call.name != step.tool {
                continue;
            }
            if matches!(
                check_args(registry, step, call, calls, &matched),
                ArgCheck::Ok
            ) {
                matched[s] = Some(i);
                used[i] = true;
                break;
            }
        }
    }
    matched
}

/// Whether the task's goal is met by these calls: every step matched (irrelevance: no call).
pub fn goal_met(registry: &Registry, task: &Task, calls: &[CallRecord]) -> bool {
    if task.category == Category::Irrelevance {
        return calls.is_empty();
    }
    match_steps(registry, task, calls)
        .iter()
        .all(Option::is_some)
}

/// Verifies one episode (everything but near-duplicates).
pub fn verify(registry: &Registry, ep: &Episode) -> Result<(), Rejection> {
    let task = &ep.task;
    if let Some(p) = ep.format_problems.first() {
        return Err(reject(Reason::FormatError, p.clone()));
    }
    if ep.trajectory.turns.iter().any(|t| t.finish == "length") {
        return Err(reject(
            Reason::Truncated,
            "an assistant turn hit max_new_tokens",
        ));
    }
    let calls = &ep.calls;
    if task.category == Category::Irrelevance {
        if let Some(c) = calls.first() {
            return Err(reject(
                Reason::IrrelevanceCalled,
                format!("called `{}`", c.name),
            ));
        }
    }
    if let Some(c) = calls.iter().find(|c| c.status == CallStatus::UnknownTool) {
        return Err(reject(
            Reason::UnknownTool,
            format!("`{}` is not offered", c.name),
        ));
    }
    if let Some(c) = calls
        .iter()
        .find(|c| c.status == CallStatus::InvalidArguments)
    {
        return Err(reject(
            Reason::InvalidArguments,
            format!(
                "{}({}): {}",
                c.name,
                canonical_string(&Json::Object(c.arguments.clone())),
                c.result
            ),
        ));
    }
    if task.withheld.is_some() {
        match ep.revealed_at {
            None if calls.is_empty() => {
                return Err(reject(
                    Reason::NoClarification,
                    "the assistant never asked for the missing value",
                ))
            }
            None => {
                return Err(reject(
                    Reason::PrematureCall,
                    format!("called `{}` without asking", calls[0].name),
                ))
            }
            Some(at) => {
                if let Some(c) = calls.iter().find(|c| c.message_index < at) {
                    return Err(reject(
                        Reason::PrematureCall,
                        format!("called `{}` before the user answered", c.name),
                    ));
                }
            }
        }
    }
    let matched = match_steps(registry, task, calls);
    for (s, step) in task.steps.iter().enumerate() {
        if matched[s].is_some() {
            continue;
        }
        let injected = task.inject_error.as_ref().is_some_and(|e| e.step == s)
            && calls
                .iter()
                .any(|c| c.status == CallStatus::Injected && c.name == step.tool);
        let used: Vec<usize> = matched.iter().flatten().copied().collect();
        let tries: Vec<&CallRecord> = calls
            .iter()
            .enumerate()
            .filter(|(i, c)| !used.contains(i) && c.status == CallStatus::Ok && c.name == step.tool)
            .map(|(_, c)| c)
            .collect();
        if injected && tries.is_empty() {
            return Err(reject(
                Reason::NoRetry,
                format!("`{}` was not retried after the injected failure", step.tool),
            ));
        }
        let mut wrong = None;
        for c in &tries {
            match check_args(registry, step, c, calls, &matched) {
                ArgCheck::Dependency(d) => return Err(reject(Reason::DependencyNotFromResult, d)),
                ArgCheck::Wrong(d) => wrong = wrong.or(Some(d)),
                ArgCheck::Ok => {}
            }
        }
        return Err(match wrong {
            Some(d) => reject(Reason::WrongArguments, d),
            None => reject(
                Reason::MissingCall,
                format!("step {s}: `{}` was not called", step.tool),
            ),
        });
    }
    for (i, c) in calls.iter().enumerate() {
        if c.status == CallStatus::Ok && !matched.contains(&Some(i)) {
            return Err(reject(
                Reason::ExtraCall,
                format!(
                    "{}({})",
                    c.name,
                    canonical_string(&Json::Object(c.arguments.clone()))
                ),
            ));
        }
    }
    let Some(answer) = final_answer(ep) else {
        return Err(reject(
            Reason::NoFinalAnswer,
            format!("episode ended: {:?}", ep.outcome),
        ));
    };
    let facts: Vec<Json> = task.facts.iter().map(|f| f.value.clone()).collect();
    if !answer_consistent(answer, calls, &facts) {
        return Err(reject(
            Reason::AnswerInconsistent,
            format!("answer: {}", excerpt(answer)),
        ));
    }
    Ok(())
}

/// The episode's final text answer: the content of the last message when it is an assistant
/// message without tool calls (trimmed; `None` when absent or empty).
pub fn final_answer(ep: &Episode) -> Option<&str> {
    ep.trajectory
        .messages
        .last()
        .filter(|m| m.get("role").and_then(Json::as_str) == Some("assistant"))
        .filter(|m| m.get("tool_calls").is_none())
        .and_then(|m| m.get("content"))
        .and_then(Json::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn excerpt(s: &str) -> String {
    let cut: String = s.chars().take(160).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// Trivial result strings that do not show the answer used the result.
const TRIVIAL: &[&str] = &[
    "ok", "success", "true", "false", "null", "none", "yes", "no",
];

enum Leaf {
    Text(String),
    Num(f64),
}

fn leaves(v: &Json, out: &mut Vec<Leaf>) {
    match v {
        Json::String(s) => {
            let n = normalize_str(s);
            if n.chars().count() >= 3 && !TRIVIAL.contains(&n.as_str()) {
                out.push(Leaf::Text(n));
            }
        }
        Json::Number(n) => {
            if let Some(x) = n.as_f64() {
                out.push(Leaf::Num(x));
            }
        }
        Json::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        Json::Object(m) => m.values().for_each(|x| leaves(x, out)),
        _ => {}
    }
}

/// Numbers written in a text (`1,250.5` → 1250.5).
fn numbers_in(text: &str) -> Vec<f64> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let prev_digit = i > 0 && chars[i - 1].is_ascii_digit();
        let next_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if c.is_ascii_digit()
            || (c == '.' && prev_digit && next_digit)
            || (c == '-' && cur.is_empty() && next_digit)
        {
            cur.push(c);
        } else if c == ',' && prev_digit && next_digit {
            // thousands separator
        } else if !cur.is_empty() {
            if let Ok(x) = cur.parse() {
                out.push(x);
            }
            cur.clear();
        }
    }
    if let Ok(x) = cur.parse() {
        out.push(x);
    }
    out
}

/// Whether the answer mentions a value the tools returned: preferably one the user did not
/// already know (`facts`: the values the user gave); any returned value when all of them are
/// echoes of what the user said.
pub fn answer_consistent(answer: &str, calls: &[CallRecord], facts: &[Json]) -> bool {
    let ok: Vec<&CallRecord> = calls
        .iter()
        .filter(|c| c.status == CallStatus::Ok)
        .collect();
    if ok.is_empty() {
        return true;
    }
    let mut returned = Vec::new();
    for c in &ok {
        leaves(&c.result, &mut returned);
    }
    let mut given = Vec::new();
    for f in facts {
        leaves(f, &mut given);
    }
    let is_given = |l: &Leaf| {
        given.iter().any(|g| match (g, l) {
            (Leaf::Text(a), Leaf::Text(b)) => a == b,
            (Leaf::Num(a), Leaf::Num(b)) => (a - b).abs() < 1e-9,
            _ => false,
        })
    };
    let fresh: Vec<&Leaf> = returned.iter().filter(|l| !is_given(l)).collect();
    let pool: Vec<&Leaf> = if fresh.is_empty() {
        returned.iter().collect()
    } else {
        fresh
    };
    if pool.is_empty() {
        return true;
    }
    let text = normalize_str(answer);
    let nums = numbers_in(answer);
    pool.iter().any(|l| match l {
        Leaf::Text(s) => text.contains(s.as_str()),
        Leaf::Num(x) => nums
            .iter()
            .any(|y| (x - y).abs() <= 0.01 * x.abs().max(1.0)),
    })
}

/// Near-duplicate filter: normalized word 3-gram sets of the user messages, the calls and the
/// final answer; a trajectory whose Jaccard similarity with an accepted one reaches the
/// threshold is a near-duplicate.
pub struct Dedup {
    threshold: f64,
    seen: Vec<HashSet<u64>>,
}

impl Dedup {
    /// A filter with a Jaccard threshold in (0, 1].
    pub fn new(threshold: f64) -> Dedup {
        Dedup {
            threshold,
            seen: Vec::new(),
        }
    }

    /// The 3-gram hashes of an episode.
    pub fn shingles(ep: &Episode) -> HashSet<u64> {
        let mut text = String::new();
        for m in &ep.trajectory.messages {
            let role = m.get("role").and_then(Json::as_str).unwrap_or_default();
            if role == "user" || (role == "assistant" && m.get("tool_calls").is_none()) {
                text.push_str(m.get("content").and_then(Json::as_str).unwrap_or_default());
                text.push(' ');
            }
        }
        for c in &ep.calls {
            text.push_str(&c.name);
            text.push(' ');
            text.push_str(&canonical_string(&Json::Object(c.arguments.clone())));
            text.push(' ');
        }
        let words = tokens(&text);
        let mut out = HashSet::new();
        if words.len() < 3 {
            out.insert(fnv1a(words.join(" ").as_bytes()));
            return out;
        }
        for w in words.windows(3) {
            out.insert(fnv1a(w.join(" ").as_bytes()));
        }
        out
    }

    /// Rejects a near-duplicate of an accepted episode; otherwise accepts and remembers it.
    pub fn check(&mut self, ep: &Episode) -> Result<(), Rejection> {
        let s = Self::shingles(ep);
        for (i, other) in self.seen.iter().enumerate() {
            let inter = s.intersection(other).count();
            let union = s.len() + other.len() - inter;
            let j = if union == 0 {
                1.0
            } else {
                inter as f64 / union as f64
            };
            if j >= self.threshold {
                return Err(reject(
                    Reason::NearDuplicate,
                    format!("Jaccard {j:.3} with accepted trajectory #{i}"),
                ));
            }
        }
        self.seen.push(s);
        Ok(())
    }
}

/// Rejections counted by reason.
pub fn count_reasons<'a>(
    rejections: impl IntoIterator<Item = &'a Rejection>,
) -> BTreeMap<Reason, usize> {
    let mut m = BTreeMap::new();
    for r in rejections {
        *m.entry(r.reason).or_default() += 1;
    }
    m
}

/// Arguments as a map (the calls' arguments are objects by construction).
pub fn as_map(v: &Json) -> Map<String, Json> {
    v.as_object().cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_found() {
        assert_eq!(
            numbers_in("It costs 1,250.50 USD, -3 today."),
            vec![1250.5, -3.0]
        );
        assert_eq!(numbers_in("v2 at 10.5."), vec![2.0, 10.5]);
    }
}
