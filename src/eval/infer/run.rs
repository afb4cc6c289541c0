//! The evaluation: plan (categories, `limit`, what earlier runs already answered), generate in
//! batches with a progress bar, append answers as they come, score, and write `summary.json`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::generator::Generator;
use super::memory::{plan_memory, run_memory_category, MemoryPlan};
use super::multi_turn::{run_multi_turn_category, MultiTurnPlan, StepSettings};
use super::prompt::build_request;
use super::response::{clean_response, error_result, result_line};
use super::select::{pick_entries, select_categories};
use super::store::{remove_temporaries, write_atomic, ResultFile};
use super::summary::{CategorySummary, EvalSummary, EvaluatedAccuracy, InferenceStats};
use super::{Error, EvalProfile, Result};
use crate::backend::ChatRequest;
use crate::eval::category::{group, AGENTIC, MULTI_TURN, VERSION_PREFIX};
use crate::eval::data::load_category;
use crate::eval::multi_turn::driver_data::load_multi_turn_category;
use crate::eval::score::{score, ScoreArgs};

/// What produced the answers in an output directory; a resumed run must match it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// `model.source`.
    pub model_source: String,
    /// `model.tokenizer`, if set.
    pub tokenizer: Option<String>,
    /// `model.dtype`.
    pub dtype: String,
    /// PEFT adapter directory applied, if any.
    pub adapter: Option<String>,
    /// Token budget per answer.
    pub max_new_tokens: usize,
}

impl RunInfo {
    fn fields(&self) -> [(&'static str, String); 5] {
        let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "(none)".into());
        [
            ("model.source", self.model_source.clone()),
            ("model.tokenizer", opt(&self.tokenizer)),
            ("model.dtype", self.dtype.clone()),
            ("adapter", opt(&self.adapter)),
            ("max_new_tokens", self.max_new_tokens.to_string()),
        ]
    }
}

/// Everything [`run_eval`] needs besides the model.
#[derive(Debug, Clone)]
pub struct EvalArgs {
    /// Prompt/decoder profile.
    pub profile: EvalProfile,
    /// Category names or collections.
    pub categories: Vec<String>,
    /// BFCL data directory.
    pub data_dir: PathBuf,
    /// Output directory: receives `result/`, `score/`, `run_info.json`, `summary.json`.
    pub out_dir: PathBuf,
    /// At most this many entries per category.
    pub limit: Option<usize>,
    /// Conversations generated together.
    pub batch_size: usize,
    /// Seed stored in the requests (decoding is greedy).
    pub seed: u64,
    /// Draw a progress bar on stderr.
    pub show_progress: bool,
    /// What produces the answers (checked against earlier results in `out_dir`).
    pub run_info: RunInfo,
}

/// One entry still to answer.
struct Pending {
    id: String,
    request: ChatRequest,
}

struct CategoryPlan {
    category: String,
    dataset_count: usize,
    file: ResultFile,
    pending: Vec<Pending>,
    new_entries: usize,
}

fn json_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Json {
        path: path.to_path_buf(),
        msg: e.to_string(),
    }
}

/// Refuses to mix answers of different models/settings in one output directory.
fn check_run_info(out_dir: &Path, info: &RunInfo) -> Result<()> {
    let path = out_dir.join("run_info.json");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let old: RunInfo = serde_json::from_str(&text).map_err(|e| json_err(&path, e))?;
            for ((key, before), (_, now)) in old.fields().into_iter().zip(info.fields()) {
                if before != now {
                    return Err(Error::ResumeMismatch {
                        path,
                        key: key.to_string(),
                        before,
                        now,
                    });
                }
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = serde_json::to_string_pretty(info).map_err(|e| json_err(&path, e))?;
            write_atomic(&path, text.as_bytes())
        }
        Err(source) => Err(Error::Io { path, source }),
    }
}

