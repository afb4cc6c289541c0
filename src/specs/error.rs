//! Errors of spec ingestion.
//!
//! Every variant names the file it is about; errors about a place inside a file also name the
//! JSON pointer (RFC 6901) of that place, written `file#/pointer`.

use super::report::SkipReason;

/// An error while ingesting one spec file or one item (operation, function) inside it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file.
        file: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than the configured limit.
    #[error("{file}: {size} bytes is over the limit of {limit} bytes for one spec file")]
    TooLarge {
        /// The file.
        file: String,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// The file is not valid JSON, JSON Lines or YAML.
    #[error("{file}: not valid JSON, JSON Lines or YAML: {message}")]
    Parse {
        /// The file.
        file: String,
        /// What the parser said (with line and column where it gave them).
        message: String,
    },
    /// The document parsed but matches none of the supported formats.
    #[error(
        "{file}: unrecognized spec format (expected OpenAPI 3.x, Swagger 2.0, OpenAI tools, \
         MCP tools/list or BFCL-style function docs)"
    )]
    UnknownFormat {
        /// The file.
        file: String,
    },
    /// A malformed part of a spec: the whole file when the pointer is the document's top
    /// level, otherwise one item (which is skipped while the rest of the file loads).
    #[error("{file}#{pointer}: {message}")]
    Item {
        /// The file.
        file: String,
        /// JSON pointer of the offending value.
        pointer: String,
        /// Why the item was rejected (used for the report's counts).
        reason: SkipReason,
        /// What is wrong, in words.
        message: String,
    },
    /// The file looks like BFCL evaluation data, which must never be used for training.
    #[error(
        "{file}: refusing BFCL evaluation data ({evidence}); training on it would contaminate \
         the benchmark (pass the explicit allow-BFCL override only for evaluation tooling)"
    )]
    Contaminated {
        /// The file.
        file: String,
        /// What gave it away.
        evidence: String,
    },
}

impl Error {
    /// A short, stable name of the kind of error (used as a key when counting failures).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::TooLarge { .. } => "too-large",
            Error::Parse { .. } => "parse",
            Error::UnknownFormat { .. } => "unknown-format",
            Error::Item { reason, .. } => reason.as_str(),
            Error::Contaminated { .. } => "contaminated",
        }
    }
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;
