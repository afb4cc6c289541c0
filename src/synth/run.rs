//! The synthesis stage as `trainer synth` runs it: ingest the configured specs, group the tools
//! into toolsets, plan tasks, run the episodes with the policy and the simulators, verify, and
//! write the output files and statistics.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::episode::{run_episodes, Agents, EpisodeConfig};
use super::error::{Error, Result};
use super::llm::Simulators;
use super::output::{write_all, OutputFiles};
use super::plan::{plan, Category, PlanOptions};
use super::pool::{tool_pool, write_merges};
use super::registry::{compile, Registry};
use super::server::ResultGenerator;
use super::stats::Stats;
use super::verify::{verify, Dedup};
use crate::backend::{ChatBackend, GenParams, LocalBackend, OpenAiBackend};
use crate::chat::Tokenizer;
use crate::config::Config;
use crate::engine::SamplingParams;
use crate::model::Model;
use crate::specs::{ingest_paths, IngestOptions, Tool, MAX_NAME_LEN};
use crate::toolsets::Toolset;

/// What a run produced.
#[derive(Debug, Clone)]
pub struct SynthOutcome {
    /// Statistics (also written to the stats file).
    pub stats: Stats,
    /// The files written.
    pub files: OutputFiles,
    /// Ingestion totals (human-readable).
    pub ingest_summary: String,
    /// Toolsets used.
    pub toolsets: Vec<Toolset>,
}

/// Ingests the tools named by `[synth] specs`.
pub fn load_tools(cfg: &Config) -> Result<(Vec<Tool>, String)> {
    let inputs: Vec<PathBuf> = cfg.synth.specs.iter().map(PathBuf::from).collect();
    let paths = super::expand_spec_paths(&inputs)?;
    let opts = IngestOptions {
        allow_bfcl: cfg.synth.allow_bfcl,
        ..IngestOptions::default()
    };
    let ingested = ingest_paths(&paths, &opts);
    let summary = ingested.report.totals();
    for f in ingested
        .report
        .files
        .iter()
        .filter_map(|f| f.failure.as_ref())
    {
        tracing::warn!("spec file skipped: {}", f.message);
    }
    let tools = unique_names(ingested.tools);
    if tools.is_empty() && cfg.synth.mcp_servers.is_empty() {
        return Err(Error::NoTools(format!(
            "no tools ingested from synth.specs = {:?} ({})",
            cfg.synth.specs,
            summary.trim()
        )));
    }
    Ok((tools, summary))
}

/// Renames tools whose name repeats an earlier file's (`name_2`, ...), keeping the 64-character
/// limit; a warning names each, and a provenance note keeps the name it had.
pub fn unique_names(tools: Vec<Tool>) -> Vec<Tool> {
    let mut seen = BTreeSet::new();
    tools
        .into_iter()
        .map(|mut t| {
            if !seen.insert(t.name.clone()) {
                let base = t.name.clone();
                let mut k = 2;
                loop {
                    let suffix = format!("_{k}");
                    let keep = MAX_NAME_LEN.saturating_sub(suffix.len());
                    let candidate: String = base.chars().take(keep).collect::<String>() + &suffix;
                    if seen.insert(candidate.clone()) {
                        tracing::warn!(
                            "tool `{base}` of {} renamed to `{candidate}` (name taken)",
                            t.provenance.file
                        );
                        t.provenance.notes.push(format!(
                            "{}{base}` (name taken by another file)",
                            crate::toolsets::RENAMED_FROM
                        ));
                        t.name = candidate;
                        break;
                    }
                    k += 1;
                }
            }
            t
        })
        .collect()
}

/// Drops tools whose parameter schema the validator cannot compile (with a warning).
pub fn compilable(tools: Vec<Tool>) -> Vec<Tool> {
    tools
        .into_iter()
        .filter(|t| match compile(&t.parameters) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(
                    "tool `{}` ({}) skipped: schema does not compile: {e}",
                    t.name,
                    t.provenance.file
                );
                false
            }
        })
        .collect()
}

/// Policy sampling for synthesis (`[synth]` overrides of `[generation]`).
pub fn gen_params(cfg: &Config) -> GenParams {
    let g = &cfg.generation;
    GenParams {
        sampling: SamplingParams {
            temperature: cfg.synth.temperature.unwrap_or(g.temperature),
            top_k: g.top_k,
            top_p: g.top_p,
        },
        max_new_tokens: cfg.synth.max_new_tokens.unwrap_or(g.max_new_tokens),
    }
}

/// `trainer synth`: loads the configured model (or connects to `[synth] policy_endpoint`) and
/// runs [`synthesize_with`].
pub fn synthesize(cfg: &Config, out: &Path, progress: bool) -> Result<SynthOutcome> {
    let (tools, summary) = load_tools(cfg)?;
    tracing::info!("ingested: {}", summary.trim().replace('\n', "; "));
    let t0 = Instant::now();
    let local;
    let remote;
    let (policy, model): (&dyn ChatBackend, _) = match &cfg.synth.policy_endpoint {
        Some(ep) => {
            remote = OpenAiBackend::new(ep).map_err(crate::backend::Error::from)?;
            (&remote as &dyn ChatBackend, None)
        }
        None => {
            local = LocalBackend::load(&cfg.model)?;
            (
                &local as &dyn ChatBackend,
                Some((local.model(), local.tokenizer())),
            )
        }
    };
    tracing::info!(
        model = policy.name(),
        secs = t0.elapsed().as_secs_f32(),
        "policy loaded"
    );
    let mut outcome = synthesize_with(cfg, tools, policy, model, out, progress)?;
    outcome.ingest_summary = summary;
    Ok(outcome)
}

