//! The MCP Server simulator.
//!
//! [`ServerState`] is the per-episode, deterministic shell every mode shares: it checks that the
//! tool is offered, validates the arguments against the tool's JSON Schema (a structured error
//! listing each violation by JSON pointer), injects the task's planned failure on the first
//! attempt, and answers a repeated call with the same result. A call that passes gets its
//! result from a [`ResultGenerator`] — programmatic ([`SchemaResults`]: a value conforming to
//! the response schema) or LLM-driven — and the state keeps the episode consistent: scalar
//! arguments are echoed into same-named result fields, and every object with an id field is
//! remembered, so a later call that names that id sees the same entity.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use super::canon::canonical_string;
use super::error::Result;
use super::plan::Task;
use super::registry::Registry;
use super::values::{GenOptions, ValueGen};
use super::words::{derive_seed, humanize};

/// How a call was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// A normal result.
    Ok,
    /// The tool is not offered in this episode.
    UnknownTool,
    /// The arguments violate the tool's schema.
    InvalidArguments,
    /// The planned failure of an error-recovery task.
    Injected,
    /// A real (external MCP) tool answered with an error (`isError: true`).
    ToolError,
}

/// A call's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The result (or structured error) JSON.
    pub content: Json,
    /// How it was answered.
    pub status: CallStatus,
}

/// A valid call that needs a fresh result.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentRequest {
    /// Tool name.
    pub tool: String,
    /// The call's arguments.
    pub arguments: Map<String, Json>,
    /// Result fields that must take these values (echoed arguments, known entities).
    pub overrides: Map<String, Json>,
    /// Seed for this call's result.
    pub seed: u64,
}

/// Answer of [`ServerState::precheck`].
#[derive(Debug, Clone, PartialEq)]
pub enum Precheck {
    /// Answered without generating (error, injected failure or repeated call).
    Done(ToolResult),
    /// Valid and new: generate a result, then [`ServerState::commit`] it.
    Generate(ContentRequest),
}

/// Produces results for valid calls, batched over episodes.
pub trait ResultGenerator {
    /// One result per request, in order.
    fn generate(&self, registry: &Registry, requests: &[ContentRequest]) -> Result<Vec<Json>>;

    /// Like [`Self::generate`], with how each call was answered: a generator that executes
    /// calls for real (an external MCP server) reports tool errors as [`CallStatus::ToolError`].
    /// By default every result is [`CallStatus::Ok`].
    fn generate_with_status(
        &self,
        registry: &Registry,
        requests: &[ContentRequest],
    ) -> Result<Vec<(Json, CallStatus)>> {
        Ok(self
            .generate(registry, requests)?
            .into_iter()
            .map(|j| (j, CallStatus::Ok))
            .collect())
    }
}

/// Programmatic results: values drawn from the tool's response schema (or the synthesized one)
/// with the request's overrides, seeded by the call.
pub struct SchemaResults;

impl ResultGenerator for SchemaResults {
    fn generate(&self, registry: &Registry, requests: &[ContentRequest]) -> Result<Vec<Json>> {
        Ok(requests
            .iter()
            .map(|r| schema_result(registry, r))
            .collect())
    }
}

/// One programmatic result.
pub fn schema_result(registry: &Registry, r: &ContentRequest) -> Json {
    let Some(entry) = registry.get(&r.tool) else {
        return json!({});
    };
    let mut rng = ChaCha8Rng::seed_from_u64(r.seed);
    let opts = GenOptions {
        nested_optional: 0.7,
        ..GenOptions::default()
    };
    let mut g = ValueGen::new(&mut rng, &entry.context(), opts).with_overrides(r.overrides.clone());
    let schema = super::schema::effective(&entry.response);
    match super::schema::kind(&schema) {
        super::schema::Kind::Object => Json::Object(g.object(&schema, 0.7, 0)),
        _ => g.value(&schema, &r.tool),
    }
}

/// Per-episode server state.
pub struct ServerState {
    offered: Vec<String>,
    seed: u64,
    inject: Option<(String, String, String)>,
    cache: BTreeMap<String, Json>,
    entities: BTreeMap<String, Map<String, Json>>,
}

/// `id`, `order_id`, `orderId`, `ORDER_ID`.
fn is_id_key(k: &str) -> bool {
    k.eq_ignore_ascii_case("id") || k.ends_with("_id") || k.ends_with("_ID") || k.ends_with("Id")
}

