//! `trainer mcp-serve`: the ingested tools of a config (or one toolset of it) as a real MCP
//! server over stdio. `tools/list` gives each tool's name, description, `inputSchema` (and
//! `outputSchema` when the spec has an object result schema); `tools/call` runs the synthesis
//! server simulator ([`ServerState`] + [`SchemaResults`]): arguments checked against the JSON
//! Schema (violations come back as `isError: true` with a structured error naming each bad
//! field), results drawn from the response schema, consistent for the whole session. Stdout
//! carries the protocol only; logs go to stderr.

use std::path::PathBuf;
use std::sync::Mutex;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{json, Map, Value as Json};

use super::convert::{to_call_result, to_rmcp_tool};
use super::error::{Error, Result};
use crate::config::Config;
use crate::specs::{ingest_paths, IngestOptions, Tool};
use crate::synth::pool::tool_pool;
use crate::synth::run::{compilable, load_tools, unique_names};
use crate::synth::server::{CallStatus, Precheck, ResultGenerator, SchemaResults, ToolResult};
use crate::synth::{expand_spec_paths, Registry, ServerState};

/// Which tools to serve.
#[derive(Debug, Clone, Default)]
pub struct ServeSelection {
    /// Spec files or directories instead of the config's `synth.specs`.
    pub specs: Vec<PathBuf>,
    /// Serve only this toolset (id as synthesis builds them, e.g. `ts-000`).
    pub toolset: Option<String>,
}

/// The tools `mcp-serve` serves: the config's specs (or `selection.specs`), names made unique,
/// schemas compilable and the pool refined as in synthesis (the rule judges: no model is
/// loaded here), optionally narrowed to one toolset built exactly as synthesis builds them.
pub fn served_tools(cfg: &Config, selection: &ServeSelection) -> Result<Vec<Tool>> {
    let tools = if selection.specs.is_empty() {
        load_tools(cfg)?.0
    } else {
        let paths = expand_spec_paths(&selection.specs)?;
        let opts = IngestOptions {
            allow_bfcl: cfg.synth.allow_bfcl,
            ..IngestOptions::default()
        };
        let ingested = ingest_paths(&paths, &opts);
        for f in ingested
            .report
            .files
            .iter()
            .filter_map(|f| f.failure.as_ref())
        {
            tracing::warn!("spec file skipped: {}", f.message);
        }
        ingested.tools
    };
    let pool = tool_pool(cfg, compilable(unique_names(tools)), None, None)?;
    let (tools, sets) = (pool.tools, pool.toolsets);
    let Some(id) = &selection.toolset else {
        return Ok(tools);
    };
    let Some(set) = sets.iter().find(|s| &s.id == id) else {
        let known: Vec<String> = sets
            .iter()
            .map(|s| format!("{} ({})", s.id, s.label))
            .collect();
        return Err(Error::Serve(format!(
            "--toolset {id}: no such toolset; the config's toolsets are: {}",
            known.join(", ")
        )));
    };
    Ok(tools
        .into_iter()
        .filter(|t| set.tools.contains(&t.name))
        .collect())
}

/// The simulated toolset as an MCP server handler (one session = one consistent server state).
pub struct SimServer {
    registry: Registry,
    listed: Vec<rmcp::model::Tool>,
    state: Mutex<ServerState>,
}

impl SimServer {
    /// A server of `tools` whose results are seeded by `seed`.
    pub fn new(tools: Vec<Tool>, seed: u64) -> Result<SimServer> {
        let listed: Vec<rmcp::model::Tool> = tools.iter().filter_map(to_rmcp_tool).collect();
        let offered = listed.iter().map(|t| t.name.to_string()).collect();
        Ok(SimServer {
            registry: Registry::new(tools)?,
            listed,
            state: Mutex::new(ServerState::for_tools(offered, seed)),
        })
    }

    /// The `tools/list` entries.
    pub fn listed(&self) -> &[rmcp::model::Tool] {
        &self.listed
    }

    /// Answers one call the way `tools/call` does (also usable without a transport).
    pub fn call(&self, name: &str, arguments: &Map<String, Json>) -> ToolResult {
        let mut state = match self.state.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        match state.precheck(&self.registry, name, arguments) {
            Precheck::Done(r) => r,
            Precheck::Generate(req) => {
                let content = SchemaResults
                    .generate(&self.registry, std::slice::from_ref(&req))
                    .ok()
                    .and_then(|mut v| v.pop())
                    .unwrap_or_else(|| json!({}));
                state.commit(&req, content)
            }
        }
    }
}

impl ServerHandler for SimServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "trainer-mcp-serve",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Simulated tools ingested from API specs by `trainer`: arguments are validated \
                 against each tool's JSON Schema; results are generated from its response schema \
                 and stay consistent within the session.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.listed.clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        let r = self.call(&request.name, &arguments);
        match r.status {
            CallStatus::Ok => tracing::info!(tool = %request.name, "call answered"),
            s => tracing::info!(tool = %request.name, status = ?s, "call refused"),
        }
        let result: CallToolResult = to_call_result(&r);
        Ok(result.into())
    }
}

/// Serves `tools` over stdin/stdout until the client disconnects.
pub fn serve_stdio(tools: Vec<Tool>, seed: u64) -> Result<()> {
    let server = SimServer::new(tools, seed)?;
    tracing::info!(
        tools = server.listed().len(),
        "MCP server on stdio (stdout is the protocol; logs on stderr)"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    rt.block_on(async move {
        let running = server
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| Error::Serve(format!("initialize: {e}")))?;
        let reason = running
            .waiting()
            .await
            .map_err(|e| Error::Serve(e.to_string()))?;
        tracing::info!(?reason, "MCP session ended");
        Ok(())
    })
}

/// `trainer mcp-serve`: [`served_tools`], then [`serve_stdio`] seeded by `synth.seed` (or
/// `run.seed`).
pub fn run(cfg: &Config, selection: &ServeSelection) -> Result<()> {
    let tools = served_tools(cfg, selection)?;
    if tools.is_empty() {
        return Err(Error::Serve("no tools to serve".into()));
    }
    serve_stdio(tools, cfg.synth.seed.unwrap_or(cfg.run.seed))
}
