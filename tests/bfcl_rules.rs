//! Checker behaviours that `bfcl-rules.md` records as verified against the
//! official evaluator (bfcl-eval==2026.3.23).  (In the trainer crate,
//! `trainer::eval` is `trainer::eval`.)

use trainer::eval::checker::{ast_checker, Language};
use trainer::eval::decode::{decode_ast, is_empty_output, Profile};
use trainer::eval::pyjson::loads;
use trainer::eval::pyval::PyVal;

fn j(text: &str) -> PyVal {
    loads(text).expect("valid JSON in test")
}

fn check(funcs: &str, output: &str, gt: &str, category: &str) -> Result<(), String> {
    let decoded = decode_ast(Profile::Prompting, &PyVal::str(output), Language::Python)
        .map_err(|e| e.to_string())?;
    let calls = decoded.as_list().expect("list").to_vec();
    ast_checker(&j(funcs), &calls, &j(gt), Language::Python, category, false)
        .expect("checker does not raise")
        .map_err(|f| f.error_type)
}

const G: &str = r#"[{"name": "g", "parameters": {"type": "dict", "properties": {"v": {"type": "string"}}, "required": []}}]"#;

#[test]
fn parallel_matching_is_greedy_in_ground_truth_order() {
    let gt = r#"[{"g": {"v": ["a", ""]}}, {"g": {"v": ["a"]}}]"#;
    assert_eq!(
        check(G, "[g(v='a'), g()]", gt, "parallel"),
        Err("parallel_function_checker_no_order:cannot_find_match".into())
    );
    assert_eq!(check(G, "[g(), g(v='a')]", gt, "parallel"), Ok(()));
}

const F: &str = r#"[{"name": "f", "parameters": {"type": "dict", "properties": {
    "n": {"type": "integer"}, "x": {"type": "float"}, "b": {"type": "boolean"},
    "s": {"type": "string"}, "l": {"type": "array", "items": {"type": "float"}},
    "m": {"type": "array", "items": {"type": "string"}}}, "required": ["n"]}}]"#;

#[test]
fn exact_types_with_int_to_float_promotion_only_at_top_level() {
    let gt = r#"[{"f": {"n": [5], "x": [2.0, ""]}}]"#;
    assert_eq!(check(F, "[f(n=5, x=2)]", gt, "simple_python"), Ok(()));
    assert_eq!(
        check(F, "[f(n=5.0)]", gt, "simple_python"),
        Err("type_error:simple".into())
    );
    assert_eq!(
        check(F, "[f(n=True)]", gt, "simple_python"),
        Err("type_error:simple".into())
    );
    assert_eq!(
        check(F, "[f(n='5')]", gt, "simple_python"),
        Err("type_error:simple".into())
    );
}

#[test]
fn nested_type_check_is_skipped_when_an_optional_alternative_exists() {
    let strict = r#"[{"f": {"n": [1], "l": [[1.0, 2.5]]}}]"#;
    let optional = r#"[{"f": {"n": [1], "l": [[1.0, 2.5], ""]}}]"#;
    assert_eq!(
        check(F, "[f(n=1, l=[1, 2.5])]", strict, "simple_python"),
        Err("type_error:nested".into())
    );
    assert_eq!(
        check(F, "[f(n=1, l=[1, 2.5])]", optional, "simple_python"),
        Ok(())
    );
}

#[test]
fn strings_are_normalized_but_other_punctuation_matters() {
    let gt = r#"[{"f": {"n": [1], "s": ["New York, NY"]}}]"#;
    assert_eq!(
        check(F, "[f(n=1, s='new-york ny')]", gt, "simple_python"),
        Ok(())
    );
    assert_eq!(
        check(F, "[f(n=1, s='New York; NY')]", gt, "simple_python"),
        Err("value_error:string".into())
    );
}

#[test]
fn optional_array_accepts_empty_list_and_missing_required_uses_the_schema() {
    let gt = r#"[{"f": {"n": [1], "m": [["a"], ""]}}]"#;
    assert_eq!(check(F, "[f(n=1, m=[])]", gt, "simple_python"), Ok(()));
    assert_eq!(check(F, "[f(n=1)]", gt, "simple_python"), Ok(()));
    assert_eq!(
        check(F, "[f(m=['a'])]", gt, "simple_python"),
        Err("simple_function_checker:missing_required".into())
    );
}

#[test]
fn the_variable_rule_compares_exactly() {
    let gt = r#"[{"f": {"n": ["dontcare"]}}]"#;
    assert_eq!(check(F, "[f(n='dontcare')]", gt, "simple_python"), Ok(()));
    assert_eq!(
        check(F, "[f(n='-dontcare')]", gt, "simple_python"),
        Err("value_error:others".into())
    );
}

#[test]
fn prompting_decoder_quirks() {
    let d = |s: &str| decode_ast(Profile::Prompting, &PyVal::str(s), Language::Python);
    let repr = |s: &str| trainer::eval::pyrepr::repr(&d(s).expect("decodes"));
    assert_eq!(
        repr("[f(5, a=x, b=true)]"),
        "[{'f': {'a': 'x', 'b': 'true'}}]"
    );
    assert_eq!(
        repr("[f(a=+5, b=not True, c=1+2)]"),
        "[{'f': {'a': -5, 'b': -1, 'c': 3}}]"
    );
    assert_eq!(repr("[f(a=1, a=2)]"), "[{'f': {'a': 2}}]");
    assert_eq!(repr("```\n[f()]\n```"), "[{'f': {}}]");
    assert!(d("```python\n[f()]\n```").is_err());
    assert!(d("[f(a=1)]\nsome text").is_err());
    assert!(d("<think>..</think>[f(a=1)]").is_err());
}

#[test]
fn relevance_counts_any_call_but_not_empty_output() {
    let empty = |s: &str| {
        decode_ast(Profile::Prompting, &PyVal::str(s), Language::Python)
            .map(|v| is_empty_output(&v))
            .unwrap_or(true)
    };
    assert!(!empty("[f()]"));
    assert!(empty("[]"));
    assert!(empty("I cannot help"));
    let fc = |s: &str| decode_ast(Profile::QwenFc, &PyVal::str(s), Language::Python);
    assert!(fc("<tool_call>\n{bad}\n</tool_call>").is_ok_and(|v| is_empty_output(&v)));
    assert!(fc("<tool_call>\n{\"name\": \"f\"}\n</tool_call>").is_err());
    assert!(fc("<tool_call>\n[1]\n</tool_call>").is_err());
}
