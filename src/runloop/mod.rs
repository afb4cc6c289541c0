//! The closed loop's stages and bookkeeping; [`crate::iteration`] is the driver.
//!
//! * [`rundir`] — the run directory, `phases.json`, `latest`/`best`, metrics, pruning.
//! * [`heldout`] — the held-out toolsets and their synthetic evaluation.
//! * [`synth_phase`], [`sft_phase`], [`grpo_phase`] — the data and learning phases;
//!   [`grpo_checkpoint`] — resuming inside the GRPO phase.
//! * [`gaps`] — the next iteration's category mix from measured error rates.
//! * [`preflight`] — the memory plan checked before the model is loaded.
//! * [`summary`] — what an iteration measured; [`report`] — `report.md` and the plots.

pub mod error;
pub mod gaps;
pub mod grpo_checkpoint;
pub mod grpo_phase;
pub mod heldout;
pub mod preflight;
pub mod report;
pub mod rundir;
pub mod sft_phase;
pub mod summary;
pub mod synth_phase;

pub use error::{Result, RunError};
