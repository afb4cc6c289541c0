//! The batched generation loop.
//!
//! One call runs many rows at once: the distinct prompts are prefilled once (left-padded, in
//! chunks of positions), the cache is then expanded so that the `G` samples of a prompt share its
//! prefill, and every decode step feeds one token per running row. Rows that stop are dropped
//! from the running batch (`KvCache::retain_rows`), so they cost nothing afterwards and cannot
//! influence the others. Each row samples from its own seeded stream (see [`super::sampler`]).

use std::collections::HashMap;

use candle_core::{Tensor, D};

use super::error::{Error, Result};
use super::prefix_cache::PrefixCache;
use super::sampler::{sample, RowRng, SamplingParams};
use crate::model::{AdapterUse, Batch, KvCache, Mode, Model, SeqKv};

/// One sequence to continue.
#[derive(Debug, Clone, PartialEq)]
pub struct GenRequest {
    /// Prompt token ids (at least one).
    pub prompt: Vec<u32>,
    /// Seed of this row's sampling stream; equal seeds and prompts give equal completions,
    /// whatever else is in the batch.
    pub seed: u64,
    /// Whether the LoRA adapter is on for this row (policy) or off (base model, e.g. the
    /// simulated user or tool agents). Without an adapter attached it makes no difference.
    pub adapter: bool,
}

impl GenRequest {
    /// A request with the adapter on.
    pub fn new(prompt: Vec<u32>, seed: u64) -> Self {
        GenRequest {
            prompt,
            seed,
            adapter: true,
        }
    }
}

/// Settings shared by all rows of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct GenConfig {
    pub sampling: SamplingParams,
    /// Upper bound on new tokens per row.
    pub max_new_tokens: usize,
    /// Token ids that end a row (EOS, `<|im_end|>`, …); the stop token is part of the output.
    pub stop_ids: Vec<u32>,
    /// Token sequences that end a row when the completion ends with one (included in the output).
    /// Stop *strings* are matched by the caller on decoded text, or tokenized into these.
    pub stop_sequences: Vec<Vec<u32>>,
    /// At most this many rows run at once (requests are processed in order, in chunks); 0 = all.
    pub max_batch_rows: usize,
    /// Prompt positions per prefill forward (bounds the attention scores' memory); 0 = all.
    pub prefill_chunk: usize,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            sampling: SamplingParams::default(),
            max_new_tokens: 256,
            stop_ids: Vec::new(),
            stop_sequences: Vec::new(),
            max_batch_rows: 0,
            prefill_chunk: 512,
        }
    }
}

/// Why a row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// A stop id or stop sequence was produced.
    Stop,
    /// `max_new_tokens` was reached.
    Length,
}

impl FinishReason {
    /// `"stop"` / `"length"`, as OpenAI-style APIs name them.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// The completion of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenOutput {
    /// New token ids (a final stop token included).
    pub tokens: Vec<u32>,
    /// Per token: `log_softmax(logits / T)` over the full vocabulary (see [`super::sampler`]).
    pub logprobs: Vec<f32>,
    /// Per token: log-probability under the truncated sampling distribution.
    pub processed_logprobs: Vec<f32>,
    pub finish: FinishReason,
}

/// Progress report, sent after every decode step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Decode step within the current chunk of rows (0 = the token sampled from the prefill).
    pub step: usize,
    /// Rows still running in the current chunk.
    pub active_rows: usize,
    /// Rows finished so far, over all chunks.
    pub finished_rows: usize,
    pub total_rows: usize,
    /// Tokens generated so far, over all chunks.
    pub generated_tokens: usize,
}

/// Generates a completion for every request, in request order.
pub fn generate(model: &Model, requests: &[GenRequest], cfg: &GenConfig) -> Result<Vec<GenOutput>> {
    generate_with_progress(model, requests, cfg, &mut |_| {})
}

