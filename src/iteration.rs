//! The closed loop (`trainer run`), one line per stage.
//!
//! ```text
//! iteration 0:  heldout → eval_base → synth (teacher or policy) → sft → eval → finalize
//! iteration k:  synth (current policy, gap-targeted mix; the teacher replays the failed tasks)
//!               → sft (on those demonstrations + the policy's accepted trajectories) → grpo
//!               → eval → finalize
//! ```
//!
//! Each phase reads what earlier phases wrote into the run directory, writes its own outputs
//! atomically, and is then recorded in `iter_NNNN/phases.json`; a rerun of the same command
//! resumes at the first unrecorded phase (see [`crate::runloop::rundir`]). The adapter a phase
//! starts from is the one the last completed training phase saved.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value as Json;

use crate::backend::{ChatBackend, LocalBackend, OpenAiBackend};
use crate::checkpoint::{load_peft, save_peft, PeftSaveOptions};
use crate::config::{ColdStart, Config, GapSource};
use crate::runloop::error::{Result, RunError};
use crate::runloop::gaps::{config_mix, mix_from_pass_counts, next_mix, weights};
use crate::runloop::grpo_checkpoint::GrpoCheckpoint;
use crate::runloop::grpo_phase::{GrpoProgress, GrpoResume};
use crate::runloop::heldout::{evaluate, plan_heldout, split_toolsets, Split};
use crate::runloop::preflight::{preflight, PreflightOptions};
use crate::runloop::rundir::RunDir;
use crate::runloop::summary::{HeldoutResult, IterationSummary, SynthSummary, TrainSummary};
use crate::runloop::{grpo_phase, sft_phase, synth_phase};
use crate::specs::Tool;
use crate::synth::llm::Simulators;
use crate::synth::plan::Task;
use crate::synth::pool::{tool_pool, write_merges};
use crate::synth::run::{compilable, load_tools, unique_names};
use crate::synth::teacher::Teacher;
use crate::synth::words::derive_seed;
use crate::synth::Registry;

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Show progress bars.
    pub progress: bool,
    /// Stop once this phase of iteration 0 is complete (`trainer sft` stops after `sft`).
    pub until: Option<&'static str>,
    /// The memory preflight before the model is loaded (see [`crate::runloop::preflight`]).
    pub preflight: PreflightOptions,
}

/// What `trainer run` finished with.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// One summary per completed iteration.
    pub summaries: Vec<IterationSummary>,
    /// The run directory.
    pub run_dir: std::path::PathBuf,
}

const PHASES_0: [&str; 6] = ["heldout", "eval_base", "synth", "sft", "eval", "finalize"];
const PHASES_K: [&str; 5] = ["synth", "sft", "grpo", "eval", "finalize"];

/// Everything the phases share.
struct Ctx<'a> {
    cfg: &'a Config,
    rd: RunDir,
    backend: LocalBackend,
    tools: Vec<Tool>,
    /// Whether `tools` is the pool a held-out phase refined (else: the specs as ingested).
    refined: bool,
    progress: bool,
}

/// Loads the configured model (with a fresh adapter) and runs the loop.
pub fn run(cfg: &Config, opts: &RunOptions) -> Result<RunOutcome> {
    preflight(cfg, &opts.preflight)?;
    let mut backend = LocalBackend::load(&cfg.model)?;
    backend.model_mut().attach_lora(&cfg.lora_config())?;
    run_with(cfg, backend, opts)
}

/// `[synth]` settings that only `trainer synth` uses: the loop's assistant is the local model
/// (GRPO needs the local engine's token record), and its tool calls go to the simulators.
/// Empty when none is set.
pub fn synth_only_settings(cfg: &Config) -> Vec<&'static str> {
    let s = &cfg.synth;
    let mut out = Vec::new();
    if s.policy_endpoint.is_some() {
        out.push("[synth.policy_endpoint]");
    }
    if !s.mcp_servers.is_empty() {
        out.push("[[synth.mcp_servers]]");
    }
    out
}

