//! An MCP client of one external server: started as a child process speaking MCP over stdio
//! (`rmcp`'s child-process transport), initialized, asked for its tools, and called. The API is
//! blocking: the client owns a single-threaded tokio runtime and drives it only inside calls.

use std::future::Future;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation,
};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Map, Value as Json};
use tokio::runtime::Runtime;

use super::convert::{result_json, tools_from_list};
use super::error::{Error, Result};
use crate::config::McpServerConfig;
use crate::specs::Tool;
use crate::synth::server::CallStatus;

/// A connected external MCP server.
pub struct McpClient {
    name: String,
    command_line: String,
    timeout: Duration,
    service: Option<RunningService<RoleClient, ClientConfig>>,
    rt: Runtime,
}

fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

impl McpClient {
    /// Starts `cfg.command` with `cfg.args` and `cfg.env` (stderr is inherited, so the server's
    /// own logs show up) and runs the MCP `initialize` handshake.
    pub fn start(cfg: &McpServerConfig) -> Result<McpClient> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let command_line = std::iter::once(cfg.command.as_str())
            .chain(cfg.args.iter().map(String::as_str))
            .map(quote)
            .collect::<Vec<_>>()
            .join(" ");
        let mut client = McpClient {
            name: cfg.name.clone(),
            command_line,
            timeout: Duration::from_secs(cfg.timeout_secs),
            service: None,
            rt,
        };
        let mut cmd = tokio::process::Command::new(&cfg.command);
        // Killed when dropped, should the handshake fail or time out.
        cmd.args(&cfg.args).envs(&cfg.env).kill_on_drop(true);
        let handler = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("trainer", env!("CARGO_PKG_VERSION")),
        );
        let spawn_err = |source| Error::Spawn {
            server: cfg.name.clone(),
            command: client.command_line.clone(),
            source,
        };
        // The child must be spawned inside the runtime (its pipes register with the reactor).
        let transport = {
            let _guard = client.rt.enter();
            TokioChildProcess::new(cmd).map_err(spawn_err)?
        };
        let service = client.run("initialize", async move {
            handler.serve(transport).await.map_err(|e| e.to_string())
        })?;
        if let Some(info) = service.peer_info() {
            let who = info
                .server_info
                .as_ref()
                .map_or("(unnamed)".to_string(), |s| {
                    format!("{} {}", s.name, s.version)
                });
            tracing::info!(
                server = client.name,
                protocol = info.protocol_version.as_str(),
                "MCP server started: {who}"
            );
        }
        client.service = Some(service);
        Ok(client)
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The command line it was started with (shell-quoted, for messages).
    pub fn command_line(&self) -> &str {
        &self.command_line
    }

    /// `serverInfo` of the handshake: `name version`, when the server sent it.
    pub fn server_info(&self) -> Option<String> {
        let info = self.service.as_ref()?.peer_info()?;
        let s = info.server_info.as_ref()?;
        Some(format!("{} {}", s.name, s.version))
    }

    /// Runs `fut` on the runtime with the timeout; `what` names the step in errors.
    fn run<T, F>(&self, what: &str, fut: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, String>>,
    {
        // The timer must be created inside the runtime.
        let timeout = self.timeout;
        let outcome = self
            .rt
            .block_on(async move { tokio::time::timeout(timeout, fut).await });
        match outcome {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(message)) => Err(Error::Protocol {
                server: self.name.clone(),
                what: what.to_string(),
                message,
            }),
            Err(_) => Err(Error::Timeout {
                server: self.name.clone(),
                what: what.to_string(),
                secs: self.timeout.as_secs(),
            }),
        }
    }

    fn service(&self, what: &str) -> Result<&RunningService<RoleClient, ClientConfig>> {
        self.service.as_ref().ok_or_else(|| Error::Protocol {
            server: self.name.clone(),
            what: what.to_string(),
            message: "the connection is closed".into(),
        })
    }

    /// The server's tools as it lists them (all pages).
    pub fn list_tools(&self) -> Result<Vec<rmcp::model::Tool>> {
        let service = self.service("tools/list")?;
        self.run("tools/list", async {
            service.list_all_tools().await.map_err(|e| e.to_string())
        })
    }

    /// The server's tools as our [`Tool`]s (provenance `mcp://<name>`, format `mcp-tools`).
    pub fn tools(&self) -> Result<Vec<Tool>> {
        let listed = self.list_tools()?;
        let note = format!(
            "listed live by MCP server `{}` ({}; command: {})",
            self.name,
            self.server_info().unwrap_or_else(|| "no serverInfo".into()),
            self.command_line
        );
        tools_from_list(&self.name, &listed, &note)
    }

    /// Calls `tool` (its name on the server) with `arguments`; a tool error is a normal result
    /// with `isError: true`, a protocol or transport failure is an error.
    pub fn call(&self, tool: &str, arguments: Map<String, Json>) -> Result<CallToolResult> {
        let what = format!("tools/call `{tool}`");
        let service = self.service(&what)?;
        let mut params = CallToolRequestParams::new(tool.to_string());
        params.arguments = Some(arguments);
        self.run(&what, async {
            service.call_tool(params).await.map_err(|e| e.to_string())
        })
    }

    /// [`Self::call`], as the JSON recorded in a trajectory and its status (see
    /// [`super::convert::result_json`]).
    pub fn call_json(
        &self,
        tool: &str,
        arguments: Map<String, Json>,
    ) -> Result<(Json, CallStatus)> {
        Ok(result_json(&self.call(tool, arguments)?))
    }

    /// Closes the connection: stdin is closed, the server gets a few seconds to exit, then is
    /// terminated.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if let Some(service) = self.service.take() {
            let name = self.name.clone();
            self.rt
                .block_on(service.cancel())
                .map_err(|e| Error::Protocol {
                    server: name,
                    what: "shutdown".into(),
                    message: e.to_string(),
                })?;
        }
        Ok(())
    }
}

impl Drop for McpClient {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!("{e}");
        }
    }
}
