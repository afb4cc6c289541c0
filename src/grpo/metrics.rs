//! The per-step metrics TRL 1.16 logs from `_compute_loss` (single process):
//!
//! * `global_masked_mean(x)` = `Σ x·m / max(Σ m, 1)` for `[B, T]` values; for one value per sequence
//!   (sequence-level ratio, `[B, 1]`) it is the plain mean over the `B` rows;
//! * `kl` = global masked mean of the per-token KL (after the bias correction), when `beta > 0`;
//! * `entropy` = global masked mean of the per-token entropy;
//! * `clip_ratio/low_mean`: global masked mean of `ρ < 1 − ε_low ∧ A < 0`;
//!   `clip_ratio/high_mean`: of `ρ > 1 + ε_high ∧ A > 0`; `clip_ratio/region_mean`: of either;
//! * `clip_ratio/low_min` / `clip_ratio/high_max`: NaN-ignoring min / max over rows of the per-row
//!   masked mean (a row with no loss token is NaN, as in TRL).

use candle_core::{DType, Tensor};

use super::error::Result;

/// Metrics of one micro-batch, under TRL's names (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossMetrics {
    pub kl: Option<f64>,
    pub entropy: Option<f64>,
    pub clip_ratio_low_mean: f64,
    pub clip_ratio_high_mean: f64,
    pub clip_ratio_region_mean: f64,
    pub clip_ratio_low_min: f64,
    pub clip_ratio_high_max: f64,
}

impl LossMetrics {
    /// `(name, value)` pairs with TRL's metric names (absent metrics left out).
    pub fn named(&self) -> Vec<(&'static str, f64)> {
        let mut out = Vec::with_capacity(7);
        if let Some(kl) = self.kl {
            out.push(("kl", kl));
        }
        if let Some(e) = self.entropy {
            out.push(("entropy", e));
        }
        out.extend([
            ("clip_ratio/low_mean", self.clip_ratio_low_mean),
            ("clip_ratio/high_mean", self.clip_ratio_high_mean),
            ("clip_ratio/region_mean", self.clip_ratio_region_mean),
            ("clip_ratio/low_min", self.clip_ratio_low_min),
            ("clip_ratio/high_max", self.clip_ratio_high_max),
        ]);
        out
    }
}

fn host(t: &Tensor) -> Result<Vec<f64>> {
    Ok(t.detach()
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?)
}

/// Row-major `[B, T]` values with their mask.
struct Masked<'a> {
    mask: &'a [f64],
    t: usize,
}

impl Masked<'_> {
    fn global_mean(&self, x: &[f64]) -> f64 {
        let num: f64 = x.iter().zip(self.mask).map(|(a, m)| a * m).sum();
        let den: f64 = self.mask.iter().sum();
        num / den.max(1.0)
    }

    /// Per-row `Σ x·m / Σ m` (NaN for a row without loss tokens).
    fn row_means(&self, x: &[f64]) -> Vec<f64> {
        x.chunks(self.t)
            .zip(self.mask.chunks(self.t))
            .map(|(xs, ms)| {
                let num: f64 = xs.iter().zip(ms).map(|(a, m)| a * m).sum();
                num / ms.iter().sum::<f64>()
            })
            .collect()
    }
}

fn nan_fold(xs: &[f64], pick: fn(f64, f64) -> f64) -> f64 {
    xs.iter()
        .copied()
        .filter(|x| !x.is_nan())
        .reduce(pick)
        .unwrap_or(f64::NAN)
}

/// Computes [`LossMetrics`]. `ratio`: `[B, T]`, or `[B, 1]` when `per_sequence`; `advantages`:
/// `[B]`; `mask`, `kl`, `entropy`: `[B, T]`.
pub fn loss_metrics(
    ratio: &Tensor,
    per_sequence: bool,
    advantages: &Tensor,
    mask: &Tensor,
    kl: Option<&Tensor>,
    entropy: Option<&Tensor>,
    (eps_low, eps_high): (f64, f64),
) -> Result<LossMetrics> {
    let (b, t) = mask.dims2()?;
    let m = host(mask)?;
    let masked = Masked { mask: &m, t };
    let adv = host(advantages)?;
    let rho = host(ratio)?;
    if ratio.dims() != [b, if per_sequence { 1 } else { t }] {
        return Err(super::error::Error::Invalid(format!(
            "ratio has shape {:?} for a [{b}, {t}] mask",
            ratio.dims()
        )));
    }
    let width = if per_sequence { 1 } else { t };
    let flags = |pred: &dyn Fn(f64, f64) -> bool| -> Vec<f64> {
        rho.iter()
            .enumerate()
            .map(|(i, &r)| {
                let a = adv.get(i / width).copied().unwrap_or(0.0);
                f64::from(u8::from(pred(r, a)))
            })
            .collect()
    };
    let low = flags(&|r, a| r < 1.0 - eps_low && a < 0.0);
    let high = flags(&|r, a| r > 1.0 + eps_high && a > 0.0);
    let region: Vec<f64> = low.iter().zip(&high).map(|(l, h)| l.max(*h)).collect();
    let mean = |x: &[f64]| {
        if per_sequence {
            x.iter().sum::<f64>() / (x.len() as f64).max(1.0)
        } else {
            masked.global_mean(x)
        }
    };
    let rows = |x: &[f64]| {
        if per_sequence {
            x.to_vec()
        } else {
            masked.row_means(x)
        }
    };
    let kl = match kl {
        Some(k) => Some(masked.global_mean(&host(k)?)),
        None => None,
    };
    let entropy = match entropy {
        Some(e) => Some(masked.global_mean(&host(e)?)),
        None => None,
    };
    Ok(LossMetrics {
        kl,
        entropy,
        clip_ratio_low_mean: mean(&low),
        clip_ratio_high_mean: mean(&high),
        clip_ratio_region_mean: mean(&region),
        clip_ratio_low_min: nan_fold(&rows(&low), f64::min),
        clip_ratio_high_max: nan_fold(&rows(&high), f64::max),
    })
}
