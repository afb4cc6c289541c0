//! The three-agent episode loop end to end with the programmatic simulators and a scripted
//! assistant (a test double that plays an oracle knowing the task), the verifier's rejections
//! (one crafted bad trajectory per reason), and the output files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::{json, Map, Value as Json};
use trainer::backend::{ChatRequest, GenParams};
use trainer::chat::{render_tool_calls, ToolCall};
use trainer::engine::SamplingParams;
use trainer::specs::{ingest_paths, IngestOptions, Tool};
use trainer::synth::episode::{run_episodes, Agents, Episode, EpisodeConfig};
use trainer::synth::plan::{plan, Category, PlanOptions, Task};
use trainer::synth::scripted::{Scripted, ScriptedBackend};
use trainer::synth::verify::{verify, Dedup, Reason};
use trainer::synth::words::humanize;
use trainer::synth::{expand_spec_paths, ProgrammaticUser, Registry, SchemaResults};
use trainer::toolsets::{by_api, Toolset};

fn tools() -> Vec<Tool> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs");
    ingest_paths(
        &expand_spec_paths(&[root]).unwrap(),
        &IngestOptions::default(),
    )
    .tools
}

fn setup() -> (Registry, Vec<Toolset>) {
    let t = tools();
    let sets = by_api(&t, 8);
    (Registry::new(t).unwrap(), sets)
}

fn tasks(reg: &Registry, sets: &[Toolset], category: Category, n: usize, seed: u64) -> Vec<Task> {
    let p = plan(
        reg,
        sets,
        &PlanOptions {
            seed,
            counts: vec![(category, n)],
            ..PlanOptions::default()
        },
    );
    assert_eq!(p.tasks.len(), n, "{category} could not be planned");
    p.tasks
}

/// How the scripted assistant deviates from the oracle.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Flaw {
    None,
    BrokenFormat,
    Truncate,
    UnknownTool,
    InvalidArgs,
    CallAnyway,
    AnswerWithoutAsking,
    GuessMissingValue,
    NoCall,
    WrongValue,
    MadeUpDependency,
    GiveUpAfterError,
    ExtraCall,
    VagueAnswer,
}

fn calls_text(calls: &[(String, Map<String, Json>)]) -> String {
    let calls: Vec<ToolCall> = calls
        .iter()
        .map(|(n, a)| ToolCall::new(n.clone(), a.clone()))
        .collect();
    render_tool_calls("", &calls)
}

/// Results of the tool messages so far, in order.
fn results(messages: &[Json]) -> Vec<Json> {
    messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| {
            serde_json::from_str(m["content"].as_str().unwrap_or("null")).unwrap_or(Json::Null)
        })
        .collect()
}

fn scalars(v: &Json, out: &mut Vec<Json>) {
    match v {
        Json::Array(a) => a.iter().for_each(|x| scalars(x, out)),
        Json::Object(m) => m.values().for_each(|x| scalars(x, out)),
        Json::String(s) if s.len() >= 3 && s != "success" => out.push(v.clone()),
        Json::Number(_) => out.push(v.clone()),
        _ => {}
    }
}

/// A final answer that quotes a returned value that was not an argument.
fn answer(task: &Task, messages: &[Json]) -> String {
    let mut args: Vec<Json> = Vec::new();
    for s in &task.steps {
        scalars(&Json::Object(s.arguments.clone()), &mut args);
    }
    let mut vals = Vec::new();
    for r in results(messages).iter().rev() {
        scalars(r, &mut vals);
    }
    match vals.iter().find(|v| !args.contains(v)).or(vals.first()) {
        Some(Json::String(s)) => format!("Done. The result: {s}."),
        Some(v) => format!("Done. The result: {v}."),
        None => "Done.".into(),
    }
}

