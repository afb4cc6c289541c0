//! BFCL memory categories (`memory_kv`, `memory_rec_sum`) and the agentic checker, against
//! oracles written by scripts/bfcl_memory_golden.py from the official bfcl-eval 2026.3.23 code
//! (tests/fixtures/bfcl_memory/):
//!
//! * the ported memory backends give the official harness's result strings, memory and
//!   system-prompt dump on edge-case call sequences (BM25+ scores, ties, Python errors);
//! * `agentic_checker` verdicts and `standardize_string`;
//! * the prompts of whole `notetaker` chains (five prerequisite conversations, each from the
//!   snapshot the previous one left, then three questions), both profiles, both backends, equal
//!   the official handlers' prompts, results and snapshots (needs the real BFCL data and the
//!   Qwen3 tokenizer, fetched on demand; skipped with `TRAINER_SKIP_REAL_ASSETS=1`);
//! * `run_eval` on `memory_rec_sum` with a scripted stand-in for a model writes the official
//!   layout and snapshots, scores exactly the answers it got right, and a run killed mid-way
//!   resumes to the same files as an uninterrupted one; redone and broken chains;
//! * `trainer eval --bfcl memory_kv,memory_rec_sum` through the CLI on a tiny random Qwen3 (real
//!   Qwen3 tokenizer), then `trainer bfcl score` on its files.

#[path = "bfcl_common/mod.rs"]
mod bfcl_common;
mod common;

use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;
use trainer::backend::ChatRequest;
use trainer::chat::Tokenizer;
use trainer::eval::agentic::checker::{agentic_check, standardize};
use trainer::eval::agentic::data::load_memory_dataset;
use trainer::eval::infer::{run_eval, EvalArgs, EvalProfile, Generated, Generator, RunInfo};
use trainer::eval::multi_turn::driver::{Conversation, Outcome};
use trainer::eval::multi_turn::driver_data::MultiTurnEntry;
use trainer::eval::multi_turn::{Call, Executor, PyProcess};
use trainer::eval::pyjson;
use trainer::eval::pyrepr::repr;
use trainer::eval::pyval::{PyDict, PyVal};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bfcl_memory")
}

