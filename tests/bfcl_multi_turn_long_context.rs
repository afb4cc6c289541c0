//! BFCL multi-turn backends with `long_context=True`: replays the
//! multi_turn_long_context ground-truth entries (and calls that reach every
//! long-context branch) recorded by
//! `scripts/bfcl_multi_turn_fixtures_long_context.py` from the official
//! classes through the official `execute_multi_turn_func_call`, turn by
//! turn in one process, and compares every result string and the public
//! state of every class after the last turn exactly (long strings through
//! their length and FNV-1a 64).

mod bfcl_mt_common;
use bfcl_mt_common::{field, fixture, strings};

#[path = "bfcl_common/mod.rs"]
mod bfcl_common;

use bfcl_common::fnv1a64;
use trainer::eval::multi_turn::backend::ascii_escape;
use trainer::eval::multi_turn::{Call, Executor, PyProcess};
use trainer::eval::pyjson;
use trainer::eval::pyval::PyVal;

/// Whether `got` is the recorded string: verbatim, or `{len, fnv1a64}`.
fn matches(got: &str, want: &PyVal) -> bool {
    match want {
        PyVal::Str(s) => got == s,
        PyVal::Dict(d) => {
            let len = d.get_str("len").and_then(|v| match v {
                PyVal::Int(i) => Some(*i),
                _ => None,
            });
            let hash = d.get_str("fnv1a64").and_then(PyVal::as_str);
            len == Some(got.len() as i128) && hash == Some(fnv1a64(got).as_str())
        }
        _ => false,
    }
}

fn shown(v: &PyVal) -> String {
    match v {
        PyVal::Str(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

#[test]
fn long_context_entries_replay_byte_identically() {
    let cases = fixture("long_context.json");
    let process = PyProcess::new();
    let (mut calls, mut states, mut entries) = (0, 0, 0);
    let mut failures = Vec::new();
    for case in cases.as_list().expect("list") {
        let id = field(case, "id").as_str().expect("id");
        let config = field(case, "initial_config").as_dict().expect("dict");
        let classes = strings(field(case, "involved_classes"));
        let mut exec =
            Executor::with_long_context(config, &classes, &process, true).expect("executor");
        let turns = field(case, "turns").as_list().expect("turns");
        let results = field(case, "results").as_list().expect("results");
        assert_eq!(turns.len(), results.len(), "{id}");
        for (t, (turn, want)) in turns.iter().zip(results).enumerate() {
            let want = want.as_list().expect("results of a turn");
            for (text, want) in strings(turn).iter().zip(want) {
                let call = Call::parse(text).unwrap_or_else(|e| panic!("{id}: {e}"));
                let got = exec.execute(&call);
                if !matches(&got, want) {
                    let head: String = got.chars().take(300).collect();
                    failures.push(format!(
                        "{id} turn {t} `{text}`:\n   got  {head}\n   want {}",
                        shown(want)
                    ));
                }
                calls += 1;
            }
        }
        let want_states = field(case, "states").as_dict().expect("states");
        for (class, backend) in classes.iter().zip(exec.instances()) {
            let state = ascii_escape(
                &pyjson::dumps(&PyVal::Dict(backend.state())).expect("state serializes"),
            );
            let want = want_states.get_str(class).expect("state recorded");
            if !matches(&state, want) {
                let head: String = state.chars().take(300).collect();
                failures.push(format!("{id}: state of {class}: {head}"));
            }
            states += 1;
        }
        if id.starts_with("multi_turn_long_context_") {
            entries += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        entries >= 150 && calls > 1000 && states > 300,
        "{entries} {calls} {states}"
    );
}
