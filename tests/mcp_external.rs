//! A real third-party MCP server, the reference "memory" server (npm
//! `@modelcontextprotocol/server-memory`, run with node; installed by
//! `scripts/fetch-mcp-server.sh`, which this test runs): listed and called through our client,
//! driven by the synthesis episode loop (the recorded trajectory holds the real server's
//! results, and the server's own graph file agrees), and configured as `[[synth.mcp_servers]]`
//! of a synthesis run. Also: the official TypeScript SDK client lists and calls `trainer
//! mcp-serve`.
//!
//! Real-asset convention (tests/load_real.rs, README "Tests and checks"): skipped with
//! `TRAINER_SKIP_REAL_ASSETS=1`; otherwise an install failure (offline) fails with the script's
//! message.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{json, Map, Value as Json};
use trainer::backend::{ChatRequest, GenParams};
use trainer::chat::{render_tool_calls, ToolCall};
use trainer::config::{Config, McpServerConfig};
use trainer::engine::SamplingParams;
use trainer::mcp::{McpClient, McpResults, McpServers};
use trainer::specs::{Operation, SpecFormat};
use trainer::synth::episode::{run_episodes, Agents, EpisodeConfig, Outcome};
use trainer::synth::plan::{Category, Fact, Step, Task};
use trainer::synth::scripted::{Scripted, ScriptedBackend};
use trainer::synth::{verify, CallStatus, ProgrammaticUser, Registry, SchemaResults};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Node and the server's entry point, as printed by the fetch script.
#[derive(Debug, Clone)]
struct Installed {
    node: String,
    server: String,
}

fn install() -> Result<Installed, String> {
    let out = Command::new("bash")
        .arg(root().join("scripts/fetch-mcp-server.sh"))
        .output()
        .map_err(|e| format!("cannot run scripts/fetch-mcp-server.sh: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(format!(
            "scripts/fetch-mcp-server.sh failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ));
    }
    let field = |k: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(str::to_string)
            .ok_or_else(|| format!("fetch script printed no {k} line: {stdout}"))
    };
    Ok(Installed {
        node: field("NODE=")?,
        server: field("SERVER=")?,
    })
}

/// The installed server, or `None` when `TRAINER_SKIP_REAL_ASSETS=1` asks to skip.
fn installed() -> Option<Installed> {
    if trainer::assets::skip_real_assets() {
        println!("skipped: TRAINER_SKIP_REAL_ASSETS=1");
        return None;
    }
    static INSTALLED: OnceLock<Result<Installed, String>> = OnceLock::new();
    match INSTALLED.get_or_init(install) {
        Ok(i) => Some(i.clone()),
        Err(e) => panic!(
            "the memory MCP server is not available: {e} (set TRAINER_SKIP_REAL_ASSETS=1 to skip)"
        ),
    }
}

fn memory_config(i: &Installed, graph: &Path) -> McpServerConfig {
    let mut cfg = McpServerConfig::new("memory", i.node.clone());
    cfg.args = vec![i.server.clone()];
    cfg.env
        .insert("MEMORY_FILE_PATH".into(), graph.display().to_string());
    cfg.timeout_secs = 30;
    cfg
}

fn args(v: Json) -> Map<String, Json> {
    v.as_object().cloned().unwrap()
}

