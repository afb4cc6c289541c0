//! MCP for real (DESIGN.md §1: the assistant is an MCP client, the server simulator an MCP
//! server), on the official Rust SDK `rmcp` over stdio:
//!
//! * [`serve`] — `trainer mcp-serve`: the ingested tools as an MCP server answered by the
//!   synthesis server simulator.
//! * [`client`] — a client of an external MCP server started as a child process.
//! * [`results`] — external servers in synthesis (`[[synth.mcp_servers]]`): their tools join
//!   the registry and their calls are executed by the real server.
//! * [`convert`] — tools and results between MCP and this crate.

pub mod client;
pub mod convert;
mod error;
pub mod results;
pub mod serve;

pub use client::McpClient;
pub use error::{Error, Result};
pub use results::{McpResults, McpServers};
pub use serve::{serve_stdio, ServeSelection, SimServer};
