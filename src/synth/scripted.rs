//! A test double of [`ChatBackend`]: it replays assistant outputs that a script computes from
//! each request (for instance, an oracle that knows the task). It runs no model: token ids are
//! the UTF-8 bytes of the text plus a stop id, log-probs are 0. For tests of the episode loop,
//! the verifier and the output files — never for measurements.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::backend::{ChatBackend, ChatCompletion, ChatRequest, GenParams, Result};
use crate::chat::parse_lenient;
use crate::engine::FinishReason;

/// One scripted assistant output.
#[derive(Debug, Clone, PartialEq)]
pub struct Scripted {
    /// The text (may contain `<tool_call>` blocks).
    pub text: String,
    /// Whether it ended on a stop token (`false` = cut by the token limit).
    pub stopped: bool,
}

impl Scripted {
    /// A complete output.
    pub fn text(text: impl Into<String>) -> Scripted {
        Scripted {
            text: text.into(),
            stopped: true,
        }
    }
}

/// Stop id used by the double (bytes are 0..=255).
pub const STOP_ID: u32 = 256;

/// The scripted backend.
pub struct ScriptedBackend<F: Fn(&ChatRequest) -> Scripted> {
    script: F,
    calls: AtomicUsize,
}

impl<F: Fn(&ChatRequest) -> Scripted> ScriptedBackend<F> {
    /// A backend whose every completion is `script(request)`.
    pub fn new(script: F) -> Self {
        ScriptedBackend {
            script,
            calls: AtomicUsize::new(0),
        }
    }

    /// Number of `complete` calls so far (batches, not requests).
    pub fn batches(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }
}

fn prompt_ids(req: &ChatRequest) -> Vec<u32> {
    let mut ids = Vec::new();
    for m in &req.messages {
        let text = m.to_string();
        ids.extend(text.bytes().map(u32::from));
        ids.push(STOP_ID);
    }
    ids
}

impl<F: Fn(&ChatRequest) -> Scripted> ChatBackend for ScriptedBackend<F> {
    fn complete(
        &self,
        requests: &[ChatRequest],
        _params: &GenParams,
    ) -> Result<Vec<ChatCompletion>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(requests
            .iter()
            .map(|r| {
                let s = (self.script)(r);
                let mut completion_ids: Vec<u32> = s.text.bytes().map(u32::from).collect();
                if s.stopped {
                    completion_ids.push(STOP_ID);
                }
                ChatCompletion {
                    parsed: parse_lenient(&s.text),
                    logprobs: vec![0.0; completion_ids.len()],
                    text: s.text,
                    prompt_ids: prompt_ids(r),
                    completion_ids,
                    finish: if s.stopped {
                        FinishReason::Stop
                    } else {
                        FinishReason::Length
                    },
                }
            })
            .collect())
    }

    fn name(&self) -> &str {
        "scripted test double"
    }
}
