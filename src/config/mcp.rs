//! `[[synth.mcp_servers]]`: external MCP servers (stdio child processes) whose tools join the
//! synthesis registry; their calls are executed by the real server (see `src/mcp/`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Error, Result};

/// One external MCP server, started as a child process speaking MCP over stdio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServerConfig {
    /// Short name (`[A-Za-z0-9_-]+`), unique; tools record it as `mcp://<name>` in provenance.
    pub name: String,
    /// Program to run (a path, or a name looked up on PATH).
    pub command: String,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment variables of the child process.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Seconds to wait for the server's start and for each call.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_timeout_secs() -> u64 {
    60
}

impl McpServerConfig {
    /// A server with no arguments, no extra environment and the default timeout.
    pub fn new(name: impl Into<String>, command: impl Into<String>) -> McpServerConfig {
        McpServerConfig {
            name: name.into(),
            command: command.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            timeout_secs: default_timeout_secs(),
        }
    }
}

fn invalid(path: &Path, key: String, value: impl ToString, reason: &str) -> Error {
    Error::Invalid {
        path: path.to_path_buf(),
        key,
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

/// Checks the list: names well-formed and unique, commands non-empty, timeouts > 0.
pub fn validate_servers(servers: &[McpServerConfig], path: &Path) -> Result<()> {
    for (i, s) in servers.iter().enumerate() {
        let key = |field: &str| format!("synth.mcp_servers[{i}].{field}");
        let ok_name = !s.name.is_empty()
            && s.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok_name {
            return Err(invalid(
                path,
                key("name"),
                format!("{:?}", s.name),
                "must be non-empty, letters, digits, `_` or `-`",
            ));
        }
        if servers[..i].iter().any(|o| o.name == s.name) {
            return Err(invalid(
                path,
                key("name"),
                format!("{:?}", s.name),
                "names must be unique",
            ));
        }
        if s.command.trim().is_empty() {
            return Err(invalid(path, key("command"), "\"\"", "must name a program"));
        }
        if s.timeout_secs == 0 {
            return Err(invalid(path, key("timeout_secs"), 0, "must be > 0"));
        }
    }
    Ok(())
}
