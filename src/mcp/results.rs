//! External MCP servers in synthesis: [`McpServers`] starts the `[[synth.mcp_servers]]` and
//! collects their tools; [`McpResults`] is the [`ResultGenerator`] that sends each call of
//! such a tool to its real server and every other call to the simulator it wraps.

use serde_json::Value as Json;

use super::client::McpClient;
use super::convert::mcp_origin;
use super::error::Result;
use crate::config::McpServerConfig;
use crate::specs::Tool;
use crate::synth::server::{CallStatus, ContentRequest, ResultGenerator};
use crate::synth::Registry;

/// The connected external servers of a run and their tools.
#[derive(Default)]
pub struct McpServers {
    clients: Vec<McpClient>,
    tools: Vec<Tool>,
}

impl McpServers {
    /// Starts every configured server and lists its tools (none configured: empty, nothing
    /// started).
    pub fn start(configs: &[McpServerConfig]) -> Result<McpServers> {
        let mut out = McpServers::default();
        for cfg in configs {
            let client = McpClient::start(cfg)?;
            let tools = client.tools()?;
            tracing::info!(
                server = cfg.name,
                tools = tools.len(),
                "MCP server tools joined the registry"
            );
            out.tools.extend(tools);
            out.clients.push(client);
        }
        Ok(out)
    }

    /// Whether no server is connected.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// All servers' tools, server by server in config order.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    /// The client named `name`.
    pub fn client(&self, name: &str) -> Option<&McpClient> {
        self.clients.iter().find(|c| c.name() == name)
    }

    /// The client serving `tool` and the tool's name there (`None` for simulated tools).
    pub fn route<'s>(&'s self, tool: &'s Tool) -> Option<(&'s McpClient, &'s str)> {
        let (server, original) = mcp_origin(tool)?;
        Some((self.client(server)?, original))
    }
}

/// Results from the real servers for their tools, from `fallback` for all others.
pub struct McpResults<'a> {
    servers: &'a McpServers,
    fallback: &'a dyn ResultGenerator,
}

impl<'a> McpResults<'a> {
    /// Routes calls of `servers`' tools to them and the rest to `fallback`.
    pub fn new(servers: &'a McpServers, fallback: &'a dyn ResultGenerator) -> McpResults<'a> {
        McpResults { servers, fallback }
    }
}

impl ResultGenerator for McpResults<'_> {
    fn generate(
        &self,
        registry: &Registry,
        requests: &[ContentRequest],
    ) -> crate::synth::Result<Vec<Json>> {
        Ok(self
            .generate_with_status(registry, requests)?
            .into_iter()
            .map(|(j, _)| j)
            .collect())
    }

    fn generate_with_status(
        &self,
        registry: &Registry,
        requests: &[ContentRequest],
    ) -> crate::synth::Result<Vec<(Json, CallStatus)>> {
        let mut out: Vec<Option<(Json, CallStatus)>> = vec![None; requests.len()];
        let mut simulated = Vec::new();
        let mut simulated_at = Vec::new();
        for (i, r) in requests.iter().enumerate() {
            let real = registry
                .get(&r.tool)
                .and_then(|e| self.servers.route(&e.tool));
            match real {
                Some((client, name)) => {
                    out[i] = Some(client.call_json(name, r.arguments.clone())?);
                }
                None => {
                    simulated.push(r.clone());
                    simulated_at.push(i);
                }
            }
        }
        if !simulated.is_empty() {
            let results = self.fallback.generate_with_status(registry, &simulated)?;
            for (i, r) in simulated_at.into_iter().zip(results) {
                out[i] = Some(r);
            }
        }
        Ok(out
            .into_iter()
            .map(|r| r.unwrap_or((Json::Null, CallStatus::Ok)))
            .collect())
    }
}