/// Runs the loop with a given backend (its model must have the configured adapter attached).
pub fn run_with(cfg: &Config, mut backend: LocalBackend, opts: &RunOptions) -> Result<RunOutcome> {
    let unused = synth_only_settings(cfg);
    if !unused.is_empty() {
        tracing::warn!(
            "{} apply to `trainer synth` only: the closed loop's assistant is the local model and \
             its calls go to the simulators (see README \"The closed loop\")",
            unused.join(", ")
        );
    }
    backend
        .model_mut()
        .set_gradient_checkpointing(cfg.train.gradient_checkpointing);
    let rd = RunDir::open(cfg)?;
    let mut tools = ingest(cfg)?;
    let pool_file = rd.heldout_dir().join(POOL_FILE);
    let refined = rd.heldout_dir().join(SPLIT_FILE).exists() && pool_file.exists();
    if refined {
        // The pool this run refined once, with the toolsets built from it (the held-out
        // phase writes the pool first, then the split): resume with the same tools.
        tools = read_jsonl(&pool_file)?;
        tracing::info!(
            "tool pool: {} tools from {} (the run's refined pool)",
            tools.len(),
            pool_file.display()
        );
    }
    let mut ctx = Ctx {
        cfg,
        rd,
        backend,
        tools,
        refined,
        progress: opts.progress,
    };
    check_pool(&ctx)?;
    let mut summaries = Vec::new();
    let mut ran_any = false;
    restore_adapter(&mut ctx)?;
    for k in 0..=cfg.loop_.iterations {
        let phases: &[&str] = if k == 0 { &PHASES_0 } else { &PHASES_K };
        for &phase in phases {
            if ctx.rd.phases(k)?.done(phase) {
                if phase == "grpo" {
                    // Left by a kill between recording the phase and removing it.
                    GrpoCheckpoint::new(&ctx.rd.iter_dir(k)).remove()?;
                }
                continue;
            }
            let t0 = Instant::now();
            tracing::info!(iteration = k, phase, "phase start");
            run_phase(&mut ctx, k, phase)?;
            ran_any = true;
            let secs = t0.elapsed().as_secs_f64();
            ctx.rd.mark_done(k, phase, secs)?;
            if phase == "grpo" {
                GrpoCheckpoint::new(&ctx.rd.iter_dir(k)).remove()?;
            }
            ctx.rd.rebuild_metrics(k)?;
            tracing::info!(iteration = k, phase, seconds = secs, "phase done");
            if k == 0 && opts.until == Some(phase) {
                return Ok(RunOutcome {
                    summaries,
                    run_dir: ctx.rd.root().to_path_buf(),
                });
            }
        }
        let s: IterationSummary = ctx
            .rd
            .read_json(&ctx.rd.iter_dir(k).join("summary.json"))?
            .ok_or_else(|| missing(&ctx.rd.iter_dir(k).join("summary.json")))?;
        summaries.push(s);
    }
    if !ran_any {
        // A finished run: redraw the report from what is on disk, so that it shows what this
        // binary's report shows, and point `best` at what this binary's rule picks (cheap;
        // nothing is recomputed). The run itself is complete, so a failure here is only
        // reported.
        let root = ctx.rd.root();
        let redraw = crate::runloop::report::load_run(root).and_then(|(s, m)| {
            crate::runloop::report::write_report(root, &s, &m)?;
            Ok(s)
        });
        match redraw {
            Ok(s) => refresh_best(&ctx.rd, &s),
            Err(e) => tracing::warn!("could not redraw the report of {}: {e}", root.display()),
        }
    }
    Ok(RunOutcome {
        summaries,
        run_dir: ctx.rd.root().to_path_buf(),
    })
}

/// Points a finished run's `best` at the iteration [`best_iteration`] picks, when that
/// iteration's adapter is still on disk (a run finished under an older rule may have pruned it;
/// `best` then stays).
///
/// [`best_iteration`]: crate::runloop::summary::best_iteration
fn refresh_best(rd: &RunDir, summaries: &[IterationSummary]) {
    let Some(b) = crate::runloop::summary::best_iteration(summaries).map(|s| s.iteration) else {
        return;
    };
    if rd.best() == Some(b) || !rd.iter_dir(b).join("adapter").is_dir() {
        return;
    }
    match rd.set_best(b) {
        Ok(()) => tracing::info!("best now names {}", RunDir::iter_name(b)),
        Err(e) => tracing::warn!("could not update {}: {e}", rd.root().join("best").display()),
    }
}

fn run_phase(ctx: &mut Ctx<'_>, k: usize, phase: &str) -> Result<()> {
    match (k, phase) {
        (0, "heldout") => heldout_phase(ctx),
        (0, "eval_base") if !ctx.cfg.loop_.eval_base => Ok(()),
        (0, "eval_base") => eval_phase(ctx, 0, false, "eval_base"),
        (_, "synth") => synth_phase(ctx, k),
        (0, "sft") => sft_phase(ctx),
        (_, "sft") => repair_sft_phase(ctx, k),
        (_, "grpo") => grpo_phase(ctx, k),
        (_, "eval") => eval_phase(ctx, k, true, "eval"),
        (_, "finalize") => finalize_phase(ctx, k),
        _ => Err(RunError::Invalid(format!("unknown phase {phase}"))),
    }
}

