//! The rewards of `src/reward` on real episodes: each episode runs through the three-agent loop
//! (`run_episodes` with the programmatic user and server simulators) with a scripted assistant
//! (the test double of `synth::scripted`) playing a crafted output, for every category and every
//! gate, including adversarial outputs. Tasks are written by hand over the tools of
//! `tests/fixtures/reward/shop.mcp.json` so that each expected value can be derived by hand
//! from the documented default weights (format 0.1, function 0.2, arguments 0.4, workflow 0.1,
//! answer 0.2; total = Σ wᵢ·cᵢ / Σ wᵢ). The last two tests run planned tasks of every category
//! over `specs/` with an oracle assistant: verifier-accepted ⇒ gated total == 1.0, and with a
//! flawed oracle (vague answer, a dropped call, made-up gated values) total == 1.0 exactly when
//! the verifier accepts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value as Json};
use trainer::backend::{ChatRequest, GenParams};
use trainer::chat::{render_tool_calls, ToolCall};
use trainer::config::Config;
use trainer::engine::SamplingParams;
use trainer::reward::{
    score, score_all, FormatReward, GatedReward, RewardOutcome, RewardSpec, Stage, TurnsReward,
};
use trainer::specs::{ingest_paths, IngestOptions};
use trainer::synth::episode::{run_episodes, Agents, Episode, EpisodeConfig};
use trainer::synth::links::Link;
use trainer::synth::plan::{plan, Category, Fact, InjectedError, PlanOptions, Step, Task};
use trainer::synth::scripted::{Scripted, ScriptedBackend};
use trainer::synth::verify::{verify, Reason};
use trainer::synth::{expand_spec_paths, ProgrammaticUser, Registry, SchemaResults};
use trainer::toolsets::by_api;

// Default stage weights, as documented (src/config/rewards.rs, README "Rewards").
const F: f64 = 0.1;
const FN: f64 = 0.2;
const A: f64 = 0.4;
const ANS: f64 = 0.2;

fn registry() -> Registry {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/reward/shop.mcp.json");
    let tools = ingest_paths(&[path], &IngestOptions::default()).tools;
    assert_eq!(tools.len(), 5);
    Registry::new(tools).unwrap()
}

fn obj(v: Json) -> Map<String, Json> {
    v.as_object().cloned().unwrap()
}

fn step(tool: &str, args: Json) -> Step {
    Step {
        tool: tool.into(),
        arguments: obj(args),
        links: Vec::new(),
    }
}

fn task(category: Category, tools: &[&str], request: &str, steps: Vec<Step>) -> Task {
    let facts = steps
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            s.arguments.iter().map(move |(k, v)| Fact {
                step: i,
                argument: k.clone(),
                value: v.clone(),
            })
        })
        .collect();
    Task {
        id: format!("t-{category}"),
        category,
        toolset: "shop".into(),
        tools: tools.iter().map(|t| t.to_string()).collect(),
        request: request.into(),
        facts,
        steps,
        need: String::new(),
        difficulty: Default::default(),
        persona: None,
        revisions: 0,
        withheld: None,
        inject_error: None,
        foreign_tool: None,
        seed: 7,
    }
}

