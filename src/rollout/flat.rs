//! One token sequence per trajectory: prompt + sampled ids + the rendered tool/user suffixes.
//!
//! Each assistant turn's prompt is the chat template's rendering of the whole conversation so
//! far. The flat sequence keeps the first prompt, then for every turn appends the *sampled* ids
//! (loss mask 1) and then only the part of the next prompt that comes after the end of the
//! previous assistant message (loss mask 0). That boundary is found by counting turn-end
//! tokens: the stop token that ended each sampled turn (`<|im_end|>` for ChatML templates)
//! appears once per message in the rendered prompt. When the next prompt's prefix equals the
//! flat sequence so far, the policy saw exactly these tokens (`consistent`: always, with the
//! local backend, which continues each turn from the previous one's ids — `ChatRequest::
//! history_ids`); otherwise (a backend that re-rendered the conversation) the template
//! re-tokenized the policy's text differently and training sees the sampled ids instead (the
//! token-in/token-out choice of DESIGN.md §4).

use serde::{Deserialize, Serialize};

use super::trajectory::TurnTokens;
use super::{Error, Result};

/// A trajectory as one sequence with a loss mask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlatTokens {
    /// Token ids.
    pub ids: Vec<u32>,
    /// 1 on tokens the policy sampled, 0 elsewhere (prompts, tool results, user turns).
    pub loss_mask: Vec<u8>,
    /// Sampling log-prob on sampled tokens, 0 elsewhere.
    pub logprobs: Vec<f32>,
    /// Whether every later prompt started with exactly the flat sequence before it.
    pub consistent: bool,
}

/// Builds the flat sequence of a trajectory's turns (`id` names it in errors).
pub fn flatten(id: &str, turns: &[TurnTokens]) -> Result<FlatTokens> {
    let err = |turn: usize, message: String| Error::Tokens {
        id: id.to_string(),
        turn,
        message,
    };
    let Some(first) = turns.first() else {
        return Err(err(0, "no assistant turns".into()));
    };
    // Turn-end tokens: the last id of every turn that stopped on a stop token.
    let mut ends: Vec<u32> = turns
        .iter()
        .filter(|t| t.finish == "stop")
        .filter_map(|t| t.completion_ids.last().copied())
        .collect();
    ends.sort_unstable();
    ends.dedup();
    let Some(&default_end) = ends.first() else {
        return Err(err(0, "no turn ended on a stop token".into()));
    };
    let mut flat = FlatTokens {
        ids: first.prompt_ids.clone(),
        loss_mask: vec![0; first.prompt_ids.len()],
        logprobs: vec![0.0; first.prompt_ids.len()],
        consistent: true,
    };
    for (k, turn) in turns.iter().enumerate() {
        if turn.completion_ids.len() != turn.logprobs.len() {
            return Err(err(
                k,
                format!(
                    "{} sampled ids but {} log-probs",
                    turn.completion_ids.len(),
                    turn.logprobs.len()
                ),
            ));
        }
        if k > 0 {
            // The prompt continued from exactly these ids (token-in/token-out), or else the
            // boundary is found by counting turn-end tokens.
            let cut = if turn.prompt_ids.starts_with(&flat.ids) {
                flat.ids.len()
            } else {
                flat.consistent = false;
                let seen = flat.ids.iter().filter(|t| ends.contains(t)).count();
                position_after_nth(&turn.prompt_ids, &ends, seen).ok_or_else(|| {
                    err(
                        k,
                        format!("the prompt has fewer than {seen} turn-end tokens"),
                    )
                })?
            };
            let suffix = turn.prompt_ids.get(cut..).unwrap_or_default();
            flat.ids.extend_from_slice(suffix);
            flat.loss_mask.extend(std::iter::repeat_n(0, suffix.len()));
            flat.logprobs.extend(std::iter::repeat_n(0.0, suffix.len()));
        }
        flat.ids.extend_from_slice(&turn.completion_ids);
        flat.loss_mask
            .extend(std::iter::repeat_n(1, turn.completion_ids.len()));
        flat.logprobs.extend_from_slice(&turn.logprobs);
        let ended = turn
            .completion_ids
            .last()
            .is_some_and(|t| ends.contains(t) && turn.finish == "stop");
        if !ended {
            // A truncated turn: close it as the template would, without training on the end —
            // with the token the next prompt continued with when it continued from these ids
            // (the local backend's token-in/token-out), else the turn-end token.
            let close = turns
                .get(k + 1)
                .filter(|next| next.prompt_ids.starts_with(&flat.ids))
                .and_then(|next| next.prompt_ids.get(flat.ids.len()).copied())
                .unwrap_or(default_end);
            flat.ids.push(close);
            flat.loss_mask.push(0);
            flat.logprobs.push(0.0);
        }
    }
    Ok(flat)
}

