//! The MCP-tree refinement of a raw tool pool (InfTool; DESIGN.md §1): embed every tool
//! definition, group tools whose (mean-centred) embeddings are at least δ apart
//! ([`candidate_groups`]), let a discriminator split each group into redundant and unique
//! members, replace every redundant set by one consolidated definition, and repeat until a
//! pass merges nothing. Every merge is recorded ([`Merge`]) so a user can see which tools
//! became what.
//!
//! Discriminators: [`RuleDiscriminator`] (deterministic and conservative: two tools are
//! redundant when they take the same inputs — the same required parameters (names up to case,
//! separators and plurals), one's parameters a subset of the other's, the same types — and
//! serve the same purpose: the same name words up
//! to version tokens and verb synonyms, or the same description and names about the same
//! things, never two different action verbs) and
//! [`super::LlmDiscriminator`] (a model judges and words the merged definition).
//!
//! Consolidation keeps the most complete member (most parameters, then longest description)
//! as the representative: its name (unless the discriminator names the merged tool), its
//! schema, response schema and provenance; the other members' parameters that it lacks join
//! as optional ones; a parameter that another member treats as optional stops being required.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::embed::{definition_text, Embedder};
use super::similar::candidate_groups;
use super::Result;
use crate::specs::Tool;
use crate::synth::words::{singular, split_ident, tokens};

/// Refinement settings (`[synth.toolsets]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefineOptions {
    /// Centred cosine similarity from which two tools are merge candidates.
    pub threshold: f32,
    /// Passes at most.
    pub passes: usize,
    /// Tools per candidate group at most.
    pub max_candidates: usize,
}

/// One consolidation: redundant tools replaced by one definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Merge {
    /// Refinement pass (1-based).
    pub pass: usize,
    /// The discriminator that judged them redundant (`rule` or `llm`).
    pub by: String,
    /// The redundant tools, in pool order.
    pub tools: Vec<String>,
    /// Lowest centred cosine similarity between two of them.
    pub similarity: f32,
    /// Name of the consolidated tool.
    pub merged: String,
    /// Its description.
    pub description: String,
    /// Parameters it took from members other than the representative.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters_added: Vec<String>,
}

/// The refined pool.
#[derive(Debug, Clone)]
pub struct Refined {
    /// The tools after refinement, in input order (a merged tool takes its first member's place).
    pub tools: Vec<Tool>,
    /// Every merge, in order.
    pub merges: Vec<Merge>,
    /// Passes run.
    pub passes: usize,
    /// Candidate groups judged over all passes.
    pub candidate_groups: usize,
    /// Discriminator answers replaced by the rule (invalid model output).
    pub fallbacks: usize,
    /// Tools before and after the refinement.
    pub counts: (usize, usize),
}

impl Refined {
    /// One line for logs.
    pub fn summary(&self) -> String {
        format!(
            "{} tools -> {} ({} merges of {} tools; {} candidate groups judged in {} passes{})",
            self.counts.0,
            self.counts.1,
            self.merges.len(),
            self.merges.iter().map(|m| m.tools.len()).sum::<usize>(),
            self.candidate_groups,
            self.passes,
            if self.fallbacks > 0 {
                format!("; {} model answers replaced by the rule", self.fallbacks)
            } else {
                String::new()
            }
        )
    }
}

/// A set of redundant members of one candidate group.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Indices into the group (at least two, distinct).
    pub members: Vec<usize>,
    /// Name for the merged tool (sanitized; `None` = the representative's).
    pub name: Option<String>,
    /// Description for the merged tool (`None` = the longest member description).
    pub description: Option<String>,
    /// Who decided: `rule` or `llm`.
    pub by: &'static str,
}

/// Splits candidate groups into redundant sets.
pub trait Discriminator {
    /// One list of verdicts per group (disjoint member sets; unique members are left out).
    fn judge(&self, groups: &[Vec<&Tool>]) -> Result<Vec<Vec<Verdict>>>;
    /// Model answers that were replaced by the rule so far.
    fn fallbacks(&self) -> usize {
        0
    }
}

/// The deterministic discriminator (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct RuleDiscriminator;

