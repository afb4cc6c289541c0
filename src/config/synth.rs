//! `[synth]`: spec ingestion, toolsets and trajectory synthesis settings (owned by the synthesis
//! stage). Every key has a default; see README.md "Synthesis".

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::schema::invalid;
use super::{EndpointSection, Result};

/// How a simulator is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SimMode {
    /// Rule-driven (deterministic, schema-based).
    Programmatic,
    /// A model through the chat backend (the base model, adapter off), with rule-based checks
    /// and fallback.
    Llm,
}

/// How tools are grouped into toolsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grouping {
    /// Embed tool definitions and cluster them (k-means++).
    Cluster,
    /// One toolset per spec file.
    Api,
}

/// What embeds tool definitions for clustering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingKind {
    /// Mean-pooled hidden states of the configured model.
    Model,
    /// Deterministic hashed bag of words (no model needed).
    Hashed,
    /// An OpenAI-compatible `/embeddings` endpoint (`[synth.toolsets.embedding_endpoint]`).
    Endpoint,
}

/// The MCP-tree refinement of the raw tool pool before grouping (DESIGN.md §1): which
/// discriminator decides whether similar tools are redundant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefineMode {
    /// No refinement: every ingested tool is kept.
    Off,
    /// The deterministic rule: same parameter interface and the same purpose (equal name words
    /// up to versions and verb synonyms, or near-equal descriptions).
    Rule,
    /// A model (the simulators' backend) judges each candidate group and writes the merged
    /// tool's name and description; invalid answers fall back to the rule.
    Llm,
}

/// Relative weights of the task categories (0 = none of that category).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryWeights {
    #[serde(default = "one")]
    pub single: f64,
    #[serde(default = "one")]
    pub parallel: f64,
    #[serde(default = "one")]
    pub multiple: f64,
    #[serde(default = "one")]
    pub parallel_multiple: f64,
    #[serde(default = "one")]
    pub multi_step: f64,
    #[serde(default = "one")]
    pub missing_param: f64,
    #[serde(default = "one")]
    pub irrelevance: f64,
    #[serde(default = "one")]
    pub error_recovery: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for CategoryWeights {
    fn default() -> Self {
        CategoryWeights {
            single: 1.0,
            parallel: 1.0,
            multiple: 1.0,
            parallel_multiple: 1.0,
            multi_step: 1.0,
            missing_param: 1.0,
            irrelevance: 1.0,
            error_recovery: 1.0,
        }
    }
}

