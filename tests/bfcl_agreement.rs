//! Verdict equality with the official BFCL v4 evaluator (bfcl-eval==2026.3.23),
//! without network or Python: `tests/fixtures/bfcl/cases.jsonl` holds model
//! outputs (ground-truth replays and systematic perturbations, both decoder
//! profiles) for a small subset of entries together with the verdicts the
//! official evaluator wrote for them (validity, `error_type`, and FNV-1a
//! hashes of the official `error` list and decoded output, to keep the
//! fixture small); `scripts/bfcl_agreement.py --write-fixtures` regenerates it.  (In the trainer crate, `trainer::eval`
//! is `trainer::eval`.)

mod bfcl_common;

use bfcl_common::{canon, field, fnv1a64, text};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use trainer::eval::category::{is_relevance_or_irrelevance, language, sort_key};
use trainer::eval::data::{load_category, read_jsonl, CategoryData};
use trainer::eval::decode::find_model;
use trainer::eval::entry::{evaluate_ast, evaluate_relevance, Context, EntryOutcome};
use trainer::eval::pyval::PyVal;
use trainer::eval::score::{score, ScoreArgs};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bfcl")
}

fn category_of(case: &PyVal) -> String {
    sort_key(&text(case, "id")).expect("id with index").1
}

struct Cases {
    cases: Vec<PyVal>,
    data: BTreeMap<String, CategoryData>,
}

fn load() -> Cases {
    let cases = read_jsonl(&fixtures().join("cases.jsonl")).expect("cases.jsonl");
    let mut data = BTreeMap::new();
    for c in &cases {
        let cat = category_of(c);
        data.entry(cat.clone()).or_insert_with(|| {
            load_category(&fixtures().join("data"), &cat).expect("fixture data")
        });
    }
    Cases { cases, data }
}

fn evaluate(cases: &Cases, case: &PyVal) -> EntryOutcome {
    let cat = category_of(case);
    let id = text(case, "id");
    let model = find_model(&text(case, "model")).expect("known model");
    let dir_name = model.name.replace('/', "_");
    let data = &cases.data[&cat];
    let idx = data
        .entries
        .iter()
        .position(|e| e.id == id)
        .expect("entry in fixture data");
    let ctx = Context {
        model,
        model_dir_name: &dir_name,
        category: &cat,
    };
    let result = field(case, "result").expect("result");
    let prompt = &data.entries[idx].raw;
    if is_relevance_or_irrelevance(&cat) {
        evaluate_relevance(&ctx, &id, result, prompt)
    } else {
        let answers = data.answers.as_ref().expect("answers");
        let gt = field(&answers[idx], "ground_truth").expect("ground_truth");
        evaluate_ast(&ctx, &id, result, prompt, gt, language(&cat)).expect("checker must not raise")
    }
}