/// The same arguments with one value changed so that they stay schema-valid.
fn wrong_but_valid(reg: &Registry, tool: &str, args: &Map<String, Json>) -> Map<String, Json> {
    let entry = reg.get(tool).unwrap();
    for (k, v) in args {
        let mut candidates = vec![];
        match v {
            Json::String(s) => {
                candidates.push(json!(format!("{s}x")));
                candidates.push(json!("Zanzibar"));
            }
            Json::Number(n) => {
                let x = n.as_f64().unwrap();
                for d in [1.0, -1.0, 2.0, -2.0] {
                    candidates.push(if n.is_f64() {
                        json!(x + d)
                    } else {
                        json!(x as i64 + d as i64)
                    });
                }
            }
            Json::Bool(b) => candidates.push(json!(!b)),
            _ => {}
        }
        if let Some(e) = entry.tool.parameters["properties"][k]["enum"].as_array() {
            candidates.extend(e.iter().cloned());
        }
        for c in candidates {
            let mut a = args.clone();
            a.insert(k.clone(), c.clone());
            if &c != v && entry.is_valid(&Json::Object(a.clone())) {
                return a;
            }
        }
    }
    panic!("no valid wrong value for {tool} {args:?}");
}

fn step_call(task: &Task, k: usize, messages: &[Json], flaw: Flaw) -> (String, Map<String, Json>) {
    let step = &task.steps[k];
    let mut args = step.arguments.clone();
    let res = results(messages);
    for l in &step.links {
        let v = res
            .get(l.from_step)
            .and_then(|r| r.pointer(&l.pointer))
            .cloned()
            .unwrap_or(Json::Null);
        let v = if flaw == Flaw::MadeUpDependency {
            json!("MADE-UP-123")
        } else {
            v
        };
        args.insert(l.argument.clone(), v);
    }
    (step.tool.clone(), args)
}

fn oracle(reg: &Registry, task: &Task, messages: &[Json], flaw: Flaw) -> Scripted {
    let res = results(messages);
    let made_calls = !res.is_empty();
    let last_is_error = res.last().is_some_and(|r| r.get("error").is_some());
    let all = |task: &Task| -> Vec<(String, Map<String, Json>)> {
        task.steps
            .iter()
            .map(|s| (s.tool.clone(), s.arguments.clone()))
            .collect()
    };
    let text = match task.category {
        Category::Irrelevance => {
            if flaw == Flaw::CallAnyway && !made_calls {
                let t = &task.tools[0];
                calls_text(&[(t.clone(), Map::new())])
            } else {
                "Sorry, none of my tools can help with that request.".into()
            }
        }
        Category::MissingParam => {
            let revealed = messages.iter().filter(|m| m["role"] == "user").count() >= 2;
            let w = task.withheld.as_ref().unwrap();
            if !revealed && !made_calls && flaw == Flaw::GuessMissingValue {
                let mut args = task.steps[0].arguments.clone();
                args.insert(w.argument.clone(), json!("guess"));
                calls_text(&[(task.steps[0].tool.clone(), args)])
            } else if !revealed && !made_calls {
                if flaw == Flaw::AnswerWithoutAsking {
                    "I cannot do that.".into()
                } else {
                    format!("Which {} should I use?", humanize(&w.argument))
                }
            } else if !made_calls {
                calls_text(&all(task))
            } else {
                answer(task, messages)
            }
        }
        Category::ErrorRecovery => {
            if !made_calls {
                calls_text(&all(task))
            } else if last_is_error && flaw == Flaw::GiveUpAfterError {
                "The service failed, please try later.".into()
            } else if last_is_error {
                calls_text(&all(task))
            } else {
                answer(task, messages)
            }
        }
        Category::MultiStep => {
            let k = res.len();
            if k < task.steps.len() {
                calls_text(&[step_call(task, k, messages, flaw)])
            } else {
                answer(task, messages)
            }
        }
        _ => {
            if made_calls {
                if flaw == Flaw::VagueAnswer {
                    "All done!".into()
                } else {
                    answer(task, messages)
                }
            } else {
                let mut calls = all(task);
                match flaw {
                    Flaw::NoCall => return Scripted::text("You should check a website for that."),
                    Flaw::BrokenFormat => {
                        return Scripted::text("<tool_call>\n{\"name\": \"x\", \"arguments\": {\n")
                    }
                    Flaw::Truncate => {
                        return Scripted {
                            text: "Let me think about this very".into(),
                            stopped: false,
                        }
                    }
                    Flaw::UnknownTool => calls[0].0 = "no_such_tool".into(),
                    Flaw::InvalidArgs => {
                        // A value of the wrong type for the first argument.
                        let key = calls[0].1.keys().next().cloned().unwrap();
                        let bad = if calls[0].1[&key].is_string() {
                            json!(12345)
                        } else {
                            json!("not a number")
                        };
                        calls[0].1.insert(key, bad);
                    }
                    Flaw::WrongValue => {
                        let (name, args) = calls[0].clone();
                        calls[0].1 = wrong_but_valid(reg, &name, &args);
                    }
                    Flaw::ExtraCall => calls.push(calls[0].clone()),
                    _ => {}
                }
                calls_text(&calls)
            }
        }
    };
    Scripted::text(text)
}

