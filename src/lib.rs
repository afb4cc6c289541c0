//! `trainer`: InfTool (arXiv 2512.23611) in Rust on candle.
//!
//! Data flow, one module per stage (see `DESIGN.md` §2):
//! specs → toolsets → synth (three agents) → rollout → reward → grpo → train → checkpoint → eval.

pub mod assets;
pub mod backend;
pub mod chat;
pub mod checkpoint;
pub mod config;
pub mod engine;
pub mod eval;
pub mod grpo;
pub mod iteration;
pub mod kernels;
pub mod mcp;
pub mod model;
pub mod plan;
pub mod reward;
pub mod rollout;
pub mod runloop;
pub mod serve;
pub mod specs;
pub mod synth;
pub mod toolsets;
pub mod train;
