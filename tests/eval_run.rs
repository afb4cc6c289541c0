//! `trainer eval` end to end through the library on the committed BFCL fixture subset
//! (tests/fixtures/bfcl/data: 3 entries in each of the 11 Python single-turn categories):
//! official result layout, scoring, summary, resume, `limit`, context overflow.
//!
//! The model is a tiny random Llama with the real SmolLM2 tokenizer (skipped with
//! `TRAINER_SKIP_REAL_ASSETS=1`), so answers are junk; what is checked is the plumbing. The last
//! test uses a scripted generator (clearly not a model) that answers with the ground truth, to
//! check that stored answers are scored as the official checker would score them.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use serde_json::Value as Json;
use trainer::backend::{ChatRequest, LocalBackend};
use trainer::chat::Tokenizer;
use trainer::eval::category::{group, sort_key};
use trainer::eval::data::load_category;
use trainer::eval::infer::{run_eval, EvalArgs, EvalProfile, Generated, Generator, RunInfo};
use trainer::eval::score::{score, ScoreArgs};
use trainer::model::{Arch, Model, TensorMap};

const CATEGORIES: [&str; 13] = [
    "irrelevance",
    "live_irrelevance",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_relevance",
    "live_simple",
    "multiple",
    "parallel",
    "parallel_multiple",
    "simple_java",
    "simple_javascript",
    "simple_python",
];

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bfcl/data")
}

fn tiny_backend(context: usize) -> Option<LocalBackend> {
    if trainer::assets::skip_real_assets() {
        println!("skipped: TRAINER_SKIP_REAL_ASSETS=1");
        return None;
    }
    let assets = trainer::assets::ensure_assets().unwrap_or_else(|e| panic!("{e}"));
    let tok = Tokenizer::from_gguf_file(&assets.smollm2_gguf).unwrap();
    let mut cfg = common::tiny_config(Arch::Llama);
    cfg.vocab_size = tok.vocab_size();
    cfg.max_position_embeddings = context;
    let w = TensorMap::random(&cfg, 11, 0.2).unwrap();
    let model = Model::load(&cfg, &w, DType::F32, &Device::Cpu).unwrap();
    Some(LocalBackend::new(model, tok, "tiny-random".into()))
}

fn args(out: &Path, profile: EvalProfile, categories: &[&str], max_new: usize) -> EvalArgs {
    EvalArgs {
        profile,
        categories: categories.iter().map(|s| s.to_string()).collect(),
        data_dir: data_dir(),
        out_dir: out.to_path_buf(),
        limit: None,
        batch_size: 1,
        seed: 0,
        show_progress: false,
        run_info: RunInfo {
            model_source: "tiny-random".into(),
            tokenizer: None,
            dtype: "f32".into(),
            adapter: None,
            max_new_tokens: max_new,
        },
    }
}

fn result_path(out: &Path, profile: EvalProfile, cat: &str) -> PathBuf {
    out.join("result")
        .join(profile.model_dir_name())
        .join(group(cat))
        .join(format!("BFCL_v4_{cat}_result.json"))
}

fn lines(path: &Path) -> Vec<Json> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn fixture_ids(cat: &str) -> Vec<String> {
    let mut ids: Vec<String> = load_category(&data_dir(), cat)
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect();
    ids.sort_by_key(|id| sort_key(id));
    ids
}

