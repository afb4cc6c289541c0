//! The episode loop of the three agents, batched over episodes:
//!
//! user request → assistant (the policy, through [`ChatBackend`], with the offered tools) →
//! parsed tool calls → server results → assistant → ... → text answer → user (clarifies,
//! confirms, or ends).
//!
//! All live episodes' next assistant turns go into one `complete` call; the server's fresh
//! results of that round into one [`ResultGenerator`] call; the user turns into one
//! [`UserSimulator`] call. At most `batch_size` episodes are live at once; a finished episode
//! is replaced by the next task. Each assistant turn's prompt ids, sampled ids and log-probs are
//! recorded (token-in/token-out).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use super::error::{Error, Result};
use super::plan::Task;
use super::registry::Registry;
use super::server::{CallStatus, Precheck, ResultGenerator, ServerState, ToolResult};
use super::user::{EndReason, UserAction, UserSimulator, UserTurn};
use super::verify::goal_met;
use super::words::derive_seed;
use crate::backend::{ChatBackend, ChatRequest, GenParams};
use crate::chat::toolcall::ProblemKind;
use crate::engine::FinishReason;
use crate::rollout::{Trajectory, TurnTokens};

/// Limits and settings of the loop.
#[derive(Debug, Clone)]
pub struct EpisodeConfig {
    /// Assistant turns per episode at most.
    pub max_turns: usize,
    /// Tool calls per episode at most.
    pub max_calls: usize,
    /// Live episodes per backend call.
    pub batch_size: usize,
    /// Sampling of the policy.
    pub gen: GenParams,
    /// System message put first (none when `None`).
    pub system_prompt: Option<String>,
    /// Sample with the LoRA adapter on (the policy) or off.
    pub adapter: bool,
}

/// One executed call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRecord {
    /// `tool_calls[].id`.
    pub id: String,
    /// Assistant turn (0-based).
    pub turn: usize,
    /// Index of the assistant message that made the call.
    pub message_index: usize,
    /// Index of the tool message with its result.
    pub result_index: usize,
    /// Tool name.
    pub name: String,
    /// Arguments.
    pub arguments: Map<String, Json>,
    /// Result (or structured error).
    pub result: Json,
    /// How the server answered.
    pub status: CallStatus,
}

/// How an episode ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The user ended it with the goal met.
    GoalMet,
    /// The user ended it: the assistant stopped without doing what was asked.
    NoProgress,
    /// `max_turns` reached.
    TurnLimit,
    /// `max_calls` reached.
    CallLimit,
}

/// A finished episode.
#[derive(Debug, Clone)]
pub struct Episode {
    /// Its task.
    pub task: Task,
    /// Messages, tools and token records.
    pub trajectory: Trajectory,
    /// Every call, in order.
    pub calls: Vec<CallRecord>,
    /// How it ended.
    pub outcome: Outcome,
    /// Tool-call format errors of the assistant's turns (`turn N: problem`).
    pub format_problems: Vec<String>,
    /// Index of the user message that gave the withheld fact.
    pub revealed_at: Option<usize>,
    /// Tokens sampled over all turns.
    pub sampled_tokens: usize,
}

struct Live<'t> {
    index: usize,
    task: &'t Task,
    tools: Vec<Json>,
    messages: Vec<Json>,
    turns: Vec<TurnTokens>,
    calls: Vec<CallRecord>,
    server: ServerState,
    revealed_at: Option<usize>,
    confirmed: bool,
    problems: Vec<String>,
    sampled: usize,
    outcome: Option<Outcome>,
}

impl<'t> Live<'t> {
    fn finish(self) -> (usize, Episode) {
        let trajectory = Trajectory {
            id: format!("{}-0", self.task.id),
            task_id: self.task.id.clone(),
            category: self.task.category.as_str().to_string(),
            tools: self.tools,
            messages: self.messages,
            turns: self.turns,
        };
        (
            self.index,
            Episode {
                task: self.task.clone(),
                trajectory,
                calls: self.calls,
                outcome: self.outcome.unwrap_or(Outcome::TurnLimit),
                format_problems: self.problems,
                revealed_at: self.revealed_at,
                sampled_tokens: self.sampled,
            },
        )
    }
}

/// The three simulators of a run.
pub struct Agents<'a> {
    /// The policy.
    pub policy: &'a dyn ChatBackend,
    /// The user simulator.
    pub user: &'a dyn UserSimulator,
    /// The server's result generator.
    pub server: &'a dyn ResultGenerator,
}