impl CategoryWeights {
    /// `(name, weight)` in the fixed category order.
    pub fn entries(&self) -> [(&'static str, f64); 8] {
        [
            ("single", self.single),
            ("parallel", self.parallel),
            ("multiple", self.multiple),
            ("parallel_multiple", self.parallel_multiple),
            ("multi_step", self.multi_step),
            ("missing_param", self.missing_param),
            ("irrelevance", self.irrelevance),
            ("error_recovery", self.error_recovery),
        ]
    }

    /// Splits `total` episodes by weight (largest remainder; ties to the earlier category).
    pub fn split(&self, total: usize) -> Vec<(&'static str, usize)> {
        let entries = self.entries();
        let sum: f64 = entries.iter().map(|(_, w)| w.max(0.0)).sum();
        if sum <= 0.0 {
            return entries.iter().map(|(n, _)| (*n, 0)).collect();
        }
        let exact: Vec<f64> = entries
            .iter()
            .map(|(_, w)| w.max(0.0) / sum * total as f64)
            .collect();
        let mut counts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
        let mut left = total.saturating_sub(counts.iter().sum());
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_by(|&a, &b| {
            let fa = exact[a] - exact[a].floor();
            let fb = exact[b] - exact[b].floor();
            fb.total_cmp(&fa).then(a.cmp(&b))
        });
        for i in order {
            if left == 0 {
                break;
            }
            if entries[i].1 > 0.0 {
                counts[i] += 1;
                left -= 1;
            }
        }
        entries
            .iter()
            .zip(counts)
            .map(|((n, _), c)| (*n, c))
            .collect()
    }
}

/// `[synth.toolsets]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolsetSection {
    /// `cluster` (embeddings + k-means++) or `api` (one toolset per spec file).
    #[serde(default = "default_grouping")]
    pub grouping: Grouping,
    /// `model` (mean-pooled hidden states of [model]) or `hashed` (bag of words).
    #[serde(default = "default_embedding")]
    pub embedding: EmbeddingKind,
    /// Smallest toolset.
    #[serde(default = "default_min_size")]
    pub min_size: usize,
    /// Largest toolset.
    #[serde(default = "default_max_size")]
    pub max_size: usize,
    /// Number of toolsets (0 = from the tool count and the size bounds).
    #[serde(default)]
    pub k: usize,
    /// Dimension of the hashed embedding.
    #[serde(default = "default_hashed_dim")]
    pub hashed_dim: usize,
    /// The endpoint of `embedding = "endpoint"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_endpoint: Option<EndpointSection>,
    /// MCP-tree refinement before grouping: `rule`, `llm` or `off`.
    #[serde(default = "default_refine")]
    pub refine: RefineMode,
    /// Cosine similarity (of mean-centred embeddings) from which two tools are candidates for
    /// a merge (the paper's δ).
    #[serde(default = "default_merge_threshold")]
    pub merge_threshold: f64,
    /// Refinement passes at most (each re-embeds the merged tools; stops early when stable).
    #[serde(default = "default_refine_passes")]
    pub refine_passes: usize,
    /// Tools per candidate group at most (one discriminator call each).
    #[serde(default = "default_max_candidates")]
    pub max_candidates: usize,
}

fn default_grouping() -> Grouping {
    Grouping::Cluster
}
fn default_embedding() -> EmbeddingKind {
    EmbeddingKind::Model
}
fn default_min_size() -> usize {
    3
}
fn default_max_size() -> usize {
    6
}
fn default_hashed_dim() -> usize {
    256
}
fn default_refine() -> RefineMode {
    RefineMode::Rule
}
fn default_merge_threshold() -> f64 {
    0.9
}
fn default_refine_passes() -> usize {
    3
}
fn default_max_candidates() -> usize {
    8
}

impl Default for ToolsetSection {
    fn default() -> Self {
        ToolsetSection {
            grouping: default_grouping(),
            embedding: default_embedding(),
            min_size: default_min_size(),
            max_size: default_max_size(),
            k: 0,
            hashed_dim: default_hashed_dim(),
            embedding_endpoint: None,
            refine: default_refine(),
            merge_threshold: default_merge_threshold(),
            refine_passes: default_refine_passes(),
            max_candidates: default_max_candidates(),
        }
    }
}

/// Relative weights of the difficulty levels (`[synth.scenarios.difficulty]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DifficultyWeights {
    #[serde(default = "one")]
    pub easy: f64,
    #[serde(default = "two")]
    pub medium: f64,
    #[serde(default = "one")]
    pub hard: f64,
}

fn two() -> f64 {
    2.0
}

impl Default for DifficultyWeights {
    fn default() -> Self {
        DifficultyWeights {
            easy: 1.0,
            medium: 2.0,
            hard: 1.0,
        }
    }
}

impl DifficultyWeights {
    /// `[easy, medium, hard]`.
    pub fn as_array(&self) -> [f64; 3] {
        [self.easy, self.medium, self.hard]
    }
}

/// `[synth.scenarios]`: the Task Generation Agent's scenario of each task (README "Synthesis").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSection {
    /// Frame every request with a user persona (who asks, how they talk).
    #[serde(default = "yes")]
    pub personas: bool,
    /// Relative weights of easy, medium and hard tasks.
    #[serde(default)]
    pub difficulty: DifficultyWeights,
    /// Self-reflection: redraws of a flawed draft before the task is dropped (0 = drop at once).
    #[serde(default = "default_max_revisions")]
    pub max_revisions: usize,
}

