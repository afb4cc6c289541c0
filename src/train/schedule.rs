//! Learning-rate schedules with linear warmup, the formulas of transformers'
//! `get_{constant,linear,cosine}_schedule_with_warmup` (`transformers/optimization.py`).
//!
//! As with `torch.optim.lr_scheduler.LambdaLR`, the optimizer step with index `k` (0-based count of
//! updates already applied) uses `lr · factor(k)`; a warmup therefore starts at `lr = 0`.

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};

/// Shape of the schedule after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// Constant after warmup.
    Constant,
    /// Linear decay to 0 at `total_steps`.
    Linear,
    /// Cosine decay (`num_cycles = 0.5`: half a cosine down to 0 at `total_steps`).
    Cosine,
}

/// A warmup + decay schedule, as a multiplier of the base learning rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LrSchedule {
    pub kind: ScheduleKind,
    #[serde(default)]
    pub warmup_steps: u64,
    /// Total optimizer steps (ignored by `constant`).
    #[serde(default)]
    pub total_steps: u64,
    /// Number of cosine waves over the decay phase (transformers' default 0.5).
    #[serde(default = "default_cycles")]
    pub num_cycles: f64,
}

fn default_cycles() -> f64 {
    0.5
}

impl Default for LrSchedule {
    fn default() -> Self {
        LrSchedule {
            kind: ScheduleKind::Constant,
            warmup_steps: 0,
            total_steps: 0,
            num_cycles: default_cycles(),
        }
    }
}

impl LrSchedule {
    /// Checks the settings (decaying schedules need `total_steps > 0`).
    pub fn validate(&self) -> Result<()> {
        if self.kind != ScheduleKind::Constant && self.total_steps == 0 {
            return Err(Error::config(
                "total_steps",
                format!("a {:?} schedule needs total_steps > 0", self.kind),
            ));
        }
        if !self.num_cycles.is_finite() || self.num_cycles < 0.0 {
            return Err(Error::config(
                "num_cycles",
                format!("must be finite and ≥ 0, got {}", self.num_cycles),
            ));
        }
        Ok(())
    }

    /// Multiplier of the base learning rate for the update with 0-based index `step`.
    pub fn factor(&self, step: u64) -> f64 {
        let step_f = step as f64;
        let warmup = self.warmup_steps as f64;
        if step < self.warmup_steps {
            // transformers: float(current_step) / float(max(1, num_warmup_steps))
            return step_f / warmup.max(1.0);
        }
        let total = self.total_steps as f64;
        let decay_len = (total - warmup).max(1.0);
        match self.kind {
            ScheduleKind::Constant => 1.0,
            ScheduleKind::Linear => ((total - step_f) / decay_len).max(0.0),
            ScheduleKind::Cosine => {
                let progress = (step_f - warmup) / decay_len;
                let c = (std::f64::consts::PI * self.num_cycles * 2.0 * progress).cos();
                (0.5 * (1.0 + c)).max(0.0)
            }
        }
    }
}
