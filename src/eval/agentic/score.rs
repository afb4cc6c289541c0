//! Scoring an agentic result file like `agentic_runner` / `_evaluate_single_agentic_entry`:
//! `result` must be a list of one turn; each step is `decode_execute`d and the **last** step
//! that fails to decode or decodes to nothing is the final answer, which [`agentic_check`]
//! looks for the expected answers in. Nothing is executed.

use std::path::Path;

use super::checker::agentic_check;
use super::data::AgenticEntry;
use crate::eval::decode::ModelSpec;
use crate::eval::multi_turn::driver_decode::{
    decode_execute, is_empty_execute_response, StepDecodeError,
};
use crate::eval::pyrepr::py_str;
use crate::eval::pyval::{PyDict, PyVal};
use crate::eval::score::{
    finish_category, inference_log, pick_entries, CategoryScore, FailedEntry, Result, ResultLine,
    Tally, Unscored, UNSCORED_ERROR_TYPE,
};

/// What is shared by the entries of one agentic category.
pub struct AgenticContext<'a> {
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
}

/// The verdict on one entry.
#[derive(Debug, Clone)]
pub enum AgenticVerdict {
    /// The answer was found.
    Valid,
    /// Failed, with the official score-file line.
    Failed {
        /// `error_type`.
        error_type: String,
        /// The score-file line.
        line: PyVal,
    },
    /// Not scored faithfully, with the reason.
    Unscored(String),
}

fn str_list(items: &[String]) -> PyVal {
    PyVal::List(items.iter().map(|s| PyVal::str(s.as_str())).collect())
}

/// The prompt entry without `function` (the official scorer deletes it).
fn prompt_without_function(raw: &PyVal) -> PyVal {
    let mut prompt = PyDict::new();
    if let Some(raw) = raw.as_dict() {
        for (k, v) in raw.iter() {
            if k.as_str() != Some("function") {
                // Keys of a JSON object are strings, hence hashable.
                let _ = prompt.insert(k.clone(), v.clone());
            }
        }
    }
    PyVal::Dict(prompt)
}

fn head(ctx: &AgenticContext<'_>, entry: &AgenticEntry, error: PyDict) -> PyDict {
    let mut d = PyDict::new();
    d.insert_str("id", PyVal::str(entry.id.as_str()));
    d.insert_str("model_name", PyVal::str(ctx.model_dir_name));
    d.insert_str("test_category", PyVal::str(ctx.category));
    d.insert_str("valid", PyVal::Bool(false));
    d.insert_str("error", PyVal::Dict(error));
    d
}

/// The line of an entry whose result was not judged by the checker: the whole prompt entry,
/// the raw result and the answers follow the error.
fn unjudged(
    ctx: &AgenticContext<'_>,
    entry: &AgenticEntry,
    message: &str,
    error_type: &str,
    result: &PyVal,
) -> PyDict {
    let mut d = head(ctx, entry, error_dict(message, error_type));
    d.insert_str("prompt", prompt_without_function(&entry.raw));
    d.insert_str("model_result", result.clone());
    d
}

fn error_dict(message: &str, error_type: &str) -> PyDict {
    let mut e = PyDict::new();
    e.insert_str("error_message", PyVal::List(vec![PyVal::str(message)]));
    e.insert_str("error_type", PyVal::str(error_type));
    e
}

