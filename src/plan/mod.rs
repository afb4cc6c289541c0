//! `trainer plan`: the peak device memory of a configured run, estimated per component from the
//! model geometry alone (its `config.json` or GGUF metadata: no weight is read), before anything
//! is allocated. A config whose estimate exceeds the device budget is refused with the component
//! that dominates it.
//!
//! The estimate follows what the code allocates today ([`Fidelity::AsCoded`]): on CPU and CUDA
//! layer-wise recompute, the frozen-weight backward and (CUDA) recomputed log-prob chunks are in
//! place, and the fused training ops run on CPU f32 and on CUDA (its kernels) — see
//! [`estimate`]'s module docs. [`Fidelity::AsDesigned`] assumes the fused ops on every device
//! and dtype (it differs only for CPU bf16/f16 and with `TRAINER_CUDA_KERNELS=0`).
//!
//! One call for a preflight: [`preflight`]; `trainer run` calls it for CUDA devices before any
//! weight is loaded.

mod budget;
pub mod estimate;
mod report;
mod shapes;

use std::path::PathBuf;

pub use budget::{device_budget, mem_total_bytes, Budget, DeviceKind};
pub use estimate::{estimate, Component, Fidelity, Phase, Plan, PlanInputs};
pub use report::{render_json, render_table, verdict};
pub use shapes::{model_geometry, Geometry};

/// Errors of planning. Each names the file (or setting) it is about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The model geometry could not be read.
    #[error("{path}: {msg}")]
    Geometry { path: PathBuf, msg: String },

    /// A model source that cannot be planned from (unknown asset, nothing at the path, ...).
    #[error("model.source = {spec:?}: {msg}")]
    Source { spec: String, msg: String },

    /// The device budget could not be determined.
    #[error("{what}: {msg}")]
    Budget { what: String, msg: String },

    /// The estimate exceeds the budget.
    #[error("{0}")]
    DoesNotFit(String),
}

/// Result of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// Options of a plan besides the config.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    /// GPU memory in GiB for `model.device = cuda*` (the CPU budget is `MemTotal`).
    pub gpu_mem_gib: f64,
    /// Where the geometry comes from instead of `model.source` (a `config.json`, a model
    /// directory or a `.gguf` file): for planning a model whose weights are not on this machine.
    pub model_config: Option<PathBuf>,
    /// Follow the code as it is, or as designed (see [`Fidelity`]).
    pub fidelity: Fidelity,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            gpu_mem_gib: 80.0,
            model_config: None,
            fidelity: Fidelity::AsCoded,
        }
    }
}

/// The preflight entry point: reads the geometry of `cfg`'s model (or `opts.model_config`),
/// determines the device budget and estimates the peak. Returns the plan whether or not it fits;
/// [`Plan::check`] turns a plan that does not fit into [`Error::DoesNotFit`].
pub fn plan_config(cfg: &crate::config::Config, opts: &PlanOptions) -> Result<Plan> {
    let geometry = match &opts.model_config {
        Some(p) => shapes::geometry_from_path(p)?,
        None => model_geometry(&cfg.model.source)?,
    };
    let budget = device_budget(&cfg.model.device, opts.gpu_mem_gib)?;
    let inputs = PlanInputs::from_config(cfg, geometry, budget, opts.fidelity);
    Ok(estimate(&inputs))
}

/// [`plan_config`] with the defaults (as coded, geometry from `model.source`) followed by
/// [`Plan::check`]: `Ok(plan)` when the run fits (log it), [`Error::DoesNotFit`] naming the
/// dominant component, the estimate and the budget when it does not.
pub fn preflight(cfg: &crate::config::Config, gpu_mem_gib: f64) -> Result<Plan> {
    let plan = plan_config(
        cfg,
        &PlanOptions {
            gpu_mem_gib,
            ..PlanOptions::default()
        },
    )?;
    plan.check()?;
    Ok(plan)
}
