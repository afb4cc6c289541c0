//! `trainer eval` prompts against the official handlers (bfcl-eval==2026.3.23): golden strings in
//! tests/fixtures/bfcl/prompt_golden.jsonl, produced by scripts/bfcl_prompt_golden.py, which runs
//! `QwenFCHandler` / `QwenHandler` prompt construction on the committed fixture entries plus one
//! synthetic entry (system message, non-ASCII text).
//!
//! * Always: the FC tools (`json.dumps(tool)` lines) and the prompting system prompt are equal.
//! * With the real Qwen3 tokenizer: the prompt the local backend feeds the model (rendered with
//!   Qwen3's own chat template, tokenized, decoded back) equals the handler's `_format_prompt`
//!   text; for FC the only allowed difference is the tools' `ensure_ascii` (transformers'
//!   `tojson` keeps non-ASCII characters, the handler escapes them).

mod common;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use serde_json::Value as Json;
use trainer::backend::LocalBackend;
use trainer::chat::pyjson::{dumps, dumps_with, DumpOptions};
use trainer::chat::Tokenizer;
use trainer::eval::data::{load_category, TestEntry};
use trainer::eval::infer::prompt::build_request;
use trainer::eval::infer::EvalProfile;
use trainer::eval::pyjson;
use trainer::model::{Arch, Model, TensorMap};

struct Golden {
    id: String,
    category: String,
    entry: Option<String>,
    fc_tools: Vec<String>,
    fc_prompt: String,
    prompting_system: String,
    prompting_prompt: String,
}

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bfcl")
}

fn goldens() -> Vec<Golden> {
    let path = fixture_dir().join("prompt_golden.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    text.lines()
        .map(|l| {
            let v: Json = serde_json::from_str(l).unwrap();
            let s = |k: &str| v[k].as_str().unwrap().to_string();
            Golden {
                id: s("id"),
                category: s("category"),
                entry: v["entry"].as_str().map(str::to_string),
                fc_tools: v["fc_tools"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_string())
                    .collect(),
                fc_prompt: s("fc_prompt"),
                prompting_system: s("prompting_system"),
                prompting_prompt: s("prompting_prompt"),
            }
        })
        .collect()
}

fn entry_of(g: &Golden) -> TestEntry {
    if let Some(line) = &g.entry {
        return TestEntry {
            id: g.id.clone(),
            raw: pyjson::loads(line).unwrap(),
        };
    }
    let data = load_category(&fixture_dir().join("data"), &g.category).unwrap();
    data.entries.into_iter().find(|e| e.id == g.id).unwrap()
}

#[test]
fn golden_covers_every_fixture_entry_and_a_system_message() {
    let gs = goldens();
    assert_eq!(gs.len(), 34);
    assert!(gs.iter().any(|g| g.entry.is_some()));
    assert!(gs
        .iter()
        .any(|g| g.fc_tools.iter().any(|t| t.contains("\\u00"))));
}

#[test]
fn fc_tools_and_prompting_system_prompt_match_the_handlers() {
    let ascii = DumpOptions {
        ensure_ascii: true,
        ..DumpOptions::default()
    };
    for g in goldens() {
        let e = entry_of(&g);
        let fc = build_request(&e, &g.category, EvalProfile::Fc, 0).unwrap();
        let tools: Vec<String> = fc.tools.iter().map(|t| dumps_with(t, &ascii)).collect();
        assert_eq!(tools, g.fc_tools, "{}: FC tools", g.id);
        let pr = build_request(&e, &g.category, EvalProfile::Prompting, 0).unwrap();
        assert!(pr.tools.is_empty());
        assert_eq!(pr.messages[0]["role"], "system");
        assert_eq!(
            pr.messages[0]["content"].as_str().unwrap(),
            g.prompting_system,
            "{}: system prompt",
            g.id
        );
    }
}

/// A random model with the tokenizer's vocabulary: only its prompt rendering is used.
fn qwen3_backend() -> Option<LocalBackend> {
    if trainer::assets::skip_real_assets() {
        println!("skipped: TRAINER_SKIP_REAL_ASSETS=1");
        return None;
    }
    let assets = trainer::assets::ensure_assets().unwrap_or_else(|e| panic!("{e}"));
    let tok = Tokenizer::from_dir(&assets.qwen3_tokenizer_dir).unwrap();
    let mut cfg = common::tiny_config(Arch::Qwen3);
    cfg.vocab_size = tok.vocab_size();
    cfg.num_hidden_layers = 1;
    let w = TensorMap::random(&cfg, 1, 0.02).unwrap();
    let model = Model::load(&cfg, &w, DType::F32, &Device::Cpu).unwrap();
    Some(LocalBackend::new(model, tok, "tiny-qwen3".into()))
}

#[test]
fn qwen3_template_prompts_equal_the_handlers_format_prompt() {
    let Some(backend) = qwen3_backend() else {
        return;
    };
    let mut non_ascii = 0;
    for g in goldens() {
        let e = entry_of(&g);
        let render = |profile| {
            let req = build_request(&e, &g.category, profile, 0).unwrap();
            let ids = backend.prompt_ids(&req).unwrap();
            backend.tokenizer().decode(&ids, false).unwrap()
        };
        assert_eq!(
            render(EvalProfile::Prompting),
            g.prompting_prompt,
            "{}: prompting prompt",
            g.id
        );
        // The handler's tools lines re-serialized the way transformers' tojson does.
        let mut expected_fc = g.fc_prompt.clone();
        for line in &g.fc_tools {
            let v: Json = serde_json::from_str(line).unwrap();
            let unescaped = dumps(&v);
            if unescaped != *line {
                non_ascii += 1;
                expected_fc = expected_fc.replace(line.as_str(), &unescaped);
            }
        }
        assert_eq!(render(EvalProfile::Fc), expected_fc, "{}: FC prompt", g.id);
    }
    assert!(
        non_ascii > 0,
        "the synthetic entry exercises non-ASCII tools"
    );
}