#[test]
fn verdicts_match_the_official_evaluator() {
    let cases = load();
    assert!(
        cases.cases.len() > 500,
        "fixture too small: {}",
        cases.cases.len()
    );
    let mut mismatches = Vec::new();
    let mut unsupported = Vec::new();
    let mut failures_seen = 0;
    for case in &cases.cases {
        let out = evaluate(&cases, case);
        // Python constructs the Rust decoder does not evaluate (e.g. `\N{...}`
        // escapes) are reported as such; the official verdict may differ.
        if out.unsupported {
            unsupported.push(text(case, "id"));
            continue;
        }
        let official_valid = matches!(field(case, "valid"), Some(PyVal::Bool(true)));
        let label = format!(
            "{} round {} {}",
            text(case, "model"),
            canon(field(case, "round").expect("round")),
            text(case, "id")
        );
        if out.valid != official_valid {
            mismatches.push(format!(
                "{label}: valid {} vs official {official_valid}",
                out.valid
            ));
            continue;
        }
        if official_valid {
            continue;
        }
        failures_seen += 1;
        let official_type = text(case, "error_type");
        if out.error_type.as_deref() != Some(official_type.as_str()) {
            mismatches.push(format!(
                "{label}: error_type {:?} vs official {official_type}",
                out.error_type
            ));
            continue;
        }
        let mine = out.failure.as_ref().expect("failure dict");
        // Python exception texts of decode failures are not reproduced.
        if !official_type.ends_with("decoder_failed") {
            let e_mine = canon(field(mine, "error").expect("error"));
            if fnv1a64(&e_mine) != text(case, "error_fnv") {
                mismatches.push(format!(
                    "{label}: error {e_mine} differs from the official one"
                ));
            }
        }
        if let Some(want) = field(case, "decoded_fnv").and_then(PyVal::as_str) {
            let m = ["model_result_decoded", "decoded_result"]
                .iter()
                .find_map(|k| field(mine, k))
                .map(canon)
                .unwrap_or_default();
            if fnv1a64(&m) != want {
                mismatches.push(format!(
                    "{label}: decoded {m} differs from the official one"
                ));
            }
        }
    }
    assert!(failures_seen > 100, "fixture has too few failing cases");
    assert!(
        unsupported.len() <= 3,
        "unsupported decodes: {unsupported:?}"
    );
    assert!(
        mismatches.is_empty(),
        "{} of {} cases disagree:\n{}",
        mismatches.len(),
        cases.cases.len(),
        mismatches.join("\n")
    );
}

#[test]
fn score_files_have_the_official_header_counts() {
    let cases = load();
    let dir = tempfile::tempdir().expect("tempdir");
    // Round 1 of the prompting profile, one result file per category.
    let model = "Qwen/Qwen3-8B";
    let mut per_cat: BTreeMap<String, (Vec<String>, usize)> = BTreeMap::new();
    for c in &cases.cases {
        let round = canon(field(c, "round").expect("round"));
        if text(c, "model") != model || round != "1" {
            continue;
        }
        let line = canon(&PyVal::Dict({
            let mut d = trainer::eval::pyval::PyDict::new();
            d.insert_str("id", field(c, "id").expect("id").clone());
            d.insert_str("result", field(c, "result").expect("result").clone());
            d
        }));
        let e = per_cat.entry(category_of(c)).or_default();
        e.0.push(line);
        if matches!(field(c, "valid"), Some(PyVal::Bool(true))) {
            e.1 += 1;
        }
    }
    assert!(!per_cat.is_empty());
    let res_dir = dir.path().join("result/Qwen_Qwen3-8B/sub");
    std::fs::create_dir_all(&res_dir).expect("mkdir");
    for (cat, (lines, _)) in &per_cat {
        std::fs::write(
            res_dir.join(format!("BFCL_v4_{cat}_result.json")),
            lines.join("\n") + "\n",
        )
        .expect("write");
    }
    let summary = score(&ScoreArgs {
        result_dir: dir.path().join("result"),
        score_dir: dir.path().join("score"),
        model: model.into(),
        categories: None,
        partial_eval: true,
        data_dir: fixtures().join("data"),
    })
    .expect("scoring completes");
    assert_eq!(summary.categories.len(), per_cat.len());
    for c in &summary.categories {
        let (lines, valid) = &per_cat[&c.category];
        assert_eq!(c.total_count, lines.len(), "{}", c.category);
        assert_eq!(c.correct_count, *valid, "{}", c.category);
        let text = std::fs::read_to_string(&c.score_file).expect("score file");
        let header = text.lines().next().expect("header");
        let want = format!(
            "{{\"accuracy\": {}, \"correct_count\": {}, \"total_count\": {}}}",
            trainer::eval::pyrepr::float_repr(*valid as f64 / lines.len() as f64),
            valid,
            lines.len()
        );
        assert_eq!(header, want);
        assert_eq!(text.lines().count(), 1 + lines.len() - valid);
    }
    assert!(dir.path().join("score/data_overall.csv").is_file());
}