fn missing(p: &Path) -> RunError {
    RunError::Corrupt {
        path: p.to_path_buf(),
        message: "missing, although the phase that writes it is recorded as complete".into(),
    }
}

fn bar(ctx: &Ctx<'_>, k: usize, phase: &str, unit: &str) -> ProgressBar {
    if !ctx.progress {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(0);
    let tpl = format!(
        "iter {k} {phase:<9} {{elapsed_precise}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}}) {{msg}}"
    );
    if let Ok(style) = ProgressStyle::with_template(&tpl) {
        b.set_style(style.progress_chars("=> "));
    }
    b
}

/// The synthesis table's name for the policy of iteration `k`: the model plus the adapter it plays
/// with (the one iteration `k − 1` saved; iteration 0 without a teacher plays the fresh adapter).
fn policy_label(model: &str, k: usize) -> String {
    match k {
        0 => format!("policy ({model}, untrained adapter)"),
        _ => format!("policy ({model} + adapter of iteration {})", k - 1),
    }
}

/// Loads the adapter saved by the last completed training phase (none: the fresh adapter stays).
fn restore_adapter(ctx: &mut Ctx<'_>) -> Result<()> {
    let mut k = 0;
    let mut found = None;
    while ctx.rd.iter_dir(k).exists() {
        let ph = ctx.rd.phases(k)?;
        if ph.done("sft") || ph.done("grpo") {
            found = Some(k);
        }
        k += 1;
    }
    if let Some(k) = found {
        let dir = ctx.rd.iter_dir(k).join("adapter");
        if !dir.is_dir() {
            return kept_by_skipped_repair(ctx, k, &dir);
        }
        load_peft(&dir, ctx.backend.model_mut())?;
        tracing::info!("resumed from the adapter of {}", dir.display());
    }
    Ok(())
}

/// A run directory of an older version: iteration `k`'s repair fine-tuning was skipped (its
/// `sft.json` counts no step and its GRPO has not finished) and recorded without saving the
/// adapter it kept — iteration `k - 1`'s, which every finished iteration saves. That adapter is
/// restored and saved into iteration `k`. Anything else without its adapter is a damaged run
/// directory.
fn kept_by_skipped_repair(ctx: &mut Ctx<'_>, k: usize, dir: &Path) -> Result<()> {
    let sft = ctx.rd.iter_dir(k).join("sft.json");
    let skipped = k > 0
        && !ctx.rd.phases(k)?.done("grpo")
        && ctx
            .rd
            .read_json::<TrainSummary>(&sft)?
            .is_some_and(|s| s.steps == 0);
    if !skipped {
        return Err(missing(dir));
    }
    let prev = ctx.rd.iter_dir(k - 1).join("adapter");
    if !prev.is_dir() {
        return Err(missing(&prev));
    }
    load_peft(&prev, ctx.backend.model_mut())?;
    save_adapter(ctx, k)?;
    tracing::info!(
        "iteration {k}'s skipped fine-tuning kept {}; saved to {}",
        prev.display(),
        dir.display()
    );
    Ok(())
}

/// The run's tool pool after the MCP-tree refinement (`heldout/`; one tool per line).
const POOL_FILE: &str = "tools.jsonl";

/// A resumed run's toolsets must name tools of its pool: a run from before the pool was
/// persisted re-ingests the specs, which may have changed since.
fn check_pool(ctx: &Ctx<'_>) -> Result<()> {
    let p = split_path(ctx);
    let Some(split) = ctx.rd.read_json::<Split>(&p)? else {
        return Ok(());
    };
    let known: std::collections::BTreeSet<&str> =
        ctx.tools.iter().map(|t| t.name.as_str()).collect();
    for set in split.train.iter().chain(&split.heldout) {
        if let Some(missing) = set.tools.iter().find(|t| !known.contains(t.as_str())) {
            return Err(RunError::Invalid(format!(
                "{} puts tool `{missing}` in toolset {}, but the run's tools do not define it \
                 (the spec files of synth.specs changed since the run started?): restore them, \
                 or start a new run (another run.name)",
                p.display(),
                set.id
            )));
        }
    }
    Ok(())
}

/// The toolsets of the run's train / held-out split (`heldout/`).
const SPLIT_FILE: &str = "split.json";

fn split_path(ctx: &Ctx<'_>) -> std::path::PathBuf {
    ctx.rd.heldout_dir().join(SPLIT_FILE)
}

/// The configured specs, ingested, names made unique, schemas compilable.
fn ingest(cfg: &Config) -> Result<Vec<Tool>> {
    let (tools, summary) = load_tools(cfg)?;
    tracing::info!("ingested: {}", summary.trim().replace('\n', "; "));
    Ok(compilable(unique_names(tools)))
}

fn load_split(ctx: &Ctx<'_>) -> Result<Split> {
    let p = split_path(ctx);
    ctx.rd.read_json(&p)?.ok_or_else(|| missing(&p))
}

/// The JSON lines of a run-directory file, each parsed as `T`.
fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path).map_err(|e| RunError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| RunError::Corrupt {
                path: path.to_path_buf(),
                message: format!("line {}: {e}", i + 1),
            })
        })
        .collect()
}