fn read_json(name: &str) -> Json {
    let text = std::fs::read_to_string(fixture_dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn data_dir() -> Option<PathBuf> {
    bfcl_common::real_data_dir()
}

fn state_json(state: &PyDict) -> String {
    pyjson::dumps(&PyVal::Dict(state.clone())).unwrap()
}

#[test]
fn backends_match_the_official_classes() {
    let cases = read_json("backends.json");
    let mut compared = 0;
    for case in cases.as_array().unwrap() {
        let class = case["class"].as_str().unwrap().to_string();
        let mut exec = Executor::new(
            &PyDict::new(),
            std::slice::from_ref(&class),
            &PyProcess::new(),
        )
        .unwrap();
        let calls = case["calls"].as_array().unwrap();
        let results = case["results"].as_array().unwrap();
        for (call, want) in calls.iter().zip(results) {
            let call = call.as_str().unwrap();
            let got = exec.execute(&Call::parse(call).unwrap());
            assert_eq!(got, want.as_str().unwrap(), "{class}: {call}");
            compared += 1;
        }
        let backend = &exec.instances()[0];
        assert_eq!(
            state_json(&backend.state()),
            case["state"].as_str().unwrap(),
            "{class}: memory after the case"
        );
        assert_eq!(
            backend.memory_context().unwrap(),
            case["context"].as_str().unwrap(),
            "{class}: _dump_core_memory_to_context"
        );
    }
    assert!(compared >= 60, "only {compared} calls compared");
}

#[test]
fn agentic_checker_matches_the_official_one() {
    let cases = read_json("checker.json");
    for case in cases.as_array().unwrap() {
        let response = case["response"].as_str().unwrap();
        let answers: Vec<String> = serde_json::from_value(case["answers"].clone()).unwrap();
        assert_eq!(
            standardize(response),
            case["standardized"].as_str().unwrap(),
            "{response:?}"
        );
        assert_eq!(
            agentic_check(response, &answers).valid,
            case["valid"].as_bool().unwrap(),
            "{response:?} vs {answers:?}"
        );
    }
}

fn fnv_hex(text: &str) -> String {
    bfcl_common::fnv1a64(text)
}

/// `entry` with its memory backend starting from `state`.
fn seeded(entry: &MultiTurnEntry, state: &PyDict) -> MultiTurnEntry {
    let mut e = entry.clone();
    let mut config = PyDict::new();
    config.insert_str(&entry.involved_classes[0], PyVal::Dict(state.clone()));
    e.initial_config = config;
    e
}

/// Runs one conversation with the golden's script, comparing every prompt; returns the memory.
fn replay_golden(tok: &Tokenizer, entry: &MultiTurnEntry, g: &Json, state: &PyDict) -> PyDict {
    let id = entry.id.as_str();
    let profile = EvalProfile::parse(g["profile"].as_str().unwrap()).unwrap();
    let script: Vec<Vec<String>> = serde_json::from_value(g["script"].clone()).unwrap();
    let process = PyProcess::new();
    let mut conv = Conversation::new(&seeded(entry, state), profile, &process, 0).unwrap();
    let want = g["prompts"].as_array().unwrap();
    let mut n = 0;
    while let Some(req) = conv.request() {
        let rendered = tok
            .render_conversation(&req.messages, &req.tools, true)
            .unwrap();
        let (turn, step) = bfcl_common::turn_and_step(&req.messages);
        let w = &want[n];
        assert_eq!(
            (turn as u64, step as u64),
            (w["turn"].as_u64().unwrap(), w["step"].as_u64().unwrap()),
            "{id} {profile}: step order"
        );
        assert_eq!(
            (rendered.chars().count() as u64, fnv_hex(&rendered)),
            (
                w["chars"].as_u64().unwrap(),
                w["fnv"].as_str().unwrap().to_string()
            ),
            "{id} {profile} turn {turn} step {step}: prompt differs from the handler's:\n{rendered}"
        );
        n += 1;
        let answer = script
            .get(turn)
            .and_then(|t| t.get(step))
            .cloned()
            .unwrap_or_else(|| "Done.".into());
        conv.feed(&answer, 0, 0);
    }
    assert_eq!(n, want.len(), "{id} {profile}: number of prompts");
    let Some(Outcome::Turns { result, .. }) = conv.outcome() else {
        panic!("{id}: {:?}", conv.outcome());
    };
    let want_result: Vec<Vec<String>> = serde_json::from_value(g["result"].clone()).unwrap();
    assert_eq!(result, &want_result, "{id} {profile}: stored result");
    conv.backend_state().unwrap()
}

#[test]
fn memory_chains_prompt_like_the_official_handlers() {
    let Some(data) = data_dir() else { return };
    let assets = trainer::assets::ensure_assets().unwrap_or_else(|e| panic!("{e}"));
    let tok = Tokenizer::from_dir(&assets.qwen3_tokenizer_dir).unwrap();
    let text = std::fs::read_to_string(fixture_dir().join("prompt_golden.jsonl")).unwrap();
    let goldens: Vec<Json> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut conversations = 0;
    for category in ["memory_kv", "memory_rec_sum"] {
        let ds = load_memory_dataset(&data, category).unwrap();
        let (_, chain) = ds.prereqs.iter().find(|(s, _)| s == "notetaker").unwrap();
        for profile in ["fc", "prompting"] {
            let golden = |id: &str| {
                goldens
                    .iter()
                    .find(|g| g["id"] == id && g["profile"] == profile)
                    .unwrap_or_else(|| panic!("no golden for {id} {profile}"))
            };
            let mut state = PyDict::new();
            for entry in chain {
                let g = golden(&entry.id);
                state = replay_golden(&tok, entry, g, &state);
                assert_eq!(
                    state_json(&state),
                    g["snapshot"].as_str().unwrap(),
                    "{} {profile}: snapshot",
                    entry.id
                );
                conversations += 1;
            }
            let questions = ds
                .questions
                .iter()
                .filter(|q| q.memory_scenario.as_deref() == Some("notetaker"))
                .take(3);
            for q in questions {
                replay_golden(&tok, q, golden(&q.id), &state);
                conversations += 1;
            }
        }
    }
    assert_eq!(conversations, goldens.len());
}

/// Not a model: a scripted stand-in that appends each user message's start to the
/// recursive-summary memory, then says "Done."; asked a question, it retrieves the memory and
/// answers with the ground truth when the question has an even number of characters, else
/// "I do not know". It fails (like a crashed model) once `fail_after` batches were generated.
struct Scripted {
    truth: HashMap<String, String>,
    calls: Cell<usize>,
    fail_after: Option<usize>,
    /// The context, in messages (the stand-in's prompt length).
    context: usize,
    /// How many characters of each user message it stores.
    take: usize,
}

fn last_user(r: &ChatRequest) -> &str {
    r.messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
}

impl Scripted {
    fn answer(&self, r: &ChatRequest) -> String {
        let last = r.messages.last().unwrap();
        let user = last_user(r);
        if let Some(truth) = self.truth.get(user) {
            if last["role"] == "user" {
                return "[memory_retrieve()]".into();
            }
            return if user.chars().count().is_multiple_of(2) {
                format!("{{'answer': '{truth}', 'context': 'from memory'}}")
            } else {
                "{'answer': 'I do not know', 'context': 'I do not know'}".into()
            };
        }
        if last["role"] == "user" {
            let start: String = user.chars().take(self.take).collect();
            let text = PyVal::str(format!("{start} | "));
            format!("[memory_append(text={})]", repr(&text))
        } else {
            "Done.".into()
        }
    }
}

impl Generator for Scripted {
    fn name(&self) -> &str {
        "scripted memory user"
    }
    fn context_len(&self) -> usize {
        self.context
    }
    fn prompt_len(&self, r: &ChatRequest) -> trainer::backend::Result<usize> {
        Ok(r.messages.len())
    }
    fn generate(&self, rs: &[ChatRequest], _: usize) -> trainer::backend::Result<Vec<Generated>> {
        let n = self.calls.get();
        if self.fail_after.is_some_and(|k| n >= k) {
            return Err(trainer::backend::Error::Invalid(
                "scripted crash mid-run".into(),
            ));
        }
        self.calls.set(n + 1);
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

fn args(data: &Path, out: &Path) -> EvalArgs {
    EvalArgs {
        profile: EvalProfile::Prompting,
        categories: vec!["memory_rec_sum".into()],
        data_dir: data.to_path_buf(),
        out_dir: out.to_path_buf(),
        limit: Some(8),
        batch_size: 4,
        seed: 0,
        show_progress: false,
        run_info: RunInfo {
            model_source: "scripted".into(),
            tokenizer: None,
            dtype: "f32".into(),
            adapter: None,
            max_new_tokens: 64,
        },
    }
}

/// Every file under `dir`, relative path → bytes (`summary.json` left out: it holds timings).
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().unwrap() != "summary.json" {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Question text → its first acceptable answer.
fn truths(
    data: &Path,
    ds: &trainer::eval::agentic::data::MemoryDataset,
) -> HashMap<String, String> {
    let answers_text =
        std::fs::read_to_string(data.join("possible_answer/BFCL_v4_memory.json")).unwrap();
    let mut truth = HashMap::new();
    for (q, line) in ds.questions.iter().zip(answers_text.lines()) {
        let a: Json = serde_json::from_str(line).unwrap();
        let question = q.turns[0].last().unwrap()["content"].as_str().unwrap();
        truth.insert(
            question.to_string(),
            a["ground_truth"][0].as_str().unwrap().to_string(),
        );
    }
    truth
}

#[test]
fn memory_eval_runs_chains_scores_and_resumes() {
    let Some(data) = data_dir() else { return };
    let ds = load_memory_dataset(&data, "memory_rec_sum").unwrap();
    let truth = truths(&data, &ds);
    let gen = |fail_after| Scripted {
        truth: truth.clone(),
        calls: Cell::new(0),
        fail_after,
        context: 1 << 30,
        take: 24,
    };
    let whole = tempfile::tempdir().unwrap();
    let summary = run_eval(&gen(None), &args(&data, whole.path())).unwrap();

    // The official layout: the questions' and the conversations' result files, and snapshots.
    let dir = whole
        .path()
        .join("result/Qwen_Qwen3-8B/agentic/memory/rec_sum");
    let questions =
        std::fs::read_to_string(dir.join("BFCL_v4_memory_rec_sum_result.json")).unwrap();
    assert_eq!(questions.lines().count(), 8);
    let kept: Vec<&MultiTurnEntry> = (0..8).map(|i| &ds.questions[i * 155 / 8]).collect();
    let scenarios: std::collections::BTreeSet<&str> = kept
        .iter()
        .map(|q| q.memory_scenario.as_deref().unwrap())
        .collect();
    let prereqs =
        std::fs::read_to_string(dir.join("BFCL_v4_memory_rec_sum_prereq_result.json")).unwrap();
    let chain_len: usize = ds
        .prereqs
        .iter()
        .filter(|(s, _)| scenarios.contains(s.as_str()))
        .map(|(_, c)| c.len())
        .sum();
    assert_eq!(prereqs.lines().count(), chain_len);
    for scenario in &scenarios {
        let (_, chain) = ds.prereqs.iter().find(|(s, _)| s == scenario).unwrap();
        let last = chain.last().unwrap();
        let snap = dir.join(format!(
            "memory_snapshot/prereq_checkpoints/{}.json",
            last.id
        ));
        let fin = dir.join(format!("memory_snapshot/{scenario}_final.json"));
        assert_eq!(std::fs::read(&snap).unwrap(), std::fs::read(&fin).unwrap());
        // The memory holds the start of every user message of the chain, in order.
        let memory = pyjson::loads(&std::fs::read_to_string(&fin).unwrap()).unwrap();
        let memory = memory
            .as_dict()
            .unwrap()
            .get_str("memory")
            .unwrap()
            .as_str()
            .unwrap();
        let mut expected = String::new();
        for e in chain {
            for turn in &e.turns {
                let user = turn.iter().rev().find(|m| m["role"] == "user").unwrap();
                let start: String = user["content"].as_str().unwrap().chars().take(24).collect();
                expected.push_str(&format!("{start} | "));
            }
        }
        assert_eq!(memory, expected, "{scenario}: memory after the chain");
    }
    // The question's prompt showed that memory: its retrieval returned it.
    let first: Json = serde_json::from_str(questions.lines().next().unwrap()).unwrap();
    assert_eq!(first["result"][0][0], "[memory_retrieve()]");

    // Exactly the even-length questions were answered right.
    let right = kept
        .iter()
        .filter(|q| {
            let text = q.turns[0].last().unwrap()["content"].as_str().unwrap();
            text.chars().count().is_multiple_of(2)
        })
        .count();
    let cat = summary
        .categories
        .iter()
        .find(|c| c.category == "memory_rec_sum")
        .unwrap();
    assert_eq!((cat.correct_count, cat.total_count), (right, 8));
    assert!(
        right > 0 && right < 8,
        "the sample should mix right and wrong answers"
    );
    let score = whole
        .path()
        .join("score/Qwen_Qwen3-8B/agentic/memory/rec_sum/BFCL_v4_memory_rec_sum_score.json");
    let score = std::fs::read_to_string(score).unwrap();
    assert_eq!(score.lines().count(), 1 + 8 - right);
    assert!(score.contains("agentic:answer_not_found"));

    // Killed mid-run (the model fails after some batches), then resumed: the same files.
    let killed = tempfile::tempdir().unwrap();
    for fail_after in [3, 11] {
        let err = run_eval(&gen(Some(fail_after)), &args(&data, killed.path()));
        assert!(err.is_err(), "the scripted crash must stop the run");
    }
    run_eval(&gen(None), &args(&data, killed.path())).unwrap();
    let (a, b) = (tree(whole.path()), tree(killed.path()));
    assert_eq!(
        a.iter().map(|x| &x.0).collect::<Vec<_>>(),
        b.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs after the resume");
    }
}

/// Agentic result files of every shape the official scorer distinguishes (right, wrong, calls
/// only, inference error, empty final message, two turns, reformatted answer, answer before a
/// final call), for all five agentic categories and both profiles: `score` writes the official
/// score files and `data_agentic.csv` byte for byte.
#[test]
fn agentic_score_files_equal_the_official_ones() {
    let Some(data) = data_dir() else { return };
    let text = std::fs::read_to_string(fixture_dir().join("score_golden.jsonl")).unwrap();
    let goldens: Vec<Json> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut compared = 0;
    for (profile, model) in [("prompting", "Qwen/Qwen3-8B"), ("fc", "Qwen/Qwen3-8B-FC")] {
        let root = tempfile::tempdir().unwrap();
        let model_dir = model.replace('/', "_");
        let mine: Vec<&Json> = goldens.iter().filter(|g| g["profile"] == profile).collect();
        let mut categories = Vec::new();
        for g in &mine {
            let cat = g["category"].as_str().unwrap();
            if cat.ends_with(".csv") {
                continue;
            }
            categories.push(cat.to_string());
            let dir = root
                .path()
                .join("result")
                .join(&model_dir)
                .join(trainer::eval::category::directory(cat));
            std::fs::create_dir_all(&dir).unwrap();
            let lines: String = g["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| format!("{}\n", serde_json::to_string(r).unwrap()))
                .collect();
            std::fs::write(dir.join(format!("BFCL_v4_{cat}_result.json")), lines).unwrap();
        }
        let summary = trainer::eval::score::score(&trainer::eval::score::ScoreArgs {
            result_dir: root.path().join("result"),
            score_dir: root.path().join("score"),
            model: model.into(),
            categories: Some(categories),
            partial_eval: true,
            data_dir: data.clone(),
        })
        .unwrap();
        assert_eq!(summary.categories.len(), 5);
        for g in &mine {
            let cat = g["category"].as_str().unwrap();
            let path = if cat.ends_with(".csv") {
                root.path().join("score").join(cat)
            } else {
                root.path()
                    .join("score")
                    .join(&model_dir)
                    .join(trainer::eval::category::directory(cat))
                    .join(format!("BFCL_v4_{cat}_score.json"))
            };
            let got = std::fs::read_to_string(&path).unwrap();
            let want = g["score"].as_str().unwrap();
            for (n, (a, b)) in got.lines().zip(want.lines()).enumerate() {
                assert_eq!(a, b, "{profile} {cat}: line {}", n + 1);
            }
            assert_eq!(got.lines().count(), want.lines().count(), "{profile} {cat}");
            compared += 1;
        }
    }
    assert_eq!(compared, 12);
}

/// Deleting a conversation's answer redoes it, the rest of its chain and its scenario's
/// questions, ending with the files of an uninterrupted run; a completed conversation whose
/// snapshot is missing or malformed stops the run with the file named; conversations that
/// outgrow the context are counted in the summary.
#[test]
fn memory_eval_redoes_changed_chains_and_refuses_broken_snapshots() {
    let Some(data) = data_dir() else { return };
    let ds = load_memory_dataset(&data, "memory_rec_sum").unwrap();
    let truth = truths(&data, &ds);
    let gen = |context| Scripted {
        truth: truth.clone(),
        calls: Cell::new(0),
        fail_after: None,
        context,
        take: 24,
    };
    let whole = tempfile::tempdir().unwrap();
    run_eval(&gen(1 << 30), &args(&data, whole.path())).unwrap();
    let dir = |root: &Path| root.join("result/Qwen_Qwen3-8B/agentic/memory/rec_sum");

    // Redo from the third conversation of the customer chain.
    let redo = tempfile::tempdir().unwrap();
    run_eval(&gen(1 << 30), &args(&data, redo.path())).unwrap();
    let prereq = dir(redo.path()).join("BFCL_v4_memory_rec_sum_prereq_result.json");
    let text = std::fs::read_to_string(&prereq).unwrap();
    let kept: String = text
        .split_inclusive('\n')
        .filter(|l| !l.contains("\"memory_rec_sum_prereq_2-customer-2\""))
        .collect();
    assert_eq!(kept.lines().count() + 1, text.lines().count());
    std::fs::write(&prereq, kept).unwrap();
    let summary = run_eval(&gen(1 << 30), &args(&data, redo.path())).unwrap();
    let customer = ds
        .prereqs
        .iter()
        .find(|(s, _)| s == "customer")
        .unwrap()
        .1
        .len();
    let customer_questions = (0..8)
        .filter(|i| ds.questions[i * 155 / 8].memory_scenario.as_deref() == Some("customer"))
        .count();
    assert!(customer_questions > 0);
    assert_eq!(
        summary.inference.new_entries,
        customer - 2 + customer_questions
    );
    let (a, b) = (tree(whole.path()), tree(redo.path()));
    assert_eq!(a.len(), b.len());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs after the redo");
    }

    // A redo that changes the memory (the stand-in now keeps 12 characters), killed at several
    // points and resumed, ends like the same redo uninterrupted: the later conversations and
    // the scenario's questions come from the new memory, not the old.
    let changed = |fail_after| Scripted {
        truth: truth.clone(),
        calls: Cell::new(0),
        fail_after,
        context: 1 << 30,
        take: 12,
    };
    let drop_line = |root: &Path| {
        let prereq = dir(root).join("BFCL_v4_memory_rec_sum_prereq_result.json");
        let text = std::fs::read_to_string(&prereq).unwrap();
        let kept: String = text
            .split_inclusive('\n')
            .filter(|l| !l.contains("\"memory_rec_sum_prereq_2-customer-2\""))
            .collect();
        std::fs::write(&prereq, kept).unwrap();
    };
    let clean = tempfile::tempdir().unwrap();
    run_eval(&gen(1 << 30), &args(&data, clean.path())).unwrap();
    drop_line(clean.path());
    run_eval(&changed(None), &args(&data, clean.path())).unwrap();
    let killed = tempfile::tempdir().unwrap();
    run_eval(&gen(1 << 30), &args(&data, killed.path())).unwrap();
    drop_line(killed.path());
    for fail_after in [7, 40, 60, 75] {
        assert!(run_eval(&changed(Some(fail_after)), &args(&data, killed.path())).is_err());
    }
    run_eval(&changed(None), &args(&data, killed.path())).unwrap();
    let (a, b) = (tree(clean.path()), tree(killed.path()));
    assert_eq!(
        a.iter().map(|x| &x.0).collect::<Vec<_>>(),
        b.iter().map(|x| &x.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs after a killed redo");
    }
    assert_ne!(tree(whole.path()), a, "the redo changed the files");

    // A completed conversation's snapshot is missing, then malformed: a clear error, no answer.
    let last = &ds.prereqs.iter().find(|(s, _)| s == "customer").unwrap().1[customer - 1];
    let snap = dir(redo.path()).join(format!(
        "memory_snapshot/prereq_checkpoints/{}.json",
        last.id
    ));
    let questions = dir(redo.path()).join("BFCL_v4_memory_rec_sum_result.json");
    let before = std::fs::read_to_string(&questions).unwrap();
    let without_first: String = before.split_inclusive('\n').skip(1).collect();
    std::fs::write(&questions, &without_first).unwrap();
    std::fs::remove_file(&snap).unwrap();
    let err = run_eval(&gen(1 << 30), &args(&data, redo.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&last.id) && err.contains("missing"), "{err}");
    std::fs::write(&snap, "{\"memory\": 5}").unwrap();
    let err = run_eval(&gen(1 << 30), &args(&data, redo.path()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a memory snapshot"), "{err}");
    assert_eq!(std::fs::read_to_string(&questions).unwrap(), without_first);

    // A context of 40 messages: long conversations end in an inference error and are counted.
    let short = tempfile::tempdir().unwrap();
    let summary = run_eval(&gen(40), &args(&data, short.path())).unwrap();
    let cat = &summary.categories[0];
    assert!(cat.prerequisite_errors > 0, "{cat:?}");
    assert!(summary
        .to_string()
        .contains("prerequisite conversations ended in an inference error"));
}

/// A data directory with the memory files and one question (the first of the `notetaker`
/// scenario, whose chain is the shortest).
fn mini_memory_data(real: &Path, out: &Path) {
    for sub in [
        "possible_answer",
        "memory_prereq_conversation",
        "multi_turn_func_doc",
    ] {
        std::fs::create_dir_all(out.join(sub)).unwrap();
    }
    for sub in ["memory_prereq_conversation", "multi_turn_func_doc"] {
        for f in std::fs::read_dir(real.join(sub)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, out.join(sub).join(f.file_name().unwrap())).unwrap();
        }
    }
    let name = "BFCL_v4_memory.json";
    let questions = std::fs::read_to_string(real.join(name)).unwrap();
    let answers = std::fs::read_to_string(real.join("possible_answer").join(name)).unwrap();
    let n = questions
        .lines()
        .position(|l| l.contains("\"scenario\": \"notetaker\""))
        .unwrap();
    let pick = |text: &str| format!("{}\n", text.lines().nth(n).unwrap());
    std::fs::write(out.join(name), pick(&questions)).unwrap();
    std::fs::write(out.join("possible_answer").join(name), pick(&answers)).unwrap();
}

#[test]
fn cli_eval_runs_memory_chains_and_scores_them() {
    let Some(real) = data_dir() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let tok = common::save_tiny_qwen3_dir(&model, 5, 16384);
    let data = dir.path().join("data");
    mini_memory_data(&real, &data);
    let extra = "batch_size = 4\nprofile = \"prompting\"\n";
    let cfg = common::tiny_eval_config(dir.path(), "mem", &model, &tok, &data, extra);
    let out = dir.path().join("eval");
    let run = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .env("RUST_LOG", "warn")
        .arg("eval")
        .arg(&cfg)
        .args(["--bfcl", "memory"])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // memory_vector is reported as skipped, the two ported backends are scored.
    assert!(
        stdout.contains("memory_kv") && stdout.contains("memory_rec_sum"),
        "{stdout}"
    );
    assert!(stdout.contains("memory_vector"), "{stdout}");
    for backend in ["kv", "rec_sum"] {
        let d = out.join(format!("result/Qwen_Qwen3-8B/agentic/memory/{backend}"));
        let prereq =
            std::fs::read_to_string(d.join(format!("BFCL_v4_memory_{backend}_prereq_result.json")))
                .unwrap();
        assert_eq!(prereq.lines().count(), 5, "{backend}: the notetaker chain");
        let question =
            std::fs::read_to_string(d.join(format!("BFCL_v4_memory_{backend}_result.json")))
                .unwrap();
        let line: Json = serde_json::from_str(question.trim_end()).unwrap();
        assert_eq!(line["id"], format!("memory_{backend}_130-notetaker-0"));
        assert!(line["result"].is_array(), "{line}");
        assert!(d.join("memory_snapshot/notetaker_final.json").is_file());
        let score = out.join(format!(
            "score/Qwen_Qwen3-8B/agentic/memory/{backend}/BFCL_v4_memory_{backend}_score.json"
        ));
        let head: Json = serde_json::from_str(
            std::fs::read_to_string(score)
                .unwrap()
                .lines()
                .next()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(head["total_count"], 1);
    }
    // `trainer bfcl score` reads the same files (the prerequisite files are not scored).
    let scored = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args(["bfcl", "score", "--model", "Qwen/Qwen3-8B", "--data"])
        .arg(&data)
        .arg("--result-dir")
        .arg(out.join("result"))
        .arg("--score-dir")
        .arg(dir.path().join("rescore"))
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&scored.stdout);
    assert!(
        scored.status.success(),
        "{s}\n{}",
        String::from_utf8_lossy(&scored.stderr)
    );
    assert!(
        s.contains("memory_kv") && s.contains("memory_rec_sum") && !s.contains("prereq"),
        "{s}"
    );
}
