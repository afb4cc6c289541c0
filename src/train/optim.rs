//! AdamW over a list of named [`Var`]s, step for step the arithmetic of `torch.optim.AdamW`
//! (single-tensor path, `amsgrad = False`), with `clip_grad_norm_`-style global-norm clipping, a
//! warmup schedule, and a skip policy for non-finite losses or gradients.
//!
//! Per variable and update (`t` = that variable's own step count, as torch keeps it):
//! `p ← p·(1 − lr·wd)`, `m ← m + (g − m)(1 − β₁)`, `v ← β₂v + (1 − β₂)g²`,
//! `p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)`.
//! Moments are f32 (f64 for f64 variables).

use std::fmt;

use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::grads::Gradients;
use super::schedule::LrSchedule;
use crate::model::acc_dtype;

/// Hyperparameters (defaults: torch's AdamW betas / eps, HF Trainer's `max_grad_norm = 1`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamWConfig {
    /// Base learning rate (scaled by the schedule).
    pub lr: f64,
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Decoupled weight decay (`torch.optim.AdamW`'s `weight_decay`).
    #[serde(default)]
    pub weight_decay: f64,
    /// Global-norm clipping threshold; `None` disables clipping (the norm is still measured).
    #[serde(default = "default_max_grad_norm")]
    pub max_grad_norm: Option<f64>,
    /// This many skipped steps in a row (non-finite loss or gradient) is an error.
    #[serde(default = "default_max_skips")]
    pub max_consecutive_skips: u32,
    #[serde(default)]
    pub schedule: LrSchedule,
}

fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}
fn default_max_grad_norm() -> Option<f64> {
    Some(1.0)
}
fn default_max_skips() -> u32 {
    5
}

impl AdamWConfig {
    /// Defaults with the given learning rate.
    pub fn with_lr(lr: f64) -> Self {
        AdamWConfig {
            lr,
            beta1: default_beta1(),
            beta2: default_beta2(),
            eps: default_eps(),
            weight_decay: 0.0,
            max_grad_norm: default_max_grad_norm(),
            max_consecutive_skips: default_max_skips(),
            schedule: LrSchedule::default(),
        }
    }

    /// Checks ranges; errors name the offending field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, v: f64, want: &str| {
            Err(Error::config(field, format!("must be {want}, got {v}")))
        };
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return bad("lr", self.lr, "finite and ≥ 0");
        }
        if !(0.0..1.0).contains(&self.beta1) {
            return bad("beta1", self.beta1, "in [0, 1)");
        }
        if !(0.0..1.0).contains(&self.beta2) {
            return bad("beta2", self.beta2, "in [0, 1)");
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return bad("eps", self.eps, "finite and > 0");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", self.weight_decay, "finite and ≥ 0");
        }
        if let Some(n) = self.max_grad_norm {
            if !(n.is_finite() && n > 0.0) {
                return bad("max_grad_norm", n, "finite and > 0");
            }
        }
        if self.max_consecutive_skips == 0 {
            return Err(Error::config("max_consecutive_skips", "must be ≥ 1"));
        }
        self.schedule.validate()
    }
}

/// Why an update was not applied.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SkipReason {
    /// The loss was NaN or ±∞.
    NonFiniteLoss(f64),
    /// The global gradient norm was NaN or ±∞.
    NonFiniteGradNorm(f64),
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NonFiniteLoss(x) => write!(f, "non-finite loss {x}"),
            SkipReason::NonFiniteGradNorm(x) => write!(f, "non-finite gradient norm {x}"),
        }
    }
}

/// What [`AdamW::step`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StepOutcome {
    /// The update was applied with learning rate `lr`; `grad_norm` is the pre-clip global norm.
    Applied { lr: f64, grad_norm: f64 },
    /// Nothing changed (variables, moments, schedule position); `consecutive` counts this one.
    Skipped {
        reason: SkipReason,
        consecutive: u32,
    },
}

/// Per-variable optimizer state.
#[derive(Debug, Clone)]
pub(crate) struct Moments {
    /// Updates this variable has received (torch's per-parameter `state["step"]`).
    pub step: u64,
    pub exp_avg: Tensor,
    pub exp_avg_sq: Tensor,
}

/// The optimizer. Owns handles to the variables it updates (they share storage with the model).
#[derive(Debug)]
pub struct AdamW {
    pub(crate) cfg: AdamWConfig,
    pub(crate) vars: Vec<(String, Var)>,
    pub(crate) moments: Vec<Moments>,
    /// Applied updates so far: the schedule position.
    pub(crate) step: u64,
    pub(crate) consecutive_skips: u32,
    pub(crate) skipped_total: u64,
}