fn names_in(v: &Json) -> Vec<String> {
    v["entities"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The entity names in the server's own graph file (JSON lines `{"type":"entity","name",...}`).
fn names_on_disk(graph: &Path) -> Vec<String> {
    std::fs::read_to_string(graph)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|v| v["type"] == "entity")
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn memory_server_tools_and_calls_through_our_client() {
    let Some(i) = installed() else { return };
    let dir = tempfile::tempdir().unwrap();
    let graph = dir.path().join("graph.jsonl");
    let client = McpClient::start(&memory_config(&i, &graph)).unwrap();
    let info = client.server_info().unwrap();
    assert!(info.contains("memory"), "{info}");

    let tools = client.tools().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    for want in [
        "create_entities",
        "create_relations",
        "read_graph",
        "search_nodes",
    ] {
        assert!(names.contains(&want), "{names:?}");
    }
    let create = tools.iter().find(|t| t.name == "create_entities").unwrap();
    assert_eq!(create.provenance.file, "mcp://memory");
    assert_eq!(create.provenance.format, SpecFormat::McpTools);
    assert_eq!(
        create.provenance.operation,
        Operation::Function {
            name: "create_entities".into()
        }
    );
    assert!(create.provenance.notes[0].contains("listed live by MCP server `memory`"));
    assert_eq!(create.parameters["required"], json!(["entities"]));
    assert!(create.response_schema.is_some(), "outputSchema is kept");

    let entity = json!({"name": "Ada Lovelace", "entityType": "person", "observations": ["wrote the first program"]});
    let (created, status) = client
        .call_json("create_entities", args(json!({"entities": [entity]})))
        .unwrap();
    assert_eq!(status, CallStatus::Ok);
    assert_eq!(created, json!({"entities": [entity]}));
    let (graph_now, _) = client.call_json("read_graph", Map::new()).unwrap();
    assert_eq!(names_in(&graph_now), ["Ada Lovelace"]);
    assert_eq!(
        graph_now["entities"][0]["observations"],
        json!(["wrote the first program"])
    );
    // A tool error of the real server is a ToolError result, not a transport failure.
    let (err, status) = client
        .call_json(
            "add_observations",
            args(json!({"observations": [{"entityName": "Nobody", "contents": ["x"]}]})),
        )
        .unwrap();
    assert_eq!(status, CallStatus::ToolError, "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("Nobody"),
        "{err}"
    );
    client.close().unwrap();
    assert_eq!(names_on_disk(&graph), ["Ada Lovelace"]);
}

fn calls_text(calls: &[(&str, Json)]) -> String {
    let calls: Vec<ToolCall> = calls
        .iter()
        .map(|(n, a)| ToolCall::new(*n, args(a.clone())))
        .collect();
    render_tool_calls("", &calls)
}

fn tool_messages(messages: &[Json]) -> Vec<Json> {
    messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| serde_json::from_str(m["content"].as_str().unwrap()).unwrap())
        .collect()
}

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

#[test]
fn episode_against_the_memory_server_records_real_results() {
    let Some(i) = installed() else { return };
    let dir = tempfile::tempdir().unwrap();
    let graph = dir.path().join("graph.jsonl");
    let servers = McpServers::start(&[memory_config(&i, &graph)]).unwrap();
    let registry = Registry::new(servers.tools().to_vec()).unwrap();
    let entities = json!([{"name": "Grace Hopper", "entityType": "person", "observations": ["invented the first compiler"]}]);
    let task = Task {
        id: "mcp-memory-0".into(),
        category: Category::MultiStep,
        toolset: "mcp://memory".into(),
        tools: vec!["create_entities".into(), "read_graph".into(), "search_nodes".into()],
        request: "Remember that Grace Hopper is a person who invented the first compiler, then show me everything you remember.".into(),
        facts: vec![Fact {
            step: 0,
            argument: "entities".into(),
            value: entities.clone(),
        }],
        steps: vec![
            Step {
                tool: "create_entities".into(),
                arguments: args(json!({"entities": entities})),
                links: Vec::new(),
            },
            Step {
                tool: "read_graph".into(),
                arguments: Map::new(),
                links: Vec::new(),
            },
        ],
        need: String::new(),
        difficulty: Default::default(),
        persona: None,
        revisions: 0,
        withheld: None,
        inject_error: None,
        foreign_tool: None,
        seed: 7,
    };
    // The scripted oracle: one step per turn, then an answer quoting the graph.
    let steps = task.steps.clone();
    let backend = ScriptedBackend::new(move |req: &ChatRequest| {
        let done = tool_messages(&req.messages).len();
        match steps.get(done) {
            Some(s) => Scripted::text(calls_text(&[(
                s.tool.as_str(),
                Json::Object(s.arguments.clone()),
            )])),
            None => Scripted::text(
                "I remember one person: Grace Hopper, who invented the first compiler.",
            ),
        }
    });
    let routed = McpResults::new(&servers, &SchemaResults);
    let agents = Agents {
        policy: &backend,
        user: &ProgrammaticUser,
        server: &routed,
    };
    let cfg = EpisodeConfig {
        max_turns: 4,
        max_calls: 4,
        batch_size: 1,
        gen: gen(),
        system_prompt: None,
        adapter: true,
    };
    let episodes = run_episodes(&registry, &[task], &agents, &cfg, &mut |_| {}).unwrap();
    let ep = &episodes[0];
    assert_eq!(ep.outcome, Outcome::GoalMet);
    assert_eq!(verify(&registry, ep), Ok(()));
    assert_eq!(ep.calls.len(), 2);
    assert!(ep.calls.iter().all(|c| c.status == CallStatus::Ok));
    // create_entities echoes what it created; read_graph then shows it: state kept by the real
    // server across calls (the schema simulator would have drawn values from the outputSchema).
    assert_eq!(ep.calls[0].result, json!({"entities": entities}));
    assert_eq!(
        ep.calls[1].result,
        json!({"entities": entities, "relations": []})
    );
    // The trajectory's tool messages are those results, and the server's file agrees.
    let recorded = tool_messages(&ep.trajectory.messages);
    assert_eq!(
        recorded,
        vec![ep.calls[0].result.clone(), ep.calls[1].result.clone()]
    );
    drop(servers);
    assert_eq!(names_on_disk(&graph), ["Grace Hopper"]);
}

/// Schema-valid arguments for each tool of the pinned memory server.
fn memory_call(tool: &str) -> Option<Json> {
    Some(match tool {
        "create_entities" => {
            json!({"entities": [{"name": "Grace Hopper", "entityType": "person", "observations": ["COBOL"]}]})
        }
        "create_relations" => {
            json!({"relations": [{"from": "Grace Hopper", "to": "Alan Turing", "relationType": "admired"}]})
        }
        "add_observations" => {
            json!({"observations": [{"entityName": "Alan Turing", "contents": ["born 1912"]}]})
        }
        "delete_entities" => json!({"entityNames": ["Nobody"]}),
        "delete_observations" => {
            json!({"deletions": [{"entityName": "Alan Turing", "observations": ["nothing"]}]})
        }
        "delete_relations" => json!({"relations": [{"from": "A", "to": "B", "relationType": "c"}]}),
        "read_graph" => json!({}),
        "search_nodes" => json!({"query": "Turing"}),
        "open_nodes" => json!({"names": ["Alan Turing"]}),
        _ => return None,
    })
}

const TURING: &str = r#"{"type":"entity","name":"Alan Turing","entityType":"person","observations":["broke Enigma"]}"#;

#[test]
fn synthesis_config_routes_calls_to_the_memory_server() {
    let Some(i) = installed() else { return };
    let dir = tempfile::tempdir().unwrap();
    // The server starts from a graph that already knows Alan Turing.
    let graph = dir.path().join("graph.jsonl");
    std::fs::write(&graph, format!("{TURING}\n")).unwrap();
    let config = dir.path().join("synth.toml");
    let text = format!(
        r#"[run]
name = "mcp-external"
seed = 3

[model]
source = "asset:smollm2-135m-instruct"

[synth]
specs = []
episodes = 6
batch_size = 1
max_turns = 3

[synth.categories]
single = 1.0
parallel = 0.0
multiple = 0.0
parallel_multiple = 0.0
multi_step = 0.0
missing_param = 0.0
irrelevance = 0.0
error_recovery = 0.0

[synth.toolsets]
grouping = "api"
embedding = "hashed"
max_size = 10

[[synth.mcp_servers]]
name = "memory"
command = {node:?}
args = [{server:?}]
env = {{ MEMORY_FILE_PATH = {graph:?} }}
"#,
        node = i.node,
        server = i.server,
        graph = graph.display().to_string(),
    );
    std::fs::write(&config, text).unwrap();
    let cfg = Config::load(&config).unwrap();
    assert_eq!(cfg.synth.mcp_servers.len(), 1);
    assert!(
        cfg.to_toml().contains("[[synth.mcp_servers]]"),
        "{}",
        cfg.to_toml()
    );
    let (tools, _) = trainer::synth::run::load_tools(&cfg).unwrap();
    assert!(
        tools.is_empty(),
        "no spec files: the tools come from the server"
    );
    // The assistant calls the offered tool with fixed valid arguments, then answers.
    let backend = ScriptedBackend::new(|req: &ChatRequest| {
        let offered = req.tools[0]["function"]["name"]
            .as_str()
            .unwrap_or_default();
        match (tool_messages(&req.messages).len(), memory_call(offered)) {
            (0, Some(a)) => Scripted::text(calls_text(&[(offered, a)])),
            _ => Scripted::text("Done."),
        }
    });
    let out = dir.path().join("out.jsonl");
    let outcome =
        trainer::synth::run::synthesize_with(&cfg, tools, &backend, None, &out, false).unwrap();
    let toolsets = std::fs::read_to_string(&outcome.files.toolsets).unwrap();
    assert!(toolsets.contains("read_graph"), "{toolsets}");
    // The calls of all trajectories, in episode order (batch_size 1: one episode after the
    // other, all against the one server of the run).
    let mut records: Vec<Json> = Vec::new();
    for f in [&outcome.files.chat, &outcome.files.rejected] {
        records.extend(
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<Json>(l).unwrap()),
        );
    }
    assert_eq!(records.len(), 6);
    records.sort_by(|a, b| a["task_id"].as_str().cmp(&b["task_id"].as_str()));
    let mut calls: Vec<(String, Json, Json)> = Vec::new();
    for r in &records {
        let messages = r["messages"].as_array().unwrap();
        let results = tool_messages(messages);
        let made: Vec<&Json> = messages
            .iter()
            .filter_map(|m| m["tool_calls"].as_array())
            .flatten()
            .collect();
        assert_eq!(made.len(), results.len(), "{r}");
        for (c, res) in made.iter().zip(results) {
            let name = c["function"]["name"].as_str().unwrap().to_string();
            calls.push((name, c["function"]["arguments"].clone(), res));
        }
    }
    assert!(calls.len() >= 4, "{calls:?}");
    // Replay the same calls in the same order against a fresh server started from the same
    // graph: the recorded results are exactly the real server's answers.
    let replay_graph = dir.path().join("replay.jsonl");
    std::fs::write(&replay_graph, format!("{TURING}\n")).unwrap();
    let fresh = McpClient::start(&memory_config(&i, &replay_graph)).unwrap();
    for (name, arguments, recorded) in &calls {
        let (real, _) = fresh.call_json(name, args(arguments.clone())).unwrap();
        assert_eq!(&real, recorded, "{name}({arguments})");
    }
    fresh.close().unwrap();
    // And some result shows the graph the run started from.
    assert!(
        calls
            .iter()
            .any(|(_, _, r)| r.to_string().contains("Alan Turing")),
        "{calls:?}"
    );
}

