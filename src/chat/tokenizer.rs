//! Tokenizer: a `tokenizers::Tokenizer` plus what `tokenizer_config.json` (or GGUF metadata) adds
//! on top: the chat template(s), the special tokens the template sees, and the stop tokens.
//!
//! Loading from `tokenizer.json` + `tokenizer_config.json` follows transformers: special tokens
//! may be strings or `{"content": ...}` objects, `chat_template` may be a string or a list of
//! named templates (a `chat_template.jinja` file next to them wins), and every entry of
//! `added_tokens_decoder` must agree with `tokenizer.json` (or is added with its declared id).

use crate::chat::gguf_tokenizer::{self, parts_from_gguf};
use crate::chat::template::{self, ChatTemplate, RenderOptions};
use candle_core::quantized::gguf_file::Content;
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

/// Errors of tokenizer loading and use.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `tokenizer.json` (or the document built from GGUF) is not a valid tokenizer.
    #[error("invalid tokenizer {origin}: {message}")]
    Load {
        /// Where the tokenizer came from.
        origin: String,
        /// The `tokenizers` error.
        message: String,
    },
    /// `tokenizer_config.json` is not valid JSON or has a field of the wrong shape.
    #[error("invalid tokenizer config {path}: {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong (names the field).
        message: String,
    },
    /// An `added_tokens_decoder` entry disagrees with the tokenizer's vocabulary.
    #[error(
        "added token {content:?} is declared with id {declared} but the tokenizer gives {actual:?}"
    )]
    AddedTokenMismatch {
        /// The token text.
        content: String,
        /// Id in `tokenizer_config.json`.
        declared: u32,
        /// Id in the tokenizer (or the id it was added under).
        actual: Option<u32>,
    },
    /// Reading GGUF metadata failed.
    #[error("cannot read GGUF {path}: {message}")]
    GgufRead {
        /// The GGUF file.
        path: PathBuf,
        /// The candle error.
        message: String,
    },
    /// GGUF tokenizer metadata is missing or unsupported.
    #[error(transparent)]
    Gguf(#[from] gguf_tokenizer::Error),
    /// Encoding or decoding failed.
    #[error("tokenizer {op} failed: {message}")]
    Codec {
        /// `encode` or `decode`.
        op: &'static str,
        /// The `tokenizers` error.
        message: String,
    },
    /// The tokenizer has no chat template (or none with the requested name).
    #[error("tokenizer has no chat template{}", .0.as_ref().map(|n| format!(" named {n:?}")).unwrap_or_default())]
    NoChatTemplate(Option<String>),
    /// The chat template failed.
    #[error(transparent)]
    Template(#[from] template::Error),
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// The special-token attributes transformers exposes to chat templates, in its order.
const SPECIAL_TOKEN_KEYS: [&str; 7] = [
    "bos_token",
    "eos_token",
    "unk_token",
    "sep_token",
    "pad_token",
    "cls_token",
    "mask_token",
];

/// A tokenizer with its chat template and special tokens.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// Named chat templates; the unnamed/default one is called `"default"`.
    chat_templates: Vec<(String, String)>,
    /// `(attribute, token)` for each special token that is set (`bos_token`, `eos_token`, ...).
    special_tokens: Vec<(String, String)>,
    eos_id: Option<u32>,
    bos_id: Option<u32>,
    stop_ids: Vec<u32>,
}

impl Tokenizer {
    /// Loads `tokenizer.json`, plus `tokenizer_config.json` and `chat_template.jinja` when present.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let config = dir.join("tokenizer_config.json");
        let mut tok = Self::from_files(
            dir.join("tokenizer.json"),
            config.exists().then_some(config.as_path()),
        )?;
        let jinja = dir.join("chat_template.jinja");
        if jinja.exists() {
            let source = read_to_string(&jinja)?;
            tok.chat_templates.retain(|(name, _)| name != "default");
            tok.chat_templates.insert(0, ("default".into(), source));
        }
        Ok(tok)
    }

    /// Loads a `tokenizer.json` file and, optionally, its `tokenizer_config.json`.
    pub fn from_files(tokenizer_json: impl AsRef<Path>, config: Option<&Path>) -> Result<Self> {
        let path = tokenizer_json.as_ref();
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| Error::Load {
            origin: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut tok = Tokenizer::from_parts(inner, Vec::new(), Vec::new());
        if let Some(config) = config {
            tok.apply_config(config)?;
        }
        Ok(tok)
    }

    /// Builds the tokenizer described by GGUF metadata (vocabulary, merges, special ids, chat
    /// template); see [`gguf_tokenizer`] for the supported vocabularies.
    pub fn from_gguf(content: &Content) -> Result<Self> {
        let parts = parts_from_gguf(content)?;
        let bytes = serde_json::to_vec(&parts.tokenizer_json).map_err(|e| Error::Load {
            origin: "GGUF metadata".into(),
            message: e.to_string(),
        })?;
        let inner = tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| Error::Load {
            origin: "GGUF metadata".into(),
            message: e.to_string(),
        })?;
        let special: Vec<(String, String)> = [
            ("bos_token", parts.bos_token),
            ("eos_token", parts.eos_token),
            ("unk_token", parts.unk_token),
            ("pad_token", parts.pad_token),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
        let templates = parts
            .chat_template
            .map(|t| vec![("default".to_string(), t)])
            .unwrap_or_default();
        Ok(Tokenizer::from_parts(inner, templates, special))
    }

    /// Reads the metadata of a GGUF file (not its tensors) and builds its tokenizer.
    pub fn from_gguf_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut file = std::io::BufReader::new(file);
        let content =
            crate::model::load::read_gguf_header(&mut file).map_err(|message| Error::GgufRead {
                path: path.to_path_buf(),
                message,
            })?;
        Self::from_gguf(&content)
    }

    fn from_parts(
        inner: tokenizers::Tokenizer,
        chat_templates: Vec<(String, String)>,
        special_tokens: Vec<(String, String)>,
    ) -> Self {
        let mut tok = Tokenizer {
            inner,
            chat_templates,
            special_tokens,
            eos_id: None,
            bos_id: None,
            stop_ids: Vec::new(),
        };
        tok.refresh_ids();
        tok
    }

    fn refresh_ids(&mut self) {
        self.eos_id = self.special("eos_token").and_then(|t| self.token_to_id(t));
        self.bos_id = self.special("bos_token").and_then(|t| self.token_to_id(t));
        let mut stops: Vec<u32> = self.eos_id.into_iter().collect();
        for t in ["<|im_end|>", "<|endoftext|>"] {
            if let Some(id) = self.token_to_id(t) {
                if !stops.contains(&id) {
                    stops.push(id);
                }
            }
        }
        self.stop_ids = stops;
    }

    fn apply_config(&mut self, path: &Path) -> Result<()> {
        let text = read_to_string(path)?;
        let cfg_err = |message: String| Error::Config {
            path: path.to_path_buf(),
            message,
        };
        let config: Json =
            serde_json::from_str(&text).map_err(|e| cfg_err(format!("not JSON: {e}")))?;
        let Json::Object(config) = config else {
            return Err(cfg_err("top level is not an object".into()));
        };

        // Added tokens: must agree with tokenizer.json, or get added with their declared id.
        if let Some(decoder) = config.get("added_tokens_decoder") {
            let Json::Object(entries) = decoder else {
                return Err(cfg_err("`added_tokens_decoder` is not an object".into()));
            };
            let mut entries: Vec<(u32, &Json)> = entries
                .iter()
                .map(|(id, v)| {
                    id.parse::<u32>().map(|id| (id, v)).map_err(|_| {
                        cfg_err(format!("`added_tokens_decoder` key {id:?} is not an id"))
                    })
                })
                .collect::<Result<_>>()?;
            entries.sort_by_key(|(id, _)| *id);
            for (id, entry) in entries {
                self.ensure_added_token(id, entry, &cfg_err)?;
            }
        }

        let mut special = Vec::new();
        for key in SPECIAL_TOKEN_KEYS {
            match config.get(key) {
                None | Some(Json::Null) => {}
                Some(Json::String(s)) => special.push((key.to_string(), s.clone())),
                Some(Json::Object(o)) => match o.get("content") {
                    Some(Json::String(s)) => special.push((key.to_string(), s.clone())),
                    _ => return Err(cfg_err(format!("`{key}.content` is not a string"))),
                },
                Some(_) => {
                    return Err(cfg_err(format!(
                        "`{key}` is neither a string nor a token object"
                    )))
                }
            }
        }
        self.special_tokens = special;

        self.chat_templates = match config.get("chat_template") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::String(s)) => vec![("default".into(), s.clone())],
            Some(Json::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    match (
                        item.get("name").and_then(Json::as_str),
                        item.get("template").and_then(Json::as_str),
                    ) {
                        (Some(n), Some(t)) => Ok((n.to_string(), t.to_string())),
                        _ => Err(cfg_err(format!(
                            "`chat_template[{i}]` lacks a string `name` or `template`"
                        ))),
                    }
                })
                .collect::<Result<_>>()?,
            Some(_) => {
                return Err(cfg_err(
                    "`chat_template` is neither a string nor a list of templates".into(),
                ))
            }
        };
        self.refresh_ids();
        Ok(())
    }

    fn ensure_added_token(
        &mut self,
        id: u32,
        entry: &Json,
        cfg_err: &dyn Fn(String) -> Error,
    ) -> Result<()> {
        let content = entry.get("content").and_then(Json::as_str).ok_or_else(|| {
            cfg_err(format!(
                "`added_tokens_decoder.{id}.content` is not a string"
            ))
        })?;
        let actual = self.inner.token_to_id(content);
        if actual == Some(id) {
            return Ok(());
        }
        if actual.is_none() && self.inner.get_vocab_size(true) == id as usize {
            let flag = |k: &str| entry.get(k).and_then(Json::as_bool).unwrap_or(false);
            let special = flag("special");
            let token = tokenizers::AddedToken::from(content.to_string(), special)
                .single_word(flag("single_word"))
                .lstrip(flag("lstrip"))
                .rstrip(flag("rstrip"))
                .normalized(
                    entry
                        .get("normalized")
                        .and_then(Json::as_bool)
                        .unwrap_or(!special),
                );
            let added = if special {
                self.inner.add_special_tokens([token])
            } else {
                self.inner.add_tokens([token])
            };
            added.map_err(|e| Error::Load {
                origin: format!("added token {content:?}"),
                message: e.to_string(),
            })?;
            let added = self.inner.token_to_id(content);
            if added == Some(id) {
                return Ok(());
            }
            return Err(Error::AddedTokenMismatch {
                content: content.to_string(),
                declared: id,
                actual: added,
            });
        }
        Err(Error::AddedTokenMismatch {
            content: content.to_string(),
            declared: id,
            actual,
        })
    }

    /// The wrapped `tokenizers::Tokenizer`.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Encodes text. With `add_special_tokens` false (what chat rendering uses) no BOS/EOS is
    /// added; special tokens written in the text (`<|im_start|>`) are still recognized.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        self.inner
            .encode_fast(text, add_special_tokens)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| Error::Codec {
                op: "encode",
                message: e.to_string(),
            })
    }

    /// Decodes ids to text, optionally dropping special tokens.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| Error::Codec {
                op: "decode",
                message: e.to_string(),
            })
    }

    /// The id of a token (vocabulary or added token).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The token string of an id.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// Number of tokens including added tokens (Qwen3: 151,669). The model's embedding matrix
    /// may be larger (padded).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// A special token by attribute name (`"eos_token"`, `"bos_token"`, `"pad_token"`, ...).
    pub fn special(&self, key: &str) -> Option<&str> {
        self.special_tokens
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The special-token variables a chat template sees.
    pub fn special_tokens(&self) -> &[(String, String)] {
        &self.special_tokens
    }

    /// The end-of-sequence id (`eos_token`).
    pub fn eos_id(&self) -> Option<u32> {
        self.eos_id
    }

    /// The beginning-of-sequence id (`bos_token`), if the tokenizer has one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos_id
    }

    /// Ids that end generation: the EOS id, then `<|im_end|>` and `<|endoftext|>` when they exist.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    /// The raw source of a chat template: `name` or, with `None`, the default one.
    pub fn chat_template_source(&self, name: Option<&str>) -> Option<&str> {
        let name = name.unwrap_or("default");
        self.chat_templates
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, s)| s.as_str())
    }

    /// Compiles a chat template with this tokenizer's special tokens. `None` picks what
    /// transformers picks: `tool_use` when `with_tools` and it exists, else `default`.
    pub fn chat_template(&self, name: Option<&str>, with_tools: bool) -> Result<ChatTemplate> {
        let name = match name {
            Some(n) => n,
            None if with_tools && self.chat_template_source(Some("tool_use")).is_some() => {
                "tool_use"
            }
            None => "default",
        };
        let source = self
            .chat_template_source(Some(name))
            .ok_or_else(|| Error::NoChatTemplate((name != "default").then(|| name.to_string())))?;
        Ok(ChatTemplate::new(source)?.with_special_tokens(self.special_tokens.iter().cloned()))
    }

    /// Compiles the right template and renders the conversation (convenience; compile once with
    /// [`Tokenizer::chat_template`] when rendering many conversations).
    pub fn apply_chat_template(
        &self,
        messages: &[Json],
        options: &RenderOptions,
    ) -> Result<String> {
        let template = self.chat_template(None, options.tools.is_some())?;
        Ok(template.render(messages, options)?)
    }
}

fn read_to_string(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}
