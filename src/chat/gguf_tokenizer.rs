//! Rebuilds a Hugging Face `tokenizer.json` from GGUF (llama.cpp) tokenizer metadata.
//!
//! A GGUF stores the vocabulary, merges, token types and special ids under `tokenizer.ggml.*`,
//! and names the pre-tokenizer (`tokenizer.ggml.pre`) instead of describing it. This module maps
//! the names llama.cpp uses to the pipeline of the original `tokenizer.json`:
//!
//! | `tokenizer.ggml.pre` | pipeline |
//! |---|---|
//! | `qwen2`, `deepseek-r1-qwen` | NFC; Qwen2 split regex; ByteLevel (no regex) |
//! | `llama3`, `llama-bpe`, `llama-v3`, `smaug-bpe` | Llama-3 split regex; ByteLevel (no regex); `ignore_merges` |
//! | `smollm`, `starcoder`, `refact` | Digits (individual); ByteLevel (GPT-2 regex) |
//! | `gpt2`, `default`, absent | ByteLevel (GPT-2 regex) |
//!
//! (candle's `TokenizerFromGguf` maps `smollm` to plain GPT-2, which splits digits differently
//! from SmolLM2's own tokenizer; hence this module.) Tokens of type 3 (control) become special
//! added tokens, type 4 (user-defined) non-special added tokens, as llama.cpp and transformers do.
//! Only byte-level BPE vocabularies (`tokenizer.ggml.model = "gpt2"`) are supported.

use candle_core::quantized::gguf_file::{Content, Value as Gguf};
use serde_json::{json, Map, Value as Json};

/// Errors reading tokenizer metadata from a GGUF file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A required metadata key is missing.
    #[error("GGUF metadata lacks `{0}`")]
    Missing(&'static str),
    /// A metadata value has the wrong type.
    #[error("GGUF metadata `{key}` has the wrong type: expected {expected}")]
    WrongType {
        /// The metadata key.
        key: String,
        /// What was expected.
        expected: &'static str,
    },
    /// `tokenizer.ggml.model` is not a byte-level BPE.
    #[error("GGUF tokenizer model `{0}` is not supported (only `gpt2`, byte-level BPE)")]
    UnsupportedModel(String),
    /// `tokenizer.ggml.pre` names a pre-tokenizer this module does not know.
    #[error(
        "GGUF pre-tokenizer `{0}` is not supported (known: qwen2, deepseek-r1-qwen, llama3, llama-bpe, llama-v3, smaug-bpe, smollm, starcoder, refact, gpt2, default)"
    )]
    UnsupportedPre(String),
    /// A merge entry is not `"left right"`.
    #[error("GGUF merge #{index} `{merge}` is not two space-separated tokens")]
    BadMerge {
        /// Position in `tokenizer.ggml.merges`.
        index: usize,
        /// The entry.
        merge: String,
    },
    /// A special token id points outside the vocabulary.
    #[error("GGUF metadata `{key}` = {id} is outside the vocabulary of {vocab} tokens")]
    IdOutOfRange {
        /// The metadata key.
        key: &'static str,
        /// The id.
        id: u64,
        /// Vocabulary size.
        vocab: usize,
    },
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything the [`Tokenizer`](crate::chat::tokenizer::Tokenizer) needs from a GGUF file.
#[derive(Debug, Clone)]
pub struct GgufTokenizerParts {
    /// An equivalent Hugging Face `tokenizer.json` document.
    pub tokenizer_json: Json,
    /// `tokenizer.chat_template`, if present.
    pub chat_template: Option<String>,
    /// Token string of `tokenizer.ggml.bos_token_id`.
    pub bos_token: Option<String>,
    /// Token string of `tokenizer.ggml.eos_token_id`.
    pub eos_token: Option<String>,
    /// Token string of `tokenizer.ggml.padding_token_id`.
    pub pad_token: Option<String>,
    /// Token string of `tokenizer.ggml.unknown_token_id`.
    pub unk_token: Option<String>,
}

