//! Small text helpers for descriptions.

/// Cuts `s` to at most `max` characters, ending with `…` when something was cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    let trimmed_len = out.trim_end().len();
    out.truncate(trimmed_len);
    out.push('…');
    out
}

/// A tool description from an operation's `summary` and `description`: both when they differ
/// (summary first), one when the other is empty or repeats it; cut to `max` characters.
pub fn describe(summary: Option<&str>, description: Option<&str>, max: usize) -> String {
    let summary = summary.map(str::trim).filter(|s| !s.is_empty());
    let description = description.map(str::trim).filter(|s| !s.is_empty());
    let joined = match (summary, description) {
        (Some(s), Some(d)) if d.starts_with(s.trim_end_matches('.')) => d.to_string(),
        (Some(s), Some(d)) => format!("{s}\n\n{d}"),
        (Some(s), None) => s.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => String::new(),
    };
    truncate_chars(&joined, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        assert_eq!(
            describe(Some("List pets."), Some("List pets. Paged."), 100),
            "List pets. Paged."
        );
        assert_eq!(
            describe(Some("List"), Some("All of them"), 100),
            "List\n\nAll of them"
        );
        assert_eq!(describe(None, Some("  x "), 100), "x");
        assert_eq!(describe(None, None, 100), "");
        assert_eq!(truncate_chars("héllo world", 6), "héllo…");
        assert_eq!(truncate_chars("abc", 3), "abc");
    }
}
