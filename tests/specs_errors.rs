//! Broken specs: exact error texts naming the file and the JSON pointer; the rest still loads.

#[path = "specs_common/mod.rs"]
mod common;

use common::{fixture, load, names};
use trainer::specs::{ingest_file, ingest_paths, ingest_str, IngestOptions, SkipReason};

fn file_error(name: &str) -> (String, String) {
    let path = fixture(name);
    match ingest_file(&path, &IngestOptions::default()) {
        Ok(_) => panic!("{name} should fail"),
        Err(e) => (e.kind().to_string(), e.to_string()),
    }
}

#[test]
fn broken_operations_are_skipped_with_file_and_pointer() {
    let spec = load("broken-operations.json");
    let file = fixture("broken-operations.json").display().to_string();
    assert_eq!(names(&spec), ["fine"]);
    let got: Vec<(SkipReason, String)> = spec
        .report
        .skipped
        .iter()
        .map(|s| (s.reason, s.message.clone()))
        .collect();
    let want = vec![
        (SkipReason::Malformed, format!("{file}#/paths/~1a/get/parameters/0: parameter has no \"name\"")),
        (
            SkipReason::Malformed,
            format!("{file}#/paths/~1b/get/parameters/0: parameter \"x\" has unknown location \"in\": \"body\""),
        ),
        (
            SkipReason::BadRef,
            format!("{file}#/paths/~1c/get/parameters/0/schema/$ref: $ref \"#/components/schemas/Nope\" points to nothing"),
        ),
        (
            SkipReason::BadRef,
            format!(
                "{file}#/paths/~1d/post/requestBody/content/application~1json/schema/$ref: $ref \"other.yaml#/Pet\" \
                 points into another document (only local \"#/...\" refs are supported)"
            ),
        ),
        (SkipReason::Malformed, format!("{file}#/paths/~1e/get: operation is a string instead of an object")),
        (
            SkipReason::UnsupportedBody,
            format!("{file}#/paths/~1f/put/requestBody/content: required request body has no schema under any media type"),
        ),
        (SkipReason::BadRef, format!("{file}#/paths/~1h/$ref: more than 8 chained $refs (a reference cycle?)")),
    ];
    assert_eq!(got, want);
    // The unresolvable response of /g does not cost the tool, only its response schema.
    let fine = &spec.tools[0];
    assert_eq!(fine.response_schema, None);
    assert_eq!(
        fine.provenance.notes,
        ["/paths/~1g/get/responses/200/$ref: $ref \"#/components/responses/Missing\" points to nothing; response schema ignored"]
    );
}

#[test]
fn whole_file_errors_name_the_file() {
    let f = |n: &str| fixture(n).display().to_string();
    assert_eq!(
        file_error("broken-syntax.json"),
        (
            "parse".into(),
            format!("{}: not valid JSON, JSON Lines or YAML: JSON: EOF while parsing an object at line 1 column 48", f("broken-syntax.json"))
        )
    );
    assert_eq!(
        file_error("broken-syntax.yaml"),
        (
            "parse".into(),
            format!(
                "{}: not valid JSON, JSON Lines or YAML: YAML: did not find expected node content at line 3 column 14, while parsing a flow node",
                f("broken-syntax.yaml")
            )
        )
    );
    assert_eq!(
        file_error("broken-paths.json"),
        (
            "malformed".into(),
            format!(
                "{}#/paths: \"paths\" is an array instead of an object",
                f("broken-paths.json")
            )
        )
    );
    assert_eq!(
        file_error("unknown-format.json"),
        (
            "unknown-format".into(),
            format!(
                "{}: unrecognized spec format (expected OpenAPI 3.x, Swagger 2.0, OpenAI tools, MCP tools/list or BFCL-style function docs)",
                f("unknown-format.json")
            )
        )
    );
    let missing = fixture("does-not-exist.json");
    let e = ingest_file(&missing, &IngestOptions::default()).unwrap_err();
    assert_eq!(e.kind(), "io");
    assert!(
        e.to_string()
            .starts_with(&format!("{}: cannot read: ", missing.display())),
        "{e}"
    );
}

#[test]
fn oversized_files_are_refused() {
    let opts = IngestOptions {
        max_file_bytes: 10,
        ..IngestOptions::default()
    };
    let path = fixture("petstore-3.0.json");
    let size = std::fs::metadata(&path).unwrap().len();
    let e = ingest_file(&path, &opts).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: {size} bytes is over the limit of 10 bytes for one spec file",
            path.display()
        )
    );
}

#[test]
fn a_run_goes_on_after_failed_files_and_counts_reasons() {
    let paths: Vec<_> = [
        "petstore-3.0.json",
        "broken-syntax.json",
        "broken-operations.json",
        "unknown-format.json",
        "BFCL_v4_simple_python.json",
    ]
    .iter()
    .map(|n| fixture(n))
    .collect();
    let run = ingest_paths(&paths, &IngestOptions::default());
    assert_eq!(run.tools.len(), 6);
    let report = &run.report;
    assert_eq!(report.files.len(), 5);
    assert_eq!(report.apis(), 2);
    assert_eq!(report.failed_files(), 3);
    let by_reason: Vec<(String, usize)> = report
        .skipped_by_reason()
        .into_iter()
        .map(|(r, n)| (r.to_string(), n))
        .collect();
    assert_eq!(
        by_reason,
        [
            ("malformed".to_string(), 3),
            ("bad-ref".to_string(), 3),
            ("unsupported-body".to_string(), 1),
            ("deprecated".to_string(), 1)
        ]
    );
    let failures: Vec<(String, usize)> = report.failures_by_kind().into_iter().collect();
    assert_eq!(
        failures,
        [
            ("contaminated".to_string(), 1),
            ("parse".to_string(), 1),
            ("unknown-format".to_string(), 1)
        ]
    );
    assert_eq!(
        report.totals(),
        "files: 5, APIs: 2, tools: 6, notes: 2, failed files: 3\n\
         skipped items: 8, malformed: 3, bad-ref: 3, unsupported-body: 1, deprecated: 1\n\
         failed files by kind: contaminated: 1, parse: 1, unknown-format: 1\n"
    );
}

#[test]
fn yaml_edge_cases_do_not_panic() {
    let opts = IngestOptions::default();
    for text in [
        "openapi: 3.0.0\npaths:\n  /a:\n    get:\n      responses:\n        200: {description: x}\n",
        "a: &a [*a]\n",
        "--- 1\n--- 2\n",
        "x: !tag {a: 1}\n",
        "? [1, 2]\n: x\n",
        "openapi: 3.1\npaths: {}\n",
        "",
        "\u{feff}{\"openapi\": \"3.0.0\", \"paths\": {}}",
    ] {
        let _ = ingest_str("edge.yaml", text, &opts);
    }
    let numeric = ingest_str(
        "num.yaml",
        "openapi: 3.1\ninfo: {title: T, version: 1.0}\npaths: {}\n",
        &opts,
    )
    .unwrap();
    assert_eq!(numeric.report.api_version.as_deref(), Some("1.0"));
}