fn single() -> Task {
    task(
        Category::Single,
        &["get_weather"],
        "What's the weather in Paris for the next 3 days?",
        vec![step("get_weather", json!({"city": "Paris", "days": 3}))],
    )
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

/// Runs one real episode of `task` with the assistant's outputs given by `script(messages)`.
fn episode_with(
    reg: &Registry,
    task: &Task,
    max_turns: usize,
    script: impl Fn(&[Json]) -> Scripted,
) -> Episode {
    let backend = ScriptedBackend::new(|r: &ChatRequest| script(&r.messages));
    let agents = Agents {
        policy: &backend,
        user: &ProgrammaticUser,
        server: &SchemaResults,
    };
    let mut eps = run_episodes(
        reg,
        std::slice::from_ref(task),
        &agents,
        &cfg(max_turns),
        &mut |_| {},
    )
    .unwrap();
    eps.pop().unwrap()
}

fn episode(reg: &Registry, task: &Task, script: impl Fn(&[Json]) -> Scripted) -> Episode {
    episode_with(reg, task, 8, script)
}

/// Assistant turns so far.
fn turn(m: &[Json]) -> usize {
    m.iter().filter(|x| x["role"] == "assistant").count()
}

/// Tool results so far, in order.
fn results(m: &[Json]) -> Vec<Json> {
    m.iter()
        .filter(|x| x["role"] == "tool")
        .map(|x| serde_json::from_str(x["content"].as_str().unwrap()).unwrap())
        .collect()
}

fn calls(list: &[(&str, Json)]) -> Scripted {
    let calls: Vec<ToolCall> = list
        .iter()
        .map(|(n, a)| ToolCall::new(n.to_string(), obj(a.clone())))
        .collect();
    Scripted::text(render_tool_calls("", &calls))
}

fn leaves(v: &Json, out: &mut Vec<String>) {
    match v {
        Json::Array(a) => a.iter().for_each(|x| leaves(x, out)),
        Json::Object(m) => m.values().for_each(|x| leaves(x, out)),
        Json::String(s) => out.push(s.clone()),
        Json::Number(n) => out.push(n.to_string()),
        _ => {}
    }
}

/// A final answer quoting every value the tools returned.
fn answer(m: &[Json]) -> Scripted {
    let mut vals = Vec::new();
    for r in results(m) {
        leaves(&r, &mut vals);
    }
    Scripted::text(format!("Here is what I found: {}.", vals.join(", ")))
}

/// A boxed assistant script.
type Script = Box<dyn Fn(&[Json]) -> Scripted>;

fn gated(reg: &Registry, ep: &Episode) -> RewardOutcome {
    score(&RewardSpec::Gated(GatedReward::default()), reg, ep)
}

#[track_caller]
fn assert_total(o: &RewardOutcome, want: f64) {
    let got = o.total.expect("scorable");
    assert!(
        (got - want).abs() < 1e-12,
        "total {got}, want {want}: {o:#?}"
    );
}

#[track_caller]
fn assert_failed(o: &RewardOutcome, stage: Stage) {
    let f = o.failed.as_ref().expect("a failed stage");
    assert_eq!(f.stage, stage, "{o:#?}");
    assert!(!f.detail.is_empty());
}

fn rejected(reg: &Registry, ep: &Episode) -> Reason {
    verify(reg, ep).expect_err("the verifier rejects it").reason
}

// ---------------------------------------------------------------- single

#[test]
fn single_perfect_scores_one_even_with_text_before_the_call() {
    let reg = registry();
    let t = single();
    for prefix in ["", "Let me check that for you.\n"] {
        let ep = episode(&reg, &t, |m| match turn(m) {
            0 => {
                let c = calls(&[("get_weather", json!({"city": "Paris", "days": 3}))]);
                Scripted::text(format!("{prefix}{}", c.text))
            }
            _ => answer(m),
        });
        assert!(verify(&reg, &ep).is_ok(), "{:?}", verify(&reg, &ep));
        let o = gated(&reg, &ep);
        assert_total(&o, 1.0);
        assert_eq!(o.passed, Stage::ALL.to_vec());
        assert!(o.failed.is_none());
        assert_eq!(o.components.len(), 5);
        assert!(o.components.values().all(|&v| v == 1.0));
    }
}

#[test]
fn format_gate_zeroes_everything() {
    let reg = registry();
    let t = single();
    // Prose after the call block.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => {
            let c = calls(&[("get_weather", json!({"city": "Paris", "days": 3}))]);
            Scripted::text(format!("{}\nI hope this helps!", c.text))
        }
        _ => answer(m),
    });
    let o = gated(&reg, &ep);
    assert_total(&o, 0.0);
    assert_failed(&o, Stage::Format);
    assert!(o.components.values().all(|&v| v == 0.0));
    // Unparseable JSON in the block.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => Scripted::text("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\n"),
        _ => answer(m),
    });
    assert_total(&gated(&reg, &ep), 0.0);
    // A hallucinated tool.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[("get_forecast", json!({"city": "Paris", "days": 3}))]),
        _ => answer(m),
    });
    let o = gated(&reg, &ep);
    assert_total(&o, 0.0);
    assert_failed(&o, Stage::Format);
    assert!(o.failed.unwrap().detail.contains("get_forecast"));
    // Cut by the token limit.
    let ep = episode(&reg, &t, |_| Scripted {
        text: "Let me think about this very".into(),
        stopped: false,
    });
    assert_total(&gated(&reg, &ep), 0.0);
}

