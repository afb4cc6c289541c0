//! The model side of evaluation: prompt lengths (for batching and the context check) and greedy
//! completions returned as the text an OpenAI-compatible completions server would return.

use crate::backend::{ChatBackend, ChatRequest, GenParams, LocalBackend, Result};
use crate::engine::SamplingParams;

/// One completion.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// Completion text without the stop token, special tokens skipped (vLLM's default
    /// `skip_special_tokens=True`, which the official runner relies on).
    pub text: String,
    /// Prompt length in tokens.
    pub prompt_tokens: usize,
    /// Generated tokens, including the stop token when there is one.
    pub completion_tokens: usize,
}

/// A model that answers BFCL prompts.
pub trait Generator {
    /// A short name for logs and the summary.
    fn name(&self) -> &str;
    /// Maximum sequence length (prompt + completion) the model supports.
    fn context_len(&self) -> usize;
    /// Length of the rendered prompt in tokens.
    fn prompt_len(&self, request: &ChatRequest) -> Result<usize>;
    /// Greedy completions of every request, in order.
    fn generate(&self, requests: &[ChatRequest], max_new_tokens: usize) -> Result<Vec<Generated>>;
}

impl Generator for LocalBackend {
    fn name(&self) -> &str {
        ChatBackend::name(self)
    }

    fn context_len(&self) -> usize {
        self.model().config().max_position_embeddings
    }

    fn prompt_len(&self, request: &ChatRequest) -> Result<usize> {
        Ok(self.prompt_ids(request)?.len())
    }

    fn generate(&self, requests: &[ChatRequest], max_new_tokens: usize) -> Result<Vec<Generated>> {
        let params = GenParams {
            sampling: SamplingParams::greedy(),
            max_new_tokens,
        };
        let stops = self.tokenizer().stop_ids().to_vec();
        let eos = self.model().config().eos_token_ids.clone();
        self.complete(requests, &params)?
            .into_iter()
            .map(|c| {
                let body = match c.completion_ids.split_last() {
                    Some((last, rest)) if stops.contains(last) || eos.contains(last) => rest,
                    _ => &c.completion_ids[..],
                };
                Ok(Generated {
                    text: self.tokenizer().decode(body, true)?,
                    prompt_tokens: c.prompt_ids.len(),
                    completion_tokens: c.completion_ids.len(),
                })
            })
            .collect()
    }
}
