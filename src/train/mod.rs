//! Optimization: our own AdamW (saveable state, global-norm clipping, warmup schedules, a skip
//! policy for non-finite steps) and the SFT building blocks (masked cross-entropy, padding-aware
//! batching, gradient accumulation). DESIGN.md §4–§5.

mod batch;
mod error;
mod grads;
mod grpo_step;
mod optim;
mod optim_state;
mod schedule;
mod sft;
pub mod sft_data;

pub use batch::{
    check_token_ids, loss_tokens, micro_batches, pad_batch, PaddedBatch, TokenSequence,
};
pub use error::{Error, Result};
pub use grads::Gradients;
pub use grpo_step::{
    grpo_step, grpo_update, grpo_updates, row_seed, GrpoStepError, GrpoStepOptions, GrpoStepReport,
    OldLogprobs, RewardFn, UpdateReport,
};
pub use optim::{AdamW, AdamWConfig, SkipReason, StepOutcome};
pub use optim_state::OPTIMIZER_FILE;
pub use schedule::{LrSchedule, ScheduleKind};
pub use sft::{
    batch_logprobs, masked_logprob_sum, masked_nll, sft_gradients, sft_step, SftStepOptions,
    SftStepReport,
};