fn progress_bar(total: usize, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:<24} [{bar:30}] {pos}/{len} entries  {per_sec}  ETA {eta}  ({elapsed})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Answers the pending entries of one category, batch by batch, appending as it goes.
fn run_category(
    gen: &dyn Generator,
    plan: &mut CategoryPlan,
    max_new_tokens: usize,
    batch_size: usize,
    bar: &ProgressBar,
    stats: &mut InferenceStats,
) -> Result<()> {
    bar.set_message(plan.category.clone());
    let ctx = gen.context_len();
    // (allowed new tokens, prompt length, entry); the official runner requests
    // min(4096, context - prompt - 2) tokens and errors when the prompt does not fit.
    let mut items = Vec::with_capacity(plan.pending.len());
    let mut errors = Vec::new();
    for p in plan.pending.drain(..) {
        let len = gen.prompt_len(&p.request)?;
        let room = ctx.saturating_sub(len + 2);
        if room == 0 {
            let msg = format!(
                "the prompt has {len} tokens, which leaves no room in the model's context of {ctx} tokens"
            );
            errors.push((
                p.id.clone(),
                result_line(&p.id, &error_result(&msg), len, 0),
            ));
        } else {
            items.push((room.min(max_new_tokens), len, p));
        }
    }
    let n_errors = errors.len();
    plan.file.append(errors)?;
    plan.new_entries += n_errors;
    stats.new_entries += n_errors;
    bar.inc(n_errors as u64);
    // Longest prompts first: similar lengths share a batch (less padding), and memory peaks early.
    items.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let mut start = 0;
    while start < items.len() {
        let budget = items[start].0;
        let mut end = start;
        while end < items.len() && end - start < batch_size && items[end].0 == budget {
            end += 1;
        }
        let batch = &items[start..end];
        let requests: Vec<ChatRequest> = batch.iter().map(|(_, _, p)| p.request.clone()).collect();
        let t = Instant::now();
        let outs = gen.generate(&requests, budget)?;
        stats.generation_s += t.elapsed().as_secs_f64();
        if outs.len() != batch.len() {
            return Err(Error::Invalid(format!(
                "the model returned {} completions for {} prompts",
                outs.len(),
                batch.len()
            )));
        }
        let lines: Vec<(String, String)> = batch
            .iter()
            .zip(&outs)
            .map(|((_, _, p), g)| {
                stats.prompt_tokens += g.prompt_tokens;
                stats.completion_tokens += g.completion_tokens;
                let line = result_line(
                    &p.id,
                    clean_response(&g.text),
                    g.prompt_tokens,
                    g.completion_tokens,
                );
                (p.id.clone(), line)
            })
            .collect();
        plan.file.append(lines)?;
        plan.new_entries += batch.len();
        stats.new_entries += batch.len();
        bar.inc(batch.len() as u64);
        start = end;
    }
    plan.file.finish()
}

/// Logs a finished category above the progress bar.
fn category_done(bar: &ProgressBar, category: &str, new: usize, answered: usize) {
    bar.suspend(|| tracing::info!(category, new, answered, "category done"));
}

/// The plan of a multi-turn category: its entries (after `limit`) not yet in the result file.
fn plan_multi_turn(
    args: &EvalArgs,
    cat: &str,
    result_dir: &Path,
    stats: &mut InferenceStats,
) -> Result<MultiTurnPlan> {
    let entries = load_multi_turn_category(&args.data_dir, cat)?;
    let path = result_dir
        .join(args.profile.model_dir_name())
        .join(group(cat))
        .join(format!("{VERSION_PREFIX}_{cat}_result.json"));
    let file = ResultFile::open(&path)?;
    let dataset_count = entries.len();
    let keep = pick_entries(dataset_count, args.limit);
    let mut pending = Vec::new();
    for (i, entry) in entries.into_iter().enumerate() {
        if !keep.contains(&i) {
            continue;
        }
        if file.contains(&entry.id) {
            stats.resumed_entries += 1;
        } else {
            pending.push(entry);
        }
    }
    Ok(MultiTurnPlan {
        category: cat.to_string(),
        dataset_count,
        file,
        pending,
        new_entries: 0,
    })
}

