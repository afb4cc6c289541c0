//! `trainer bfcl score` end to end through the CLI, on the committed BFCL fixture subset:
//! official layout in, official layout out, exit 0 whatever the accuracy.

use std::process::Command;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bfcl/data");

#[test]
fn scores_official_layout_and_writes_score_files() {
    let tmp = tempfile::tempdir().unwrap();
    let res = tmp.path().join("result/Qwen_Qwen3-8B-FC/run1");
    std::fs::create_dir_all(&res).unwrap();
    let right = "<tool_call>\n{\"name\": \"mutation_type.find\", \"arguments\": {\"snp_id\": \"rs6034464\"}}\n</tool_call>";
    let wrong = "<tool_call>\n{\"name\": \"get_plants_for_slope\", \"arguments\": {\"slope_type\": \"flat\", \"num_results\": 3}}\n</tool_call>";
    let lines = [
        serde_json::json!({"id": "simple_python_60", "result": right}),
        serde_json::json!({"id": "simple_python_194", "result": wrong}),
    ];
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(res.join("BFCL_v4_simple_python_result.json"), body).unwrap();

    let score = tmp.path().join("score");
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args([
            "bfcl",
            "score",
            "--model",
            "Qwen/Qwen3-8B-FC",
            "--partial-eval",
            "--data",
            DATA,
        ])
        .arg("--result-dir")
        .arg(tmp.path().join("result"))
        .arg("--score-dir")
        .arg(&score)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("simple_python") && stdout.contains("50.00%"),
        "{stdout}"
    );

    let f = score.join("Qwen_Qwen3-8B-FC/non_live/BFCL_v4_simple_python_score.json");
    let text = std::fs::read_to_string(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    let mut it = text.lines();
    let head: serde_json::Value = serde_json::from_str(it.next().unwrap()).unwrap();
    assert_eq!(head["correct_count"], 1);
    assert_eq!(head["total_count"], 2);
    let failed: serde_json::Value = serde_json::from_str(it.next().unwrap()).unwrap();
    assert_eq!(failed["id"], "simple_python_194");
}

#[test]
fn missing_data_dir_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trainer"))
        .args([
            "bfcl",
            "score",
            "--model",
            "Qwen/Qwen3-8B",
            "--result-dir",
            "r",
            "--score-dir",
            "s",
            "--data",
        ])
        .arg(tmp.path().join("nope"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("BFCL data not found") && err.contains("nope"),
        "{err}"
    );
}
