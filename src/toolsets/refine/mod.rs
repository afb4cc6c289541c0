//! The MCP-tree refinement of a raw tool pool (InfTool; DESIGN.md §1): embed every tool
//! definition, group tools whose (mean-centred) embeddings are at least δ apart
//! ([`candidate_groups`]), let a discriminator split each group into redundant and unique
//! members, replace every redundant set by one consolidated definition, and repeat until a
//! pass merges nothing. Every merge is recorded ([`Merge`]) so a user can see which tools
//! became what.
//!
//! Discriminators: [`RuleDiscriminator`] (deterministic and conservative, see [`redundant`]:
//! the same operation of one API in another version or spelling) and
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
use crate::synth::words::{singular, split_ident};

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

/// The rule: two tools of the same API (its title, or the spec file's name, up to version
/// tokens) whose names name the same operation — the same action verbs (canonical) and the same
/// other words in the same order, up to version tokens and the `_N` suffix of a name taken
/// by another file — and which take the same inputs (equal required sets; one tool's
/// parameters contained in the other's, with equal types). Tools of different APIs, or with
/// differently worded names, are only ever merged by a model judge.
pub fn redundant(a: &Tool, b: &Tool) -> bool {
    api_key(a) == api_key(b) && purpose(a) == purpose(b) && same_interface(a, b)
}

/// A tool's API: `info.title` (else the spec file's name) as words, without version tokens
/// and the word `api`.
fn api_key(t: &Tool) -> Vec<String> {
    let source = match &t.provenance.api_title {
        Some(title) => title.clone(),
        None => {
            let file = t.provenance.file.rsplit(['/', '\\']).next().unwrap_or("");
            file.split('.').next().unwrap_or("").to_string()
        }
    };
    split_ident(&source)
        .into_iter()
        .filter(|w| !is_version(w) && w != "api")
        .collect()
}

/// The name before [`crate::synth::run::unique_names`] gave it a `_N` suffix (its note).
fn original_name(t: &Tool) -> &str {
    t.provenance
        .notes
        .iter()
        .find_map(|n| n.strip_prefix(RENAMED_FROM)?.split('`').next())
        .unwrap_or(&t.name)
}

/// The note prefix [`crate::synth::run::unique_names`] writes on a renamed tool.
pub const RENAMED_FROM: &str = "renamed from `";

/// A name's action verbs (canonical; a set, so `get_user` = `user_get`) and its other words in
/// order, singular, without version tokens.
fn purpose(t: &Tool) -> (BTreeSet<String>, Vec<String>) {
    let mut actions = BTreeSet::new();
    let mut rest = Vec::new();
    for w in split_ident(original_name(t)) {
        if is_version(&w) {
            continue;
        }
        let w = canonical_verb(&singular(&w)).to_string();
        if ACTIONS.contains(&w.as_str()) {
            actions.insert(w);
        } else {
            rest.push(w);
        }
    }
    (actions, rest)
}

/// Whether two names name different actions (both name one, and not the same).
pub fn conflicting_actions(a: &Tool, b: &Tool) -> bool {
    let (aa, ab) = (purpose(a).0, purpose(b).0);
    !aa.is_empty() && !ab.is_empty() && aa != ab
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

/// `v2`, `v71`, `v1beta2`, `v3alpha1`.
fn is_version(word: &str) -> bool {
    let Some(rest) = word.strip_prefix('v') else {
        return false;
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let tail = &rest[digits..];
    tail.is_empty()
        || ["alpha", "beta"].iter().any(|p| {
            tail.strip_prefix(p)
                .is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()))
        })
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

/// Runs the refinement passes over `tools`; a merged tool never takes a name in `reserved`
/// (tools that join the pool later, e.g. an external MCP server's).
pub fn refine(
    tools: Vec<Tool>,
    reserved: &BTreeSet<String>,
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
        taken.extend(reserved.iter().cloned());
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

/// How a consolidated tool's provenance note starts.
const NOTE_PREFIX: &str = "MCP-tree refinement";

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
    // Earlier passes' records of the other members stay with the merged tool.
    for (i, m) in members.iter().enumerate() {
        if i != rep_at {
            let earlier = m
                .provenance
                .notes
                .iter()
                .filter(|n| n.starts_with(NOTE_PREFIX));
            tool.provenance.notes.extend(earlier.cloned());
        }
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
        "{NOTE_PREFIX} (pass {pass}, {}): `{}` merged with {}",
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
