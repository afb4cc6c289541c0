//! Golden tests: chat-template rendering and tokenization must equal Python transformers
//! byte for byte and id for id. Fixtures: tests/fixtures/chat/*_golden.json, produced by
//! scripts/make_golden_template.py from the real assets (scripts/fetch-assets.sh).

use serde_json::Value as Json;
use std::sync::OnceLock;
use trainer::chat::{parse_strict, render_tool_calls, RenderOptions, Tokenizer, ToolCall};

fn real_assets() -> Option<trainer::assets::Assets> {
    if trainer::assets::skip_real_assets() {
        println!("skipped: TRAINER_SKIP_REAL_ASSETS=1");
        return None;
    }
    Some(trainer::assets::ensure_assets().unwrap_or_else(|e| panic!("{e}")))
}

fn qwen3() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        Tokenizer::from_dir(trainer::assets::qwen3_tokenizer_dir())
            .unwrap_or_else(|e| panic!("loading the Qwen3 tokenizer: {e}"))
    })
}

fn smollm2() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        Tokenizer::from_gguf_file(trainer::assets::smollm2_gguf_path())
            .unwrap_or_else(|e| panic!("loading the SmolLM2 GGUF tokenizer: {e}"))
    })
}

fn fixture(name: &str) -> Json {
    let path = format!("{}/tests/fixtures/chat/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ids_of(v: &Json) -> Vec<u32> {
    v.as_array()
        .expect("ids array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

/// Renders every case of a golden file and compares text and ids.
fn check_render_cases(tok: &Tokenizer, golden: &Json) -> usize {
    let cases = golden["cases"].as_array().expect("cases");
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let messages = case["messages"].as_array().expect("messages").clone();
        let mut options = RenderOptions::new(case["add_generation_prompt"].as_bool().expect("agp"));
        if let Some(tools) = case["tools"].as_array() {
            options = options.with_tools(tools.clone());
        }
        if let Some(kwargs) = case["kwargs"].as_object() {
            options.kwargs = kwargs.clone();
        }
        let rendered = tok.apply_chat_template(&messages, &options);
        match case["expected"].as_str() {
            None => {
                assert!(
                    rendered.is_err(),
                    "{name}: transformers failed ({}) but we rendered {:?}",
                    case["error"],
                    rendered
                );
            }
            Some(expected) => {
                let rendered = rendered.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(
                    rendered, expected,
                    "{name}: rendering differs from transformers"
                );
                let ids = tok.encode(&rendered, false).expect("encode");
                assert_eq!(ids, ids_of(&case["ids"]), "{name}: token ids differ");
            }
        }
    }
    cases.len()
}

fn check_encode_cases(tok: &Tokenizer, golden: &Json) {
    for case in golden["encode"].as_array().expect("encode") {
        let text = case["text"].as_str().expect("text");
        let ids = tok.encode(text, false).expect("encode");
        assert_eq!(ids, ids_of(&case["ids"]), "encode({text:?})");
        assert_eq!(
            tok.decode(&ids, false).expect("decode"),
            case["decoded"].as_str().expect("decoded"),
            "decode of {text:?}"
        );
        assert_eq!(
            tok.decode(&ids, true).expect("decode"),
            case["decoded_skip_special"]
                .as_str()
                .expect("decoded_skip_special"),
            "decode(skip_special) of {text:?}"
        );
    }
}

#[test]
fn qwen3_renders_like_transformers() {
    if real_assets().is_none() {
        return;
    }
    let n = check_render_cases(qwen3(), &fixture("qwen3_golden.json"));
    assert!(n >= 9, "only {n} cases");
}

#[test]
fn qwen3_tokenizes_like_transformers() {
    if real_assets().is_none() {
        return;
    }
    check_encode_cases(qwen3(), &fixture("qwen3_golden.json"));
}

#[test]
fn smollm2_gguf_renders_like_transformers() {
    if real_assets().is_none() {
        return;
    }
    let n = check_render_cases(smollm2(), &fixture("smollm2_golden.json"));
    assert!(n >= 3, "only {n} cases");
}

#[test]
fn smollm2_gguf_tokenizes_like_reference() {
    if real_assets().is_none() {
        return;
    }
    check_encode_cases(smollm2(), &fixture("smollm2_golden.json"));
}

/// The canonical tool-call text equals what the real Qwen3 template writes for the same calls,
/// and parses back to them.
#[test]
fn toolcall_renderer_matches_qwen3_template() {
    if real_assets().is_none() {
        return;
    }
    let calls = vec![
        ToolCall::new(
            "search_flights",
            serde_json::from_str(r#"{"from": "PAR", "to": "東京", "max_price": 1e-05, "pax": [{"age": 3}], "x": null}"#)
                .expect("json"),
        ),
        ToolCall::new("get_time", serde_json::Map::new()),
    ];
    let template = qwen3().chat_template(None, true).expect("template");
    for content in ["", "Let me look that up."] {
        let message = serde_json::json!({
            "role": "assistant",
            "content": content,
            "tool_calls": calls.iter().map(ToolCall::to_openai).collect::<Vec<_>>(),
        });
        let messages = vec![
            serde_json::json!({"role": "user", "content": "go"}),
            message,
        ];
        let rendered = template
            .render(&messages, &RenderOptions::new(false))
            .expect("render");
        let canonical = render_tool_calls(content, &calls);
        let header = "<|im_start|>assistant\n";
        let start = rendered.rfind(header).expect("assistant header") + header.len();
        let completion = rendered[start..]
            .strip_suffix("<|im_end|>\n")
            .expect("im_end");
        // The last assistant turn gets an empty think block from the template.
        assert_eq!(completion, format!("<think>\n\n</think>\n\n{canonical}"));
        let parsed = parse_strict(completion).expect("parse");
        assert_eq!(parsed.reasoning.as_deref(), Some(""));
        assert_eq!(parsed.content, content);
        assert_eq!(parsed.calls, calls);
    }
}
