//! Toolset labels: the most common content words of the members' names and descriptions.

use std::collections::BTreeMap;

use crate::specs::Tool;
use crate::synth::words::{singular, split_ident, tokens};

/// Words too generic to name a toolset.
#[rustfmt::skip]
const GENERIC: &[&str] = &[
    "a", "an", "the", "of", "for", "to", "in", "on", "by", "and", "or", "with", "from", "is",
    "are", "be", "this", "that", "it", "as", "at", "get", "list", "set", "create", "update",
    "delete", "return", "returns", "id", "ids", "new", "all", "given", "specified", "one",
    "api", "using", "use", "your", "you", "can", "which", "into", "its", "their", "info", "data",
    "details", "detail", "information", "retrieve", "fetch", "find", "search", "add", "remove",
    "between", "another", "other", "status", "name", "active", "first",
];

/// The two most common content words (names count twice), e.g. `weather-forecast`.
pub fn label_for(tools: &[&Tool]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for t in tools {
        let mut seen: Vec<String> = Vec::new();
        let name_words: Vec<String> = split_ident(&t.name).iter().map(|w| singular(w)).collect();
        for w in &name_words {
            if !GENERIC.contains(&w.as_str()) && w.len() > 2 && !seen.contains(w) {
                *counts.entry(w.clone()).or_default() += 2;
                seen.push(w.clone());
            }
        }
        for w in tokens(&t.description).iter().map(|w| singular(w)) {
            if !GENERIC.contains(&w.as_str()) && w.len() > 2 && !seen.contains(&w) {
                *counts.entry(w.clone()).or_default() += 1;
                seen.push(w);
            }
        }
    }
    let mut ranked: Vec<(String, usize)> = counts.into_iter().collect();
    // Most frequent first; ties alphabetical (BTreeMap order is kept by the stable sort).
    ranked.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let top: Vec<String> = ranked.into_iter().take(2).map(|(w, _)| w).collect();
    if top.is_empty() {
        "misc".into()
    } else {
        top.join("-")
    }
}
