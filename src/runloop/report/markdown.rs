//! `report.md`: the headline, tables over iterations and the embedded plots.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::runloop::summary::{best_iteration, CategoryScore, HeldoutResult, IterationSummary};

use super::figures::{ACCEPTANCE, ACCURACY, KL, LENGTH, REWARD, SFT_LOSS};

/// A figure as the text sees it: drawn (`Ok`) or left out with a note (`Err`).
pub struct FigureRef<'a> {
    pub file: &'a str,
    pub caption: &'a str,
    pub drawn: Result<(), &'a str>,
}

/// Counts of logged training steps, for the training section.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepCounts {
    pub sft: usize,
    pub grpo: usize,
}

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

fn signed_points(delta: f64) -> String {
    format!("{:+.1}", 100.0 * delta)
}

fn num(x: f64, decimals: usize) -> String {
    format!("{x:.decimals$}")
}

fn opt(x: Option<f64>, decimals: usize) -> String {
    x.map_or_else(|| "–".to_string(), |v| num(v, decimals))
}

/// A table cell: `|` escaped, line breaks flattened.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn table_row(cells: &[String]) -> String {
    format!("| {} |\n", cells.join(" | "))
}

fn table_head(cells: &[String]) -> String {
    let rule: Vec<String> = cells.iter().map(|_| "---".to_string()).collect();
    table_row(cells) + &table_row(&rule)
}

