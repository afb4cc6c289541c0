//! The official single-turn AST checker (`ast_checker.py`), rule for rule,
//! including its quirks (greedy parallel matching, the "variable" rule, the
//! one-level nested type check that an optional `""` alternative satisfies).
//!
//! Every function returns `Ok(Ok(()))` for a pass, `Ok(Err(Failure))` for a
//! failure carrying the official `error` list and `error_type`, and
//! `Err(CheckError)` where the official checker would raise (which aborts the
//! official evaluation run).

mod java_conv;
mod js_conv;
mod minire;
mod pyconv;
mod pyops;
mod types;
mod values;

pub use java_conv::java_type_converter;
pub use js_conv::js_type_converter;
pub use pyconv::inner as py_inner;

pub use values::standardize_string;

use crate::eval::pyrepr::repr;
use crate::eval::pyval::{PyDict, PyVal};
use pyops::{contains, getitem, iterate};
use types::{python_type, type_checker};
use values::{dict_checker, list_checker, list_dict_checker, string_checker};

/// Errors of this module: situations in which the official checker raises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The official checker would raise this Python exception.
    #[error("the official checker would raise {0}")]
    Crash(String),
    /// The language/category is not implemented by this re-implementation.
    #[error("not implemented yet: {0}")]
    NotImplemented(String),
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, CheckError>;

/// A failed check: the official `error` list and `error_type`.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The `error` list (strings, or dicts for parallel sub-errors).
    pub error: Vec<PyVal>,
    /// The `error_type`, e.g. `value_error:string`.
    pub error_type: String,
}

impl Failure {
    /// A failure with one message.
    pub fn new(msg: String, error_type: &str) -> Self {
        Self {
            error: vec![PyVal::Str(msg)],
            error_type: error_type.to_string(),
        }
    }

    /// A failure with no message yet.
    pub fn empty(error_type: &str) -> Self {
        Self {
            error: Vec::new(),
            error_type: error_type.to_string(),
        }
    }
}

/// Outcome of checking one call or one entry.
pub type Verdict = std::result::Result<(), Failure>;

/// Language of a single-turn category (`is_java` / `is_js`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// Python categories.
    Python,
    /// `simple_java`.
    Java,
    /// `simple_javascript`.
    JavaScript,
}

fn crash(msg: impl Into<String>) -> CheckError {
    CheckError::Crash(msg.into())
}

fn key_error(k: &str) -> CheckError {
    crash(format!("KeyError: '{k}'"))
}

fn dict_field<'a>(d: &'a PyVal, key: &str) -> Result<&'a PyVal> {
    match d {
        PyVal::Dict(m) => m.get_str(key).ok_or_else(|| key_error(key)),
        PyVal::None => Err(crash("TypeError: 'NoneType' object is not subscriptable")),
        other => Err(crash(format!(
            "TypeError: '{}' object is not subscriptable by str",
            other.py_type().name()
        ))),
    }
}

/// `ast_checker(func_description, model_output, possible_answer, language, test_category, model_name)`.
pub fn ast_checker(
    func_description: &PyVal,
    model_output: &[PyVal],
    possible_answer: &PyVal,
    language: Language,
    test_category: &str,
    underscore_to_dot: bool,
) -> Result<Verdict> {
    let answers = iterate(possible_answer)?;
    if test_category.contains("parallel") {
        parallel_no_order(
            func_description,
            model_output,
            &answers,
            language,
            underscore_to_dot,
        )
    } else if test_category.contains("multiple") {
        if model_output.len() != answers.len() {
            return Ok(Err(Failure::new(
                "Wrong number of functions.".into(),
                "multiple_function_checker:wrong_count",
            )));
        }
        let first = answers
            .first()
            .ok_or_else(|| crash("IndexError: list index out of range"))?;
        let desc = find_description(func_description, first_key(first)?)?;
        let out = model_output
            .first()
            .ok_or_else(|| crash("IndexError: list index out of range"))?;
        simple_function_checker(&desc, out, first, language, underscore_to_dot)
    } else {
        if model_output.len() != 1 {
            return Ok(Err(Failure::new(
                "Wrong number of functions.".into(),
                "simple_function_checker:wrong_count",
            )));
        }
        let desc = pyops::index(func_description, 0)?;
        let first = answers
            .first()
            .ok_or_else(|| crash("IndexError: list index out of range"))?;
        let out = model_output
            .first()
            .ok_or_else(|| crash("IndexError: list index out of range"))?;
        simple_function_checker(&desc, out, first, language, underscore_to_dot)
    }
}

