//! Value checkers of `ast_checker.py`: `standardize_string`, `string_checker`,
//! `list_checker`, `dict_checker`, `list_dict_checker`.

use super::pyops::{contains, getitem, index, iterate, len};
use super::{CheckError, Failure};
use crate::eval::pyrepr::{py_str, repr};
use crate::eval::pyval::{py_eq, py_in, PyVal};

/// `re.sub(r"[ \,\.\/\-\_\*\^]", "", s).lower().replace("'", '"')`.
pub fn standardize_string(s: &str) -> String {
    let kept: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | ',' | '.' | '/' | '-' | '_' | '*' | '^'))
        .collect();
    kept.to_lowercase().replace('\'', "\"")
}

fn std_if_str(v: &PyVal) -> PyVal {
    match v {
        PyVal::Str(s) => PyVal::Str(standardize_string(s)),
        other => other.clone(),
    }
}

/// `string_checker(param, model_output, possible_answer)`.
pub fn string_checker(
    param: &PyVal,
    model_output: &str,
    possible_answer: &PyVal,
) -> Result<Result<(), Failure>, CheckError> {
    let std_answers: Vec<PyVal> = iterate(possible_answer)?
        .iter()
        .filter_map(|a| a.as_str().map(|s| PyVal::Str(standardize_string(s))))
        .collect();
    let out = PyVal::Str(standardize_string(model_output));
    if !py_in(&out, &std_answers) {
        return Ok(Err(Failure::new(
            format!(
                "Invalid value for parameter {}: {}. Expected one of {}. Case insensitive.",
                repr(param),
                repr(&PyVal::str(model_output)),
                repr(possible_answer)
            ),
            "value_error:string",
        )));
    }
    Ok(Ok(()))
}

/// `list_checker(param, model_output, possible_answer)`.
pub fn list_checker(
    param: &PyVal,
    model_output: &PyVal,
    possible_answer: &PyVal,
) -> Result<Result<(), Failure>, CheckError> {
    let std_output = PyVal::List(iterate(model_output)?.iter().map(std_if_str).collect());
    let mut std_answers = Vec::new();
    for alt in iterate(possible_answer)? {
        let n = len(&alt)?;
        let mut items = Vec::with_capacity(n);
        for j in 0..n {
            items.push(std_if_str(&index(&alt, j)?));
        }
        std_answers.push(PyVal::List(items));
    }
    if !py_in(&std_output, &std_answers) {
        return Ok(Err(Failure::new(
            format!(
                "Invalid value for parameter {}: {}. Expected one of {}.",
                repr(param),
                repr(model_output),
                repr(possible_answer)
            ),
            "value_error:list/tuple",
        )));
    }
    Ok(Ok(()))
}

/// `dict_checker(param, model_output, possible_answers)`.
pub fn dict_checker(
    model_output: &PyVal,
    possible_answers: &PyVal,
) -> Result<Result<(), Failure>, CheckError> {
    let mut result = Failure::empty("dict_checker:unclear");
    for alt in iterate(possible_answers)? {
        if py_eq(&alt, &PyVal::str("")) {
            continue;
        }
        result = Failure::empty("dict_checker:unclear");
        let mut flag = true;
        let PyVal::Dict(out_dict) = model_output else {
            return Err(CheckError::Crash(format!(
                "AttributeError: '{}' object has no attribute 'items'",
                model_output.py_type().name()
            )));
        };
        for (key, value) in out_dict.iter() {
            if !contains(&alt, key)? {
                result.error.push(PyVal::Str(format!(
                    "Unexpected dict key parameter: '{}'.",
                    py_str(key)
                )));
                result.error_type = "value_error:dict_key".into();
                flag = false;
                break;
            }
            let std_value = std_if_str(value);
            let allowed = getitem(&alt, key)?;
            let n = len(&allowed)?;
            let mut std_allowed = Vec::with_capacity(n);
            for i in 0..n {
                std_allowed.push(std_if_str(&index(&allowed, i)?));
            }
            if !py_in(&std_value, &std_allowed) {
                result.error.push(PyVal::Str(format!(
                    "Invalid value for parameter {}: {}. Expected one of {}.",
                    repr(key),
                    repr(value),
                    repr(&PyVal::List(std_allowed))
                )));
                result.error_type = "value_error:dict_value".into();
                flag = false;
                break;
            }
        }
        let PyVal::Dict(alt_dict) = &alt else {
            return Err(CheckError::Crash(format!(
                "AttributeError: '{}' object has no attribute 'items'",
                alt.py_type().name()
            )));
        };
        for (key, allowed) in alt_dict.iter() {
            if out_dict.get(key).is_none() && !contains(allowed, &PyVal::str(""))? {
                result.error.push(PyVal::Str(format!(
                    "Missing dict key parameter: '{}'.",
                    py_str(key)
                )));
                result.error_type = "value_error:dict_key".into();
                flag = false;
                break;
            }
        }
        if flag {
            return Ok(Ok(()));
        }
    }
    Ok(Err(result))
}

/// `list_dict_checker(param, model_output, possible_answers)`.
pub fn list_dict_checker(
    model_output: &PyVal,
    possible_answers: &PyVal,
) -> Result<Result<(), Failure>, CheckError> {
    let mut result = Failure::empty("list_dict_checker:unclear");
    let outputs = iterate(model_output)?;
    for alt in iterate(possible_answers)? {
        if outputs.len() != len(&alt)? {
            result = Failure::new(
                "Wrong number of dictionaries in the list.".to_string(),
                "value_error:list_dict_count",
            );
            continue;
        }
        let mut flag = true;
        for (i, item) in outputs.iter().enumerate() {
            let single = PyVal::List(vec![index(&alt, i)?]);
            match dict_checker(item, &single)? {
                Ok(()) => {}
                Err(f) => {
                    result = f;
                    flag = false;
                    break;
                }
            }
        }
        if flag {
            return Ok(Ok(()));
        }
    }
    Ok(Err(result))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardize_matches_official_char_class() {
        assert_eq!(standardize_string("April 1, 2024"), "april12024");
        assert_eq!(standardize_string("New-York_City*^./"), "newyorkcity");
        assert_eq!(standardize_string("It's"), "it\"s");
        assert_eq!(standardize_string("a;b:c!"), "a;b:c!");
    }
}
