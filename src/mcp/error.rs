//! Errors of the MCP server and client.

/// An error of `src/mcp/`; every variant names the server (or what was being served).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tokio runtime could not be built.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The external server's process could not be started.
    #[error("MCP server `{server}`: cannot start `{command}`: {source}")]
    Spawn {
        /// Configured name.
        server: String,
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A protocol step (initialize, tools/list, tools/call) failed.
    #[error("MCP server `{server}`: {what} failed: {message}")]
    Protocol {
        /// Configured name.
        server: String,
        /// The step (`initialize`, `tools/list`, `tools/call \`name\``).
        what: String,
        /// What went wrong.
        message: String,
    },
    /// A protocol step took longer than the configured timeout.
    #[error(
        "MCP server `{server}`: {what} timed out after {secs} s (synth.mcp_servers timeout_secs)"
    )]
    Timeout {
        /// Configured name.
        server: String,
        /// The step.
        what: String,
        /// The timeout.
        secs: u64,
    },
    /// The server's `tools/list` could not be turned into tools.
    #[error("MCP server `{server}`: its tools/list result cannot be ingested: {message}")]
    Tools {
        /// Configured name.
        server: String,
        /// What the ingester said.
        message: String,
    },
    /// Serving over stdio failed.
    #[error("mcp-serve: {0}")]
    Serve(String),
    /// Loading or selecting the tools to serve failed.
    #[error("mcp-serve: {0}")]
    Synth(#[source] Box<crate::synth::Error>),
}

impl From<crate::synth::Error> for Error {
    fn from(e: crate::synth::Error) -> Self {
        Error::Synth(Box::new(e))
    }
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;