fn cfg(max_turns: usize) -> EpisodeConfig {
    EpisodeConfig {
        max_turns,
        max_calls: 8,
        batch_size: 4,
        gen: GenParams {
            sampling: SamplingParams {
                temperature: 0.0,
                top_k: 0,
                top_p: 1.0,
            },
            max_new_tokens: 64,
        },
        system_prompt: Some("You are a helpful assistant.".into()),
        adapter: true,
    }
}

fn run(reg: &Registry, tasks: &[Task], flaw: Flaw, max_turns: usize) -> Vec<Episode> {
    let by_request: BTreeMap<String, Task> = tasks
        .iter()
        .map(|t| (t.request.clone(), t.clone()))
        .collect();
    let backend = ScriptedBackend::new(|req: &ChatRequest| {
        let first_user = req
            .messages
            .iter()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default();
        let task = by_request.get(first_user).expect("request of a known task");
        assert!(!req.tools.is_empty(), "tools are offered in OpenAI format");
        oracle(reg, task, &req.messages, flaw)
    });
    let agents = Agents {
        policy: &backend,
        user: &ProgrammaticUser,
        server: &SchemaResults,
    };
    let done = Mutex::new(0usize);
    let eps = run_episodes(reg, tasks, &agents, &cfg(max_turns), &mut |_| {
        *done.lock().unwrap() += 1
    })
    .unwrap();
    assert_eq!(*done.lock().unwrap(), tasks.len());
    if tasks.len() > 4 {
        assert!(backend.batches() < tasks.len() * 4, "episodes are batched");
    }
    eps
}