impl AdamW {
    /// A fresh optimizer (zero moments) over `vars`, e.g. `Model::lora_vars()`.
    pub fn new(vars: Vec<(String, Var)>, cfg: AdamWConfig) -> Result<Self> {
        cfg.validate()?;
        let mut seen = std::collections::HashSet::new();
        let mut moments = Vec::with_capacity(vars.len());
        for (name, var) in &vars {
            if !seen.insert(name.as_str()) {
                return Err(Error::Invalid(format!("variable `{name}` listed twice")));
            }
            let dt = acc_dtype(var.dtype());
            let zeros = Tensor::zeros(var.shape(), dt, var.device())?;
            moments.push(Moments {
                step: 0,
                exp_avg: zeros.clone(),
                exp_avg_sq: zeros,
            });
        }
        Ok(AdamW {
            cfg,
            vars,
            moments,
            step: 0,
            consecutive_skips: 0,
            skipped_total: 0,
        })
    }

    pub fn config(&self) -> &AdamWConfig {
        &self.cfg
    }

    /// The variables, in the order gradients are expected.
    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// Applied updates so far (the schedule position).
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Steps skipped for non-finite values since training began.
    pub fn skipped_total(&self) -> u64 {
        self.skipped_total
    }

    /// The learning rate the next update will use.
    pub fn current_lr(&self) -> f64 {
        self.cfg.lr * self.cfg.schedule.factor(self.step)
    }

    /// Collects this optimizer's gradients from a backward pass.
    pub fn gradients(&self, store: &candle_core::backprop::GradStore) -> Gradients {
        Gradients::from_store(&self.vars, store)
    }

    /// `loss.backward()` followed by [`step`](Self::step).
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<StepOutcome> {
        let value = loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        let grads = if value.is_finite() {
            self.gradients(&loss.backward()?)
        } else {
            Gradients::empty(self.vars.len())
        };
        self.step(value, &grads)
    }

    /// One update from `grads` (aligned with [`vars`](Self::vars)); `loss` is only checked for
    /// finiteness. A non-finite loss or gradient norm skips the update; more than
    /// `max_consecutive_skips` skips in a row is [`Error::TooManySkips`].
    pub fn step(&mut self, loss: f64, grads: &Gradients) -> Result<StepOutcome> {
        if grads.len() != self.vars.len() {
            return Err(Error::Invalid(format!(
                "got gradients for {} variables, the optimizer has {}",
                grads.len(),
                self.vars.len()
            )));
        }
        let norm = if loss.is_finite() {
            grads.global_norm()?
        } else {
            f64::NAN
        };
        let skip = if !loss.is_finite() {
            Some(SkipReason::NonFiniteLoss(loss))
        } else if !norm.is_finite() {
            Some(SkipReason::NonFiniteGradNorm(norm))
        } else {
            None
        };
        if let Some(reason) = skip {
            self.consecutive_skips += 1;
            self.skipped_total += 1;
            tracing::warn!(%reason, consecutive = self.consecutive_skips, "optimizer step skipped");
            if self.consecutive_skips >= self.cfg.max_consecutive_skips {
                return Err(Error::TooManySkips {
                    consecutive: self.consecutive_skips,
                    limit: self.cfg.max_consecutive_skips,
                    last: reason,
                });
            }
            return Ok(StepOutcome::Skipped {
                reason,
                consecutive: self.consecutive_skips,
            });
        }
        let clip = match self.cfg.max_grad_norm {
            Some(max) => Gradients::clip_coefficient(norm, max),
            None => 1.0,
        };
        let lr = self.current_lr();
        for (i, ((_, var), mom)) in self.vars.iter().zip(self.moments.iter_mut()).enumerate() {
            if let Some(g) = grads.get(i) {
                update_one(&self.cfg, lr, clip, var, g, mom)?;
            }
        }
        self.step += 1;
        self.consecutive_skips = 0;
        Ok(StepOutcome::Applied {
            lr,
            grad_norm: norm,
        })
    }
}

/// The AdamW update of one variable, in the moment dtype.
fn update_one(
    cfg: &AdamWConfig,
    lr: f64,
    clip: f64,
    var: &Var,
    grad: &Tensor,
    mom: &mut Moments,
) -> Result<()> {
    let dt = mom.exp_avg.dtype();
    if grad.dims() != var.dims() {
        return Err(Error::Invalid(format!(
            "gradient of shape {:?} for a variable of shape {:?}",
            grad.dims(),
            var.dims()
        )));
    }
    let g = (grad.detach().to_dtype(dt)? * clip)?;
    mom.step += 1;
    let t = mom.step as i32;
    let p = var.as_tensor().detach().to_dtype(dt)?;
    let p = if cfg.weight_decay != 0.0 {
        (p * (1.0 - lr * cfg.weight_decay))?
    } else {
        p
    };
    let m = (&mom.exp_avg + ((&g - &mom.exp_avg)? * (1.0 - cfg.beta1))?)?;
    let v = ((&mom.exp_avg_sq * cfg.beta2)? + (g.sqr()? * (1.0 - cfg.beta2))?)?;
    let bias1 = 1.0 - cfg.beta1.powi(t);
    let bias2_sqrt = (1.0 - cfg.beta2.powi(t)).sqrt();
    let denom = ((v.sqrt()? / bias2_sqrt)? + cfg.eps)?;
    let p = (p - ((m.div(&denom))? * (lr / bias1))?)?;
    var.set(&p.to_dtype(var.dtype())?)?;
    mom.exp_avg = m;
    mom.exp_avg_sq = v;
    Ok(())
}
