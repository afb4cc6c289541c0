//! `trainer mcp-serve` as a real MCP server over stdio, driven by our `rmcp` client
//! (`trainer::mcp::McpClient`, the official Rust SDK's client over a child-process transport):
//! handshake, `tools/list` against `trainer specs`, valid calls conforming to the response
//! schema, invalid calls as `isError` results naming the field, entity consistency in a session,
//! and `--toolset` / `--spec` selection.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Map, Value as Json};
use trainer::config::{Config, McpServerConfig};
use trainer::mcp::McpClient;
use trainer::specs::Tool;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A config whose `synth.specs` is the shipped `specs/` directory.
fn write_config(dir: &Path) -> PathBuf {
    let path = dir.join("mcp.toml");
    let specs = root().join("specs");
    let text = format!(
        "[run]\nname = \"mcp-test\"\nseed = 5\n\n[model]\nsource = \"asset:smollm2-135m-instruct\"\n\n[synth]\nspecs = [{:?}]\n\n[synth.toolsets]\ngrouping = \"cluster\"\nembedding = \"hashed\"\n",
        specs.display().to_string()
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// `trainer specs <paths>`: the normalized tools, one JSON object a line.
fn trainer_specs(paths: &[PathBuf]) -> Vec<Tool> {
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .arg("specs")
        .args(paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn serve(args: &[String]) -> McpClient {
    let mut cfg = McpServerConfig::new("trainer", env!("CARGO_BIN_EXE_trainer"));
    cfg.args = std::iter::once("mcp-serve".to_string())
        .chain(args.iter().cloned())
        .collect();
    cfg.env.insert("RUST_LOG".into(), "warn".into());
    cfg.timeout_secs = 30;
    McpClient::start(&cfg).unwrap()
}

fn args(v: Json) -> Map<String, Json> {
    v.as_object().cloned().unwrap()
}

/// The structured error of an `isError` result (JSON in its text content).
fn error_json(r: &rmcp::model::CallToolResult) -> Json {
    assert_eq!(r.is_error, Some(true), "{r:?}");
    serde_json::from_str(&r.content[0].as_text().unwrap().text).unwrap()
}

fn listed_json(client: &McpClient) -> Vec<Json> {
    client
        .list_tools()
        .unwrap()
        .iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect()
}

#[test]
fn tools_list_matches_trainer_specs() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let expected = trainer_specs(&[root().join("specs")]);
    assert!(expected.len() >= 15, "{} shipped tools", expected.len());
    let client = serve(&[config.display().to_string()]);
    assert_eq!(
        client.server_info().as_deref(),
        Some(format!("trainer-mcp-serve {}", env!("CARGO_PKG_VERSION")).as_str())
    );
    let listed = listed_json(&client);
    let names: Vec<&str> = listed.iter().map(|t| t["name"].as_str().unwrap()).collect();
    let want: Vec<&str> = expected.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, want);
    for (l, t) in listed.iter().zip(&expected) {
        assert_eq!(l["inputSchema"], t.parameters, "{}", t.name);
        assert_eq!(l["description"], json!(t.description), "{}", t.name);
        let object_result = t
            .response_schema
            .as_ref()
            .is_some_and(|s| s["type"] == "object");
        if object_result {
            assert_eq!(
                l["outputSchema"],
                t.response_schema.clone().unwrap(),
                "{}",
                t.name
            );
        } else {
            assert!(l.get("outputSchema").is_none(), "{}", t.name);
        }
    }
    client.close().unwrap();
}

#[test]
fn calls_validate_conform_and_stay_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let tools = trainer_specs(&[root().join("specs")]);
    let client = serve(&[config.display().to_string()]);

    // A valid call: the structured result conforms to the spec's response schema and echoes
    // the scalar arguments.
    let r = client
        .call("get_forecast", args(json!({"city": "Oslo", "days": 3})))
        .unwrap();
    assert_eq!(r.is_error, Some(false), "{r:?}");
    let result = r.structured_content.clone().unwrap();
    let schema = tools
        .iter()
        .find(|t| t.name == "get_forecast")
        .and_then(|t| t.response_schema.clone())
        .unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&result)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{result}: {errors:?}");
    assert_eq!(result["city"], "Oslo");
    // The text content carries the same JSON (for clients that ignore structuredContent).
    let text = r.content[0].as_text().unwrap().text.clone();
    assert_eq!(serde_json::from_str::<Json>(&text).unwrap(), result);
    // The same call again: the same result (one consistent session).
    let again = client
        .call("get_forecast", args(json!({"days": 3, "city": "Oslo"})))
        .unwrap();
    assert_eq!(again.structured_content, Some(result));

    // Invalid arguments: a tool result with isError and a structured error naming the field.
    let bad = client
        .call("get_forecast", args(json!({"city": "Oslo", "days": 12})))
        .unwrap();
    let err = error_json(&bad);
    assert_eq!(err["error"]["code"], "INVALID_ARGUMENTS", "{err}");
    assert_eq!(err["error"]["details"][0]["pointer"], "/days", "{err}");
    let missing = client
        .call("get_forecast", args(json!({"days": 2})))
        .unwrap();
    let err = error_json(&missing);
    assert!(
        err["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("\"city\""),
        "{err}"
    );
    let unknown = client.call("no_such_tool", Map::new()).unwrap();
    assert_eq!(error_json(&unknown)["error"]["code"], "UNKNOWN_TOOL");

    // Entities: what create_event returns is what get_event later sees.
    let created = client
        .call(
            "create_event",
            args(json!({"title": "Budget sync", "start": "2025-03-01T10:00:00Z", "duration_minutes": 30})),
        )
        .unwrap()
        .structured_content
        .unwrap();
    let id = created["event_id"].clone();
    assert!(id.is_string(), "{created}");
    let got = client
        .call("get_event", args(json!({"event_id": id})))
        .unwrap()
        .structured_content
        .unwrap();
    assert_eq!(got["event_id"], id);
    assert_eq!(got["title"], "Budget sync", "{got}");
    assert_eq!(got["duration_minutes"], 30, "{got}");
    assert_eq!(got["start"], created["start"], "{got}");
    client.close().unwrap();
}

