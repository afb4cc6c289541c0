//! A run's tool pool: the ingested tools refined by the MCP tree ([`refine_tools`]) and grouped
//! into toolsets ([`make_toolsets_with`]), with one embedding of each definition shared by both
//! steps ([`tool_pool`]); `trainer toolsets` writes it out ([`write_pool`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::error::Result;
use crate::backend::{ChatBackend, OpenAiEmbedder};
use crate::chat::Tokenizer;
use crate::config::{Config, RefineMode};
use crate::model::Model;
use crate::specs::Tool;
use crate::toolsets::{
    self, ClusterOptions, Embedder, HashedEmbedder, LlmDiscriminator, Memo, Merge, ModelEmbedder,
    RefineOptions, Refined, RuleDiscriminator, Toolset,
};

/// The embedder `[synth.toolsets]` asks for: the `/embeddings` endpoint, the model
/// (mean-pooled hidden states) or the hashed bag of words (also when the model is asked for
/// but none is loaded, with a warning).
pub fn embedder_for<'a>(
    cfg: &Config,
    model: Option<(&'a Model, &'a Tokenizer)>,
) -> Result<Box<dyn Embedder + 'a>> {
    let t = &cfg.synth.toolsets;
    if let Some(ep) = cfg.synth.embedding_endpoint() {
        return Ok(Box::new(
            OpenAiEmbedder::new(ep).map_err(toolsets::Error::from)?,
        ));
    }
    Ok(match (cfg.synth.model_embedding(), model) {
        (true, Some((model, tokenizer))) => Box::new(ModelEmbedder {
            model,
            tokenizer,
            batch_size: 16,
            max_tokens: 96,
        }),
        (true, None) => {
            tracing::warn!("synth.toolsets.embedding = \"model\" but no local model: using the hashed embedding");
            Box::new(HashedEmbedder { dim: t.hashed_dim })
        }
        (false, _) => Box::new(HashedEmbedder { dim: t.hashed_dim }),
    })
}

/// The MCP-tree refinement as `[synth.toolsets] refine` asks: `tools` unchanged when it is
/// `off`; `llm` judges with `judge` (the rule when there is none, with a warning). Tools of
/// external MCP servers are never merged (the real server defines them): they follow the
/// refined ones unchanged.
pub fn refine_tools(
    cfg: &Config,
    tools: Vec<Tool>,
    embedder: &dyn Embedder,
    judge: Option<&dyn ChatBackend>,
) -> Result<Refined> {
    let t = &cfg.synth.toolsets;
    let (live, specs): (Vec<Tool>, Vec<Tool>) = tools
        .into_iter()
        .partition(|t| crate::mcp::convert::mcp_origin(t).is_some());
    let opts = RefineOptions {
        threshold: t.merge_threshold as f32,
        passes: t.refine_passes,
        max_candidates: t.max_candidates,
    };
    let seed = cfg.synth.seed.unwrap_or(cfg.run.seed);
    let reserved: BTreeSet<String> = live.iter().map(|t| t.name.clone()).collect();
    let mut refined = match (t.refine, judge) {
        (RefineMode::Off, _) => Refined {
            counts: (specs.len(), specs.len()),
            tools: specs,
            merges: Vec::new(),
            passes: 0,
            candidate_groups: 0,
            fallbacks: 0,
        },
        (RefineMode::Llm, Some(backend)) => toolsets::refine(
            specs,
            &reserved,
            embedder,
            &LlmDiscriminator::new(backend, seed),
            &opts,
        )?,
        (RefineMode::Llm, None) => {
            tracing::warn!(
                "synth.toolsets.refine = \"llm\" but no model to judge with here: the rule decides"
            );
            toolsets::refine(specs, &reserved, embedder, &RuleDiscriminator, &opts)?
        }
        (RefineMode::Rule, _) => {
            toolsets::refine(specs, &reserved, embedder, &RuleDiscriminator, &opts)?
        }
    };
    if t.refine != RefineMode::Off {
        tracing::info!("MCP-tree refinement: {}", refined.summary());
        for m in &refined.merges {
            tracing::debug!(
                pass = m.pass,
                by = m.by,
                similarity = m.similarity,
                "merged {:?} into `{}`",
                m.tools,
                m.merged
            );
        }
    }
    refined.tools.extend(live);
    Ok(refined)
}

