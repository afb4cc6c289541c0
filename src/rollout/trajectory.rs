//! The trajectory record and its two JSON forms (OpenAI chat line, token line).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

use super::flat::{flatten, FlatTokens};

/// The token-level record of one assistant turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnTokens {
    /// Index of this turn's assistant message in [`Trajectory::messages`].
    pub message_index: usize,
    /// The rendered prompt the policy saw.
    pub prompt_ids: Vec<u32>,
    /// The ids it sampled (a final stop token included when it stopped).
    pub completion_ids: Vec<u32>,
    /// Per sampled id: `log_softmax(logits / temperature)` of that id.
    pub logprobs: Vec<f32>,
    /// `"stop"` or `"length"`.
    pub finish: String,
}

/// One episode: OpenAI messages + tools, and the token record of each assistant turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// Unique id (the task id plus a sample index).
    pub id: String,
    /// The planned task it realizes.
    pub task_id: String,
    /// Task category (`single`, `multi_step`, ...).
    pub category: String,
    /// Offered tools in OpenAI format.
    pub tools: Vec<Json>,
    /// OpenAI chat messages (`system`, `user`, `assistant` with `tool_calls`, `tool`).
    pub messages: Vec<Json>,
    /// One entry per assistant message, in order.
    pub turns: Vec<TurnTokens>,
}

impl Trajectory {
    /// The OpenAI chat JSONL record: `{"id", "category", "messages", "tools"}`.
    pub fn to_chat_record(&self) -> Json {
        json!({
            "id": self.id,
            "task_id": self.task_id,
            "category": self.category,
            "messages": self.messages,
            "tools": self.tools,
        })
    }

    /// The token JSONL record: the per-turn records and, when they line up, the flat sequence.
    pub fn to_token_record(&self) -> Json {
        let flat: Option<FlatTokens> = flatten(&self.id, &self.turns).ok();
        json!({
            "id": self.id,
            "task_id": self.task_id,
            "category": self.category,
            "turns": self.turns,
            "flat": flat,
        })
    }

    /// The assistant messages' tool calls, in order: `(message index, name, arguments)`.
    pub fn calls(&self) -> Vec<(usize, String, Json)> {
        let mut out = Vec::new();
        for (i, m) in self.messages.iter().enumerate() {
            let Some(list) = m.get("tool_calls").and_then(Json::as_array) else {
                continue;
            };
            for c in list {
                let f = c.get("function").unwrap_or(c);
                let name = f.get("name").and_then(Json::as_str).unwrap_or_default();
                let args = f.get("arguments").cloned().unwrap_or(Json::Null);
                out.push((i, name.to_string(), args));
            }
        }
        out
    }
}