#[test]
fn every_category_end_to_end_is_accepted() {
    let (reg, sets) = setup();
    for c in Category::ALL {
        let ts = tasks(&reg, &sets, c, 5, 11);
        let eps = run(&reg, &ts, Flaw::None, 8);
        for ep in &eps {
            let v = verify(&reg, ep);
            assert!(
                v.is_ok(),
                "{c} {}: {v:?}\n{:#}",
                ep.task.id,
                json!(ep.trajectory.messages)
            );
            // Token records line up with the assistant messages.
            assert_eq!(
                ep.trajectory.turns.len(),
                ep.trajectory
                    .messages
                    .iter()
                    .filter(|m| m["role"] == "assistant")
                    .count()
            );
            for t in &ep.trajectory.turns {
                assert_eq!(ep.trajectory.messages[t.message_index]["role"], "assistant");
                assert_eq!(t.completion_ids.len(), t.logprobs.len());
            }
            let flat = trainer::rollout::flatten(&ep.trajectory.id, &ep.trajectory.turns).unwrap();
            assert_eq!(flat.ids.len(), flat.loss_mask.len());
            let sampled: usize = ep
                .trajectory
                .turns
                .iter()
                .map(|t| t.completion_ids.len())
                .sum();
            assert_eq!(flat.loss_mask.iter().filter(|&&m| m == 1).count(), sampled);
        }
        // Category-specific shape of the accepted trajectories.
        let ep = &eps[0];
        let msgs = &ep.trajectory.messages;
        match c {
            Category::Irrelevance => assert!(ep.calls.is_empty()),
            Category::MissingParam => {
                let at = ep.revealed_at.unwrap();
                assert!(msgs[at - 1]["content"].as_str().unwrap().contains('?'));
                let w = ep.task.withheld.as_ref().unwrap();
                assert_eq!(ep.calls[0].arguments[&w.argument], w.value);
            }
            Category::ErrorRecovery => {
                assert!(ep.calls.len() >= 2);
                assert!(ep.calls[0].result["error"]["retryable"].as_bool().unwrap());
            }
            Category::MultiStep => {
                let l = &ep.task.steps[1].links[0];
                let src = ep.calls[l.from_step].result.pointer(&l.pointer).unwrap();
                assert_eq!(
                    &ep.calls[1].arguments[&l.argument], src,
                    "gated argument from the result"
                );
            }
            Category::Parallel | Category::ParallelMultiple => {
                assert!(ep.calls.len() >= 2);
                assert!(
                    ep.calls.iter().all(|c| c.turn == 0),
                    "all calls in one turn"
                );
            }
            _ => assert_eq!(ep.calls.len(), 1),
        }
        // OpenAI message shapes: tool calls with ids, tool results answering them.
        for m in msgs {
            if let Some(tc) = m.get("tool_calls") {
                assert_eq!(
                    m["content"], "",
                    "assistant content is \"\" (not null) next to calls"
                );
                for c in tc.as_array().unwrap() {
                    assert!(c["id"].is_string() && c["function"]["arguments"].is_object());
                }
            }
            if m["role"] == "tool" {
                assert!(m["tool_call_id"].is_string() && m["content"].is_string());
            }
        }
    }
}

fn rejection(reg: &Registry, category: Category, flaw: Flaw, max_turns: usize) -> Reason {
    let (_, sets) = setup();
    let ts = tasks(reg, &sets, category, 1, 21);
    let eps = run(reg, &ts, flaw, max_turns);
    match verify(reg, &eps[0]) {
        Ok(()) => panic!(
            "{category}/{flaw:?} was accepted: {:#}",
            json!(eps[0].trajectory.messages)
        ),
        Err(r) => {
            assert!(!r.detail.is_empty());
            r.reason
        }
    }
}

#[test]
fn verification_rejects_each_kind_of_bad_trajectory() {
    let (reg, _) = setup();
    let cases = [
        (Category::Single, Flaw::BrokenFormat, 8, Reason::FormatError),
        (Category::Single, Flaw::Truncate, 8, Reason::Truncated),
        (
            Category::Multiple,
            Flaw::UnknownTool,
            8,
            Reason::UnknownTool,
        ),
        (
            Category::Single,
            Flaw::InvalidArgs,
            8,
            Reason::InvalidArguments,
        ),
        (
            Category::Irrelevance,
            Flaw::CallAnyway,
            8,
            Reason::IrrelevanceCalled,
        ),
        (
            Category::MissingParam,
            Flaw::AnswerWithoutAsking,
            8,
            Reason::NoClarification,
        ),
        (
            Category::MissingParam,
            Flaw::GuessMissingValue,
            8,
            Reason::PrematureCall,
        ),
        (Category::Single, Flaw::NoCall, 8, Reason::MissingCall),
        (
            Category::Single,
            Flaw::WrongValue,
            8,
            Reason::WrongArguments,
        ),
        (
            Category::MultiStep,
            Flaw::MadeUpDependency,
            8,
            Reason::DependencyNotFromResult,
        ),
        (
            Category::ErrorRecovery,
            Flaw::GiveUpAfterError,
            8,
            Reason::NoRetry,
        ),
        (Category::Parallel, Flaw::ExtraCall, 8, Reason::ExtraCall),
        (Category::Single, Flaw::None, 1, Reason::NoFinalAnswer),
        (
            Category::Single,
            Flaw::VagueAnswer,
            8,
            Reason::AnswerInconsistent,
        ),
    ];
    for (c, flaw, turns, want) in cases {
        assert_eq!(rejection(&reg, c, flaw, turns), want, "{c}/{flaw:?}");
    }
}

