//! `[[rewards]]`: the reward functions GRPO scores each finished episode with (owned by the
//! reward stage, `src/reward/`). Each entry is one named reward of a closed set of kinds; the
//! per-episode total is `Σ weight · value` over the entries. See README.md "Rewards".
//!
//! ```toml
//! [[rewards]]
//! kind = "gated"          # "gated" | "format" | "turns"
//! name = "gated"          # metric name: rewards/<name>/mean (default: the kind)
//! weight = 1.0            # factor of this reward in the total (default 1.0)
//! [rewards.weights]       # gated only: stage weights (relative; divided by their sum)
//! format = 0.1
//! function = 0.2
//! arguments = 0.4
//! workflow = 0.1
//! answer = 0.2
//!
//! [[rewards]]
//! kind = "turns"
//! weight = 0.1
//! penalty_per_turn = 0.25 # turns only: lost per assistant turn beyond the minimum
//! ```
//!
//! When the key is absent, one `gated` reward with the default stage weights is used.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::schema::invalid;
use super::Result;

/// One `[[rewards]]` entry; `kind` selects the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RewardSpec {
    /// The staged InfTool reward (format → function → arguments → workflow → answer).
    Gated(GatedReward),
    /// 1 when every assistant turn is well-formed (the gated reward's first gate alone).
    Format(FormatReward),
    /// 1 minus a penalty per assistant turn beyond the task's minimum.
    Turns(TurnsReward),
}

/// `kind = "gated"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatedReward {
    /// Metric name (`rewards/<name>/mean`).
    #[serde(default = "gated_name")]
    pub name: String,
    /// Factor in the total.
    #[serde(default = "one")]
    pub weight: f64,
    /// Stage weights.
    #[serde(default)]
    pub weights: GatedWeights,
}

/// `kind = "format"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatReward {
    /// Metric name (`rewards/<name>/mean`).
    #[serde(default = "format_name")]
    pub name: String,
    /// Factor in the total.
    #[serde(default = "one")]
    pub weight: f64,
}

/// `kind = "turns"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnsReward {
    /// Metric name (`rewards/<name>/mean`).
    #[serde(default = "turns_name")]
    pub name: String,
    /// Factor in the total.
    #[serde(default = "one")]
    pub weight: f64,
    /// Value lost per assistant turn beyond the task's minimum (floored at 0).
    ///
    /// Default 0.25: a project choice (no source gives one), so that four surplus turns
    /// reach 0.
    #[serde(default = "default_penalty_per_turn")]
    pub penalty_per_turn: f64,
}

/// Stage weights of the gated reward. The value is `Σ wᵢ·cᵢ / Σ wᵢ` over the stages, so a
/// perfect episode scores 1 whatever the scale of the weights.
///
/// The InfTool paper's public text gives no formula (DESIGN.md §4); these defaults are a
/// project choice: the argument stage carries the largest share because it is where BFCL
/// decides, the function stage the next, and format, completion (workflow) and the final
/// answer the rest, so that every stage changes the reward visibly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatedWeights {
    /// Format gate (default 0.1, project choice).
    #[serde(default = "w_format")]
    pub format: f64,
    /// Function gate (default 0.2, project choice).
    #[serde(default = "w_function")]
    pub function: f64,
    /// Argument credit (default 0.4, project choice).
    #[serde(default = "w_arguments")]
    pub arguments: f64,
    /// Workflow gate: every step right, dependencies from earlier results (default 0.1,
    /// project choice).
    #[serde(default = "w_workflow")]
    pub workflow: f64,
    /// Final answer check (default 0.2, project choice).
    #[serde(default = "w_answer")]
    pub answer: f64,
}

fn one() -> f64 {
    1.0
}
fn gated_name() -> String {
    "gated".into()
}
fn format_name() -> String {
    "format".into()
}
fn turns_name() -> String {
    "turns".into()
}
fn default_penalty_per_turn() -> f64 {
    0.25
}
fn w_format() -> f64 {
    0.1
}
fn w_function() -> f64 {
    0.2
}
fn w_arguments() -> f64 {
    0.4
}
fn w_workflow() -> f64 {
    0.1
}
fn w_answer() -> f64 {
    0.2
}