/// Index just after the `n`-th occurrence (1-based) of any of `ends` in `ids`; 0 for `n == 0`.
pub(crate) fn position_after_nth(ids: &[u32], ends: &[u32], n: usize) -> Option<usize> {
    if n == 0 {
        return Some(0);
    }
    let mut seen = 0;
    for (i, t) in ids.iter().enumerate() {
        if ends.contains(t) {
            seen += 1;
            if seen == n {
                return Some(i + 1);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(prompt: &[u32], completion: &[u32], finish: &str) -> TurnTokens {
        TurnTokens {
            message_index: 0,
            prompt_ids: prompt.to_vec(),
            completion_ids: completion.to_vec(),
            logprobs: completion.iter().map(|&t| -(t as f32) / 10.0).collect(),
            finish: finish.into(),
        }
    }

    #[test]
    fn concatenates_sampled_ids_and_suffixes() {
        // 9 = turn end. Prompt 1 = [5 9 | 7] ; completion [1 2 9]; prompt 2 re-renders the
        // assistant turn as [1 3 9] (different tokens) then a tool suffix [6 7].
        let t0 = turn(&[5, 9, 7], &[1, 2, 9], "stop");
        let t1 = turn(&[5, 9, 7, 1, 3, 9, 6, 7], &[4, 9], "stop");
        let f = flatten("x", &[t0, t1]).unwrap();
        assert_eq!(f.ids, vec![5, 9, 7, 1, 2, 9, 6, 7, 4, 9]);
        assert_eq!(f.loss_mask, vec![0, 0, 0, 1, 1, 1, 0, 0, 1, 1]);
        assert_eq!(f.logprobs[3], -0.1);
        assert_eq!(f.logprobs[6], 0.0);
        assert!(!f.consistent);
    }

    #[test]
    fn consistent_when_the_prompt_repeats_the_sampled_ids() {
        let t0 = turn(&[5, 9, 7], &[1, 2, 9], "stop");
        let t1 = turn(&[5, 9, 7, 1, 2, 9, 6, 7], &[4, 9], "stop");
        let f = flatten("x", &[t0, t1]).unwrap();
        assert!(f.consistent);
        assert_eq!(f.ids.len(), 10);
    }

    /// A cut-off turn is closed with the token the next prompt continued with (the template's
    /// end, here 5), even when the turns that stopped ended with another stop id (2).
    #[test]
    fn a_cut_off_turn_is_closed_as_the_next_prompt_continued() {
        let t0 = turn(&[1, 5, 9], &[7, 7], "length");
        let t1 = turn(&[1, 5, 9, 7, 7, 5, 8], &[6, 2], "stop");
        let f = flatten("x", &[t0, t1]).unwrap();
        assert_eq!(f.ids, vec![1, 5, 9, 7, 7, 5, 8, 6, 2]);
        assert_eq!(f.loss_mask, vec![0, 0, 0, 1, 1, 0, 0, 1, 1]);
        assert!(f.consistent);
    }

    #[test]
    fn truncated_turn_gets_an_unmasked_end() {
        let t0 = turn(&[5, 9, 7], &[1, 2], "length");
        let t1 = turn(&[5, 9, 7, 1, 2, 9, 6], &[4, 9], "stop");
        let f = flatten("x", &[t0, t1]).unwrap();
        assert_eq!(f.ids, vec![5, 9, 7, 1, 2, 9, 6, 4, 9]);
        assert_eq!(f.loss_mask, vec![0, 0, 0, 1, 1, 0, 0, 1, 1]);
    }

    #[test]
    fn errors_name_the_trajectory() {
        let e = flatten("traj-1", &[]).unwrap_err().to_string();
        assert!(e.contains("traj-1"), "{e}");
        let t0 = turn(&[5, 9, 7], &[1, 2, 9], "stop");
        let t1 = turn(&[5, 7], &[4, 9], "stop");
        let e = flatten("traj-2", &[t0, t1]).unwrap_err().to_string();
        assert!(e.contains("traj-2") && e.contains("turn 1"), "{e}");
    }
}
