//! LLM-driven simulators ("llm" mode): the same interfaces as the programmatic ones, with a
//! model behind a [`ChatBackend`] (the base model, adapter off) writing the user's messages and
//! the server's results. Every model output is checked by the same rules the programmatic
//! simulators follow: a user message must keep every value it should say and not leak the
//! withheld one (a flawed one is revised once with the critique, then replaced by the
//! programmatic message); a result must be JSON that validates against the response schema and
//! keeps the episode's known values (else the programmatic result). Revisions and fallbacks are
//! counted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::{json, Map, Value as Json};

use super::error::Result;
use super::phrasing::render_value;
use super::plan::Task;
use super::reflect::{critique_answer, critique_message, explain, Flaw};
use super::registry::{compile, Registry};
use super::scenario::Difficulty;
use super::server::{schema_result, ContentRequest, ResultGenerator};
use super::user::{decide, last_text, UserAction, UserSimulator, UserTurn};
use crate::backend::{ChatBackend, ChatRequest, GenParams};

fn request(system: String, user: String, seed: u64) -> ChatRequest {
    ChatRequest {
        task_id: None,
        messages: vec![
            json!({"role": "system", "content": system}),
            json!({"role": "user", "content": user}),
        ],
        tools: Vec::new(),
        seed,
        adapter: false,
        history_ids: Vec::new(),
    }
}

/// The LLM-driven user simulator. Its messages are critiqued like the planner's drafts
/// (`reflect::critique_message`); a flawed one gets one self-reflection round — the model sees
/// its draft and the critique and writes it again — before the programmatic message replaces it.
pub struct LlmUser<'a> {
    /// The model.
    pub backend: &'a dyn ChatBackend,
    /// Its sampling.
    pub gen: GenParams,
    /// Messages the model was asked to write.
    pub drafted: AtomicUsize,
    /// Messages the model rewrote successfully after a critique.
    pub revised: AtomicUsize,
    /// Model outputs replaced by the programmatic ones.
    pub fallbacks: AtomicUsize,
    /// Flaws of the first drafts, by kind.
    pub flaws: Mutex<BTreeMap<String, usize>>,
}

/// The checks of one message: its flaws (none = accepted).
type Critique<'t> = Box<dyn Fn(&str) -> Vec<Flaw> + 't>;

/// One message to write: the prompt, the programmatic message to fall back on, and the checks.
struct Draft<'t> {
    request: ChatRequest,
    fallback: String,
    critique: Critique<'t>,
}

/// How the user of a task of this difficulty words a request.
fn difficulty_hint(d: Difficulty) -> &'static str {
    match d {
        Difficulty::Easy => "Say plainly what you want and what each value is for.",
        Difficulty::Medium => "Write it naturally, as one message.",
        Difficulty::Hard => {
            "Write it the way a busy person would: give a little context about why you need \
             it, and do not use technical parameter names."
        }
    }
}

impl<'a> LlmUser<'a> {
    /// A user simulator on `backend`.
    pub fn new(backend: &'a dyn ChatBackend, gen: GenParams) -> Self {
        LlmUser {
            backend,
            gen,
            drafted: AtomicUsize::new(0),
            revised: AtomicUsize::new(0),
            fallbacks: AtomicUsize::new(0),
            flaws: Mutex::new(BTreeMap::new()),
        }
    }

    /// Writes every draft: one batched call, one batched revision call for the flawed ones,
    /// then the fallback for what is still flawed.
    fn write(&self, drafts: &[Draft<'_>]) -> Result<Vec<String>> {
        let reqs: Vec<ChatRequest> = drafts.iter().map(|d| d.request.clone()).collect();
        let outs = self.backend.complete(&reqs, &self.gen)?;
        self.drafted.fetch_add(drafts.len(), Ordering::Relaxed);
        let mut texts: Vec<Option<String>> = Vec::with_capacity(drafts.len());
        let mut retry: Vec<(usize, ChatRequest)> = Vec::new();
        for (i, (d, o)) in drafts.iter().zip(outs).enumerate() {
            let text = o.text.trim().to_string();
            let flaws = (d.critique)(&text);
            if flaws.is_empty() {
                texts.push(Some(text));
                continue;
            }
            texts.push(None);
            if let Ok(mut counts) = self.flaws.lock() {
                for f in &flaws {
                    *counts.entry(f.kind().to_string()).or_default() += 1;
                }
            }
            let mut r = d.request.clone();
            r.messages
                .push(json!({"role": "assistant", "content": text}));
            r.messages.push(json!({"role": "user", "content": format!(
                "That message has problems:\n{}\nWrite it again with them fixed. Reply with the \
                 message only.",
                explain(&flaws)
            )}));
            r.seed ^= 0x002e_715e;
            retry.push((i, r));
        }
        if !retry.is_empty() {
            let reqs: Vec<ChatRequest> = retry.iter().map(|(_, r)| r.clone()).collect();
            let outs = self.backend.complete(&reqs, &self.gen)?;
            for ((i, _), o) in retry.iter().zip(outs) {
                let text = o.text.trim().to_string();
                if (drafts[*i].critique)(&text).is_empty() {
                    self.revised.fetch_add(1, Ordering::Relaxed);
                    texts[*i] = Some(text);
                }
            }
        }
        Ok(texts
            .into_iter()
            .zip(drafts)
            .map(|(t, d)| {
                t.unwrap_or_else(|| {
                    self.fallbacks.fetch_add(1, Ordering::Relaxed);
                    d.fallback.clone()
                })
            })
            .collect())
    }
}

/// The persona sentence that opens a user prompt ("" without a persona).
fn speaker(task: &Task) -> String {
    task.persona
        .as_ref()
        .map(|p| format!("{} ", p.describe()))
        .unwrap_or_default()
}

impl UserSimulator for LlmUser<'_> {
    fn opening(&self, tasks: &[&Task]) -> Result<Vec<String>> {
        let drafts: Vec<Draft<'_>> = tasks
            .iter()
            .map(|&t| {
                let who = speaker(t);
                Draft {
                    request: request(
                        format!(
                            "You play a user talking to an AI assistant. {who}Rewrite the \
                             request below as one message from you. {} Keep every value exactly \
                             as written (names, numbers, dates, ids) and add no other values. \
                             Reply with the message only.",
                            difficulty_hint(t.difficulty)
                        ),
                        t.need().to_string(),
                        t.seed ^ 0x5eed,
                    ),
                    fallback: t.request.clone(),
                    critique: Box::new(move |text: &str| critique_message(t, text)),
                }
            })
            .collect();
        self.write(&drafts)
    }

