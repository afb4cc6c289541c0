//! Token sampling from one row of logits: temperature, top-k, top-p (nucleus), greedy at
//! temperature 0. Each row owns a seeded ChaCha stream that advances by exactly one draw per
//! sampled token, so a row's tokens depend only on its seed and its logits, never on which other
//! rows share the batch.
//!
//! # Which log-probability is reported
//!
//! [`Sampled::logprob`] is `log_softmax(logits / temperature)[id]` over the **full vocabulary**,
//! before top-k/top-p truncation. That is exactly what the trainer computes for the same token
//! (`token_logprobs` with the same temperature, as TRL's `selective_log_softmax(logits / T)`), so
//! it can serve directly as GRPO's `old_per_token_logps` and the importance ratio is 1 at the
//! first optimizer step.
//!
//! [`Sampled::processed_logprob`] is the log-probability under the distribution the token was
//! actually drawn from (after temperature, top-k and top-p, renormalized): what vLLM reports with
//! `logprobs_mode="processed_logprobs"`, the setting TRL uses for its truncated importance
//! sampling correction. The two agree when neither top-k nor top-p truncates.
//!
//! At temperature 0 (greedy) `logprob` is the untempered `log_softmax(logits)[id]` (vLLM's "raw"
//! log-prob) and `processed_logprob` is 0 (the argmax has probability 1).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::error::{Error, Result};

/// How to pick the next token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingParams {
    /// Logits are divided by this; 0 means greedy (argmax).
    pub temperature: f64,
    /// Keep only the `top_k` most likely tokens (ties with the k-th are kept); 0 disables.
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches `top_p` (applied
    /// after top-k, on the renormalized distribution); 1.0 disables.
    pub top_p: f64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding.
    pub fn greedy() -> Self {
        SamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
        }
    }

    /// Checks the ranges: temperature ≥ 0 and finite, 0 < top_p ≤ 1.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(Error::Invalid(format!(
                "sampling temperature must be a finite number ≥ 0, got {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(Error::Invalid(format!(
                "sampling top_p must be in (0, 1], got {}",
                self.top_p
            )));
        }
        Ok(())
    }

    pub(crate) fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }
}

/// One sampled token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampled {
    pub id: u32,
    /// `log_softmax(logits / T)[id]` over the full vocabulary (see the module docs).
    pub logprob: f32,
    /// Log-probability under the truncated, renormalized sampling distribution.
    pub processed_logprob: f32,
}

/// A per-row random stream (ChaCha8, seeded from a `u64`).
#[derive(Debug, Clone)]
pub struct RowRng(ChaCha8Rng);