impl Default for GatedWeights {
    fn default() -> Self {
        GatedWeights {
            format: w_format(),
            function: w_function(),
            arguments: w_arguments(),
            workflow: w_workflow(),
            answer: w_answer(),
        }
    }
}

impl GatedWeights {
    /// `(stage name, weight)` in gate order.
    pub fn entries(&self) -> [(&'static str, f64); 5] {
        [
            ("format", self.format),
            ("function", self.function),
            ("arguments", self.arguments),
            ("workflow", self.workflow),
            ("answer", self.answer),
        ]
    }
}

impl Default for GatedReward {
    fn default() -> Self {
        GatedReward {
            name: gated_name(),
            weight: 1.0,
            weights: GatedWeights::default(),
        }
    }
}

impl Default for FormatReward {
    fn default() -> Self {
        FormatReward {
            name: format_name(),
            weight: 1.0,
        }
    }
}

impl Default for TurnsReward {
    fn default() -> Self {
        TurnsReward {
            name: turns_name(),
            weight: 1.0,
            penalty_per_turn: default_penalty_per_turn(),
        }
    }
}

impl RewardSpec {
    /// The metric name.
    pub fn name(&self) -> &str {
        match self {
            RewardSpec::Gated(r) => &r.name,
            RewardSpec::Format(r) => &r.name,
            RewardSpec::Turns(r) => &r.name,
        }
    }

    /// The factor in the total.
    pub fn weight(&self) -> f64 {
        match self {
            RewardSpec::Gated(r) => r.weight,
            RewardSpec::Format(r) => r.weight,
            RewardSpec::Turns(r) => r.weight,
        }
    }

    /// The `kind` value.
    pub fn kind(&self) -> &'static str {
        match self {
            RewardSpec::Gated(_) => "gated",
            RewardSpec::Format(_) => "format",
            RewardSpec::Turns(_) => "turns",
        }
    }
}

/// The rewards used when the config has no `[[rewards]]`: one gated reward, default weights.
pub fn default_rewards() -> Vec<RewardSpec> {
    vec![RewardSpec::Gated(GatedReward::default())]
}

