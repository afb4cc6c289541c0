//! Which categories and entries an evaluation covers.

use serde::Serialize;

use super::{Error, Result};
use crate::eval::category::{is_single_turn, parse_category_args};

/// A requested category that is not evaluated, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedCategory {
    /// Category name.
    pub category: String,
    /// Why it is skipped.
    pub reason: String,
}

/// Why this crate cannot evaluate a category yet (`None` when it can).
pub fn unsupported_reason(category: &str) -> Option<&'static str> {
    if category.starts_with("multi_turn") || category == "memory_kv" || category == "memory_rec_sum"
    {
        None
    } else if category == "memory_vector" {
        Some("its memory backend needs sentence-transformers embeddings and faiss, which are not ported (its result files from the official harness are scored)")
    } else if category.starts_with("web_search") {
        Some("web search needs SerpAPI and network access during inference (its result files from the official harness are scored)")
    } else if category == "format_sensitivity" {
        Some("format-sensitivity prompts are not supported yet")
    } else if !is_single_turn(category) {
        Some("not a single-turn category")
    } else {
        None
    }
}

/// Expands names and collections (`all` = every category; the single-turn ones, Python, Java
/// and JavaScript, the multi-turn ones and `memory_kv` / `memory_rec_sum` are evaluated) into
/// `(evaluated, skipped)`, both sorted.
pub fn select_categories(names: &[String]) -> Result<(Vec<String>, Vec<SkippedCategory>)> {
    let all = parse_category_args(names).map_err(Error::UnknownCategory)?;
    let mut run = Vec::new();
    let mut skipped = Vec::new();
    for c in all {
        match unsupported_reason(&c) {
            None => run.push(c),
            Some(why) => skipped.push(SkippedCategory {
                category: c,
                reason: why.to_string(),
            }),
        }
    }
    Ok((run, skipped))
}

/// Indices of the entries a `limit` keeps out of `n`: all of them without a limit (or when the
/// limit is not smaller), else `limit` evenly spaced ones (`⌊i·n/limit⌋`), so a quick run still
/// samples the whole file (live categories are grouped by function doc).
pub fn pick_entries(n: usize, limit: Option<usize>) -> Vec<usize> {
    match limit {
        Some(k) if k < n => (0..k).map(|i| i * n / k).collect(),
        _ => (0..n).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_expands_to_the_supported_categories() {
        let (run, skipped) = select_categories(&["all".into()]).unwrap();
        assert_eq!(run.len(), 19, "{run:?}");
        assert!(run.contains(&"memory_kv".to_string()));
        assert!(run.contains(&"memory_rec_sum".to_string()));
        assert!(run.contains(&"live_relevance".to_string()));
        assert!(run.contains(&"simple_java".to_string()));
        assert!(run.contains(&"simple_javascript".to_string()));
        assert!(run.contains(&"multi_turn_miss_func".to_string()));
        let names: Vec<&str> = skipped.iter().map(|s| s.category.as_str()).collect();
        assert!(!names.contains(&"simple_java") && !names.contains(&"multi_turn_base"));
        assert!(names.contains(&"memory_vector") && names.contains(&"format_sensitivity"));
        assert!(names.contains(&"web_search_base") && names.contains(&"web_search_no_snippet"));
        let (run, _) = select_categories(&["multi_turn".into()]).unwrap();
        assert_eq!(
            run,
            [
                "multi_turn_base",
                "multi_turn_long_context",
                "multi_turn_miss_func",
                "multi_turn_miss_param"
            ]
        );
        assert!(matches!(
            select_categories(&["simple".into()]),
            Err(Error::UnknownCategory(c)) if c == "simple"
        ));
    }

    #[test]
    fn limits_pick_evenly_spaced_distinct_entries() {
        assert_eq!(pick_entries(3, None), vec![0, 1, 2]);
        assert_eq!(pick_entries(3, Some(5)), vec![0, 1, 2]);
        assert_eq!(pick_entries(10, Some(4)), vec![0, 2, 5, 7]);
        let p = pick_entries(1053, Some(40));
        assert_eq!(p.len(), 40);
        assert!(p.windows(2).all(|w| w[0] < w[1]) && *p.last().unwrap() < 1053);
    }
}
