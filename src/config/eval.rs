//! `[eval]`: BFCL evaluation settings (owned by the evaluation stage).
//!
//! ```toml
//! [eval]
//! profile = "fc"            # "fc" (Qwen/Qwen3-8B-FC, <tool_call> JSON) or "prompting" (Qwen/Qwen3-8B)
//! categories = ["all"]      # BFCL category names or collections; `--bfcl` overrides
//! max_new_tokens = 512      # per answer (capped by the model's context, as the official runner does)
//! batch_size = 8            # conversations generated together
//! # limit = 20              # at most this many entries per category (evenly spaced); partial scoring
//! # data_dir = "path"       # BFCL data (default: the cache filled by scripts/fetch-assets.sh --bfcl)
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::schema::invalid;
use super::Result;
use crate::eval::category::parse_category_args;
use crate::eval::infer::EvalProfile;

/// The `[eval]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSection {
    /// Prompt/decoder profile.
    #[serde(default = "default_profile")]
    pub profile: EvalProfile,
    /// Categories or collections evaluated when the command line names none.
    #[serde(default = "default_categories")]
    pub categories: Vec<String>,
    /// Upper bound on generated tokens per answer.
    #[serde(default = "default_max_new_tokens")]
    pub max_new_tokens: usize,
    /// Conversations generated together.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// At most this many entries per category (evenly spaced); absent = all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// BFCL data directory (laid out like `bfcl_eval/data/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<String>,
}

fn default_profile() -> EvalProfile {
    EvalProfile::Fc
}
fn default_categories() -> Vec<String> {
    vec!["all".to_string()]
}
fn default_max_new_tokens() -> usize {
    512
}
fn default_batch_size() -> usize {
    8
}

impl Default for EvalSection {
    fn default() -> Self {
        EvalSection {
            profile: default_profile(),
            categories: default_categories(),
            max_new_tokens: default_max_new_tokens(),
            batch_size: default_batch_size(),
            limit: None,
            data_dir: None,
        }
    }
}

/// The names `categories` accepts besides single category names.
pub const CATEGORY_COLLECTIONS: &str = "all, all_scoring, single_turn, live, non_live, python, non_python, multi_turn, memory, web_search, agentic";

impl EvalSection {
    /// Range checks; category names must be BFCL categories or collections.
    pub fn validate(&self, path: &Path) -> Result<()> {
        if self.categories.is_empty() {
            return Err(invalid(
                path,
                "eval.categories",
                "[]",
                &format!("name at least one BFCL category or collection ({CATEGORY_COLLECTIONS})"),
            ));
        }
        for c in &self.categories {
            if let Err(bad) = parse_category_args(std::slice::from_ref(c)) {
                return Err(invalid(
                    path,
                    "eval.categories",
                    format!("{bad:?}"),
                    &format!(
                        "not a BFCL v4 category; allowed: a category name (simple_python, multiple, parallel, parallel_multiple, irrelevance, live_simple, live_multiple, live_parallel, live_parallel_multiple, live_irrelevance, live_relevance, ...) or a collection ({CATEGORY_COLLECTIONS})"
                    ),
                ));
            }
        }
        if self.max_new_tokens == 0 {
            return Err(invalid(path, "eval.max_new_tokens", 0, "must be > 0"));
        }
        if self.batch_size == 0 {
            return Err(invalid(path, "eval.batch_size", 0, "must be > 0"));
        }
        if self.limit == Some(0) {
            return Err(invalid(
                path,
                "eval.limit",
                0,
                "must be > 0 (leave the key out to evaluate every entry)",
            ));
        }
        if let Some(d) = &self.data_dir {
            if d.trim().is_empty() {
                return Err(invalid(
                    path,
                    "eval.data_dir",
                    "\"\"",
                    "must name the BFCL data directory (or leave the key out for the default cache)",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    const MINIMAL: &str = "[run]\nname = \"t\"\n[model]\nsource = \"m.gguf\"\n";

    fn parse(extra: &str) -> crate::config::Result<Config> {
        Config::from_toml(&format!("{MINIMAL}{extra}"), Path::new("e.toml"))
    }

    #[test]
    fn defaults_and_round_trip() {
        let c = parse("").unwrap();
        assert_eq!(c.eval.profile, crate::eval::infer::EvalProfile::Fc);
        assert_eq!(c.eval.categories, vec!["all".to_string()]);
        assert_eq!(c.eval.limit, None);
        let c = parse("[eval]\nprofile = \"prompting\"\nlimit = 3\ncategories = [\"live\", \"simple_python\"]\n").unwrap();
        assert_eq!(c.eval.profile, crate::eval::infer::EvalProfile::Prompting);
        assert_eq!(c.eval.limit, Some(3));
        let back = Config::from_toml(&c.to_toml(), Path::new("r.toml")).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn errors_name_the_key_and_allowed_values() {
        let e = parse("[eval]\nprofile = \"chat\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("e.toml") && e.contains("fc") && e.contains("prompting"),
            "{e}"
        );
        let e = parse("[eval]\ncategories = [\"simple\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("eval.categories") && e.contains("\"simple\"") && e.contains("single_turn"),
            "{e}"
        );
        let e = parse("[eval]\nlimit = 0\n").unwrap_err().to_string();
        assert!(e.contains("eval.limit"), "{e}");
        let e = parse("[eval]\nbatch_size = 0\n").unwrap_err().to_string();
        assert!(e.contains("eval.batch_size"), "{e}");
        let e = parse("[eval]\nbatchsize = 2\n").unwrap_err().to_string();
        assert!(e.contains("batchsize") && e.contains("batch_size"), "{e}");
    }
}
