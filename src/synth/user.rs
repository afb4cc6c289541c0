//! The User Simulator: opens the episode with the task's request, answers a clarifying question
//! with the withheld fact, confirms once when the assistant asks whether to go on, and ends the
//! episode when the goal is met (or when the assistant stops without progress). Replies follow
//! the task's persona (`scenario::styled_reply`).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value as Json;

use super::error::Result;
use super::phrasing;
use super::plan::Task;
use super::scenario::{styled_reply, Style};

/// What the user sees when it is their turn.
#[derive(Debug, Clone, Copy)]
pub struct UserTurn<'a> {
    /// The task.
    pub task: &'a Task,
    /// The conversation so far (the last message is the assistant's text answer).
    pub messages: &'a [Json],
    /// Whether the expected calls have all been made successfully.
    pub goal_met: bool,
    /// Whether the withheld fact has been given already.
    pub revealed: bool,
    /// Whether the user has already confirmed once.
    pub confirmed: bool,
    /// Seed of this reply.
    pub seed: u64,
}

/// Why the user ended the episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The goal is met (or, for irrelevance, the assistant answered).
    GoalMet,
    /// The assistant answered without doing what was asked.
    NoProgress,
}

/// The user's move.
#[derive(Debug, Clone, PartialEq)]
pub enum UserAction {
    /// A message that gives the withheld fact.
    Reveal(String),
    /// Any other message (a confirmation).
    Say(String),
    /// End of the episode.
    End(EndReason),
}

/// A user simulator, batched over episodes.
pub trait UserSimulator {
    /// The opening message of each task.
    fn opening(&self, tasks: &[&Task]) -> Result<Vec<String>>;
    /// A reply for each turn.
    fn reply(&self, turns: &[UserTurn<'_>]) -> Result<Vec<UserAction>>;
}

/// The rule-driven user simulator.
pub struct ProgrammaticUser;

/// The text of the last message.
pub fn last_text(messages: &[Json]) -> &str {
    messages
        .last()
        .and_then(|m| m.get("content"))
        .and_then(Json::as_str)
        .unwrap_or_default()
}

/// The programmatic decision for one turn (also the fallback of the LLM user).
pub fn decide(turn: &UserTurn<'_>) -> UserAction {
    let mut rng = ChaCha8Rng::seed_from_u64(turn.seed);
    if turn.goal_met {
        return UserAction::End(EndReason::GoalMet);
    }
    let asked = last_text(turn.messages).contains('?');
    let style = turn.task.persona.as_ref().map_or(Style::Plain, |p| p.style);
    if let (Some(w), false) = (&turn.task.withheld, turn.revealed) {
        if asked {
            let text = phrasing::clarification(&w.argument, &w.value, &mut rng);
            return UserAction::Reveal(styled_reply(&text, style, &mut rng));
        }
        return UserAction::End(EndReason::NoProgress);
    }
    if asked && !turn.confirmed && !turn.task.steps.is_empty() {
        let yes = [
            "Yes, please go ahead.",
            "Yes, do that.",
            "Sure, go ahead with it.",
        ];
        let i = rng.random_range(0..yes.len());
        return UserAction::Say(styled_reply(yes[i], style, &mut rng));
    }
    UserAction::End(EndReason::NoProgress)
}

impl UserSimulator for ProgrammaticUser {
    fn opening(&self, tasks: &[&Task]) -> Result<Vec<String>> {
        Ok(tasks.iter().map(|t| t.request.clone()).collect())
    }

    fn reply(&self, turns: &[UserTurn<'_>]) -> Result<Vec<UserAction>> {
        Ok(turns.iter().map(decide).collect())
    }
}
