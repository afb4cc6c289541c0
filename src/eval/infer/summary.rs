//! `summary.json` of an evaluation and its printed table.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::select::SkippedCategory;
use crate::eval::leaderboard::Aggregate;
use crate::eval::score::Unscored;

/// Score of one evaluated category.
#[derive(Debug, Clone, Serialize)]
pub struct CategorySummary {
    /// Category name.
    pub category: String,
    /// `non_live`, `live` or `multi_turn`.
    pub group: String,
    /// `correct_count / total_count`.
    pub accuracy: f64,
    /// Entries that passed.
    pub correct_count: usize,
    /// Entries scored (those in the result file).
    pub total_count: usize,
    /// Entries in the BFCL category.
    pub dataset_count: usize,
    /// Entries answered by this invocation (the others were already in the result file).
    pub new_entries: usize,
    /// Answers that are `Error during inference: ...` (e.g. the prompt exceeds the context).
    pub inference_errors: usize,
    /// Entries the scorer could not score faithfully (counted as not correct), with reasons.
    pub unscored: Vec<Unscored>,
    /// Memory categories: prerequisite conversations that ended in an inference error (their
    /// memory was not saved; the questions saw less).
    #[serde(skip_serializing_if = "is_zero")]
    pub prerequisite_errors: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Inference statistics of this invocation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InferenceStats {
    /// Entries generated now.
    pub new_entries: usize,
    /// Entries found in existing result files and not recomputed.
    pub resumed_entries: usize,
    /// Seconds spent generating.
    pub generation_s: f64,
    /// Prompt tokens of the new entries.
    pub prompt_tokens: usize,
    /// Generated tokens of the new entries.
    pub completion_tokens: usize,
    /// `completion_tokens / generation_s`.
    pub tokens_per_s: f64,
    /// `new_entries / generation_s`.
    pub entries_per_s: f64,
}

/// Micro and macro accuracy over the evaluated categories only.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvaluatedAccuracy {
    /// Scored entries over all evaluated categories.
    pub entries: usize,
    /// Of which passed.
    pub correct: usize,
    /// `correct / entries`.
    pub accuracy: f64,
    /// Unweighted mean of the category accuracies.
    pub mean_category_accuracy: f64,
}

/// Everything `summary.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct EvalSummary {
    /// `fc` or `prompting`.
    pub profile: String,
    /// Registered BFCL model name the files are written and scored under.
    pub bfcl_model: String,
    /// The evaluated model (`model.source`), and the adapter applied, if any.
    pub model_source: String,
    /// PEFT adapter directory applied to the model.
    pub adapter: Option<String>,
    /// Decoding: always greedy (BFCL runs at temperature 0.001).
    pub decoding: String,
    /// Token budget per answer.
    pub max_new_tokens: usize,
    /// Entries per category (`None` = all).
    pub limit: Option<usize>,
    /// Whether some category was scored on a subset of its entries (`--partial-eval`).
    pub partial_eval: bool,
    /// BFCL data directory.
    pub data_dir: PathBuf,
    /// Per category.
    pub categories: Vec<CategorySummary>,
    /// Requested categories that were not evaluated.
    pub skipped: Vec<SkippedCategory>,
    /// Accuracy over the evaluated categories only.
    pub evaluated: EvaluatedAccuracy,
    /// The official v4 aggregation over the score directory (categories never evaluated count 0).
    pub bfcl_overall: Aggregate,
    /// Inference statistics.
    pub inference: InferenceStats,
    /// Wall time of the whole command, seconds.
    pub wall_s: f64,
    /// Result files' root (`.../result`).
    pub result_dir: PathBuf,
    /// Score files' root (`.../score`).
    pub score_dir: PathBuf,
}

impl fmt::Display for EvalSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "BFCL v4 ({} profile, scored as {}), model {}{}",
            self.profile,
            self.bfcl_model,
            self.model_source,
            self.adapter
                .as_deref()
                .map(|a| format!(" + adapter {a}"))
                .unwrap_or_default()
        )?;
        writeln!(
            f,
            "{:<24} {:>8} {:>15} {:>8}",
            "category", "accuracy", "correct/scored", "dataset"
        )?;
        for c in &self.categories {
            writeln!(
                f,
                "{:<24} {:>7.2}% {:>7}/{:<7} {:>8}{}",
                c.category,
                c.accuracy * 100.0,
                c.correct_count,
                c.total_count,
                c.dataset_count,
                if c.inference_errors > 0 {
                    format!("  ({} inference errors)", c.inference_errors)
                } else {
                    String::new()
                }
            )?;
            if c.prerequisite_errors > 0 {
                writeln!(
                    f,
                    "  {} prerequisite conversations ended in an inference error (their memory was not saved)",
                    c.prerequisite_errors
                )?;
            }
            if !c.unscored.is_empty() {
                writeln!(
                    f,
                    "  {} UNSCORED (counted as not correct; the accuracy is a lower bound), e.g. {}",
                    c.unscored.len(),
                    c.unscored[0].reason
                )?;
            }
        }
        let e = &self.evaluated;
        writeln!(
            f,
            "evaluated: {:.2}% of {} entries (mean over categories {:.2}%)",
            e.accuracy * 100.0,
            e.entries,
            e.mean_category_accuracy * 100.0
        )?;
        let o = &self.bfcl_overall;
        writeln!(
            f,
            "BFCL v4 aggregate (missing categories count 0): overall {:.2}%  non_live {:.2}%  live {:.2}%  irrelevance {:.2}%  multi_turn {:.2}%",
            o.overall * 100.0,
            o.non_live * 100.0,
            o.live * 100.0,
            o.irrelevance * 100.0,
            o.multi_turn * 100.0
        )?;
        if self.partial_eval {
            writeln!(
                f,
                "PARTIAL evaluation{}: some categories were scored on a subset of their entries (--partial-eval); not comparable with full BFCL scores",
                self.limit
                    .map(|l| format!(" (limit {l} per category)"))
                    .unwrap_or_default()
            )?;
        }
        for s in &self.skipped {
            writeln!(f, "skipped {}: {}", s.category, s.reason)?;
        }
        let i = &self.inference;
        writeln!(
            f,
            "inference: {} new, {} resumed; {:.1}s, {:.2} entries/s, {:.1} tokens/s; total {:.1}s",
            i.new_entries,
            i.resumed_entries,
            i.generation_s,
            i.entries_per_s,
            i.tokens_per_s,
            self.wall_s
        )?;
        write!(
            f,
            "results in {}, scores in {}",
            self.result_dir.display(),
            self.score_dir.display()
        )
    }
}