/// Runs one episode per task; `on_done` is called as each finishes. Returns episodes in task order.
pub fn run_episodes(
    registry: &Registry,
    tasks: &[Task],
    agents: &Agents<'_>,
    cfg: &EpisodeConfig,
    on_done: &mut dyn FnMut(&Episode),
) -> Result<Vec<Episode>> {
    // What follows must not depend on earlier calls (a resumed run starts with an empty cache).
    agents.policy.reset_cache();
    let mut done: Vec<(usize, Episode)> = Vec::with_capacity(tasks.len());
    let mut next = 0usize;
    let mut live: Vec<Live<'_>> = Vec::new();
    loop {
        // Refill.
        let room = cfg.batch_size.max(1).saturating_sub(live.len());
        let new: Vec<(usize, &Task)> = tasks.iter().enumerate().skip(next).take(room).collect();
        next += new.len();
        if !new.is_empty() {
            let refs: Vec<&Task> = new.iter().map(|(_, t)| *t).collect();
            let openings = agents.user.opening(&refs)?;
            for ((index, task), text) in new.into_iter().zip(openings) {
                let mut messages = Vec::new();
                if let Some(s) = &cfg.system_prompt {
                    messages.push(json!({"role": "system", "content": s}));
                }
                messages.push(json!({"role": "user", "content": text}));
                live.push(Live {
                    index,
                    task,
                    tools: registry.openai_tools(&task.tools),
                    messages,
                    turns: Vec::new(),
                    calls: Vec::new(),
                    server: ServerState::new(task),
                    revealed_at: None,
                    confirmed: false,
                    problems: Vec::new(),
                    sampled: 0,
                    outcome: None,
                });
            }
        }
        if live.is_empty() {
            break;
        }
        assistant_round(registry, agents, cfg, &mut live)?;
        user_round(registry, agents, cfg, &mut live)?;
        let (finished, still): (Vec<Live<'_>>, Vec<Live<'_>>) =
            live.into_iter().partition(|l| l.outcome.is_some());
        live = still;
        for l in finished {
            let (i, ep) = l.finish();
            on_done(&ep);
            done.push((i, ep));
        }
    }
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, e)| e).collect())
}

