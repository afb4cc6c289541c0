//! Evaluation of one single-turn entry, producing the official verdict and,
//! for a failure, the exact dict the official runner writes to the score file
//! (`_evaluate_single_ast_entry` / `_evaluate_single_relevance_entry`).

use crate::eval::checker::{ast_checker, CheckError, Language};
use crate::eval::decode::{
    decode_ast, is_empty_output, is_function_calling_format_output, DecodeError, ModelSpec,
};
use crate::eval::pyrepr::py_str;
use crate::eval::pyval::{PyDict, PyVal};

/// What happened to one entry.
#[derive(Debug, Clone)]
pub struct EntryOutcome {
    /// Passed the official checks.
    pub valid: bool,
    /// The official score-file dict for a failed entry (`None` when valid).
    pub failure: Option<PyVal>,
    /// `error_type` of the failure.
    pub error_type: Option<String>,
    /// The decoder hit a construct this crate does not evaluate (counted as
    /// a decode failure; the official decoder might have succeeded).
    pub unsupported: bool,
}

impl EntryOutcome {
    fn pass(unsupported: bool) -> Self {
        Self {
            valid: true,
            failure: None,
            error_type: None,
            unsupported,
        }
    }
}

/// Inputs shared by the entries of one category.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The model's official registration.
    pub model: &'a ModelSpec,
    /// Result directory name of the model (`/` replaced by `_`).
    pub model_dir_name: &'a str,
    /// Category name.
    pub category: &'a str,
}

fn base_entry(ctx: &Context<'_>, id: &str) -> PyDict {
    let mut d = PyDict::new();
    d.insert_str("id", PyVal::str(id));
    d.insert_str("model_name", PyVal::str(ctx.model_dir_name));
    d.insert_str("test_category", PyVal::str(ctx.category));
    d.insert_str("valid", PyVal::Bool(false));
    d
}

fn decode_message(e: &DecodeError) -> String {
    e.to_string()
}

/// `_evaluate_single_relevance_entry`.
pub fn evaluate_relevance(
    ctx: &Context<'_>,
    id: &str,
    result: &PyVal,
    prompt: &PyVal,
) -> EntryOutcome {
    let decoded = decode_ast(ctx.model.profile, result, Language::Python);
    let unsupported = matches!(decoded, Err(DecodeError::Unsupported(_)));
    let (contain_call, decoded_val, decode_error) = match &decoded {
        Ok(v) => (!is_empty_output(v), v.clone(), None),
        Err(e) => (false, PyVal::None, Some(decode_message(e))),
    };
    let irrelevance = ctx.category.contains("irrelevance");
    let success = if irrelevance {
        !contain_call
    } else {
        contain_call
    };
    if success {
        return EntryOutcome::pass(unsupported);
    }
    let mut d = base_entry(ctx, id);
    d.insert_str("prompt", prompt.clone());
    d.insert_str("model_result", result.clone());
    d.insert_str("decoded_result", decoded_val);
    let error_type = if irrelevance {
        d.insert_str(
            "error",
            PyVal::List(vec![PyVal::str(
                "Valid syntax. Successfully decode AST when it should not.",
            )]),
        );
        "irrelevance_error:decoder_success"
    } else {
        d.insert_str(
            "error",
            PyVal::List(vec![PyVal::Str(format!(
                "Invalid syntax. Failed to decode AST when it should have. {}",
                decode_error.unwrap_or_else(|| "None".to_string())
            ))]),
        );
        "relevance_error:decoder_failed"
    };
    d.insert_str("error_type", PyVal::str(error_type));
    EntryOutcome {
        valid: false,
        failure: Some(PyVal::Dict(d)),
        error_type: Some(error_type.to_string()),
        unsupported,
    }
}

/// `_evaluate_single_ast_entry` (Python categories).  `Err` where the
/// official checker raises (which aborts the official run).
pub fn evaluate_ast(
    ctx: &Context<'_>,
    id: &str,
    result: &PyVal,
    prompt: &PyVal,
    ground_truth: &PyVal,
    language: Language,
) -> Result<EntryOutcome, CheckError> {
    let decoded = match decode_ast(ctx.model.profile, result, language) {
        Ok(v) => v,
        Err(e) => {
            let mut d = base_entry(ctx, id);
            d.insert_str(
                "error",
                PyVal::List(vec![PyVal::Str(format!(
                    "Invalid syntax. Failed to decode AST. {}",
                    decode_message(&e)
                ))]),
            );
            d.insert_str("error_type", PyVal::str("ast_decoder:decoder_failed"));
            d.insert_str("prompt", prompt.clone());
            d.insert_str("model_result_raw", result.clone());
            d.insert_str("possible_answer", ground_truth.clone());
            return Ok(EntryOutcome {
                valid: false,
                failure: Some(PyVal::Dict(d)),
                error_type: Some("ast_decoder:decoder_failed".into()),
                unsupported: matches!(e, DecodeError::Unsupported(_)),
            });
        }
    };
    if !is_function_calling_format_output(&decoded) {
        let mut d = base_entry(ctx, id);
        d.insert_str(
            "error",
            PyVal::List(vec![PyVal::str(
                "Did not output in the specified format. Note: the model_result is wrapped in a string to ensure json serializability.",
            )]),
        );
        d.insert_str(
            "error_type",
            PyVal::str("ast_decoder:decoder_wrong_output_format"),
        );
        d.insert_str("prompt", prompt.clone());
        d.insert_str("model_result_raw", PyVal::Str(py_str(result)));
        d.insert_str("model_result_decoded", PyVal::Str(py_str(&decoded)));
        d.insert_str("possible_answer", ground_truth.clone());
        return Ok(EntryOutcome {
            valid: false,
            failure: Some(PyVal::Dict(d)),
            error_type: Some("ast_decoder:decoder_wrong_output_format".into()),
            unsupported: false,
        });
    }
    let functions = prompt
        .as_dict()
        .and_then(|d| d.get_str("function"))
        .ok_or_else(|| CheckError::Crash("KeyError: 'function'".into()))?;
    let calls = decoded.as_list().unwrap_or(&[]);
    let verdict = ast_checker(
        functions,
        calls,
        ground_truth,
        language,
        ctx.category,
        ctx.model.underscore_to_dot,
    )?;
    match verdict {
        Ok(()) => Ok(EntryOutcome::pass(false)),
        Err(f) => {
            let mut d = base_entry(ctx, id);
            d.insert_str("error", PyVal::List(f.error));
            d.insert_str("error_type", PyVal::Str(f.error_type.clone()));
            d.insert_str("prompt", prompt.clone());
            d.insert_str("model_result_raw", result.clone());
            d.insert_str("model_result_decoded", decoded);
            d.insert_str("possible_answer", ground_truth.clone());
            Ok(EntryOutcome {
                valid: false,
                failure: Some(PyVal::Dict(d)),
                error_type: Some(f.error_type),
                unsupported: false,
            })
        }
    }
}
