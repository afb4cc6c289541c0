//! The Task Generation Agent: scenarios (persona, difficulty) shape the planned tasks, and
//! self-reflection revises or drops flawed drafts — in the planner and in the LLM user.

use std::path::{Path, PathBuf};

use serde_json::{json, Value as Json};
use trainer::backend::ChatRequest;
use trainer::config::Config;
use trainer::specs::{ingest_paths, IngestOptions, Tool};
use trainer::synth::llm::LlmUser;
use trainer::synth::plan::{plan, Category, PlanOptions, Task};
use trainer::synth::reflect::{critique_task, states_exactly, Flaw};
use trainer::synth::scenario::{Difficulty, Style};
use trainer::synth::scripted::{Scripted, ScriptedBackend};
use trainer::synth::user::{decide, UserAction, UserTurn};
use trainer::synth::{expand_spec_paths, schema, Registry, UserSimulator};
use trainer::toolsets::{by_api, Toolset};

fn shipped() -> (Registry, Vec<Toolset>) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs");
    let paths = expand_spec_paths(&[root]).unwrap();
    let tools = ingest_paths(&paths, &IngestOptions::default()).tools;
    let sets = by_api(&tools, 8);
    (Registry::new(tools).unwrap(), sets)
}

fn opts(seed: u64, n: usize, difficulty: [f64; 3]) -> PlanOptions {
    PlanOptions {
        seed,
        counts: Category::ALL.iter().map(|&c| (c, n)).collect(),
        difficulty,
        ..PlanOptions::default()
    }
}

fn tool(name: &str, description: &str, parameters: Json) -> Tool {
    Tool::function("t.json", name, description, parameters)
}

fn required_of(reg: &Registry, name: &str) -> Vec<String> {
    let e = reg.get(name).unwrap();
    schema::required(&schema::effective(&e.tool.parameters))
}

#[test]
fn difficulty_levels_shape_the_blueprints() {
    let (reg, sets) = shipped();
    let easy = plan(&reg, &sets, &opts(3, 12, [1.0, 0.0, 0.0]));
    let hard = plan(&reg, &sets, &opts(3, 12, [0.0, 0.0, 1.0]));
    assert!(easy.tasks.len() > 80 && hard.tasks.len() > 80);
    for t in &easy.tasks {
        assert_eq!(t.difficulty, Difficulty::Easy);
        // Only required arguments; at most one distractor beside the needed tools.
        for s in &t.steps {
            let req = required_of(&reg, &s.tool);
            assert!(
                s.arguments.keys().all(|k| req.contains(k)),
                "{}: {:?}",
                t.id,
                s.arguments
            );
        }
        let needed: std::collections::BTreeSet<&str> =
            t.steps.iter().map(|s| s.tool.as_str()).collect();
        assert!(
            t.tools.len() <= needed.len().max(2),
            "{}: {:?}",
            t.id,
            t.tools
        );
        match t.category {
            Category::Parallel => assert_eq!(t.steps.len(), 2, "{}", t.id),
            Category::MultiStep => assert_eq!(t.steps.len(), 2, "{}", t.id),
            _ => {}
        }
    }
    let count = |p: &trainer::synth::Plan, c: Category| {
        p.tasks
            .iter()
            .filter(|t| t.category == c)
            .map(|t| t.steps.len())
            .sum::<usize>()
    };
    // Hard tasks make the most parallel calls and prefer three-step chains; they offer more tools
    // and ask for optional arguments.
    assert!(hard.tasks.iter().all(|t| t.difficulty == Difficulty::Hard));
    assert!(hard
        .tasks
        .iter()
        .filter(|t| t.category == Category::Parallel)
        .all(|t| t.steps.len() == 3));
    assert!(count(&hard, Category::MultiStep) > count(&easy, Category::MultiStep));
    let offered = |p: &trainer::synth::Plan| p.tasks.iter().map(|t| t.tools.len()).sum::<usize>();
    assert!(
        offered(&hard) > offered(&easy) + 100,
        "{} vs {}",
        offered(&hard),
        offered(&easy)
    );
    let optional = hard.tasks.iter().flat_map(|t| &t.steps).any(|s| {
        let req = required_of(&reg, &s.tool);
        s.arguments.keys().any(|k| !req.contains(k))
    });
    assert!(optional);
}