fn load_tasks(path: &Path) -> Result<Vec<Task>> {
    read_jsonl(path)
}

fn write_tasks(path: &Path, tasks: &[Task]) -> Result<()> {
    let lines: Vec<Json> = tasks
        .iter()
        .map(|t| serde_json::to_value(t).unwrap_or(Json::Null))
        .collect();
    crate::synth::output::write_jsonl(path, lines)?;
    Ok(())
}

/// The tools of some toolsets, as a registry.
fn registry_of(ctx: &Ctx<'_>, sets: &[crate::toolsets::Toolset]) -> Result<Registry> {
    let names: std::collections::BTreeSet<&str> = sets
        .iter()
        .flat_map(|s| s.tools.iter().map(String::as_str))
        .collect();
    let tools: Vec<Tool> = ctx
        .tools
        .iter()
        .filter(|t| names.contains(t.name.as_str()))
        .cloned()
        .collect();
    Ok(Registry::new(tools)?)
}

// ---- phases -------------------------------------------------------------------------------

/// Toolsets, the train / held-out split and the held-out tasks (once per run).
fn heldout_phase(ctx: &mut Ctx<'_>) -> Result<()> {
    let cfg = ctx.cfg;
    let model = (ctx.backend.model(), ctx.backend.tokenizer());
    // The MCP-tree refinement judges with the simulators' model: the endpoint when one is
    // configured, else the base model (adapter off).
    let remote = simulator_endpoint(cfg, true)?;
    let judge: &dyn ChatBackend = match &remote {
        Some(b) => b,
        None => &ctx.backend,
    };
    // Always from the specs as they are now: a pool left by an interrupted earlier attempt
    // is not refined twice.
    let fresh = if ctx.refined {
        ingest(cfg)?
    } else {
        ctx.tools.clone()
    };
    let pool = tool_pool(cfg, fresh, Some(model), Some(judge))?;
    let dir = ctx.rd.heldout_dir();
    write_merges(&dir.join("refine.jsonl"), &pool.refined.merges)?;
    crate::synth::output::write_jsonl(
        &dir.join(POOL_FILE),
        pool.tools
            .iter()
            .map(|t| serde_json::to_value(t).unwrap_or(Json::Null)),
    )?;
    let sets = pool.toolsets;
    ctx.tools = pool.tools;
    ctx.refined = true;
    let split = split_toolsets(&sets, cfg.loop_.heldout_toolset_share, cfg.run.seed);
    let registry = Registry::new(ctx.tools.clone())?;
    let (tasks, unplannable) = plan_heldout(
        cfg,
        &registry,
        &split.heldout,
        cfg.loop_.heldout_per_category,
    );
    for (c, n) in &unplannable {
        tracing::warn!(
            "held-out set: {n} {c} task(s) could not be planned from the held-out toolsets"
        );
    }
    if tasks.is_empty() {
        return Err(RunError::Invalid(
            "no held-out task could be planned: add specs (synth.specs) or raise \
             loop.heldout_toolset_share"
                .into(),
        ));
    }
    write_tasks(&ctx.rd.heldout_dir().join("tasks.jsonl"), &tasks)?;
    ctx.rd.write_json(&split_path(ctx), &split)?;
    Ok(())
}

fn eval_phase(ctx: &mut Ctx<'_>, k: usize, adapter: bool, name: &str) -> Result<()> {
    let tasks = load_tasks(&ctx.rd.heldout_dir().join("tasks.jsonl"))?;
    let registry = Registry::new(ctx.tools.clone())?;
    let b = bar(ctx, k, name, "episodes");
    b.set_length(tasks.len() as u64);
    let (res, lines) = evaluate(ctx.cfg, &registry, &tasks, &ctx.backend, adapter, &|n| {
        b.set_position(n as u64)
    })?;
    b.finish_and_clear();
    let dir = ctx.rd.iter_dir(k);
    crate::synth::output::write_jsonl(&dir.join(format!("{name}.episodes.jsonl")), lines)?;
    ctx.rd.write_json(&dir.join(format!("{name}.json")), &res)?;
    tracing::info!(
        iteration = k,
        accuracy = res.accuracy,
        reward = res.mean_reward,
        adapter,
        "held-out evaluation"
    );
    if adapter && !ctx.cfg.loop_.bfcl_categories.is_empty() {
        bfcl_eval(ctx, k)?;
    }
    Ok(())
}

