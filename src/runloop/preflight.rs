//! The memory preflight of `trainer run`: [`crate::plan`]'s estimate of the configured run,
//! checked before any weight is loaded.
//!
//! - CUDA: the budget is `--gpu-mem-gib` or else the device's total memory (asked from the driver;
//!   the plan's margin already counts the CUDA context). A run that does not fit is refused with
//!   the planner's message (the dominant component, the estimate, the budget) unless
//!   [`PreflightOptions::ignore`] is set, which logs the refusal as a warning and goes on.
//! - CPU: the plan is only logged (a warning when it exceeds `MemTotal`): the estimate was checked
//!   against measured RSS on CPU, but swap and the allocator make a CPU overrun slow rather than
//!   fatal, and small CPU runs (tests, examples) should not depend on the planner reading their
//!   model's geometry.

use crate::config::Config;
use crate::plan::{self, Plan, PlanOptions};

use super::error::{Result, RunError};

/// How `trainer run` checks memory before loading the model.
#[derive(Debug, Clone, Default)]
pub struct PreflightOptions {
    /// GPU memory in GiB to plan against; `None`: the device's total memory.
    pub gpu_mem_gib: Option<f64>,
    /// Run even when the plan does not fit the GPU (`trainer run --ignore-memory-plan`).
    pub ignore: bool,
}

/// Plans `cfg`'s run and checks it as the module docs describe. Returns the plan when one was
/// made (always on CUDA; on CPU unless the planner could not read the model).
pub fn preflight(cfg: &Config, opts: &PreflightOptions) -> Result<Option<Plan>> {
    let device = cfg.model.device.as_str();
    if device == "cpu" {
        return Ok(cpu_preflight(cfg));
    }
    let (gpu_mem_gib, source) = match opts.gpu_mem_gib {
        Some(g) => (g, None),
        None => {
            let g = device_total_gib(device)?;
            (g, Some(format!("{device} total memory {g:.2} GiB")))
        }
    };
    let made = plan::plan_config(
        cfg,
        &PlanOptions {
            gpu_mem_gib,
            ..PlanOptions::default()
        },
    )
    .map(|mut p| {
        if let Some(s) = source {
            p.budget.source = s;
        }
        p
    });
    let plan = match made {
        Ok(p) => p,
        Err(e) if opts.ignore => {
            tracing::warn!("memory preflight: no plan ({e}); going on (--ignore-memory-plan)");
            return Ok(None);
        }
        Err(e) => return Err(refusal(e)),
    };
    log_plan(&plan);
    match plan.check() {
        Ok(()) => Ok(Some(plan)),
        Err(e) if opts.ignore => {
            tracing::warn!("memory preflight: {e}; going on (--ignore-memory-plan)");
            Ok(Some(plan))
        }
        Err(e) => Err(refusal(e)),
    }
}

fn refusal(e: plan::Error) -> RunError {
    RunError::Invalid(format!(
        "memory preflight: {e}. See `trainer plan <config>` for the full estimate; change the \
         config, give the real GPU size with --gpu-mem-gib, or run anyway with \
         --ignore-memory-plan"
    ))
}

fn cpu_preflight(cfg: &Config) -> Option<Plan> {
    let plan = match plan::plan_config(cfg, &PlanOptions::default()) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!("memory preflight skipped on CPU: {e}");
            return None;
        }
    };
    log_plan(&plan);
    if let Err(e) = plan.check() {
        tracing::warn!("memory preflight (CPU, not enforced): {e}");
    }
    Some(plan)
}

fn log_plan(plan: &Plan) {
    tracing::info!("memory preflight: {}", plan::verdict(plan));
}

/// The total memory of CUDA device `device` (`cuda`, `cuda:N`) in GiB.
#[cfg(feature = "cuda")]
fn device_total_gib(device: &str) -> Result<f64> {
    let ordinal = match device.strip_prefix("cuda:") {
        Some(n) => n.parse::<usize>().map_err(|_| {
            RunError::Invalid(format!(
                "model.device = {device:?}: allowed \"cpu\", \"cuda\", \"cuda:N\""
            ))
        })?,
        None => 0,
    };
    let open_err = |e: String| {
        RunError::Invalid(format!(
            "model.device = {device:?}: cannot open CUDA device {ordinal} for the memory \
             preflight ({e}); check the GPU driver and that LD_LIBRARY_PATH has the CUDA \
             libraries (README \"GPU build\"), or give the GPU size with --gpu-mem-gib"
        ))
    };
    let dev = candle_core::Device::new_cuda(ordinal).map_err(|e| open_err(e.to_string()))?;
    let cuda = dev.as_cuda_device()?;
    let (_free, total) = cuda
        .cuda_stream()
        .context()
        .mem_get_info()
        .map_err(|e| open_err(e.to_string()))?;
    Ok(total as f64 / (1u64 << 30) as f64)
}

/// Without CUDA support the device cannot be asked (nor used).
#[cfg(not(feature = "cuda"))]
fn device_total_gib(device: &str) -> Result<f64> {
    Err(RunError::Invalid(format!(
        "model.device = {device:?}: this binary was built without CUDA: build it with \
         scripts/build-cuda.sh (`--features cuda`) on or for a GPU host"
    )))
}
