//! Group-relative advantages, as TRL 1.16 computes them in
//! `GRPOTrainer._generate_and_score_completions` (`multi_objective_aggregation = "sum_then_normalize"`):
//!
//! * unscorable rows are NaN: left out of every mean and standard deviation, advantage 0;
//! * `mean` is always the group's (NaN-aware) mean;
//! * `std` is `trl.trainer.utils.nanstd`, the **unbiased** (Bessel-corrected, `n − 1`) standard
//!   deviation of the scorable values — of the group (`group`, `none`) or of the whole batch
//!   (`batch`); NaN with fewer than two scorable values, which turns the advantage into 0;
//! * `A = r − mean`, divided by `std + 1e-4` unless `scale_rewards = none`;
//! * `frac_reward_zero_std` = fraction of rows whose `std` is `isclose` to 0 (`|std| ≤ 1e-8`; NaN
//!   is not), using the group std for `group`/`none` and the batch std for `batch`.

use super::error::{Error, Result};
use super::options::ScaleRewards;

/// Added to the standard deviation before dividing (TRL's constant).
pub const STD_EPS: f64 = 1e-4;
/// `torch.isclose(std, 0)` with its default `atol = 1e-8`.
const ZERO_STD_ATOL: f64 = 1e-8;

/// Advantages and the reward statistics TRL logs alongside them.
#[derive(Debug, Clone, PartialEq)]
pub struct Advantages {
    /// One per row; 0 for unscorable rows.
    pub values: Vec<f64>,
    /// Per row, the standard deviation TRL tests for zero (group or batch std; NaN if undefined).
    pub std_rewards: Vec<f64>,
    /// Per group: true when its scorable rewards have (near) zero or undefined spread, i.e. the
    /// group carries no learning signal (used to drop groups, DAPO dynamic sampling).
    pub zero_std_groups: Vec<bool>,
    /// Logged `frac_reward_zero_std`.
    pub frac_reward_zero_std: f64,
    /// Logged `reward`: mean over scorable rows (NaN if none).
    pub reward: f64,
    /// Logged `reward_std`: unbiased std over scorable rows (NaN if fewer than two).
    pub reward_std: f64,
}

/// NaN-aware mean (NaN when every value is missing).
fn nanmean(xs: &[Option<f64>]) -> f64 {
    let (sum, n) = xs
        .iter()
        .flatten()
        .fold((0.0, 0usize), |(s, n), &x| (s + x, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

/// `trl.trainer.utils.nanstd`: `nanmean((x − mean)²) · n / (n − 1)`, square-rooted; NaN if n ≤ 1.
fn nanstd(xs: &[Option<f64>]) -> f64 {
    let mean = nanmean(xs);
    let n = xs.iter().flatten().count();
    if n <= 1 {
        return f64::NAN;
    }
    let var = xs
        .iter()
        .flatten()
        .map(|&x| (x - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    (var * (n as f64 / (n as f64 - 1.0))).sqrt()
}

fn is_zero_std(std: f64) -> bool {
    std.abs() <= ZERO_STD_ATOL
}

/// Advantages of `rewards` (`None` = unscorable), laid out as consecutive groups of
/// `num_generations` completions of the same prompt.
pub fn compute_advantages(
    rewards: &[Option<f64>],
    num_generations: usize,
    scale: ScaleRewards,
) -> Result<Advantages> {
    if num_generations == 0 || rewards.is_empty() || !rewards.len().is_multiple_of(num_generations)
    {
        return Err(Error::Invalid(format!(
            "{} rewards do not form groups of num_generations = {num_generations}",
            rewards.len()
        )));
    }
    if let Some((i, r)) = rewards
        .iter()
        .enumerate()
        .find(|(_, r)| r.is_some_and(|x| !x.is_finite()))
    {
        return Err(Error::Invalid(format!(
            "reward of row {i} is {r:?}; an unscorable completion must be None"
        )));
    }
    let groups: Vec<&[Option<f64>]> = rewards.chunks(num_generations).collect();
    let group_mean: Vec<f64> = groups.iter().map(|g| nanmean(g)).collect();
    // TRL: with num_generations == 1 the group std is defined as 0.
    let group_std: Vec<f64> = groups
        .iter()
        .map(|g| if num_generations > 1 { nanstd(g) } else { 0.0 })
        .collect();
    let batch_std = if rewards.len() > 1 {
        nanstd(rewards)
    } else {
        0.0
    };

    let mut values = Vec::with_capacity(rewards.len());
    let mut std_rewards = Vec::with_capacity(rewards.len());
    for (i, r) in rewards.iter().enumerate() {
        let g = i / num_generations;
        let (mean, gstd) = (
            group_mean.get(g).copied().unwrap_or(f64::NAN),
            group_std.get(g).copied().unwrap_or(f64::NAN),
        );
        let std = match scale {
            ScaleRewards::Group | ScaleRewards::None => gstd,
            ScaleRewards::Batch => batch_std,
        };
        let a = match r {
            Some(x) => {
                let centered = x - mean;
                match scale {
                    ScaleRewards::None => centered,
                    _ => centered / (std + STD_EPS),
                }
            }
            None => f64::NAN,
        };
        // torch.nan_to_num(advantages, nan=0.0)
        values.push(if a.is_nan() { 0.0 } else { a });
        std_rewards.push(std);
    }
    let zero = std_rewards.iter().filter(|&&s| is_zero_std(s)).count();
    let zero_std_groups = groups
        .iter()
        .zip(&group_std)
        .map(|(g, &s)| g.iter().flatten().count() < 2 || s.is_nan() || is_zero_std(s))
        .collect();
    Ok(Advantages {
        values,
        std_rewards,
        zero_std_groups,
        frac_reward_zero_std: zero as f64 / rewards.len() as f64,
        reward: nanmean(rewards),
        reward_std: nanstd(rewards),
    })
}

impl Advantages {
    /// Rows to keep when zero-variance groups are dropped (DAPO dynamic sampling): every row of
    /// every group with spread. `num_generations` must be the one used to compute them.
    pub fn informative_rows(&self, num_generations: usize) -> Vec<usize> {
        (0..self.values.len())
            .filter(|&i| {
                num_generations > 0
                    && !self
                        .zero_std_groups
                        .get(i / num_generations)
                        .copied()
                        .unwrap_or(true)
            })
            .collect()
    }
}