impl Discriminator for RuleDiscriminator {
    fn judge(&self, groups: &[Vec<&Tool>]) -> Result<Vec<Vec<Verdict>>> {
        Ok(groups.iter().map(|g| rule_verdicts(g)).collect())
    }
}

/// The rule's verdicts on one group: complete linkage (a tool joins a set only when it is
/// redundant with every member), in group order.
pub fn rule_verdicts(group: &[&Tool]) -> Vec<Verdict> {
    let mut sets: Vec<Vec<usize>> = Vec::new();
    for (i, tool) in group.iter().enumerate() {
        match sets
            .iter_mut()
            .find(|s| s.iter().all(|&j| redundant(group[j], tool)))
        {
            Some(s) => s.push(i),
            None => sets.push(vec![i]),
        }
    }
    sets.into_iter()
        .filter(|s| s.len() >= 2)
        .map(|members| Verdict {
            members,
            name: None,
            description: None,
            by: "rule",
        })
        .collect()
}

/// The rule: the same inputs (equal required sets; one tool's parameters contained in the
/// other's, with equal types) and the same purpose.
pub fn redundant(a: &Tool, b: &Tool) -> bool {
    let (wa, wb) = (purpose_words(&a.name), purpose_words(&b.name));
    let actions = |w: &BTreeSet<String>| -> BTreeSet<String> {
        w.iter()
            .filter(|x| ACTIONS.contains(&x.as_str()))
            .cloned()
            .collect()
    };
    let (aa, ab) = (actions(&wa), actions(&wb));
    // Names that say what they do must say the same (`get_user` vs `delete_user` share
    // parameters and, in many specs, boilerplate descriptions).
    let actions_agree = aa.is_empty() || ab.is_empty() || aa == ab;
    // Different names: the same description (templated descriptions that differ only in the
    // resource's name, like "Get the arrivals at a station" / "Get the departures ...", do
    // not pass) and names about the same things (half of their other words shared).
    let objects = |w: &BTreeSet<String>, acts: &BTreeSet<String>| -> BTreeSet<String> {
        w.difference(acts).cloned().collect()
    };
    let (oa, ob) = (objects(&wa, &aa), objects(&wb, &ab));
    let same_things = jaccard(&oa, &ob) >= 0.5;
    same_interface(a, b)
        && actions_agree
        && (wa == wb || same_things && similar_descriptions(&a.description, &b.description))
}

fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let either = a.union(b).count();
    if either == 0 {
        return 1.0;
    }
    a.intersection(b).count() as f64 / either as f64
}

/// Canonical action words of tool names (after [`canonical_verb`]).
const ACTIONS: &[&str] = &[
    "get",
    "list",
    "search",
    "create",
    "delete",
    "update",
    "send",
    "reply",
    "forward",
    "book",
    "cancel",
    "write",
    "move",
    "copy",
    "upload",
    "download",
    "set",
    "reset",
    "start",
    "stop",
    "enable",
    "disable",
    "approve",
    "reject",
    "submit",
    "validate",
    "verify",
    "convert",
    "calculate",
    "track",
    "place",
    "schedule",
    "reschedule",
    "check",
    "refund",
    "capture",
];

/// A parameter or tool name's key: words, singular, joined by `_` (`userIds` → `user_id`).
pub fn name_key(name: &str) -> String {
    split_ident(name)
        .iter()
        .map(|w| match w.as_str() {
            "ids" => "id".to_string(),
            w => singular(w),
        })
        .collect::<Vec<_>>()
        .join("_")
}

fn type_of(schema: &Json) -> String {
    match schema.get("type") {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Array(items)) => {
            let mut v: Vec<&str> = items.iter().filter_map(Json::as_str).collect();
            v.sort_unstable();
            v.join("|")
        }
        _ => String::new(),
    }
}

/// Normalized property names with their types, and the required set.
fn interface(t: &Tool) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let props = t
        .parameters
        .get("properties")
        .and_then(Json::as_object)
        .map(|m| m.iter().map(|(k, v)| (name_key(k), type_of(v))).collect())
        .unwrap_or_default();
    let required = t
        .parameters
        .get("required")
        .and_then(Json::as_array)
        .map(|r| r.iter().filter_map(Json::as_str).map(name_key).collect())
        .unwrap_or_default();
    (props, required)
}