#[test]
fn fc_run_writes_the_official_layout_scores_and_resumes() {
    let Some(backend) = tiny_backend(4096) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("eval");
    // `all` now includes the multi-turn categories, which the fixture data does not have.
    let a = args(&out, EvalProfile::Fc, &["single_turn"], 6);
    let s = run_eval(&backend, &a).unwrap();
    assert_eq!(s.bfcl_model, "Qwen/Qwen3-8B-FC");
    assert!(!s.partial_eval);
    assert_eq!(s.inference.new_entries, 39);
    assert_eq!(s.categories.len(), 13);
    for cat in CATEGORIES {
        let ls = lines(&result_path(&out, EvalProfile::Fc, cat));
        let ids: Vec<String> = ls
            .iter()
            .map(|l| l["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, fixture_ids(cat), "{cat}");
        for l in &ls {
            assert!(l["result"].is_string(), "{l}");
            assert!(l["input_token_count"].as_u64().unwrap() > 100, "{l}");
            assert!(l["output_token_count"].as_u64().unwrap() <= 6, "{l}");
        }
        let score_file = out
            .join("score/Qwen_Qwen3-8B-FC")
            .join(group(cat))
            .join(format!("BFCL_v4_{cat}_score.json"));
        let header = &lines(&score_file)[0];
        assert_eq!(header["total_count"], 3, "{cat}");
    }
    let on_disk: Json =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(on_disk["categories"].as_array().unwrap().len(), 13);
    assert_eq!(on_disk["profile"], "fc");

    // The scorer reads the files as a full (non-partial) run, independently of run_eval.
    let rescore = score(&ScoreArgs {
        result_dir: out.join("result"),
        score_dir: dir.path().join("rescore"),
        model: "Qwen/Qwen3-8B-FC".into(),
        categories: None,
        partial_eval: false,
        data_dir: data_dir(),
    })
    .unwrap();
    let counts = |v: Vec<(String, usize, usize)>| v;
    assert_eq!(
        counts(
            rescore
                .categories
                .iter()
                .map(|c| (c.category.clone(), c.correct_count, c.total_count))
                .collect()
        ),
        counts(
            s.categories
                .iter()
                .map(|c| (c.category.clone(), c.correct_count, c.total_count))
                .collect()
        )
    );

    // Resume: nothing is recomputed, the files stay byte-identical.
    let sp = result_path(&out, EvalProfile::Fc, "simple_python");
    let before = std::fs::read_to_string(&sp).unwrap();
    let s2 = run_eval(&backend, &a).unwrap();
    assert_eq!(s2.inference.new_entries, 0);
    assert_eq!(s2.inference.resumed_entries, 39);
    assert_eq!(std::fs::read_to_string(&sp).unwrap(), before);

    // A run killed mid-write: one answer lost and a torn line. Only that entry is redone.
    let kept: Vec<&str> = before
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(
        &sp,
        format!("{}\n{{\"id\": \"simple_python_3", kept.join("\n")),
    )
    .unwrap();
    let s3 = run_eval(&backend, &a).unwrap();
    assert_eq!(s3.inference.new_entries, 1);
    assert_eq!(std::fs::read_to_string(&sp).unwrap(), before);

    // Other settings may not resume into the same directory.
    let mut other = a.clone();
    other.run_info.max_new_tokens = 7;
    let e = run_eval(&backend, &other).unwrap_err().to_string();
    assert!(
        e.contains("max_new_tokens") && e.contains("run_info.json"),
        "{e}"
    );
}

#[test]
fn prompting_run_with_a_limit_is_scored_as_partial() {
    let Some(backend) = tiny_backend(4096) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(
        dir.path(),
        EvalProfile::Prompting,
        &["simple_python", "live"],
        4,
    );
    a.limit = Some(2);
    a.batch_size = 5;
    let s = run_eval(&backend, &a).unwrap();
    assert!(s.partial_eval);
    assert_eq!(s.categories.len(), 7);
    assert_eq!(s.inference.new_entries, 14);
    assert!(s.to_string().contains("PARTIAL"), "{s}");
    let data = load_category(&data_dir(), "live_multiple").unwrap();
    let ls = lines(&result_path(
        dir.path(),
        EvalProfile::Prompting,
        "live_multiple",
    ));
    let ids: Vec<&str> = ls.iter().map(|l| l["id"].as_str().unwrap()).collect();
    // limit 2 of 3 keeps entries ⌊0·3/2⌋ = 0 and ⌊1·3/2⌋ = 1.
    assert_eq!(
        ids,
        [data.entries[0].id.as_str(), data.entries[1].id.as_str()]
    );
    for c in &s.categories {
        assert_eq!((c.total_count, c.dataset_count), (2, 3), "{}", c.category);
    }
}

#[test]
fn prompts_beyond_the_context_are_recorded_as_inference_errors() {
    let Some(backend) = tiny_backend(64) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = args(
        dir.path(),
        EvalProfile::Fc,
        &["irrelevance", "simple_python"],
        4,
    );
    let s = run_eval(&backend, &a).unwrap();
    for l in lines(&result_path(dir.path(), EvalProfile::Fc, "simple_python")) {
        let r = l["result"].as_str().unwrap();
        assert!(
            r.starts_with("Error during inference: the prompt has "),
            "{r}"
        );
    }
    let by: HashMap<&str, (f64, usize)> = s
        .categories
        .iter()
        .map(|c| (c.category.as_str(), (c.accuracy, c.inference_errors)))
        .collect();
    // An error text is no function call: irrelevance passes, simple_python fails.
    assert_eq!(by["irrelevance"], (1.0, 3));
    assert_eq!(by["simple_python"], (0.0, 3));
}

#[test]
fn unsupported_categories_alone_are_an_error() {
    struct Never;
    impl Generator for Never {
        fn name(&self) -> &str {
            "never"
        }
        fn context_len(&self) -> usize {
            1
        }
        fn prompt_len(&self, _: &ChatRequest) -> trainer::backend::Result<usize> {
            unreachable!()
        }
        fn generate(
            &self,
            _: &[ChatRequest],
            _: usize,
        ) -> trainer::backend::Result<Vec<Generated>> {
            unreachable!()
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let a = args(
        dir.path(),
        EvalProfile::Fc,
        &["memory_vector", "web_search", "format_sensitivity"],
        4,
    );
    let e = run_eval(&Never, &a).unwrap_err().to_string();
    assert!(
        e.contains("nothing to evaluate")
            && e.contains("not supported yet")
            && e.contains("SerpAPI")
            && e.contains("faiss"),
        "{e}"
    );
}

/// Not a model: answers each prompt with its ground truth (first acceptable value of each
/// parameter) in the FC format, behind a `<think>` block the handler would strip.
struct GroundTruthScript {
    answers: HashMap<String, String>,
}

impl GroundTruthScript {
    fn new(categories: &[&str]) -> Self {
        let mut answers = HashMap::new();
        for cat in categories {
            let data = load_category(&data_dir(), cat).unwrap();
            for (i, e) in data.entries.iter().enumerate() {
                let q = e.question_json();
                let user = q[0].as_array().unwrap().last().unwrap()["content"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let text = match &data.answers {
                    None => "I cannot help with that using these tools.".to_string(),
                    Some(a) => {
                        let gt = a[i].to_json()["ground_truth"].clone();
                        let calls: Vec<String> = gt
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|call| {
                                let (name, params) =
                                    call.as_object().unwrap().iter().next().unwrap();
                                let mut args = serde_json::Map::new();
                                for (p, alts) in params.as_object().unwrap() {
                                    if let Some(v) =
                                        alts.as_array().unwrap().iter().find(|v| **v != "")
                                    {
                                        args.insert(p.clone(), v.clone());
                                    }
                                }
                                let call = serde_json::json!({"name": name, "arguments": args});
                                format!("<tool_call>\n{call}\n</tool_call>")
                            })
                            .collect();
                        calls.join("\n")
                    }
                };
                answers.insert(user, format!("<think>\nLet me see.\n</think>\n\n{text}"));
            }
        }
        GroundTruthScript { answers }
    }

    fn answer(&self, r: &ChatRequest) -> String {
        let user = r.messages.last().unwrap()["content"].as_str().unwrap();
        self.answers[user].clone()
    }
}

impl Generator for GroundTruthScript {
    fn name(&self) -> &str {
        "ground-truth script"
    }
    fn context_len(&self) -> usize {
        1 << 20
    }
    fn prompt_len(&self, r: &ChatRequest) -> trainer::backend::Result<usize> {
        Ok(serde_json::to_string(&r.messages).unwrap().len())
    }
    fn generate(&self, rs: &[ChatRequest], _: usize) -> trainer::backend::Result<Vec<Generated>> {
        Ok(rs
            .iter()
            .map(|r| Generated {
                text: self.answer(r),
                prompt_tokens: 1,
                completion_tokens: 1,
            })
            .collect())
    }
}

#[test]
fn ground_truth_answers_score_full_marks_and_are_stored_without_reasoning() {
    let cats = ["simple_python", "multiple", "parallel", "irrelevance"];
    let script = GroundTruthScript::new(&cats);
    let dir = tempfile::tempdir().unwrap();
    let mut a = args(dir.path(), EvalProfile::Fc, &cats, 4);
    a.batch_size = 2;
    let s = run_eval(&script, &a).unwrap();
    for c in &s.categories {
        assert_eq!((c.correct_count, c.total_count), (3, 3), "{}", c.category);
    }
    for l in lines(&result_path(dir.path(), EvalProfile::Fc, "parallel")) {
        let r = l["result"].as_str().unwrap();
        assert!(
            r.starts_with("<tool_call>\n{\"name\":") && !r.contains("think"),
            "{r}"
        );
    }
}
