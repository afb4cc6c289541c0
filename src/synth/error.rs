//! Errors of synthesis.

use std::path::PathBuf;

/// An error of the synthesis stage; every variant names what it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tool's argument schema cannot be compiled by the JSON Schema validator.
    #[error("tool `{tool}` ({file}): its parameter schema is not valid JSON Schema: {message}")]
    BadSchema {
        /// Tool name.
        tool: String,
        /// Spec file it came from.
        file: String,
        /// What the validator said.
        message: String,
    },
    /// Two tools share a name in one registry.
    #[error("tool name `{name}` appears twice ({first} and {second}); tool names must be unique across the spec files of a run")]
    DuplicateTool {
        /// The name.
        name: String,
        /// First file.
        first: String,
        /// Second file.
        second: String,
    },
    /// Nothing to synthesize from.
    #[error("{0}")]
    NoTools(String),
    /// A spec path does not exist or cannot be listed.
    #[error("spec path {path}: {message}")]
    SpecPath {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The chat backend failed.
    #[error("chat backend: {0}")]
    Backend(#[from] crate::backend::Error),
    /// Toolset construction failed.
    #[error("toolsets: {0}")]
    Toolsets(#[from] crate::toolsets::Error),
    /// Writing an output file failed.
    #[error("writing {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An external MCP server (`[[synth.mcp_servers]]`) failed.
    #[error("MCP: {0}")]
    Mcp(#[from] crate::mcp::Error),
    /// A config value is unusable (key and reason).
    #[error("synth config: `{key}`: {message}")]
    Config {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// An input file of trajectories cannot be read or parsed.
    #[error("{path}: {message}")]
    Input {
        /// The file.
        path: PathBuf,
        /// What is wrong (with the line number).
        message: String,
    },
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;
