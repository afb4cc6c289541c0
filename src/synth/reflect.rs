//! Self-reflection of the Task Generation Agent (InfTool, DESIGN.md §1): a drafted task is
//! critiqued before any episode runs, and a flawed draft is revised (the planner redraws it; an
//! LLM user rewrites its message with the critique) or dropped. The critique names what is
//! wrong in words a model can act on.
//!
//! A task is flawed when the user's words and the blueprint disagree: a value the user knows is
//! not in the request; the withheld value of a missing-parameter task is already in it (so
//! asking for it would be wrong); an offered distractor does the same thing as an expected tool
//! (so the choice is a guess); an "irrelevant" request is about the offered tools after all; or
//! a message contains tool-call markup or drifts off the request.

use std::fmt;

use serde_json::Value as Json;

use super::canon::normalize_str;
use super::phrasing::{action, render_value};
use super::plan::{Category, Fact, Task};
use super::registry::Registry;
use super::words::{singular, tokens};

/// One problem of a drafted task or message.
#[derive(Debug, Clone, PartialEq)]
pub enum Flaw {
    /// A known value the message does not state.
    MissingValue { argument: String, value: Json },
    /// The withheld value already stated.
    LeakedWithheld { argument: String, value: Json },
    /// An offered distractor indistinguishable from an expected tool.
    AmbiguousTools {
        expected: String,
        distractor: String,
    },
    /// An irrelevance request that the offered tools do cover.
    RelevantAfterAll { overlap: f64 },
    /// Tool-call markup in a user message.
    ToolCallMarkup,
    /// A rewrite that keeps too little of the request's content words.
    OffTopic { recall: f64 },
    /// An empty message.
    Empty,
}

impl Flaw {
    /// A short snake_case name (statistics).
    pub fn kind(&self) -> &'static str {
        match self {
            Flaw::MissingValue { .. } => "missing_value",
            Flaw::LeakedWithheld { .. } => "leaked_withheld",
            Flaw::AmbiguousTools { .. } => "ambiguous_tools",
            Flaw::RelevantAfterAll { .. } => "relevant_after_all",
            Flaw::ToolCallMarkup => "tool_call_markup",
            Flaw::OffTopic { .. } => "off_topic",
            Flaw::Empty => "empty",
        }
    }
}

impl fmt::Display for Flaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flaw::MissingValue { argument, value } => write!(
                f,
                "it leaves out the {} ({}); state it exactly as written",
                super::words::humanize(argument),
                render_value(value)
            ),
            Flaw::LeakedWithheld { argument, value } => write!(
                f,
                "it already gives the {} ({}), which the user does not know yet; leave it out",
                super::words::humanize(argument),
                render_value(value)
            ),
            Flaw::AmbiguousTools {
                expected,
                distractor,
            } => write!(
                f,
                "the offered tools `{expected}` and `{distractor}` do the same thing, so the \
                 right one cannot be told apart"
            ),
            Flaw::RelevantAfterAll { overlap } => write!(
                f,
                "the request is meant to be out of scope but {:.0}% of its words are about the \
                 offered tools",
                overlap * 100.0
            ),
            Flaw::ToolCallMarkup => write!(f, "it contains tool-call markup; write plain text"),
            Flaw::OffTopic { recall } => write!(
                f,
                "it keeps only {:.0}% of the request's words; stay with the same request",
                recall * 100.0
            ),
            Flaw::Empty => write!(f, "it is empty"),
        }
    }
}

/// Whether `text` states `v` (anywhere, normalized): objects count as stated, arrays when every
/// item is.
pub fn mentions(text: &str, v: &Json) -> bool {
    let t = normalize_str(text);
    match v {
        Json::Array(items) => items.iter().all(|i| mentions(text, i)),
        Json::Object(_) => true,
        other => t.contains(&value_text(other)),
    }
}

fn value_text(v: &Json) -> String {
    normalize_str(&render_value(v).replace('"', ""))
}

/// Whether `text` states the scalar `v` as a whole word sequence (`3` is not stated by `2023`
/// or `3.5`); objects and arrays never count. For leaks, where a false alarm costs a redraw.
pub fn states_exactly(text: &str, v: &Json) -> bool {
    if v.is_object() || v.is_array() {
        return false;
    }
    let t = normalize_str(text);
    let needle = value_text(v);
    if needle.is_empty() {
        return false;
    }
    let bytes = t.as_bytes();
    let mut from = 0;
    while let Some(i) = t[from..].find(&needle) {
        let start = from + i;
        let end = start + needle.len();
        let word = |b: Option<&u8>| b.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        // A decimal point between digits continues the number.
        let dotted =
            |a: Option<&u8>, b: Option<&u8>| a == Some(&b'.') && b.is_some_and(u8::is_ascii_digit);
        let before = start.checked_sub(1).and_then(|j| bytes.get(j));
        let before2 = start.checked_sub(2).and_then(|j| bytes.get(j));
        let after = bytes.get(end);
        let after2 = bytes.get(end + 1);
        if !word(before) && !word(after) && !dotted(before, before2) && !dotted(after, after2) {
            return true;
        }
        from = start + needle.len().max(1);
    }
    false
}

/// Fraction of the content words (3+ letters) of `original` that `rewrite` still contains.
pub fn word_recall(original: &str, rewrite: &str) -> f64 {
    let have = tokens(rewrite);
    let want: Vec<String> = tokens(original)
        .into_iter()
        .filter(|w| w.len() > 2)
        .collect();
    if want.is_empty() {
        return 1.0;
    }
    want.iter().filter(|w| have.contains(w)).count() as f64 / want.len() as f64
}