#[test]
fn wrong_types_are_wrong_arguments() {
    let reg = registry();
    let t = single();
    // "3" for the integer 3: the server refuses the call (schema), which earns no argument
    // credit: format + function = 0.1 + 0.2.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[("get_weather", json!({"city": "Paris", "days": "3"}))]),
        _ => answer(m),
    });
    assert_eq!(rejected(&reg, &ep), Reason::InvalidArguments);
    let o = gated(&reg, &ep);
    assert_total(&o, F + FN);
    assert_failed(&o, Stage::Arguments);
    assert_eq!(o.components["arguments"], 0.0);
    // 3.0 for an integer: schema-valid, but a float for an integer is a type error (BFCL):
    // one of two arguments right: 0.3 + 0.4 · 1/2.
    let ep = episode(&reg, &t, |m| {
        match turn(m) {
        0 => Scripted::text(
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 3.0}}\n</tool_call>",
        ),
        _ => answer(m),
    }
    });
    assert_eq!(ep.calls[0].status, trainer::synth::CallStatus::Ok);
    assert_total(&gated(&reg, &ep), F + FN + A * 0.5);
    // A string for an integer where the schema allows both types: the server accepts it, the
    // reward does not ("12345" is not 12345): 0.3 + 0.4 · 1/2.
    let t = task(
        Category::Single,
        &["track_package"],
        "Where is my DHL parcel 12345?",
        vec![step(
            "track_package",
            json!({"tracking": 12345, "carrier": "dhl"}),
        )],
    );
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[(
            "track_package",
            json!({"tracking": "12345", "carrier": "dhl"}),
        )]),
        _ => answer(m),
    });
    assert_eq!(ep.calls[0].status, trainer::synth::CallStatus::Ok);
    let o = gated(&reg, &ep);
    assert_total(&o, F + FN + A * 0.5);
    assert!(o.failed.unwrap().detail.contains("tracking"));
    // An integer where a number is expected is fine (BFCL: int for float).
    let t = task(
        Category::Single,
        &["convert_currency"],
        "Convert 100 USD to EUR.",
        vec![step(
            "convert_currency",
            json!({"amount": 100.0, "from_currency": "USD", "to_currency": "EUR"}),
        )],
    );
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[(
            "convert_currency",
            json!({"amount": 100, "from_currency": "usd", "to_currency": "EUR"}),
        )]),
        _ => answer(m),
    });
    assert_total(&gated(&reg, &ep), 1.0);
}

#[test]
fn argument_credit_is_per_argument() {
    let reg = registry();
    let t = single();
    let run = |args: Json| {
        episode(&reg, &t, move |m| match turn(m) {
            0 => calls(&[("get_weather", args.clone())]),
            _ => answer(m),
        })
    };
    // A wrong city: 1 of 2 right; workflow and answer are gated off.
    let ep = run(json!({"city": "Lyon", "days": 3}));
    assert_eq!(rejected(&reg, &ep), Reason::WrongArguments);
    let o = gated(&reg, &ep);
    assert_total(&o, F + FN + A * 0.5);
    assert_failed(&o, Stage::Arguments);
    assert_eq!(o.components["workflow"], 0.0);
    assert_eq!(o.components["answer"], 0.0);
    // Strings are normalized (case, spacing, a final period).
    assert_total(
        &gated(&reg, &run(json!({"city": " paris. ", "days": 3}))),
        1.0,
    );
    // An optional argument nobody asked for, at its schema default: ignored.
    assert_total(
        &gated(
            &reg,
            &run(json!({"city": "Paris", "days": 3, "units": "metric"})),
        ),
        1.0,
    );
    // ... at another value: an unexpected argument, 2 of 3 items right.
    assert_total(
        &gated(
            &reg,
            &run(json!({"city": "Paris", "days": 3, "units": "imperial"})),
        ),
        F + FN + A * 2.0 / 3.0,
    );
    // A requested optional argument left out: 2 of 3 right; left out while the requested value
    // is the schema default: right.
    for (units, want) in [("imperial", F + FN + A * 2.0 / 3.0), ("metric", 1.0)] {
        let t = task(
            Category::Single,
            &["get_weather"],
            &format!("Weather in Paris for 3 days, {units} units please."),
            vec![step(
                "get_weather",
                json!({"city": "Paris", "days": 3, "units": units}),
            )],
        );
        let ep = episode(&reg, &t, |m| match turn(m) {
            0 => calls(&[("get_weather", json!({"city": "Paris", "days": 3}))]),
            _ => answer(m),
        });
        assert_total(&gated(&reg, &ep), want);
    }
}

#[test]
fn function_gate_counts_calls() {
    let reg = registry();
    let t = single();
    // A duplicated call.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[
            ("get_weather", json!({"city": "Paris", "days": 3})),
            ("get_weather", json!({"city": "Paris", "days": 3})),
        ]),
        _ => answer(m),
    });
    assert_eq!(rejected(&reg, &ep), Reason::ExtraCall);
    let o = gated(&reg, &ep);
    assert_total(&o, F);
    assert_failed(&o, Stage::Function);
    assert_eq!(o.passed, vec![Stage::Format]);
    // No call at all.
    let ep = episode(&reg, &t, |_| {
        Scripted::text("You should check a weather website.")
    });
    assert_eq!(rejected(&reg, &ep), Reason::MissingCall);
    assert_total(&gated(&reg, &ep), F);
}

