//! GRPO math on candle tensors, TRL 1.16's `GRPOTrainer` formulas and option names (DESIGN.md §4):
//! group-relative advantages, the clipped importance-weighted surrogate (token or sequence level),
//! the k3 KL to the adapter-off reference, the four loss aggregations, truncation masking, and the
//! metrics TRL logs. Pure functions: no model, no sampling.

mod advantages;
mod error;
mod loss;
mod mask;
mod metrics;
mod options;

pub use advantages::{compute_advantages, Advantages, STD_EPS};
pub use error::{Error, Result};
pub use loss::{grpo_loss, GrpoLoss, LossInputs, LossScale};
pub use mask::{is_truncated, mask_from_rows, mask_truncated};
pub use metrics::{loss_metrics, LossMetrics};
pub use options::{GrpoOptions, ImportanceSamplingLevel, LossType, ScaleRewards};
