//! The format gate, and the `format` reward that is that gate alone.

use std::collections::BTreeMap;

use super::{Failure, RewardOutcome, Stage};
use crate::synth::{CallStatus, Episode};

/// Why the episode fails the format gate, if it does: an assistant turn did not parse cleanly
/// as the tool-call format (including text after a call), an assistant turn was cut by the
/// token limit, or a call named a tool that is not offered (hallucinated).
pub fn problem(ep: &Episode) -> Option<String> {
    if let Some(p) = ep.format_problems.first() {
        return Some(format!("malformed output: {p}"));
    }
    if let Some(i) = ep
        .trajectory
        .turns
        .iter()
        .position(|t| t.finish == "length")
    {
        return Some(format!("turn {i} hit the token limit"));
    }
    ep.calls
        .iter()
        .find(|c| c.status == CallStatus::UnknownTool)
        .map(|c| format!("turn {}: `{}` is not an offered tool", c.turn, c.name))
}

/// `kind = "format"`: 1 when the format gate passes, else 0. Always scorable.
pub fn score(ep: &Episode) -> RewardOutcome {
    let failed = problem(ep).map(|detail| Failure {
        stage: Stage::Format,
        detail,
    });
    let value = if failed.is_none() { 1.0 } else { 0.0 };
    RewardOutcome {
        total: Some(value),
        components: BTreeMap::from([("format".to_string(), value)]),
        passed: if failed.is_none() {
            vec![Stage::Format]
        } else {
            Vec::new()
        },
        failed,
        unscorable: None,
        extras: BTreeMap::new(),
    }
}