/// The toolsets of `tools` as `[synth.toolsets]` asks, embedding with `embedder` when
/// clustering.
pub fn make_toolsets_with(
    cfg: &Config,
    tools: &[Tool],
    embedder: &dyn Embedder,
) -> Result<Vec<Toolset>> {
    let t = &cfg.synth.toolsets;
    if !cfg.synth.cluster_toolsets() {
        return Ok(toolsets::by_api(tools, t.max_size));
    }
    let opts = ClusterOptions {
        seed: cfg.synth.seed.unwrap_or(cfg.run.seed),
        k: (t.k > 0).then_some(t.k),
        min_size: t.min_size,
        max_size: t.max_size,
        iterations: 50,
    };
    Ok(toolsets::cluster(tools, embedder, &opts)?)
}

/// A run's tool pool: the ingested tools refined (MCP tree) and grouped into toolsets, with
/// one embedding of each definition shared by both steps.
pub struct Pool {
    /// The refined tools (the registry of the run).
    pub tools: Vec<Tool>,
    /// Their toolsets.
    pub toolsets: Vec<Toolset>,
    /// The refinement's record.
    pub refined: Refined,
}

/// Refines `tools` and groups the result (see [`refine_tools`], [`make_toolsets_with`]).
pub fn tool_pool(
    cfg: &Config,
    tools: Vec<Tool>,
    model: Option<(&Model, &Tokenizer)>,
    judge: Option<&dyn ChatBackend>,
) -> Result<Pool> {
    let inner = embedder_for(cfg, model)?;
    let memo = Memo::new(inner.as_ref());
    let mut refined = refine_tools(cfg, tools, &memo, judge)?;
    let tools = std::mem::take(&mut refined.tools);
    let toolsets = make_toolsets_with(cfg, &tools, &memo)?;
    Ok(Pool {
        tools,
        toolsets,
        refined,
    })
}

/// Writes the refinement's merges as JSON lines (`[]` → an empty file).
pub fn write_merges(path: &Path, merges: &[Merge]) -> Result<()> {
    let lines = merges
        .iter()
        .map(|m| serde_json::to_value(m).unwrap_or_default());
    super::output::write_jsonl(path, lines)
}

/// Where [`write_pool`] put the pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolFiles {
    /// The refined tools (one normalized tool per line, as `trainer specs` prints them).
    pub tools: PathBuf,
    /// The merges (one JSON line each).
    pub refine: PathBuf,
    /// The toolsets (one per line).
    pub toolsets: PathBuf,
}

/// `trainer toolsets`: the configured specs ingested, refined and grouped exactly as a run does
/// it (the model is loaded when it embeds or judges), written to `out/` as `tools.jsonl`,
/// `refine.jsonl` and `toolsets.jsonl`. Returns the pool and the files.
pub fn write_pool(cfg: &Config, out: &Path) -> Result<(Pool, PoolFiles)> {
    let (tools, summary) = super::run::load_tools(cfg)?;
    tracing::info!("ingested: {}", summary.trim().replace('\n', "; "));
    let tools = super::run::compilable(super::run::unique_names(tools));
    let t = &cfg.synth.toolsets;
    let remote = match &cfg.synth.simulator_endpoint {
        Some(ep) if t.refine == RefineMode::Llm => {
            Some(crate::backend::OpenAiBackend::new(ep).map_err(crate::backend::Error::from)?)
        }
        _ => None,
    };
    let needs_model = cfg.synth.embedding_endpoint().is_none() && cfg.synth.model_embedding()
        || (t.refine == RefineMode::Llm && remote.is_none());
    let local = if needs_model {
        Some(crate::backend::LocalBackend::load(&cfg.model)?)
    } else {
        None
    };
    let judge: Option<&dyn ChatBackend> = match (&remote, &local) {
        (Some(r), _) => Some(r),
        (None, Some(l)) => Some(l),
        (None, None) => None,
    };
    let model = local.as_ref().map(|l| (l.model(), l.tokenizer()));
    let pool = tool_pool(cfg, tools, model, judge)?;
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| super::Error::Write { path, source }
    };
    std::fs::create_dir_all(out).map_err(err(out))?;
    let files = PoolFiles {
        tools: out.join("tools.jsonl"),
        refine: out.join("refine.jsonl"),
        toolsets: out.join("toolsets.jsonl"),
    };
    super::output::write_jsonl(
        &files.tools,
        pool.tools
            .iter()
            .map(|t| serde_json::to_value(t).unwrap_or_default()),
    )?;
    write_merges(&files.refine, &pool.refined.merges)?;
    toolsets::write_jsonl(&files.toolsets, &pool.toolsets)?;
    Ok((pool, files))
}