/// BFCL on the configured categories with this iteration's adapter.
fn bfcl_eval(ctx: &mut Ctx<'_>, k: usize) -> Result<()> {
    let opts = crate::eval::infer::EvalOptions {
        categories: Some(ctx.cfg.loop_.bfcl_categories.clone()),
        iter: None,
        out: Some(ctx.rd.iter_dir(k).join("eval").join("bfcl")),
        profile: None,
        limit: ctx.cfg.loop_.bfcl_limit,
        adapter: None,
        show_progress: ctx.progress,
    };
    let (mut args, _) = crate::eval::infer::eval_args(ctx.cfg, &opts)?;
    args.run_info.adapter = Some(ctx.rd.iter_dir(k).join("adapter").display().to_string());
    let summary = crate::eval::infer::run_eval(&ctx.backend, &args)?;
    let acc: BTreeMap<String, f64> = summary
        .categories
        .iter()
        .map(|c| (c.category.clone(), c.accuracy))
        .collect();
    ctx.rd
        .write_json(&ctx.rd.iter_dir(k).join("bfcl.json"), &acc)?;
    Ok(())
}

/// The client of `synth.simulator_endpoint` when one is configured and `needed`.
fn simulator_endpoint(cfg: &Config, needed: bool) -> Result<Option<OpenAiBackend>> {
    match &cfg.synth.simulator_endpoint {
        Some(ep) if needed => Ok(Some(
            OpenAiBackend::new(ep).map_err(crate::backend::Error::from)?,
        )),
        _ => Ok(None),
    }
}

fn synth_phase(ctx: &mut Ctx<'_>, k: usize) -> Result<()> {
    let cfg = ctx.cfg;
    let split = load_split(ctx)?;
    let registry = registry_of(ctx, &split.train)?;
    let mix = if k == 0 {
        config_mix(&cfg.synth.categories)
    } else {
        let prev: IterationSummary = ctx
            .rd
            .read_json(&ctx.rd.iter_dir(k - 1).join("summary.json"))?
            .ok_or_else(|| missing(&ctx.rd.iter_dir(k - 1).join("summary.json")))?;
        prev.next_mix
    };
    let w = weights(&mix, &cfg.synth.categories);
    let seed = derive_seed(
        cfg.synth.seed.unwrap_or(cfg.run.seed),
        &["iteration", &k.to_string()],
    );
    let episodes = match k {
        0 => cfg.synth.episodes,
        _ => cfg.loop_.policy_episodes.unwrap_or(cfg.synth.episodes),
    };
    let (planned, counts) =
        synth_phase::plan_tasks(cfg, &registry, &split.train, &w, episodes, seed);
    let dir = ctx.rd.iter_dir(k);
    // The simulators: LLM-driven ones (when configured) run on the base model (adapter off) or
    // on `synth.simulator_endpoint`.
    let remote = simulator_endpoint(cfg, cfg.synth.user_llm() || cfg.synth.server_llm())?;
    let sim: &dyn ChatBackend = match &remote {
        Some(r) => r,
        None => &ctx.backend,
    };
    let sims = Simulators::new(&cfg.synth, sim);
    let b = bar(ctx, k, "synth", "episodes");
    let teacher;
    // The teacher plays to `synth.max_turns`; the policy gets the turn budget of its held-out
    // episodes and GRPO rollouts (`loop.max_turns`), so a policy that loops on calls costs no
    // more here than there.
    let (assistant, name, max_turns): (&dyn crate::backend::ChatBackend, String, usize) =
        if k == 0 && cfg.loop_.cold_start == ColdStart::Teacher {
            teacher = Teacher::new(&planned.tasks);
            (&teacher, "teacher".into(), cfg.synth.max_turns)
        } else {
            (
                &ctx.backend,
                policy_label(crate::backend::ChatBackend::name(&ctx.backend), k),
                cfg.loop_.max_turns,
            )
        };
    let (summary, passed) = synth_phase::play(
        cfg,
        &registry,
        &split.train,
        &planned,
        &counts,
        assistant,
        &name,
        &sims,
        max_turns,
        &dir.join("trajectories.jsonl"),
        &b,
    )?;
    b.finish_and_clear();
    // GRPO order: the tasks the policy failed first (the "hard" ones), then the rest.
    let mut order: Vec<Task> = Vec::with_capacity(planned.tasks.len());
    order.extend(
        planned
            .tasks
            .iter()
            .zip(&passed)
            .filter(|(_, p)| !**p)
            .map(|(t, _)| t.clone()),
    );
    order.extend(
        planned
            .tasks
            .iter()
            .zip(&passed)
            .filter(|(_, p)| **p)
            .map(|(t, _)| t.clone()),
    );
    write_tasks(&dir.join("grpo_tasks.jsonl"), &order)?;
    if k > 0 && cfg.loop_.repair_max > 0 {
        // The teacher replays the tasks the policy failed: verified demonstrations of exactly
        // what the policy could not do yet.
        let failed: Vec<Task> = order
            .iter()
            .take(planned.tasks.len() - summary.accepted.min(planned.tasks.len()))
            .take(cfg.loop_.repair_max)
            .cloned()
            .collect();
        let mut counts: Vec<(crate::synth::plan::Category, usize)> = Vec::new();
        for t in &failed {
            match counts.iter_mut().find(|(c, _)| *c == t.category) {
                Some(e) => e.1 += 1,
                None => counts.push((t.category, 1)),
            }
        }
        let replay = crate::synth::plan::Plan {
            tasks: failed,
            ..Default::default()
        };
        let teacher = Teacher::new(&replay.tasks);
        let rb = bar(ctx, k, "repair", "episodes");
        let (rs, _) = synth_phase::play(
            cfg,
            &registry,
            &split.train,
            &replay,
            &counts,
            &teacher,
            "teacher",
            &sims,
            cfg.synth.max_turns,
            &dir.join("repair.jsonl"),
            &rb,
        )?;
        rb.finish_and_clear();
        tracing::info!(
            iteration = k,
            accepted = rs.accepted,
            episodes = rs.episodes,
            "teacher replay of the failed tasks"
        );
    }
    ctx.rd.write_json(&dir.join("mix.json"), &mix)?;
    ctx.rd.write_json(&dir.join("synth.json"), &summary)?;
    tracing::info!(
        iteration = k,
        accepted = summary.accepted,
        episodes = summary.episodes,
        "synthesis"
    );
    Ok(())
}

