//! The Task Generation Agent's scenario (InfTool, DESIGN.md §1): before the role-play every task
//! gets a user persona (who is asking and how they talk) and a difficulty level; what the user
//! knows and does not know is the blueprint's facts and its withheld value (`plan::Task`).
//!
//! The difficulty shapes the blueprint itself (see [`Knobs`]): an easy task offers at most one
//! distractor and asks for no optional argument; a hard one offers every distractor the
//! configuration allows, asks for optional arguments twice as often, makes the most parallel
//! calls and prefers three-step chains. The persona shapes the user's words: the opening
//! message frames the need with who is asking (hard tasks always add that context), and the
//! answers to clarifying questions follow the persona's style. Framing sentences carry no values,
//! so the self-reflection checks (`reflect`) see exactly the blueprint's facts.

use rand::seq::IndexedRandom;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// How hard a task is meant to be.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Difficulty {
    Easy,
    /// Also what tasks written before scenarios existed read as.
    #[default]
    Medium,
    Hard,
}

impl Difficulty {
    pub const ALL: [Difficulty; 3] = [Difficulty::Easy, Difficulty::Medium, Difficulty::Hard];

    pub fn as_str(self) -> &'static str {
        match self {
            Difficulty::Easy => "easy",
            Difficulty::Medium => "medium",
            Difficulty::Hard => "hard",
        }
    }
}

/// How a persona talks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// Just the need, no pleasantries.
    Terse,
    /// Plain and polite.
    Plain,
    /// Greets, explains who they are, thanks.
    Chatty,
}

impl Style {
    pub fn as_str(self) -> &'static str {
        match self {
            Style::Terse => "terse",
            Style::Plain => "plain",
            Style::Chatty => "chatty",
        }
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persona {
    /// "a data analyst".
    pub role: String,
    /// Why they are asking, as a clause: "I'm preparing a quarterly report".
    pub context: String,
    pub style: Style,
}

impl Persona {
    /// One line for a simulator's system prompt.
    pub fn describe(&self) -> String {
        let manner = match self.style {
            Style::Terse => "You write short, to-the-point messages without pleasantries.",
            Style::Plain => "You write plain, polite messages.",
            Style::Chatty => "You are friendly and chatty: you greet, give some context and thank.",
        };
        format!("You are {} ({}). {manner}", self.role, self.context)
    }
}

/// `(role, context)`: roles and reasons that fit any API domain. No digits or quoted names, so a
/// framing never adds a value to the request.
const PERSONAS: &[(&str, &str)] = &[
    (
        "a freelance consultant",
        "I'm juggling a few client tasks today",
    ),
    (
        "an operations manager",
        "I'm sorting things out for my team",
    ),
    ("a graduate student", "I'm working on a course project"),
    (
        "a small-business owner",
        "I'm catching up on admin work before the weekend",
    ),
    (
        "a software developer",
        "I'm checking an integration we are building",
    ),
    (
        "a retired teacher",
        "I'm not very technical, so thank you for your patience",
    ),
    (
        "a customer-support agent",
        "a customer just asked me about this",
    ),
    ("a data analyst", "I'm preparing a report for my manager"),
    ("a travel coordinator", "I'm organizing things for a group"),
    (
        "a product manager",
        "I'm getting ready for a planning meeting",
    ),
    ("a journalist", "I'm researching a story on a deadline"),
    (
        "a nurse on a night shift",
        "I only have a few minutes between rounds",
    ),
];

const GREETINGS: &[&str] = &["Hi!", "Hello there.", "Hey, hope you're well."];
const THANKS: &[&str] = &["Thanks a lot!", "Thank you so much.", "Much appreciated!"];

/// The scenario of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub persona: Persona,
    pub difficulty: Difficulty,
}

/// Relative weights of the difficulty levels, `[easy, medium, hard]`.
pub type DifficultyWeights = [f64; 3];

/// Draws the scenario of the task with this seed (its own stream: the blueprint's draws do not
/// depend on it).
pub fn draw(task_seed: u64, weights: &DifficultyWeights) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(super::words::derive_seed(task_seed, &["scenario"]));
    let total: f64 = weights.iter().map(|w| w.max(0.0)).sum();
    let mut difficulty = Difficulty::Medium;
    if total > 0.0 {
        let mut x = rng.random::<f64>() * total;
        for (d, w) in Difficulty::ALL.iter().zip(weights) {
            let w = w.max(0.0);
            if x < w {
                difficulty = *d;
                break;
            }
            x -= w;
        }
    }
    let &(role, context) = PERSONAS.choose(&mut rng).unwrap_or(&PERSONAS[0]);
    let style = *[Style::Terse, Style::Plain, Style::Chatty]
        .choose(&mut rng)
        .unwrap_or(&Style::Plain);
    Scenario {
        persona: Persona {
            role: role.into(),
            context: context.into(),
            style,
        },
        difficulty,
    }
}

/// The planner's knobs for one task, after its difficulty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Knobs {
    pub optional_arg_prob: f64,
    pub max_parallel: usize,
    pub max_offered: usize,
    pub max_chain: usize,
    /// Probability that a gated chain gets its third step when one exists.
    pub third_step_prob: f64,
    /// Parallel tasks make `max_parallel` calls instead of a random 2..=max_parallel.
    pub most_parallel: bool,
}