fn first_key(answer: &PyVal) -> Result<&PyVal> {
    match answer {
        PyVal::Dict(d) => d
            .first_key()
            .ok_or_else(|| crash("IndexError: list index out of range")),
        other => Err(crash(format!(
            "AttributeError: '{}' object has no attribute 'keys'",
            other.py_type().name()
        ))),
    }
}

/// `find_description`: the doc whose `name` equals `name`, or `None`.
fn find_description(func_descriptions: &PyVal, name: &PyVal) -> Result<PyVal> {
    match func_descriptions {
        PyVal::List(docs) => {
            for doc in docs {
                if crate::eval::pyval::py_eq(dict_field(doc, "name")?, name) {
                    return Ok(doc.clone());
                }
            }
            Ok(PyVal::None)
        }
        other => Ok(other.clone()),
    }
}

/// `convert_func_name`.
fn convert_func_name(name: &str, underscore_to_dot: bool) -> String {
    if underscore_to_dot && name.contains('.') {
        name.replace('.', "_")
    } else {
        name.to_string()
    }
}

/// `parallel_function_checker_no_order`: greedy, GT order, first fit in output order.
fn parallel_no_order(
    func_descriptions: &PyVal,
    model_output: &[PyVal],
    answers: &[PyVal],
    language: Language,
    underscore_to_dot: bool,
) -> Result<Verdict> {
    if model_output.len() != answers.len() {
        return Ok(Err(Failure::new(
            "Wrong number of functions.".into(),
            "parallel_function_checker_no_order:wrong_count",
        )));
    }
    let mut matched: Vec<usize> = Vec::new();
    for (i, answer) in answers.iter().enumerate() {
        let desc = find_description(func_descriptions, first_key(answer)?)?;
        let mut all_errors: Vec<PyVal> = Vec::new();
        let mut last: Option<Verdict> = None;
        for (index, out) in model_output.iter().enumerate() {
            if matched.contains(&index) {
                continue;
            }
            let r = simple_function_checker(&desc, out, answer, language, underscore_to_dot)?;
            match &r {
                Ok(()) => {
                    matched.push(index);
                    last = Some(r);
                    break;
                }
                Err(f) => {
                    let mut inner = PyDict::new();
                    inner.insert_str("sub_error", PyVal::List(f.error.clone()));
                    inner.insert_str("sub_error_type", PyVal::Str(f.error_type.clone()));
                    inner.insert_str("model_output_item", out.clone());
                    inner.insert_str("possible_answer_item", answer.clone());
                    let mut outer = PyDict::new();
                    outer.insert_str(&format!("Model Result Index {index}"), PyVal::Dict(inner));
                    all_errors.push(PyVal::Dict(outer));
                }
            }
            last = Some(r);
        }
        if !matches!(last, Some(Ok(()))) {
            let considered: Vec<PyVal> = (0..model_output.len())
                .filter(|j| !matched.contains(j))
                .map(|j| PyVal::Int(j as i128))
                .collect();
            all_errors.insert(
                0,
                PyVal::Str(format!(
                    "Could not find a matching function among index {} of model output for index {i} of possible answers.",
                    repr(&PyVal::List(considered))
                )),
            );
            return Ok(Err(Failure {
                error: all_errors,
                error_type: "parallel_function_checker_no_order:cannot_find_match".into(),
            }));
        }
    }
    Ok(Ok(()))
}

/// `param_details[param]["items"]["type"]`.
fn item_type(details: &PyVal) -> Result<&str> {
    let items = dict_field(details, "items")?;
    let t = dict_field(items, "type")?;
    t.as_str()
        .ok_or_else(|| crash(format!("KeyError: {}", repr(t))))
}

