//! The report's charts, built from the iteration summaries and the metrics lines.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use super::plot::{palette, Chart, Line, XAxis};
use super::series::{moving_average, step_series, StepSeries};
use crate::runloop::summary::IterationSummary;

/// A chart of the report: its file name, and the chart, or why there is none yet.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File name inside the report directory (`accuracy.png`, ...).
    pub file: &'static str,
    /// Alt text / caption.
    pub caption: &'static str,
    /// `Err(note)` when there is nothing to draw yet.
    pub chart: Result<Chart, String>,
}

/// File names, in the order the report shows them.
pub const ACCURACY: &str = "accuracy.png";
pub const REWARD: &str = "reward.png";
pub const SFT_LOSS: &str = "sft_loss.png";
pub const KL: &str = "kl.png";
pub const LENGTH: &str = "completion_length.png";
pub const ACCEPTANCE: &str = "acceptance.png";

/// Steps from which the reward plot also shows a moving average.
const SMOOTH_FROM: usize = 10;
const SMOOTH_WINDOW: usize = 10;

/// Every figure of the report; `summaries` sorted by iteration.
pub fn figures(summaries: &[IterationSummary], metrics: &[Json]) -> Vec<Figure> {
    vec![
        accuracy(summaries),
        reward(metrics),
        sft_loss(metrics),
        step_figure(
            metrics,
            KL,
            "KL to the reference per GRPO step",
            "kl",
            "KL",
            "no GRPO step has logged `kl` yet (none run, or beta = 0)",
        ),
        step_figure(
            metrics,
            LENGTH,
            "Mean completion length per GRPO step",
            "completions/mean_length",
            "tokens",
            "no GRPO step has logged `completions/mean_length` yet",
        ),
        acceptance(summaries),
    ]
}

/// x position and tick label of each iteration; the base model sits at -1 as `base`.
fn iteration_ticks(summaries: &[IterationSummary], with_base: bool) -> Vec<(f64, String)> {
    let mut ticks = Vec::new();
    if with_base {
        ticks.push((-1.0, "base".to_string()));
    }
    ticks.extend(
        summaries
            .iter()
            .map(|s| (s.iteration as f64, s.iteration.to_string())),
    );
    ticks
}

fn accuracy(summaries: &[IterationSummary]) -> Figure {
    let base = summaries.iter().find_map(|s| s.heldout_base.as_ref());
    let mut categories = BTreeSet::new();
    for s in summaries {
        categories.extend(s.heldout.per_category.keys().cloned());
    }
    if let Some(b) = base {
        categories.extend(b.per_category.keys().cloned());
    }
    let chart = if summaries.is_empty() {
        Err("no iteration has finished yet".to_string())
    } else {
        // Held-out results in x order: (x, result).
        let mut results = Vec::new();
        if let Some(b) = base {
            results.push((-1.0, b));
        }
        results.extend(summaries.iter().map(|s| (s.iteration as f64, &s.heldout)));
        let mut lines: Vec<Line> = categories
            .iter()
            .enumerate()
            .map(|(i, c)| Line {
                label: c.clone(),
                points: results
                    .iter()
                    .filter_map(|(x, r)| r.per_category.get(c).map(|s| (*x, 100.0 * s.accuracy)))
                    .collect(),
                color: palette(i),
                width: 2,
                markers: true,
            })
            .collect();
        lines.push(Line {
            label: "overall".to_string(),
            points: results
                .iter()
                .map(|(x, r)| (*x, 100.0 * r.accuracy))
                .collect(),
            color: plotters::style::RGBColor(0, 0, 0),
            width: 4,
            markers: true,
        });
        Ok(Chart {
            title: "Held-out accuracy per category".to_string(),
            x_desc: "iteration".to_string(),
            y_desc: "accuracy (%)".to_string(),
            x_axis: XAxis::Iterations(iteration_ticks(summaries, base.is_some())),
            y_range: Some((0.0, 100.0)),
            lines,
        })
    };
    Figure {
        file: ACCURACY,
        caption: "Held-out accuracy per category",
        chart,
    }
}

