//! Gap targeting: the next iteration's category mix from the measured per-category error rates.
//!
//! `weight_c = max(1 − pass_rate_c, floor)` — categories the policy fails get more of the next
//! round's synthesis; the floor keeps every category present (no forgetting of solved ones).
//! The pass rate is the GRPO group pass rate (`loop.gap_source = "grpo"`, the share of rollouts
//! with a perfect reward) or the held-out accuracy (`"heldout"`). A category without
//! measurements keeps weight 1 (nothing measured, nothing to conclude).

use std::collections::BTreeMap;

use super::summary::HeldoutResult;
use crate::config::CategoryWeights;

/// The next mix (category → weight, all 8 categories) from the held-out accuracy.
pub fn next_mix(heldout: &HeldoutResult, floor: f64) -> BTreeMap<String, f64> {
    let counts = heldout
        .per_category
        .iter()
        .map(|(c, s)| (c.clone(), (s.tasks, s.passed)))
        .collect();
    mix_from_pass_counts(&counts, floor)
}

/// The next mix from per-category (attempts, passes) — the GRPO phase's `grpo_pass.json`.
pub fn mix_from_pass_counts(
    counts: &BTreeMap<String, (usize, usize)>,
    floor: f64,
) -> BTreeMap<String, f64> {
    CategoryWeights::default()
        .entries()
        .iter()
        .map(|(name, _)| {
            let w = match counts.get(*name) {
                Some(&(n, passed)) if n > 0 => (1.0 - passed as f64 / n as f64).max(floor),
                _ => 1.0,
            };
            (name.to_string(), w)
        })
        .collect()
}

/// The mix of the config (`[synth.categories]`) as a map.
pub fn config_mix(w: &CategoryWeights) -> BTreeMap<String, f64> {
    w.entries()
        .iter()
        .map(|(n, v)| (n.to_string(), *v))
        .collect()
}

/// A mix as category weights; categories the config switched off (weight 0) stay off.
pub fn weights(mix: &BTreeMap<String, f64>, configured: &CategoryWeights) -> CategoryWeights {
    let mut w = configured.clone();
    for (name, field) in [
        ("single", &mut w.single),
        ("parallel", &mut w.parallel),
        ("multiple", &mut w.multiple),
        ("parallel_multiple", &mut w.parallel_multiple),
        ("multi_step", &mut w.multi_step),
        ("missing_param", &mut w.missing_param),
        ("irrelevance", &mut w.irrelevance),
        ("error_recovery", &mut w.error_recovery),
    ] {
        if *field > 0.0 {
            *field = mix.get(name).copied().unwrap_or(*field);
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runloop::summary::CategoryScore;

    #[test]
    fn weights_follow_error_rates_with_a_floor() {
        let mut h = HeldoutResult::default();
        for (name, acc) in [("single", 1.0), ("parallel", 0.25), ("irrelevance", 0.0)] {
            h.per_category.insert(
                name.into(),
                CategoryScore {
                    tasks: 4,
                    passed: (acc * 4.0) as usize,
                    accuracy: acc,
                    mean_reward: acc,
                },
            );
        }
        let m = next_mix(&h, 0.1);
        // The GRPO pass counts give the same weights from (rollouts, perfect) per category.
        let counts: BTreeMap<String, (usize, usize)> = [
            ("single".to_string(), (8, 8)),
            ("parallel".to_string(), (8, 2)),
            ("irrelevance".to_string(), (8, 0)),
        ]
        .into();
        assert_eq!(mix_from_pass_counts(&counts, 0.1), m);
        assert_eq!(m["single"], 0.1);
        assert_eq!(m["parallel"], 0.75);
        assert_eq!(m["irrelevance"], 1.0);
        assert_eq!(m["multi_step"], 1.0, "not measured");
        assert_eq!(m.len(), 8);
        let cfgw = CategoryWeights {
            error_recovery: 0.0,
            ..Default::default()
        };
        let w = weights(&m, &cfgw);
        assert_eq!(w.single, 0.1);
        assert_eq!(
            w.error_recovery, 0.0,
            "switched off in the config stays off"
        );
    }
}