#[test]
fn answer_check_is_last() {
    let reg = registry();
    let t = single();
    let call = || calls(&[("get_weather", json!({"city": "Paris", "days": 3}))]);
    // A vague answer: everything but the answer stage.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => call(),
        _ => Scripted::text("All done!"),
    });
    assert_eq!(rejected(&reg, &ep), Reason::AnswerInconsistent);
    let o = gated(&reg, &ep);
    assert_total(&o, 1.0 - ANS);
    assert_failed(&o, Stage::Answer);
    // An answer that only repeats what the user said (the city) is vague too.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => call(),
        _ => Scripted::text("The weather in Paris is as shown."),
    });
    assert_total(&gated(&reg, &ep), 1.0 - ANS);
    // No final answer (the turn limit ends it after the call).
    let ep = episode_with(&reg, &t, 1, |_| call());
    assert_eq!(rejected(&reg, &ep), Reason::NoFinalAnswer);
    assert_total(&gated(&reg, &ep), 1.0 - ANS);
}

// ---------------------------------------------------------------- parallel, multiple

fn parallel() -> Task {
    task(
        Category::Parallel,
        &["get_weather"],
        "Weather for Paris (3 days) and Tokyo (5 days)?",
        vec![
            step("get_weather", json!({"city": "Paris", "days": 3})),
            step("get_weather", json!({"city": "Tokyo", "days": 5})),
        ],
    )
}

#[test]
fn parallel_calls_in_any_order() {
    let reg = registry();
    let t = parallel();
    let run = |list: Vec<(&'static str, Json)>| {
        episode(&reg, &t, move |m| match turn(m) {
            0 => calls(&list),
            _ => answer(m),
        })
    };
    let paris = ("get_weather", json!({"city": "Paris", "days": 3}));
    let tokyo = ("get_weather", json!({"city": "Tokyo", "days": 5}));
    for list in [
        vec![paris.clone(), tokyo.clone()],
        vec![tokyo.clone(), paris.clone()],
    ] {
        let ep = run(list);
        assert!(verify(&reg, &ep).is_ok());
        assert_total(&gated(&reg, &ep), 1.0);
    }
    // Tokyo with the wrong number of days, reordered: (1 + 1/2) / 2 argument credit.
    let ep = run(vec![
        ("get_weather", json!({"city": "Tokyo", "days": 4})),
        paris.clone(),
    ]);
    let o = gated(&reg, &ep);
    assert_total(&o, F + FN + A * 0.75);
    assert_eq!(o.extras["steps_correct"], 1.0);
    // One call missing, or one extra.
    assert_total(&gated(&reg, &run(vec![paris.clone()])), F);
    assert_total(
        &gated(
            &reg,
            &run(vec![paris.clone(), tokyo.clone(), tokyo.clone()]),
        ),
        F,
    );
}

#[test]
fn multiple_needs_the_right_tool() {
    let reg = registry();
    let t = task(
        Category::Multiple,
        &["get_weather", "convert_currency", "track_package"],
        "How much is 100.5 USD in EUR?",
        vec![step(
            "convert_currency",
            json!({"amount": 100.5, "from_currency": "USD", "to_currency": "EUR"}),
        )],
    );
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[(
            "convert_currency",
            json!({"amount": 100.5, "from_currency": "USD", "to_currency": "EUR"}),
        )]),
        _ => answer(m),
    });
    assert_total(&gated(&reg, &ep), 1.0);
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[("get_weather", json!({"city": "Paris", "days": 1}))]),
        _ => answer(m),
    });
    let o = gated(&reg, &ep);
    assert_total(&o, F);
    assert_failed(&o, Stage::Function);
}

#[test]
fn parallel_multiple_reordered_and_partial() {
    let reg = registry();
    let t = task(
        Category::ParallelMultiple,
        &["get_weather", "convert_currency"],
        "Weather in Paris for 3 days, and 100.5 USD in EUR.",
        vec![
            step("get_weather", json!({"city": "Paris", "days": 3})),
            step(
                "convert_currency",
                json!({"amount": 100.5, "from_currency": "USD", "to_currency": "EUR"}),
            ),
        ],
    );
    let conv = (
        "convert_currency",
        json!({"amount": 100.5, "from_currency": "USD", "to_currency": "EUR"}),
    );
    let run = |list: Vec<(&'static str, Json)>| {
        episode(&reg, &t, move |m| match turn(m) {
            0 => calls(&list),
            _ => answer(m),
        })
    };
    let ep = run(vec![
        conv.clone(),
        ("get_weather", json!({"city": "Paris", "days": 3})),
    ]);
    assert!(verify(&reg, &ep).is_ok());
    assert_total(&gated(&reg, &ep), 1.0);
    // The weather call refused by the server ("3" for 3): (0 + 1) / 2.
    let ep = run(vec![
        conv.clone(),
        ("get_weather", json!({"city": "Paris", "days": "3"})),
    ]);
    assert_total(&gated(&reg, &ep), F + FN + A * 0.5);
    // One of the two tools never called.
    assert_total(&gated(&reg, &run(vec![conv.clone()])), F);
}

