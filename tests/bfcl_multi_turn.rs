//! BFCL multi-turn backends: replays the calls recorded by
//! `scripts/bfcl_multi_turn_fixtures.py` from the official Python classes
//! (through the official `execute_multi_turn_func_call`) and compares every
//! result string and the public state after each case byte for byte.

mod bfcl_mt_common;
use bfcl_mt_common::{field, fixture, strings};

use trainer::eval::multi_turn::backend::ascii_escape;
use trainer::eval::multi_turn::pyrandom::PyRandom;
use trainer::eval::multi_turn::{Call, Executor, PyProcess};
use trainer::eval::pyjson;
use trainer::eval::pyrepr::float_repr;
use trainer::eval::pyval::{PyDict, PyVal};

fn ints(v: &PyVal) -> Vec<i128> {
    v.as_list()
        .expect("list")
        .iter()
        .map(|s| match s {
            PyVal::Int(i) => *i,
            other => panic!("not an int: {other:?}"),
        })
        .collect()
}

#[test]
fn pyrandom_matches_cpython() {
    let cases = fixture("random.json");
    for case in cases.as_list().expect("list") {
        let seed: i128 = field(case, "seed")
            .as_str()
            .expect("seed")
            .parse()
            .expect("seed");
        let mut r = PyRandom::new(seed);
        let bits: Vec<i128> = (0..8).map(|_| i128::from(r.getrandbits(32))).collect();
        assert_eq!(bits, ints(field(case, "getrandbits32")), "seed {seed}");
        let floats: Vec<String> = (0..6).map(|_| float_repr(r.random())).collect();
        assert_eq!(floats, strings(field(case, "random")), "seed {seed}");
        let r5: Vec<i128> = (0..20)
            .map(|_| i128::from(r.randint(10000, 99999).unwrap()))
            .collect();
        assert_eq!(r5, ints(field(case, "randint_5")), "seed {seed}");
        let r12: Vec<i128> = (0..8)
            .map(|_| i128::from(r.randint(100_000_000_000, 999_999_999_999).unwrap()))
            .collect();
        assert_eq!(r12, ints(field(case, "randint_12")), "seed {seed}");
        let small: Vec<i128> = (0..12)
            .map(|_| i128::from(r.randint(0, 2).unwrap()))
            .collect();
        assert_eq!(small, ints(field(case, "randint_small")), "seed {seed}");
        let uni: Vec<String> = (0..6).map(|_| float_repr(r.uniform(-10.0, 40.0))).collect();
        assert_eq!(uni, strings(field(case, "uniform")), "seed {seed}");
        let choice: Vec<i128> = (0..10)
            .map(|_| r.choice_index(10).unwrap() as i128)
            .collect();
        assert_eq!(choice, ints(field(case, "choice10")), "seed {seed}");
    }
}

/// Replays one backend fixture; returns the number of calls compared.
fn replay(class: &str) -> usize {
    let cases = fixture(&format!("{class}.json"));
    let mut compared = 0;
    // The fixture script ran every case in one Python process.
    let process = PyProcess::new();
    for case in cases.as_list().expect("list") {
        let id = field(case, "id").as_str().expect("id");
        let config: &PyDict = field(case, "initial_config").as_dict().expect("dict");
        let mut exec = Executor::new(config, &[class.to_string()], &process).expect("executor");
        let calls = strings(field(case, "calls"));
        let expected = strings(field(case, "results"));
        assert_eq!(calls.len(), expected.len());
        for (n, (text, want)) in calls.iter().zip(&expected).enumerate() {
            let call = Call::parse(text).unwrap_or_else(|e| panic!("{id}: {e}"));
            let got = exec.execute(&call);
            assert_eq!(&got, want, "{id} call #{n} `{text}`");
            compared += 1;
        }
        let state = PyVal::Dict(exec.instances()[0].state());
        let state = ascii_escape(&pyjson::dumps(&state).expect("state serializes"));
        assert_eq!(
            state,
            field(case, "state").as_str().expect("state"),
            "{id}: state"
        );
    }
    compared
}

#[test]
fn math_api_is_byte_identical() {
    assert!(replay("MathAPI") > 50);
}

#[test]
fn message_api_is_byte_identical() {
    assert!(replay("MessageAPI") > 50);
}

#[test]
fn ticket_api_is_byte_identical() {
    assert!(replay("TicketAPI") > 50);
}

#[test]
fn twitter_api_is_byte_identical() {
    assert!(replay("TwitterAPI") > 50);
}

#[test]
fn trading_bot_is_byte_identical() {
    assert!(replay("TradingBot") > 50);
}

#[test]
fn vehicle_control_api_is_byte_identical() {
    assert!(replay("VehicleControlAPI") > 50);
}

/// Whole ground-truth entries with several classes: instances persist
/// across turns and method names resolve to the right class.
#[test]
fn ground_truth_entries_replay_byte_identically() {
    let cases = fixture("entries.json");
    let process = PyProcess::new();
    let mut compared = 0;
    for case in cases.as_list().expect("list") {
        let id = field(case, "id").as_str().expect("id");
        let config = field(case, "initial_config").as_dict().expect("dict");
        let classes = strings(field(case, "involved_classes"));
        let mut exec = Executor::new(config, &classes, &process).expect("executor");
        let turns = field(case, "turns").as_list().expect("turns");
        let results = field(case, "results").as_list().expect("results");
        assert_eq!(turns.len(), results.len());
        for (t, (turn, want)) in turns.iter().zip(results).enumerate() {
            for (text, want) in strings(turn).iter().zip(strings(want)) {
                let call = Call::parse(text).unwrap_or_else(|e| panic!("{id}: {e}"));
                assert_eq!(exec.execute(&call), want, "{id} turn {t} `{text}`");
                compared += 1;
            }
        }
        let states = field(case, "states").as_dict().expect("states");
        for (class, backend) in classes.iter().zip(exec.instances()) {
            assert_eq!(backend.class_name(), class);
            let state = ascii_escape(&pyjson::dumps(&PyVal::Dict(backend.state())).expect("json"));
            let want = states
                .get_str(class)
                .and_then(PyVal::as_str)
                .expect("state");
            assert_eq!(state, want, "{id}: state of {class}");
        }
    }
    assert!(compared > 100, "only {compared} calls compared");
}

#[test]
fn travel_api_is_byte_identical() {
    assert!(replay("TravelAPI") > 50);
}

#[test]
fn gorilla_file_system_is_byte_identical() {
    assert!(replay("GorillaFileSystem") > 300);
}
