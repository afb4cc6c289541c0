//! The per-entry verdict of the official multi-turn checker
//! (`multi_turn_checker.py`, with the force-termination and empty-step rules
//! of `eval_runner._evaluate_single_multi_turn_entry`).
//!
//! Per turn: the model's decoded steps run on one set of backend instances,
//! the ground-truth calls on another (both persist across turns). A turn
//! with ground truth fails when the model produced no calls in it
//! (`empty_turn_model_response`), when any public attribute of any involved
//! class differs (`instance_state_mismatch`), or when some ground-truth
//! result string is missing from the model's results of all turns so far,
//! counted as a multiset (`execution_response_mismatch`). Turns without
//! ground truth are executed (so later states are right) but not checked.

use super::call::Call;
use super::executor::{Executor, PyProcess};
use super::{Error, Result};
use crate::eval::pyval::{py_eq, PyDict};

/// The checker's verdict on one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Whether the entry counts as correct.
    pub valid: bool,
    /// The official `error_type` (`multi_turn:...`) when invalid.
    pub error_type: Option<String>,
    /// The official `error_message` when invalid.
    pub error_message: Option<String>,
}

impl Verdict {
    fn pass() -> Self {
        Verdict {
            valid: true,
            error_type: None,
            error_message: None,
        }
    }

    fn fail(error_type: &str, message: String) -> Self {
        Verdict {
            valid: false,
            error_type: Some(error_type.to_string()),
            error_message: Some(message),
        }
    }
}

/// One test entry as the checker needs it.
pub struct Entry<'a> {
    /// The entry id (`multi_turn_base_12`).
    pub id: &'a str,
    /// `initial_config`.
    pub initial_config: &'a PyDict,
    /// `involved_classes`, in order.
    pub involved_classes: &'a [String],
    /// The ground-truth calls of each turn.
    pub ground_truth: &'a [Vec<Call>],
}

/// Checks one entry. `model` holds, per turn, the decoded calls of each
/// step (assistant message); steps without calls are dropped as the
/// official runner drops empty decodes. `process` is the Python process the
/// official checker would run in (see [`PyProcess`]).
///
/// Errors (not verdicts): the `long_context`/`composite` categories, which
/// need `long_context=True` backends that are not ported, and backend
/// classes or configs this module cannot instantiate.
pub fn check_multi_turn_entry(
    entry: &Entry<'_>,
    model: &[Vec<Vec<Call>>],
    process: &PyProcess,
) -> Result<Verdict> {
    let category = entry.id.rsplit_once('_').map_or(entry.id, |(c, _)| c);
    if category.contains("long_context") || category.contains("composite") {
        return Err(Error::Unsupported(format!(
            "{}: long_context backends are not ported",
            entry.id
        )));
    }
    if model.len() != entry.ground_truth.len() {
        return Ok(Verdict::fail(
            "multi_turn:force_terminated",
            format!(
                "Model was force-terminated during inference phase. The length of the model result turns ({}) does not match the length of the ground truth turns ({}).",
                model.len(),
                entry.ground_truth.len()
            ),
        ));
    }
    let mut model_exec = Executor::new(entry.initial_config, entry.involved_classes, process)?;
    let mut truth_exec = Executor::new(entry.initial_config, entry.involved_classes, process)?;
    let mut all_model_results: Vec<String> = Vec::new();
    for (turn, (steps, truth)) in model.iter().zip(entry.ground_truth).enumerate() {
        let steps: Vec<&Vec<Call>> = steps.iter().filter(|s| !s.is_empty()).collect();
        for step in &steps {
            for call in step.iter() {
                all_model_results.push(model_exec.execute(call));
            }
        }
        let truth_results: Vec<String> = truth.iter().map(|c| truth_exec.execute(c)).collect();
        if truth.is_empty() {
            continue;
        }
        if steps.is_empty() {
            return Ok(Verdict::fail(
                "multi_turn:empty_turn_model_response",
                format!("Model response list is empty for turn {turn}"),
            ));
        }
        if let Some(class) = state_mismatch(&model_exec, &truth_exec) {
            return Ok(Verdict::fail(
                "multi_turn:instance_state_mismatch",
                format!(
                    "Model instance for {class} does not match the state with ground truth instance."
                ),
            ));
        }
        if !contains_all(&all_model_results, &truth_results) {
            return Ok(Verdict::fail(
                "multi_turn:execution_response_mismatch",
                format!(
                    "Model response execution results so far does not contain all the ground truth response execution results for turn {turn}."
                ),
            ));
        }
    }
    Ok(Verdict::pass())
}

/// The first class (in `involved_classes` order) whose public attributes
/// differ under Python `!=`.
fn state_mismatch(model: &Executor, truth: &Executor) -> Option<&'static str> {
    for (m, t) in model.instances().iter().zip(truth.instances()) {
        let (ms, ts) = (m.state(), t.state());
        let differs = ts.iter().any(|(k, tv)| match ms.get(k) {
            Some(mv) => !py_eq(mv, tv),
            None => true,
        });
        if differs {
            return Some(t.class_name());
        }
    }
    None
}

/// `_is_subsequence_unordered(truth, model)`: every ground-truth result can
/// be matched to a distinct model result.
fn contains_all(model: &[String], truth: &[String]) -> bool {
    let mut pool: Vec<&str> = model.iter().map(String::as_str).collect();
    for t in truth {
        match pool.iter().position(|m| m == t) {
            Some(i) => {
                pool.remove(i);
            }
            None => return false,
        }
    }
    true
}