#[test]
fn typescript_sdk_client_lists_and_calls_trainer_mcp_serve() {
    let Some(i) = installed() else { return };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[run]\nname = \"mcp-ts\"\n\n[model]\nsource = \"asset:smollm2-135m-instruct\"\n\n[synth]\nspecs = [{:?}]\n",
            root().join("specs").display().to_string()
        ),
    )
    .unwrap();
    let node_modules = Path::new(&i.server)
        .ancestors()
        .find(|p| p.ends_with("node_modules"))
        .unwrap()
        .to_path_buf();
    let out = Command::new(&i.node)
        .arg(root().join("tests/fixtures/mcp/ts_client.cjs"))
        .arg(env!("CARGO_BIN_EXE_trainer"))
        .args(["mcp-serve", &config.display().to_string()])
        .env("NODE_PATH", &node_modules)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["server"]["name"], "trainer-mcp-serve");
    let names: Vec<&str> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"get_forecast") && names.contains(&"create_event"),
        "{names:?}"
    );
    // The SDK client checked structuredContent against the advertised outputSchema.
    assert_eq!(v["ok"]["isError"], false, "{}", v["ok"]);
    assert_eq!(v["ok"]["structuredContent"]["city"], "Oslo");
    assert_eq!(v["bad"]["isError"], true);
    let err: Json = serde_json::from_str(v["bad"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(err["error"]["details"][0]["pointer"], "/days", "{err}");
}