#[test]
fn near_duplicates_are_rejected() {
    let (reg, sets) = setup();
    let t = tasks(&reg, &sets, Category::Single, 2, 5);
    let mut twin = t[0].clone();
    twin.id = "twin".into();
    let eps = run(&reg, &[t[0].clone(), t[1].clone()], Flaw::None, 8);
    let twin_ep = run(&reg, &[twin], Flaw::None, 8);
    let mut d = Dedup::new(0.9);
    assert!(d.check(&eps[0]).is_ok());
    assert!(
        d.check(&eps[1]).is_ok(),
        "a different task is not a duplicate"
    );
    let r = d.check(&twin_ep[0]).unwrap_err();
    assert_eq!(r.reason, Reason::NearDuplicate);
}

#[test]
fn synthesize_with_writes_loadable_files() {
    let dir = tempfile::tempdir().unwrap();
    // SYNTH_TEST_OUT keeps the files for inspection (e.g. loading them with HF datasets).
    let out = match std::env::var_os("SYNTH_TEST_OUT") {
        Some(p) => PathBuf::from(p),
        None => dir.path().join("data.jsonl"),
    };
    let text = format!(
        "[run]\nname = \"t\"\nseed = 4\n[model]\nsource = \"none\"\n[synth]\nepisodes = 16\nbatch_size = 4\nspecs = [\"{}\"]\n[synth.toolsets]\nembedding = \"hashed\"\n",
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs").display()
    );
    let cfg = trainer::config::Config::from_toml(&text, std::path::Path::new("t.toml")).unwrap();
    // The oracle needs the tasks: plan them exactly as synthesize_with will.
    let tools = tools();
    let known: Mutex<Vec<Task>> = Mutex::new(Vec::new());
    {
        let reg = Registry::new(tools.clone()).unwrap();
        let sets = trainer::synth::pool::tool_pool(&cfg, tools.clone(), None, None)
            .unwrap()
            .toolsets;
        let counts: Vec<(Category, usize)> = cfg
            .synth
            .categories
            .split(16)
            .into_iter()
            .map(|(n, k)| (Category::parse(n).unwrap(), k))
            .collect();
        let p = plan(
            &reg,
            &sets,
            &PlanOptions {
                seed: 4,
                counts,
                optional_arg_prob: 0.3,
                max_parallel: 3,
                max_offered: 5,
                max_chain: 3,
                ..PlanOptions::default()
            },
        );
        *known.lock().unwrap() = p.tasks;
    }
    let oracle_reg = Registry::new(tools.clone()).unwrap();
    let backend = ScriptedBackend::new(|req: &ChatRequest| {
        let first_user = req
            .messages
            .iter()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default();
        let tasks = known.lock().unwrap();
        match tasks.iter().find(|t| t.request == first_user) {
            Some(t) => oracle(&oracle_reg, t, &req.messages, Flaw::None),
            None => Scripted::text("?"),
        }
    });
    let o = trainer::synth::run::synthesize_with(&cfg, tools, &backend, None, &out, false).unwrap();
    assert_eq!(o.stats.total.episodes, 16);
    assert_eq!(o.stats.total.accepted, 16, "{}", o.stats);
    let lines: Vec<Json> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), o.stats.total.accepted);
    for l in &lines {
        assert!(l["messages"].is_array() && l["tools"].is_array());
        assert_eq!(l["tools"][0]["type"], "function");
    }
    let tokens = std::fs::read_to_string(&o.files.tokens).unwrap();
    assert_eq!(tokens.lines().count(), lines.len());
    let first: Json = serde_json::from_str(tokens.lines().next().unwrap()).unwrap();
    assert!(first["turns"][0]["prompt_ids"].is_array() && first["flat"]["loss_mask"].is_array());
    let stats: Json =
        serde_json::from_str(&std::fs::read_to_string(&o.files.stats).unwrap()).unwrap();
    assert_eq!(stats["total"]["episodes"], 16);
    assert_eq!(
        std::fs::read_to_string(&o.files.tasks)
            .unwrap()
            .lines()
            .count(),
        16
    );
    assert!(
        std::fs::read_to_string(&o.files.toolsets)
            .unwrap()
            .lines()
            .count()
            >= 2
    );
    let rejected = std::fs::read_to_string(&o.files.rejected).unwrap();
    assert_eq!(rejected.lines().count(), 16 - lines.len());
    // The shipped specs hold no redundant tools: the refinement's record is empty.
    assert_eq!(std::fs::read_to_string(&o.files.refine).unwrap(), "");
    hf_loads(&out, &lines);
    sharegpt_export(&out, &lines);
}

