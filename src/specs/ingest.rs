//! Shared state of one file's ingestion and the helpers every format uses.

use serde_json::{Map, Value};

use super::detect::SpecFormat;
use super::error::Error;
use super::report::{SkipReason, Skipped};
use super::schema::{Limits, RefError};
use super::tool::Tool;
use super::IngestOptions;

/// What every format's reader gets.
pub struct Ctx<'a> {
    /// The file (as given).
    pub file: &'a str,
    /// The parsed document.
    pub doc: &'a Value,
    /// Options of the run.
    pub opts: &'a IngestOptions,
    /// The format being read.
    pub format: SpecFormat,
    /// `info.title`, when there is one.
    pub api_title: Option<String>,
    /// `info.version`, when there is one.
    pub api_version: Option<String>,
}

impl Ctx<'_> {
    /// Schema limits of the run.
    pub fn limits(&self) -> Limits {
        self.opts.limits
    }

    /// An item error for this file.
    pub fn error(&self, pointer: &str, reason: SkipReason, message: impl Into<String>) -> Error {
        Error::Item {
            file: self.file.to_string(),
            pointer: pointer.to_string(),
            reason,
            message: message.into(),
        }
    }

    /// A skipped item for this file.
    pub fn skip(&self, pointer: &str, reason: SkipReason, message: impl Into<String>) -> Skipped {
        let message = self.error(pointer, reason, message).to_string();
        Skipped {
            pointer: pointer.to_string(),
            reason,
            message,
        }
    }

    /// A skipped item for an unfollowable `$ref`.
    pub fn skip_ref(&self, e: RefError) -> Skipped {
        self.skip(&e.pointer, SkipReason::BadRef, e.message)
    }
}

/// What a reader produces.
#[derive(Default)]
pub struct Output {
    /// Tools in document order.
    pub tools: Vec<Tool>,
    /// Skipped items in document order.
    pub skipped: Vec<Skipped>,
}

/// A string field, or a number written without quotes in YAML (`version: 1.0`).
pub fn text_field(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// "a string", "an array", ... for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The top-level argument schema: `{"type":"object","properties":..,"required":..}` first,
/// then any other keywords of `rest` (minus those three).
pub fn object_schema(
    properties: Map<String, Value>,
    required: Vec<String>,
    rest: Option<&Map<String, Value>>,
) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), Value::String("object".into()));
    m.insert("properties".into(), Value::Object(properties));
    m.insert(
        "required".into(),
        Value::Array(required.into_iter().map(Value::String).collect()),
    );
    if let Some(rest) = rest {
        for (k, v) in rest {
            if !m.contains_key(k) {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(m)
}
