//! Scoring a multi-turn result file like `multi_turn_runner` /
//! `_evaluate_single_multi_turn_entry`: a non-list `result` is an `inference_error`, a turn count
//! that differs from the ground truth is `force_terminated`, each step is `decode_execute`d
//! (failures and empty decodes dropped), then [`check_multi_turn_steps`] gives the verdict.
//! Entries whose verdict this port cannot reproduce are reported as unscored, with the reason.

use std::collections::HashSet;
use std::path::Path;

use super::checker::{check_multi_turn_steps, Verdict};
use super::driver_data::MultiTurnEntry;
use super::driver_decode::{
    decode_execute, exec_step, is_empty_execute_response, ExecStep, StepDecodeError,
};
use super::executor::{Executor, PyProcess};
use crate::eval::decode::ModelSpec;
use crate::eval::pyval::{PyDict, PyVal};
use crate::eval::score::{
    finish_category, inference_log, pick_entries, CategoryScore, Error, FailedEntry, Result,
    ResultLine, Tally, Unscored, UNSCORED_ERROR_TYPE,
};

/// What is shared by the entries of one multi-turn category.
pub struct MultiTurnContext<'a> {
    /// The model's official registration (decoder).
    pub model: &'a ModelSpec,
    /// Result directory name of the model.
    pub model_dir_name: &'a str,
    /// Category name.
    pub category: &'a str,
    /// Score directory root.
    pub score_dir: &'a Path,
    /// Allow a subset of the category's IDs.
    pub partial_eval: bool,
    /// The Python process all entries run in.
    pub process: &'a PyProcess,
}

/// The verdict on one entry.
pub enum MultiTurnVerdict {
    /// Scored; `decoded` is `model_result_decoded` (`None` before decoding).
    Scored {
        /// The verdict.
        verdict: Verdict,
        /// Per turn, per kept step, the execution strings.
        decoded: Option<Vec<Vec<Vec<String>>>>,
    },
    /// Not scored faithfully, with the reason.
    Unscored(String),
}

/// The public method names of the entry's classes.
fn method_names(entry: &MultiTurnEntry) -> super::Result<HashSet<&'static str>> {
    // Method names do not depend on long_context; a short-context probe is cheaper.
    let probe = Executor::new(
        &entry.initial_config,
        &entry.involved_classes,
        &PyProcess::new(),
    )?;
    Ok(probe
        .instances()
        .iter()
        .flat_map(|b| b.signatures().iter().map(|s| s.name))
        .collect())
}

/// Evaluates one entry's `result`.
pub fn evaluate_multi_turn_entry(
    entry: &MultiTurnEntry,
    result: &PyVal,
    model: &ModelSpec,
    process: &PyProcess,
) -> super::Result<MultiTurnVerdict> {
    let Some(turns) = result.as_list() else {
        return Ok(MultiTurnVerdict::Scored {
            verdict: Verdict {
                valid: false,
                error_type: Some("multi_turn:inference_error".into()),
                error_message: Some(
                    "Error during inference phase. Model did not output a list of model responses."
                        .into(),
                ),
            },
            decoded: None,
        });
    };
    if turns.len() != entry.ground_truth.len() {
        let steps: Vec<Vec<Vec<ExecStep>>> = vec![Vec::new(); turns.len()];
        let verdict = check_multi_turn_steps(&entry.checker_entry(), &steps, process);
        return match verdict {
            Ok(verdict) => Ok(MultiTurnVerdict::Scored {
                verdict,
                decoded: None,
            }),
            Err(super::Error::Unsupported(why)) => Ok(MultiTurnVerdict::Unscored(why)),
            Err(e) => Err(e),
        };
    }
    let methods = method_names(entry)?;
    let mut decoded: Vec<Vec<Vec<String>>> = Vec::with_capacity(turns.len());
    let mut steps: Vec<Vec<Vec<ExecStep>>> = Vec::with_capacity(turns.len());
    for (t, turn) in turns.iter().enumerate() {
        let Some(turn_steps) = turn.as_list() else {
            return Ok(MultiTurnVerdict::Unscored(format!(
                "{}: turn {t} of the result is not a list",
                entry.id
            )));
        };
        let mut turn_decoded = Vec::new();
        for step in turn_steps {
            // decode_execute raises on a non-string step: it is dropped like any failure.
            let Some(text) = step.as_str() else { continue };
            match decode_execute(model.profile, text) {
                Ok(calls) if !is_empty_execute_response(&calls) => turn_decoded.push(calls),
                Ok(_) | Err(StepDecodeError::Failed(_)) => {}
                Err(StepDecodeError::Unsupported(why)) => {
                    return Ok(MultiTurnVerdict::Unscored(format!(
                        "{}: turn {t}: the decoder does not support {why}",
                        entry.id
                    )))
                }
            }
        }
        steps.push(
            turn_decoded
                .iter()
                .map(|calls| calls.iter().map(|c| exec_step(c, &methods)).collect())
                .collect(),
        );
        decoded.push(turn_decoded);
    }
    match check_multi_turn_steps(&entry.checker_entry(), &steps, process) {
        Ok(verdict) => Ok(MultiTurnVerdict::Scored {
            verdict,
            decoded: Some(decoded),
        }),
        Err(super::Error::Unsupported(why)) => Ok(MultiTurnVerdict::Unscored(why)),
        Err(e) => Err(e),
    }
}

