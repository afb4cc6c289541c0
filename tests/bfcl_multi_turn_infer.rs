//! BFCL multi-turn inference (`trainer eval --bfcl multi_turn_*`) and scoring (`trainer bfcl score`)
//! on the real BFCL v4 data (fetched on demand by scripts/fetch-bfcl.sh into the asset cache;
//! skipped with `TRAINER_SKIP_REAL_ASSETS=1`).
//!
//! * A scripted replay (clearly not a model: it answers each step with the entry's ground-truth
//!   calls, then "Done.") goes through the real driver, `run_eval`, the official result layout and
//!   `score`: every entry of a 50-entry sample of each multi-turn category passes (the official
//!   checker gives 100% on ground-truth replays).
//! * Results the port cannot judge faithfully (a Python builtin called as a tool) are reported
//!   as unscored, never as failures.
//! * Perturbed replays (dropped calls, changed arguments, emptied or reordered turns, ...) from
//!   tests/fixtures/bfcl_multi_turn/checker.json go through the driver and the scorer's per-entry
//!   evaluation, and must get the official checker's verdict and error type recorded there.
//! * `trainer eval` through the CLI on a tiny random Qwen3 (real Qwen3 tokenizer) writes the
//!   official multi-turn layout and scores it; `trainer bfcl score` re-scores the files.

#[path = "bfcl_common/mod.rs"]
mod bfcl_common;
mod common;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;
use trainer::backend::ChatRequest;
use trainer::chat::Tokenizer;
use trainer::eval::infer::{run_eval, EvalArgs, EvalProfile, Generated, Generator, RunInfo};
use trainer::eval::multi_turn::driver::{Conversation, Outcome};
use trainer::eval::multi_turn::driver_data::{load_multi_turn_category, MultiTurnEntry};
use trainer::eval::multi_turn::driver_score::{evaluate_multi_turn_entry, MultiTurnVerdict};
use trainer::eval::multi_turn::{Call, Executor, PyProcess};
use trainer::eval::pyjson;
use trainer::eval::pyrepr::repr;
use trainer::eval::pyval::PyVal;
use trainer::eval::score::{score, ScoreArgs, UNSCORED_ERROR_TYPE};

fn data_dir() -> Option<PathBuf> {
    bfcl_common::real_data_dir()
}

/// `call` with positional arguments bound to their parameter names (the prompting decoder drops
/// positional arguments, so a model must name them).
fn keyword_call(call: &Call, exec: &Executor) -> Vec<(String, PyVal)> {
    let sig = exec
        .instances()
        .iter()
        .rev()
        .flat_map(|b| b.signatures().iter())
        .find(|s| s.name == call.name);
    let mut kw: Vec<(String, PyVal)> = call
        .args
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let name = sig
                .and_then(|s| s.params.get(i))
                .unwrap_or_else(|| panic!("{}: positional argument {i} unbound", call.name))
                .name;
            (name.to_string(), v.clone())
        })
        .collect();
    kw.extend(call.kwargs.iter().cloned());
    kw
}

