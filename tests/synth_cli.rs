//! `trainer specs`: normalized tools as JSON lines on stdout, the report on stderr.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value as Json;

fn trainer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn specs_prints_tools_and_report() {
    let out = trainer()
        .arg("specs")
        .arg(root().join("specs"))
        .arg(root().join("tests/fixtures/synth/broken.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let tools: Vec<Json> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        tools.len(),
        39 + 1,
        "39 shipped tools + 1 good function of the broken fixture"
    );
    assert!(tools
        .iter()
        .all(|t| t["name"].is_string() && t["parameters"]["type"] == "object"));
    assert!(tools
        .iter()
        .any(|t| t["name"] == "book_flight" && t["response_schema"].is_object()));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("tools: 40"), "{stderr}");
    assert!(
        stderr.contains("broken.json#/1") && stderr.contains("malformed"),
        "{stderr}"
    );
}

#[test]
fn specs_refuses_bfcl_data_unless_allowed() {
    let f = root().join("tests/fixtures/synth/BFCL_v4_simple_python.json");
    let out = trainer().arg("specs").arg(&f).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("refusing BFCL evaluation data"), "{stderr}");
    let out = trainer()
        .arg("specs")
        .arg("--allow-bfcl")
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

#[test]
fn specs_names_a_missing_path() {
    let out = trainer()
        .arg("specs")
        .arg("/nonexistent/spec.json")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/spec.json"), "{stderr}");
}
