//! `type_checker` and `PYTHON_TYPE_MAPPING` of `ast_checker.py`.

use super::pyops::{iterate, ne_empty_str};
use super::CheckError;
use crate::eval::pyrepr::repr;
use crate::eval::pyval::{PyType, PyVal};

/// `PYTHON_TYPE_MAPPING[type_name]`.
pub fn python_type(type_name: &str) -> Result<PyType, CheckError> {
    Ok(match type_name {
        "string" | "any" => PyType::Str,
        "integer" => PyType::Int,
        "float" => PyType::Float,
        "boolean" => PyType::Bool,
        "array" | "tuple" => PyType::List,
        "dict" => PyType::Dict,
        other => return Err(CheckError::Crash(format!("KeyError: '{other}'"))),
    })
}

/// The dict `type_checker` returns.
#[derive(Debug, Clone)]
pub struct TypeCheck {
    /// `valid`
    pub valid: bool,
    /// `error`
    pub error: Vec<PyVal>,
    /// `is_variable`
    pub is_variable: bool,
    /// `error_type`
    pub error_type: String,
}

/// `get_possible_answer_type`: the type of the first alternative that is not `""`.
fn possible_answer_type(possible_answer: &PyVal) -> Result<Option<PyType>, CheckError> {
    Ok(iterate(possible_answer)?
        .iter()
        .find(|a| ne_empty_str(a))
        .map(PyVal::py_type))
}

/// `type_checker(param, value, possible_answer, expected_type_description,
/// expected_type_converted, nested_type_converted)`.
pub fn type_checker(
    param: &PyVal,
    value: &PyVal,
    possible_answer: &PyVal,
    expected_type_description: &str,
    expected: PyType,
    nested: Option<PyType>,
) -> Result<TypeCheck, CheckError> {
    let mut result = TypeCheck {
        valid: true,
        error: Vec::new(),
        is_variable: false,
        error_type: "type_error:simple".into(),
    };
    let pa_type = possible_answer_type(possible_answer)?;
    let is_variable = pa_type.is_some_and(|t| t != expected);

    if value.py_type() == expected {
        match nested {
            None => {
                result.is_variable = is_variable;
                return Ok(result);
            }
            Some(nested_type) => {
                for alt in iterate(possible_answer)? {
                    let mut flag = true;
                    if alt.py_type() == PyType::List {
                        for item in iterate(value)? {
                            let r = type_checker(
                                param,
                                &item,
                                &alt,
                                &nested_type.class_repr(),
                                nested_type,
                                None,
                            )?;
                            if !r.valid {
                                flag = false;
                                break;
                            }
                        }
                    }
                    if flag {
                        return Ok(TypeCheck {
                            valid: true,
                            error: Vec::new(),
                            is_variable,
                            error_type: String::new(),
                        });
                    }
                }
                result.valid = false;
                result.error = vec![PyVal::Str(format!(
                    "Nested type checking failed for parameter {}. Expected outer type {} with inner type {}. Parameter value: {}.",
                    repr(param),
                    expected_type_description,
                    nested_type.class_repr(),
                    repr(value)
                ))];
                result.error_type = "type_error:nested".into();
            }
        }
    }

    let pa_type = possible_answer_type(possible_answer)?;
    if pa_type.is_some_and(|t| value.py_type() == t) {
        result.is_variable = true;
        return Ok(result);
    }
    result.valid = false;
    result.error.push(PyVal::Str(format!(
        "Incorrect type for parameter {}. Expected type {}, got {}. Parameter value: {}.",
        repr(param),
        expected_type_description,
        value.py_type().name(),
        repr(value)
    )));
    result.error_type = "type_error:simple".into();
    Ok(result)
}