impl Knobs {
    /// Medium: the configured values, as the planner always used them.
    pub fn configured(
        optional: f64,
        max_parallel: usize,
        max_offered: usize,
        max_chain: usize,
    ) -> Knobs {
        Knobs {
            optional_arg_prob: optional,
            max_parallel,
            max_offered,
            max_chain,
            third_step_prob: 0.4,
            most_parallel: false,
        }
    }

    /// The knobs of a task of difficulty `d`.
    pub fn for_difficulty(self, d: Difficulty) -> Knobs {
        match d {
            Difficulty::Medium => self,
            // At most one distractor beside the needed tools, only required arguments, two calls
            // in parallel tasks, two-step chains.
            Difficulty::Easy => Knobs {
                optional_arg_prob: 0.0,
                max_parallel: 2,
                max_offered: self.max_offered.min(2),
                max_chain: self.max_chain.min(2),
                third_step_prob: 0.0,
                most_parallel: false,
            },
            Difficulty::Hard => Knobs {
                optional_arg_prob: (self.optional_arg_prob * 2.0).min(1.0),
                third_step_prob: 1.0,
                most_parallel: true,
                ..self
            },
        }
    }
}

/// The user's opening message: the need, framed by the persona. `rng` is the task's scenario
/// stream (`framing_rng`).
pub fn opening(need: &str, s: &Scenario, rng: &mut impl Rng) -> String {
    let p = &s.persona;
    let intro = format!("I'm {}, and {}.", p.role, p.context);
    let context = format!("{}.", super::phrasing::cap(&p.context));
    match (p.style, s.difficulty) {
        (Style::Terse, Difficulty::Hard) => format!("{context} {need}"),
        (Style::Terse, _) => need.to_string(),
        (Style::Plain, Difficulty::Easy) => need.to_string(),
        (Style::Plain, Difficulty::Medium) => format!("{context} {need}"),
        (Style::Plain, Difficulty::Hard) => format!("{intro} {need}"),
        (Style::Chatty, _) => {
            let hi = GREETINGS.choose(rng).copied().unwrap_or("Hi!");
            let thanks = THANKS.choose(rng).copied().unwrap_or("Thanks!");
            format!("{hi} {intro} {need} {thanks}")
        }
    }
}

/// The stream that frames a task's messages.
pub fn framing_rng(task_seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(super::words::derive_seed(task_seed, &["framing"]))
}

/// A reply (the answer to a clarifying question, a confirmation) in the persona's style.
pub fn styled_reply(text: &str, style: Style, rng: &mut impl Rng) -> String {
    match style {
        Style::Terse | Style::Plain => text.to_string(),
        Style::Chatty => {
            let pre = ["Oh, of course!", "Sure thing.", "Ah, good question."];
            format!("{} {text}", pre.choose(rng).copied().unwrap_or("Sure."))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenarios_are_seeded_and_follow_the_weights() {
        let w = [1.0, 1.0, 1.0];
        assert_eq!(draw(7, &w), draw(7, &w));
        let mut seen = [0usize; 3];
        let mut styles = std::collections::BTreeSet::new();
        for s in 0..600 {
            let sc = draw(s, &w);
            seen[sc.difficulty as usize] += 1;
            styles.insert(sc.persona.style.as_str());
        }
        assert!(seen.iter().all(|&n| (150..250).contains(&n)), "{seen:?}");
        assert_eq!(styles.len(), 3);
        for s in 0..50 {
            assert_eq!(draw(s, &[0.0, 0.0, 2.0]).difficulty, Difficulty::Hard);
            assert_eq!(draw(s, &[0.0, 0.0, 0.0]).difficulty, Difficulty::Medium);
        }
    }

    #[test]
    fn knobs_by_difficulty() {
        let base = Knobs::configured(0.3, 3, 5, 3);
        assert_eq!(base.for_difficulty(Difficulty::Medium), base);
        let easy = base.for_difficulty(Difficulty::Easy);
        assert_eq!(
            (easy.optional_arg_prob, easy.max_offered, easy.max_chain),
            (0.0, 2, 2)
        );
        let hard = base.for_difficulty(Difficulty::Hard);
        assert!((hard.optional_arg_prob - 0.6).abs() < 1e-12);
        assert_eq!((hard.max_offered, hard.third_step_prob), (5, 1.0));
        assert!(hard.most_parallel);
    }

    #[test]
    fn framings_add_no_values() {
        for (role, context) in PERSONAS {
            assert!(!role
                .chars()
                .chain(context.chars())
                .any(|c| c.is_ascii_digit() || c == '"'));
        }
        let need = "Please get the weather with city Paris.";
        for seed in 0..40 {
            let sc = draw(seed, &[1.0, 1.0, 1.0]);
            let text = opening(need, &sc, &mut framing_rng(seed));
            assert!(text.contains(need), "{text}");
            if sc.difficulty == Difficulty::Hard || sc.persona.style == Style::Chatty {
                assert!(text.len() > need.len() + 10, "{text}");
            }
        }
    }
}