impl RowRng {
    pub fn new(seed: u64) -> Self {
        RowRng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A uniform draw in `[0, 1)`.
    pub(crate) fn uniform(&mut self) -> f64 {
        self.0.random::<f64>()
    }
}

/// Per-row buffers of the sampler, kept across decode steps so that sampling a token allocates
/// nothing (a 152k vocabulary needs 0.6 MB of weights and 1.2 MB of candidate indices per row).
#[derive(Debug, Clone, Default)]
pub struct SampleScratch {
    /// Unnormalized weights `exp(x / T - max)`, one per vocabulary entry.
    weights: Vec<f32>,
    /// Candidate token ids of top-k / top-p.
    order: Vec<usize>,
}

/// Samples one token from `logits` (one row, full vocabulary). Consumes exactly one draw from
/// `rng` unless sampling is greedy (then none).
pub fn sample(logits: &[f32], params: &SamplingParams, rng: &mut RowRng) -> Result<Sampled> {
    sample_with(logits, params, rng, &mut SampleScratch::default())
}

/// [`sample`] with reusable buffers (same result).
pub fn sample_with(
    logits: &[f32],
    params: &SamplingParams,
    rng: &mut RowRng,
    scratch: &mut SampleScratch,
) -> Result<Sampled> {
    let max = checked_max(logits)?;
    if params.is_greedy() {
        // The first maximum (no NaN is left, so `==` finds exactly the argmax's first position).
        let id = logits.iter().position(|&x| x == max).unwrap_or(0);
        let lse = log_sum_exp(logits, f64::from(max));
        return Ok(Sampled {
            id: id as u32,
            logprob: (f64::from(max) - lse) as f32,
            processed_logprob: 0.0,
        });
    }
    let inv_t = 1.0 / params.temperature;
    // One pass of exponentials: unnormalized weights w = exp(x / T - max) (f32 is plenty for
    // choosing a token), their sum in f64, and from it the exact log-normalizer.
    let m = f64::from(max) * inv_t;
    if m == f64::NEG_INFINITY {
        return Err(Error::Invalid(
            "every logit is -inf: nothing to sample".into(),
        ));
    }
    let (inv_t32, m32) = (inv_t as f32, m as f32);
    let w = &mut scratch.weights;
    w.clear();
    w.extend(logits.iter().map(|&x| (x * inv_t32 - m32).exp()));
    let w = &*w;
    let sum: f64 = w.iter().map(|&x| f64::from(x)).sum();
    let lse = m + sum.ln();
    let kept = truncate_into(w, params, &mut scratch.order);
    let u = rng.uniform();
    let (id, processed) = match kept {
        None => (
            pick(
                w.iter().enumerate().map(|(i, &x)| (i, f64::from(x))),
                u * sum,
            ),
            None,
        ),
        Some(set) => {
            let mass: f64 = set.iter().map(|&i| f64::from(w[i])).sum();
            let id = pick(set.iter().map(|&i| (i, f64::from(w[i]))), u * mass);
            (id, Some((f64::from(w[id]) / mass).ln()))
        }
    };
    let logprob = f64::from(logits[id]) * inv_t - lse;
    Ok(Sampled {
        id: id as u32,
        logprob: logprob as f32,
        processed_logprob: processed.unwrap_or(logprob) as f32,
    })
}

/// The largest logit, in the same pass that rejects NaN and +inf (empty logits too).
fn checked_max(logits: &[f32]) -> Result<f32> {
    if logits.is_empty() {
        return Err(Error::Invalid("cannot sample from empty logits".into()));
    }
    // Eight independent lanes so that the compiler vectorizes the pass (a single running max
    // is a serial dependency chain, ~10× slower over a 152k vocabulary; `|`, not `||`, keeps the
    // flag branch-free). NaN never wins `x > m`, and the maximum of the other values does not
    // depend on the order.
    const LANES: usize = 8;
    let mut lane_max = [f32::NEG_INFINITY; LANES];
    let mut lane_bad = [false; LANES];
    let mut chunks = logits.chunks_exact(LANES);
    for c in &mut chunks {
        for ((m, bad), &x) in lane_max.iter_mut().zip(&mut lane_bad).zip(c) {
            *bad |= x.is_nan() | (x == f32::INFINITY);
            *m = if x > *m { x } else { *m };
        }
    }
    let mut bad = lane_bad.contains(&true);
    let mut max = lane_max.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for &x in chunks.remainder() {
        bad |= x.is_nan() | (x == f32::INFINITY);
        max = max.max(x);
    }
    if bad {
        let bad = logits
            .iter()
            .find(|x| x.is_nan() || **x == f32::INFINITY)
            .copied()
            .unwrap_or(f32::NAN);
        return Err(Error::Invalid(format!(
            "logits contain {bad}: the model produced non-finite values"
        )));
    }
    Ok(max)
}

/// `log Σ exp(x)` in f64, given `max = max(x)` as f64.
fn log_sum_exp(xs: &[f32], max: f64) -> f64 {
    if max == f64::NEG_INFINITY {
        return max;
    }
    let s: f64 = xs.iter().map(|&x| (f64::from(x) - max).exp()).sum();
    max + s.ln()
}

/// Inverse-CDF pick from `(index, weight)` pairs with `u` uniform in `[0, Σ weights)`. Falls back
/// to the last item with positive weight if rounding leaves `u` beyond the total.
fn pick(items: impl Iterator<Item = (usize, f64)>, u: f64) -> usize {
    let mut acc = 0.0;
    let mut last = 0;
    for (i, p) in items {
        if p <= 0.0 {
            continue;
        }
        acc += p;
        last = i;
        if u < acc {
            return i;
        }
    }
    last
}

/// The kept token set after top-k then top-p, sorted by descending probability (ties by index),
/// or `None` when nothing is truncated. `probs` may be unnormalized weights.
#[cfg(test)]
fn truncate(probs: &[f32], params: &SamplingParams) -> Option<Vec<usize>> {
    truncate_into(probs, params, &mut Vec::new()).map(<[usize]>::to_vec)
}

/// `truncate` into the reusable buffer `idx`; the kept set is a prefix of it.
fn truncate_into<'a>(
    probs: &[f32],
    params: &SamplingParams,
    idx: &'a mut Vec<usize>,
) -> Option<&'a [usize]> {
    let v = probs.len();
    let use_k = params.top_k > 0 && params.top_k < v;
    let use_p = params.top_p < 1.0;
    if !use_k && !use_p {
        return None;
    }
    let by_prob_desc = |a: &usize, b: &usize| probs[*b].total_cmp(&probs[*a]).then(a.cmp(b));
    // Candidates: the top-k (plus ties with the k-th), or for top-p alone a growing prefix of
    // the most likely tokens until it covers `top_p` (usually a few dozen of a large vocabulary).
    let mut want = if use_k { params.top_k } else { 64.min(v) };
    loop {
        idx.clear();
        idx.extend(0..v);
        if want < v {
            idx.select_nth_unstable_by(want - 1, by_prob_desc);
            let kth = probs[idx[want - 1]];
            // Keep ties with the k-th value (as transformers' TopKLogitsWarper does): move them
            // right behind the top `want` (their order does not matter, the set is sorted next).
            let mut n = want;
            for j in want..v {
                if probs[idx[j]] >= kth {
                    idx.swap(n, j);
                    n += 1;
                }
            }
            idx.truncate(n);
        }
        idx.sort_unstable_by(by_prob_desc);
        if !use_p {
            return Some(idx.as_slice());
        }
        let total: f64 = if use_k {
            idx.iter().map(|&i| f64::from(probs[i])).sum()
        } else {
            probs.iter().map(|&x| f64::from(x)).sum()
        };
        // Top-p over the (renormalized) candidates: the smallest prefix reaching top_p.
        let target = params.top_p * total;
        let mut acc = 0.0;
        let mut cut = None;
        for (n, &i) in idx.iter().enumerate() {
            acc += f64::from(probs[i]);
            if acc >= target {
                cut = Some(n + 1);
                break;
            }
        }
        match cut {
            Some(n) => {
                idx.truncate(n);
                return Some(idx.as_slice());
            }
            // Only possible for top-p alone with too few candidates: widen the search.
            None if !use_k && want < v => want = (want * 4).min(v),
            None => return Some(idx.as_slice()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 8-lane max pass against a plain scan: the maximum, the greedy first maximum with ties
    /// in different lanes and in the remainder, and the non-finite values it must reject
    /// wherever they sit (lanes, remainder).
    #[test]
    fn lane_max_pass_equals_a_plain_scan() {
        let n = 8 * 5 + 3;
        let base: Vec<f32> = (0..n).map(|i| ((i * 37 % 23) as f32) * 0.5 - 3.0).collect();
        for top in [0, 5, 11, 39, 41, 42] {
            let mut x = base.clone();
            x[top] = 20.0;
            // A tie at a later position in another lane: the first one wins.
            x[(top + 13) % n] = 20.0;
            let first = x.iter().position(|&v| v == 20.0).unwrap_or(0);
            assert_eq!(checked_max(&x).unwrap(), 20.0, "max at {top}");
            let mut rng = RowRng::new(0);
            let s = sample(&x, &SamplingParams::greedy(), &mut rng).unwrap();
            assert_eq!(s.id as usize, first, "greedy with the max at {top}");
        }
        let all_neg = vec![f32::NEG_INFINITY; n];
        assert_eq!(checked_max(&all_neg).unwrap(), f32::NEG_INFINITY);
        for bad_at in [0, 7, 8, 23, 40, 42] {
            for bad in [f32::NAN, f32::INFINITY] {
                let mut x = base.clone();
                x[bad_at] = bad;
                let e = checked_max(&x).unwrap_err().to_string();
                assert!(e.contains("non-finite"), "{bad} at {bad_at}: {e}");
            }
        }
    }

    fn params(t: f64, k: usize, p: f64) -> SamplingParams {
        SamplingParams {
            temperature: t,
            top_k: k,
            top_p: p,
        }
    }

    #[test]
    fn greedy_picks_first_max_and_reports_raw_logprob() {
        let logits = [0.5f32, 2.0, 2.0, -1.0];
        let s = sample(&logits, &SamplingParams::greedy(), &mut RowRng::new(1)).unwrap();
        assert_eq!(s.id, 1);
        let lse = (0.5f64.exp() + 2.0f64.exp() * 2.0 + (-1.0f64).exp()).ln();
        assert!((f64::from(s.logprob) - (2.0 - lse)).abs() < 1e-6);
        assert_eq!(s.processed_logprob, 0.0);
    }

    #[test]
    fn top_k_one_is_greedy() {
        let logits = [0.1f32, -0.3, 1.7, 1.2, 0.0];
        for seed in 0..20 {
            let s = sample(&logits, &params(0.7, 1, 1.0), &mut RowRng::new(seed)).unwrap();
            assert_eq!(s.id, 2);
            assert!(s.processed_logprob.abs() < 1e-7);
        }
    }

    #[test]
    fn top_p_keeps_the_smallest_covering_prefix() {
        // probs at T=1: 0.5, 0.3, 0.15, 0.05
        let p = [0.5f64, 0.3, 0.15, 0.05];
        let logits: Vec<f32> = p.iter().map(|x| x.ln() as f32).collect();
        let probs: Vec<f32> = p.iter().map(|&x| x as f32).collect();
        assert_eq!(truncate(&probs, &params(1.0, 0, 0.75)), Some(vec![0, 1]));
        assert_eq!(truncate(&probs, &params(1.0, 0, 0.79)), Some(vec![0, 1]));
        assert_eq!(truncate(&probs, &params(1.0, 0, 0.81)), Some(vec![0, 1, 2]));
        // top-k 3 then top-p 0.9 of the renormalized {0.5,0.3,0.15}/0.95.
        assert_eq!(truncate(&probs, &params(1.0, 3, 0.9)), Some(vec![0, 1, 2]));
        assert_eq!(truncate(&probs, &params(1.0, 3, 0.82)), Some(vec![0, 1]));
        for seed in 0..50 {
            let s = sample(&logits, &params(1.0, 0, 0.75), &mut RowRng::new(seed)).unwrap();
            assert!(s.id < 2);
            let full = p[s.id as usize].ln();
            let proc = (p[s.id as usize] / 0.8).ln();
            assert!((f64::from(s.logprob) - full).abs() < 1e-5);
            assert!((f64::from(s.processed_logprob) - proc).abs() < 1e-5);
        }
    }

    #[test]
    fn empirical_frequencies_follow_the_tempered_distribution() {
        let logits = [1.0f32, 0.0, -1.0];
        let t = 2.0;
        let w: Vec<f64> = logits.iter().map(|&x| (f64::from(x) / t).exp()).collect();
        let z: f64 = w.iter().sum();
        let mut counts = [0usize; 3];
        let mut rng = RowRng::new(42);
        let n = 20_000;
        for _ in 0..n {
            let s = sample(&logits, &params(t, 0, 1.0), &mut rng).unwrap();
            counts[s.id as usize] += 1;
        }
        for i in 0..3 {
            let f = counts[i] as f64 / n as f64;
            assert!(
                (f - w[i] / z).abs() < 0.015,
                "token {i}: {f} vs {}",
                w[i] / z
            );
        }
    }

    #[test]
    fn same_seed_same_tokens() {
        let logits: Vec<f32> = (0..50).map(|i| ((i * 37) % 11) as f32 * 0.3).collect();
        let run = |seed| {
            let mut rng = RowRng::new(seed);
            (0..30)
                .map(|_| sample(&logits, &params(1.0, 10, 0.9), &mut rng).unwrap().id)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn rejects_bad_input() {
        assert!(sample(&[], &SamplingParams::default(), &mut RowRng::new(0)).is_err());
        assert!(sample(
            &[f32::NAN, 1.0],
            &SamplingParams::default(),
            &mut RowRng::new(0)
        )
        .is_err());
        assert!(params(-1.0, 0, 1.0).validate().is_err());
        assert!(params(1.0, 0, 0.0).validate().is_err());
        assert!(params(1.0, 0, 1.5).validate().is_err());
    }
}
