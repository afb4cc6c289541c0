//! Trajectory synthesis, InfTool's three agents (DESIGN.md §1–3):
//!
//! * [`plan`] — the task planner (the Task Generation Agent): blueprints drawn from toolsets for
//!   every category (single, parallel, multiple, parallel_multiple, gated multi_step,
//!   missing_param, irrelevance, error_recovery) with schema-valid argument values ([`values`]),
//!   each with a persona and a difficulty level ([`scenario`]), critiqued and revised by
//!   self-reflection before any episode runs ([`reflect`]).
//! * [`user`] — the User Simulator; [`server`] — the MCP Server simulator (schema validation,
//!   structured errors, consistent results); [`llm`] — their LLM-driven variants.
//! * [`episode`] — the batched episode loop with the policy behind a `ChatBackend`.
//! * [`verify`] — the verifier and the near-duplicate filter.
//! * [`run`] — the whole stage as `trainer synth` runs it; [`output`] and [`stats`];
//!   [`sharegpt`] — the ShareGPT export of trajectories.

pub mod canon;
pub mod episode;
mod error;
pub mod lexicon;
pub mod links;
pub mod llm;
pub mod output;
pub mod pattern;
pub mod phrasing;
pub mod plan;
pub mod pool;
pub mod reflect;
pub mod registry;
pub mod run;
pub mod scenario;
pub mod schema;
pub mod scripted;
pub mod server;
pub mod sharegpt;
pub mod stats;
pub mod teacher;
pub mod user;
pub mod values;
pub mod verify;
pub mod words;

use std::path::PathBuf;

pub use episode::{run_episodes, Agents, CallRecord, Episode, EpisodeConfig, Outcome};
pub use error::{Error, Result};
pub use plan::{plan, Category, Fact, InjectedError, Plan, PlanOptions, Reflection, Step, Task};
pub use registry::Registry;
pub use run::{synthesize, SynthOutcome};
pub use scenario::{Difficulty, Persona};
pub use server::{CallStatus, ResultGenerator, SchemaResults, ServerState};
pub use stats::Stats;
pub use user::{ProgrammaticUser, UserSimulator};
pub use verify::{verify, Dedup, Reason, Rejection};

/// Files and directories → spec files: a directory contributes its spec files (recursively,
/// sorted); a file is taken as it is.
pub fn expand_spec_paths(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let files = crate::specs::find_spec_files(p).map_err(|e| Error::SpecPath {
                path: p.clone(),
                message: e.to_string(),
            })?;
            out.extend(files);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(Error::SpecPath {
                path: p.clone(),
                message: "no such file or directory".into(),
            });
        }
    }
    Ok(out)
}