/// Checks the `[[rewards]]` list: at least one entry; names non-empty, unique, made of
/// letters, digits, `_` and `-` (they become metric names); weights finite; stage weights
/// finite, ≥ 0, with a positive sum; `penalty_per_turn` in [0, 1].
pub fn validate_rewards(rewards: &[RewardSpec], path: &Path) -> Result<()> {
    if rewards.is_empty() {
        return Err(invalid(
            path,
            "rewards",
            "[]",
            "name at least one reward (kind = \"gated\", \"format\" or \"turns\"), or leave the key out for the default gated reward",
        ));
    }
    for (i, r) in rewards.iter().enumerate() {
        let name = r.name();
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'));
        if !name_ok {
            return Err(invalid(
                path,
                &format!("rewards[{i}].name"),
                format!("{name:?}"),
                "use letters, digits, '_' or '-' (it becomes the metric rewards/<name>/mean)",
            ));
        }
        if let Some(j) = rewards[..i].iter().position(|o| o.name() == name) {
            return Err(invalid(
                path,
                &format!("rewards[{i}].name"),
                format!("{name:?}"),
                &format!("rewards[{j}] has the same name; names must be unique"),
            ));
        }
        if !r.weight().is_finite() {
            return Err(invalid(
                path,
                &format!("rewards[{i}].weight"),
                r.weight(),
                "must be a finite number",
            ));
        }
        match r {
            RewardSpec::Gated(g) => {
                for (stage, w) in g.weights.entries() {
                    if !(w.is_finite() && w >= 0.0) {
                        return Err(invalid(
                            path,
                            &format!("rewards[{i}].weights.{stage}"),
                            w,
                            "must be a finite number >= 0",
                        ));
                    }
                }
                let sum: f64 = g.weights.entries().iter().map(|(_, w)| w).sum();
                if sum <= 0.0 {
                    return Err(invalid(
                        path,
                        &format!("rewards[{i}].weights"),
                        "all 0",
                        "at least one of format, function, arguments, workflow, answer must be > 0",
                    ));
                }
            }
            RewardSpec::Turns(t) => {
                let p = t.penalty_per_turn;
                if !(p.is_finite() && (0.0..=1.0).contains(&p)) {
                    return Err(invalid(
                        path,
                        &format!("rewards[{i}].penalty_per_turn"),
                        p,
                        "must be in [0, 1]",
                    ));
                }
            }
            RewardSpec::Format(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const MINIMAL: &str = "[run]\nname = \"t\"\n[model]\nsource = \"m.gguf\"\n";

    fn parse(extra: &str) -> crate::config::Result<Config> {
        Config::from_toml(&format!("{MINIMAL}{extra}"), Path::new("r.toml"))
    }

    #[test]
    fn default_is_one_gated_reward() {
        let c = parse("").unwrap();
        assert_eq!(c.rewards, default_rewards());
        let RewardSpec::Gated(g) = &c.rewards[0] else {
            panic!("{:?}", c.rewards)
        };
        assert_eq!(g.name, "gated");
        assert_eq!(g.weight, 1.0);
        assert_eq!(
            g.weights.entries(),
            [
                ("format", 0.1),
                ("function", 0.2),
                ("arguments", 0.4),
                ("workflow", 0.1),
                ("answer", 0.2)
            ]
        );
        let back = Config::from_toml(&c.to_toml(), Path::new("back.toml")).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn entries_parse_and_round_trip() {
        let c = parse(
            "[[rewards]]\nkind = \"gated\"\nweight = 2\n[rewards.weights]\narguments = 1.0\nanswer = 0\n\
             [[rewards]]\nkind = \"format\"\nname = \"fmt\"\nweight = 0.5\n\
             [[rewards]]\nkind = \"turns\"\npenalty_per_turn = 0.1\n",
        )
        .unwrap();
        assert_eq!(c.rewards.len(), 3);
        let RewardSpec::Gated(g) = &c.rewards[0] else {
            panic!()
        };
        assert_eq!(g.weight, 2.0);
        assert_eq!(g.weights.arguments, 1.0);
        assert_eq!(g.weights.answer, 0.0);
        assert_eq!(g.weights.format, 0.1, "unset stage weights keep defaults");
        assert_eq!(c.rewards[1].name(), "fmt");
        assert_eq!(c.rewards[1].weight(), 0.5);
        assert_eq!(c.rewards[2].name(), "turns");
        let RewardSpec::Turns(t) = &c.rewards[2] else {
            panic!()
        };
        assert_eq!(t.penalty_per_turn, 0.1);
        let back = Config::from_toml(&c.to_toml(), Path::new("back.toml")).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn errors_name_file_key_value_and_allowed() {
        let e = parse("[[rewards]]\nkind = \"bleu\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("r.toml")
                && e.contains("bleu")
                && e.contains("gated")
                && e.contains("format")
                && e.contains("turns"),
            "{e}"
        );
        let e = parse("[[rewards]]\nkind = \"format\"\n[[rewards]]\nkind = \"gated\"\n[rewards.weights]\narguments = -1.0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("r.toml") && e.contains("rewards[1].weights.arguments") && e.contains("-1"),
            "{e}"
        );
        let e = parse("[[rewards]]\nkind = \"gated\"\n[rewards.weights]\nargs = 1.0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("args") && e.contains("arguments"), "{e}");
        let e = parse("[[rewards]]\nkind = \"format\"\npenalty_per_turn = 0.5\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("penalty_per_turn"), "{e}");
        let e = parse("[[rewards]]\nkind = \"gated\"\n[[rewards]]\nkind = \"gated\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("rewards[1].name") && e.contains("rewards[0]"),
            "{e}"
        );
        let e = parse("[[rewards]]\nkind = \"gated\"\nname = \"a/b\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rewards[0].name") && e.contains("a/b"), "{e}");
        let e = parse("[[rewards]]\nkind = \"turns\"\npenalty_per_turn = 2.0\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("rewards[0].penalty_per_turn") && e.contains("[0, 1]"),
            "{e}"
        );
        let e = parse("[[rewards]]\nkind = \"gated\"\n[rewards.weights]\nformat = 0\nfunction = 0\narguments = 0\nworkflow = 0\nanswer = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rewards[0].weights"), "{e}");
        let e = Config::from_toml(&format!("rewards = []\n{MINIMAL}"), Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("rewards") && e.contains("gated"), "{e}");
        let e = parse("[[rewards]]\nweight = 1.0\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("kind"), "{e}");
    }
}
