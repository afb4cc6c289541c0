//! The model as the MCP tree's semantic discriminator: each candidate group of similar tools is
//! shown to a model (the simulators' backend, adapter off, greedy) that names the redundant
//! sets and writes one clarified name and description for each. The answer is checked — the
//! first JSON object with a `redundant` list (prose and code fences around it are skipped),
//! every name one of the group's, no tool in two sets, no set of tools whose names name
//! different actions (`get_user` with `delete_user`) — and an answer that fails any check is
//! replaced by the deterministic rule's verdict on that group (counted, and logged with the
//! reason); so is every answer when the model call itself fails. The proposed name is
//! sanitized to a function name. The merged parameter schema is always built by the
//! consolidation rules, never written by the model.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{json, Value as Json};

use super::refine::{conflicting_actions, rule_verdicts, Discriminator, Verdict};
use super::Result;
use crate::backend::{ChatBackend, ChatRequest, GenParams};
use crate::engine::SamplingParams;
use crate::specs::{sanitize_tool_name, Tool};

/// Longest merged description kept from a model answer (characters).
const MAX_DESCRIPTION: usize = 1024;

const SYSTEM: &str = "You review API tool definitions for redundancy. Two tools are redundant \
when they do the same thing with the same inputs and differ only in wording, naming or version \
(for example the same operation in two versions of one API). Tools that do different things - \
read versus write, search versus book, send versus reply - are not redundant, however alike \
they look. Answer with JSON only.";

/// The model-driven discriminator.
pub struct LlmDiscriminator<'a> {
    /// The model.
    pub backend: &'a dyn ChatBackend,
    /// Tokens per answer.
    pub max_new_tokens: usize,
    /// Seed of the requests.
    pub seed: u64,
    fallbacks: AtomicUsize,
}

impl<'a> LlmDiscriminator<'a> {
    /// A discriminator on `backend` (greedy answers of at most 384 tokens, or 128 + 48 per
    /// tool of the largest group when that is more).
    pub fn new(backend: &'a dyn ChatBackend, seed: u64) -> Self {
        LlmDiscriminator {
            backend,
            max_new_tokens: 384,
            seed,
            fallbacks: AtomicUsize::new(0),
        }
    }
}

/// The user message listing one group's tools and the answer format.
pub fn prompt(group: &[&Tool]) -> String {
    let mut text = String::from("Tools:\n");
    for (i, t) in group.iter().enumerate() {
        let required: BTreeSet<&str> = t
            .parameters
            .get("required")
            .and_then(Json::as_array)
            .map(|r| r.iter().filter_map(Json::as_str).collect())
            .unwrap_or_default();
        let params: Vec<String> = t
            .parameters
            .get("properties")
            .and_then(Json::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let ty = v.get("type").and_then(Json::as_str).unwrap_or("any");
                        let req = if required.contains(k.as_str()) {
                            ", required"
                        } else {
                            ""
                        };
                        format!("{k} ({ty}{req})")
                    })
                    .collect()
            })
            .unwrap_or_default();
        text.push_str(&format!(
            "{}. name: {}\n   description: {}\n   parameters: {}\n",
            i + 1,
            t.name,
            t.description.trim(),
            if params.is_empty() {
                "none".to_string()
            } else {
                params.join(", ")
            }
        ));
    }
    text.push_str(
        "\nWhich of these tools are redundant with each other? Answer with one JSON object: \
         {\"redundant\": [{\"tools\": [\"<name>\", \"<name>\"], \"name\": \"<one clear function \
         name>\", \"description\": \"<one clarified description>\"}]}. List each set of \
         redundant tools once; leave unique tools out; answer {\"redundant\": []} when every \
         tool is unique.",
    );
    text
}

/// The first JSON object in `text` that has a `redundant` key (prose, code fences and other
/// objects around it are skipped).
fn answer_object(text: &str) -> std::result::Result<Json, String> {
    let mut first_error = None;
    for (i, _) in text.match_indices('{') {
        let mut stream = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Json>();
        match stream.next() {
            Some(Ok(v)) if v.get("redundant").is_some() => return Ok(v),
            Some(Err(e)) if first_error.is_none() => first_error = Some(e.to_string()),
            _ => {}
        }
    }
    Err(match first_error {
        Some(e) => {
            format!("no JSON object with a `redundant` list in the answer (first error: {e})")
        }
        None => "no JSON object with a `redundant` list in the answer".into(),
    })
}

