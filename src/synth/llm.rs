//! LLM-driven simulators ("llm" mode): the same interfaces as the programmatic ones, with a
//! model behind a [`ChatBackend`] (the base model, adapter off) writing the user's messages and
//! the server's results. Every model output is checked by the same rules the programmatic
//! simulators follow, and replaced by the programmatic output when it fails them: a user
//! message must keep every value it should say (and not leak the withheld one); a result must
//! be JSON that validates against the response schema and keeps the episode's known values.
//! Fallbacks are counted.

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Map, Value as Json};

use super::canon::normalize_str;
use super::error::Result;
use super::phrasing::render_value;
use super::plan::Task;
use super::registry::{compile, Registry};
use super::server::{schema_result, ContentRequest, ResultGenerator};
use super::user::{decide, last_text, UserAction, UserSimulator, UserTurn};
use super::words::tokens;
use crate::backend::{ChatBackend, ChatRequest, GenParams};

fn request(system: String, user: String, seed: u64) -> ChatRequest {
    ChatRequest {
        messages: vec![
            json!({"role": "system", "content": system}),
            json!({"role": "user", "content": user}),
        ],
        tools: Vec::new(),
        seed,
        adapter: false,
    }
}

fn mentions(text: &str, v: &Json) -> bool {
    let t = normalize_str(text);
    match v {
        Json::Array(items) => items.iter().all(|i| mentions(text, i)),
        Json::Object(_) => true,
        other => t.contains(&normalize_str(&render_value(other).replace('"', ""))),
    }
}

/// Fraction of the content words (3+ letters) of `original` that `rewrite` still contains: a
/// paraphrase must stay about the same thing.
fn word_recall(original: &str, rewrite: &str) -> f64 {
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

/// The LLM-driven user simulator.
pub struct LlmUser<'a> {
    /// The model.
    pub backend: &'a dyn ChatBackend,
    /// Its sampling.
    pub gen: GenParams,
    /// Model outputs replaced by the programmatic ones.
    pub fallbacks: AtomicUsize,
}

impl<'a> LlmUser<'a> {
    /// A user simulator on `backend`.
    pub fn new(backend: &'a dyn ChatBackend, gen: GenParams) -> Self {
        LlmUser {
            backend,
            gen,
            fallbacks: AtomicUsize::new(0),
        }
    }

    fn checked(
        &self,
        text: &str,
        must: &[&Json],
        must_not: Option<&Json>,
        fallback: &str,
    ) -> String {
        let t = text.trim();
        let ok = !t.is_empty()
            && !t.contains("<tool_call>")
            && word_recall(fallback, t) >= 0.5
            && must.iter().all(|v| mentions(t, v))
            && must_not.is_none_or(|v| !mentions(t, v));
        if ok {
            t.to_string()
        } else {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            fallback.to_string()
        }
    }
}

impl UserSimulator for LlmUser<'_> {
    fn opening(&self, tasks: &[&Task]) -> Result<Vec<String>> {
        let reqs: Vec<ChatRequest> = tasks
            .iter()
            .map(|t| {
                request(
                    "You play a user talking to an AI assistant. Rewrite the request below as one \
                     natural message from that user. Keep every value exactly as written (names, \
                     numbers, dates, ids). Do not add anything. Reply with the message only."
                        .into(),
                    t.request.clone(),
                    t.seed ^ 0x5eed,
                )
            })
            .collect();
        let outs = self.backend.complete(&reqs, &self.gen)?;
        Ok(tasks
            .iter()
            .zip(outs)
            .map(|(t, o)| {
                let withheld = t.withheld.as_ref().map(|w| &w.value);
                let must: Vec<&Json> = t
                    .facts
                    .iter()
                    .filter(|f| t.withheld.as_ref() != Some(*f))
                    .map(|f| &f.value)
                    .collect();
                self.checked(&o.text, &must, withheld, &t.request)
            })
            .collect())
    }

    fn reply(&self, turns: &[UserTurn<'_>]) -> Result<Vec<UserAction>> {
        let mut actions: Vec<UserAction> = turns.iter().map(decide).collect();
        let reveal: Vec<usize> = actions
            .iter()
            .enumerate()
            .filter(|(_, a)| matches!(a, UserAction::Reveal(_)))
            .map(|(i, _)| i)
            .collect();
        if reveal.is_empty() {
            return Ok(actions);
        }
        let reqs: Vec<ChatRequest> = reveal
            .iter()
            .filter_map(|&i| {
                let t = &turns[i];
                let w = t.task.withheld.as_ref()?;
                Some(request(
                    format!(
                        "You play a user talking to an AI assistant. Your original request was: {}\n\
                         Answer the assistant's question briefly. The fact it needs: {} = {}. \
                         Reply with the message only.",
                        t.task.request,
                        w.argument,
                        render_value(&w.value)
                    ),
                    last_text(t.messages).to_string(),
                    t.seed,
                ))
            })
            .collect();
        let outs = self.backend.complete(&reqs, &self.gen)?;
        for (&i, o) in reveal.iter().zip(outs) {
            let Some(w) = turns[i].task.withheld.as_ref() else {
                continue;
            };
            if let UserAction::Reveal(fallback) = &actions[i] {
                let text = self.checked(&o.text, &[&w.value], None, fallback);
                actions[i] = UserAction::Reveal(text);
            }
        }
        Ok(actions)
    }
}

