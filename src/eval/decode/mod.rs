//! The official `decode_ast` of the supported model profiles, and the
//! output-shape predicates the runner applies to decoded output.
//!
//! Decoded output is a Python list of single-key dicts
//! `[{func_name: {param: value, ...}}, ...]`, represented as [`PyVal`]s.

mod binop;
mod budget;
mod fc;
mod java;
mod js;
mod lex;
mod prompting;
mod syntax;

pub use java::parse_java_function_call;
pub use js::parse_javascript_function_call;

use crate::eval::checker::Language;
use crate::eval::pyexpr::ParseError;
use crate::eval::pyval::PyVal;

/// Why decoding failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The official decoder raises too (syntax error, assertion, bad JSON shape...).
    #[error("{0}")]
    Failed(String),
    /// The text uses a Python construct this re-implementation does not
    /// evaluate; the official decoder might succeed.  Counted as a failure.
    #[error("unsupported by the Rust decoder: {0}")]
    Unsupported(String),
}

impl From<ParseError> for DecodeError {
    fn from(e: ParseError) -> Self {
        match e {
            ParseError::Syntax(m) => DecodeError::Failed(m),
            ParseError::Unsupported(m) => DecodeError::Unsupported(m),
        }
    }
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, DecodeError>;

/// Which official handler decodes a model's `result` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// `OSSHandler.decode_ast` → `default_decode_ast_prompting`
    /// (Python list-of-calls text), e.g. `Qwen/Qwen3-8B`.
    Prompting,
    /// `QwenFCHandler.decode_ast` (`<tool_call>` JSON blocks), e.g. `Qwen/Qwen3-8B-FC`.
    QwenFc,
}

/// A registered model name this scorer knows how to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// Registry name, e.g. `Qwen/Qwen3-8B`.
    pub name: &'static str,
    /// Decoder profile.
    pub profile: Profile,
    /// `underscore_to_dot` in the official model config.
    pub underscore_to_dot: bool,
    /// `display_name` in the official model config.
    pub display_name: &'static str,
    /// `url` in the official model config.
    pub url: &'static str,
    /// `org` in the official model config.
    pub org: &'static str,
    /// `license` in the official model config.
    pub license: &'static str,
}

/// The models supported by this scorer (subset of the official `MODEL_CONFIG_MAPPING`).
pub const MODELS: [ModelSpec; 2] = [
    ModelSpec {
        name: "Qwen/Qwen3-8B",
        profile: Profile::Prompting,
        underscore_to_dot: false,
        display_name: "Qwen3-8B (Prompt)",
        url: "https://huggingface.co/Qwen/Qwen3-8B",
        org: "Qwen",
        license: "apache-2.0",
    },
    ModelSpec {
        name: "Qwen/Qwen3-8B-FC",
        profile: Profile::QwenFc,
        underscore_to_dot: false,
        display_name: "Qwen3-8B (FC)",
        url: "https://huggingface.co/Qwen/Qwen3-8B",
        org: "Qwen",
        license: "apache-2.0",
    },
];

/// Looks a model up by registry name (`Qwen/Qwen3-8B`) or directory name
/// (`Qwen_Qwen3-8B`, where every `_` stands for `/` as in the official tool).
pub fn find_model(name: &str) -> Option<&'static ModelSpec> {
    let escaped = name.replace('_', "/");
    MODELS.iter().find(|m| m.name == name || m.name == escaped)
}

/// `handler.decode_ast(result, language)` for the given profile.  The Qwen
/// FC handler ignores the language; the prompting handler parses Java and
/// JavaScript with the tree-sitter based parsers.
pub fn decode_ast(profile: Profile, result: &PyVal, language: Language) -> Result<PyVal> {
    match (profile, language) {
        (Profile::QwenFc, _) => fc::decode(result),
        (Profile::Prompting, Language::Python) => prompting::decode(result),
        (Profile::Prompting, lang) => decode_tree_sitter(result, lang),
    }
}

/// `default_decode_ast_prompting` + `ast_parse(..., JAVA/JAVASCRIPT)`:
/// strip, add the brackets, cut the first and last character, parse.
fn decode_tree_sitter(result: &PyVal, language: Language) -> Result<PyVal> {
    let s = prompting::bracketed(result)?;
    let inner = crate::eval::checker::py_inner(&s);
    if language == Language::Java {
        java::parse_java_function_call(&inner)
    } else {
        js::parse_javascript_function_call(&inner)
    }
}

/// The official `is_function_calling_format_output`: a list of single-key
/// dicts whose value is a dict.
pub fn is_function_calling_format_output(decoded: &PyVal) -> bool {
    let PyVal::List(items) = decoded else {
        return false;
    };
    items.iter().all(|item| match item {
        PyVal::Dict(d) => d.len() == 1 && matches!(d.first_value(), Some(PyVal::Dict(_))),
        _ => false,
    })
}

/// The official `is_empty_output`: not in call format, `[]`, or `[{}]`.
pub fn is_empty_output(decoded: &PyVal) -> bool {
    if !is_function_calling_format_output(decoded) {
        return true;
    }
    match decoded {
        PyVal::List(items) => {
            items.is_empty()
                || (items.len() == 1 && matches!(&items[0], PyVal::Dict(d) if d.is_empty()))
        }
        _ => true,
    }
}
