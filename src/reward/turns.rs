//! `kind = "turns"`: a penalty on assistant turns beyond what the task needs.

use std::collections::BTreeMap;

use super::{task, RewardOutcome};
use crate::synth::Episode;

/// `max(0, 1 − penalty_per_turn · (turns − min_turns))`, 1 when `turns ≤ min_turns`
/// ([`task::min_turns`]). Unscorable when the task is (see [`task::problem`]; the registry is not
/// consulted).
pub fn score(penalty_per_turn: f64, ep: &Episode) -> RewardOutcome {
    if let Some(p) = task::problem(None, &ep.task) {
        return RewardOutcome::unscorable(p);
    }
    let turns = ep.trajectory.turns.len();
    let min = task::min_turns(&ep.task);
    let extra = turns.saturating_sub(min);
    let value = (1.0 - penalty_per_turn * extra as f64).clamp(0.0, 1.0);
    RewardOutcome {
        total: Some(value),
        components: BTreeMap::from([("turns".to_string(), value)]),
        extras: BTreeMap::from([
            ("turns".to_string(), turns as f64),
            ("min_turns".to_string(), min as f64),
        ]),
        ..RewardOutcome::default()
    }
}