#[test]
fn personas_frame_the_request_without_changing_the_blueprint() {
    let (reg, sets) = shipped();
    let medium = [0.0, 1.0, 0.0];
    let framed = plan(&reg, &sets, &opts(5, 6, medium));
    let plain = plan(
        &reg,
        &sets,
        &PlanOptions {
            personas: false,
            ..opts(5, 6, medium)
        },
    );
    assert_eq!(framed.tasks.len(), plain.tasks.len());
    let mut chatty = 0;
    for (f, p) in framed.tasks.iter().zip(&plain.tasks) {
        assert_eq!(
            (&f.steps, &f.tools, &f.facts, &f.withheld),
            (&p.steps, &p.tools, &p.facts, &p.withheld)
        );
        // Without personas the request is the need itself.
        assert!(p.persona.is_none() && p.need.is_empty());
        assert_eq!(f.need, p.request);
        assert!(f.request.contains(&f.need), "{}", f.request);
        let persona = f.persona.as_ref().unwrap();
        if persona.style == Style::Chatty {
            chatty += 1;
            assert!(f.request.contains(&persona.role), "{}", f.request);
        }
        assert!(critique_task(f, &reg).is_empty(), "{}", f.request);
    }
    assert!(chatty > 3);
}

#[test]
fn self_reflection_revises_drafts_that_leak_the_withheld_value() {
    // The only mode is in the description: withholding it cannot work, withholding the room can.
    let tools = vec![tool(
        "set_heating_mode",
        "Set the heating mode of a room; only eco is supported.",
        json!({"type": "object", "properties": {
            "mode": {"type": "string", "enum": ["eco"]},
            "room": {"type": "string"}
        }, "required": ["mode", "room"]}),
    )];
    let sets = by_api(&tools, 8);
    let reg = Registry::new(tools).unwrap();
    let o = |max_revisions| PlanOptions {
        seed: 1,
        counts: vec![(Category::MissingParam, 24)],
        max_revisions,
        ..PlanOptions::default()
    };
    let strict = plan(&reg, &sets, &o(0));
    let revised = plan(&reg, &sets, &o(6));
    assert!(strict.reflection.dropped > 0);
    assert_eq!(
        strict
            .unplannable
            .get(&Category::MissingParam)
            .copied()
            .unwrap_or(0),
        strict.reflection.dropped
    );
    assert!(strict.reflection.flaws["leaked_withheld"] >= strict.reflection.dropped);
    assert!(revised.reflection.revised > 0);
    assert!(revised.tasks.len() > strict.tasks.len());
    for t in strict.tasks.iter().chain(&revised.tasks) {
        let w = t.withheld.as_ref().unwrap();
        assert_eq!(w.argument, "room", "{}", t.request);
        assert!(!states_exactly(&t.request, &w.value));
    }
    assert!(revised.tasks.iter().any(|t| t.revisions > 0));
}