/// [`generate`] with a progress callback (called after every decode step; the library never
/// prints).
pub fn generate_with_progress(
    model: &Model,
    requests: &[GenRequest],
    cfg: &GenConfig,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Vec<GenOutput>> {
    generate_cached(model, requests, cfg, None, on_progress)
}

/// [`generate_with_progress`] with a prefix cache: prompts that extend a cached sequence are
/// prefilled from where they differ, and every finished sequence is stored in the cache. The
/// cache must belong to this model with its current weights.
pub fn generate_cached(
    model: &Model,
    requests: &[GenRequest],
    cfg: &GenConfig,
    mut prefix: Option<&mut PrefixCache>,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Vec<GenOutput>> {
    cfg.sampling.validate()?;
    validate(model, requests, cfg)?;
    let chunk = if cfg.max_batch_rows == 0 {
        requests.len().max(1)
    } else {
        cfg.max_batch_rows
    };
    let mut tally = Tally {
        finished_rows: 0,
        total_rows: requests.len(),
        generated_tokens: 0,
    };
    let mut out = Vec::with_capacity(requests.len());
    for part in requests.chunks(chunk) {
        out.extend(run_chunk(
            model,
            part,
            cfg,
            prefix.as_deref_mut(),
            &mut tally,
            on_progress,
        )?);
    }
    Ok(out)
}

fn validate(model: &Model, requests: &[GenRequest], cfg: &GenConfig) -> Result<()> {
    let vocab = model.config().vocab_size;
    for (i, r) in requests.iter().enumerate() {
        if r.prompt.is_empty() {
            return Err(Error::Invalid(format!("request {i}: empty prompt")));
        }
        if let Some(bad) = r.prompt.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::Invalid(format!(
                "request {i}: prompt token id {bad} is outside the vocabulary (size {vocab})"
            )));
        }
    }
    if let Some(k) = cfg.stop_sequences.iter().position(Vec::is_empty) {
        return Err(Error::Invalid(format!("stop_sequences[{k}] is empty")));
    }
    Ok(())
}

struct Tally {
    finished_rows: usize,
    total_rows: usize,
    generated_tokens: usize,
}

/// A running row.
struct Row {
    /// Index of the request within the chunk.
    req: usize,
    rng: RowRng,
    /// Left-padding slots in front of this row's prompt.
    pad: usize,
    /// Rotary position of the next token fed to the model.
    next_pos: u32,
    adapter: bool,
}

/// Distinct `(prompt, adapter)` pairs in first-seen order, and each request's index among them.
fn distinct_prompts(requests: &[GenRequest]) -> (Vec<usize>, Vec<usize>) {
    let mut seen: HashMap<(&[u32], bool), usize> = HashMap::new();
    let mut firsts = Vec::new();
    let map = requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            *seen.entry((&r.prompt, r.adapter)).or_insert_with(|| {
                firsts.push(i);
                firsts.len() - 1
            })
        })
        .collect();
    (firsts, map)
}

fn adapter_use(flags: Vec<bool>) -> AdapterUse {
    if flags.iter().all(|&f| f) {
        AdapterUse::On
    } else if flags.iter().all(|&f| !f) {
        AdapterUse::Off
    } else {
        AdapterUse::Rows(flags)
    }
}