fn acceptance(summaries: &[IterationSummary]) -> Figure {
    let mut categories = BTreeSet::new();
    for s in summaries {
        categories.extend(s.synth.per_category.keys().cloned());
    }
    let chart = if summaries.iter().all(|s| s.synth.episodes == 0) {
        Err("no synthesis episode has been recorded yet".to_string())
    } else {
        let mut lines: Vec<Line> = categories
            .iter()
            .enumerate()
            .map(|(i, c)| Line {
                label: c.clone(),
                points: summaries
                    .iter()
                    .filter_map(|s| {
                        let &(episodes, accepted) = s.synth.per_category.get(c)?;
                        (episodes > 0).then(|| {
                            (
                                s.iteration as f64,
                                100.0 * accepted as f64 / episodes as f64,
                            )
                        })
                    })
                    .collect(),
                color: palette(i),
                width: 2,
                markers: true,
            })
            .collect();
        lines.push(Line {
            label: "overall".to_string(),
            points: summaries
                .iter()
                .filter(|s| s.synth.episodes > 0)
                .map(|s| (s.iteration as f64, 100.0 * s.synth.acceptance_rate))
                .collect(),
            color: plotters::style::RGBColor(0, 0, 0),
            width: 4,
            markers: true,
        });
        Ok(Chart {
            title: "Synthesis acceptance rate per iteration".to_string(),
            x_desc: "iteration".to_string(),
            y_desc: "accepted episodes (%)".to_string(),
            x_axis: XAxis::Iterations(iteration_ticks(summaries, false)),
            y_range: Some((0.0, 100.0)),
            lines,
        })
    };
    Figure {
        file: ACCEPTANCE,
        caption: "Synthesis acceptance rate per iteration",
        chart,
    }
}

fn steps_chart(title: &str, y_desc: &str, series: &StepSeries, lines: Vec<Line>) -> Chart {
    Chart {
        title: title.to_string(),
        x_desc: "step (counted across iterations)".to_string(),
        y_desc: y_desc.to_string(),
        x_axis: XAxis::Steps(series.iteration_starts.clone()),
        y_range: None,
        lines,
    }
}

fn plain_line(label: &str, points: Vec<(f64, f64)>, color_index: usize) -> Line {
    Line {
        label: label.to_string(),
        points,
        color: palette(color_index),
        width: 2,
        markers: false,
    }
}

fn reward(metrics: &[Json]) -> Figure {
    let series = step_series(metrics, "grpo", "reward");
    let chart = if series.is_empty() {
        Err("no GRPO step has logged `reward` yet".to_string())
    } else {
        let mut lines = vec![plain_line("reward (step mean)", series.points.clone(), 0)];
        if series.points.len() >= SMOOTH_FROM {
            let mut avg = plain_line(
                &format!("moving average ({SMOOTH_WINDOW})"),
                moving_average(&series.points, SMOOTH_WINDOW),
                3,
            );
            avg.width = 3;
            lines.push(avg);
        }
        Ok(steps_chart(
            "GRPO reward per step",
            "mean reward",
            &series,
            lines,
        ))
    };
    Figure {
        file: REWARD,
        caption: "GRPO reward per step",
        chart,
    }
}

fn sft_loss(metrics: &[Json]) -> Figure {
    let series = step_series(metrics, "sft", "loss");
    let chart = if series.is_empty() {
        Err("no SFT step has logged `loss` yet".to_string())
    } else {
        Ok(steps_chart(
            "SFT loss per step",
            "loss",
            &series,
            vec![plain_line("loss", series.points.clone(), 1)],
        ))
    };
    Figure {
        file: SFT_LOSS,
        caption: "SFT loss per step",
        chart,
    }
}

fn step_figure(
    metrics: &[Json],
    file: &'static str,
    title: &'static str,
    key: &str,
    y_desc: &str,
    missing: &str,
) -> Figure {
    let series = step_series(metrics, "grpo", key);
    let chart = if series.is_empty() {
        Err(missing.to_string())
    } else {
        Ok(steps_chart(
            title,
            y_desc,
            &series,
            vec![plain_line(key, series.points.clone(), 2)],
        ))
    };
    Figure {
        file,
        caption: title,
        chart,
    }
}