// ---------------------------------------------------------------- multi_step

fn multi_step() -> Task {
    let mut t = task(
        Category::MultiStep,
        &["search_products", "add_to_cart"],
        "Find a desk lamp and put two of the first result in my cart.",
        vec![
            step("search_products", json!({"query": "desk lamp"})),
            step("add_to_cart", json!({"quantity": 2})),
        ],
    );
    t.steps[1].links.push(Link {
        argument: "product_id".into(),
        from_step: 0,
        pointer: "/products/0/product_id".into(),
        field: "product_id".into(),
    });
    t
}

fn first_product(m: &[Json]) -> Json {
    results(m)[0]["products"][0]["product_id"].clone()
}

#[test]
fn multi_step_dependencies_are_gated() {
    let reg = registry();
    let t = multi_step();
    let search = || calls(&[("search_products", json!({"query": "desk lamp"}))]);
    // The oracle: the id comes from the search result.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => search(),
        1 => calls(&[(
            "add_to_cart",
            json!({"product_id": first_product(m), "quantity": 2}),
        )]),
        _ => answer(m),
    });
    assert!(verify(&reg, &ep).is_ok(), "{:?}", verify(&reg, &ep));
    assert_total(&gated(&reg, &ep), 1.0);
    // A guessed id: the dependent step earns nothing; the search step still counts.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => search(),
        1 => calls(&[("add_to_cart", json!({"product_id": "P-123", "quantity": 2}))]),
        _ => answer(m),
    });
    assert_eq!(rejected(&reg, &ep), Reason::DependencyNotFromResult);
    let o = gated(&reg, &ep);
    assert_total(&o, F + FN + A * 0.5);
    assert_failed(&o, Stage::Workflow);
    assert!(o.failed.unwrap().detail.contains("P-123"));
    // Both calls at once, the id guessed before the search result arrived.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[
            ("search_products", json!({"query": "desk lamp"})),
            ("add_to_cart", json!({"product_id": "P-123", "quantity": 2})),
        ]),
        _ => answer(m),
    });
    let o = gated(&reg, &ep);
    assert_total(&o, F + FN + A * 0.5);
    assert!(o.failed.unwrap().detail.contains("before the result"));
    // A wrong search: the step it feeds earns nothing either, though it used the result.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[("search_products", json!({"query": "floor lamp"}))]),
        1 => calls(&[(
            "add_to_cart",
            json!({"product_id": first_product(m), "quantity": 2}),
        )]),
        _ => answer(m),
    });
    let o = gated(&reg, &ep);
    assert_total(&o, F + FN);
    assert_failed(&o, Stage::Arguments);
}

// ---------------------------------------------------------------- missing_param, irrelevance

fn missing_param() -> Task {
    let mut t = task(
        Category::MissingParam,
        &["get_weather"],
        "What will the weather be like for the next 3 days?",
        vec![step("get_weather", json!({"city": "Oslo", "days": 3}))],
    );
    t.withheld = Some(Fact {
        step: 0,
        argument: "city".into(),
        value: json!("Oslo"),
    });
    t
}

#[test]
fn missing_param_must_ask_first() {
    let reg = registry();
    let t = missing_param();
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => Scripted::text("Which city should I check?"),
        1 => calls(&[("get_weather", json!({"city": "Oslo", "days": 3}))]),
        _ => answer(m),
    });
    assert!(verify(&reg, &ep).is_ok(), "{:?}", verify(&reg, &ep));
    assert_total(&gated(&reg, &ep), 1.0);
    // Guessing the city instead of asking.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[("get_weather", json!({"city": "London", "days": 3}))]),
        _ => answer(m),
    });
    assert_eq!(rejected(&reg, &ep), Reason::PrematureCall);
    let o = gated(&reg, &ep);
    assert_total(&o, F);
    assert_failed(&o, Stage::Function);
    // Neither asking nor calling.
    let ep = episode(&reg, &t, |_| Scripted::text("I cannot do that."));
    assert_eq!(rejected(&reg, &ep), Reason::NoClarification);
    assert_total(&gated(&reg, &ep), F);
}

#[test]
fn irrelevance_not_calling_earns_full_credit() {
    let reg = registry();
    let t = task(
        Category::Irrelevance,
        &["get_weather"],
        "Tell me a short joke about penguins.",
        Vec::new(),
    );
    let ep = episode(&reg, &t, |_| {
        Scripted::text("Sorry, none of my tools can help with that.")
    });
    assert!(verify(&reg, &ep).is_ok());
    assert_total(&gated(&reg, &ep), 1.0);
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[("get_weather", json!({"city": "Paris", "days": 1}))]),
        _ => answer(m),
    });
    assert_eq!(rejected(&reg, &ep), Reason::IrrelevanceCalled);
    let o = gated(&reg, &ep);
    assert_total(&o, F);
    assert_failed(&o, Stage::Function);
}