/// How the run's adapters are saved: the base model as PEFT expects it (a hub id or a path, not
/// the config's `hf:`/`asset:` spelling), overwriting.
fn peft_options(ctx: &Ctx<'_>) -> PeftSaveOptions {
    let base = crate::backend::asset_hub_id(&ctx.cfg.model.source)
        .map(str::to_string)
        .unwrap_or_else(|| ctx.backend.name().to_string());
    let mut opts = PeftSaveOptions::new(base);
    opts.overwrite = true;
    opts
}

fn save_adapter(ctx: &Ctx<'_>, k: usize) -> Result<()> {
    let opts = peft_options(ctx);
    save_peft(
        ctx.backend.model(),
        &ctx.cfg.lora_config(),
        &ctx.rd.iter_dir(k).join("adapter"),
        &opts,
    )?;
    Ok(())
}

fn sft_phase(ctx: &mut Ctx<'_>) -> Result<()> {
    if ctx.cfg.loop_.cold_start == ColdStart::None {
        ctx.rd.write_json(
            &ctx.rd.iter_dir(0).join("train.json"),
            &TrainSummary::default(),
        )?;
        return save_adapter(ctx, 0);
    }
    let dir = ctx.rd.iter_dir(0);
    let records: Vec<Json> = read_jsonl(&dir.join("trajectories.jsonl"))?;
    let b = bar(ctx, 0, "sft", "steps");
    let (summary, lines, opt) = sft_phase::run_sft(
        ctx.cfg,
        ctx.backend.model(),
        ctx.backend.tokenizer(),
        &records,
        0,
        ctx.cfg.train.sft_epochs,
        ctx.cfg.train.sft_learning_rate,
        &b,
    )?;
    b.finish_and_clear();
    save_adapter(ctx, 0)?;
    opt.save_state(&dir.join("optimizer.safetensors"))?;
    ctx.rd.write_phase_metrics(0, "sft", &lines)?;
    ctx.rd.write_json(&dir.join("train.json"), &summary)?;
    tracing::info!(
        first_loss = summary.first_loss,
        last_loss = summary.last_loss,
        steps = summary.steps,
        "cold-start SFT"
    );
    Ok(())
}

