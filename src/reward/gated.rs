//! `kind = "gated"`: InfTool's staged reward (DESIGN.md §4). Stages, in order, each a value
//! cᵢ in [0, 1]:
//!
//! 1. **format** (gate, 0/1) — every assistant turn parsed cleanly as the tool-call format (text
//!    after a call is a problem, text before it is not), no turn cut by the token limit, no call
//!    of a tool that is not offered ([`super::format::problem`]).
//! 2. **function** (gate, 0/1) — the multiset of called tool names equals the expected one
//!    (counts matter: a duplicated or missing call fails). Counted calls are all calls except
//!    the server's injected failure. Irrelevance: no call at all (full credit when none).
//!    missing_param: the assistant asked and every call came after the user gave the value.
//!    error_recovery: a successful call of the failed tool made after the failure arrived.
//! 3. **arguments** (credit) — the calls are assigned to the steps to maximize credit (so
//!    reordered parallel calls earn full credit). A step's credit is the fraction of its items
//!    right: each expected argument (types exact: `"5"` is not 5, `5.0` is not an integer;
//!    strings normalized as `synth::canon`; an omitted argument is right only when its expected
//!    value is the schema default) and each unexpected argument (wrong unless it equals the
//!    schema default). A call the server refused for schema violations earns 0. A dependent
//!    step earns 0 unless the steps it depends on earned full credit and each gated argument
//!    equals the value at its pointer in the earlier result, which had arrived before the call.
//!    c = mean step credit (1 with no steps).
//! 4. **workflow** (gate, 0/1) — every step earned full credit: the whole workflow is right,
//!    dependencies included.
//! 5. **answer** (0/1) — the episode ends with a non-empty text answer that mentions a value
//!    the tools returned (`synth::verify::answer_consistent`; vacuous without results).
//!
//! A failed gate zeroes every later stage. Total = `Σ wᵢ·cᵢ / Σ wᵢ` with the configured stage
//! weights ([`GatedWeights`]), so an episode the verifier accepts scores exactly 1.

use std::collections::BTreeMap;

use super::matching::best_assignment;
use super::{format, task, Failure, GatedWeights, RewardOutcome, Stage};
use crate::synth::verify::{answer_consistent, final_answer};
use crate::synth::{CallRecord, CallStatus, Category, Episode, Registry, Task};

/// Why the function gate fails, if it does; `counted` are the indices of the counted calls.
fn function_problem(task: &Task, calls: &[CallRecord], counted: &[usize]) -> Option<String> {
    if task.category == Category::Irrelevance {
        return calls
            .first()
            .map(|c| format!("irrelevance task, but `{}` was called", c.name));
    }
    let mut expected: Vec<&str> = task.steps.iter().map(|s| s.tool.as_str()).collect();
    let mut called: Vec<&str> = counted
        .iter()
        .filter_map(|&i| calls.get(i))
        .map(|c| c.name.as_str())
        .collect();
    expected.sort_unstable();
    called.sort_unstable();
    if expected != called {
        return Some(format!(
            "expected calls [{}], made [{}]",
            expected.join(", "),
            called.join(", ")
        ));
    }
    if let Some(e) = &task.inject_error {
        let tool = task.steps.get(e.step).map(|s| s.tool.as_str());
        for failed in calls.iter().filter(|c| c.status == CallStatus::Injected) {
            let retried = calls.iter().any(|c| {
                Some(c.name.as_str()) == tool
                    && c.status == CallStatus::Ok
                    && c.message_index > failed.result_index
            });
            if !retried {
                return Some(format!(
                    "`{}` was not retried successfully after the injected failure",
                    failed.name
                ));
            }
        }
    }
    None
}