// ---------------------------------------------------------------- error_recovery

fn error_recovery() -> Task {
    let mut t = task(
        Category::ErrorRecovery,
        &["convert_currency"],
        "How much is 100.5 USD in EUR?",
        vec![step(
            "convert_currency",
            json!({"amount": 100.5, "from_currency": "USD", "to_currency": "EUR"}),
        )],
    );
    t.inject_error = Some(InjectedError {
        step: 0,
        code: "SERVICE_UNAVAILABLE".into(),
        message: "The rates service is temporarily unavailable.".into(),
    });
    t
}

#[test]
fn error_recovery_needs_a_retry_after_the_failure() {
    let reg = registry();
    let t = error_recovery();
    let conv = || {
        (
            "convert_currency",
            json!({"amount": 100.5, "from_currency": "USD", "to_currency": "EUR"}),
        )
    };
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 | 1 => calls(&[conv()]),
        _ => answer(m),
    });
    assert_eq!(ep.calls[0].status, trainer::synth::CallStatus::Injected);
    assert!(verify(&reg, &ep).is_ok(), "{:?}", verify(&reg, &ep));
    assert_total(&gated(&reg, &ep), 1.0);
    // Giving up after the failure.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[conv()]),
        _ => Scripted::text("The service failed, please try again later."),
    });
    assert_eq!(rejected(&reg, &ep), Reason::NoRetry);
    let o = gated(&reg, &ep);
    assert_total(&o, F);
    assert_failed(&o, Stage::Function);
    // The same call twice in one turn: the second succeeds, but it was not a retry after the
    // failure (the verifier accepts this; the reward does not).
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[conv(), conv()]),
        _ => answer(m),
    });
    let o = gated(&reg, &ep);
    assert_total(&o, F);
    assert!(o.failed.unwrap().detail.contains("retried"));
}

// ---------------------------------------------------------------- other kinds, config, totals

#[test]
fn format_and_turns_rewards_and_the_weighted_total() {
    let reg = registry();
    let t = single();
    // Asks for a confirmation first: one turn more than needed.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => Scripted::text("Shall I look up the weather in Paris for 3 days?"),
        1 => calls(&[("get_weather", json!({"city": "Paris", "days": 3}))]),
        _ => answer(m),
    });
    assert_eq!(ep.trajectory.turns.len(), 3);
    let specs = vec![
        RewardSpec::Gated(GatedReward::default()),
        RewardSpec::Format(FormatReward {
            name: "fmt".into(),
            weight: 0.5,
        }),
        RewardSpec::Turns(TurnsReward {
            weight: 0.25,
            ..TurnsReward::default()
        }),
    ];
    let s = score_all(&specs, &reg, &ep);
    // 1·1 + 0.5·1 + 0.25·(1 − 0.25·(3 − 2)).
    assert_eq!(
        s.per_reward,
        vec![
            ("gated".to_string(), Some(1.0)),
            ("fmt".to_string(), Some(1.0)),
            ("turns".to_string(), Some(0.75)),
        ]
    );
    assert!((s.total.unwrap() - 1.6875).abs() < 1e-12);
    // Hallucinated tool: format 0.
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[("get_forecast", json!({"city": "Paris"}))]),
        _ => answer(m),
    });
    assert_eq!(score(&specs[1], &reg, &ep).total, Some(0.0));
    // The minimum turns of each category are met by the oracles above.
    let cases: Vec<(Task, Script)> = vec![
        (
            multi_step(),
            Box::new(|m: &[Json]| match turn(m) {
                0 => calls(&[("search_products", json!({"query": "desk lamp"}))]),
                1 => calls(&[(
                    "add_to_cart",
                    json!({"product_id": first_product(m), "quantity": 2}),
                )]),
                _ => answer(m),
            }),
        ),
        (
            missing_param(),
            Box::new(|m: &[Json]| match turn(m) {
                0 => Scripted::text("Which city?"),
                1 => calls(&[("get_weather", json!({"city": "Oslo", "days": 3}))]),
                _ => answer(m),
            }),
        ),
        (
            error_recovery(),
            Box::new(|m: &[Json]| match turn(m) {
                0 | 1 => calls(&[(
                    "convert_currency",
                    json!({"amount": 100.5, "from_currency": "USD", "to_currency": "EUR"}),
                )]),
                _ => answer(m),
            }),
        ),
    ];
    for (t, script) in cases {
        let ep = episode(&reg, &t, script);
        let o = score(&specs[2], &reg, &ep);
        assert_eq!(o.total, Some(1.0), "{}: {o:?}", t.category);
        assert_eq!(o.extras["turns"], 3.0);
    }
}