/// Renders the whole report; `summaries` sorted by iteration, without duplicates.
pub fn render(
    title: &str,
    summaries: &[IterationSummary],
    figures: &[FigureRef<'_>],
    steps: StepCounts,
) -> String {
    let mut md = format!("# Training report: {}\n\n", cell(title));
    let Some(latest) = summaries.last() else {
        md.push_str("No iteration has completed yet: nothing to report.\n");
        return md;
    };
    headline(&mut md, summaries, latest);
    accuracy_section(&mut md, summaries, figures);
    training_section(&mut md, summaries, figures, steps);
    synthesis_section(&mut md, summaries, figures);
    mix_section(&mut md, latest);
    bfcl_section(&mut md, summaries);
    failures_section(&mut md, latest);
    timing_section(&mut md, summaries);
    md
}

fn figure(md: &mut String, figures: &[FigureRef<'_>], file: &str) {
    let Some(f) = figures.iter().find(|f| f.file == file) else {
        return;
    };
    match f.drawn {
        Ok(()) => {
            let _ = writeln!(md, "![{}]({})\n", f.caption, f.file);
        }
        Err(note) => {
            let _ = writeln!(md, "_{}: not plotted, {}._\n", f.caption, note);
        }
    }
}

/// The base model's held-out result, if the run measured it.
fn base_of(summaries: &[IterationSummary]) -> Option<&HeldoutResult> {
    summaries.iter().find_map(|s| s.heldout_base.as_ref())
}

fn headline(md: &mut String, summaries: &[IterationSummary], latest: &IterationSummary) {
    let first = summaries.first().unwrap_or(latest);
    let now = &latest.heldout;
    let (from_label, from) = match base_of(summaries) {
        Some(b) => ("base model".to_string(), Some(b)),
        None if summaries.len() > 1 => (
            format!("iteration {}", first.iteration),
            Some(&first.heldout),
        ),
        None => (String::new(), None),
    };
    match from {
        Some(from) => {
            let _ = writeln!(
                md,
                "**Held-out accuracy: {} ({}) → {} (iteration {}), {} points.** \
                 Held-out mean gated reward {} → {}.\n",
                pct(from.accuracy),
                from_label,
                pct(now.accuracy),
                latest.iteration,
                signed_points(now.accuracy - from.accuracy),
                num(from.mean_reward, 3),
                num(now.mean_reward, 3),
            );
        }
        None => {
            let _ = writeln!(
                md,
                "**Held-out accuracy after iteration {}: {}.** Held-out mean gated reward {}.\n",
                latest.iteration,
                pct(now.accuracy),
                num(now.mean_reward, 3),
            );
        }
    }
    let scored: Vec<(&String, f64)> = now
        .per_category
        .iter()
        .filter(|(_, s)| s.tasks > 0)
        .map(|(c, s)| (c, s.accuracy))
        .collect();
    let best = scored.iter().max_by(|a, b| a.1.total_cmp(&b.1));
    let worst = scored.iter().min_by(|a, b| a.1.total_cmp(&b.1));
    if let (Some(best), Some(worst)) = (best, worst) {
        if scored.len() > 1 {
            let _ = writeln!(
                md,
                "Strongest category: `{}` ({}); weakest: `{}` ({}).\n",
                best.0,
                pct(best.1),
                worst.0,
                pct(worst.1)
            );
        }
    }
    let _ = writeln!(
        md,
        "{} iteration(s) complete ({}–{}).\n",
        summaries.len(),
        first.iteration,
        latest.iteration
    );
    if let Some(b) = best_iteration(summaries).filter(|_| summaries.len() > 1) {
        let _ = writeln!(
            md,
            "Best iteration by held-out accuracy (ties: the higher mean gated reward, then the later \
             one; the run directory's `best`): \
             {} ({}, mean gated reward {}).\n",
            b.iteration,
            pct(b.heldout.accuracy),
            num(b.heldout.mean_reward, 3),
        );
    }
}

fn accuracy_section(md: &mut String, summaries: &[IterationSummary], figures: &[FigureRef<'_>]) {
    md.push_str("## Held-out accuracy per category\n\n");
    let base = base_of(summaries);
    let mut columns: Vec<(String, &HeldoutResult)> = Vec::new();
    if let Some(b) = base {
        columns.push(("base".to_string(), b));
    }
    columns.extend(
        summaries
            .iter()
            .map(|s| (format!("iter {}", s.iteration), &s.heldout)),
    );
    let mut categories = BTreeSet::new();
    for (_, r) in &columns {
        categories.extend(r.per_category.keys().cloned());
    }
    let mut head = vec!["category".to_string(), "tasks".to_string()];
    head.extend(columns.iter().map(|c| c.0.clone()));
    let with_change = columns.len() > 1;
    if with_change {
        head.push("change (points)".to_string());
    }
    md.push_str(&table_head(&head));
    let first = columns.first().map(|c| c.1);
    let last = columns.last().map(|c| c.1);
    let score_row = |label: String, get: &dyn Fn(&HeldoutResult) -> Option<&CategoryScore>| {
        let tasks = last
            .and_then(get)
            .map_or_else(|| "–".to_string(), |s| s.tasks.to_string());
        let mut row = vec![label, tasks];
        row.extend(
            columns
                .iter()
                .map(|(_, r)| get(r).map_or_else(|| "–".to_string(), |s| pct(s.accuracy))),
        );
        if with_change {
            row.push(match (first.and_then(get), last.and_then(get)) {
                (Some(a), Some(b)) => signed_points(b.accuracy - a.accuracy),
                _ => "–".to_string(),
            });
        }
        table_row(&row)
    };
    for c in &categories {
        md.push_str(&score_row(format!("`{}`", cell(c)), &|r| {
            r.per_category.get(c)
        }));
    }
    let mut levels = BTreeSet::new();
    for (_, r) in &columns {
        levels.extend(r.per_difficulty.keys().cloned());
    }
    for d in ["easy", "medium", "hard"]
        .iter()
        .filter(|d| levels.contains(**d))
    {
        md.push_str(&score_row(format!("*{d} tasks*"), &|r| {
            r.per_difficulty.get(*d)
        }));
    }
    let total: usize = last.map_or(0, |r| r.per_category.values().map(|s| s.tasks).sum());
    let mut row = vec!["**overall**".to_string(), total.to_string()];
    row.extend(
        columns
            .iter()
            .map(|(_, r)| format!("**{}**", pct(r.accuracy))),
    );
    if with_change {
        if let (Some(a), Some(b)) = (first, last) {
            row.push(format!("**{}**", signed_points(b.accuracy - a.accuracy)));
        }
    }
    md.push_str(&table_row(&row));
    md.push('\n');
    figure(md, figures, ACCURACY);
}

fn training_section(
    md: &mut String,
    summaries: &[IterationSummary],
    figures: &[FigureRef<'_>],
    steps: StepCounts,
) {
    md.push_str("## Training\n\n");
    let _ = writeln!(
        md,
        "Steps logged in `metrics.jsonl`: {} SFT, {} GRPO.\n",
        steps.sft, steps.grpo
    );
    let head: Vec<String> = [
        "iter",
        "phase",
        "steps",
        "skipped",
        "sequences",
        "dropped",
        "first loss",
        "last loss",
        "reward",
        "KL",
        "mean length",
        "peak RSS (MB)",
        "seconds",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    md.push_str(&table_head(&head));
    // Iterations ≥ 1 train twice: the repair SFT, then GRPO; one row each, in that order.
    let phases = summaries
        .iter()
        .flat_map(|s| s.repair.iter().chain([&s.train]).map(|t| (s.iteration, t)));
    for (iteration, t) in phases {
        md.push_str(&table_row(&[
            iteration.to_string(),
            cell(&t.phase),
            t.steps.to_string(),
            t.skipped.to_string(),
            t.sequences.to_string(),
            t.dropped.to_string(),
            num(t.first_loss, 4),
            num(t.last_loss, 4),
            opt(t.reward, 3),
            opt(t.kl, 4),
            opt(t.mean_length, 1),
            num(t.peak_rss_mb, 0),
            num(t.seconds, 1),
        ]));
    }
    md.push('\n');
    for f in [REWARD, SFT_LOSS, KL, LENGTH] {
        figure(md, figures, f);
    }
}

fn synthesis_section(md: &mut String, summaries: &[IterationSummary], figures: &[FigureRef<'_>]) {
    md.push_str("## Synthesis\n\n");
    let head: Vec<String> = [
        "iter",
        "assistant",
        "episodes",
        "accepted",
        "acceptance",
        "seconds",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    md.push_str(&table_head(&head));
    for s in summaries {
        let y = &s.synth;
        md.push_str(&table_row(&[
            s.iteration.to_string(),
            cell(&y.assistant),
            y.episodes.to_string(),
            y.accepted.to_string(),
            pct(y.acceptance_rate),
            num(y.seconds, 1),
        ]));
    }
    md.push('\n');
    figure(md, figures, ACCEPTANCE);
}

fn mix_section(md: &mut String, latest: &IterationSummary) {
    md.push_str("## Next category mix\n\n");
    if latest.next_mix.is_empty() && latest.mix.is_empty() {
        md.push_str("No category mix recorded.\n\n");
        return;
    }
    let _ = writeln!(
        md,
        "Weights of the categories in the next iteration's synthesis, from iteration {}'s \
         held-out error rates.\n",
        latest.iteration
    );
    let mut categories: BTreeSet<&String> = latest.mix.keys().collect();
    categories.extend(latest.next_mix.keys());
    let head = vec![
        "category".to_string(),
        format!("held-out accuracy (iter {})", latest.iteration),
        format!("mix used (iter {})", latest.iteration),
        "next mix".to_string(),
    ];
    md.push_str(&table_head(&head));
    for c in categories {
        let acc = latest
            .heldout
            .per_category
            .get(c)
            .map_or_else(|| "–".to_string(), |s| pct(s.accuracy));
        let w = |m: &BTreeMap<String, f64>| opt(m.get(c).copied(), 3);
        md.push_str(&table_row(&[
            format!("`{}`", cell(c)),
            acc,
            w(&latest.mix),
            w(&latest.next_mix),
        ]));
    }
    md.push('\n');
}

fn bfcl_section(md: &mut String, summaries: &[IterationSummary]) {
    let with: Vec<&IterationSummary> = summaries.iter().filter(|s| !s.bfcl.is_empty()).collect();
    if with.is_empty() {
        return;
    }
    md.push_str("## BFCL accuracy\n\n");
    let categories: BTreeSet<&String> = with.iter().flat_map(|s| s.bfcl.keys()).collect();
    let mut head = vec!["category".to_string()];
    head.extend(with.iter().map(|s| format!("iter {}", s.iteration)));
    md.push_str(&table_head(&head));
    for c in categories {
        let mut row = vec![format!("`{}`", cell(c))];
        row.extend(
            with.iter()
                .map(|s| s.bfcl.get(c).map_or_else(|| "–".to_string(), |a| pct(*a))),
        );
        md.push_str(&table_row(&row));
    }
    md.push('\n');
}

fn failures_section(md: &mut String, latest: &IterationSummary) {
    let failures = &latest.heldout.failures;
    if failures.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "## Held-out failures (iteration {})\n",
        latest.iteration
    );
    let mut sorted: Vec<(&String, &usize)> = failures.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    md.push_str(&table_head(&["reason".to_string(), "episodes".to_string()]));
    for (reason, n) in sorted {
        md.push_str(&table_row(&[cell(reason), n.to_string()]));
    }
    md.push('\n');
}

fn timing_section(md: &mut String, summaries: &[IterationSummary]) {
    md.push_str("## Time per phase (seconds)\n\n");
    let phases: BTreeSet<&String> = summaries
        .iter()
        .flat_map(|s| s.timing_s.keys())
        .filter(|k| !is_total(k))
        .collect();
    if phases.is_empty() {
        md.push_str("No timings recorded.\n");
        return;
    }
    let mut head = vec!["iter".to_string()];
    head.extend(
        phases
            .iter()
            .map(|p| cell(p.strip_prefix("timing_s/").unwrap_or(p))),
    );
    head.push("total".to_string());
    md.push_str(&table_head(&head));
    let mut grand = 0.0;
    for s in summaries {
        let mut row = vec![s.iteration.to_string()];
        row.extend(phases.iter().map(|p| opt(s.timing_s.get(*p).copied(), 1)));
        // A recorded total wins over the sum of the phases (which may leave time out).
        let total = match s.timing_s.iter().find(|(k, _)| is_total(k)) {
            Some((_, t)) => *t,
            None => s.timing_s.values().sum(),
        };
        grand += total;
        row.push(num(total, 1));
        md.push_str(&table_row(&row));
    }
    let _ = writeln!(md, "\nTotal over all iterations: {} s.", num(grand, 1));
}

fn is_total(key: &str) -> bool {
    key.strip_prefix("timing_s/").unwrap_or(key) == "total"
}