#[test]
fn serves_one_toolset_or_given_specs() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    // The toolsets as synthesis builds them from this config.
    let cfg = Config::load(&config).unwrap();
    let (tools, _) = trainer::synth::run::load_tools(&cfg).unwrap();
    let tools = trainer::synth::run::compilable(trainer::synth::run::unique_names(tools));
    let sets = trainer::synth::pool::tool_pool(&cfg, tools, None, None)
        .unwrap()
        .toolsets;
    assert!(sets.len() >= 2, "{} toolsets", sets.len());
    let set = &sets[1];
    let client = serve(&[
        config.display().to_string(),
        "--toolset".into(),
        set.id.clone(),
    ]);
    let mut names: Vec<String> = listed_json(&client)
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    let mut want = set.tools.clone();
    names.sort();
    want.sort();
    assert_eq!(names, want);
    client.close().unwrap();

    let weather = root().join("specs/weather.yaml");
    let expected = trainer_specs(std::slice::from_ref(&weather));
    let client = serve(&[
        config.display().to_string(),
        "--spec".into(),
        weather.display().to_string(),
    ]);
    let listed = listed_json(&client);
    assert_eq!(listed.len(), expected.len());
    for (l, t) in listed.iter().zip(&expected) {
        assert_eq!(l["name"], json!(t.name));
        assert_eq!(l["inputSchema"], t.parameters);
    }
    client.close().unwrap();
}

#[test]
fn an_unknown_toolset_is_an_error_naming_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args([
            "mcp-serve",
            &config.display().to_string(),
            "--toolset",
            "ts-999",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "stdout is reserved for the protocol");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ts-999") && stderr.contains("ts-000"),
        "{stderr}"
    );
}
