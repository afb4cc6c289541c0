//! A parser for Python 3.11 *expressions* (`ast.parse(src, mode="eval")`) and
//! the matching `ast.unparse`.
//!
//! The official prompting decoder parses the model's text with Python's own
//! parser and then walks the tree.  To agree with it, this module accepts the
//! full expression grammar (positional arguments, which the decoder drops, can
//! be any expression) and rejects what CPython rejects.  Deliberate gaps, all
//! reported as [`ParseError::Unsupported`] so callers can tell them apart from
//! real syntax errors: `yield` expressions, `\N{...}` escapes, non-ASCII
//! identifiers that NFKC normalization would change, lone surrogates, and
//! non-decimal integer literals above `u128`.

mod ast;
mod lexer;
mod parser;
mod unparse;

pub use ast::{BinOp, BoolOp, CmpOp, CompKind, Comprehension, ConstVal, Expr, Keyword, UnaryOp};
pub use parser::parse_eval;
pub use unparse::unparse;

/// Why a source text could not be turned into an expression tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// CPython would raise `SyntaxError` (or `ValueError`) too.
    #[error("invalid syntax: {0}")]
    Syntax(String),
    /// Valid Python that this re-implementation does not handle.
    #[error("unsupported Python construct: {0}")]
    Unsupported(String),
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, ParseError>;

#[cfg(test)]
mod tests;