#[test]
fn self_reflection_drops_tasks_whose_tools_cannot_be_told_apart() {
    let params =
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    let tools = vec![
        tool(
            "get_forecast",
            "Get the weather forecast for a city.",
            params.clone(),
        ),
        tool(
            "fetch_forecast",
            "Get the weather forecast for a city.",
            params.clone(),
        ),
        tool(
            "tell_joke",
            "Tell a short joke about an animal.",
            json!({"type": "object", "properties": {"animal": {"type": "string"}}, "required": ["animal"]}),
        ),
    ];
    let sets: Vec<Toolset> = by_api(&tools, 8);
    let reg = Registry::new(tools).unwrap();
    let p = plan(
        &reg,
        &sets,
        &PlanOptions {
            seed: 2,
            counts: vec![(Category::Single, 5), (Category::Multiple, 5)],
            max_revisions: 2,
            ..PlanOptions::default()
        },
    );
    // Single offers one tool; a Multiple task that expects one forecast twin and offers the
    // other is a guess, and is redrawn.
    let multiple: Vec<&Task> = p
        .tasks
        .iter()
        .filter(|t| t.category == Category::Multiple)
        .collect();
    assert_eq!(p.tasks.len() - multiple.len(), 5);
    assert!(!multiple.is_empty());
    for t in &multiple {
        let twins = t.tools.iter().filter(|n| n.ends_with("_forecast")).count();
        assert!(twins < 2 || t.steps[0].tool == "tell_joke", "{:?}", t.tools);
    }
    assert!(p.reflection.flaws["ambiguous_tools"] > 0);

    // An "irrelevant" request the offered tools do cover.
    let mut t = p.tasks[0].clone();
    t.category = Category::Irrelevance;
    t.steps.clear();
    t.facts.clear();
    t.tools = vec!["tell_joke".into()];
    t.request = "Tell me a short joke about penguins.".into();
    t.need.clear();
    let flaws = critique_task(&t, &reg);
    assert!(
        matches!(flaws.as_slice(), [Flaw::RelevantAfterAll { .. }]),
        "{flaws:?}"
    );
    t.request = "What is the capital of Australia?".into();
    assert!(critique_task(&t, &reg).is_empty());
}

/// The first user message of a request (the need given to the LLM user).
fn need_of(r: &ChatRequest) -> String {
    r.messages[1]["content"].as_str().unwrap_or("").to_string()
}

#[test]
fn the_llm_user_revises_a_flawed_message_once_then_falls_back() {
    let (reg, sets) = shipped();
    let planned = plan(
        &reg,
        &sets,
        &PlanOptions {
            counts: vec![(Category::Single, 4), (Category::MissingParam, 2)],
            ..opts(9, 0, [1.0, 1.0, 1.0])
        },
    );
    let tasks: Vec<&Task> = planned.tasks.iter().collect();
    assert_eq!(tasks.len(), 6);
    // A model that forgets the values, then follows the critique.
    let critiques = std::sync::Mutex::new(Vec::new());
    let learner = ScriptedBackend::new(|r: &ChatRequest| {
        if r.messages.len() == 2 {
            return Scripted::text("Hi, can you help me with something?");
        }
        critiques
            .lock()
            .unwrap()
            .push(r.messages[3]["content"].as_str().unwrap().to_string());
        Scripted::text(need_of(r))
    });
    let gen = trainer::backend::GenParams {
        sampling: trainer::engine::SamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
        },
        max_new_tokens: 64,
    };
    let user = LlmUser::new(&learner, gen);
    let out = user.opening(&tasks).unwrap();
    for (t, o) in tasks.iter().zip(&out) {
        assert_eq!(o, t.need(), "{}", t.id);
    }
    assert_eq!(user.revised.load(std::sync::atomic::Ordering::Relaxed), 6);
    assert_eq!(user.fallbacks.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert_eq!(user.drafted.load(std::sync::atomic::Ordering::Relaxed), 6);
    let flaws = user.flaws.lock().unwrap().clone();
    assert!(
        flaws.get("missing_value").is_some_and(|&n| n >= 4),
        "{flaws:?}"
    );
    assert_eq!(learner.batches(), 2);
    let c = critiques.lock().unwrap();
    assert!(
        c.iter()
            .all(|c| c.contains("leaves out the") || c.contains("keeps only")),
        "{c:?}"
    );
    // The system prompt carries the persona.
    let stubborn = ScriptedBackend::new(|r: &ChatRequest| {
        let system = r.messages[0]["content"].as_str().unwrap();
        assert!(
            system.contains("You are a") || system.contains("You are an"),
            "{system}"
        );
        Scripted::text("Hi, can you help me with something?")
    });
    let user = LlmUser::new(&stubborn, gen);
    let out = user.opening(&tasks).unwrap();
    for (t, o) in tasks.iter().zip(&out) {
        assert_eq!(o, &t.request);
    }
    assert_eq!(user.fallbacks.load(std::sync::atomic::Ordering::Relaxed), 6);
    // A rewrite that gives away the withheld value is a flaw too.
    let leaky = ScriptedBackend::new(|r: &ChatRequest| {
        let t = tasks.iter().find(|t| t.need() == need_of(r)).unwrap();
        let w = t
            .withheld
            .as_ref()
            .map(|w| format!(" ({})", trainer::synth::phrasing::render_value(&w.value)));
        Scripted::text(format!("{}{}", t.need(), w.unwrap_or_default()))
    });
    let user = LlmUser::new(&leaky, gen);
    user.opening(&tasks).unwrap();
    assert_eq!(user.fallbacks.load(std::sync::atomic::Ordering::Relaxed), 2);
    let flaws = user.flaws.lock().unwrap().clone();
    assert_eq!(flaws.get("leaked_withheld"), Some(&2), "{flaws:?}");
}

