//! Cold-start SFT data: a tool-use conversation (OpenAI messages + tools) rendered with the
//! model's chat template into one token sequence whose loss mask covers exactly what the
//! assistant writes — its text and `<tool_call>` blocks and the end-of-turn token that closes each
//! of its turns — and nothing of the system prompt, tools block, user turns or tool results.
//!
//! The whole conversation is rendered once and tokenized once (with byte offsets); each assistant
//! message's text is located in the rendering after the generation prompt that precedes it, and
//! the tokens overlapping that span are the loss tokens.

use serde_json::Value as Json;

use super::batch::TokenSequence;
use crate::chat::{assistant_text, Tokenizer};

/// Why a conversation could not become a training sequence.
#[derive(Debug, thiserror::Error)]
pub enum SftDataError {
    #[error("chat template: {0}")]
    Template(#[from] crate::chat::tokenizer::Error),
    /// The rendered conversation does not contain an assistant message's text where expected
    /// (a template that rewrites assistant turns).
    #[error("assistant message {index} is not rendered verbatim by the chat template")]
    NotVerbatim { index: usize },
    #[error("the conversation has no assistant message to learn from")]
    NoAssistant,
    #[error("tokenizer: {0}")]
    Tokenize(String),
}

/// The conversation as one training sequence (ids + assistant-only loss mask).
pub fn conversation_sequence(
    tokenizer: &Tokenizer,
    messages: &[Json],
    tools: &[Json],
) -> Result<TokenSequence, SftDataError> {
    let full = tokenizer.render_conversation(messages, tools, false)?;
    let stop = tokenizer
        .eos_id()
        .and_then(|id| tokenizer.id_to_token(id))
        .unwrap_or_default();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        if m.get("role").and_then(Json::as_str) != Some("assistant") {
            continue;
        }
        let prefix = tokenizer.render_conversation(&messages[..i], tools, true)?;
        let text = assistant_text(m);
        // The generation prompt of a template may differ slightly from the rendered history
        // (e.g. an empty think block); search from the shorter of the two prefixes.
        let from = common_prefix_len(&prefix, &full);
        let start = full
            .get(from..)
            .and_then(|rest| rest.find(text.as_str()))
            .map(|k| from + k)
            .ok_or(SftDataError::NotVerbatim { index: i })?;
        let mut end = start + text.len();
        if !stop.is_empty() && full.get(end..).is_some_and(|r| r.starts_with(&stop)) {
            end += stop.len();
        }
        spans.push((start, end));
    }
    if spans.is_empty() {
        return Err(SftDataError::NoAssistant);
    }
    let enc = tokenizer
        .inner()
        .encode(full.as_str(), false)
        .map_err(|e| SftDataError::Tokenize(e.to_string()))?;
    let ids = enc.get_ids().to_vec();
    let loss_mask = enc
        .get_offsets()
        .iter()
        .map(|&(s, e)| spans.iter().any(|&(a, b)| e > a && s < b && e > s))
        .collect();
    Ok(TokenSequence { ids, loss_mask })
}

/// Length (bytes, on a char boundary) of the longest common prefix of two strings.
fn common_prefix_len(a: &str, b: &str) -> usize {
    let mut n = 0;
    for ((i, ca), cb) in a.char_indices().zip(b.chars()) {
        if ca != cb {
            return i;
        }
        n = i + ca.len_utf8();
    }
    n
}

#[cfg(test)]
mod tests {
    use super::common_prefix_len;

    #[test]
    fn common_prefix() {
        assert_eq!(common_prefix_len("abcd", "abxd"), 2);
        assert_eq!(common_prefix_len("ab", "abc"), 2);
        assert_eq!(common_prefix_len("é1", "é2"), 2);
        assert_eq!(common_prefix_len("", "x"), 0);
    }
}