#[rustfmt::skip]
const FUNCTION_WORDS: &[&str] = &[
    "a", "an", "the", "of", "for", "to", "in", "on", "by", "and", "or", "with", "from", "is",
    "are", "get", "list", "set", "return", "returns", "id", "this", "that", "given", "new",
    "you", "could", "please", "can", "need", "like", "use", "help", "details", "want",
];

/// Content words, singular, sorted and deduplicated.
pub fn content_words(text: &str) -> Vec<String> {
    let mut w: Vec<String> = tokens(text)
        .into_iter()
        .filter(|w| w.len() > 2 && !FUNCTION_WORDS.contains(&w.as_str()))
        .map(|w| singular(&w))
        .collect();
    w.sort();
    w.dedup();
    w
}

/// Fraction of `a`'s words that also occur in `b`.
pub fn overlap(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    a.iter().filter(|w| b.contains(w)).count() as f64 / a.len() as f64
}

/// Share of an irrelevance request's content words found in the offered tools' names and
/// descriptions from which it counts as relevant after all.
pub const RELEVANT_OVERLAP: f64 = 0.5;

/// The flaws of a drafted task: its opening message against its blueprint and offered tools.
pub fn critique_task(task: &Task, registry: &Registry) -> Vec<Flaw> {
    let mut flaws = critique_message(task, &task.request);
    let expected: Vec<&str> = task.steps.iter().map(|s| s.tool.as_str()).collect();
    let sig = |name: &str| {
        registry.get(name).map(|e| {
            (
                action(&e.tool.name, &e.tool.description),
                normalize_str(&e.tool.description),
            )
        })
    };
    for &x in &expected {
        let Some((ax, dx)) = sig(x) else { continue };
        for d in task
            .tools
            .iter()
            .filter(|t| !expected.contains(&t.as_str()))
        {
            if let Some((ad, dd)) = sig(d) {
                if ad == ax || (!dx.is_empty() && dd == dx) {
                    flaws.push(Flaw::AmbiguousTools {
                        expected: x.to_string(),
                        distractor: d.clone(),
                    });
                }
            }
        }
    }
    if task.category == Category::Irrelevance {
        let offered: Vec<String> = task
            .tools
            .iter()
            .filter_map(|n| registry.get(n))
            .flat_map(|e| content_words(&e.context()))
            .collect();
        let o = overlap(&content_words(task.need()), &offered);
        if o >= RELEVANT_OVERLAP {
            flaws.push(Flaw::RelevantAfterAll { overlap: o });
        }
    }
    flaws
}

/// The flaws of a user message that opens `task`: every known value stated, the withheld one
/// not, no markup, and (for a rewrite) still about the same need.
pub fn critique_message(task: &Task, text: &str) -> Vec<Flaw> {
    let t = text.trim();
    let mut flaws = critique_text(t);
    if flaws.first() == Some(&Flaw::Empty) {
        return flaws;
    }
    for f in &task.facts {
        if task.withheld.as_ref() != Some(f) {
            require_value(t, f, &mut flaws);
        }
    }
    if let Some(w) = &task.withheld {
        if states_exactly(t, &w.value) {
            flaws.push(Flaw::LeakedWithheld {
                argument: w.argument.clone(),
                value: w.value.clone(),
            });
        }
    }
    if t != task.request {
        let recall = word_recall(task.need(), t);
        if recall < 0.5 {
            flaws.push(Flaw::OffTopic { recall });
        }
    }
    flaws
}

/// The flaws of a user's answer to a clarifying question, which must give `withheld`'s value.
pub fn critique_answer(withheld: &Fact, text: &str) -> Vec<Flaw> {
    let t = text.trim();
    let mut flaws = critique_text(t);
    require_value(t, withheld, &mut flaws);
    flaws
}

/// Flaws of any user message on its own: empty, or carrying tool-call markup.
fn critique_text(t: &str) -> Vec<Flaw> {
    if t.is_empty() {
        vec![Flaw::Empty]
    } else if t.contains("<tool_call>") {
        vec![Flaw::ToolCallMarkup]
    } else {
        Vec::new()
    }
}

fn require_value(t: &str, fact: &Fact, flaws: &mut Vec<Flaw>) {
    if !mentions(t, &fact.value) {
        flaws.push(Flaw::MissingValue {
            argument: fact.argument.clone(),
            value: fact.value.clone(),
        });
    }
}

/// The critique as one paragraph for a model.
pub fn explain(flaws: &[Flaw]) -> String {
    let parts: Vec<String> = flaws.iter().map(|f| format!("- {f}")).collect();
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exact_statements_are_word_bounded() {
        assert!(states_exactly("Use 3 nights", &json!(3)));
        assert!(states_exactly("days: 3.", &json!(3)));
        assert!(!states_exactly("in 2023", &json!(3)));
        assert!(!states_exactly("ratio 3.5", &json!(3)));
        assert!(!states_exactly("ratio 0.3", &json!(3)));
        assert!(states_exactly("ratio 3.5", &json!(3.5)));
        assert!(states_exactly(
            "for \"New York\" please",
            &json!("New York")
        ));
        assert!(!states_exactly("in New Yorkshire", &json!("New York")));
        assert!(!states_exactly("anything", &json!({"a": 1})));
        assert!(mentions(
            "Book it for \"Maria Lopez\" please",
            &json!("Maria Lopez")
        ));
        assert!(mentions("3 nights", &json!(3)));
        assert!(!mentions("two nights", &json!(3)));
        assert_eq!(
            word_recall("Book a hotel in Paris", "Please book some hotel in Paris"),
            1.0
        );
        assert!(word_recall("Book a hotel in Paris", "I work on an AI assistant") < 0.5);
    }
}