/// Runs the prompts of `reqs` (distinct ones) through the model with left padding, appending to
/// `cache`, whose first `cached` slots (valid for every row) precede the prompts: the prompts'
/// rotary positions start at `cached`. Returns the last-position logits `[U, vocab]` and each
/// prompt's padding.
fn prefill(
    model: &Model,
    reqs: &[&GenRequest],
    cached: usize,
    cache: &mut KvCache,
    chunk: usize,
) -> Result<(Tensor, Vec<usize>)> {
    let len = reqs.iter().map(|r| r.prompt.len()).max().unwrap_or(0);
    let pads: Vec<usize> = reqs.iter().map(|r| len - r.prompt.len()).collect();
    let chunk = if chunk == 0 { len } else { chunk };
    let adapter = adapter_use(reqs.iter().map(|r| r.adapter).collect());
    let device = model.device();
    let mut last = None;
    let mut start = 0;
    while start < len {
        let end = (start + chunk).min(len);
        let mut ids = Vec::with_capacity(reqs.len() * (end - start));
        let mut positions = Vec::with_capacity(reqs.len());
        let mut key_valid = Vec::with_capacity(reqs.len());
        for (r, &pad) in reqs.iter().zip(&pads) {
            ids.extend((start..end).map(|s| if s < pad { 0 } else { r.prompt[s - pad] }));
            positions.push(
                (start..end)
                    .map(|s| (cached + s.saturating_sub(pad)) as u32)
                    .collect::<Vec<_>>(),
            );
            key_valid.push(
                std::iter::repeat_n(true, cached)
                    .chain((0..end).map(|s| s >= pad))
                    .collect::<Vec<_>>(),
            );
        }
        let ids = Tensor::from_vec(ids, (reqs.len(), end - start), device)?;
        let batch = Batch::new(model, &key_valid, &positions, adapter.clone())?;
        let hidden = model.forward(&ids, &batch, Some(cache), Mode::Infer)?;
        if end == len {
            last = Some(hidden.narrow(1, end - start - 1, 1)?);
        }
        start = end;
    }
    let last = last.ok_or_else(|| Error::Invalid("prefill of an empty prompt".into()))?;
    let logits = model.logits(&last)?.squeeze(1)?;
    Ok((logits, pads))
}

/// [`prefill`] with a prefix cache. Prompts without a cached prefix are prefilled together
/// (left-padded); each prompt with one starts from the cached keys/values and feeds only the rest.
/// The rows are then assembled into one left-padded cache with room for `reserve` slots.
fn prefill_reusing(
    model: &Model,
    distinct: &[&GenRequest],
    cfg: &GenConfig,
    pc: &mut PrefixCache,
    reserve: usize,
) -> Result<(KvCache, Tensor, Vec<usize>)> {
    let hits: Vec<Option<(SeqKv, usize)>> = distinct
        .iter()
        .map(|r| pc.lookup(&r.prompt, r.adapter))
        .collect();
    if hits.iter().all(Option::is_none) {
        let mut cache = model.new_cache();
        cache.reserve(reserve);
        let (logits, pads) = prefill(model, distinct, 0, &mut cache, cfg.prefill_chunk)?;
        return Ok((cache, logits, pads));
    }
    let n = distinct.len();
    let mut seqs: Vec<Option<SeqKv>> = vec![None; n];
    let mut last: Vec<Option<Tensor>> = vec![None; n];
    let cold: Vec<usize> = (0..n).filter(|&u| hits[u].is_none()).collect();
    if !cold.is_empty() {
        let reqs: Vec<&GenRequest> = cold.iter().map(|&u| distinct[u]).collect();
        let mut cache = model.new_cache();
        let (logits, pads) = prefill(model, &reqs, 0, &mut cache, cfg.prefill_chunk)?;
        let width = cache.seq_len() as u32;
        for (k, (&u, &pad)) in cold.iter().zip(&pads).enumerate() {
            let slots: Vec<u32> = (pad as u32..width).collect();
            seqs[u] = Some(cache.extract_row(k, &slots)?);
            last[u] = Some(logits.get(k)?);
        }
    }
    for (u, hit) in hits.into_iter().enumerate() {
        let Some((kv, reuse)) = hit else { continue };
        let r = distinct[u];
        let mut cache = KvCache::from_prefixes(&[(&kv, reuse)], reuse, r.prompt.len())?;
        let rest = GenRequest {
            prompt: r.prompt[reuse..].to_vec(),
            seed: r.seed,
            adapter: r.adapter,
        };
        let (logits, _) = prefill(model, &[&rest], reuse, &mut cache, cfg.prefill_chunk)?;
        let slots: Vec<u32> = (0..r.prompt.len() as u32).collect();
        seqs[u] = Some(cache.extract_row(0, &slots)?);
        last[u] = Some(logits.get(0)?);
    }
    let internal = || Error::Invalid("internal: a prompt was not prefilled".into());
    let parts = seqs
        .iter()
        .map(|s| s.as_ref().map(|s| (s, s.len())))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(internal)?;
    let last = last
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(internal)?;
    let width = distinct.iter().map(|r| r.prompt.len()).max().unwrap_or(0);
    let cache = KvCache::from_prefixes(&parts, width, reserve)?;
    let pads = distinct.iter().map(|r| width - r.prompt.len()).collect();
    Ok((cache, Tensor::stack(&last, 0)?, pads))
}

