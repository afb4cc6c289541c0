//! BFCL multi-turn checker: the per-entry verdicts of
//! `check_multi_turn_entry` against the official checker's verdicts on
//! ground-truth replays and perturbed answers, recorded by
//! `scripts/bfcl_multi_turn_checker_fixtures.py`.

mod bfcl_mt_common;
use bfcl_mt_common::{field, fixture};

use trainer::eval::multi_turn::{check_multi_turn_entry, Call, Entry, PyProcess};
use trainer::eval::pyval::PyVal;

fn list(v: &PyVal) -> &[PyVal] {
    v.as_list().expect("list")
}

fn calls(v: &PyVal) -> Vec<Call> {
    list(v)
        .iter()
        .map(|c| Call::parse(c.as_str().expect("call string")).expect("call parses"))
        .collect()
}

fn opt_str(v: &PyVal) -> Option<String> {
    v.as_str().map(str::to_string)
}

#[test]
fn verdicts_match_the_official_checker() {
    let entries = fixture("checker.json");
    // The fixture script ran every case in one Python process.
    let process = PyProcess::new();
    let (mut compared, mut valid, mut invalid) = (0, 0, 0);
    for e in list(&entries) {
        let id = field(e, "id").as_str().expect("id");
        let classes: Vec<String> = list(field(e, "involved_classes"))
            .iter()
            .map(|c| c.as_str().expect("class").to_string())
            .collect();
        let ground_truth: Vec<Vec<Call>> =
            list(field(e, "ground_truth")).iter().map(calls).collect();
        let entry = Entry {
            id,
            initial_config: field(e, "initial_config").as_dict().expect("dict"),
            involved_classes: &classes,
            ground_truth: &ground_truth,
        };
        for case in list(field(e, "cases")) {
            let label = field(case, "label").as_str().expect("label");
            let model: Vec<Vec<Vec<Call>>> = list(field(case, "model"))
                .iter()
                .map(|turn| list(turn).iter().map(calls).collect())
                .collect();
            let verdict = check_multi_turn_entry(&entry, &model, &process)
                .unwrap_or_else(|err| panic!("{id} {label}: {err}"));
            let want_valid = matches!(field(case, "valid"), PyVal::Bool(true));
            assert_eq!(verdict.valid, want_valid, "{id} {label}: {verdict:?}");
            assert_eq!(
                verdict.error_type,
                opt_str(field(case, "error_type")),
                "{id} {label}"
            );
            assert_eq!(
                verdict.error_message,
                opt_str(field(case, "error_message")),
                "{id} {label}"
            );
            compared += 1;
            if verdict.valid {
                valid += 1;
            } else {
                invalid += 1;
            }
        }
    }
    assert!(compared > 300, "only {compared} verdicts compared");
    assert!(
        valid > 50 && invalid > 100,
        "{valid} valid, {invalid} invalid"
    );
}