fn str_list(items: &[String]) -> PyVal {
    PyVal::List(items.iter().map(|s| PyVal::str(s.as_str())).collect())
}

/// The score-file line of a failed (or unscored) entry, keys in the official order.
fn failure_dict(
    ctx: &MultiTurnContext<'_>,
    entry: &MultiTurnEntry,
    line: &ResultLine,
    error_type: &str,
    message: PyVal,
    decoded: Option<&Vec<Vec<Vec<String>>>>,
) -> PyVal {
    let mut d = PyDict::new();
    d.insert_str("id", PyVal::str(entry.id.as_str()));
    d.insert_str("model_name", PyVal::str(ctx.model_dir_name));
    d.insert_str("test_category", PyVal::str(ctx.category));
    d.insert_str("valid", PyVal::Bool(false));
    let mut error = PyDict::new();
    error.insert_str("error_message", message);
    error.insert_str("error_type", PyVal::str(error_type));
    d.insert_str("error", PyVal::Dict(error));
    let mut prompt = PyDict::new();
    if let Some(raw) = entry.raw.as_dict() {
        for (k, v) in raw.iter() {
            if k.as_str() != Some("function") {
                // Keys of a JSON object are strings, hence hashable.
                let _ = prompt.insert(k.clone(), v.clone());
            }
        }
    }
    d.insert_str("prompt", PyVal::Dict(prompt));
    let truth = PyVal::List(
        entry
            .ground_truth_text
            .iter()
            .map(|t| str_list(t))
            .collect(),
    );
    match decoded {
        Some(decoded) => {
            d.insert_str("model_result_raw", line.result.clone());
            let decoded = decoded
                .iter()
                .map(|turn| PyVal::List(turn.iter().map(|s| str_list(s)).collect()))
                .collect();
            d.insert_str("model_result_decoded", PyVal::List(decoded));
        }
        None => d.insert_str("model_result", line.result.clone()),
    }
    d.insert_str("possible_answer", truth);
    d.insert_str("inference_log", inference_log(line));
    PyVal::Dict(d)
}

/// Scores one multi-turn category's (sorted) results and writes its score file.
pub fn score_multi_turn_category(
    ctx: &MultiTurnContext<'_>,
    entries: &[MultiTurnEntry],
    results: Vec<ResultLine>,
    result_path: &Path,
) -> Result<CategoryScore> {
    let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    let picked = pick_entries(&ids, &results, ctx.partial_eval, result_path, ctx.category)?;
    let mut tally = Tally::default();
    for (line, &i) in results.iter().zip(&picked) {
        let Some(entry) = entries.get(i) else {
            continue;
        };
        let outcome = evaluate_multi_turn_entry(entry, &line.result, ctx.model, ctx.process)
            .map_err(|source| Error::MultiTurn {
                path: result_path.to_path_buf(),
                id: entry.id.clone(),
                source,
            })?;
        let (error_type, message, decoded) = match outcome {
            MultiTurnVerdict::Scored { verdict, .. } if verdict.valid => {
                tally.correct += 1;
                continue;
            }
            MultiTurnVerdict::Scored { verdict, decoded } => {
                let error_type = verdict.error_type.unwrap_or_default();
                let text = PyVal::Str(verdict.error_message.unwrap_or_default());
                // These two messages are lists in the official score file.
                let message = if error_type == "multi_turn:inference_error"
                    || error_type == "multi_turn:force_terminated"
                {
                    PyVal::List(vec![text])
                } else {
                    text
                };
                (error_type, message, decoded)
            }
            MultiTurnVerdict::Unscored(reason) => {
                tally.unscored.push(Unscored {
                    id: entry.id.clone(),
                    reason: reason.clone(),
                });
                let message = PyVal::List(vec![PyVal::Str(reason)]);
                (UNSCORED_ERROR_TYPE.to_string(), message, None)
            }
        };
        if error_type != UNSCORED_ERROR_TYPE {
            tally.failures.push(FailedEntry {
                id: entry.id.clone(),
                error_type: error_type.clone(),
            });
        }
        let dict = failure_dict(ctx, entry, line, &error_type, message, decoded.as_ref());
        tally.failed_dicts.push((entry.id.clone(), dict));
    }
    finish_category(
        ctx.score_dir,
        ctx.model_dir_name,
        ctx.category,
        results.len(),
        tally,
        result_path,
    )
}