/// Stores the rows that just finished (those not in `keep`) in the prefix cache: their valid
/// slots hold the prompt and every sampled token but the last, which was never fed.
fn store_finished(
    pc: &mut PrefixCache,
    cache: &KvCache,
    rows: &[Row],
    keep: &[usize],
    reqs: &[GenRequest],
    outs: &[GenOutput],
) -> Result<()> {
    let width = cache.seq_len();
    for (a, row) in rows.iter().enumerate() {
        if keep.contains(&a) {
            continue;
        }
        let (Some(req), Some(out)) = (reqs.get(row.req), outs.get(row.req)) else {
            continue;
        };
        let fed = out.tokens.len().saturating_sub(1);
        let tokens: Vec<u32> = req
            .prompt
            .iter()
            .chain(&out.tokens[..fed])
            .copied()
            .collect();
        let slots: Vec<u32> = (row.pad as u32..width as u32).collect();
        if slots.len() != tokens.len() {
            return Err(Error::Invalid(format!(
                "internal: row holds {} cached slots for {} fed tokens",
                slots.len(),
                tokens.len()
            )));
        }
        pc.insert(tokens, row.adapter, cache.extract_row(a, &slots)?);
    }
    Ok(())
}

/// New-token slots preallocated per row (KV cache and output vectors).
const RESERVE_NEW: usize = 1024;