/// Scores an episode with the gated reward.
pub fn score(weights: &GatedWeights, registry: &Registry, ep: &Episode) -> RewardOutcome {
    let task = &ep.task;
    if let Some(p) = task::problem(Some(registry), task) {
        return RewardOutcome::unscorable(p);
    }
    let calls = &ep.calls;
    let counted: Vec<usize> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.status != CallStatus::Injected)
        .map(|(i, _)| i)
        .collect();
    let mut values: BTreeMap<Stage, f64> = Stage::ALL.iter().map(|&s| (s, 0.0)).collect();
    let mut passed = Vec::new();
    let mut failed = None;
    let mut extras = BTreeMap::from([
        ("steps".to_string(), task.steps.len() as f64),
        ("calls".to_string(), counted.len() as f64),
        ("turns".to_string(), ep.trajectory.turns.len() as f64),
    ]);
    let fail = |stage: Stage, detail: String| Some(Failure { stage, detail });
    'stages: {
        if let Some(p) = format::problem(ep) {
            failed = fail(Stage::Format, p);
            break 'stages;
        }
        values.insert(Stage::Format, 1.0);
        passed.push(Stage::Format);
        let missing_param = missing_param_problem(ep);
        if let Some(p) = missing_param.or_else(|| function_problem(task, calls, &counted)) {
            failed = fail(Stage::Function, p);
            break 'stages;
        }
        values.insert(Stage::Function, 1.0);
        passed.push(Stage::Function);
        let (arguments, argument_problem, link_problem, correct) = if task.steps.is_empty() {
            (1.0, None, None, 0)
        } else {
            match best_assignment(registry, task, calls, &counted) {
                Some(a) => {
                    let correct = a.credit.iter().filter(|&&c| c >= 1.0).count();
                    (
                        a.sum() / task.steps.len() as f64,
                        a.argument_problem.clone(),
                        a.link_problem.clone(),
                        correct,
                    )
                }
                // The function gate guarantees a covering assignment; stay safe regardless.
                None => (0.0, Some("no call fits the expected steps".into()), None, 0),
            }
        };
        extras.insert("steps_correct".into(), correct as f64);
        values.insert(Stage::Arguments, arguments);
        if correct < task.steps.len() {
            failed = match (argument_problem, link_problem) {
                (Some(p), _) => fail(Stage::Arguments, p),
                (None, Some(p)) => fail(Stage::Workflow, p),
                (None, None) => fail(Stage::Arguments, "a step is not right".into()),
            };
            break 'stages;
        }
        passed.push(Stage::Arguments);
        values.insert(Stage::Workflow, 1.0);
        passed.push(Stage::Workflow);
        let facts: Vec<_> = task.facts.iter().map(|f| f.value.clone()).collect();
        match final_answer(ep) {
            None => {
                failed = fail(
                    Stage::Answer,
                    format!("no final text answer (episode ended: {:?})", ep.outcome),
                );
            }
            Some(a) if !answer_consistent(a, calls, &facts) => {
                failed = fail(
                    Stage::Answer,
                    format!(
                        "the answer mentions no returned value: {}",
                        a.chars().take(160).collect::<String>()
                    ),
                );
            }
            Some(_) => {
                values.insert(Stage::Answer, 1.0);
                passed.push(Stage::Answer);
            }
        }
    }
    let entries = weights.entries();
    let sum: f64 = entries.iter().map(|(_, w)| w).sum();
    let weighted: f64 = Stage::ALL
        .iter()
        .zip(entries)
        .map(|(s, (_, w))| w * values.get(s).copied().unwrap_or(0.0))
        .sum();
    RewardOutcome {
        total: Some(if sum > 0.0 { weighted / sum } else { 0.0 }),
        components: values
            .into_iter()
            .map(|(s, v)| (s.as_str().to_string(), v))
            .collect(),
        passed,
        failed,
        unscorable: None,
        extras,
    }
}

/// missing_param: why the assistant did not ask before calling, if it did not.
fn missing_param_problem(ep: &Episode) -> Option<String> {
    ep.task.withheld.as_ref()?;
    match (ep.revealed_at, ep.calls.first()) {
        (None, None) => Some("the assistant never asked for the missing value".into()),
        (None, Some(c)) => Some(format!("`{}` was called without asking", c.name)),
        (Some(at), _) => ep
            .calls
            .iter()
            .find(|c| c.message_index < at)
            .map(|c| format!("`{}` was called before the user gave the value", c.name)),
    }
}
