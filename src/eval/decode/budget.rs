//! Limits of the recursive-descent decoders (Java, JavaScript): model output
//! is arbitrary text, and a parser that recursed once per bracket, prefix
//! operator or chained suffix would overflow the stack on a long enough one.
//! Past a limit the input is `Unsupported` (the official tree-sitter parser
//! might accept it; either way the entry fails).

use super::DecodeError;

/// Nesting levels (brackets, right-hand sides, prefix operators, type
/// arguments, `new`) a parser enters before giving up.
pub(super) const MAX_DEPTH: usize = 200;
/// Operators, member/call/index suffixes and qualified-type dots one input may
/// chain: each wraps the expression so far, so a chain is as deep a tree as
/// its length (and the later traversal recurses that deep).
pub(super) const MAX_LINKS: usize = 2000;

/// The depth and chain-length counters of one parse.
#[derive(Debug)]
pub(super) struct Budget {
    lang: &'static str,
    depth: usize,
    /// Links used so far (a parser that backtracks restores it).
    pub(super) links: usize,
}

impl Budget {
    pub(super) fn new(lang: &'static str) -> Self {
        Budget {
            lang,
            depth: 0,
            links: 0,
        }
    }

    /// One nesting level deeper; pair with [`Budget::leave`].
    pub(super) fn enter(&mut self) -> Result<(), DecodeError> {
        if self.depth >= MAX_DEPTH {
            return Err(DecodeError::Unsupported(format!(
                "{} nesting deeper than {MAX_DEPTH} levels",
                self.lang
            )));
        }
        self.depth += 1;
        Ok(())
    }

    pub(super) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// One more link of an operator or suffix chain.
    pub(super) fn link(&mut self) -> Result<(), DecodeError> {
        self.links += 1;
        if self.links > MAX_LINKS {
            return Err(DecodeError::Unsupported(format!(
                "{} chains of more than {MAX_LINKS} operators and suffixes",
                self.lang
            )));
        }
        Ok(())
    }
}