/// The LLM-driven server result generator.
pub struct LlmServer<'a> {
    /// The model.
    pub backend: &'a dyn ChatBackend,
    /// Its sampling.
    pub gen: GenParams,
    /// Model outputs replaced by programmatic results.
    pub fallbacks: AtomicUsize,
}

impl<'a> LlmServer<'a> {
    /// A server simulator on `backend`.
    pub fn new(backend: &'a dyn ChatBackend, gen: GenParams) -> Self {
        LlmServer {
            backend,
            gen,
            fallbacks: AtomicUsize::new(0),
        }
    }
}

/// The first JSON value in a text (after any prose or code fence).
pub fn first_json(text: &str) -> Option<Json> {
    let start = text.find(['{', '['])?;
    let mut stream = serde_json::Deserializer::from_str(&text[start..]).into_iter::<Json>();
    stream.next()?.ok()
}

fn apply_overrides(v: &mut Json, overrides: &Map<String, Json>) {
    if let Json::Object(m) = v {
        for (k, x) in overrides {
            if let Some(slot) = m.get_mut(k) {
                if !slot.is_object() && !slot.is_array() {
                    *slot = x.clone();
                }
            }
        }
    }
}

impl ResultGenerator for LlmServer<'_> {
    fn generate(&self, registry: &Registry, requests: &[ContentRequest]) -> Result<Vec<Json>> {
        let reqs: Vec<ChatRequest> = requests
            .iter()
            .map(|r| {
                let (desc, schema) = registry
                    .get(&r.tool)
                    .map(|e| (e.tool.description.clone(), e.response.clone()))
                    .unwrap_or_default();
                request(
                    format!(
                        "You simulate the API tool `{}`: {desc}\nReply with one JSON value only: the \
                         tool's result for the call. It must conform to this JSON Schema: {schema}\n\
                         Fields with these names must have these values: {}",
                        r.tool,
                        Json::Object(r.overrides.clone())
                    ),
                    format!("{}({})", r.tool, Json::Object(r.arguments.clone())),
                    r.seed,
                )
            })
            .collect();
        let outs = self.backend.complete(&reqs, &self.gen)?;
        Ok(requests
            .iter()
            .zip(outs)
            .map(|(r, o)| {
                let fallback = || schema_result(registry, r);
                let Some(entry) = registry.get(&r.tool) else {
                    return fallback();
                };
                let parsed = first_json(&o.text).map(|mut v| {
                    apply_overrides(&mut v, &r.overrides);
                    v
                });
                let valid = parsed
                    .as_ref()
                    .is_some_and(|v| compile(&entry.response).is_ok_and(|val| val.is_valid(v)));
                match parsed {
                    Some(v) if valid => v,
                    _ => {
                        self.fallbacks.fetch_add(1, Ordering::Relaxed);
                        fallback()
                    }
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_json_value() {
        assert_eq!(
            first_json("Sure! ```json\n{\"a\": 1}\n``` done"),
            Some(json!({"a": 1}))
        );
        assert_eq!(first_json("[1, 2] and {\"b\": 2}"), Some(json!([1, 2])));
        assert_eq!(first_json("no json here"), None);
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