fn run_chunk(
    model: &Model,
    reqs: &[GenRequest],
    cfg: &GenConfig,
    mut prefix: Option<&mut PrefixCache>,
    tally: &mut Tally,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Vec<GenOutput>> {
    let cap = cfg.max_new_tokens.min(RESERVE_NEW);
    let mut outs: Vec<GenOutput> = reqs
        .iter()
        .map(|_| GenOutput {
            tokens: Vec::with_capacity(cap),
            logprobs: Vec::with_capacity(cap),
            processed_logprobs: Vec::with_capacity(cap),
            finish: FinishReason::Length,
        })
        .collect();
    if cfg.max_new_tokens == 0 || reqs.is_empty() {
        tally.finished_rows += reqs.len();
        return Ok(outs);
    }
    let (firsts, map) = distinct_prompts(reqs);
    let distinct: Vec<&GenRequest> = firsts.iter().map(|&i| &reqs[i]).collect();
    let prompt_slots = distinct.iter().map(|r| r.prompt.len()).max().unwrap_or(0);
    // Room for the whole generation up front (no reallocation), within reason: beyond
    // `RESERVE_NEW` new tokens the cache grows by doubling.
    let reserve = prompt_slots + cfg.max_new_tokens.min(RESERVE_NEW);
    let mut off = PrefixCache::new(0);
    let pc = prefix.as_deref_mut().unwrap_or(&mut off);
    let (mut cache, first_logits, pads) = prefill_reusing(model, &distinct, cfg, pc, reserve)?;
    let identity = map.iter().enumerate().all(|(i, &u)| i == u);
    if !identity {
        let idx: Vec<u32> = map.iter().map(|&u| u as u32).collect();
        cache.retain_rows(&idx)?;
    }
    let mut rows: Vec<Row> = reqs
        .iter()
        .zip(&map)
        .enumerate()
        .map(|(i, (r, &u))| Row {
            req: i,
            rng: RowRng::new(r.seed),
            pad: pads[u],
            next_pos: r.prompt.len() as u32,
            adapter: r.adapter,
        })
        .collect();
    // Logits of each running row: initially the prefill row of its prompt.
    let mut logits = first_logits.to_vec2::<f32>()?;
    let mut logit_row: Vec<usize> = map.clone();
    let mut step = 0;
    loop {
        let sampled = sample_rows(&mut rows, &logits, &logit_row, &cfg.sampling)?;
        let mut keep = Vec::with_capacity(rows.len());
        for (a, (row, s)) in rows.iter().zip(sampled).enumerate() {
            let out = &mut outs[row.req];
            out.tokens.push(s.id);
            out.logprobs.push(s.logprob);
            out.processed_logprobs.push(s.processed_logprob);
            tally.generated_tokens += 1;
            if is_stop(&out.tokens, cfg) {
                out.finish = FinishReason::Stop;
            } else if out.tokens.len() >= cfg.max_new_tokens {
                out.finish = FinishReason::Length;
            } else {
                keep.push(a);
            }
        }
        tally.finished_rows += rows.len() - keep.len();
        if let Some(pc) = prefix.as_deref_mut().filter(|pc| pc.enabled()) {
            store_finished(pc, &cache, &rows, &keep, reqs, &outs)?;
        }
        on_progress(Progress {
            step,
            active_rows: keep.len(),
            finished_rows: tally.finished_rows,
            total_rows: tally.total_rows,
            generated_tokens: tally.generated_tokens,
        });
        if keep.is_empty() {
            break;
        }
        if keep.len() < rows.len() {
            let idx: Vec<u32> = keep.iter().map(|&a| a as u32).collect();
            cache.retain_rows(&idx)?;
            let mut old: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
            rows = keep.iter().filter_map(|&a| old[a].take()).collect();
        }
        logits = decode_step(model, &rows, &outs, &mut cache)?;
        logit_row = (0..rows.len()).collect();
        for row in &mut rows {
            row.next_pos += 1;
        }
        step += 1;
    }
    Ok(outs)
}

/// One token for each running row from its logits row (`logits[logit_row[a]]` for row `a`), the
/// rows in parallel on rayon's pool: every pass over a row's vocabulary (max, exponentials,
/// top-k/top-p) is host work that a GPU's decode step waits for (Qwen2.5's 152,064 logits:
/// about a millisecond per row), and each row draws from its own stream, so the tokens do not
/// depend on how the rows are split across threads.
fn sample_rows(
    rows: &mut [Row],
    logits: &[Vec<f32>],
    logit_row: &[usize],
    params: &SamplingParams,
) -> Result<Vec<super::Sampled>> {
    use rayon::prelude::*;
    rows.par_iter_mut()
        .zip(logit_row.par_iter())
        .map(|(row, &lr)| {
            let lr = logits
                .get(lr)
                .ok_or_else(|| Error::Invalid("internal: logits row out of range".into()))?;
            sample(lr, params, &mut row.rng)
        })
        .collect()
}

/// Feeds each running row's last token; returns the next-token logits `[rows, vocab]`.
fn decode_step(
    model: &Model,
    rows: &[Row],
    outs: &[GenOutput],
    cache: &mut KvCache,
) -> Result<Vec<Vec<f32>>> {
    let slots = cache.seq_len() + 1;
    let mut ids = Vec::with_capacity(rows.len());
    for row in rows {
        let last = outs[row.req]
            .tokens
            .last()
            .copied()
            .ok_or_else(|| Error::Invalid("internal: running row without a token".into()))?;
        ids.push(last);
    }
    let key_valid: Vec<Vec<bool>> = rows
        .iter()
        .map(|r| (0..slots).map(|s| s >= r.pad).collect())
        .collect();
    let positions: Vec<Vec<u32>> = rows.iter().map(|r| vec![r.next_pos]).collect();
    let adapter = adapter_use(rows.iter().map(|r| r.adapter).collect());
    let batch = Batch::new(model, &key_valid, &positions, adapter)?;
    let ids = Tensor::from_vec(ids, (rows.len(), 1), model.device())?;
    let hidden = model.forward(&ids, &batch, Some(cache), Mode::Infer)?;
    let logits = model.logits(&hidden)?.squeeze(D::Minus2)?;
    Ok(logits.to_vec2::<f32>()?)
}

fn is_stop(tokens: &[u32], cfg: &GenConfig) -> bool {
    tokens.last().is_some_and(|t| cfg.stop_ids.contains(t))
        || cfg.stop_sequences.iter().any(|s| tokens.ends_with(s))
}
