//! Multi-turn inference for one category: every pending entry's [`Conversation`] advances step
//! by step; each round, the conversations waiting for the model are generated in batches (equal
//! token budgets together), and a finished entry's result line is appended at once (a killed run
//! resumes at the first unfinished entry).
//!
//! As in the official runner, the budget of a step is `min(max_new_tokens, context - prompt - 2)`
//! and a prompt that leaves no room makes the whole entry an inference error
//! (`"Error during inference: ..."`, scored `multi_turn:inference_error`).

use std::time::Instant;

use indicatif::ProgressBar;

use super::generator::Generator;
use super::response::{error_result, multi_turn_result_line, result_line};
use super::store::ResultFile;
use super::summary::InferenceStats;
use super::{EvalProfile, Result};
use crate::eval::multi_turn::driver::{Conversation, Outcome};
use crate::eval::multi_turn::driver_data::MultiTurnEntry;
use crate::eval::multi_turn::PyProcess;

/// One multi-turn category to run.
pub struct MultiTurnPlan {
    /// Category name.
    pub category: String,
    /// Entries in the dataset.
    pub dataset_count: usize,
    /// The category's result file.
    pub file: ResultFile,
    /// Entries still to answer.
    pub pending: Vec<MultiTurnEntry>,
    /// Entries answered by this run.
    pub new_entries: usize,
}

/// Settings shared by every step.
#[derive(Debug, Clone, Copy)]
pub struct StepSettings {
    /// Prompt/decoder profile.
    pub profile: EvalProfile,
    /// Seed stored in the requests.
    pub seed: u64,
    /// Token budget per step.
    pub max_new_tokens: usize,
    /// Conversations generated together.
    pub batch_size: usize,
}

fn line_of(id: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Turns {
            result,
            input_token_count,
            output_token_count,
        } => multi_turn_result_line(id, result, input_token_count, output_token_count),
        Outcome::Error(msg) => result_line(id, &error_result(msg), 0, 0),
    }
}

/// Runs every pending entry of `plan` to the end, appending result lines as entries finish.
pub fn run_multi_turn_category(
    gen: &dyn Generator,
    plan: &mut MultiTurnPlan,
    settings: StepSettings,
    bar: &ProgressBar,
    stats: &mut InferenceStats,
) -> Result<()> {
    bar.set_message(plan.category.clone());
    let process = PyProcess::new();
    let entries: Vec<MultiTurnEntry> = plan.pending.drain(..).collect();
    plan.new_entries += run_conversations(
        gen,
        &entries,
        &process,
        &mut plan.file,
        settings,
        bar,
        stats,
        &mut |_| Ok(()),
    )?;
    plan.file.finish()
}

/// Runs the conversations of `entries` together to the end. As each finishes, `on_finish` sees
/// it (a memory prerequisite saves its snapshot there), then its result line is appended to
/// `file`. Returns the number of lines appended.
#[allow(clippy::too_many_arguments)]
pub fn run_conversations(
    gen: &dyn Generator,
    entries: &[MultiTurnEntry],
    process: &PyProcess,
    file: &mut ResultFile,
    settings: StepSettings,
    bar: &ProgressBar,
    stats: &mut InferenceStats,
    on_finish: &mut dyn FnMut(&Conversation) -> Result<()>,
) -> Result<usize> {
    let mut active = Vec::new();
    let mut done = Vec::new();
    for entry in entries {
        match Conversation::new(entry, settings.profile, process, settings.seed) {
            Ok(c) => active.push(c),
            Err(e) => done.push((
                entry.id.clone(),
                result_line(&entry.id, &error_result(&e.to_string()), 0, 0),
            )),
        }
    }
    let ctx = gen.context_len();
    let mut appended = 0;
    while !active.is_empty() || !done.is_empty() {
        let n_done = done.len();
        file.append(std::mem::take(&mut done))?;
        appended += n_done;
        stats.new_entries += n_done;
        bar.inc(n_done as u64);
        // (conversation index, request, prompt length, budget)
        let mut items = Vec::new();
        for (i, conv) in active.iter_mut().enumerate() {
            let Some(request) = conv.request() else {
                continue;
            };
            let len = gen.prompt_len(&request)?;
            let room = ctx.saturating_sub(len + 2);
            if room == 0 {
                conv.fail(format!(
                    "the prompt has {len} tokens, which leaves no room in the model's context of {ctx} tokens"
                ));
            } else {
                items.push((i, request, len, room.min(settings.max_new_tokens)));
            }
        }
        items.sort_by(|a, b| b.3.cmp(&a.3).then(b.2.cmp(&a.2)));
        let mut start = 0;
        while start < items.len() {
            let budget = items[start].3;
            let mut end = start;
            while end < items.len() && end - start < settings.batch_size && items[end].3 == budget {
                end += 1;
            }
            let batch = &items[start..end];
            let requests: Vec<_> = batch.iter().map(|it| it.1.clone()).collect();
            let t = Instant::now();
            let outs = gen.generate(&requests, budget)?;
            stats.generation_s += t.elapsed().as_secs_f64();
            if outs.len() != batch.len() {
                return Err(super::Error::Invalid(format!(
                    "the model returned {} completions for {} prompts",
                    outs.len(),
                    batch.len()
                )));
            }
            for (it, g) in batch.iter().zip(&outs) {
                stats.prompt_tokens += g.prompt_tokens;
                stats.completion_tokens += g.completion_tokens;
                if let Some(conv) = active.get_mut(it.0) {
                    conv.feed(&g.text, g.prompt_tokens, g.completion_tokens);
                }
            }
            start = end;
        }
        // Finished conversations (including one whose last step made the next prompt unbuildable:
        // `request()` has just ended it) leave the active set.
        let mut still = Vec::with_capacity(active.len());
        for conv in active {
            match conv.outcome() {
                Some(outcome) => {
                    on_finish(&conv)?;
                    done.push((conv.id().to_string(), line_of(conv.id(), outcome)));
                }
                None => still.push(conv),
            }
        }
        active = still;
    }
    Ok(appended)
}