/// Iterations ≥ 1: fine-tuning on the teacher's replays of the failed tasks plus the policy's own
/// accepted trajectories (skipped, and recorded as such, when there are none).
fn repair_sft_phase(ctx: &mut Ctx<'_>, k: usize) -> Result<()> {
    let dir = ctx.rd.iter_dir(k);
    let mut records: Vec<Json> = read_jsonl(&dir.join("trajectories.jsonl"))?;
    let repair = dir.join("repair.jsonl");
    if repair.is_file() {
        records.extend(read_jsonl::<Json>(&repair)?);
    }
    if !records.is_empty() {
        records.extend(rehearsal(ctx, k)?);
    }
    if records.is_empty() || ctx.cfg.loop_.repair_epochs == 0 {
        // The adapter is saved all the same: a resume restores the last training phase's adapter
        // from its own iteration directory.
        save_adapter(ctx, k)?;
        ctx.rd.write_phase_metrics(k, "sft", &[])?;
        return ctx
            .rd
            .write_json(&dir.join("sft.json"), &TrainSummary::default());
    }
    let b = bar(ctx, k, "sft", "steps");
    let lr = ctx
        .cfg
        .loop_
        .repair_learning_rate
        .unwrap_or(ctx.cfg.train.sft_learning_rate);
    let (summary, lines, _) = sft_phase::run_sft(
        ctx.cfg,
        ctx.backend.model(),
        ctx.backend.tokenizer(),
        &records,
        k,
        ctx.cfg.loop_.repair_epochs,
        lr,
        &b,
    )?;
    b.finish_and_clear();
    save_adapter(ctx, k)?;
    ctx.rd.write_phase_metrics(k, "sft", &lines)?;
    ctx.rd.write_json(&dir.join("sft.json"), &summary)?;
    tracing::info!(
        iteration = k,
        sequences = summary.sequences,
        last_loss = summary.last_loss,
        "fine-tuning on the failed tasks' demonstrations"
    );
    Ok(())
}

/// `loop.repair_replay` of iteration 0's verified trajectories, a seeded sample that differs per
/// iteration (rehearsal against forgetting).
fn rehearsal(ctx: &Ctx<'_>, k: usize) -> Result<Vec<Json>> {
    use rand::seq::SliceRandom;
    use rand::SeedableRng;
    let n = ctx.cfg.loop_.repair_replay;
    let path = ctx.rd.iter_dir(0).join("trajectories.jsonl");
    if n == 0 || !path.is_file() {
        return Ok(Vec::new());
    }
    let mut pool: Vec<Json> = read_jsonl(&path)?;
    let seed = derive_seed(ctx.cfg.run.seed, &["rehearsal", &k.to_string()]);
    pool.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    pool.truncate(n);
    Ok(pool)
}

fn grpo_phase(ctx: &mut Ctx<'_>, k: usize) -> Result<()> {
    let dir = ctx.rd.iter_dir(k);
    let split = load_split(ctx)?;
    let registry = registry_of(ctx, &split.train)?;
    let tasks = load_tasks(&dir.join("grpo_tasks.jsonl"))?;
    let mut ckpt = GrpoCheckpoint::new(&dir);
    let resume = match ckpt.load(&ctx.rd)? {
        Some(saved) => {
            load_peft(&saved.adapter, ctx.backend.model_mut())?;
            tracing::info!(
                iteration = k,
                "GRPO resumes after step {} ({})",
                saved.progress.steps_done,
                ckpt.dir().display()
            );
            Some(GrpoResume {
                progress: saved.progress,
                optimizer_file: saved.optimizer,
            })
        }
        None => None,
    };
    let opts = peft_options(ctx);
    let lora = ctx.cfg.lora_config();
    let (rd, backend) = (&ctx.rd, &ctx.backend);
    let mut save = |progress: &mut GrpoProgress, opt: &crate::train::AdamW| -> Result<()> {
        ckpt.save(rd, progress, |d| {
            save_peft(backend.model(), &lora, &d.join("adapter"), &opts)?;
            opt.save_state(&d.join(crate::train::OPTIMIZER_FILE))?;
            Ok(())
        })
    };
    let b = bar(ctx, k, "grpo", "steps");
    let out = grpo_phase::run_grpo(
        ctx.cfg, backend, &registry, &tasks, k, &b, resume, &mut save,
    )?;
    b.finish_and_clear();
    save_adapter(ctx, k)?;
    ctx.rd.write_phase_metrics(k, "grpo", &out.metrics)?;
    ctx.rd.write_json(&dir.join("train.json"), &out.summary)?;
    ctx.rd.write_json(&dir.join("grpo_pass.json"), &out.pass)?;
    crate::synth::output::write_jsonl(&dir.join("rewards.jsonl"), out.rollouts)?;
    // The checkpoint (it holds the final state too) goes once the phase is recorded
    // (`GrpoCheckpoint::remove`): until then a kill resumes from it, not from the adapter above.
    tracing::info!(
        iteration = k,
        reward = out.summary.reward,
        steps = out.summary.steps,
        "GRPO"
    );
    Ok(())
}