const QWEN2_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn get<'a>(ct: &'a Content, key: &'static str) -> Option<&'a Gguf> {
    ct.metadata.get(key)
}

fn as_u64(v: &Gguf) -> Option<u64> {
    match v {
        Gguf::U8(x) => Some(u64::from(*x)),
        Gguf::U16(x) => Some(u64::from(*x)),
        Gguf::U32(x) => Some(u64::from(*x)),
        Gguf::U64(x) => Some(*x),
        Gguf::I8(x) => u64::try_from(*x).ok(),
        Gguf::I16(x) => u64::try_from(*x).ok(),
        Gguf::I32(x) => u64::try_from(*x).ok(),
        Gguf::I64(x) => u64::try_from(*x).ok(),
        _ => None,
    }
}

fn string_array(ct: &Content, key: &'static str) -> Result<Vec<String>> {
    let wrong = || Error::WrongType {
        key: key.to_string(),
        expected: "array of strings",
    };
    let Gguf::Array(items) = get(ct, key).ok_or(Error::Missing(key))? else {
        return Err(wrong());
    };
    items
        .iter()
        .map(|v| match v {
            Gguf::String(s) => Ok(s.clone()),
            _ => Err(wrong()),
        })
        .collect()
}

fn optional_string(ct: &Content, key: &'static str) -> Result<Option<String>> {
    match get(ct, key) {
        None => Ok(None),
        Some(Gguf::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Error::WrongType {
            key: key.to_string(),
            expected: "string",
        }),
    }
}

fn optional_bool(ct: &Content, key: &'static str) -> bool {
    matches!(get(ct, key), Some(Gguf::Bool(true)))
}

fn token_for(ct: &Content, tokens: &[String], key: &'static str) -> Result<Option<String>> {
    let Some(v) = get(ct, key) else {
        return Ok(None);
    };
    let id = as_u64(v).ok_or(Error::WrongType {
        key: key.to_string(),
        expected: "integer",
    })?;
    usize::try_from(id)
        .ok()
        .and_then(|i| tokens.get(i))
        .cloned()
        .map(Some)
        .ok_or(Error::IdOutOfRange {
            key,
            id,
            vocab: tokens.len(),
        })
}

