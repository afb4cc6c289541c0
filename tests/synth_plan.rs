//! Task planner and MCP server simulator over the shipped `specs/` directory.

use std::path::PathBuf;

use serde_json::{json, Map, Value as Json};
use trainer::specs::{ingest_paths, IngestOptions, Tool};
use trainer::synth::plan::{plan, Category, PlanOptions, Task};
use trainer::synth::server::{schema_result, CallStatus, Precheck, ServerState};
use trainer::synth::{expand_spec_paths, Registry};
use trainer::toolsets::{by_api, Toolset};

fn tools() -> Vec<Tool> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs");
    let paths = expand_spec_paths(&[root]).unwrap();
    let ing = ingest_paths(&paths, &IngestOptions::default());
    assert_eq!(ing.report.failed_files(), 0, "{}", ing.report);
    ing.tools
}

fn setup() -> (Registry, Vec<Toolset>) {
    let tools = tools();
    let sets = by_api(&tools, 8);
    (Registry::new(tools).unwrap(), sets)
}

fn opts(seed: u64, n: usize) -> PlanOptions {
    PlanOptions {
        seed,
        counts: Category::ALL.iter().map(|&c| (c, n)).collect(),
        ..PlanOptions::default()
    }
}

#[test]
fn shipped_specs_have_between_15_and_40_tools() {
    let n = tools().len();
    assert!((15..=40).contains(&n), "{n} tools");
}

#[test]
fn planning_is_deterministic_and_seed_dependent() {
    let (reg, sets) = setup();
    let a = plan(&reg, &sets, &opts(7, 4));
    let b = plan(&reg, &sets, &opts(7, 4));
    assert_eq!(a.tasks, b.tasks);
    let c = plan(&reg, &sets, &opts(8, 4));
    assert_ne!(a.tasks, c.tasks);
    // A category's tasks do not depend on the other categories' counts.
    let only_single = PlanOptions {
        counts: vec![(Category::Single, 4)],
        ..opts(7, 0)
    };
    let d = plan(&reg, &sets, &only_single);
    let singles: Vec<&Task> = a
        .tasks
        .iter()
        .filter(|t| t.category == Category::Single)
        .collect();
    assert_eq!(d.tasks.iter().collect::<Vec<_>>(), singles);
}

fn valid(reg: &Registry, args: &Map<String, Json>, tool: &str) -> bool {
    reg.get(tool).unwrap().is_valid(&Json::Object(args.clone()))
}

#[test]
fn every_category_is_planned_with_schema_valid_steps() {
    let (reg, sets) = setup();
    let p = plan(&reg, &sets, &opts(3, 6));
    assert!(p.unplannable.is_empty(), "{:?}", p.unplannable);
    assert_eq!(p.tasks.len(), 8 * 6);
    for t in &p.tasks {
        assert!(!t.request.is_empty());
        assert!(t.tools.iter().all(|n| reg.get(n).is_some()), "{t:?}");
        for s in &t.steps {
            assert!(
                t.tools.contains(&s.tool),
                "{} offers {:?} but expects {}",
                t.id,
                t.tools,
                s.tool
            );
            if s.links.is_empty() {
                assert!(valid(&reg, &s.arguments, &s.tool), "{}: {:?}", t.id, s);
            }
        }
        match t.category {
            Category::Single => {
                assert_eq!(t.steps.len(), 1);
                assert_eq!(t.tools, vec![t.steps[0].tool.clone()]);
            }
            Category::Multiple => assert!(t.steps.len() == 1 && t.tools.len() >= 2, "{t:?}"),
            Category::Parallel => {
                assert!(t.steps.len() >= 2 && t.steps.iter().all(|s| s.tool == t.steps[0].tool));
                assert_eq!(t.tools.len(), 1);
            }
            Category::ParallelMultiple => {
                let mut names: Vec<&String> = t.steps.iter().map(|s| &s.tool).collect();
                names.sort();
                names.dedup();
                assert!(names.len() >= 2, "{t:?}");
            }
            Category::MultiStep => {
                assert!(t.steps.len() >= 2);
                for (k, s) in t.steps.iter().enumerate().skip(1) {
                    assert!(!s.links.is_empty(), "{t:?}");
                    assert!(s.links.iter().all(|l| l.from_step < k));
                    // The gated value is not in the user's request.
                    assert!(s
                        .links
                        .iter()
                        .all(|l| !s.arguments.contains_key(&l.argument)));
                }
            }
            Category::MissingParam => {
                let w = t.withheld.as_ref().unwrap();
                assert_eq!(t.steps[0].arguments.get(&w.argument), Some(&w.value));
                let said = trainer::synth::phrasing::render_value(&w.value);
                assert!(
                    !t.request.contains(&said),
                    "{}: request {:?} leaks {said}",
                    t.id,
                    t.request
                );
            }
            Category::Irrelevance => {
                assert!(t.steps.is_empty());
                if let Some(f) = &t.foreign_tool {
                    assert!(!t.tools.contains(f));
                }
            }
            Category::ErrorRecovery => {
                assert_eq!(t.inject_error.as_ref().unwrap().step, 0);
            }
        }
        // Request values are spelled out for the assistant to copy.
        if t.category == Category::Single {
            for v in t.steps[0].arguments.values().filter(|v| v.is_string()) {
                assert!(
                    t.request.contains(v.as_str().unwrap()),
                    "{} lacks {v}",
                    t.request
                );
            }
        }
        assert!(!trainer::specs::is_bfcl_id(&t.id), "{}", t.id);
    }
}

