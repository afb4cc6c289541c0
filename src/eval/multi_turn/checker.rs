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
use super::driver_decode::{execute_call, is_long_context, ExecStep};
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
/// Errors (not verdicts): see [`check_multi_turn_steps`].
pub fn check_multi_turn_entry(
    entry: &Entry<'_>,
    model: &[Vec<Vec<Call>>],
    process: &PyProcess,
) -> Result<Verdict> {
    let steps: Vec<Vec<Vec<ExecStep>>> = model
        .iter()
        .map(|turn| {
            turn.iter()
                .map(|step| step.iter().cloned().map(ExecStep::Call).collect())
                .collect()
        })
        .collect();
    check_multi_turn_steps(entry, &steps, process)
}

/// [`check_multi_turn_entry`] on execution steps as [`super::driver_decode::exec_step`] makes
/// them from the model's call strings.
///
/// The `long_context`/`composite` categories run on `long_context=True`
/// backends, as in the official checker.
///
/// Errors (not verdicts): backend classes or configs this module cannot
/// instantiate, and any model or ground-truth call whose outcome this port
/// does not reproduce ([`ExecStep::Unsupported`], or a backend exception of
/// kind `Unsupported`), as [`Error::Unsupported`] naming the entry.
pub fn check_multi_turn_steps(
    entry: &Entry<'_>,
    model: &[Vec<Vec<ExecStep>>],
    process: &PyProcess,
) -> Result<Verdict> {
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
    let unported = |what: String| Error::Unsupported(format!("{}: {what}", entry.id));
    let long_context = is_long_context(entry.id);
    let new = || {
        Executor::with_long_context(
            entry.initial_config,
            entry.involved_classes,
            process,
            long_context,
        )
    };
    let (mut model_exec, mut truth_exec) = (new()?, new()?);
    let mut all_model_results: Vec<String> = Vec::new();
    for (turn, (steps, truth)) in model.iter().zip(entry.ground_truth).enumerate() {
        let steps: Vec<&Vec<ExecStep>> = steps.iter().filter(|s| !s.is_empty()).collect();
        for step in &steps {
            for exec in step.iter() {
                let result = match exec {
                    ExecStep::Call(call) => execute_call(&mut model_exec, call)
                        .map_err(|why| unported(format!("model call in turn {turn}: {why}")))?,
                    ExecStep::Fixed(result) => result.clone(),
                    ExecStep::Unsupported(why) => return Err(unported(why.clone())),
                };
                all_model_results.push(result);
            }
        }
        let mut truth_results = Vec::with_capacity(truth.len());
        for call in truth {
            let result = execute_call(&mut truth_exec, call)
                .map_err(|why| unported(format!("ground-truth call in turn {turn}: {why}")))?;
            truth_results.push(result);
        }
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
