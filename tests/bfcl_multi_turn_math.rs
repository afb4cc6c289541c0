//! MathAPI `logarithm` (mpmath) and `square_root` (decimal): replays the
//! calls recorded by `scripts/bfcl_multi_turn_math_fixtures.py` from the
//! official Python class (through the official
//! `execute_multi_turn_func_call`) and compares every result string byte
//! for byte; the calls the port deliberately does not cover must raise its
//! `Unsupported` exception rather than return a wrong string.

use std::path::PathBuf;
use trainer::eval::multi_turn::{Call, Executor, PyProcess};
use trainer::eval::pyjson;
use trainer::eval::pyval::{PyDict, PyVal};

fn fixture() -> PyVal {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bfcl_multi_turn/math_precision.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    pyjson::loads(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn strings(v: &PyVal, key: &str) -> Vec<String> {
    v.as_dict()
        .and_then(|d| d.get_str(key))
        .and_then(PyVal::as_list)
        .unwrap_or_else(|| panic!("fixture field `{key}` missing"))
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

fn math_executor() -> Executor {
    Executor::new(&PyDict::new(), &["MathAPI".to_string()], &PyProcess::new()).expect("executor")
}

#[test]
fn logarithm_and_square_root_are_byte_identical() {
    let fx = fixture();
    let calls = strings(&fx, "calls");
    let results = strings(&fx, "results");
    assert_eq!(calls.len(), results.len());
    let mut exec = math_executor();
    let mut failures = Vec::new();
    for (text, want) in calls.iter().zip(&results) {
        let call = Call::parse(text).unwrap_or_else(|e| panic!("{e}"));
        let got = exec.execute(&call);
        if &got != want {
            failures.push(format!("`{text}`\n   got  {got}\n   want {want}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} calls differ:\n{}",
        failures.len(),
        calls.len(),
        failures.join("\n")
    );
    assert!(calls.len() > 500);
}

#[test]
fn uncovered_inputs_raise_unsupported() {
    let fx = fixture();
    let mut exec = math_executor();
    for text in strings(&fx, "unsupported") {
        let call = Call::parse(&text).unwrap_or_else(|e| panic!("{e}"));
        let got = exec.execute(&call);
        assert!(
            got.starts_with("Error during execution: not ported to Rust"),
            "`{text}` gave {got}"
        );
    }
}

/// A model can call `logarithm` with any precision or numeral: beyond what the port computes it
/// must answer Unsupported, not allocate without bound, hang or overflow.
#[test]
fn hostile_precisions_and_exponents_are_unsupported() {
    let mut exec = math_executor();
    for text in [
        "logarithm(value=0.5, base=10, precision=1000000000000)",
        "logarithm(value='1/3', base=10, precision=1000000000000)",
        "logarithm(value='-inf', base=10, precision=100000000)",
        "logarithm(value='1.5e-170141183460469231731687303715884105727', base=10, precision=10)",
        "logarithm(value='1.25e-170141183460469231731687303715884105728', base=10, precision=10)",
        "logarithm(value='1e170141183460469231731687303715884105727', base=10, precision=10)",
    ] {
        let call = Call::parse(text).unwrap_or_else(|e| panic!("{e}"));
        let got = exec.execute(&call);
        assert!(
            got.starts_with("Error during execution: not ported to Rust"),
            "`{text}` gave {got}"
        );
    }
}