fn task_with(tools: &[&str], seed: u64) -> Task {
    Task {
        id: "t".into(),
        category: Category::Single,
        toolset: "ts".into(),
        tools: tools.iter().map(|s| s.to_string()).collect(),
        request: String::new(),
        facts: Vec::new(),
        steps: Vec::new(),
        need: String::new(),
        difficulty: Default::default(),
        persona: None,
        revisions: 0,
        withheld: None,
        inject_error: None,
        foreign_tool: None,
        seed,
    }
}

fn call(reg: &Registry, st: &mut ServerState, name: &str, args: Json) -> (Json, CallStatus) {
    let args = args.as_object().cloned().unwrap();
    match st.precheck(reg, name, &args) {
        Precheck::Done(r) => (r.content, r.status),
        Precheck::Generate(req) => {
            let content = schema_result(reg, &req);
            let r = st.commit(&req, content);
            (r.content, r.status)
        }
    }
}

#[test]
fn server_validates_and_reports_structured_errors() {
    let (reg, _) = setup();
    let mut st = ServerState::new(&task_with(&["get_forecast"], 1));
    let (r, s) = call(
        &reg,
        &mut st,
        "get_forecast",
        json!({"city": "Oslo", "days": 12}),
    );
    assert_eq!(s, CallStatus::InvalidArguments);
    assert_eq!(r["error"]["code"], "INVALID_ARGUMENTS");
    assert_eq!(r["error"]["details"][0]["pointer"], "/days");
    let (r, s) = call(&reg, &mut st, "get_forecast", json!({"days": 2}));
    assert_eq!(s, CallStatus::InvalidArguments);
    assert!(
        r["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("city"),
        "{r}"
    );
    let (r, s) = call(
        &reg,
        &mut st,
        "get_current_weather",
        json!({"city": "Oslo"}),
    );
    assert_eq!(s, CallStatus::UnknownTool, "tools not offered are unknown");
    assert!(r["error"]["message"]
        .as_str()
        .unwrap()
        .contains("get_forecast"));
}

#[test]
fn server_results_conform_echo_and_repeat() {
    let (reg, _) = setup();
    let mut st = ServerState::new(&task_with(&["get_forecast", "search_flights"], 5));
    let (r1, s) = call(
        &reg,
        &mut st,
        "get_forecast",
        json!({"city": "Oslo", "days": 3}),
    );
    assert_eq!(s, CallStatus::Ok);
    let schema = reg.get("get_forecast").unwrap().response.clone();
    let v = trainer::synth::registry::compile(&schema).unwrap();
    assert!(v.is_valid(&r1), "{r1}");
    assert_eq!(r1["city"], "Oslo", "scalar arguments are echoed");
    let (r2, _) = call(
        &reg,
        &mut st,
        "get_forecast",
        json!({"days": 3, "city": "Oslo"}),
    );
    assert_eq!(r1, r2, "same call, same result");
    let (r3, _) = call(
        &reg,
        &mut st,
        "get_forecast",
        json!({"city": "Lima", "days": 3}),
    );
    assert_ne!(r1, r3);
    let (f, s) = call(
        &reg,
        &mut st,
        "search_flights",
        json!({"origin": "CDG", "destination": "NRT", "date": "2025-05-01"}),
    );
    assert_eq!(s, CallStatus::Ok);
    let fs = f["flights"].as_array().unwrap();
    assert!(!fs.is_empty(), "arrays get at least one item: {f}");
    // A fresh server of the same task gives the same results (deterministic).
    let mut again = ServerState::new(&task_with(&["get_forecast", "search_flights"], 5));
    let (r4, _) = call(
        &reg,
        &mut again,
        "get_forecast",
        json!({"city": "Oslo", "days": 3}),
    );
    assert_eq!(r1, r4);
}

#[test]
fn server_entities_stay_consistent() {
    let (reg, _) = setup();
    let mut st = ServerState::new(&task_with(
        &["create_event", "get_event", "search_hotels", "book_hotel"],
        9,
    ));
    let (created, s) = call(
        &reg,
        &mut st,
        "create_event",
        json!({"title": "Budget sync", "start": "2025-03-01T10:00:00Z", "duration_minutes": 30}),
    );
    assert_eq!(s, CallStatus::Ok, "{created}");
    let id = created["event_id"].clone();
    assert!(id.is_string());
    let (got, _) = call(&reg, &mut st, "get_event", json!({"event_id": id}));
    assert_eq!(got["event_id"], id);
    assert_eq!(
        got["title"], "Budget sync",
        "the created entity exists later: {got}"
    );
    assert_eq!(got["duration_minutes"], 30);
    let (hotels, _) = call(
        &reg,
        &mut st,
        "search_hotels",
        json!({"city": "Lisbon", "check_in": "2025-06-01", "nights": 2}),
    );
    let hotel = &hotels["hotels"][0];
    let (booking, s) = call(
        &reg,
        &mut st,
        "book_hotel",
        json!({"hotel_id": hotel["hotel_id"], "guest_name": "Ana Silva", "check_in": "2025-06-01", "nights": 2}),
    );
    assert_eq!(s, CallStatus::Ok, "{booking}");
}

#[test]
fn injected_error_happens_once() {
    let (reg, sets) = setup();
    let p = plan(
        &reg,
        &sets,
        &PlanOptions {
            counts: vec![(Category::ErrorRecovery, 1)],
            ..opts(2, 0)
        },
    );
    let t = &p.tasks[0];
    let mut st = ServerState::new(t);
    let step = &t.steps[0];
    let args = Json::Object(step.arguments.clone());
    let (r, s) = call(&reg, &mut st, &step.tool, args.clone());
    assert_eq!(s, CallStatus::Injected);
    assert_eq!(r["error"]["retryable"], true);
    let (_, s) = call(&reg, &mut st, &step.tool, args);
    assert_eq!(s, CallStatus::Ok);
}

mod llm_mode {
    //! The LLM-driven simulators with a scripted model (test double): model output that passes
    //! the rules is used, output that breaks them is replaced by the programmatic one.
    use super::*;
    use std::sync::atomic::Ordering;
    use trainer::backend::{ChatRequest, GenParams};
    use trainer::engine::SamplingParams;
    use trainer::synth::llm::{LlmServer, LlmUser};
    use trainer::synth::scripted::{Scripted, ScriptedBackend};
    use trainer::synth::server::{ContentRequest, ResultGenerator};
    use trainer::synth::user::UserSimulator;

    fn gen() -> GenParams {
        GenParams {
            sampling: SamplingParams {
                temperature: 0.0,
                top_k: 0,
                top_p: 1.0,
            },
            max_new_tokens: 64,
        }
    }

    fn request(tool: &str, args: Json) -> ContentRequest {
        let arguments = args.as_object().cloned().unwrap();
        ContentRequest {
            tool: tool.into(),
            overrides: arguments.clone(),
            arguments,
            seed: 1,
        }
    }

    #[test]
    fn llm_server_uses_valid_json_and_falls_back_otherwise() {
        let (reg, _) = setup();
        let good = ScriptedBackend::new(|_: &ChatRequest| {
            Scripted::text("Here you go: {\"city\": \"Lima\", \"aqi\": 42, \"category\": \"good\"}")
        });
        let server = LlmServer::new(&good, gen());
        let out = server
            .generate(&reg, &[request("get_air_quality", json!({"city": "Oslo"}))])
            .unwrap();
        // The model's value is kept, the known argument value overrides its `city`.
        assert_eq!(
            out[0],
            json!({"city": "Oslo", "aqi": 42, "category": "good"})
        );
        assert_eq!(server.fallbacks.load(Ordering::Relaxed), 0);
        let bad =
            ScriptedBackend::new(|_: &ChatRequest| Scripted::text("{\"aqi\": \"very high\"}"));
        let server = LlmServer::new(&bad, gen());
        let out = server
            .generate(&reg, &[request("get_air_quality", json!({"city": "Oslo"}))])
            .unwrap();
        let v = trainer::synth::registry::compile(&reg.get("get_air_quality").unwrap().response)
            .unwrap();
        assert!(v.is_valid(&out[0]), "{}", out[0]);
        assert_eq!(server.fallbacks.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn llm_user_keeps_values_or_falls_back() {
        let (reg, sets) = setup();
        let p = plan(
            &reg,
            &sets,
            &PlanOptions {
                counts: vec![(Category::MissingParam, 1)],
                ..opts(4, 0)
            },
        );
        let task = &p.tasks[0];
        let w = task.withheld.clone().unwrap();
        // A paraphrase that keeps every said value.
        let keep = ScriptedBackend::new(|r: &ChatRequest| {
            Scripted::text(format!(
                "Hi! {}",
                r.messages[1]["content"].as_str().unwrap()
            ))
        });
        let user = LlmUser::new(&keep, gen());
        let open = user.opening(&[task]).unwrap();
        assert_eq!(open[0], format!("Hi! {}", task.request));
        // A paraphrase that drops the values, or leaks the withheld one, is replaced.
        let leak_value = trainer::synth::phrasing::render_value(&w.value);
        let leak = ScriptedBackend::new(move |_: &ChatRequest| {
            Scripted::text(format!("Please help, {leak_value}"))
        });
        let user = LlmUser::new(&leak, gen());
        assert_eq!(user.opening(&[task]).unwrap()[0], task.request);
        assert_eq!(user.fallbacks.load(Ordering::Relaxed), 1);
    }
}

mod robustness {
    //! Planning and serving never panic on odd schemas (random ones from a small grammar).
    use super::*;
    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = Json> {
        prop_oneof![
            Just(json!({"type": "string"})),
            Just(json!({"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"})),
            Just(json!({"type": "string", "pattern": "(a)\\1"})),
            Just(json!({"type": "string", "minLength": 100000000})),
            Just(json!({"type": "string", "format": "date-time"})),
            Just(json!({"type": "integer", "minimum": 10, "maximum": 2})),
            Just(json!({"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.25})),
            Just(json!({"type": "integer", "minimum": -1e300, "maximum": 1e300})),
            Just(json!({"enum": []})),
            Just(json!({"enum": [1, "x", null]})),
            Just(json!({"type": ["null", "boolean"]})),
            Just(json!({})),
            Just(json!({"not": {}})),
        ]
    }

    fn schema() -> impl Strategy<Value = Json> {
        leaf().prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(("[a-z_]{1,8}", inner.clone(), any::<bool>()), 0..4)
                    .prop_map(|props| {
                        let required: Vec<&String> =
                            props.iter().filter(|p| p.2).map(|p| &p.0).collect();
                        let properties: Map<String, Json> =
                            props.iter().map(|p| (p.0.clone(), p.1.clone())).collect();
                        json!({"type": "object", "properties": properties, "required": required})
                    }),
                (inner.clone(), 0u64..100_000)
                    .prop_map(|(i, n)| json!({"type": "array", "items": i, "minItems": n})),
                prop::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"anyOf": v})),
                prop::collection::vec(inner, 1..3).prop_map(|v| json!({"allOf": v})),
            ]
        })
    }

    fn tool(name: &str, params: Json, response: Option<Json>) -> Tool {
        Tool {
            response_schema: response,
            ..Tool::function(
                "x.json",
                name,
                "Create a thing for the user id.",
                json!({"type": "object", "properties": {"p": params.clone(), "thing_id": {"type": "string"}}, "required": ["p"]}),
            )
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn odd_schemas_do_not_panic(a in schema(), b in schema(), r in schema()) {
            let tools = vec![tool("create_thing", a, Some(r)), tool("get_thing", b, None)];
            // A schema that is not valid JSON Schema (e.g. an enum with repeated values) is
            // refused with an error naming the tool and file; that is a correct outcome too.
            let reg = match Registry::new(tools.clone()) {
                Ok(reg) => reg,
                Err(trainer::synth::Error::BadSchema { tool, file, .. }) => {
                    prop_assert!(tool == "create_thing" || tool == "get_thing");
                    prop_assert_eq!(file, "x.json");
                    return Ok(());
                }
                Err(e) => return Err(TestCaseError::fail(format!("unexpected error: {e}"))),
            };
            let sets = by_api(&tools, 8);
            let p = plan(&reg, &sets, &opts(1, 2));
            for t in &p.tasks {
                let mut st = ServerState::new(t);
                for s in &t.steps {
                    let _ = call(&reg, &mut st, &s.tool, Json::Object(s.arguments.clone()));
                }
            }
        }
    }
}