fn split(regex: &str) -> Json {
    json!({"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false})
}

fn byte_level(trim_offsets: bool, use_regex: bool) -> Json {
    json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": trim_offsets, "use_regex": use_regex})
}

/// (normalizer, pre_tokenizer, ignore_merges) for a `tokenizer.ggml.pre` name.
fn pipeline(pre: &str) -> Result<(Json, Json, bool)> {
    Ok(match pre {
        "qwen2" | "deepseek-r1-qwen" => (
            json!({"type": "NFC"}),
            json!({"type": "Sequence", "pretokenizers": [split(QWEN2_SPLIT), byte_level(false, false)]}),
            false,
        ),
        "llama3" | "llama-bpe" | "llama-v3" | "smaug-bpe" => (
            Json::Null,
            json!({"type": "Sequence", "pretokenizers": [split(LLAMA3_SPLIT), byte_level(true, false)]}),
            true,
        ),
        "smollm" | "starcoder" | "refact" => (
            Json::Null,
            json!({"type": "Sequence", "pretokenizers": [
                {"type": "Digits", "individual_digits": true}, byte_level(true, true)]}),
            false,
        ),
        "gpt2" | "default" => (Json::Null, byte_level(true, true), false),
        other => return Err(Error::UnsupportedPre(other.to_string())),
    })
}

/// Reads the tokenizer parts out of GGUF metadata.
pub fn parts_from_gguf(ct: &Content) -> Result<GgufTokenizerParts> {
    let model = optional_string(ct, "tokenizer.ggml.model")?
        .ok_or(Error::Missing("tokenizer.ggml.model"))?;
    if model != "gpt2" {
        return Err(Error::UnsupportedModel(model));
    }
    let tokens = string_array(ct, "tokenizer.ggml.tokens")?;
    let merges = string_array(ct, "tokenizer.ggml.merges")?;
    let pre = optional_string(ct, "tokenizer.ggml.pre")?.unwrap_or_else(|| "default".into());
    let (normalizer, pre_tokenizer, ignore_merges) = pipeline(&pre)?;

    let token_types: Vec<u64> = match get(ct, "tokenizer.ggml.token_type") {
        Some(Gguf::Array(items)) => items.iter().map(|v| as_u64(v).unwrap_or(1)).collect(),
        _ => Vec::new(),
    };

    let mut vocab = Map::new();
    for (id, token) in tokens.iter().enumerate() {
        vocab.insert(token.clone(), json!(id));
    }
    let merges = merges
        .iter()
        .enumerate()
        .map(|(index, m)| {
            m.split_once(' ')
                .map(|(a, b)| json!([a, b]))
                .ok_or_else(|| Error::BadMerge {
                    index,
                    merge: m.clone(),
                })
        })
        .collect::<Result<Vec<_>>>()?;

    let added_tokens: Vec<Json> = tokens
        .iter()
        .zip(token_types.iter())
        .enumerate()
        .filter(|(_, (_, ty))| **ty == 3 || **ty == 4)
        .map(|(id, (token, ty))| {
            json!({"id": id, "content": token, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": *ty == 3})
        })
        .collect();

    let bos_token = token_for(ct, &tokens, "tokenizer.ggml.bos_token_id")?;
    let eos_token = token_for(ct, &tokens, "tokenizer.ggml.eos_token_id")?;
    let post_processor = bos_eos_processor(
        optional_bool(ct, "tokenizer.ggml.add_bos_token")
            .then_some(bos_token.as_deref())
            .flatten(),
        optional_bool(ct, "tokenizer.ggml.add_eos_token")
            .then_some(eos_token.as_deref())
            .flatten(),
        &tokens,
    );

    let tokenizer_json = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added_tokens,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": null,
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": ignore_merges,
            "vocab": vocab,
            "merges": merges,
        }
    });

    Ok(GgufTokenizerParts {
        tokenizer_json,
        chat_template: optional_string(ct, "tokenizer.chat_template")?,
        bos_token,
        eos_token,
        pad_token: token_for(ct, &tokens, "tokenizer.ggml.padding_token_id")?,
        unk_token: token_for(ct, &tokens, "tokenizer.ggml.unknown_token_id")?,
    })
}

/// A `TemplateProcessing` post-processor adding BOS/EOS when the GGUF asks for them.
fn bos_eos_processor(bos: Option<&str>, eos: Option<&str>, tokens: &[String]) -> Json {
    if bos.is_none() && eos.is_none() {
        return Json::Null;
    }
    let id_of = |t: &str| tokens.iter().position(|x| x == t);
    let mut single = Vec::new();
    let mut pair = Vec::new();
    let mut specials = Map::new();
    if let Some(b) = bos {
        single.push(json!({"SpecialToken": {"id": b, "type_id": 0}}));
        pair.push(json!({"SpecialToken": {"id": b, "type_id": 0}}));
        specials.insert(b.into(), json!({"id": b, "ids": [id_of(b)], "tokens": [b]}));
    }
    single.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
    pair.push(json!({"Sequence": {"id": "A", "type_id": 0}}));
    if let Some(e) = eos {
        single.push(json!({"SpecialToken": {"id": e, "type_id": 0}}));
        pair.push(json!({"SpecialToken": {"id": e, "type_id": 0}}));
        specials.insert(e.into(), json!({"id": e, "ids": [id_of(e)], "tokens": [e]}));
    }
    pair.push(json!({"Sequence": {"id": "B", "type_id": 1}}));
    json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials})
}
