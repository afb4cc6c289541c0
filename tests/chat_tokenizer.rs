//! Facts about the real tokenizers (DESIGN.md §6) through the `Tokenizer` wrapper.

use std::sync::OnceLock;
use trainer::chat::Tokenizer;

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

#[test]
fn qwen3_known_ids() {
    if real_assets().is_none() {
        return;
    }
    let t = qwen3();
    assert_eq!(t.encode("Hello world", false).unwrap(), vec![9707, 1879]);
    assert_eq!(t.encode("Hello world", true).unwrap(), vec![9707, 1879]);
    for (token, id) in [
        ("<|endoftext|>", 151643),
        ("<|im_start|>", 151644),
        ("<|im_end|>", 151645),
        ("<tool_call>", 151657),
        ("</tool_call>", 151658),
        ("<tool_response>", 151665),
        ("</tool_response>", 151666),
        ("<think>", 151667),
        ("</think>", 151668),
    ] {
        assert_eq!(t.token_to_id(token), Some(id), "{token}");
        assert_eq!(t.id_to_token(id).as_deref(), Some(token));
        assert_eq!(
            t.encode(token, false).unwrap(),
            vec![id],
            "{token} is one token"
        );
    }
    assert_eq!(t.vocab_size(), 151_643 + 26);
    assert_eq!(t.eos_id(), Some(151645));
    assert_eq!(t.bos_id(), None);
    assert_eq!(t.stop_ids(), &[151645, 151643]);
    assert_eq!(t.special("pad_token"), Some("<|endoftext|>"));
    assert!(t
        .chat_template_source(None)
        .unwrap()
        .contains("<tool_call>"));
}

#[test]
fn qwen3_decode_round_trip() {
    if real_assets().is_none() {
        return;
    }
    let t = qwen3();
    let text = "<|im_start|>assistant\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call><|im_end|>";
    let ids = t.encode(text, false).unwrap();
    assert_eq!(ids.first(), Some(&151644));
    assert_eq!(ids.last(), Some(&151645));
    assert_eq!(t.decode(&ids, false).unwrap(), text);
    // `<tool_call>` is an added token but not special: it survives skip_special_tokens.
    assert_eq!(
        t.decode(&ids, true).unwrap(),
        "assistant\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>"
    );
}

#[test]
fn smollm2_gguf_known_ids() {
    if real_assets().is_none() {
        return;
    }
    let t = smollm2();
    assert_eq!(t.vocab_size(), 49_152);
    assert_eq!(t.token_to_id("<|im_start|>"), Some(1));
    assert_eq!(t.token_to_id("<|im_end|>"), Some(2));
    assert_eq!(t.token_to_id("<|endoftext|>"), Some(0));
    assert_eq!(t.bos_id(), Some(1));
    assert_eq!(t.eos_id(), Some(2));
    assert_eq!(t.stop_ids(), &[2, 0]);
    // add_bos_token is false in the GGUF: no BOS even when special tokens are requested.
    assert_eq!(
        t.encode("Hi", true).unwrap(),
        t.encode("Hi", false).unwrap()
    );
    // Digits are split one by one (SmolLM2's Digits pre-tokenizer).
    let ids = t.encode("2024", false).unwrap();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert!(t
        .chat_template_source(None)
        .unwrap()
        .contains("You are a helpful AI assistant named SmolLM"));
}

#[test]
fn missing_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("tokenizer.json"), "{err}");
    let err = Tokenizer::from_gguf_file(dir.path().join("nope.gguf"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.gguf"), "{err}");
}

#[test]
fn bad_config_names_the_field() {
    if real_assets().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = trainer::assets::qwen3_tokenizer_dir();
    std::fs::copy(
        src.join("tokenizer.json"),
        dir.path().join("tokenizer.json"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        r#"{"eos_token": 5, "chat_template": "x"}"#,
    )
    .unwrap();
    let err = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("eos_token"), "{err}");
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        r#"{"added_tokens_decoder": {"151644": {"content": "<|im_end|>", "special": true}}}"#,
    )
    .unwrap();
    let err = Tokenizer::from_dir(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("151644") && err.contains("<|im_end|>"),
        "{err}"
    );
}