#[test]
fn configured_weights_change_the_total() {
    let reg = registry();
    let t = parallel();
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[
            ("get_weather", json!({"city": "Paris", "days": 3})),
            ("get_weather", json!({"city": "Tokyo", "days": 4})),
        ]),
        _ => answer(m),
    });
    let load = |extra: &str| {
        Config::from_toml(
            &format!("[run]\nname = \"t\"\n[model]\nsource = \"m\"\n{extra}"),
            Path::new("w.toml"),
        )
        .unwrap()
        .rewards
    };
    // Defaults: 0.1 + 0.2 + 0.4 · 3/4.
    let s = score_all(&load(""), &reg, &ep);
    assert!((s.total.unwrap() - 0.6).abs() < 1e-12);
    // Arguments only: the argument credit itself.
    let only = load("[[rewards]]\nkind = \"gated\"\n[rewards.weights]\nformat = 0\nfunction = 0\narguments = 1\nworkflow = 0\nanswer = 0\n");
    assert!((score_all(&only, &reg, &ep).total.unwrap() - 0.75).abs() < 1e-12);
    // Weights are relative: doubling all of them changes nothing; the reward weight scales.
    let doubled = load("[[rewards]]\nkind = \"gated\"\nweight = 3\n[rewards.weights]\nformat = 0.2\nfunction = 0.4\narguments = 0.8\nworkflow = 0.2\nanswer = 0.4\n");
    let s = score_all(&doubled, &reg, &ep);
    assert!((s.per_reward[0].1.unwrap() - 0.6).abs() < 1e-12);
    assert!((s.total.unwrap() - 1.8).abs() < 1e-12);
}

#[test]
fn broken_tasks_are_unscorable() {
    let reg = registry();
    let mut t = single();
    t.id = "broken".into();
    t.tools.push("no_such_tool".into());
    t.steps.push(step("no_such_tool", json!({})));
    let ep = episode(&reg, &t, |m| match turn(m) {
        0 => calls(&[("get_weather", json!({"city": "Paris", "days": 3}))]),
        _ => answer(m),
    });
    let o = gated(&reg, &ep);
    assert_eq!(o.total, None);
    assert!(o.unscorable.unwrap().contains("no_such_tool"));
    let mut specs = vec![
        RewardSpec::Gated(GatedReward::default()),
        RewardSpec::Format(FormatReward::default()),
    ];
    let s = score_all(&specs, &reg, &ep);
    assert_eq!(s.total, None);
    assert_eq!(s.per_reward[0].1, None);
    assert_eq!(s.per_reward[1].1, Some(1.0));
    // A zero-weight unscorable reward does not make the row unscorable.
    if let RewardSpec::Gated(g) = &mut specs[0] {
        g.weight = 0.0;
    }
    assert_eq!(score_all(&specs, &reg, &ep).total, Some(1.0));
}

// ---------------------------------------------------------------- planned tasks, oracle

fn scalars(v: &Json, out: &mut Vec<Json>) {
    match v {
        Json::Array(a) => a.iter().for_each(|x| scalars(x, out)),
        Json::Object(m) => m.values().for_each(|x| scalars(x, out)),
        Json::String(s) if s.len() >= 3 && s != "success" => out.push(v.clone()),
        Json::Number(_) => out.push(v.clone()),
        _ => {}
    }
}

/// How the planned-task oracle deviates.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Flaw {
    None,
    /// The final answer quotes nothing.
    Vague,
    /// The last expected call of a turn is left out.
    DropCall,
    /// Gated arguments are made up.
    GuessLink,
}

