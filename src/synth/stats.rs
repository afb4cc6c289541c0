//! Per-category synthesis statistics: episodes, accepted, rejections by reason, throughput.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::episode::{Episode, Outcome};
use super::plan::{Category, Reflection};
use super::verify::Rejection;

/// Counts of one category (or of all).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoryStats {
    /// Tasks planned.
    pub planned: usize,
    /// Tasks that could not be planned (no toolset fits).
    pub unplannable: usize,
    /// Episodes run.
    pub episodes: usize,
    /// Trajectories kept.
    pub accepted: usize,
    /// Rejections by reason.
    pub rejected: BTreeMap<String, usize>,
    /// Episode endings.
    pub outcomes: BTreeMap<String, usize>,
    /// Assistant turns.
    pub assistant_turns: usize,
    /// Tool calls made.
    pub calls: usize,
    /// Tokens sampled by the policy.
    pub sampled_tokens: usize,
    /// Prompt tokens over all assistant turns.
    pub prompt_tokens: usize,
}

impl CategoryStats {
    /// accepted / episodes (0 without episodes).
    pub fn acceptance(&self) -> f64 {
        if self.episodes == 0 {
            0.0
        } else {
            self.accepted as f64 / self.episodes as f64
        }
    }

    fn add(&mut self, ep: &Episode, verdict: Result<(), &Rejection>) {
        self.episodes += 1;
        self.assistant_turns += ep.trajectory.turns.len();
        self.calls += ep.calls.len();
        self.sampled_tokens += ep.sampled_tokens;
        self.prompt_tokens += ep
            .trajectory
            .turns
            .iter()
            .map(|t| t.prompt_ids.len())
            .sum::<usize>();
        *self
            .outcomes
            .entry(outcome_name(ep.outcome).into())
            .or_default() += 1;
        match verdict {
            Ok(()) => self.accepted += 1,
            Err(r) => *self.rejected.entry(r.reason.as_str().into()).or_default() += 1,
        }
    }
}

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::GoalMet => "goal_met",
        Outcome::NoProgress => "no_progress",
        Outcome::TurnLimit => "turn_limit",
        Outcome::CallLimit => "call_limit",
    }
}

/// Statistics of a synthesis run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Per category (snake_case names).
    pub categories: BTreeMap<String, CategoryStats>,
    /// All categories together.
    pub total: CategoryStats,
    /// Wall time of the episodes (planning and model loading excluded), seconds.
    pub episode_seconds: f64,
    /// Accepted trajectories per minute of episode time.
    pub trajectories_per_minute: f64,
    /// Episodes per minute of episode time.
    pub episodes_per_minute: f64,
    /// Policy tokens sampled per second of episode time.
    pub sampled_tokens_per_second: f64,
    /// Accepted trajectories whose later prompts repeated the sampled ids exactly.
    pub token_consistent: usize,
    /// The policy backend.
    pub policy: String,
    /// Per difficulty level (episodes, accepted, ...; `planned` counts the episodes run).
    #[serde(default)]
    pub difficulties: BTreeMap<String, CategoryStats>,
    /// Self-reflection over the task drafts and the LLM user's messages.
    #[serde(default)]
    pub reflection: Reflection,
}

impl Stats {
    /// Collects the statistics of verified episodes.
    pub fn collect(
        planned: &[(Category, usize)],
        unplannable: &BTreeMap<Category, usize>,
        episodes: &[Episode],
        verdicts: &[Result<(), Rejection>],
        seconds: f64,
    ) -> Stats {
        let mut s = Stats::default();
        for (c, n) in planned {
            let e = s.categories.entry(c.as_str().into()).or_default();
            let un = unplannable.get(c).copied().unwrap_or(0);
            e.planned = n.saturating_sub(un);
            e.unplannable = un;
            s.total.planned += e.planned;
            s.total.unplannable += un;
        }
        for (ep, v) in episodes.iter().zip(verdicts) {
            let e = s
                .categories
                .entry(ep.task.category.as_str().into())
                .or_default();
            e.add(ep, v.as_ref().map(|_| ()));
            s.total.add(ep, v.as_ref().map(|_| ()));
            let d = s
                .difficulties
                .entry(ep.task.difficulty.as_str().into())
                .or_default();
            d.planned += 1;
            d.add(ep, v.as_ref().map(|_| ()));
            if v.is_ok()
                && crate::rollout::flatten(&ep.trajectory.id, &ep.trajectory.turns)
                    .is_ok_and(|f| f.consistent)
            {
                s.token_consistent += 1;
            }
        }
        s.episode_seconds = seconds;
        let minutes = (seconds / 60.0).max(1e-9);
        s.trajectories_per_minute = s.total.accepted as f64 / minutes;
        s.episodes_per_minute = s.total.episodes as f64 / minutes;
        s.sampled_tokens_per_second = s.total.sampled_tokens as f64 / seconds.max(1e-9);
        s
    }
}

impl fmt::Display for Stats {
    /// The per-category table.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<18} {:>7} {:>8} {:>8} {:>7}  rejections",
            "category", "planned", "episodes", "accepted", "rate"
        )?;
        let rows = self.categories.iter().map(|(k, v)| (k.as_str(), v));
        for (name, c) in rows.chain(std::iter::once(("total", &self.total))) {
            let reasons: Vec<String> = c.rejected.iter().map(|(r, n)| format!("{r}:{n}")).collect();
            writeln!(
                f,
                "{:<18} {:>7} {:>8} {:>8} {:>6.1}%  {}",
                name,
                c.planned,
                c.episodes,
                c.accepted,
                c.acceptance() * 100.0,
                reasons.join(" ")
            )?;
        }
        let by_level: Vec<String> = self
            .difficulties
            .iter()
            .map(|(k, c)| format!("{k} {}/{}", c.accepted, c.episodes))
            .collect();
        if !by_level.is_empty() {
            writeln!(f, "accepted by difficulty: {}", by_level.join(", "))?;
        }
        let r = &self.reflection;
        let kinds = |m: &BTreeMap<String, usize>| {
            let v: Vec<String> = m.iter().map(|(k, n)| format!("{k}:{n}")).collect();
            v.join(" ")
        };
        if r.revised + r.dropped > 0 || !r.flaws.is_empty() {
            writeln!(
                f,
                "self-reflection: {} task drafts revised, {} dropped (flaws {})",
                r.revised,
                r.dropped,
                kinds(&r.flaws)
            )?;
        }
        if r.user_messages > 0 {
            writeln!(
                f,
                "LLM user: {} messages, {} as written, {} after one revision, {} replaced by the \
                 programmatic message (first-draft flaws {})",
                r.user_messages,
                r.user_messages
                    .saturating_sub(r.user_revised + r.user_replaced),
                r.user_revised,
                r.user_replaced,
                kinds(&r.user_flaws)
            )?;
        }
        writeln!(
            f,
            "episode time {:.1}s: {:.2} trajectories/min, {:.2} episodes/min, {:.1} sampled tokens/s ({})",
            self.episode_seconds,
            self.trajectories_per_minute,
            self.episodes_per_minute,
            self.sampled_tokens_per_second,
            self.policy
        )
    }
}
