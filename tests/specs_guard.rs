//! The contamination guard refuses BFCL evaluation data unless explicitly overridden.

#[path = "specs_common/mod.rs"]
mod common;

use common::fixture;
use trainer::specs::{ingest_file, ingest_str, IngestOptions};

#[test]
fn bfcl_file_names_are_refused() {
    let path = fixture("BFCL_v4_simple_python.json");
    let e = ingest_file(&path, &IngestOptions::default()).unwrap_err();
    assert_eq!(e.kind(), "contaminated");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: refusing BFCL evaluation data (file name \"BFCL_v4_simple_python.json\" is a BFCL data file name \
             (BFCL_v*_...)); training on it would contaminate the benchmark (pass the explicit allow-BFCL override \
             only for evaluation tooling)",
            path.display()
        )
    );
}

#[test]
fn bfcl_ids_are_refused_whatever_the_file_name() {
    let path = fixture("bfcl-questions.jsonl");
    let e = ingest_file(&path, &IngestOptions::default()).unwrap_err();
    assert_eq!(e.kind(), "contaminated");
    assert!(
        e.to_string()
            .contains("(entry id \"simple_python_0\" at /0/id is a BFCL test id)"),
        "{e}"
    );
    let text = r#"{"id": "live_multiple_3-1-0", "function": [{"name": "f", "parameters": {"type": "dict", "properties": {}}}]}"#;
    let e = ingest_str("renamed.json", text, &IngestOptions::default()).unwrap_err();
    assert_eq!(e.kind(), "contaminated");
}

#[test]
fn bfcl_package_paths_are_refused() {
    let path = std::path::Path::new(
        "/somewhere/site-packages/bfcl_eval/data/multi_turn_func_doc/gorilla_file_system.json",
    );
    let e = ingest_file(path, &IngestOptions::default()).unwrap_err();
    assert_eq!(e.kind(), "contaminated", "{e}");
}

#[test]
fn override_allows_bfcl_data() {
    let opts = IngestOptions {
        allow_bfcl: true,
        ..IngestOptions::default()
    };
    let spec = ingest_file(&fixture("bfcl-questions.jsonl"), &opts).unwrap();
    // Two entries carry the same function: it is ingested once, the repeat is skipped.
    assert_eq!(spec.tools.len(), 1);
    assert_eq!(spec.tools[0].name, "calculate_triangle_area");
    assert_eq!(spec.tools[0].provenance.pointer, "/0/function/0");
    assert_eq!(spec.report.skipped[0].pointer, "/1/function/0");
    let named = ingest_file(&fixture("BFCL_v4_simple_python.json"), &opts).unwrap();
    assert_eq!(named.tools[0].name, "innocent");
}

#[test]
fn ordinary_ids_pass() {
    let text =
        r#"[{"id": "user_12", "name": "f", "parameters": {"type": "object", "properties": {}}}]"#;
    assert!(ingest_str("ok.json", text, &IngestOptions::default()).is_ok());
}