/// `simple_function_checker(func_description, model_output, possible_answer, language, model)`.
pub fn simple_function_checker(
    func_description: &PyVal,
    model_output: &PyVal,
    possible_answer: &PyVal,
    language: Language,
    underscore_to_dot: bool,
) -> Result<Verdict> {
    let gt_params = match possible_answer {
        PyVal::Dict(d) => d
            .first_value()
            .ok_or_else(|| crash("IndexError: list index out of range"))?,
        other => {
            return Err(crash(format!(
                "AttributeError: '{}' object has no attribute 'values'",
                other.py_type().name()
            )))
        }
    };
    let func_name = dict_field(func_description, "name")?;
    let parameters = dict_field(func_description, "parameters")?;
    let param_details = dict_field(parameters, "properties")?;
    let required = dict_field(parameters, "required")?;

    let func_name = match func_name {
        PyVal::Str(s) => PyVal::Str(convert_func_name(s, underscore_to_dot)),
        other => other.clone(),
    };
    let PyVal::Dict(out) = model_output else {
        return Err(crash("model output item is not a dict"));
    };
    if !out
        .contains(&func_name)
        .map_err(|u| crash(format!("TypeError: unhashable type: '{}'", u.0)))?
    {
        return Ok(Err(Failure::new(
            format!(
                "Function name {} not found in model output.",
                repr(&func_name)
            ),
            "simple_function_checker:wrong_func_name",
        )));
    }
    let model_params = out.get(&func_name).cloned().unwrap_or(PyVal::None);
    let PyVal::Dict(params) = &model_params else {
        return Err(crash("model params are not a dict"));
    };

    for param in iterate(required)? {
        if !contains(&model_params, &param)? {
            return Ok(Err(Failure::new(
                format!("Missing required parameter: {}.", repr(&param)),
                "simple_function_checker:missing_required",
            )));
        }
    }

    for (param, value) in params.iter() {
        if !contains(param_details, param)? || !contains(gt_params, param)? {
            return Ok(Err(Failure::new(
                format!("Unexpected parameter: {}.", repr(param)),
                "simple_function_checker:unexpected_param",
            )));
        }
        let details = getitem(param_details, param)?;
        let type_desc = dict_field(&details, "type")?;
        let type_desc = type_desc
            .as_str()
            .ok_or_else(|| crash(format!("KeyError: {}", repr(type_desc))))?;
        let (expected, nested, value) = match language {
            Language::Python => {
                let expected = python_type(type_desc)?;
                let nested = if type_desc == "array" || type_desc == "tuple" {
                    Some(python_type(item_type(&details)?)?)
                } else {
                    None
                };
                let mut value = value.clone();
                if type_desc == "tuple" {
                    if let PyVal::Tuple(items) = value {
                        value = PyVal::List(items);
                    }
                }
                if type_desc == "float" {
                    if let PyVal::Int(i) = value {
                        value = PyVal::Float(i as f64);
                    } else if let PyVal::BigInt(ref s) = value {
                        value = PyVal::Float(s.parse::<f64>().unwrap_or(f64::INFINITY));
                    }
                }
                (expected, nested, value)
            }
            Language::Java | Language::JavaScript => {
                let java = language == Language::Java;
                let table = if java {
                    java_conv::java_type
                } else {
                    js_conv::js_type
                };
                let expected = table(type_desc)?;
                let PyVal::Str(text) = value else {
                    return Ok(Err(Failure::new(
                        format!(
                            "Incorrect type for parameter {}. Expected type String, got {}. Parameter value: {}.",
                            repr(param),
                            value.py_type().name(),
                            repr(value)
                        ),
                        if java { "type_error:java" } else { "type_error:js" },
                    )));
                };
                let convert = if java {
                    java_type_converter
                } else {
                    js_type_converter
                };
                if matches!(type_desc, "Array" | "ArrayList" | "array") {
                    let nested_name = item_type(&details)?;
                    let nested = table(nested_name)?;
                    let v = convert(text, type_desc, Some(nested_name))?;
                    (expected, Some(nested), v)
                } else {
                    (expected, None, convert(text, type_desc, None)?)
                }
            }
        };
        let allowed = getitem(gt_params, param)?;
        let tc = type_checker(param, &value, &allowed, type_desc, expected, nested)?;
        if !tc.valid {
            return Ok(Err(Failure {
                error: tc.error,
                error_type: tc.error_type,
            }));
        }
        if !tc.is_variable {
            use crate::eval::pyval::PyType;
            let sub = if expected == PyType::Dict {
                Some(dict_checker(&value, &allowed)?)
            } else if expected == PyType::List && nested == Some(PyType::Dict) {
                Some(list_dict_checker(&value, &allowed)?)
            } else if expected == PyType::Str {
                let s = value.as_str().ok_or_else(|| crash("str expected"))?;
                Some(string_checker(param, s, &allowed)?)
            } else if expected == PyType::List {
                Some(list_checker(param, &value, &allowed)?)
            } else {
                None
            };
            if let Some(r) = sub {
                match r {
                    Ok(()) => continue,
                    Err(f) => return Ok(Err(f)),
                }
            }
        }
        if !contains(&allowed, &value)? {
            return Ok(Err(Failure::new(
                format!(
                    "Invalid value for parameter {}: {}. Expected one of {}.",
                    repr(param),
                    repr(&value),
                    repr(&allowed)
                ),
                "value_error:others",
            )));
        }
    }

    for param in iterate(gt_params)? {
        if !contains(&model_params, &param)? {
            let allowed = getitem(gt_params, &param)?;
            if !contains(&allowed, &PyVal::str(""))? {
                return Ok(Err(Failure::new(
                    format!(
                        "Optional parameter {} not provided and not marked as optional.",
                        repr(&param)
                    ),
                    "simple_function_checker:missing_optional",
                )));
            }
        }
    }
    Ok(Ok(()))
}
