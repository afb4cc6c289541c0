//! The MCP-tree refinement end to end: `trainer toolsets` on specs that hold two versions of one
//! API (the rule merges each operation with its other version, keeps the rest, and records
//! every merge), config errors, and the closed loop persisting the refined pool so that a
//! resumed run keeps it even when the spec files change underneath.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value as Json};

fn trainer() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trainer"));
    c.env("RUST_LOG", "warn");
    c
}

/// `trainer toolsets CFG --out OUT`.
fn toolsets(cfg: &Path, out: impl AsRef<std::ffi::OsStr>) -> std::process::Output {
    trainer()
        .arg("toolsets")
        .arg(cfg)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn function(name: &str, description: &str, properties: Json, required: &[&str]) -> Json {
    json!({"type": "function", "function": {"name": name, "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required}}})
}

/// The shipped specs plus two versions of a CRM API (OpenAI tools files).
fn specs_dir(root: &Path) -> PathBuf {
    let dir = root.join("specs");
    std::fs::create_dir_all(&dir).unwrap();
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs");
    for e in std::fs::read_dir(&shipped).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    let id = json!({"customer_id": {"type": "string", "description": "Customer id"}});
    let v1 = json!([
        function(
            "get_customer",
            "Get a customer record by its id.",
            id.clone(),
            &["customer_id"]
        ),
        function(
            "delete_customer",
            "Delete a customer record by its id.",
            id.clone(),
            &["customer_id"]
        ),
        function(
            "list_invoices",
            "List the invoices of a customer.",
            id.clone(),
            &["customer_id"]
        ),
    ]);
    let v2 = json!([
        function(
            "getCustomerV2",
            "Get a customer record by its id.",
            json!({"customerId": {"type": "string"}, "fields": {"type": "string"}}),
            &["customerId"]
        ),
        function(
            "deleteCustomerV2",
            "Delete a customer record by its id.",
            json!({"customerId": {"type": "string"}}),
            &["customerId"]
        ),
        function(
            "export_customers",
            "Export every customer as CSV.",
            json!({"format": {"type": "string"}}),
            &["format"]
        ),
    ]);
    std::fs::write(dir.join("crm_v1.json"), v1.to_string()).unwrap();
    std::fs::write(dir.join("crm_v2.json"), v2.to_string()).unwrap();
    dir
}

fn lines(path: &Path) -> Vec<Json> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn names(tools: &[Json]) -> Vec<String> {
    tools
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn config(root: &Path, specs: &Path, extra: &str) -> PathBuf {
    let path = root.join("cfg.toml");
    std::fs::write(
        &path,
        format!(
            "[run]\nname = \"r\"\noutput_dir = \"{}\"\n[model]\nsource = \"none\"\n[synth]\nspecs = [\"{}\"]\n[synth.toolsets]\nembedding = \"hashed\"\n{extra}",
            root.join("runs").display(),
            specs.display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn toolsets_merges_the_versions_of_one_operation_and_records_each_merge() {
    let dir = tempfile::tempdir().unwrap();
    let specs = specs_dir(dir.path());
    let cfg = config(dir.path(), &specs, "");
    let out = dir.path().join("pool");
    let o = toolsets(&cfg, &out);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("MCP-tree refinement: 45 tools -> 43 (2 merges of 4 tools"),
        "{stdout}"
    );
    assert!(
        stdout.contains("get_customer, getCustomerV2 -> getCustomerV2"),
        "{stdout}"
    );
    let merges = lines(&out.join("refine.jsonl"));
    let merged: Vec<(Json, Json)> = merges
        .iter()
        .map(|m| (m["tools"].clone(), m["merged"].clone()))
        .collect();
    assert_eq!(
        merged,
        [
            (
                json!(["get_customer", "getCustomerV2"]),
                json!("getCustomerV2")
            ),
            (
                json!(["delete_customer", "deleteCustomerV2"]),
                json!("delete_customer")
            ),
        ]
    );
    assert!(merges.iter().all(|m| m["by"] == "rule" && m["pass"] == 1));
    let tools = lines(&out.join("tools.jsonl"));
    let n = names(&tools);
    assert_eq!(tools.len(), 43);
    for gone in ["get_customer", "deleteCustomerV2"] {
        assert!(!n.contains(&gone.to_string()), "{gone} was merged away");
    }
    for kept in [
        "getCustomerV2",
        "delete_customer",
        "list_invoices",
        "export_customers",
        "get_forecast",
    ] {
        assert!(n.contains(&kept.to_string()), "{kept} is kept");
    }
    let get = &tools[n.iter().position(|x| x == "getCustomerV2").unwrap()];
    let note = get["provenance"]["notes"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap();
    assert!(
        note.contains("merged with `get_customer` (") && note.contains("crm_v1.json"),
        "{note}"
    );
    // The toolsets are built from the refined pool: every member exists, none twice.
    let sets = lines(&out.join("toolsets.jsonl"));
    let mut members: Vec<String> = sets
        .iter()
        .flat_map(|s| {
            s["tools"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap().to_string())
        })
        .collect();
    members.sort();
    let mut want = n.clone();
    want.sort();
    assert_eq!(members, want);

    // `refine = "off"`: every tool is kept and nothing is recorded.
    let cfg = config(dir.path(), &specs, "refine = \"off\"\n");
    let o = toolsets(&cfg, &out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(lines(&out.join("tools.jsonl")).len(), 45);
    assert!(lines(&out.join("refine.jsonl")).is_empty());
}

#[test]
fn refinement_settings_are_validated_with_the_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let specs = specs_dir(dir.path());
    for (extra, want) in [
        ("merge_threshold = 1.5\n", "toolsets.merge_threshold"),
        ("refine_passes = 0\n", "toolsets.refine_passes"),
        ("max_candidates = 1\n", "toolsets.max_candidates"),
        ("refine = \"smart\"\n", "unknown variant `smart`"),
    ] {
        let cfg = config(dir.path(), &specs, extra);
        let o = toolsets(&cfg, dir.path().join("o"));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra}");
        assert!(
            stderr.contains(want) && stderr.contains("cfg.toml"),
            "{extra}: {stderr}"
        );
    }
}

#[test]
fn the_run_keeps_its_refined_pool_when_resumed() {
    if trainer::assets::skip_real_assets() {
        println!("skipped: TRAINER_SKIP_REAL_ASSETS=1 (needs the Qwen3 tokenizer)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let tokenizer = common::save_tiny_qwen3_dir(&model, 5, 4096);
    let specs = specs_dir(dir.path());
    let text = format!(
        "[run]\nname = \"r\"\noutput_dir = \"{}\"\nthreads = 1\n[model]\nsource = \"{}\"\ntokenizer = \"{}\"\n[generation]\nmax_new_tokens = 4\n[synth]\nspecs = [\"{}\"]\nepisodes = 4\n[synth.toolsets]\nembedding = \"hashed\"\n[loop]\nheldout_per_category = 1\n",
        dir.path().join("runs").display(),
        model.display(),
        tokenizer.display(),
        specs.display()
    );
    let cfg = trainer::config::Config::from_toml(&text, Path::new("t.toml")).unwrap();
    let opts = |until| trainer::iteration::RunOptions {
        progress: false,
        until: Some(until),
        ..Default::default()
    };
    trainer::iteration::run(&cfg, &opts("heldout")).unwrap();
    let heldout = dir.path().join("runs/r/heldout");
    let pool = names(&lines(&heldout.join("tools.jsonl")));
    assert_eq!(pool.len(), 43);
    assert_eq!(lines(&heldout.join("refine.jsonl")).len(), 2);
    let split: Json =
        serde_json::from_str(&std::fs::read_to_string(heldout.join("split.json")).unwrap())
            .unwrap();
    for set in split["train"]
        .as_array()
        .unwrap()
        .iter()
        .chain(split["heldout"].as_array().unwrap())
    {
        for t in set["tools"].as_array().unwrap() {
            assert!(
                pool.contains(&t.as_str().unwrap().to_string()),
                "{t} is in the pool"
            );
        }
    }
    // An attempt interrupted before the split was written (its pool file is there, the split
    // and the phase mark are not): the next attempt refines the specs as they are now, from
    // scratch — a tool added in between is in the pool and the merges are recorded again.
    std::fs::remove_file(heldout.join("split.json")).unwrap();
    std::fs::remove_file(dir.path().join("runs/r/iter_0000/phases.json")).unwrap();
    let extra = json!([function(
        "track_parcel",
        "Track a parcel.",
        json!({"parcel_id": {"type": "string"}}),
        &["parcel_id"]
    )]);
    std::fs::write(specs.join("parcels.json"), extra.to_string()).unwrap();
    trainer::iteration::run(&cfg, &opts("heldout")).unwrap();
    let pool = names(&lines(&heldout.join("tools.jsonl")));
    assert_eq!(pool.len(), 44);
    assert!(pool.contains(&"track_parcel".to_string()));
    assert_eq!(lines(&heldout.join("refine.jsonl")).len(), 2);
    // The spec files change (v1 of the CRM API is gone); the resumed run still trains on the
    // pool it refined, which holds a tool only v1 defined.
    std::fs::remove_file(specs.join("crm_v1.json")).unwrap();
    trainer::iteration::run(&cfg, &opts("synth")).unwrap();
    assert_eq!(names(&lines(&heldout.join("tools.jsonl"))), pool);
    let tasks = lines(&dir.path().join("runs/r/iter_0000/trajectories.tasks.jsonl"));
    assert!(!tasks.is_empty());
    let text = tasks.iter().map(Json::to_string).collect::<String>();
    assert!(
        !text.contains("\"get_customer\"") && !text.contains("deleteCustomerV2"),
        "merged-away tools are never offered"
    );
    assert!(pool.contains(&"list_invoices".to_string()));
}