/// A step's text in the profile's output format.
fn step_text(profile: EvalProfile, calls: &[Call], exec: &Executor) -> String {
    match profile {
        EvalProfile::Prompting => {
            let parts: Vec<String> = calls
                .iter()
                .map(|c| {
                    let args: Vec<String> = keyword_call(c, exec)
                        .iter()
                        .map(|(k, v)| format!("{k}={}", repr(v)))
                        .collect();
                    format!("{}({})", c.name, args.join(", "))
                })
                .collect();
            format!("[{}]", parts.join(", "))
        }
        EvalProfile::Fc => calls
            .iter()
            .map(|c| {
                let args: serde_json::Map<String, Json> = keyword_call(c, exec)
                    .into_iter()
                    .map(|(k, v)| (k, v.to_json()))
                    .collect();
                let body = serde_json::json!({"name": c.name, "arguments": args});
                format!("<tool_call>\n{body}\n</tool_call>")
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The replay of one entry: per turn, the texts of the steps that carry calls.
fn replay_texts(
    entry: &MultiTurnEntry,
    turns: &[Vec<Vec<Call>>],
    profile: EvalProfile,
) -> Vec<Vec<String>> {
    let exec = Executor::new(
        &entry.initial_config,
        &entry.involved_classes,
        &PyProcess::new(),
    )
    .expect("backends");
    turns
        .iter()
        .map(|steps| {
            steps
                .iter()
                .filter(|s| !s.is_empty())
                .map(|s| step_text(profile, s, &exec))
                .collect()
        })
        .collect()
}

fn first_user(messages: &[Json]) -> Option<&str> {
    messages
        .iter()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
}

/// Not a model: answers step `s` of turn `t` with the scripted text, then "Done.". Entries are
/// told apart by their first user message.
struct Replay {
    scripts: HashMap<String, Vec<Vec<String>>>,
}

impl Replay {
    fn answer(&self, r: &ChatRequest) -> String {
        let key = first_user(&r.messages).expect("a user message");
        let script = self.scripts.get(key).expect("a scripted entry");
        let users = r.messages.iter().filter(|m| m["role"] == "user").count();
        let last_user = r
            .messages
            .iter()
            .rposition(|m| m["role"] == "user")
            .unwrap_or(0);
        let step = r.messages[last_user..]
            .iter()
            .filter(|m| m["role"] == "assistant")
            .count();
        script
            .get(users - 1)
            .and_then(|turn| turn.get(step))
            .cloned()
            .unwrap_or_else(|| "Done.".to_string())
    }
}

impl Generator for Replay {
    fn name(&self) -> &str {
        "ground-truth replay"
    }
    fn context_len(&self) -> usize {
        1 << 30
    }
    fn prompt_len(&self, r: &ChatRequest) -> trainer::backend::Result<usize> {
        Ok(r.messages.len())
    }
    fn generate(&self, rs: &[ChatRequest], _: usize) -> trainer::backend::Result<Vec<Generated>> {
        Ok(rs
            .iter()
            .map(|r| Generated {
                text: self.answer(r),
                prompt_tokens: r.messages.len(),
                completion_tokens: 1,
            })
            .collect())
    }
}

/// Whether the entry's ground truth calls a `MathAPI` method that needs mpmath/Decimal.
fn uses_mpmath(entry: &MultiTurnEntry) -> bool {
    entry
        .ground_truth
        .iter()
        .flatten()
        .any(|c| c.name == "logarithm" || c.name == "square_root")
}

const LIMIT: usize = 50;
const CATEGORIES: [&str; 4] = [
    "multi_turn_base",
    "multi_turn_long_context",
    "multi_turn_miss_func",
    "multi_turn_miss_param",
];

#[test]
fn ground_truth_replay_scores_every_scorable_entry() {
    let Some(data) = data_dir() else { return };
    for profile in EvalProfile::ALL {
        let dir = tempfile::tempdir().unwrap();
        let mut math_total = 0;
        // One run per category: the categories share their questions, which is how the replay
        // tells entries apart.
        for cat in CATEGORIES {
            let entries = load_multi_turn_category(&data, cat).unwrap();
            let n = entries.len();
            let mut scripts = HashMap::new();
            let mut math = 0;
            for i in (0..LIMIT).map(|i| i * n / LIMIT) {
                let e = &entries[i];
                let key = first_user(&e.turns[0]).unwrap().to_string();
                let turns: Vec<Vec<Vec<Call>>> =
                    e.ground_truth.iter().map(|t| vec![t.clone()]).collect();
                let old = scripts.insert(key, replay_texts(e, &turns, profile));
                assert!(old.is_none(), "{}: first question not unique", e.id);
                math += usize::from(uses_mpmath(e));
            }
            let args = EvalArgs {
                profile,
                categories: vec![cat.into()],
                data_dir: data.clone(),
                out_dir: dir.path().to_path_buf(),
                limit: Some(LIMIT),
                batch_size: 7,
                seed: 0,
                show_progress: false,
                run_info: RunInfo {
                    model_source: "replay".into(),
                    tokenizer: None,
                    dtype: "f32".into(),
                    adapter: None,
                    max_new_tokens: 64,
                },
            };
            let summary = run_eval(&Replay { scripts }, &args).unwrap();
            let c = &summary.categories[0];
            assert_eq!(c.category, cat);
            assert!(c.unscored.is_empty(), "{profile} {cat}: {:?}", c.unscored);
            assert_eq!(
                (c.correct_count, c.total_count),
                (LIMIT, LIMIT),
                "{profile} {cat}: see {}",
                summary.score_dir.display()
            );
            math_total += math;
        }
        assert!(
            math_total > 0,
            "the sample exercises MathAPI.logarithm/square_root"
        );

        // The official layout: one line per entry, `result` = per turn, per step, the text.
        let base = load_multi_turn_category(&data, "multi_turn_base").unwrap();
        let path = dir
            .path()
            .join("result")
            .join(profile.model_dir_name())
            .join("multi_turn/BFCL_v4_multi_turn_base_result.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let first: Json = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["id"], "multi_turn_base_0");
        let turns = first["result"].as_array().unwrap();
        assert_eq!(turns.len(), base[0].ground_truth.len());
        for t in turns {
            let steps = t.as_array().unwrap();
            assert_eq!(steps.last().unwrap(), "Done.", "{profile}: {t}");
            assert!(steps.iter().all(Json::is_string));
        }
        assert_eq!(
            first["input_token_count"].as_array().unwrap().len(),
            turns.len()
        );
        // The score file marks unscored entries with their own error type.
        let score_file = dir
            .path()
            .join("score")
            .join(profile.model_dir_name())
            .join("multi_turn/BFCL_v4_multi_turn_base_score.json");
        let score_text = std::fs::read_to_string(&score_file).unwrap();
        let header: Json = serde_json::from_str(score_text.lines().next().unwrap()).unwrap();
        assert_eq!(header["total_count"], LIMIT);
        assert!(score_text
            .lines()
            .skip(1)
            .all(|l| l.contains(UNSCORED_ERROR_TYPE)));
    }
}

fn field<'a>(v: &'a PyVal, key: &str) -> &'a PyVal {
    v.as_dict()
        .and_then(|d| d.get_str(key))
        .unwrap_or_else(|| panic!("fixture field `{key}` missing"))
}

/// Runs one entry through the driver with a scripted answer per step.
fn drive(entry: &MultiTurnEntry, profile: EvalProfile, script: &[Vec<String>]) -> PyVal {
    let process = PyProcess::new();
    let mut conv = Conversation::new(entry, profile, &process, 0).unwrap();
    let (mut turn, mut step) = (0, 0);
    while let Some(req) = conv.request() {
        let users = req.messages.iter().filter(|m| m["role"] == "user").count();
        if users - 1 != turn {
            turn = users - 1;
            step = 0;
        }
        let text = script
            .get(turn)
            .and_then(|t| t.get(step))
            .cloned()
            .unwrap_or_else(|| "Done.".into());
        step += 1;
        conv.feed(&text, 1, 1);
    }
    match conv.outcome() {
        Some(Outcome::Turns { result, .. }) => PyVal::List(
            result
                .iter()
                .map(|t| PyVal::List(t.iter().map(|s| PyVal::str(s.as_str())).collect()))
                .collect(),
        ),
        other => panic!("{}: {other:?}", entry.id),
    }
}

#[test]
fn perturbed_replays_get_the_official_verdicts() {
    let Some(data) = data_dir() else { return };
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bfcl_multi_turn/checker.json");
    let fixture = pyjson::loads(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let base = load_multi_turn_category(&data, "multi_turn_base").unwrap();
    for profile in EvalProfile::ALL {
        let model = profile.model_spec().unwrap();
        // The official checker ran every case in one process, in this order.
        let process = PyProcess::new();
        let (mut compared, mut failed) = (0, HashSet::new());
        for e in fixture.as_list().unwrap() {
            let id = field(e, "id").as_str().unwrap();
            let entry = base.iter().find(|x| x.id == id).unwrap();
            for case in field(e, "cases").as_list().unwrap() {
                let label = field(case, "label").as_str().unwrap();
                let turns: Vec<Vec<Vec<Call>>> = field(case, "model")
                    .as_list()
                    .unwrap()
                    .iter()
                    .map(|t| {
                        t.as_list()
                            .unwrap()
                            .iter()
                            .map(|s| {
                                s.as_list()
                                    .unwrap()
                                    .iter()
                                    .map(|c| Call::parse(c.as_str().unwrap()).unwrap())
                                    .collect()
                            })
                            .collect()
                    })
                    .collect();
                if turns.len() != entry.turns.len() {
                    // The driver always runs every turn of the question.
                    continue;
                }
                let result = drive(entry, profile, &replay_texts(entry, &turns, profile));
                let verdict = evaluate_multi_turn_entry(entry, &result, model, &process).unwrap();
                let MultiTurnVerdict::Scored { verdict, .. } = verdict else {
                    panic!("{id} {label}: unscored");
                };
                let want_valid = matches!(field(case, "valid"), PyVal::Bool(true));
                assert_eq!(
                    verdict.valid, want_valid,
                    "{profile} {id} {label}: {verdict:?}"
                );
                assert_eq!(
                    verdict.error_type,
                    field(case, "error_type").as_str().map(str::to_string),
                    "{profile} {id} {label}"
                );
                compared += 1;
                if !verdict.valid {
                    failed.insert(verdict.error_type.unwrap_or_default());
                }
            }
        }
        assert!(compared > 250, "{profile}: only {compared} cases compared");
        for t in [
            "multi_turn:instance_state_mismatch",
            "multi_turn:execution_response_mismatch",
            "multi_turn:empty_turn_model_response",
        ] {
            assert!(failed.contains(t), "{profile}: no case failed with {t}");
        }
    }
}

/// A tiny random Qwen3 model directory; returns the Qwen3 tokenizer dir.
fn tiny_model_dir(dir: &Path) -> PathBuf {
    common::save_tiny_qwen3_dir(dir, 5, 16384)
}

/// A data directory with one real entry (the smallest tool set: TradingBot) per category.
fn mini_data(real: &Path, out: &Path) {
    std::fs::create_dir_all(out.join("possible_answer")).unwrap();
    let docs = out.join("multi_turn_func_doc");
    std::fs::create_dir_all(&docs).unwrap();
    for f in std::fs::read_dir(real.join("multi_turn_func_doc")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, docs.join(f.file_name().unwrap())).unwrap();
    }
    for (cat, id) in [
        ("multi_turn_base", "multi_turn_base_100"),
        ("multi_turn_miss_func", "multi_turn_miss_func_100"),
    ] {
        for sub in ["", "possible_answer"] {
            let name = format!("BFCL_v4_{cat}.json");
            let text = std::fs::read_to_string(real.join(sub).join(&name)).unwrap();
            let line = text
                .lines()
                .find(|l| l.contains(&format!("\"id\": \"{id}\"")))
                .unwrap();
            std::fs::write(out.join(sub).join(&name), format!("{line}\n")).unwrap();
        }
    }
}

#[test]
fn cli_eval_writes_and_scores_the_multi_turn_layout() {
    let Some(real) = data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let tok = tiny_model_dir(&model);
    let data = dir.path().join("data");
    mini_data(&real, &data);
    let cfg = common::tiny_eval_config(dir.path(), "mt", &model, &tok, &data, "batch_size = 2\n");
    let out = dir.path().join("eval");
    for profile in ["fc", "prompting"] {
        let run = Command::new(env!("CARGO_BIN_EXE_trainer"))
            .env("RUST_LOG", "warn")
            .arg("eval")
            .arg(&cfg)
            .args([
                "--bfcl",
                "multi_turn_base,multi_turn_miss_func",
                "--limit",
                "1",
            ])
            .args(["--profile", profile])
            .arg("--out")
            .arg(out.join(profile))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(
            run.status.success(),
            "{profile}: {stdout}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(stdout.contains("multi_turn_miss_func"), "{stdout}");
        let p = EvalProfile::parse(profile).unwrap();
        for (cat, turns) in [("multi_turn_base", 2), ("multi_turn_miss_func", 3)] {
            let path = out
                .join(profile)
                .join("result")
                .join(p.model_dir_name())
                .join(format!("multi_turn/BFCL_v4_{cat}_result.json"));
            let text = std::fs::read_to_string(&path).unwrap();
            let line: Json = serde_json::from_str(text.trim_end()).unwrap();
            let result = line["result"]
                .as_array()
                .unwrap_or_else(|| panic!("{line}"));
            assert_eq!(result.len(), turns, "{profile} {cat}: {line}");
            for (t, steps) in result.iter().enumerate() {
                let steps = steps.as_array().unwrap();
                assert!(!steps.is_empty() && steps.iter().all(Json::is_string));
                assert_eq!(
                    line["output_token_count"][t].as_array().unwrap().len(),
                    steps.len()
                );
            }
            let score_file = out
                .join(profile)
                .join("score")
                .join(p.model_dir_name())
                .join(format!("multi_turn/BFCL_v4_{cat}_score.json"));
            let score_text = std::fs::read_to_string(&score_file).unwrap();
            let head: Json = serde_json::from_str(score_text.lines().next().unwrap()).unwrap();
            assert_eq!(head["total_count"], 1);
        }
        // `trainer bfcl score` reads the same files.
        let scored = Command::new(env!("CARGO_BIN_EXE_trainer"))
            .args(["bfcl", "score", "--model", p.registry_name(), "--data"])
            .arg(&data)
            .arg("--result-dir")
            .arg(out.join(profile).join("result"))
            .arg("--score-dir")
            .arg(dir.path().join("rescore").join(profile))
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&scored.stdout);
        assert!(
            scored.status.success(),
            "{s}\n{}",
            String::from_utf8_lossy(&scored.stderr)
        );
        assert!(
            s.contains("multi_turn_base") && s.contains("multi_turn_miss_func"),
            "{s}"
        );
    }
}

#[test]
fn score_reads_results_without_running_inference() {
    // A hand-written result file: entry 0 of multi_turn_base answered in the official layout
    // with its ground truth (prompting syntax), entry 1 with nothing (force-terminated).
    let Some(data) = data_dir() else { return };
    let base = load_multi_turn_category(&data, "multi_turn_base").unwrap();
    let turns: Vec<Vec<Vec<Call>>> = base[0]
        .ground_truth
        .iter()
        .map(|t| vec![t.clone()])
        .collect();
    let texts = replay_texts(&base[0], &turns, EvalProfile::Prompting);
    // Entry 3 calls a Python builtin in every turn: `eval` would run `print`, not a backend.
    let builtin_turns = vec![vec!["[print(x=1)]"]; base[3].turns.len()];
    let dir = tempfile::tempdir().unwrap();
    let res = dir.path().join("result/Qwen_Qwen3-8B/any");
    std::fs::create_dir_all(&res).unwrap();
    let lines = [
        serde_json::json!({"id": "multi_turn_base_0", "result": texts}),
        serde_json::json!({"id": "multi_turn_base_1", "result": [[]]}),
        serde_json::json!({"id": "multi_turn_base_2", "result": "Error during inference: boom"}),
        serde_json::json!({"id": "multi_turn_base_3", "result": builtin_turns}),
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(res.join("BFCL_v4_multi_turn_base_result.json"), body).unwrap();
    let summary = score(&ScoreArgs {
        result_dir: dir.path().join("result"),
        score_dir: dir.path().join("score"),
        model: "Qwen/Qwen3-8B".into(),
        categories: None,
        partial_eval: true,
        data_dir: data,
    })
    .unwrap();
    let c = &summary.categories[0];
    assert_eq!((c.correct_count, c.total_count), (1, 4));
    let types: Vec<&str> = c.failures.iter().map(|f| f.error_type.as_str()).collect();
    assert_eq!(
        types,
        ["multi_turn:force_terminated", "multi_turn:inference_error"]
    );
    assert_eq!(c.unscored.len(), 1);
    assert_eq!(c.unscored[0].id, "multi_turn_base_3");
    assert!(
        c.unscored[0].reason.contains("builtin"),
        "{}",
        c.unscored[0].reason
    );
    let text = std::fs::read_to_string(&c.score_file).unwrap();
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.contains(UNSCORED_ERROR_TYPE));
}

/// FNV-1a of the text, for deterministic per-entry noise.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A deterministic "noisy model": per turn, the ground truth, or a perturbation of it (calls
/// dropped, an argument changed, an extra call, the calls split into steps, a dotted callee, no
/// calls, prose). Used only to produce result files for scripts/bfcl_multi_turn_infer_agreement.py.
fn noisy_script(entry: &MultiTurnEntry, profile: EvalProfile) -> Vec<Vec<String>> {
    let exec = Executor::new(
        &entry.initial_config,
        &entry.involved_classes,
        &PyProcess::new(),
    )
    .expect("backends");
    entry
        .ground_truth
        .iter()
        .enumerate()
        .map(|(t, gt)| {
            let r = fnv(&format!("{}:{t}", entry.id)) % 20;
            let mut calls = gt.clone();
            match r {
                0..=8 => vec![step_text(profile, &calls, &exec)],
                9 => calls
                    .iter()
                    .map(|c| step_text(profile, std::slice::from_ref(c), &exec))
                    .collect(),
                10 | 11 => {
                    calls.pop();
                    vec![step_text(profile, &calls, &exec)]
                }
                12 | 13 => {
                    if let Some(c) = calls.first_mut() {
                        let mut kw = keyword_call(c, &exec);
                        if let Some((_, v)) = kw.first_mut() {
                            let changed = match &*v {
                                PyVal::Str(s) => PyVal::Str(format!("{s}_x")),
                                PyVal::Int(i) => PyVal::Int(*i + 1),
                                PyVal::Float(f) => PyVal::Float(*f * 2.0),
                                PyVal::Bool(b) => PyVal::Bool(!*b),
                                other => other.clone(),
                            };
                            *v = changed;
                        }
                        *c = Call::with_kwargs(c.name.clone(), kw);
                    }
                    vec![step_text(profile, &calls, &exec)]
                }
                14 => {
                    if let Some(c) = calls.first().cloned() {
                        calls.push(c);
                    }
                    vec![step_text(profile, &calls, &exec), "All done.".into()]
                }
                15 => {
                    let text = step_text(profile, &calls, &exec);
                    let class = entry.involved_classes.first().cloned().unwrap_or_default();
                    vec![calls.first().map_or(text.clone(), |c| {
                        text.replacen(&c.name, &format!("{class}.{}", c.name), 1)
                    })]
                }
                16 => vec!["I cannot do that without more information.".into()],
                17 => vec![format!("Sure! {}", step_text(profile, &calls, &exec))],
                18 => {
                    calls.reverse();
                    vec![step_text(profile, &calls, &exec)]
                }
                _ => vec![],
            }
        })
        .collect()
}

/// Writes noisy-replay result files (both profiles, base/miss_func/miss_param, every entry) and
/// our scores under `$BFCL_MT_NOISY_OUT/<profile>/`, for the official-checker comparison in
/// scripts/bfcl_multi_turn_infer_agreement.py.
#[test]
#[ignore = "produces files for scripts/bfcl_multi_turn_infer_agreement.py"]
fn write_noisy_replay_results() {
    let Some(data) = data_dir() else { return };
    let root = PathBuf::from(std::env::var("BFCL_MT_NOISY_OUT").expect("BFCL_MT_NOISY_OUT"));
    for profile in EvalProfile::ALL {
        for cat in CATEGORIES {
            let mut scripts = HashMap::new();
            for e in load_multi_turn_category(&data, cat).unwrap() {
                let key = first_user(&e.turns[0]).unwrap().to_string();
                // Entries that share a first question both replay the first one's script (the
                // verdicts are still compared entry by entry).
                scripts
                    .entry(key)
                    .or_insert_with(|| noisy_script(&e, profile));
            }
            let args = EvalArgs {
                profile,
                categories: vec![cat.into()],
                data_dir: data.clone(),
                out_dir: root.join(profile.as_str()),
                limit: None,
                batch_size: 16,
                seed: 0,
                show_progress: false,
                run_info: RunInfo {
                    model_source: "noisy replay".into(),
                    tokenizer: None,
                    dtype: "f32".into(),
                    adapter: None,
                    max_new_tokens: 64,
                },
            };
            let summary = run_eval(&Replay { scripts }, &args).unwrap();
            println!("{summary}");
        }
    }
}

/// FNV-1a 64 of the UTF-8 bytes, as in scripts/bfcl_multi_turn_infer_golden.py.
fn fnv_hex(text: &str) -> String {
    format!("{:016x}", fnv(text))
}

/// The prompts the driver feeds the model, rendered by Qwen3's own chat template, equal the
/// official handlers' `_format_prompt` text at every step of real multi-turn conversations
/// (held-out functions, tool results, `<think>` answers, FC `tool_calls`), and the stored
/// `result` equals the handler's: goldens from scripts/bfcl_multi_turn_infer_golden.py.
#[test]
fn driver_prompts_equal_the_official_handler_prompts() {
    let Some(data) = data_dir() else { return };
    let assets = trainer::assets::ensure_assets().unwrap_or_else(|e| panic!("{e}"));
    let tok = Tokenizer::from_dir(&assets.qwen3_tokenizer_dir).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bfcl_multi_turn_infer/prompt_golden.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut compared = 0;
    for line in text.lines() {
        let g: Json = serde_json::from_str(line).unwrap();
        let id = g["id"].as_str().unwrap();
        let profile = EvalProfile::parse(g["profile"].as_str().unwrap()).unwrap();
        let category = id.rsplit_once('_').unwrap().0;
        let entries = load_multi_turn_category(&data, category).unwrap();
        let entry = entries.iter().find(|e| e.id == id).unwrap();
        let script: Vec<Vec<String>> = serde_json::from_value(g["script"].clone()).unwrap();
        let process = PyProcess::new();
        let mut conv = Conversation::new(entry, profile, &process, 0).unwrap();
        let mut prompts = Vec::new();
        while let Some(req) = conv.request() {
            let rendered = tok
                .render_conversation(&req.messages, &req.tools, true)
                .unwrap();
            let (turn, step) = bfcl_common::turn_and_step(&req.messages);
            prompts.push((turn, step, rendered));
            let answer = script
                .get(turn)
                .and_then(|t| t.get(step))
                .cloned()
                .unwrap_or_else(|| "Done.".into());
            conv.feed(&answer, 0, 0);
        }
        let want = g["prompts"].as_array().unwrap();
        assert_eq!(prompts.len(), want.len(), "{id} {profile}: number of steps");
        for ((turn, step, p), w) in prompts.iter().zip(want) {
            assert_eq!(
                (*turn, *step),
                (
                    w["turn"].as_u64().unwrap() as usize,
                    w["step"].as_u64().unwrap() as usize
                )
            );
            assert_eq!(
                (p.chars().count(), fnv_hex(p)),
                (
                    w["chars"].as_u64().unwrap() as usize,
                    w["fnv"].as_str().unwrap().to_string()
                ),
                "{id} {profile} turn {turn} step {step}: prompt differs from the handler's:\n{p}"
            );
            compared += 1;
        }
        let Some(Outcome::Turns { result, .. }) = conv.outcome() else {
            panic!("{id}: {:?}", conv.outcome());
        };
        let want_result: Vec<Vec<String>> = serde_json::from_value(g["result"].clone()).unwrap();
        assert_eq!(result, &want_result, "{id} {profile}: stored result");
    }
    assert!(compared >= 50, "only {compared} prompts compared");
}
