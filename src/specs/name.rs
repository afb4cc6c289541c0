//! Tool and argument names: sanitizing and deterministic de-duplication.
//!
//! Tool names must match `^[a-zA-Z0-9_-]{1,64}$` (the OpenAI function-name rule). Argument names
//! that `trainer` invents (from OpenAPI parameters) are made Python identifiers, because the
//! BFCL prompting format renders calls as Python (`f(arg=1)`): `X-Api-Key` → `X_Api_Key`,
//! `$top` → `top`, `from` → `from_`.

use std::collections::HashSet;

/// Longest allowed tool (and argument) name.
pub const MAX_NAME_LEN: usize = 64;

/// Python's hard keywords: not usable as keyword-argument names.
const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// Sanitizes a tool name to `[a-zA-Z0-9_-]{0,64}`: every run of other characters becomes one
/// `_`, leading/trailing `_`/`-` are trimmed, and an over-long name keeps its first 55
/// characters plus `_` and 8 hex digits of a hash of the whole raw name. Returns `""` when
/// nothing usable is left (the caller picks a fallback).
pub fn sanitize_tool_name(raw: &str) -> String {
    let cleaned = replace_runs(raw, |c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let trimmed = cleaned.trim_matches(|c| c == '_' || c == '-');
    shorten(trimmed, raw)
}

/// Sanitizes an argument name to a Python identifier of at most 64 characters (see the
/// module docs). Returns `"arg"` when nothing usable is left.
pub fn sanitize_arg_name(raw: &str) -> String {
    let cleaned = replace_runs(raw, |c| c.is_ascii_alphanumeric() || c == '_');
    // Trim only the underscores that replaced other characters at either end (`$top` → `top`)
    // while keeping genuine ones (`_id` stays `_id`).
    let starts_replaced = raw.chars().next().is_some_and(|c| !is_ident_char(c));
    let ends_replaced = raw.chars().last().is_some_and(|c| !is_ident_char(c));
    let mut s = cleaned.as_str();
    if starts_replaced {
        s = s.strip_prefix('_').unwrap_or(s);
    }
    if ends_replaced {
        s = s.strip_suffix('_').unwrap_or(s);
    }
    let mut name = if s.is_empty() {
        "arg".to_string()
    } else if s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("arg_{s}")
    } else {
        s.to_string()
    };
    if PYTHON_KEYWORDS.contains(&name.as_str()) {
        name.push('_');
    }
    shorten(&name, raw)
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Replaces every maximal run of characters failing `keep` with a single `_`.
fn replace_runs(raw: &str, keep: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut in_run = false;
    for c in raw.chars() {
        if keep(c) {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('_');
            in_run = true;
        }
    }
    out
}

/// Cuts an ASCII name to [`MAX_NAME_LEN`], keeping it distinct through a hash of `raw`.
fn shorten(name: &str, raw: &str) -> String {
    if name.len() <= MAX_NAME_LEN {
        return name.to_string();
    }
    let head: String = name.chars().take(MAX_NAME_LEN - 9).collect();
    format!("{head}_{:08x}", fnv1a32(raw.as_bytes()))
}

/// 32-bit FNV-1a hash (stable across platforms and releases).
fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Hands out unique names: the first claim of a name gets it unchanged, later claims get
/// `_2`, `_3`, ... (cutting the base so the result stays within [`MAX_NAME_LEN`]).
#[derive(Debug, Default, Clone)]
pub struct NameRegistry {
    used: HashSet<String>,
}

impl NameRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `name` is taken.
    pub fn contains(&self, name: &str) -> bool {
        self.used.contains(name)
    }

    /// Claims `base` (an ASCII name of at most [`MAX_NAME_LEN`] characters) or the first free
    /// numbered variant of it.
    pub fn claim(&mut self, base: &str) -> String {
        if self.used.insert(base.to_string()) {
            return base.to_string();
        }
        let mut k: u64 = 2;
        loop {
            let suffix = format!("_{k}");
            let keep = MAX_NAME_LEN.saturating_sub(suffix.len());
            let head: String = base.chars().take(keep).collect();
            let candidate = format!("{head}{suffix}");
            if self.used.insert(candidate.clone()) {
                return candidate;
            }
            k += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names() {
        assert_eq!(sanitize_tool_name("listPets"), "listPets");
        assert_eq!(sanitize_tool_name("pets.list all"), "pets_list_all");
        assert_eq!(sanitize_tool_name("get /pets/{petId}"), "get_pets_petId");
        assert_eq!(sanitize_tool_name("__x__"), "x");
        assert_eq!(sanitize_tool_name("日本"), "");
        let long = "a".repeat(100);
        let s = sanitize_tool_name(&long);
        assert_eq!(s.len(), 64);
        assert!(s.starts_with(&"a".repeat(55)));
    }

    #[test]
    fn arg_names() {
        assert_eq!(sanitize_arg_name("X-Api-Key"), "X_Api_Key");
        assert_eq!(sanitize_arg_name("$top"), "top");
        assert_eq!(sanitize_arg_name("_id"), "_id");
        assert_eq!(sanitize_arg_name("filter[name]"), "filter_name");
        assert_eq!(sanitize_arg_name("from"), "from_");
        assert_eq!(sanitize_arg_name("2fa"), "arg_2fa");
        assert_eq!(sanitize_arg_name("%%"), "arg");
    }

    #[test]
    fn registry_numbers_repeats() {
        let mut r = NameRegistry::new();
        assert_eq!(r.claim("a"), "a");
        assert_eq!(r.claim("a"), "a_2");
        assert_eq!(r.claim("a_2"), "a_2_2");
        assert_eq!(r.claim("a"), "a_3");
        let long = "b".repeat(64);
        assert_eq!(r.claim(&long), long);
        let second = r.claim(&long);
        assert_eq!(second.len(), 64);
        assert!(second.ends_with("_2"));
    }
}