/// Runs BFCL inference for the requested categories into `args.out_dir`, scores the result
/// files, and writes `summary.json`. Entries already answered there are kept, not recomputed.
pub fn run_eval(gen: &dyn Generator, args: &EvalArgs) -> Result<EvalSummary> {
    let t0 = Instant::now();
    if args.batch_size == 0 || args.run_info.max_new_tokens == 0 || args.limit == Some(0) {
        return Err(Error::Invalid(
            "batch_size, max_new_tokens and limit must be > 0".into(),
        ));
    }
    let spec = args.profile.model_spec().ok_or_else(|| {
        Error::Invalid(format!(
            "the scorer does not know {}",
            args.profile.registry_name()
        ))
    })?;
    let (categories, skipped) = select_categories(&args.categories)?;
    if categories.is_empty() {
        let why: Vec<String> = skipped
            .iter()
            .map(|s| format!("{} ({})", s.category, s.reason))
            .collect();
        return Err(Error::NothingToEvaluate(why.join("; ")));
    }
    if !args.data_dir.is_dir() {
        return Err(Error::NoData(args.data_dir.clone()));
    }
    check_run_info(&args.out_dir, &args.run_info)?;

    let model_dir = args.profile.model_dir_name();
    let result_dir = args.out_dir.join("result");
    let score_dir = args.out_dir.join("score");
    for dir in [result_dir.join(&model_dir), score_dir.join(&model_dir)] {
        let n = remove_temporaries(&dir)?;
        if n > 0 {
            tracing::info!(dir = %dir.display(), n, "removed temporaries left by an interrupted run");
        }
    }
    let mut stats = InferenceStats::default();
    let mut plans = Vec::new();
    let mut mt_plans = Vec::new();
    let mut mem_plans: Vec<MemoryPlan> = Vec::new();
    for cat in &categories {
        if MULTI_TURN.contains(&cat.as_str()) {
            mt_plans.push(plan_multi_turn(args, cat, &result_dir, &mut stats)?);
            continue;
        }
        if AGENTIC.contains(&cat.as_str()) {
            mem_plans.push(plan_memory(
                &args.data_dir,
                &result_dir.join(&model_dir),
                cat,
                args.limit,
                &mut stats,
            )?);
            continue;
        }
        let data = load_category(&args.data_dir, cat)?;
        let path = result_dir
            .join(&model_dir)
            .join(group(cat))
            .join(format!("{VERSION_PREFIX}_{cat}_result.json"));
        let file = ResultFile::open(&path)?;
        let mut pending = Vec::new();
        for i in pick_entries(data.entries.len(), args.limit) {
            let Some(entry) = data.entries.get(i) else {
                continue;
            };
            if file.contains(&entry.id) {
                stats.resumed_entries += 1;
                continue;
            }
            pending.push(Pending {
                id: entry.id.clone(),
                request: build_request(entry, cat, args.profile, args.seed)?,
            });
        }
        plans.push(CategoryPlan {
            category: cat.clone(),
            dataset_count: data.entries.len(),
            file,
            pending,
            new_entries: 0,
        });
    }

    let total: usize = plans.iter().map(|p| p.pending.len()).sum::<usize>()
        + mt_plans.iter().map(|p| p.pending.len()).sum::<usize>()
        + mem_plans
            .iter()
            .map(MemoryPlan::pending_count)
            .sum::<usize>();
    let bar = progress_bar(total, args.show_progress);
    for plan in &mut plans {
        run_category(
            gen,
            plan,
            args.run_info.max_new_tokens,
            args.batch_size,
            &bar,
            &mut stats,
        )?;
        category_done(&bar, &plan.category, plan.new_entries, plan.file.len());
    }
    let settings = StepSettings {
        profile: args.profile,
        seed: args.seed,
        max_new_tokens: args.run_info.max_new_tokens,
        batch_size: args.batch_size,
    };
    for plan in &mut mt_plans {
        run_multi_turn_category(gen, plan, settings, &bar, &mut stats)?;
        category_done(&bar, &plan.category, plan.new_entries, plan.file.len());
    }
    for plan in &mut mem_plans {
        run_memory_category(gen, plan, settings, &bar, &mut stats)?;
        category_done(&bar, &plan.category, plan.new_entries, plan.file.len());
    }
    bar.finish_and_clear();
    if stats.generation_s > 0.0 {
        stats.tokens_per_s = stats.completion_tokens as f64 / stats.generation_s;
        stats.entries_per_s = stats.new_entries as f64 / stats.generation_s;
    }

    let partial_eval = plans.iter().any(|p| p.file.len() < p.dataset_count)
        || mt_plans.iter().any(|p| p.file.len() < p.dataset_count)
        || mem_plans.iter().any(|p| p.file.len() < p.dataset_count);
    let scored = score(&ScoreArgs {
        result_dir: result_dir.clone(),
        score_dir: score_dir.clone(),
        model: spec.name.to_string(),
        categories: Some(categories.clone()),
        partial_eval,
        data_dir: args.data_dir.clone(),
    })?;

    let mut cats = Vec::new();
    for cs in &scored.categories {
        // (category, entries in the dataset, answered by this run, inference errors)
        let plan = plans
            .iter()
            .map(|p| (&p.category, p.dataset_count, p.new_entries, &p.file))
            .chain(
                mt_plans
                    .iter()
                    .map(|p| (&p.category, p.dataset_count, p.new_entries, &p.file)),
            )
            .chain(
                mem_plans
                    .iter()
                    .map(|p| (&p.category, p.dataset_count, p.new_entries, &p.file)),
            )
            .find(|p| *p.0 == cs.category)
            .map(|p| (p.1, p.2, p.3.error_count()));
        cats.push(CategorySummary {
            category: cs.category.clone(),
            group: cs.group.clone(),
            accuracy: cs.accuracy,
            correct_count: cs.correct_count,
            total_count: cs.total_count,
            dataset_count: plan.map_or(0, |p| p.0),
            new_entries: plan.map_or(0, |p| p.1),
            inference_errors: plan.map_or(0, |p| p.2),
            unscored: cs.unscored.clone(),
            prerequisite_errors: mem_plans
                .iter()
                .find(|p| p.category == cs.category)
                .map_or(0, MemoryPlan::prerequisite_errors),
        });
    }
    let entries: usize = cats.iter().map(|c| c.total_count).sum();
    let correct: usize = cats.iter().map(|c| c.correct_count).sum();
    let evaluated = EvaluatedAccuracy {
        entries,
        correct,
        accuracy: if entries > 0 {
            correct as f64 / entries as f64
        } else {
            0.0
        },
        mean_category_accuracy: if cats.is_empty() {
            0.0
        } else {
            cats.iter().map(|c| c.accuracy).sum::<f64>() / cats.len() as f64
        },
    };
    let summary = EvalSummary {
        profile: args.profile.as_str().to_string(),
        bfcl_model: spec.name.to_string(),
        model_source: args.run_info.model_source.clone(),
        adapter: args.run_info.adapter.clone(),
        decoding: "greedy".into(),
        max_new_tokens: args.run_info.max_new_tokens,
        limit: args.limit,
        partial_eval,
        data_dir: args.data_dir.clone(),
        categories: cats,
        skipped,
        evaluated,
        bfcl_overall: scored.overall,
        inference: stats,
        wall_s: t0.elapsed().as_secs_f64(),
        result_dir,
        score_dir,
    };
    let path = args.out_dir.join("summary.json");
    let mut text = serde_json::to_string_pretty(&summary).map_err(|e| json_err(&path, e))?;
    text.push('\n');
    write_atomic(&path, text.as_bytes())?;
    Ok(summary)
}