/// Assembles the iteration's summary, the next mix, exports and the report; then `latest`.
fn finalize_phase(ctx: &mut Ctx<'_>, k: usize) -> Result<()> {
    let cfg = ctx.cfg;
    let rd = &ctx.rd;
    let dir = rd.iter_dir(k);
    let need = |name: &str| -> Result<std::path::PathBuf> {
        let p = dir.join(name);
        if p.is_file() {
            Ok(p)
        } else {
            Err(missing(&p))
        }
    };
    let heldout: HeldoutResult = rd.read_json(&need("eval.json")?)?.unwrap_or_default();
    let heldout_base: Option<HeldoutResult> = if k == 0 {
        rd.read_json(&dir.join("eval_base.json"))?
    } else {
        None
    };
    let synth: SynthSummary = rd.read_json(&need("synth.json")?)?.unwrap_or_default();
    let train: TrainSummary = rd.read_json(&need("train.json")?)?.unwrap_or_default();
    let mix: BTreeMap<String, f64> = rd.read_json(&need("mix.json")?)?.unwrap_or_default();
    let bfcl: BTreeMap<String, f64> = rd.read_json(&dir.join("bfcl.json"))?.unwrap_or_default();
    let repair: Option<TrainSummary> = if k > 0 {
        rd.read_json(&dir.join("sft.json"))?
    } else {
        None
    };
    let timing_s: BTreeMap<String, f64> = rd
        .phases(k)?
        .completed
        .iter()
        .map(|p| (format!("timing_s/{}", p.phase), p.seconds))
        .collect();
    let floor = cfg.loop_.gap_floor;
    let next = match cfg.loop_.gap_source {
        GapSource::Heldout => next_mix(&heldout, floor),
        // The policy's own GRPO rollouts on training tasks; iteration 0 (no GRPO) keeps the
        // configured mix.
        GapSource::Grpo => match rd.read_json(&dir.join("grpo_pass.json"))? {
            Some(counts) => mix_from_pass_counts(&counts, floor),
            None => config_mix(&cfg.synth.categories),
        },
    };
    let summary = IterationSummary {
        iteration: k,
        next_mix: next,
        heldout,
        heldout_base,
        synth,
        repair,
        train,
        mix,
        bfcl,
        timing_s,
    };
    tracing::info!(iteration = k, next_mix = ?summary.next_mix, "gap-targeted mix for the next iteration");
    rd.write_json(&dir.join("summary.json"), &summary)?;
    if cfg.loop_.export_merged {
        let opts = crate::checkpoint::HfExportOptions {
            dtype: None,
            max_shard_bytes: 2 << 30,
            merge_adapter: true,
            tokenizer: Some(ctx.backend.tokenizer()),
            overwrite: true,
        };
        crate::checkpoint::export_hf(ctx.backend.model(), &dir.join("merged"), &opts)?;
    }
    // The best iteration by held-out accuracy (ties: mean gated reward, then the later one).
    let mut summaries = Vec::new();
    for j in 0..=k {
        if let Some(s) = rd.read_json::<IterationSummary>(&rd.iter_dir(j).join("summary.json"))? {
            summaries.push(s);
        }
    }
    let best = crate::runloop::summary::best_iteration(&summaries)
        .map(|s| s.iteration)
        .unwrap_or(k);
    rd.set_best(best)?;
    let metrics = rd.all_metrics(k)?;
    crate::runloop::report::write_report(rd.root(), &summaries, &metrics)?;
    rd.set_latest(k)?;
    for p in rd.prune(k, cfg.loop_.keep_last)? {
        tracing::info!("pruned {}", p.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_TOML;

    #[test]
    fn synth_only_settings_are_named() {
        let p = Path::new("t.toml");
        let cfg = Config::from_toml(DEFAULT_TOML, p).unwrap();
        assert!(synth_only_settings(&cfg).is_empty());
        // The LLM simulators play in the loop's synthesis phases.
        let text = DEFAULT_TOML.replacen(
            "[synth]\n",
            "[synth]\nuser_simulator = \"llm\"\nserver_simulator = \"llm\"\n",
            1,
        );
        let cfg = Config::from_toml(&text, p).unwrap();
        assert!(synth_only_settings(&cfg).is_empty());
        let text = format!(
            "{DEFAULT_TOML}\n[synth.policy_endpoint]\nurl = \"http://127.0.0.1:1/v1\"\nmodel = \"m\"\n"
        );
        let cfg = Config::from_toml(&text, p).unwrap();
        assert_eq!(synth_only_settings(&cfg), ["[synth.policy_endpoint]"]);
    }
}