/// `trainer sharegpt` writes every trajectory in LLaMA-Factory's ShareGPT layout: its reader's
/// turn rules hold, and every call and result is there.
fn sharegpt_export(out: &std::path::Path, lines: &[Json]) {
    let sg = out.with_file_name("sharegpt.jsonl");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
        .arg("sharegpt")
        .arg(out)
        .arg("--out")
        .arg(&sg)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("ShareGPT: {} records written", lines.len())),
        "{stderr}"
    );
    let records: Vec<Json> = std::fs::read_to_string(&sg)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), lines.len());
    for (r, l) in records.iter().zip(lines) {
        let turns = r["conversations"].as_array().unwrap();
        trainer::synth::sharegpt::check_turns(turns).unwrap();
        let msgs = l["messages"].as_array().unwrap();
        assert_eq!(r["system"], msgs[0]["content"]);
        let tools: Json = serde_json::from_str(r["tools"].as_str().unwrap()).unwrap();
        assert_eq!(
            tools.as_array().unwrap().len(),
            l["tools"].as_array().unwrap().len()
        );
        let count = |from: &str| turns.iter().filter(|t| t["from"] == from).count();
        let calls_in = msgs
            .iter()
            .filter_map(|m| m.get("tool_calls").and_then(Json::as_array))
            .filter(|c| !c.is_empty());
        assert_eq!(count("function_call"), calls_in.clone().count());
        let calls: usize = turns
            .iter()
            .filter(|t| t["from"] == "function_call")
            .map(
                |t| match serde_json::from_str::<Json>(t["value"].as_str().unwrap()).unwrap() {
                    Json::Array(a) => a.len(),
                    _ => 1,
                },
            )
            .sum();
        assert_eq!(calls, calls_in.map(Vec::len).sum::<usize>());
        let users = msgs.iter().filter(|m| m["role"] == "user").count();
        assert_eq!(count("human"), users);
    }
}

/// The official consumers as oracles: HF `datasets` loads the file and the transformers Qwen3
/// chat template renders every row (skipped when the peers venv or the tokenizer is absent).
fn hf_loads(out: &std::path::Path, lines: &[Json]) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".cache/venv-peers/bin/python");
    let tokenizer = trainer::assets::qwen3_tokenizer_dir();
    if !python.is_file() || !tokenizer.join("tokenizer_config.json").is_file() {
        println!("skipped the HF check: no peers venv (scripts/setup-peers.sh) or Qwen3 tokenizer");
        return;
    }
    let o = std::process::Command::new(python)
        .arg(root.join("tests/fixtures/synth/load_with_hf.py"))
        .arg(out)
        .arg(tokenizer)
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_DATASETS_OFFLINE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let report: Json = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["rows"], lines.len());
    assert_eq!(
        report["columns"],
        json!(["category", "id", "messages", "task_id", "tools"])
    );
    let calls: usize = lines
        .iter()
        .flat_map(|l| l["messages"].as_array().unwrap())
        .filter_map(|m| m.get("tool_calls"))
        .map(|c| c.as_array().unwrap().len())
        .sum();
    assert_eq!(report["rendered_tool_calls"], calls);
}
