//! The engine thread: owns the model, takes jobs from the HTTP workers, and runs the chat jobs
//! that arrive within a short window of each other as one batched `complete` call (one call per
//! distinct set of sampling parameters). When a batched call fails, its jobs are retried one by
//! one so that a single bad request does not fail the others.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use super::Servable;
use crate::backend::{ChatCompletion, ChatRequest, GenParams};

/// The answer to a chat job: the completion and, when asked, its tokens' texts.
pub type ChatReply = Result<(ChatCompletion, Vec<String>), crate::backend::Error>;
/// The answer to an embeddings job: vectors and the token count, or (status, message).
pub type EmbedReply = Result<(Vec<Vec<f32>>, usize), (u16, String)>;

/// Work for the engine thread.
pub enum Job {
    /// One conversation.
    Chat {
        request: ChatRequest,
        params: GenParams,
        /// Decode every sampled token (for logprobs).
        token_texts: bool,
        reply: Sender<ChatReply>,
    },
    /// Texts to embed.
    Embed {
        texts: Vec<String>,
        reply: Sender<EmbedReply>,
    },
}

/// Batching settings.
#[derive(Debug, Clone, Copy)]
pub struct BatchOptions {
    /// How long to wait for more chat jobs after the first one (at most a minute is used).
    pub window: Duration,
    /// Chat jobs per engine call at most.
    pub max_batch: usize,
}

/// Runs jobs until every sender is gone.
pub fn run(model: &dyn Servable, jobs: &Receiver<Job>, opts: BatchOptions) {
    while let Ok(first) = jobs.recv() {
        let mut chats = Vec::new();
        match first {
            Job::Embed { texts, reply } => {
                let _ = reply.send(model.embeddings(&texts));
                continue;
            }
            Job::Chat {
                request,
                params,
                token_texts,
                reply,
            } => chats.push(ChatJob {
                request,
                params,
                token_texts,
                reply,
            }),
        }
        // Capped at a minute (the CLI's limit), so that no window overflows the clock.
        let deadline = Instant::now() + opts.window.min(Duration::from_secs(60));
        let mut embeds = Vec::new();
        while chats.len() < opts.max_batch.max(1) {
            let left = deadline.saturating_duration_since(Instant::now());
            match jobs.recv_timeout(left) {
                Ok(Job::Chat {
                    request,
                    params,
                    token_texts,
                    reply,
                }) => chats.push(ChatJob {
                    request,
                    params,
                    token_texts,
                    reply,
                }),
                Ok(e @ Job::Embed { .. }) => embeds.push(e),
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        run_chats(model, chats);
        for e in embeds {
            if let Job::Embed { texts, reply } = e {
                let _ = reply.send(model.embeddings(&texts));
            }
        }
    }
}

struct ChatJob {
    request: ChatRequest,
    params: GenParams,
    token_texts: bool,
    reply: Sender<ChatReply>,
}

impl ChatJob {
    fn answer(self, model: &dyn Servable, out: crate::backend::Result<ChatCompletion>) {
        let out = out.map(|c| {
            let texts = if self.token_texts {
                c.completion_ids
                    .iter()
                    .map(|&id| model.token_text(id))
                    .collect()
            } else {
                Vec::new()
            };
            (c, texts)
        });
        // The worker may have gone (client disconnected): nothing to do then.
        let _ = self.reply.send(out);
    }
}

/// Groups by sampling parameters (first-seen order) and completes each group in one call.
fn run_chats(model: &dyn Servable, mut chats: Vec<ChatJob>) {
    while let Some(params) = chats.first().map(|j| j.params) {
        let (group, rest): (Vec<ChatJob>, Vec<ChatJob>) =
            chats.into_iter().partition(|j| j.params == params);
        chats = rest;
        let requests: Vec<ChatRequest> = group.iter().map(|j| j.request.clone()).collect();
        tracing::debug!(batch = requests.len(), "engine call");
        match model.chat_batch(&requests, &params) {
            Ok(outs) if outs.len() == group.len() => {
                for (job, out) in group.into_iter().zip(outs) {
                    job.answer(model, Ok(out));
                }
            }
            Ok(outs) => {
                let msg = format!(
                    "{} returned {} completions for {} requests",
                    model.label(),
                    outs.len(),
                    group.len()
                );
                for job in group {
                    job.answer(model, Err(crate::backend::Error::Invalid(msg.clone())));
                }
            }
            Err(e) if group.len() == 1 => {
                if let Some(job) = group.into_iter().next() {
                    job.answer(model, Err(e));
                }
            }
            Err(_) => {
                for job in group {
                    let out = model
                        .chat_batch(std::slice::from_ref(&job.request), &job.params)
                        .and_then(|v| {
                            v.into_iter().next().ok_or_else(|| {
                                crate::backend::Error::Invalid(format!(
                                    "{} returned no completion",
                                    model.label()
                                ))
                            })
                        });
                    job.answer(model, out);
                }
            }
        }
    }
}
