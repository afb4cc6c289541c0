//! BFCL v4 category names, collections, groups and the official ID sort key.

use crate::eval::checker::Language;

/// File-name prefix of every BFCL v4 data/result/score file.
pub const VERSION_PREFIX: &str = "BFCL_v4";

/// `NON_LIVE_CATEGORY`.
pub const NON_LIVE: [&str; 7] = [
    "simple_python",
    "simple_java",
    "simple_javascript",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
];

/// `LIVE_CATEGORY`.
pub const LIVE: [&str; 6] = [
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_irrelevance",
    "live_relevance",
];

/// `MULTI_TURN_CATEGORY`.
pub const MULTI_TURN: [&str; 4] = [
    "multi_turn_base",
    "multi_turn_miss_func",
    "multi_turn_miss_param",
    "multi_turn_long_context",
];

/// `AGENTIC_CATEGORY` (memory first, then web search).
pub const AGENTIC: [&str; 5] = [
    "memory_kv",
    "memory_vector",
    "memory_rec_sum",
    "web_search_base",
    "web_search_no_snippet",
];

/// `NON_SCORING_CATEGORY`.
pub const NON_SCORING: [&str; 1] = ["format_sensitivity"];

/// `SINGLE_TURN_CATEGORY` (the categories this crate scores).
pub fn single_turn() -> Vec<&'static str> {
    NON_LIVE.iter().chain(LIVE.iter()).copied().collect()
}

/// `ALL_CATEGORIES`.
pub fn all_categories() -> Vec<&'static str> {
    NON_LIVE
        .iter()
        .chain(LIVE.iter())
        .chain(MULTI_TURN.iter())
        .chain(AGENTIC.iter())
        .chain(NON_SCORING.iter())
        .copied()
        .collect()
}

/// Expands category names and collection names (`all`, `single_turn`,
/// `live`, `python`, ...) like `parse_test_category_argument`: a sorted,
/// de-duplicated list, or `Err(name)` for an unknown name.
pub fn parse_category_args(args: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for a in args {
        let expanded: Vec<&str> = match a.as_str() {
            "all" => all_categories(),
            "all_scoring" => {
                let mut v = all_categories();
                v.retain(|c| !NON_SCORING.contains(c));
                v
            }
            "multi_turn" => MULTI_TURN.to_vec(),
            "single_turn" => single_turn(),
            "live" => LIVE.to_vec(),
            "non_live" => NON_LIVE.to_vec(),
            "non_python" => vec!["simple_java", "simple_javascript"],
            "python" => vec![
                "simple_python",
                "irrelevance",
                "parallel",
                "multiple",
                "parallel_multiple",
                "live_simple",
                "live_multiple",
                "live_parallel",
                "live_parallel_multiple",
                "live_irrelevance",
                "live_relevance",
            ],
            "memory" => AGENTIC[..3].to_vec(),
            "web_search" => AGENTIC[3..].to_vec(),
            "agentic" => AGENTIC.to_vec(),
            other if all_categories().contains(&other) => vec![other],
            other => return Err(other.to_string()),
        };
        out.extend(expanded.into_iter().map(str::to_string));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `is_relevance_or_irrelevance`.
pub fn is_relevance_or_irrelevance(category: &str) -> bool {
    category.contains("relevance") || category.contains("irrelevance")
}

/// Whether this crate can score the category (single-turn).
pub fn is_single_turn(category: &str) -> bool {
    single_turn().contains(&category)
}

/// The language the official runner picks from the category name.
pub fn language(category: &str) -> Language {
    if category.contains("javascript") {
        Language::JavaScript
    } else if category.contains("java") {
        Language::Java
    } else {
        Language::Python
    }
}

/// `get_directory_structure_by_category` for single-turn categories
/// (`non_live` or `live`).
pub fn group(category: &str) -> &'static str {
    if category.contains("format_sensitivity") {
        "format_sensitivity"
    } else if category.contains("multi_turn") {
        "multi_turn"
    } else if category.contains("web_search") || category.contains("memory") {
        "agentic"
    } else if category.contains("live") {
        "live"
    } else {
        "non_live"
    }
}

/// `get_directory_structure_by_category`: the result/score sub-directory of a category
/// (`agentic/memory/kv` for `memory_kv` and `memory_kv_prereq`, else [`group`]).
pub fn directory(category: &str) -> String {
    let plain = category.replace("_prereq", "");
    match plain.strip_prefix("memory_") {
        Some(backend) => format!("agentic/memory/{backend}"),
        None => group(category).to_string(),
    }
}

/// The official `sort_key` of an entry ID: `(priority, category, index)`.
/// `None` when the ID has no `_<int>` suffix (the official tool crashes).
pub fn sort_key(id: &str) -> Option<(u8, String, i64)> {
    let id = id.split(':').next().unwrap_or(id);
    let (category, index) = id.rsplit_once('_')?;
    let index = if index.contains('-') {
        if index.matches('-').count() != 2 {
            return None;
        }
        index.split('-').next()?
    } else {
        index
    };
    let index: i64 = index.trim().parse().ok()?;
    let priority = if category.contains("prereq") {
        0
    } else if category.contains("web_search") {
        1
    } else if !(category.contains("multi_turn") || category.contains("memory")) {
        2
    } else if category.contains("multi_turn") {
        3
    } else {
        4
    };
    Some((priority, category.to_string(), index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_key_uses_the_global_index() {
        assert_eq!(
            sort_key("live_simple_19-3-15"),
            Some((2, "live_simple".into(), 19))
        );
        assert_eq!(
            sort_key("simple_python_7"),
            Some((2, "simple_python".into(), 7))
        );
        assert_eq!(sort_key("nounderscore"), None);
        assert_eq!(sort_key("x_1-2"), None);
    }

    #[test]
    fn memory_results_live_in_backend_directories() {
        assert_eq!(directory("memory_kv"), "agentic/memory/kv");
        assert_eq!(directory("memory_rec_sum_prereq"), "agentic/memory/rec_sum");
        assert_eq!(directory("web_search_base"), "agentic");
        assert_eq!(directory("live_simple"), "live");
        assert_eq!(
            sort_key("memory_kv_prereq_3-customer-3"),
            Some((0, "memory_kv_prereq".into(), 3))
        );
        assert_eq!(
            sort_key("memory_kv_12-customer-12"),
            Some((4, "memory_kv".into(), 12))
        );
    }

    #[test]
    fn collections_expand_sorted() {
        let v = parse_category_args(&["live".into(), "live_simple".into()]).unwrap();
        assert_eq!(v.len(), 6);
        assert_eq!(v[0], "live_irrelevance");
        assert!(parse_category_args(&["nope".into()]).is_err());
    }
}