    fn reply(&self, turns: &[UserTurn<'_>]) -> Result<Vec<UserAction>> {
        let mut actions: Vec<UserAction> = turns.iter().map(decide).collect();
        let mut at = Vec::new();
        let mut drafts = Vec::new();
        for (i, (turn, action)) in turns.iter().zip(&actions).enumerate() {
            let (UserAction::Reveal(fallback), Some(w)) = (action, turn.task.withheld.as_ref())
            else {
                continue;
            };
            let who = speaker(turn.task);
            at.push(i);
            drafts.push(Draft {
                request: request(
                    format!(
                        "You play a user talking to an AI assistant. {who}Your original request \
                         was: {}\nAnswer the assistant's question briefly. The fact it needs: \
                         {} = {}. Reply with the message only.",
                        turn.task.request,
                        w.argument,
                        render_value(&w.value)
                    ),
                    last_text(turn.messages).to_string(),
                    turn.seed,
                ),
                fallback: fallback.clone(),
                critique: Box::new(move |text: &str| critique_answer(w, text)),
            });
        }
        if drafts.is_empty() {
            return Ok(actions);
        }
        for (i, text) in at.into_iter().zip(self.write(&drafts)?) {
            actions[i] = UserAction::Reveal(text);
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

/// The user and server simulators a config asks for (`synth.user_simulator`,
/// `synth.server_simulator`): the LLM-driven ones on `backend`, else the programmatic ones.
pub struct Simulators<'a> {
    backend: &'a dyn ChatBackend,
    llm_user: Option<LlmUser<'a>>,
    llm_server: Option<LlmServer<'a>>,
}

impl<'a> Simulators<'a> {
    /// The simulators of `cfg`; the LLM ones sample with some variety (temperature 0.7, top-p
    /// 0.95) up to `synth.simulator_max_new_tokens` tokens a message.
    pub fn new(cfg: &crate::config::SynthSection, backend: &'a dyn ChatBackend) -> Self {
        let gen = GenParams {
            sampling: crate::engine::SamplingParams {
                temperature: 0.7,
                top_k: 0,
                top_p: 0.95,
            },
            max_new_tokens: cfg.simulator_max_new_tokens,
        };
        Simulators {
            backend,
            llm_user: cfg.user_llm().then(|| LlmUser::new(backend, gen)),
            llm_server: cfg.server_llm().then(|| LlmServer::new(backend, gen)),
        }
    }

    pub fn user(&self) -> &dyn UserSimulator {
        match &self.llm_user {
            Some(u) => u,
            None => &super::user::ProgrammaticUser,
        }
    }

    pub fn server(&self) -> &dyn ResultGenerator {
        match &self.llm_server {
            Some(s) => s,
            None => &super::server::SchemaResults,
        }
    }

    /// Drops the LLM simulators' prefix cache: a run resumed at a later phase starts with an
    /// empty cache, and a reused prefix can change the computed numbers at rounding level, so
    /// every synthesis starts from the same (empty) cache.
    pub fn reset_cache(&self) {
        if self.llm_user.is_some() || self.llm_server.is_some() {
            self.backend.reset_cache();
        }
    }

    /// Adds the LLM user's self-reflection counts to `stats`; logs the server's fallbacks.
    pub fn record(&self, stats: &mut super::stats::Stats) {
        if let Some(u) = &self.llm_user {
            let r = &mut stats.reflection;
            r.user_revised = u.revised.load(Ordering::Relaxed);
            r.user_messages = u.drafted.load(Ordering::Relaxed);
            r.user_replaced = u.fallbacks.load(Ordering::Relaxed);
            if let Ok(flaws) = u.flaws.lock() {
                r.user_flaws = flaws.clone();
            }
        }
        let fallbacks = self
            .llm_server
            .as_ref()
            .map_or(0, |s| s.fallbacks.load(Ordering::Relaxed));
        if fallbacks > 0 {
            tracing::info!(
                fallbacks,
                "LLM server simulator outputs replaced by programmatic ones"
            );
        }
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
    }
}
