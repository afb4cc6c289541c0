//! simple_java / simple_javascript agreement with the official BFCL v4
//! checker (bfcl-eval==2026.3.23 with tree-sitter-java 0.21.0 and
//! tree-sitter-javascript 0.21.4), without Python:
//!
//! * `tests/fixtures/bfcl_java_js/cases.jsonl` (written by
//!   `scripts/bfcl_java_js_cases.py`) holds, for both decoder profiles, the
//!   ground-truth replay of every entry plus systematically perturbed answers,
//!   each with the official verdict (validity, `error_type`, FNV-1a hashes of
//!   the official `error` list and decoded output, or the exception that
//!   would abort the official run).  Set `TRAINER_BFCL_JAVA_JS_CASES` to the
//!   script's `--full` output to check every perturbation of every entry.
//! * `decode_cases.jsonl` holds the official `decode_ast` of tricky Java and
//!   JavaScript texts (tree-sitter accepts/rejects, traversal quirks);
//!   `TRAINER_BFCL_JAVA_JS_DECODE` points the test at another such file.

mod bfcl_common;

use bfcl_common::{canon, field, fnv1a64, text};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use trainer::eval::category::{language, sort_key};
use trainer::eval::checker::{java_type_converter, js_type_converter, Language};
use trainer::eval::data::{load_category, read_jsonl, CategoryData};
use trainer::eval::decode::{decode_ast, find_model, DecodeError, Profile};
use trainer::eval::entry::{evaluate_ast, Context};
use trainer::eval::pyrepr::repr;
use trainer::eval::pyval::PyVal;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bfcl_java_js")
}

#[derive(Default)]
struct Tally {
    n: usize,
    agree: usize,
    official_pass: usize,
    rust_pass: usize,
    unsupported: usize,
}