#[test]
fn the_user_answers_in_the_personas_style() {
    let (reg, sets) = shipped();
    let planned = plan(
        &reg,
        &sets,
        &PlanOptions {
            counts: vec![(Category::MissingParam, 30)],
            ..opts(11, 0, [1.0, 1.0, 1.0])
        },
    );
    let question = [json!({"role": "assistant", "content": "Which one do you mean?"})];
    let mut chatty = 0;
    for t in &planned.tasks {
        let turn = UserTurn {
            task: t,
            messages: &question,
            goal_met: false,
            revealed: false,
            confirmed: false,
            seed: 3,
        };
        let UserAction::Reveal(text) = decide(&turn) else {
            panic!("no reveal for {}", t.id)
        };
        let w = t.withheld.as_ref().unwrap();
        assert!(trainer::synth::reflect::mentions(&text, &w.value), "{text}");
        if t.persona.as_ref().unwrap().style == Style::Chatty {
            chatty += 1;
            assert!(
                ["Oh, of course!", "Sure thing.", "Ah, good question."]
                    .iter()
                    .any(|p| text.starts_with(p)),
                "{text}"
            );
        }
    }
    assert!(chatty > 3);
}

#[test]
fn task_files_written_before_scenarios_still_load() {
    let old = json!({
        "id": "syn-single-0-00000", "category": "single", "toolset": "ts", "tools": ["f"],
        "request": "Please get the weather with city Paris.", "facts": [], "steps": [], "seed": 1
    });
    let t: Task = serde_json::from_value(old).unwrap();
    assert_eq!(t.difficulty, Difficulty::Medium);
    assert_eq!(t.need(), "Please get the weather with city Paris.");
    assert!(t.persona.is_none());
}

fn config_error(extra: &str) -> String {
    // The default config without its own `[synth.scenarios]` table, then the one under test.
    let mut inside = false;
    let base: String = trainer::config::DEFAULT_TOML
        .lines()
        .filter(|l| {
            if l.starts_with('[') {
                inside = l.starts_with("[synth.scenarios");
            }
            !inside
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let text = format!("{base}\n[synth.scenarios]\n{extra}");
    match Config::from_toml(&text, Path::new("cfg.toml")) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn scenario_settings_are_validated_with_the_key_and_value() {
    assert_eq!(config_error("personas = false\nmax_revisions = 0\n"), "");
    for (extra, want) in [
        (
            "difficulty = { hard = -1.0 }\n",
            "scenarios.difficulty.hard",
        ),
        (
            "difficulty = { easy = 0.0, medium = 0.0, hard = 0.0 }\n",
            "scenarios.difficulty",
        ),
        ("max_revisions = 99\n", "scenarios.max_revisions"),
        ("persona = true\n", "unknown field `persona`"),
    ] {
        let e = config_error(extra);
        assert!(e.contains(want) && e.contains("cfg.toml"), "{extra}: {e}");
    }
}