/// Plans `episodes` tasks from `toolsets`, split over the categories by `weights`;
/// returns the plan and the per-category counts asked for.
pub fn plan_tasks(
    cfg: &Config,
    registry: &Registry,
    toolsets: &[Toolset],
    weights: &crate::config::CategoryWeights,
    episodes: usize,
    seed: u64,
) -> (super::plan::Plan, Vec<(Category, usize)>) {
    let counts: Vec<(Category, usize)> = weights
        .split(episodes)
        .into_iter()
        .filter_map(|(name, n)| Category::parse(name).map(|c| (c, n)))
        .collect();
    let planned = plan(registry, toolsets, &plan_options(cfg, seed, counts.clone()));
    for (c, n) in &planned.unplannable {
        tracing::warn!("{n} {c} task(s) could not be planned: no toolset fits, or self-reflection found every draft flawed");
    }
    let r = &planned.reflection;
    if r.revised + r.dropped > 0 {
        tracing::info!(
            revised = r.revised,
            dropped = r.dropped,
            flaws = ?r.flaws,
            "self-reflection over the task drafts"
        );
    }
    (planned, counts)
}

/// The planner's settings from `[synth]`.
pub fn plan_options(cfg: &Config, seed: u64, counts: Vec<(Category, usize)>) -> PlanOptions {
    let s = &cfg.synth;
    PlanOptions {
        seed,
        counts,
        optional_arg_prob: s.optional_arg_prob,
        max_parallel: s.max_parallel,
        max_offered: s.max_offered_tools,
        max_chain: 3,
        difficulty: s.scenarios.difficulty.as_array(),
        personas: s.scenarios.personas,
        max_revisions: s.scenarios.max_revisions,
    }
}

/// The synthesis stage with a given policy backend (the closed loop passes its own); `model`
/// embeds tool definitions when the config asks for model embeddings.
pub fn synthesize_with(
    cfg: &Config,
    tools: Vec<Tool>,
    policy: &dyn ChatBackend,
    model: Option<(&Model, &Tokenizer)>,
    out: &Path,
    progress: bool,
) -> Result<SynthOutcome> {
    let s = &cfg.synth;
    let seed = s.seed.unwrap_or(cfg.run.seed);
    // `[[synth.mcp_servers]]`: their tools join the registry; their calls go to the real server.
    let mcp = crate::mcp::McpServers::start(&s.mcp_servers)?;
    let tools: Vec<Tool> = tools
        .into_iter()
        .chain(mcp.tools().iter().cloned())
        .collect();
    let tools = compilable(unique_names(tools));
    let sim_remote = match &s.simulator_endpoint {
        Some(ep) => Some(OpenAiBackend::new(ep).map_err(crate::backend::Error::from)?),
        None => None,
    };
    let sim: &dyn ChatBackend = match &sim_remote {
        Some(b) => b,
        None => policy,
    };
    // The simulators' model is also the refinement's discriminator.
    let pool = tool_pool(cfg, tools, model, Some(sim))?;
    let (tools, toolsets, merges) = (pool.tools, pool.toolsets, pool.refined.merges);
    for t in &toolsets {
        tracing::info!(id = t.id, label = t.label, tools = t.tools.len(), "toolset");
    }
    let registry = Registry::new(tools)?;
    let (planned, counts) = plan_tasks(cfg, &registry, &toolsets, &s.categories, s.episodes, seed);
    let gen = gen_params(cfg);
    let sims = Simulators::new(s, sim);
    let server = sims.server();
    let routed = crate::mcp::McpResults::new(&mcp, server);
    let server: &dyn ResultGenerator = if mcp.is_empty() { server } else { &routed };
    let agents = Agents {
        policy,
        user: sims.user(),
        server,
    };
    let ep_cfg = EpisodeConfig {
        max_turns: s.max_turns,
        max_calls: s.max_calls,
        batch_size: s.batch_size,
        gen,
        system_prompt: (!s.system_prompt.trim().is_empty()).then(|| s.system_prompt.clone()),
        adapter: true,
    };
    let bar = if progress {
        let b = ProgressBar::new(planned.tasks.len() as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} episodes ({per_sec}, eta {eta}) {msg}",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    } else {
        ProgressBar::hidden()
    };
    let t0 = Instant::now();
    let mut goal_met = 0usize;
    let episodes = run_episodes(&registry, &planned.tasks, &agents, &ep_cfg, &mut |ep| {
        if ep.outcome == super::episode::Outcome::GoalMet {
            goal_met += 1;
        }
        bar.inc(1);
        bar.set_message(format!("{goal_met} reached their goal"));
    })?;
    let seconds = t0.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let mut dedup = Dedup::new(s.dedup_threshold);
    let verdicts: Vec<_> = episodes
        .iter()
        .map(|ep| verify(&registry, ep).and_then(|()| dedup.check(ep)))
        .collect();
    let mut stats = Stats::collect(&counts, &planned.unplannable, &episodes, &verdicts, seconds);
    stats.policy = policy.name().to_string();
    stats.reflection = planned.reflection.clone();
    sims.record(&mut stats);
    let files = OutputFiles::for_output(out);
    write_all(
        &files,
        &planned.tasks,
        &toolsets,
        &episodes,
        &verdicts,
        &stats,
    )?;
    write_merges(&files.refine, &merges)?;
    Ok(SynthOutcome {
        stats,
        files,
        ingest_summary: String::new(),
        toolsets,
    })
}