#[test]
fn verdicts_match_the_official_checker() {
    let path = std::env::var_os("TRAINER_BFCL_JAVA_JS_CASES")
        .map(PathBuf::from)
        .unwrap_or_else(|| fixtures().join("cases.jsonl"));
    let cases = read_jsonl(&path).expect("cases.jsonl");
    assert!(cases.len() >= 600, "fixture too small: {}", cases.len());
    let mut data: BTreeMap<String, CategoryData> = BTreeMap::new();
    for cat in ["simple_java", "simple_javascript"] {
        let d = load_category(&fixtures().join("data"), cat).expect("fixture data");
        data.insert(cat.to_string(), d);
    }
    let mut tallies: BTreeMap<(String, String, bool), Tally> = BTreeMap::new();
    let mut mismatches = Vec::new();
    for case in &cases {
        let id = text(case, "id");
        let cat = sort_key(&id).expect("id").1;
        let model = find_model(&text(case, "model")).expect("known model");
        let kind = text(case, "kind");
        let d = &data[&cat];
        let idx = d.entries.iter().position(|e| e.id == id).expect("entry");
        let gt = field(&d.answers.as_ref().expect("answers")[idx], "ground_truth").expect("gt");
        let dir = model.name.replace('/', "_");
        let ctx = Context {
            model,
            model_dir_name: &dir,
            category: &cat,
        };
        let result = field(case, "result").expect("result");
        let official_valid = matches!(field(case, "valid"), Some(PyVal::Bool(true)));
        let t = tallies
            .entry((model.name.to_string(), cat.clone(), kind == "gt"))
            .or_default();
        t.n += 1;
        t.official_pass += usize::from(official_valid);
        let label = format!("{} {id} {kind} {}", model.name, repr(result));
        let out = evaluate_ast(&ctx, &id, result, &d.entries[idx].raw, gt, language(&cat));
        let official_crash = field(case, "crash").and_then(PyVal::as_str);
        let out = match (out, official_crash) {
            (Err(_), Some(_)) => {
                t.agree += 1;
                continue;
            }
            (Err(e), None) => {
                mismatches.push(format!("{label}: Rust raises {e}"));
                continue;
            }
            (Ok(_), Some(c)) => {
                mismatches.push(format!("{label}: official raises {c}"));
                continue;
            }
            (Ok(o), None) => o,
        };
        t.rust_pass += usize::from(out.valid);
        if out.unsupported {
            t.unsupported += 1;
        }
        if out.valid != official_valid {
            mismatches.push(format!(
                "{label}: valid {} vs official {official_valid} ({:?})",
                out.valid, out.error_type
            ));
            continue;
        }
        if official_valid {
            t.agree += 1;
            continue;
        }
        let official_type = text(case, "error_type");
        if out.error_type.as_deref() != Some(official_type.as_str()) {
            mismatches.push(format!(
                "{label}: error_type {:?} vs official {official_type}",
                out.error_type
            ));
            continue;
        }
        let mine = out.failure.as_ref().expect("failure dict");
        if !official_type.ends_with("decoder_failed") {
            let e = canon(field(mine, "error").expect("error"));
            if fnv1a64(&e) != text(case, "error_fnv") {
                mismatches.push(format!("{label}: error {e} differs"));
                continue;
            }
            if let Some(want) = field(case, "decoded_fnv").and_then(PyVal::as_str) {
                let dec = canon(field(mine, "model_result_decoded").expect("decoded"));
                if fnv1a64(&dec) != want {
                    mismatches.push(format!("{label}: decoded {dec} differs"));
                    continue;
                }
            }
        }
        t.agree += 1;
    }
    for ((model, cat, gt), t) in &tallies {
        eprintln!(
            "{model:<18} {cat:<18} {:<13} cases {:>5}  agree {:>5}  official pass {:>4}  rust pass {:>4}  unsupported decodes {}",
            if *gt { "GT replay" } else { "perturbations" },
            t.n,
            t.agree,
            t.official_pass,
            t.rust_pass,
            t.unsupported
        );
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases disagree:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn decoded_values_match_the_official_tree_sitter_decoders() {
    let path = std::env::var_os("TRAINER_BFCL_JAVA_JS_DECODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| fixtures().join("decode_cases.jsonl"));
    let cases = read_jsonl(&path).expect("decode_cases");
    assert!(cases.len() > 100);
    let mut mismatches = Vec::new();
    for c in &cases {
        let cat = text(c, "category");
        let lang = if cat == "simple_java" {
            Language::Java
        } else {
            Language::JavaScript
        };
        let input = field(c, "text").expect("text");
        let ok = matches!(field(c, "ok"), Some(PyVal::Bool(true)));
        match (decode_ast(Profile::Prompting, input, lang), ok) {
            (Ok(v), true) => {
                let want = text(c, "repr");
                if repr(&v) != want {
                    mismatches.push(format!("{cat} {}: {} vs {want}", repr(input), repr(&v)));
                }
            }
            (Err(_), false) => {}
            (Err(DecodeError::Unsupported(m)), true) => {
                mismatches.push(format!("{cat} {}: unsupported ({m})", repr(input)))
            }
            (Ok(v), false) => mismatches.push(format!(
                "{cat} {}: decoded {} but official raises",
                repr(input),
                repr(&v)
            )),
            (Err(e), true) => mismatches.push(format!(
                "{cat} {}: failed ({e}) but official decodes",
                repr(input)
            )),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} decode cases differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

/// Assertions of the official `test_java_type_converter` (java_type_converter.py).
#[test]
fn java_converter_matches_the_official_self_test() {
    let c = |v: &str, t: &str| repr(&java_type_converter(v, t, None).expect("converts"));
    let cn =
        |v: &str, t: &str, n: &str| repr(&java_type_converter(v, t, Some(n)).expect("converts"));
    assert_eq!(c("true", "boolean"), "True");
    assert_eq!(c("-123", "integer"), "-123");
    assert_eq!(c("3.14f", "float"), "3.14");
    assert_eq!(c("3.14f", "double"), "'3.14f'");
    assert_eq!(c("-123L", "long"), "-123");
    assert_eq!(c("123", "long"), "'123'");
    assert_eq!(c("3e-3F", "float"), "0.003");
    assert_eq!(c("a", "char"), "'a'");
    assert_eq!(c("123", "any"), "'123'");
    assert_eq!(c("new int[]{1, 2, 3}", "Array"), "[1, 2, 3]");
    assert_eq!(c("new int[] { }", "Array"), "[]");
    assert_eq!(
        c("new Object[]{1, \"abc\", true}", "Array"),
        "[1, 'abc', True]"
    );
    assert_eq!(
        c("new ArrayList<>(Arrays.asList(\"a\", \"b\"))", "ArrayList"),
        "['a', 'b']"
    );
    assert_eq!(c("new ArrayList<>()", "ArrayList"), "[]");
    assert_eq!(c("new HashMap<>() {{ }}", "HashMap"), "{}");
    assert_eq!(
        c(
            "new HashMap<String, Object>() {{ put(\"key1\", 1); put(\"key2\", \"value\"); put(\"key3\", true); }}",
            "HashMap"
        ),
        "{'key1': 1, 'key2': 'value', 'key3': True}"
    );
    assert_eq!(
        c(
            "new HashMap<String, String>() { { put(\"key\", \"value\"); } }",
            "HashMap"
        ),
        "{'key': 'value'}"
    );
    assert_eq!(cn("new long[]{1L, 2, 3L}", "Array", "long"), "[1, '2', 3]");
    assert_eq!(
        cn(
            "new ArrayList<Float>() {{ add(1.0f); add(2.0f); }}",
            "ArrayList",
            "float"
        ),
        "[1.0, 2.0]"
    );
    assert_eq!(
        cn(
            "new ArrayList<Character>() {{ add('a'); add('b'); }}",
            "ArrayList",
            "char"
        ),
        "['a', 'b']"
    );
    assert!(java_type_converter("abc", "Set", None).is_err());
    assert!(java_type_converter("abc", "Queue", None).is_err());
}

#[test]
fn js_converter_follows_the_official_regexes() {
    let c =
        |v: &str, t: &str, n: Option<&str>| repr(&js_type_converter(v, t, n).expect("converts"));
    assert_eq!(c("'abc'", "String", None), "'abc'");
    assert_eq!(c("abc", "String", None), "'abc'");
    assert_eq!(c("10n", "Bigint", None), "10");
    assert_eq!(c("1.5", "float", None), "1.5");
    assert_eq!(c("1e3", "float", None), "'1e3'");
    assert_eq!(c("[1, 'a', true]", "array", None), "[1, 'a', True]");
    assert_eq!(c("['a', \"b\"]", "array", Some("String")), "['a', 'b']");
    assert_eq!(c("[[1, 2], [3, 4]]", "array", None), "[[1, 2], [3, 4]]");
    assert_eq!(
        c("{a: 1, 'b': 'x', c: [1, 2]}", "dict", None),
        "{'a': 1, 'b': 'x', 'c': [1, 2]}"
    );
    assert_eq!(c("{}", "dict", None), "{}");
    assert_eq!(c("notadict", "dict", None), "'notadict'");
}

/// The Java/JS function docs shown to the model equal the official
/// `_func_doc_language_specific_pre_processing` output (key order included).
#[test]
fn prompt_docs_match_the_official_language_rewrite() {
    use trainer::eval::infer::prompt::function_docs;
    let goldens = read_jsonl(&fixtures().join("prompt_docs.jsonl")).expect("prompt_docs");
    assert!(goldens.len() >= 30);
    let mut data: BTreeMap<String, CategoryData> = BTreeMap::new();
    for g in &goldens {
        let id = text(g, "id");
        let cat = sort_key(&id).expect("id").1;
        let d = data
            .entry(cat.clone())
            .or_insert_with(|| load_category(&fixtures().join("data"), &cat).expect("data"));
        let entry = d.entries.iter().find(|e| e.id == id).expect("entry");
        let docs = function_docs(entry, &cat).expect("docs");
        let want: serde_json::Value = serde_json::from_str(&text(g, "docs")).expect("golden json");
        let got = serde_json::Value::Array(docs);
        assert_eq!(
            serde_json::to_string(&got).unwrap(),
            serde_json::to_string(&want).unwrap(),
            "{id}"
        );
    }
}