fn same_interface(a: &Tool, b: &Tool) -> bool {
    let (pa, ra) = interface(a);
    let (pb, rb) = interface(b);
    let (small, large) = if pa.len() <= pb.len() {
        (&pa, &pb)
    } else {
        (&pb, &pa)
    };
    ra == rb
        && small.iter().all(|(k, ts)| {
            large
                .get(k)
                .is_some_and(|tl| ts.is_empty() || tl.is_empty() || ts == tl)
        })
}

fn is_version(word: &str) -> bool {
    let digits = word.strip_prefix('v').unwrap_or(word);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

fn canonical_verb(word: &str) -> &str {
    match word {
        "fetch" | "retrieve" | "read" | "obtain" | "show" | "lookup" => "get",
        "find" | "query" => "search",
        "add" | "new" | "insert" | "post" => "create",
        "remove" | "del" | "erase" | "destroy" => "delete",
        "modify" | "edit" | "change" | "patch" | "put" => "update",
        w => w,
    }
}

/// A tool name's words without version tokens, singular, verbs canonical.
fn purpose_words(name: &str) -> BTreeSet<String> {
    split_ident(name)
        .iter()
        .filter(|w| !is_version(w))
        .map(|w| canonical_verb(&singular(w)).to_string())
        .collect()
}

const DESCRIPTION_STOP: &[&str] = &["the", "and", "for", "with", "from", "this", "that", "are"];

fn content_words(text: &str) -> BTreeSet<String> {
    tokens(text)
        .into_iter()
        .filter(|w| w.len() > 2 && !DESCRIPTION_STOP.contains(&w.as_str()))
        .map(|w| singular(&w))
        .collect()
}

/// Descriptions of at least 3 content words each with (almost) the same words: Jaccard ≥ 0.95.
fn similar_descriptions(a: &str, b: &str) -> bool {
    let (wa, wb) = (content_words(a), content_words(b));
    wa.len() >= 3 && wb.len() >= 3 && jaccard(&wa, &wb) >= 0.95
}

/// Runs the refinement passes over `tools`.
pub fn refine(
    tools: Vec<Tool>,
    embedder: &dyn Embedder,
    judge: &dyn Discriminator,
    opts: &RefineOptions,
) -> Result<Refined> {
    let before = tools.len();
    let mut pool = tools;
    let mut merges = Vec::new();
    let mut passes = 0;
    let mut judged = 0;
    for pass in 1..=opts.passes.max(1) {
        passes = pass;
        let texts: Vec<String> = pool.iter().map(definition_text).collect();
        let vectors = embedder.embed(&texts)?;
        let cand = candidate_groups(&vectors, opts.threshold, 8, opts.max_candidates);
        if cand.groups.is_empty() {
            break;
        }
        judged += cand.groups.len();
        let groups: Vec<Vec<&Tool>> = cand
            .groups
            .iter()
            .map(|g| g.iter().map(|&i| &pool[i]).collect())
            .collect();
        let verdicts = judge.judge(&groups)?;
        // Pool index → (position of the merged tool, its members) for this pass.
        let mut replaced: BTreeMap<usize, Option<Tool>> = BTreeMap::new();
        let mut taken: BTreeSet<String> = pool.iter().map(|t| t.name.clone()).collect();
        for (group, vs) in cand.groups.iter().zip(verdicts) {
            for v in vs {
                let idx: Vec<usize> = v
                    .members
                    .iter()
                    .filter_map(|&m| group.get(m))
                    .copied()
                    .collect();
                if idx.len() < 2 || idx.iter().any(|i| replaced.contains_key(i)) {
                    continue;
                }
                let members: Vec<&Tool> = idx.iter().map(|&i| &pool[i]).collect();
                let similarity = pairs(&idx)
                    .map(|(a, b)| cand.similarity(a, b))
                    .fold(f32::INFINITY, f32::min);
                for m in &members {
                    taken.remove(&m.name);
                }
                let (tool, mut merge) = consolidate(&members, &v, pass, &taken);
                merge.similarity = similarity;
                taken.insert(tool.name.clone());
                merges.push(merge);
                let first = idx.iter().copied().min().unwrap_or(0);
                for &i in &idx {
                    replaced.insert(i, None);
                }
                replaced.insert(first, Some(tool));
            }
        }
        if replaced.is_empty() {
            break;
        }
        pool = pool
            .into_iter()
            .enumerate()
            .filter_map(|(i, t)| match replaced.remove(&i) {
                None => Some(t),
                Some(new) => new,
            })
            .collect();
    }
    Ok(Refined {
        counts: (before, pool.len()),
        tools: pool,
        merges,
        passes,
        candidate_groups: judged,
        fallbacks: judge.fallbacks(),
    })
}

fn pairs(idx: &[usize]) -> impl Iterator<Item = (usize, usize)> + '_ {
    idx.iter()
        .enumerate()
        .flat_map(move |(k, &a)| idx[k + 1..].iter().map(move |&b| (a, b)))
}