/// An oracle for planned tasks of any category (knows the task), with an optional flaw.
fn oracle(task: &Task, m: &[Json], flaw: Flaw) -> Scripted {
    let res = results(m);
    let all = || -> Vec<(String, Map<String, Json>)> {
        let mut list: Vec<(String, Map<String, Json>)> = task
            .steps
            .iter()
            .map(|s| (s.tool.clone(), s.arguments.clone()))
            .collect();
        if flaw == Flaw::DropCall {
            list.pop();
        }
        list
    };
    let text_calls = |list: Vec<(String, Map<String, Json>)>| {
        let calls: Vec<ToolCall> = list.into_iter().map(|(n, a)| ToolCall::new(n, a)).collect();
        Scripted::text(render_tool_calls("", &calls))
    };
    let fin = || {
        if flaw == Flaw::Vague {
            return Scripted::text("All done!");
        }
        let mut given = Vec::new();
        scalars(
            &Json::Array(task.facts.iter().map(|f| f.value.clone()).collect()),
            &mut given,
        );
        let mut vals = Vec::new();
        for r in res.iter().rev() {
            scalars(r, &mut vals);
        }
        match vals.iter().find(|v| !given.contains(v)).or(vals.first()) {
            Some(Json::String(s)) => Scripted::text(format!("Done. The result: {s}.")),
            Some(v) => Scripted::text(format!("Done. The result: {v}.")),
            None => Scripted::text("Done."),
        }
    };
    match task.category {
        Category::Irrelevance => Scripted::text("Sorry, none of my tools can help with that."),
        Category::MissingParam => {
            let revealed = m.iter().filter(|x| x["role"] == "user").count() >= 2;
            if !revealed {
                Scripted::text("Which value should I use for that?")
            } else if res.is_empty() {
                text_calls(all())
            } else {
                fin()
            }
        }
        Category::ErrorRecovery => {
            let failed = res.last().is_some_and(|r| r.get("error").is_some());
            if res.is_empty() || failed {
                text_calls(all())
            } else {
                fin()
            }
        }
        Category::MultiStep => {
            let k = res.len();
            match task.steps.get(k) {
                Some(s) => {
                    let mut args = s.arguments.clone();
                    for l in &s.links {
                        let v = res
                            .get(l.from_step)
                            .and_then(|r| r.pointer(&l.pointer))
                            .cloned()
                            .unwrap_or(Json::Null);
                        let v = if flaw == Flaw::GuessLink {
                            json!("MADE-UP-123")
                        } else {
                            v
                        };
                        args.insert(l.argument.clone(), v);
                    }
                    text_calls(vec![(s.tool.clone(), args)])
                }
                None => fin(),
            }
        }
        _ if res.is_empty() => text_calls(all()),
        _ => fin(),
    }
}

/// Planned tasks of every category over `specs/`, run with the oracle (and a flaw).
fn planned_batch(flaw: Flaw) -> (Registry, Vec<Episode>) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs");
    let tools = ingest_paths(
        &expand_spec_paths(&[root]).unwrap(),
        &IngestOptions::default(),
    )
    .tools;
    let sets = by_api(&tools, 8);
    let reg = Registry::new(tools).unwrap();
    let p = plan(
        &reg,
        &sets,
        &PlanOptions {
            seed: 31,
            counts: Category::ALL.iter().map(|&c| (c, 6)).collect(),
            ..PlanOptions::default()
        },
    );
    assert_eq!(p.tasks.len(), 6 * Category::ALL.len());
    let by_request: BTreeMap<String, Task> = p
        .tasks
        .iter()
        .map(|t| (t.request.clone(), t.clone()))
        .collect();
    let backend = ScriptedBackend::new(|r: &ChatRequest| {
        let first = r
            .messages
            .iter()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default();
        oracle(&by_request[first], &r.messages, flaw)
    });
    let agents = Agents {
        policy: &backend,
        user: &ProgrammaticUser,
        server: &SchemaResults,
    };
    let eps = run_episodes(&reg, &p.tasks, &agents, &cfg(8), &mut |_| {}).unwrap();
    (reg, eps)
}

#[test]
fn verifier_accepted_oracle_episodes_score_exactly_one() {
    let (reg, eps) = planned_batch(Flaw::None);
    let specs = vec![
        RewardSpec::Gated(GatedReward::default()),
        RewardSpec::Format(FormatReward::default()),
    ];
    let mut accepted: BTreeMap<Category, usize> = BTreeMap::new();
    for ep in &eps {
        if verify(&reg, ep).is_err() {
            continue;
        }
        *accepted.entry(ep.task.category).or_default() += 1;
        let s = score_all(&specs, &reg, ep);
        assert_eq!(
            s.outcomes[0].total,
            Some(1.0),
            "{} {}: {:#?}",
            ep.task.category,
            ep.task.id,
            s.outcomes[0]
        );
        assert_eq!(s.outcomes[0].passed, Stage::ALL.to_vec());
        assert_eq!(s.total, Some(2.0));
    }
    for c in Category::ALL {
        assert!(
            accepted.get(&c).copied().unwrap_or(0) >= 4,
            "too few accepted {c} episodes: {accepted:?}"
        );
    }
}

#[test]
fn flawed_oracle_episodes_score_one_exactly_when_accepted() {
    for flaw in [Flaw::Vague, Flaw::DropCall, Flaw::GuessLink] {
        let (reg, eps) = planned_batch(flaw);
        let mut rejected = 0;
        for ep in &eps {
            let v = verify(&reg, ep);
            let o = gated(&reg, ep);
            let total = o.total.expect("planned tasks are scorable");
            assert_eq!(
                v.is_ok(),
                total == 1.0,
                "{flaw:?} {} {}: verifier {v:?}, reward {o:#?}",
                ep.task.category,
                ep.task.id
            );
            rejected += usize::from(v.is_err());
        }
        assert!(rejected >= 6, "{flaw:?}: only {rejected} rejected");
    }
}
