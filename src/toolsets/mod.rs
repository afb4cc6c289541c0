//! Toolsets: coherent groups of tools that one synthesized task draws from (one "MCP server" in
//! InfTool's terms).
//!
//! Each tool's definition text (name, description, parameter names) is embedded — with the
//! configured model (mean-pooled hidden states, [`ModelEmbedder`]) or with a deterministic
//! hashed bag of words ([`HashedEmbedder`], the documented fallback for tests and for runs
//! without a model) — and the vectors are grouped by seeded k-means++ under minimum and maximum
//! toolset sizes ([`cluster`]). Each toolset gets a label from its most common words.
//! Before grouping, the raw pool can be refined ([`refine`]: InfTool's "MCP tree"): tools whose
//! embeddings are close are judged by a discriminator (a rule, or a model:
//! [`LlmDiscriminator`]) and each redundant set is replaced by one consolidated definition.
//! [`by_api`] groups by source file instead (one toolset per API).

mod embed;
mod kmeans;
mod label;
mod llm_judge;
mod refine;
mod similar;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use embed::{definition_text, Embedder, HashedEmbedder, Memo, ModelEmbedder};
pub use kmeans::{cluster_vectors, ClusterOptions};
pub use label::label_for;
pub use llm_judge::LlmDiscriminator;
pub use refine::{
    conflicting_actions, redundant, refine, rule_verdicts, Discriminator, Merge, RefineOptions,
    Refined, RuleDiscriminator, Verdict, RENAMED_FROM,
};
pub use similar::{candidate_groups, Candidates};

use crate::specs::Tool;

/// Errors of toolset construction.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Embedding with the model failed.
    #[error("embedding tool definitions with the model: {0}")]
    Model(#[from] crate::model::Error),
    /// Tokenizing a definition failed.
    #[error("tokenizing a tool definition: {0}")]
    Tokenizer(#[from] crate::chat::tokenizer::Error),
    /// A tensor operation failed.
    #[error("embedding tensor op: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The `/embeddings` endpoint failed.
    #[error("embedding tool definitions through the endpoint: {0}")]
    Endpoint(#[from] crate::backend::openai::Error),
    /// Options are inconsistent (named field and why).
    #[error("toolset options: {0}")]
    Options(String),
    /// Writing the toolsets file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// A group of tools offered together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Toolset {
    /// Stable id (`ts-000`, ...).
    pub id: String,
    /// A short label from the members' most common words.
    pub label: String,
    /// Member tool names.
    pub tools: Vec<String>,
}

/// One toolset per API (source file), in input order; big APIs are split in chunks of at most
/// `max_size` tools.
pub fn by_api(tools: &[Tool], max_size: usize) -> Vec<Toolset> {
    let mut groups: BTreeMap<usize, (String, Vec<usize>)> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let file = &t.provenance.file;
        let slot = match order.iter().position(|f| f == file) {
            Some(s) => s,
            None => {
                order.push(file.clone());
                order.len() - 1
            }
        };
        groups
            .entry(slot)
            .or_insert_with(|| (file.clone(), Vec::new()))
            .1
            .push(i);
    }
    let max_size = max_size.max(1);
    let mut out = Vec::new();
    for (_, (_, members)) in groups {
        for chunk in members.chunks(max_size) {
            let chosen: Vec<&Tool> = chunk.iter().filter_map(|&i| tools.get(i)).collect();
            out.push(Toolset {
                id: format!("ts-{:03}", out.len()),
                label: label_for(&chosen),
                tools: chosen.iter().map(|t| t.name.clone()).collect(),
            });
        }
    }
    out
}

/// Embeds every tool's definition and clusters them into toolsets.
pub fn cluster(
    tools: &[Tool],
    embedder: &dyn Embedder,
    opts: &ClusterOptions,
) -> Result<Vec<Toolset>> {
    let texts: Vec<String> = tools.iter().map(definition_text).collect();
    let vectors = embedder.embed(&texts)?;
    let groups = cluster_vectors(&vectors, opts)?;
    Ok(groups
        .into_iter()
        .enumerate()
        .map(|(i, members)| {
            let chosen: Vec<&Tool> = members.iter().filter_map(|&m| tools.get(m)).collect();
            Toolset {
                id: format!("ts-{i:03}"),
                label: label_for(&chosen),
                tools: chosen.iter().map(|t| t.name.clone()).collect(),
            }
        })
        .collect())
}

/// Writes `toolsets.jsonl` (one toolset per line) atomically.
pub fn write_jsonl(path: &Path, toolsets: &[Toolset]) -> Result<()> {
    let mut text = String::new();
    for t in toolsets {
        // A struct of strings always serializes.
        text.push_str(&serde_json::to_string(t).unwrap_or_default());
        text.push('\n');
    }
    let tmp = path.with_extension("jsonl.tmp");
    let write = || -> std::io::Result<()> {
        std::fs::write(&tmp, &text)?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| Error::Write {
        path: path.display().to_string(),
        source,
    })
}
