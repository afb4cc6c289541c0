//! BFCL v4 evaluation: data loading, the official decoders and AST checker
//! re-implemented rule for rule, and a scorer that writes the official score
//! files (single-turn categories; Python languages).
//!
//! Layout: Python value semantics ([`pyval`], [`pyrepr`], [`pyjson`]), a
//! Python expression parser ([`pyexpr`]), the model decoders ([`decode`]),
//! the AST checker ([`checker`]), and data/scoring ([`category`], [`data`],
//! [`entry`], [`score`], [`leaderboard`]).

pub mod agentic;
pub mod category;
pub mod checker;
pub mod data;
pub mod decode;
pub mod entry;
pub mod infer;
pub mod leaderboard;
pub mod multi_turn;
pub mod pyexpr;
pub mod pyjson;
pub mod pyrepr;
pub mod pyval;
pub mod score;

/// Runs `f` on a spawned thread with the default 2 MiB stack, so that
/// unbounded recursion aborts the test instead of passing on a big main stack.
#[cfg(test)]
pub(crate) fn on_spawned_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}