/// Evaluates one entry's `result`.
pub fn evaluate_agentic_entry(
    ctx: &AgenticContext<'_>,
    entry: &AgenticEntry,
    result: &PyVal,
) -> AgenticVerdict {
    let steps = match result.as_list() {
        Some([turn]) => turn,
        _ => {
            let error_type = "agentic:inference_error";
            let message =
                "Error during inference phase. Model did not output a list of model responses.";
            let mut d = unjudged(ctx, entry, message, error_type, result);
            d.insert_str("possible_answer", str_list(&entry.answers));
            return AgenticVerdict::Failed {
                error_type: error_type.into(),
                line: PyVal::Dict(d),
            };
        }
    };
    let Some(steps) = steps.as_list() else {
        return AgenticVerdict::Unscored(format!(
            "{}: the result's turn is a {}, not a list of steps",
            entry.id,
            steps.py_type().name()
        ));
    };
    let mut decoded_steps: Vec<PyVal> = Vec::new();
    let mut last: Option<&PyVal> = None;
    for step in steps {
        // decode_execute raises on a non-string step: it counts as a failed decode.
        let Some(text) = step.as_str() else {
            last = Some(step);
            continue;
        };
        match decode_execute(ctx.model.profile, text) {
            Ok(calls) if !is_empty_execute_response(&calls) => decoded_steps.push(str_list(&calls)),
            Ok(_) | Err(StepDecodeError::Failed(_)) => last = Some(step),
            Err(StepDecodeError::Unsupported(why)) => {
                return AgenticVerdict::Unscored(format!(
                    "{}: the decoder does not support {why}",
                    entry.id
                ))
            }
        }
    }
    // `if not last_unsuccessful_decoding_message`: an empty final message counts as none.
    let Some(last) = last.filter(|m| m.truthy()) else {
        let error_type = "agentic:no_last_message";
        let message = "Cannot find the last chat message that is not a function call.";
        let mut d = unjudged(ctx, entry, message, error_type, result);
        d.insert_str("model_result_decoded", PyVal::List(decoded_steps));
        d.insert_str("possible_answer", str_list(&entry.answers));
        return AgenticVerdict::Failed {
            error_type: error_type.into(),
            line: PyVal::Dict(d),
        };
    };
    // agentic_checker: a list response is its first element, anything else goes through str().
    let response = match last {
        PyVal::Str(s) => s.clone(),
        PyVal::List(items) | PyVal::Tuple(items) => match items.first() {
            Some(PyVal::Str(s)) => s.clone(),
            Some(other) => py_str(other),
            None => {
                return AgenticVerdict::Unscored(format!(
                    "{}: the final step is an empty list (the official checker raises)",
                    entry.id
                ))
            }
        },
        other => py_str(other),
    };
    let verdict = agentic_check(&response, &entry.answers);
    if verdict.valid {
        return AgenticVerdict::Valid;
    }
    let error_type = "agentic:answer_not_found";
    let mut error = PyDict::new();
    error.insert_str(
        "error_message",
        PyVal::str("None of the expected answers were found in the model response."),
    );
    error.insert_str("error_type", PyVal::str(error_type));
    let mut details = PyDict::new();
    details.insert_str("model_response", PyVal::str(response));
    details.insert_str("possible_answers", str_list(&entry.answers));
    details.insert_str(
        "standardized_model_response",
        PyVal::str(verdict.standardized_response),
    );
    details.insert_str(
        "standardized_possible_answers",
        str_list(&verdict.standardized_answers),
    );
    error.insert_str("details", PyVal::Dict(details));
    let mut d = head(ctx, entry, error);
    let question = entry
        .raw
        .as_dict()
        .and_then(|r| r.get_str("question"))
        .cloned()
        .unwrap_or(PyVal::None);
    d.insert_str("prompt", question);
    d.insert_str("model_result_raw", result.clone());
    d.insert_str("last_non_fc_message", last.clone());
    d.insert_str("possible_answer", str_list(&entry.answers));
    AgenticVerdict::Failed {
        error_type: error_type.into(),
        line: PyVal::Dict(d),
    }
}

/// Scores one agentic category's (sorted) results and writes its score file.
pub fn score_agentic_category(
    ctx: &AgenticContext<'_>,
    entries: &[AgenticEntry],
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
        match evaluate_agentic_entry(ctx, entry, &line.result) {
            AgenticVerdict::Valid => tally.correct += 1,
            AgenticVerdict::Failed {
                error_type,
                line: dict,
            } => {
                let mut dict = dict;
                if let PyVal::Dict(d) = &mut dict {
                    d.insert_str("inference_log", inference_log(line));
                }
                tally.failures.push(FailedEntry {
                    id: entry.id.clone(),
                    error_type,
                });
                tally.failed_dicts.push((entry.id.clone(), dict));
            }
            AgenticVerdict::Unscored(reason) => {
                let mut d = unjudged(ctx, entry, &reason, UNSCORED_ERROR_TYPE, &line.result);
                d.insert_str("possible_answer", str_list(&entry.answers));
                tally.unscored.push(Unscored {
                    id: entry.id.clone(),
                    reason,
                });
                tally.failed_dicts.push((entry.id.clone(), PyVal::Dict(d)));
            }
        }
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
