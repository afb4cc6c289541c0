//! Trajectories: what synthesis produces and training consumes.
//!
//! A [`Trajectory`] holds one episode twice: as OpenAI chat messages (+ the offered tools), for
//! export and inspection, and as the token-level record of every assistant turn (prompt ids,
//! sampled ids, sampling log-probs), so that training concatenates the policy's own token ids
//! instead of decoding and re-tokenizing them (DESIGN.md §4, token-in/token-out).
//! [`flatten`] turns the per-turn record into one sequence with a loss mask.

mod flat;
mod trajectory;

pub(crate) use flat::position_after_nth;
pub use flat::{flatten, FlatTokens};
pub use trajectory::{Trajectory, TurnTokens};

/// Errors of trajectory handling.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The per-turn token records do not line up (named trajectory, turn and what is wrong).
    #[error("trajectory {id}: turn {turn}: {message}")]
    Tokens {
        /// Trajectory id.
        id: String,
        /// Assistant turn index (0-based).
        turn: usize,
        /// What is wrong.
        message: String,
    },
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;
