//! Per-step series pulled out of `metrics.jsonl` lines (TRL metric names).

use std::collections::BTreeMap;

use serde_json::Value as Json;

/// One metric of one phase over the training steps of every iteration, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepSeries {
    /// `(x, value)`: `x` counts the phase's steps across iterations from 1.
    pub points: Vec<(f64, f64)>,
    /// `(x, iteration)` of the first step of each iteration.
    pub iteration_starts: Vec<(f64, usize)>,
}

impl StepSeries {
    /// Whether there is nothing to plot.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// A step line: iteration, phase and step are required; other keys may be missing.
struct StepLine<'a> {
    iteration: usize,
    line: &'a serde_json::Map<String, Json>,
}

fn as_usize(v: Option<&Json>) -> Option<usize> {
    v.and_then(Json::as_u64)
        .and_then(|n| usize::try_from(n).ok())
}

/// The step lines of `phase`, ordered by (iteration, step), a repeated (iteration, step) keeping
/// its last occurrence (a phase rerun after a crash replaces its earlier lines).
fn step_lines<'a>(metrics: &'a [Json], phase: &str) -> Vec<StepLine<'a>> {
    let mut by_key: BTreeMap<(usize, u64), &'a serde_json::Map<String, Json>> = BTreeMap::new();
    for value in metrics {
        let Some(line) = value.as_object() else {
            continue;
        };
        if line.get("phase").and_then(Json::as_str) != Some(phase) {
            continue;
        }
        let (Some(iteration), Some(step)) = (
            as_usize(line.get("iteration")),
            line.get("step").and_then(Json::as_u64),
        ) else {
            continue;
        };
        by_key.insert((iteration, step), line);
    }
    by_key
        .into_iter()
        .map(|((iteration, _), line)| StepLine { iteration, line })
        .collect()
}

/// The values of `key` over the steps of `phase`. Every step line of the phase advances `x`,
/// whether it has the key or not, so that series of one phase share their x axis.
pub fn step_series(metrics: &[Json], phase: &str, key: &str) -> StepSeries {
    let lines = step_lines(metrics, phase);
    let mut out = StepSeries::default();
    let mut previous: Option<usize> = None;
    for (n, l) in lines.iter().enumerate() {
        let x = (n + 1) as f64;
        if previous != Some(l.iteration) {
            out.iteration_starts.push((x, l.iteration));
        }
        previous = Some(l.iteration);
        if let Some(v) = l.line.get(key).and_then(Json::as_f64) {
            if v.is_finite() {
                out.points.push((x, v));
            }
        }
    }
    if out.points.is_empty() {
        out.iteration_starts.clear();
    }
    out
}

/// Trailing moving average over `window` points (fewer at the start).
pub fn moving_average(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    let window = window.max(1);
    let mut sum = 0.0;
    let mut out = Vec::with_capacity(points.len());
    for (i, &(x, y)) in points.iter().enumerate() {
        sum += y;
        if i >= window {
            if let Some(&(_, old)) = points.get(i - window) {
                sum -= old;
            }
        }
        let n = (i + 1).min(window) as f64;
        out.push((x, sum / n));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_are_ordered_deduplicated_and_counted_across_iterations() {
        let m = vec![
            json!({"iteration": 2, "phase": "grpo", "step": 1, "reward": 0.5}),
            json!({"iteration": 1, "phase": "grpo", "step": 1, "reward": 0.1}),
            json!({"iteration": 1, "phase": "grpo", "step": 2}),
            json!({"iteration": 1, "phase": "grpo", "step": 1, "reward": 0.2}),
            json!({"iteration": 0, "phase": "sft", "step": 1, "loss": 1.0}),
            json!({"phase": "grpo", "reward": 9.0}),
            json!("not an object"),
        ];
        let s = step_series(&m, "grpo", "reward");
        assert_eq!(s.points, vec![(1.0, 0.2), (3.0, 0.5)]);
        assert_eq!(s.iteration_starts, vec![(1.0, 1), (3.0, 2)]);
        assert!(step_series(&m, "grpo", "kl").is_empty());
        assert_eq!(step_series(&m, "sft", "loss").points, vec![(1.0, 1.0)]);
    }

    #[test]
    fn moving_average_matches_hand_computation() {
        let p = vec![(1.0, 1.0), (2.0, 3.0), (3.0, 5.0), (4.0, 7.0)];
        assert_eq!(
            moving_average(&p, 2),
            vec![(1.0, 1.0), (2.0, 2.0), (3.0, 4.0), (4.0, 6.0)]
        );
    }
}