/// Parses and checks a model answer for `group` (`Err` names what is wrong).
pub fn parse_answer(text: &str, group: &[&Tool]) -> std::result::Result<Vec<Verdict>, String> {
    let value = answer_object(text)?;
    let sets = value
        .get("redundant")
        .and_then(Json::as_array)
        .ok_or("`redundant` is not a list")?;
    let mut used = BTreeSet::new();
    let mut out = Vec::new();
    for (k, set) in sets.iter().enumerate() {
        let names = set
            .get("tools")
            .and_then(Json::as_array)
            .ok_or(format!("redundant[{k}] has no `tools` list"))?;
        let mut members = Vec::new();
        for n in names {
            let n = n
                .as_str()
                .ok_or(format!("redundant[{k}].tools holds a non-string: {n}"))?;
            let i = group.iter().position(|t| t.name == n).ok_or(format!(
                "redundant[{k}] names `{n}`, which is not in the group"
            ))?;
            if !members.contains(&i) {
                if !used.insert(i) {
                    return Err(format!("`{n}` is in two redundant sets"));
                }
                members.push(i);
            }
        }
        if members.len() < 2 {
            return Err(format!("redundant[{k}] names fewer than two tools"));
        }
        for (x, &a) in members.iter().enumerate() {
            for &b in &members[x + 1..] {
                if conflicting_actions(group[a], group[b]) {
                    return Err(format!(
                        "redundant[{k}] merges `{}` and `{}`, whose names name different actions",
                        group[a].name, group[b].name
                    ));
                }
            }
        }
        members.sort_unstable();
        let name = set
            .get("name")
            .and_then(Json::as_str)
            .map(sanitize_tool_name)
            .filter(|n| !n.is_empty());
        let description = set
            .get("description")
            .and_then(Json::as_str)
            .map(|d| d.trim().chars().take(MAX_DESCRIPTION).collect::<String>())
            .filter(|d| !d.is_empty());
        out.push(Verdict {
            members,
            name,
            description,
            by: "llm",
        });
    }
    Ok(out)
}

impl Discriminator for LlmDiscriminator<'_> {
    fn judge(&self, groups: &[Vec<&Tool>]) -> Result<Vec<Vec<Verdict>>> {
        let requests: Vec<ChatRequest> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| ChatRequest {
                task_id: None,
                messages: vec![
                    json!({"role": "system", "content": SYSTEM}),
                    json!({"role": "user", "content": prompt(g)}),
                ],
                tools: Vec::new(),
                seed: self.seed.wrapping_add(i as u64),
                adapter: false,
                history_ids: Vec::new(),
            })
            .collect();
        let largest = groups.iter().map(Vec::len).max().unwrap_or(0);
        let params = GenParams {
            sampling: SamplingParams {
                temperature: 0.0,
                top_k: 0,
                top_p: 1.0,
            },
            // Room for every tool's name twice plus a name and description per set.
            max_new_tokens: self.max_new_tokens.max(128 + 48 * largest),
        };
        let answers = match self.backend.complete(&requests, &params) {
            Ok(a) => a,
            Err(e) => {
                self.fallbacks.fetch_add(groups.len(), Ordering::Relaxed);
                tracing::warn!(
                    "refinement: the discriminator model failed ({e}); the rule decides all {} \
                     candidate groups",
                    groups.len()
                );
                return Ok(groups.iter().map(|g| rule_verdicts(g)).collect());
            }
        };
        Ok(groups
            .iter()
            .zip(answers)
            .map(|(g, a)| match parse_answer(&a.text, g) {
                Ok(v) => v,
                Err(why) => {
                    self.fallbacks.fetch_add(1, Ordering::Relaxed);
                    let names: Vec<&str> = g.iter().map(|t| t.name.as_str()).collect();
                    tracing::warn!(
                        "refinement: the model's answer on {names:?} is unusable ({why}); \
                         the rule decides that group"
                    );
                    rule_verdicts(g)
                }
            })
            .collect())
    }

    fn fallbacks(&self) -> usize {
        self.fallbacks.load(Ordering::Relaxed)
    }
}
