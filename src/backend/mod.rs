//! The `ChatBackend` seam: every agent (policy, user simulator, server simulator) talks to a model
//! through it. Implementations: the in-process candle engine ([`LocalBackend`]); an
//! OpenAI-compatible HTTP client for vLLM, SGLang, llama.cpp server or `trainer serve`
//! ([`OpenAiBackend`]; see [`openai`] for what it does not report).

mod local;
pub mod openai;

pub use local::{asset_hub_id, resolve_model_spec, LocalBackend};
pub use openai::{OpenAiBackend, OpenAiEmbedder};

use serde_json::Value as Json;

use crate::chat::ParsedOutput;
use crate::engine::{FinishReason, SamplingParams};

/// Errors of a backend, with the stage that failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("model: {0}")]
    Model(#[from] crate::model::Error),
    #[error("loading the model: {0}")]
    Load(#[from] crate::model::load::Error),
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] crate::chat::tokenizer::Error),
    #[error("chat template: {0}")]
    Template(#[from] crate::chat::template::Error),
    #[error("generation: {0}")]
    Engine(#[from] crate::engine::Error),
    #[error("adapter: {0}")]
    Checkpoint(#[from] crate::checkpoint::Error),
    #[error("{0}")]
    Invalid(String),
    /// The OpenAI-compatible HTTP backend failed.
    #[error("{0}")]
    Http(#[from] openai::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

/// One conversation to continue with an assistant turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// OpenAI chat messages (`system`/`user`/`assistant` with `tool_calls`/`tool`).
    pub messages: Vec<Json>,
    /// Tools in OpenAI format; empty = no tools block.
    pub tools: Vec<Json>,
    /// Seed of this request's sampling stream.
    pub seed: u64,
    /// Use the LoRA adapter (the policy) or the base model (reference / simulators).
    pub adapter: bool,
    /// Token-in/token-out: the ids of the conversation up to the end of the last assistant turn
    /// exactly as the model saw and sampled them (that turn's prompt + its sampled ids). A local
    /// backend continues from them and tokenizes only the messages after that turn, instead of
    /// re-tokenizing the model's own output. Empty = render the whole conversation.
    pub history_ids: Vec<u32>,
    /// The planned task this conversation plays (synthesis episodes), for assistants that
    /// follow a task's blueprint (the teacher) rather than sample; models ignore it.
    pub task_id: Option<String>,
}

/// Sampling settings of a call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenParams {
    pub sampling: SamplingParams,
    pub max_new_tokens: usize,
}

/// The assistant turn produced for one request, with the token-level record training needs
/// (token-in/token-out: the policy's own ids are never re-tokenized).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatCompletion {
    /// Decoded completion without the final stop token.
    pub text: String,
    /// Tool calls and content parsed from `text` (lenient mode; problems are listed).
    pub parsed: ParsedOutput,
    /// The rendered prompt's token ids.
    pub prompt_ids: Vec<u32>,
    /// Sampled ids, including a final stop token.
    pub completion_ids: Vec<u32>,
    /// Per sampled token: `log_softmax(logits / temperature)` of the chosen id.
    pub logprobs: Vec<f32>,
    pub finish: FinishReason,
}

impl ChatCompletion {
    /// A completion known only as text (a rule-driven player, a scripted backend): parsed
    /// leniently, no token record, finished by a stop.
    pub fn from_text(text: String) -> ChatCompletion {
        ChatCompletion {
            parsed: crate::chat::parse_lenient(&text),
            text,
            prompt_ids: Vec::new(),
            completion_ids: Vec::new(),
            logprobs: Vec::new(),
            finish: FinishReason::Stop,
        }
    }

    /// The OpenAI assistant message (`content`, `tool_calls`).
    pub fn message(&self) -> Json {
        self.parsed.to_message()
    }
}

/// A model that completes chat conversations, batched.
pub trait ChatBackend {
    /// Completes every request (in order).
    fn complete(&self, requests: &[ChatRequest], params: &GenParams)
        -> Result<Vec<ChatCompletion>>;
    /// A short name for logs (model path or endpoint).
    fn name(&self) -> &str;
    /// Forgets cached state kept between calls (the in-process engine's prefix cache), so that
    /// what follows does not depend on earlier calls even at the level of float rounding.
    fn reset_cache(&self) {}
}