fn yes() -> bool {
    true
}
fn default_max_revisions() -> usize {
    3
}

impl ScenarioSection {
    /// No personas, medium tasks only: how tasks were planned before scenarios existed.
    pub fn off() -> Self {
        ScenarioSection {
            personas: false,
            difficulty: DifficultyWeights {
                easy: 0.0,
                medium: 1.0,
                hard: 0.0,
            },
            max_revisions: default_max_revisions(),
        }
    }
}

impl Default for ScenarioSection {
    fn default() -> Self {
        ScenarioSection {
            personas: true,
            difficulty: DifficultyWeights::default(),
            max_revisions: default_max_revisions(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynthSection {
    /// Spec files or directories (searched recursively), relative to the working directory.
    #[serde(default = "default_specs")]
    pub specs: Vec<String>,
    /// Ingest BFCL evaluation data anyway (never do this for training data).
    #[serde(default)]
    pub allow_bfcl: bool,
    /// Episodes in total, split over the categories by weight.
    #[serde(default = "default_episodes")]
    pub episodes: usize,
    /// Category weights.
    #[serde(default)]
    pub categories: CategoryWeights,
    /// Assistant turns per episode at most.
    #[serde(default = "default_max_turns")]
    pub max_turns: usize,
    /// Tool calls per episode at most.
    #[serde(default = "default_max_calls")]
    pub max_calls: usize,
    /// Live episodes per batched backend call.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Seed of planning and simulation (default: run.seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// `programmatic` or `llm`.
    #[serde(default = "default_mode")]
    pub user_simulator: SimMode,
    /// `programmatic` or `llm`.
    #[serde(default = "default_mode")]
    pub server_simulator: SimMode,
    /// Tokens per message of the LLM simulators (a user message, a tool result).
    #[serde(default = "default_simulator_tokens")]
    pub simulator_max_new_tokens: usize,
    /// Tokens per assistant turn (default: generation.max_new_tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_new_tokens: Option<usize>,
    /// Policy sampling temperature (default: generation.temperature).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// System message of every episode ("" = none).
    #[serde(default = "default_system_prompt")]
    pub system_prompt: String,
    /// Probability that an optional argument is part of a request.
    #[serde(default = "default_optional_arg_prob")]
    pub optional_arg_prob: f64,
    /// Calls per parallel task at most (at least 2).
    #[serde(default = "default_max_parallel")]
    pub max_parallel: usize,
    /// Tools offered per task at most.
    #[serde(default = "default_max_offered")]
    pub max_offered_tools: usize,
    /// Jaccard similarity of word 3-grams at which a trajectory is a near-duplicate.
    #[serde(default = "default_dedup")]
    pub dedup_threshold: f64,
    /// Toolset construction.
    #[serde(default)]
    pub toolsets: ToolsetSection,
    /// Personas, difficulty levels and self-reflection of the planned tasks.
    #[serde(default)]
    pub scenarios: ScenarioSection,
    /// External MCP servers (stdio child processes): their tools join the registry and their
    /// calls are executed by the real server (`[[synth.mcp_servers]]`, see README "MCP").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_servers: Vec<super::McpServerConfig>,
    /// Generate the policy's turns with an OpenAI-compatible server instead of `[model]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_endpoint: Option<EndpointSection>,
    /// The server that drives `llm` simulators (default: the policy's backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulator_endpoint: Option<EndpointSection>,
}

fn default_specs() -> Vec<String> {
    vec!["specs".into()]
}
fn default_episodes() -> usize {
    24
}
fn default_max_turns() -> usize {
    6
}
fn default_max_calls() -> usize {
    8
}
fn default_batch_size() -> usize {
    12
}
fn default_mode() -> SimMode {
    SimMode::Programmatic
}
fn default_simulator_tokens() -> usize {
    256
}
fn default_system_prompt() -> String {
    "You are a helpful assistant with access to tools. Call a tool when it helps with the \
     user's request, using exactly the values the user gave. If a required value is missing, \
     ask the user for it. If no tool fits, answer without calling one. After the tool results \
     arrive, answer the user using them."
        .into()
}
fn default_optional_arg_prob() -> f64 {
    0.3
}
fn default_max_parallel() -> usize {
    3
}
fn default_max_offered() -> usize {
    5
}
fn default_dedup() -> f64 {
    0.9
}

impl Default for SynthSection {
    fn default() -> Self {
        SynthSection {
            specs: default_specs(),
            allow_bfcl: false,
            episodes: default_episodes(),
            categories: CategoryWeights::default(),
            max_turns: default_max_turns(),
            max_calls: default_max_calls(),
            batch_size: default_batch_size(),
            seed: None,
            user_simulator: default_mode(),
            server_simulator: default_mode(),
            simulator_max_new_tokens: default_simulator_tokens(),
            max_new_tokens: None,
            temperature: None,
            system_prompt: default_system_prompt(),
            optional_arg_prob: default_optional_arg_prob(),
            max_parallel: default_max_parallel(),
            max_offered_tools: default_max_offered(),
            dedup_threshold: default_dedup(),
            toolsets: ToolsetSection::default(),
            scenarios: ScenarioSection::default(),
            mcp_servers: Vec::new(),
            policy_endpoint: None,
            simulator_endpoint: None,
        }
    }
}

impl SynthSection {
    /// Whether the user simulator is LLM-driven.
    pub fn user_llm(&self) -> bool {
        self.user_simulator == SimMode::Llm
    }

    /// Whether the server simulator is LLM-driven.
    pub fn server_llm(&self) -> bool {
        self.server_simulator == SimMode::Llm
    }

    /// Whether toolsets come from clustering (else one per spec file).
    pub fn cluster_toolsets(&self) -> bool {
        self.toolsets.grouping == Grouping::Cluster
    }

    /// Whether clustering embeds with the model (else the hashed bag of words).
    pub fn model_embedding(&self) -> bool {
        self.toolsets.embedding == EmbeddingKind::Model
    }

    pub fn validate(&self, path: &Path) -> Result<()> {
        super::mcp::validate_servers(&self.mcp_servers, path)?;
        if self.specs.is_empty() && self.mcp_servers.is_empty() {
            return Err(invalid(
                path,
                "specs",
                "[]",
                "name at least one spec file or directory",
            ));
        }
        for (name, w) in self.categories.entries() {
            if !(w >= 0.0 && w.is_finite()) {
                return Err(invalid(
                    path,
                    &format!("categories.{name}"),
                    w,
                    "must be a finite weight >= 0",
                ));
            }
        }
        if self.episodes > 0 && self.categories.entries().iter().all(|(_, w)| *w == 0.0) {
            return Err(invalid(
                path,
                "categories",
                "all 0",
                "at least one category needs a weight > 0",
            ));
        }
        for (key, v) in [
            ("max_turns", self.max_turns),
            ("max_calls", self.max_calls),
            ("batch_size", self.batch_size),
            ("max_offered_tools", self.max_offered_tools),
            ("simulator_max_new_tokens", self.simulator_max_new_tokens),
        ] {
            if v == 0 {
                return Err(invalid(path, key, 0, "must be > 0"));
            }
        }
        if self.max_parallel < 2 {
            return Err(invalid(
                path,
                "max_parallel",
                self.max_parallel,
                "must be >= 2",
            ));
        }
        if self.max_new_tokens == Some(0) {
            return Err(invalid(path, "max_new_tokens", 0, "must be > 0"));
        }
        if let Some(t) = self.temperature {
            if !(t >= 0.0 && t.is_finite()) {
                return Err(invalid(path, "temperature", t, "must be >= 0 (0 = greedy)"));
            }
        }
        if !(0.0..=1.0).contains(&self.optional_arg_prob) {
            return Err(invalid(
                path,
                "optional_arg_prob",
                self.optional_arg_prob,
                "must be in [0, 1]",
            ));
        }
        if !(self.dedup_threshold > 0.0 && self.dedup_threshold <= 1.0) {
            return Err(invalid(
                path,
                "dedup_threshold",
                self.dedup_threshold,
                "must be in (0, 1]",
            ));
        }
        let d = &self.scenarios.difficulty;
        for (name, w) in [("easy", d.easy), ("medium", d.medium), ("hard", d.hard)] {
            if !(w >= 0.0 && w.is_finite()) {
                return Err(invalid(
                    path,
                    &format!("scenarios.difficulty.{name}"),
                    w,
                    "must be a finite weight >= 0",
                ));
            }
        }
        if d.as_array().iter().all(|w| *w == 0.0) {
            return Err(invalid(
                path,
                "scenarios.difficulty",
                "all 0",
                "at least one difficulty level needs a weight > 0",
            ));
        }
        if self.scenarios.max_revisions > 20 {
            return Err(invalid(
                path,
                "scenarios.max_revisions",
                self.scenarios.max_revisions,
                "must be in 0..=20",
            ));
        }
        let t = &self.toolsets;
        if t.max_size == 0 || t.min_size > t.max_size {
            return Err(invalid(
                path,
                "toolsets.min_size",
                format!("{}..{}", t.min_size, t.max_size),
                "need 1 <= max_size and min_size <= max_size",
            ));
        }
        if t.hashed_dim == 0 {
            return Err(invalid(path, "toolsets.hashed_dim", 0, "must be > 0"));
        }
        if !(t.merge_threshold > 0.0 && t.merge_threshold <= 1.0) {
            return Err(invalid(
                path,
                "toolsets.merge_threshold",
                t.merge_threshold,
                "must be in (0, 1]",
            ));
        }
        if !(1..=20).contains(&t.refine_passes) {
            return Err(invalid(
                path,
                "toolsets.refine_passes",
                t.refine_passes,
                "must be in 1..=20",
            ));
        }
        if !(2..=32).contains(&t.max_candidates) {
            return Err(invalid(
                path,
                "toolsets.max_candidates",
                t.max_candidates,
                "must be in 2..=32",
            ));
        }
        self.validate_endpoints(path)
    }

    /// The `/embeddings` endpoint when `toolsets.embedding = "endpoint"`.
    pub fn embedding_endpoint(&self) -> Option<&EndpointSection> {
        (self.toolsets.embedding == EmbeddingKind::Endpoint)
            .then_some(self.toolsets.embedding_endpoint.as_ref())
            .flatten()
    }

    /// The `*_endpoint` tables, and `embedding = "endpoint"` needing its table.
    fn validate_endpoints(&self, path: &Path) -> Result<()> {
        for (key, ep) in [
            ("synth.policy_endpoint", &self.policy_endpoint),
            ("synth.simulator_endpoint", &self.simulator_endpoint),
            (
                "synth.toolsets.embedding_endpoint",
                &self.toolsets.embedding_endpoint,
            ),
        ] {
            if let Some(ep) = ep {
                ep.validate(path, key)?;
            }
        }
        if self.toolsets.embedding == EmbeddingKind::Endpoint
            && self.toolsets.embedding_endpoint.is_none()
        {
            return Err(invalid(
                path,
                "toolsets.embedding",
                "\"endpoint\"",
                "needs a [synth.toolsets.embedding_endpoint] table (url, model)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_by_weight() {
        let w = CategoryWeights::default();
        let s = w.split(10);
        assert_eq!(s.iter().map(|(_, c)| c).sum::<usize>(), 10);
        assert_eq!(s[0], ("single", 2));
        assert_eq!(s[2], ("multiple", 1));
        let w = CategoryWeights {
            single: 3.0,
            parallel: 1.0,
            multiple: 0.0,
            parallel_multiple: 0.0,
            multi_step: 0.0,
            missing_param: 0.0,
            irrelevance: 0.0,
            error_recovery: 0.0,
        };
        assert_eq!(w.split(4)[..2], [("single", 3), ("parallel", 1)]);
        assert_eq!(w.split(4)[2], ("multiple", 0));
    }
}