fn id_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl ServerState {
    /// The server of one episode of `task`.
    pub fn new(task: &Task) -> ServerState {
        let inject = task.inject_error.as_ref().and_then(|e| {
            task.steps
                .get(e.step)
                .map(|s| (s.tool.clone(), e.code.clone(), e.message.clone()))
        });
        ServerState {
            offered: task.tools.clone(),
            seed: task.seed,
            inject,
            cache: BTreeMap::new(),
            entities: BTreeMap::new(),
        }
    }

    /// The server of a session that offers `offered` with no planned failure (as `trainer
    /// mcp-serve` runs it); results are seeded by `seed`.
    pub fn for_tools(offered: Vec<String>, seed: u64) -> ServerState {
        ServerState {
            offered,
            seed,
            inject: None,
            cache: BTreeMap::new(),
            entities: BTreeMap::new(),
        }
    }

    /// Checks a call; answers it directly when it fails or repeats an earlier call.
    pub fn precheck(
        &mut self,
        registry: &Registry,
        name: &str,
        arguments: &Map<String, Json>,
    ) -> Precheck {
        let entry = match registry.get(name) {
            Some(e) if self.offered.iter().any(|o| o == name) => e,
            _ => {
                return Precheck::Done(ToolResult {
                    content: json!({"error": {
                        "code": "UNKNOWN_TOOL",
                        "message": format!("There is no tool named `{name}`. Available tools: {}.", self.offered.join(", ")),
                        "retryable": false,
                    }}),
                    status: CallStatus::UnknownTool,
                })
            }
        };
        let args = Json::Object(arguments.clone());
        let violations = entry.violations(&args);
        if !violations.is_empty() {
            let details: Vec<Json> = violations
                .iter()
                .map(|v| json!({"pointer": v.pointer, "message": v.message}))
                .collect();
            return Precheck::Done(ToolResult {
                content: json!({"error": {
                    "code": "INVALID_ARGUMENTS",
                    "message": format!("The arguments of `{name}` do not match its schema."),
                    "details": details,
                    "retryable": true,
                }}),
                status: CallStatus::InvalidArguments,
            });
        }
        if let Some((tool, code, message)) = &self.inject {
            if tool == name {
                let content =
                    json!({"error": {"code": code, "message": message, "retryable": true}});
                self.inject = None;
                return Precheck::Done(ToolResult {
                    content,
                    status: CallStatus::Injected,
                });
            }
        }
        let key = format!("{name} {}", canonical_string(&args));
        if let Some(hit) = self.cache.get(&key) {
            return Precheck::Done(ToolResult {
                content: hit.clone(),
                status: CallStatus::Ok,
            });
        }
        let mut overrides = Map::new();
        // Known entities first, so that the call's own arguments win.
        for (k, v) in arguments {
            if is_id_key(k) {
                if let Some(e) = id_text(v).and_then(|t| self.entities.get(&t)) {
                    for (ek, ev) in e {
                        overrides.insert(ek.clone(), ev.clone());
                    }
                }
            }
        }
        for (k, v) in arguments {
            if !v.is_object() {
                overrides.insert(k.clone(), v.clone());
            }
        }
        if !entry.response_from_spec {
            overrides.insert("status".into(), json!("success"));
            overrides.insert(
                "message".into(),
                json!(format!(
                    "{} completed successfully.",
                    super::phrasing::cap(&humanize(name))
                )),
            );
        }
        Precheck::Generate(ContentRequest {
            tool: name.to_string(),
            arguments: arguments.clone(),
            overrides,
            seed: derive_seed(self.seed, &["call", &key]),
        })
    }

    /// Records a generated result (a repeated call inside one batch gets the first result).
    pub fn commit(&mut self, request: &ContentRequest, content: Json) -> ToolResult {
        self.commit_with_status(request, content, CallStatus::Ok)
    }

    /// [`Self::commit`] for a result whose status the generator reported: anything but
    /// [`CallStatus::Ok`] is passed through, neither cached nor remembered (a retry asks again).
    pub fn commit_with_status(
        &mut self,
        request: &ContentRequest,
        content: Json,
        status: CallStatus,
    ) -> ToolResult {
        if status != CallStatus::Ok {
            return ToolResult { content, status };
        }
        let key = format!(
            "{} {}",
            request.tool,
            canonical_string(&Json::Object(request.arguments.clone()))
        );
        if let Some(hit) = self.cache.get(&key) {
            return ToolResult {
                content: hit.clone(),
                status: CallStatus::Ok,
            };
        }
        self.remember(&content);
        self.cache.insert(key, content.clone());
        ToolResult {
            content,
            status: CallStatus::Ok,
        }
    }

    /// Stores every object of `v` that has an id field, by that id's text.
    fn remember(&mut self, v: &Json) {
        match v {
            Json::Object(m) => {
                let scalars: Map<String, Json> = m
                    .iter()
                    .filter(|(_, x)| !x.is_object() && !x.is_array())
                    .map(|(k, x)| (k.clone(), x.clone()))
                    .collect();
                for (k, x) in m {
                    if is_id_key(k) {
                        if let Some(t) = id_text(x) {
                            let e = self.entities.entry(t).or_default();
                            for (sk, sv) in &scalars {
                                e.entry(sk.clone()).or_insert_with(|| sv.clone());
                            }
                        }
                    }
                }
                m.values().for_each(|x| self.remember(x));
            }
            Json::Array(a) => a.iter().for_each(|x| self.remember(x)),
            _ => {}
        }
    }
}