fn property_count(t: &Tool) -> usize {
    t.parameters
        .get("properties")
        .and_then(Json::as_object)
        .map_or(0, |m| m.len())
}

/// One tool standing for `members` (see the module docs); `taken` are the names of every
/// other tool in the pool.
fn consolidate(
    members: &[&Tool],
    v: &Verdict,
    pass: usize,
    taken: &BTreeSet<String>,
) -> (Tool, Merge) {
    let rep_at = (0..members.len())
        .max_by(|&a, &b| {
            let key = |i: usize| {
                (
                    property_count(members[i]),
                    members[i].description.trim().len(),
                )
            };
            key(a).cmp(&key(b)).then(b.cmp(&a))
        })
        .unwrap_or(0);
    let rep = members[rep_at];
    let mut tool = rep.clone();
    if let Some(name) = v
        .name
        .as_ref()
        .filter(|n| !n.is_empty() && !taken.contains(*n))
    {
        tool.name = name.clone();
    }
    tool.description = match v.description.as_ref().filter(|d| !d.trim().is_empty()) {
        Some(d) => d.trim().to_string(),
        None => members
            .iter()
            .map(|m| m.description.trim())
            .fold("", |best, d| if d.len() > best.len() { d } else { best })
            .to_string(),
    };
    let mut added = Vec::new();
    let mut optional_elsewhere: BTreeSet<String> = BTreeSet::new();
    if let Json::Object(params) = &mut tool.parameters {
        let mut props = params
            .get("properties")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        let mut keys: BTreeSet<String> = props.keys().map(|k| name_key(k)).collect();
        for (i, m) in members.iter().enumerate() {
            let (_, req) = interface(m);
            let Some(mp) = m.parameters.get("properties").and_then(Json::as_object) else {
                continue;
            };
            for (k, schema) in mp {
                let key = name_key(k);
                if !req.contains(&key) {
                    optional_elsewhere.insert(key.clone());
                }
                if i != rep_at && keys.insert(key) {
                    props.insert(k.clone(), schema.clone());
                    added.push(k.clone());
                }
            }
        }
        if !added.is_empty() || props.len() != property_count(rep) {
            params.insert("properties".into(), Json::Object(props));
        }
        if let Some(Json::Array(req)) = params.get_mut("required") {
            req.retain(|r| {
                r.as_str()
                    .is_none_or(|r| !optional_elsewhere.contains(&name_key(r)))
            });
        }
    }
    if tool.response_schema.is_none() {
        tool.response_schema = members.iter().find_map(|m| m.response_schema.clone());
    }
    let others: Vec<String> = members
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != rep_at)
        .map(|(_, m)| {
            format!(
                "`{}` ({}{})",
                m.name, m.provenance.file, m.provenance.pointer
            )
        })
        .collect();
    tool.provenance.notes.push(format!(
        "MCP-tree refinement (pass {pass}, {}): `{}` merged with {}",
        v.by,
        rep.name,
        others.join(", ")
    ));
    let merge = Merge {
        pass,
        by: v.by.to_string(),
        tools: members.iter().map(|m| m.name.clone()).collect(),
        similarity: 0.0,
        merged: tool.name.clone(),
        description: tool.description.clone(),
        parameters_added: added,
    };
    (tool, merge)
}

#[cfg(test)]
mod tests;
