//! `score()` never panics on malformed input: it names the file and line, or
//! counts the entry as failed where the official tool does.  (In the trainer
//! crate, `trainer::eval` is `trainer::eval`.)

use std::path::{Path, PathBuf};

use trainer::eval::score::{score, Error, ScoreArgs};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bfcl/data")
}

/// First ID of a fixture category.
fn first_id(cat: &str) -> String {
    let text =
        std::fs::read_to_string(data_dir().join(format!("BFCL_v4_{cat}.json"))).expect("fixture");
    let line = text.lines().next().expect("one entry");
    let v = trainer::eval::pyjson::loads(line).expect("json");
    v.as_dict()
        .and_then(|d| d.get_str("id"))
        .and_then(|v| v.as_str())
        .expect("id")
        .to_string()
}

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn write(&self, model_dir: &str, cat: &str, body: &str) -> PathBuf {
        let d = self.dir.path().join("result").join(model_dir).join("x");
        std::fs::create_dir_all(&d).expect("mkdir");
        let p = d.join(format!("BFCL_v4_{cat}_result.json"));
        std::fs::write(&p, body).expect("write");
        p
    }

    fn args(&self, model: &str, cats: Option<&[&str]>) -> ScoreArgs {
        ScoreArgs {
            result_dir: self.dir.path().join("result"),
            score_dir: self.dir.path().join("score"),
            model: model.into(),
            categories: cats.map(|c| c.iter().map(|s| s.to_string()).collect()),
            partial_eval: true,
            data_dir: data_dir(),
        }
    }
}

#[test]
fn bad_json_line_names_file_and_line() {
    let s = Setup::new();
    let id = first_id("simple_python");
    s.write(
        "Qwen_Qwen3-8B",
        "simple_python",
        &format!("{{\"id\": \"{id}\", \"result\": \"[]\"}}\n{{oops\n"),
    );
    let err = score(&s.args("Qwen/Qwen3-8B", None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("BFCL_v4_simple_python_result.json:2"), "{err}");
}

#[test]
fn missing_fields_and_unknown_ids_are_errors() {
    let s = Setup::new();
    s.write("Qwen_Qwen3-8B", "simple_python", "{\"result\": \"[]\"}\n");
    let err = score(&s.args("Qwen/Qwen3-8B", None)).unwrap_err();
    assert!(matches!(err, Error::BadResultLine { line: 1, .. }), "{err}");

    let id = first_id("simple_python");
    s.write(
        "Qwen_Qwen3-8B",
        "simple_python",
        &format!("{{\"id\": \"{id}\"}}\n"),
    );
    let err = score(&s.args("Qwen/Qwen3-8B", None)).unwrap_err();
    assert!(
        err.to_string().contains("missing field \"result\""),
        "{err}"
    );

    s.write(
        "Qwen_Qwen3-8B",
        "simple_python",
        "{\"id\": \"simple_python_99999\", \"result\": \"[]\"}\n",
    );
    let err = score(&s.args("Qwen/Qwen3-8B", None)).unwrap_err();
    assert!(matches!(err, Error::ResultIds { .. }), "{err}");

    s.write("Qwen_Qwen3-8B", "simple_python", "");
    assert!(score(&s.args("Qwen/Qwen3-8B", None)).is_err());
}

#[test]
fn non_string_results_fail_the_entry_without_aborting() {
    let s = Setup::new();
    let id = first_id("simple_python");
    s.write(
        "Qwen_Qwen3-8B-FC",
        "simple_python",
        &format!("{{\"id\": \"{id}\", \"result\": [1, 2]}}\n"),
    );
    let summary = score(&s.args("Qwen/Qwen3-8B-FC", None)).expect("scores");
    let c = &summary.categories[0];
    assert_eq!((c.correct_count, c.total_count), (0, 1));
    assert_eq!(c.failures[0].error_type, "ast_decoder:decoder_failed");
}

#[test]
fn full_eval_requires_every_id() {
    let s = Setup::new();
    let id = first_id("simple_python");
    s.write(
        "Qwen_Qwen3-8B",
        "simple_python",
        &format!("{{\"id\": \"{id}\", \"result\": \"[]\"}}\n"),
    );
    let mut args = s.args("Qwen/Qwen3-8B", None);
    args.partial_eval = false;
    let err = score(&args).unwrap_err().to_string();
    assert!(err.contains("--partial-eval"), "{err}");
}

#[test]
fn unsupported_categories_are_skipped_or_refused() {
    let s = Setup::new();
    let id = first_id("simple_python");
    s.write(
        "Qwen_Qwen3-8B",
        "simple_python",
        &format!("{{\"id\": \"{id}\", \"result\": \"[]\"}}\n"),
    );
    let java_id = first_id("simple_java");
    s.write(
        "Qwen_Qwen3-8B",
        "simple_java",
        &format!("{{\"id\": \"{java_id}\", \"result\": \"[]\"}}\n"),
    );
    s.write(
        "Qwen_Qwen3-8B",
        "format_sensitivity",
        "{\"id\": \"format_sensitivity_0:plaintext:simple_python_1\", \"result\": \"[]\"}\n",
    );
    // Java/JS are scored like the Python categories; format sensitivity is skipped.
    let summary = score(&s.args("Qwen/Qwen3-8B", None)).expect("scores");
    assert_eq!(summary.categories.len(), 2);
    assert_eq!(summary.skipped.len(), 1);
    let java = score(&s.args("Qwen/Qwen3-8B", Some(&["simple_java"]))).expect("java scores");
    assert_eq!(java.categories.len(), 1);
    assert_eq!(java.categories[0].correct_count, 0);
    let err = score(&s.args("Qwen/Qwen3-8B", Some(&["format_sensitivity"]))).unwrap_err();
    assert!(matches!(err, Error::NotImplemented { .. }), "{err}");
    // Agentic results are scored; without the memory data the error names the missing file.
    s.write(
        "Qwen_Qwen3-8B",
        "memory_kv",
        "{\"id\": \"memory_kv_0-customer-0\", \"result\": [[\"x\"]]}\n",
    );
    let err = score(&s.args("Qwen/Qwen3-8B", Some(&["memory_kv"]))).unwrap_err();
    assert!(err.to_string().contains("BFCL_v4_memory.json"), "{err}");
    let err = score(&s.args("Qwen/Qwen3-8B", Some(&["bogus"]))).unwrap_err();
    assert!(matches!(err, Error::UnknownCategory(_)), "{err}");
    let err = score(&s.args("gpt-4o", None)).unwrap_err();
    assert!(matches!(err, Error::UnknownModel(_)), "{err}");
}

#[test]
fn unserializable_failed_entries_are_errors_like_the_official_crash() {
    // json.dumps raises on a tuple dict key, which aborts the official run.
    let s = Setup::new();
    let id = first_id("simple_python");
    let body = format!("{{\"id\": \"{id}\", \"result\": \"[nope(a={{(1, 2): 3}})]\"}}\n");
    s.write("Qwen_Qwen3-8B", "simple_python", &body);
    let err = score(&s.args("Qwen/Qwen3-8B", None)).unwrap_err();
    assert!(matches!(err, Error::Serialize { .. }), "{err}");
}