fn assistant_round(
    registry: &Registry,
    agents: &Agents<'_>,
    cfg: &EpisodeConfig,
    live: &mut [Live<'_>],
) -> Result<()> {
    let requests: Vec<ChatRequest> = live
        .iter()
        .map(|l| ChatRequest {
            task_id: Some(l.task.id.clone()),
            messages: l.messages.clone(),
            tools: l.tools.clone(),
            seed: derive_seed(l.task.seed, &["turn", &l.turns.len().to_string()]),
            adapter: cfg.adapter,
            // Token-in/token-out: continue from what the policy saw and sampled last turn.
            history_ids: l
                .turns
                .last()
                .filter(|t| !t.prompt_ids.is_empty())
                .map(|t| [t.prompt_ids.as_slice(), &t.completion_ids].concat())
                .unwrap_or_default(),
        })
        .collect();
    let completions = agents.policy.complete(&requests, &cfg.gen)?;
    if completions.len() != requests.len() {
        return Err(Error::Backend(crate::backend::Error::Invalid(format!(
            "{} returned {} completions for {} requests",
            agents.policy.name(),
            completions.len(),
            requests.len()
        ))));
    }
    // (live index, call record index, request) of calls that need a fresh result.
    let mut pending = Vec::new();
    for (li, (l, c)) in live.iter_mut().zip(completions).enumerate() {
        let turn = l.turns.len();
        for p in c
            .parsed
            .problems
            .iter()
            .filter(|p| p.kind.is_error() && p.kind != ProblemKind::UnexpectedKey)
        {
            l.problems.push(format!("turn {turn}: {p}"));
        }
        let message_index = l.messages.len();
        let mut msg = Map::new();
        msg.insert("role".into(), json!("assistant"));
        msg.insert("content".into(), json!(c.parsed.content.trim()));
        if let Some(r) = &c.parsed.reasoning {
            msg.insert("reasoning_content".into(), json!(r));
        }
        let mut tool_calls = Vec::new();
        for call in &c.parsed.calls {
            let id = format!("call_{}", l.calls.len());
            tool_calls.push(json!({
                "id": id,
                "type": "function",
                "function": {"name": call.name, "arguments": Json::Object(call.arguments.clone())},
            }));
            let record = CallRecord {
                id,
                turn,
                message_index,
                result_index: 0,
                name: call.name.clone(),
                arguments: call.arguments.clone(),
                result: Json::Null,
                status: CallStatus::Ok,
            };
            match l.server.precheck(registry, &call.name, &call.arguments) {
                Precheck::Done(ToolResult { content, status }) => {
                    l.calls.push(CallRecord {
                        result: content,
                        status,
                        ..record
                    });
                }
                Precheck::Generate(req) => {
                    pending.push((li, l.calls.len(), req));
                    l.calls.push(record);
                }
            }
        }
        let made_calls = !tool_calls.is_empty();
        if made_calls {
            msg.insert("tool_calls".into(), Json::Array(tool_calls));
        }
        l.messages.push(Json::Object(msg));
        l.sampled += c.completion_ids.len();
        l.turns.push(TurnTokens {
            message_index,
            prompt_ids: c.prompt_ids,
            completion_ids: c.completion_ids,
            logprobs: c.logprobs,
            finish: match c.finish {
                FinishReason::Stop => "stop".into(),
                FinishReason::Length => "length".into(),
            },
        });
    }
    let requests: Vec<_> = pending.iter().map(|(_, _, r)| r.clone()).collect();
    let contents = if requests.is_empty() {
        Vec::new()
    } else {
        agents.server.generate_with_status(registry, &requests)?
    };
    for ((li, ci, req), (content, status)) in pending.into_iter().zip(contents) {
        if let Some(l) = live.get_mut(li) {
            let r = l.server.commit_with_status(&req, content, status);
            if let Some(rec) = l.calls.get_mut(ci) {
                rec.result = r.content;
                rec.status = r.status;
            }
        }
    }
    // Tool messages, in call order, after each assistant message that made calls.
    for l in live.iter_mut() {
        let turn = l.turns.len() - 1;
        let mut any = false;
        for i in 0..l.calls.len() {
            if l.calls[i].turn != turn {
                continue;
            }
            any = true;
            let idx = l.messages.len();
            let c = &mut l.calls[i];
            c.result_index = idx;
            l.messages.push(json!({
                "role": "tool",
                "tool_call_id": c.id,
                "name": c.name,
                "content": c.result.to_string(),
            }));
        }
        if any {
            if l.calls.len() >= cfg.max_calls {
                l.outcome = Some(Outcome::CallLimit);
            } else if l.turns.len() >= cfg.max_turns {
                l.outcome = Some(Outcome::TurnLimit);
            }
        }
    }
    Ok(())
}

fn user_round(
    registry: &Registry,
    agents: &Agents<'_>,
    cfg: &EpisodeConfig,
    live: &mut [Live<'_>],
) -> Result<()> {
    // Episodes whose last message is the assistant's text answer.
    let waiting: Vec<usize> = live
        .iter()
        .enumerate()
        .filter(|(_, l)| l.outcome.is_none())
        .filter(|(_, l)| {
            l.messages
                .last()
                .is_some_and(|m| m.get("role").and_then(Json::as_str) == Some("assistant"))
        })
        .map(|(i, _)| i)
        .collect();
    if waiting.is_empty() {
        return Ok(());
    }
    let turns: Vec<UserTurn<'_>> = waiting
        .iter()
        .map(|&i| {
            let l = &live[i];
            UserTurn {
                task: l.task,
                messages: &l.messages,
                goal_met: goal_met(registry, l.task, &l.calls),
                revealed: l.revealed_at.is_some(),
                confirmed: l.confirmed,
                seed: derive_seed(l.task.seed, &["user", &l.messages.len().to_string()]),
            }
        })
        .collect();
    let actions = agents.user.reply(&turns)?;
    for (&i, action) in waiting.iter().zip(actions) {
        let l = &mut live[i];
        match action {
            UserAction::End(EndReason::GoalMet) => l.outcome = Some(Outcome::GoalMet),
            UserAction::End(EndReason::NoProgress) => l.outcome = Some(Outcome::NoProgress),
            UserAction::Reveal(text) | UserAction::Say(text) if l.turns.len() >= cfg.max_turns => {
                let _ = text;
                l.outcome = Some(Outcome::TurnLimit);
            }
            UserAction::Reveal(text) => {
                l.revealed_at = Some(l.messages.len());
                l.messages.push(json!({"role": "user", "content": text}));
            }
            UserAction::Say(text) => {
                l.confirmed = true;
                l.messages.push(json!({"role": "user", "content": text}));
            }
        }
    }
    Ok(())
}
