//! The batched generation loop.
//!
//! One call runs many rows at once: the distinct prompts are prefilled once (left-padded, in
//! chunks of positions), the cache is then expanded so that the `G` samples of a prompt share its
//! prefill, and every decode step feeds one token per running row. Rows that stop are dropped
//! from the running batch (`KvCache::retain_rows`), so they cost nothing afterwards and cannot
//! influence the others. Each row samples from its own seeded stream (see [`super::sampler`]).

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::{CpuStorage, DType, Device, Storage, Tensor, D};
use half::slice::HalfFloatSliceExt;

use super::device_pick::{greedy_on_device, sample_on_device, use_device_pick};
use super::error::{Error, Result};
use super::prefix_cache::PrefixCache;
use super::sampler::{sample_with, RowRng, SampleScratch, SamplingParams};
use crate::model::{AdapterSnapshot, AdapterUse, Batch, KvCache, Mode, Model, SeqKv};

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
    /// Greedy decoding, and sampling without top-k/top-p: pick each row's token on the model's
    /// device and download a few numbers per row instead of its logits (see
    /// [`super::device_pick`]). `None` = on a GPU; truncated sampling always runs on the host.
    pub pick_on_device: Option<bool>,
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
            pick_on_device: None,
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
    // The adapters as compute-dtype constants for the whole call (no per-step casts); none when
    // no request uses them (the base model as reference or simulator).
    let adapters = if requests.iter().any(|r| r.adapter) {
        model.adapter_snapshot()?
    } else {
        None
    };
    let m = Infer { model, adapters };
    let mut out = Vec::with_capacity(requests.len());
    for part in requests.chunks(chunk) {
        out.extend(run_chunk(
            &m,
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
            return Err(Error::Invalid(format!(
                "request {i}: empty prompt (generation needs at least one prompt token)"
            )));
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
    /// The sampler's buffers, reused at every step.
    scratch: SampleScratch,
    /// This row's logits widened to f32 (half-precision models), reused at every step.
    widened: Vec<f32>,
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

/// The model with the adapter snapshot of one `generate` call.
struct Infer<'a> {
    model: &'a Model,
    adapters: Option<Arc<AdapterSnapshot>>,
}

impl Infer<'_> {
    /// The geometry of one forward of this call.
    fn batch(
        &self,
        key_valid: &[Vec<bool>],
        positions: &[Vec<u32>],
        adapter: AdapterUse,
    ) -> Result<Batch> {
        Ok(Batch::new(self.model, key_valid, positions, adapter)?
            .with_adapters(self.adapters.clone()))
    }
}

/// One row of a prefill: the tokens to feed, after `cached` slots of its own already in the cache.
struct Feed<'a> {
    tokens: &'a [u32],
    cached: usize,
    adapter: bool,
}

impl<'a> Feed<'a> {
    /// `r`'s prompt after its first `cached` tokens.
    fn from(r: &'a GenRequest, cached: usize) -> Self {
        Feed {
            tokens: &r.prompt[cached..],
            cached,
            adapter: r.adapter,
        }
    }
}

/// Feeds every row's tokens, left-padded to the longest, after the `width` slots already in
/// `cache`, in forwards of at most `chunk` positions. Row `i` owns the last `cached` of those
/// `width` slots (the others are padding, masked like the left padding of the fed part, so rows
/// with different cached lengths share the forward with a gap of padding in between); its
/// tokens' rotary positions start at `cached`. Returns the final hidden state of each row's last
/// token `[rows, 1, hidden]` and each row's padding within the fed part.
fn prefill(
    m: &Infer,
    rows: &[Feed],
    width: usize,
    cache: &mut KvCache,
    chunk: usize,
) -> Result<(Tensor, Vec<usize>)> {
    let len = rows.iter().map(|r| r.tokens.len()).max().unwrap_or(0);
    let pads: Vec<usize> = rows.iter().map(|r| len - r.tokens.len()).collect();
    let chunk = if chunk == 0 { len } else { chunk };
    let adapter = adapter_use(rows.iter().map(|r| r.adapter).collect());
    let model = m.model;
    let device = model.device();
    let mut last = None;
    let mut start = 0;
    while start < len {
        let end = (start + chunk).min(len);
        let mut ids = Vec::with_capacity(rows.len() * (end - start));
        let mut positions = Vec::with_capacity(rows.len());
        let mut key_valid = Vec::with_capacity(rows.len());
        for (r, &pad) in rows.iter().zip(&pads) {
            ids.extend((start..end).map(|s| if s < pad { 0 } else { r.tokens[s - pad] }));
            positions.push(
                (start..end)
                    .map(|s| (r.cached + s.saturating_sub(pad)) as u32)
                    .collect::<Vec<_>>(),
            );
            let own = width.saturating_sub(r.cached);
            key_valid.push(
                (0..width)
                    .map(|s| s >= own)
                    .chain((0..end).map(|s| s >= pad))
                    .collect::<Vec<_>>(),
            );
        }
        let ids = Tensor::from_vec(ids, (rows.len(), end - start), device)?;
        let batch = m.batch(&key_valid, &positions, adapter.clone())?;
        let hidden = model.forward(&ids, &batch, Some(cache), Mode::Infer)?;
        if end == len {
            last = Some(hidden.narrow(1, end - start - 1, 1)?);
        }
        start = end;
    }
    let last = last.ok_or_else(|| Error::Invalid("prefill of an empty prompt".into()))?;
    Ok((last, pads))
}

/// The prefilled prompts of a chunk: their left-padded cache, the next-token logits, and where
/// each prompt's logits row is.
struct Prefilled {
    cache: KvCache,
    /// `[n, vocab]` in the model's dtype ([`Model::logits_raw`]).
    logits: Tensor,
    /// Per distinct prompt: its row of `logits`.
    logit_row: Vec<usize>,
    /// Per distinct prompt: left-padding slots in `cache`.
    pads: Vec<usize>,
}

/// Prefills the distinct prompts into one left-padded cache with room for `reserve` slots,
/// using the prefix cache: prompts without a cached prefix are prefilled together (left-padded),
/// and the prompts with one together too (in more than one batch only when their rests differ
/// a lot, see [`hit_batches`]), each starting from its cached keys/values and feeding only the
/// rest. The rows are then assembled into one left-padded cache.
fn prefill_reusing(
    m: &Infer,
    distinct: &[&GenRequest],
    cfg: &GenConfig,
    pc: &mut PrefixCache,
    reserve: usize,
) -> Result<Prefilled> {
    let hits: Vec<Option<(SeqKv, usize)>> = distinct
        .iter()
        .map(|r| pc.lookup(&r.prompt, r.adapter))
        .collect();
    let model = m.model;
    if hits.iter().all(Option::is_none) {
        let mut cache = model.new_cache();
        cache.reserve(reserve);
        let rows: Vec<Feed> = distinct.iter().map(|r| Feed::from(r, 0)).collect();
        let (last, pads) = prefill(m, &rows, 0, &mut cache, cfg.prefill_chunk)?;
        return Ok(Prefilled {
            cache,
            logits: model.logits_raw(&last)?.squeeze(1)?,
            logit_row: (0..distinct.len()).collect(),
            pads,
        });
    }
    let n = distinct.len();
    let mut seqs: Vec<Option<SeqKv>> = vec![None; n];
    let mut lasts = Vec::with_capacity(2);
    let mut logit_row = vec![0; n];
    let mut rows_done = 0;
    let cold: Vec<usize> = (0..n).filter(|&u| hits[u].is_none()).collect();
    if !cold.is_empty() {
        let rows: Vec<Feed> = cold.iter().map(|&u| Feed::from(distinct[u], 0)).collect();
        let mut cache = model.new_cache();
        cache.reserve(rows.iter().map(|r| r.tokens.len()).max().unwrap_or(0));
        let (last, pads) = prefill(m, &rows, 0, &mut cache, cfg.prefill_chunk)?;
        let width = cache.seq_len() as u32;
        for (k, (&u, &pad)) in cold.iter().zip(&pads).enumerate() {
            let slots: Vec<u32> = (pad as u32..width).collect();
            seqs[u] = Some(cache.extract_row(k, &slots)?);
            logit_row[u] = rows_done + k;
        }
        rows_done += cold.len();
        lasts.push(last);
    }
    // The prompts with a cached prefix in one batch (see `hit_batches` for the exception): each
    // row's reused slots right-aligned to the batch's longest reuse, then the rest of its
    // prompt left-padded to the longest rest.
    let warm: Vec<(usize, &SeqKv, usize)> = hits
        .iter()
        .enumerate()
        .filter_map(|(u, h)| h.as_ref().map(|(kv, reuse)| (u, kv, *reuse)))
        .collect();
    // The prefix cache leaves at least the last prompt token to feed (its logits are needed).
    if let Some(&(u, _, reuse)) = warm
        .iter()
        .find(|&&(u, _, reuse)| reuse == 0 || reuse >= distinct[u].prompt.len())
    {
        return Err(Error::Invalid(format!(
            "internal: prefix-cache hit reuses {reuse} of {} prompt tokens",
            distinct[u].prompt.len()
        )));
    }
    let rests: Vec<usize> = warm
        .iter()
        .map(|&(u, _, reuse)| distinct[u].prompt.len() - reuse)
        .collect();
    for batch in hit_batches(&rests) {
        let warm: Vec<(usize, &SeqKv, usize)> = batch.iter().map(|&i| warm[i]).collect();
        let parts: Vec<(&SeqKv, usize)> = warm.iter().map(|&(_, kv, r)| (kv, r)).collect();
        let rows: Vec<Feed> = warm
            .iter()
            .map(|&(u, _, r)| Feed::from(distinct[u], r))
            .collect();
        let width = warm.iter().map(|&(_, _, r)| r).max().unwrap_or(0);
        let rest = rows.iter().map(|r| r.tokens.len()).max().unwrap_or(0);
        let mut cache = KvCache::from_prefixes(&parts, width, width + rest)?;
        let (last, pads) = prefill(m, &rows, width, &mut cache, cfg.prefill_chunk)?;
        let total = cache.seq_len();
        for (k, (&(u, _, reuse), &pad)) in warm.iter().zip(&pads).enumerate() {
            let slots: Vec<u32> = (width - reuse..width)
                .chain(width + pad..total)
                .map(|s| s as u32)
                .collect();
            seqs[u] = Some(cache.extract_row(k, &slots)?);
            logit_row[u] = rows_done + k;
        }
        rows_done += warm.len();
        lasts.push(last);
    }
    let internal = || Error::Invalid("internal: a prompt was not prefilled".into());
    let parts = seqs
        .iter()
        .map(|s| s.as_ref().map(|s| (s, s.len())))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(internal)?;
    let width = distinct.iter().map(|r| r.prompt.len()).max().unwrap_or(0);
    let cache = KvCache::from_prefixes(&parts, width, reserve)?;
    let pads = distinct.iter().map(|r| width - r.prompt.len()).collect();
    let last = Tensor::cat(&lasts, 0)?;
    Ok(Prefilled {
        cache,
        logits: model.logits_raw(&last)?.squeeze(1)?,
        logit_row,
        pads,
    })
}

/// A batch of prompt rests may hold at most this many times its real tokens once padded to
/// its longest rest.
const MAX_PADDED_FACTOR: usize = 2;

/// Splits the prefix-cache hits (the lengths of their rests) into prefill batches: one batch,
/// unless padding every rest to the longest would more than double the tokens fed (say one long
/// rest among many short ones), which costs compute on any device; then the rests, longest
/// first, fill batches greedily within that bound.
fn hit_batches(rests: &[usize]) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..rests.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(rests[i]));
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut longest = 0;
    let mut real = 0;
    for i in order {
        let fits = batches
            .last()
            .is_some_and(|b| (b.len() + 1) * longest <= MAX_PADDED_FACTOR * (real + rests[i]));
        match batches.last_mut() {
            Some(b) if fits => {
                b.push(i);
                real += rests[i];
            }
            _ => {
                batches.push(vec![i]);
                longest = rests[i];
                real = rests[i];
            }
        }
    }
    // Request order within a batch.
    for b in &mut batches {
        b.sort_unstable();
    }
    batches
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
    m: &Infer,
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
    let Prefilled {
        mut cache,
        logits: first_logits,
        logit_row: first_rows,
        pads,
    } = prefill_reusing(m, &distinct, cfg, pc, reserve)?;
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
            scratch: SampleScratch::default(),
            widened: Vec::new(),
        })
        .collect();
    // Logits of each running row: initially the prefill row of its prompt.
    let mut logits = first_logits;
    let mut logit_row: Vec<usize> = map.iter().map(|&u| first_rows[u]).collect();
    let on_device = use_device_pick(
        cfg.pick_on_device,
        &cfg.sampling,
        m.model.config().vocab_size,
        m.model.device(),
    );
    let mut step = 0;
    loop {
        let sampled = if on_device && cfg.sampling.is_greedy() {
            greedy_on_device(&logits, &logit_row)?
        } else if on_device {
            let mut rngs: Vec<&mut RowRng> = rows.iter_mut().map(|r| &mut r.rng).collect();
            sample_on_device(&logits, &logit_row, cfg.sampling.temperature, &mut rngs)?
        } else {
            let host = HostLogits::download(&logits)?;
            sample_rows(&mut rows, &host, &logit_row, &cfg.sampling)?
        };
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
        logits = decode_step(m, &rows, &outs, &mut cache)?;
        logit_row = (0..rows.len()).collect();
        for row in &mut rows {
            row.next_pos += 1;
        }
        step += 1;
    }
    Ok(outs)
}

/// Next-token logits `[rows, vocab]` on the host, downloaded once as one flat buffer in the
/// model's dtype: a bf16 or f16 model's LM head outputs half-precision values, so widening them
/// per row on the host gives exactly the f32 logits (at half the transfer), and f32 rows are read
/// in place (no per-row copies).
struct HostLogits {
    t: Tensor,
    vocab: usize,
}

impl HostLogits {
    fn download(logits: &Tensor) -> Result<Self> {
        let (_, vocab) = logits.dims2()?;
        let logits = match logits.dtype() {
            DType::F32 | DType::BF16 | DType::F16 => logits.contiguous()?,
            _ => logits.to_dtype(DType::F32)?,
        };
        Ok(HostLogits {
            t: logits.to_device(&Device::Cpu)?,
            vocab,
        })
    }
}

/// The host buffer of [`HostLogits`], by dtype.
#[derive(Clone, Copy)]
enum Flat<'a> {
    F32(&'a [f32]),
    Bf16(&'a [half::bf16]),
    F16(&'a [half::f16]),
}

impl<'a> Flat<'a> {
    /// Row `i` as f32: in place for f32, else widened into `buf`.
    fn row<'b>(self, i: usize, vocab: usize, buf: &'b mut Vec<f32>) -> Option<&'b [f32]>
    where
        'a: 'b,
    {
        let range = i * vocab..(i + 1) * vocab;
        match self {
            Flat::F32(x) => x.get(range),
            Flat::Bf16(x) => {
                let src = x.get(range)?;
                buf.resize(vocab, 0.0);
                src.convert_to_f32_slice(buf);
                Some(buf)
            }
            Flat::F16(x) => {
                let src = x.get(range)?;
                buf.resize(vocab, 0.0);
                src.convert_to_f32_slice(buf);
                Some(buf)
            }
        }
    }
}

/// One token for each running row from its logits row (row `logit_row[a]` for row `a`), the
/// rows in parallel on rayon's pool: every pass over a row's vocabulary (max, exponentials,
/// top-k/top-p) is host work that a GPU's decode step waits for (Qwen2.5's 152,064 logits:
/// about a millisecond per row), and each row draws from its own stream, so the tokens do not
/// depend on how the rows are split across threads.
fn sample_rows(
    rows: &mut [Row],
    logits: &HostLogits,
    logit_row: &[usize],
    params: &SamplingParams,
) -> Result<Vec<super::Sampled>> {
    use rayon::prelude::*;
    let internal = |what: &str| Error::Invalid(format!("internal: {what}"));
    let (storage, layout) = logits.t.storage_and_layout();
    let (o1, o2) = layout
        .contiguous_offsets()
        .ok_or_else(|| internal("logits are not contiguous"))?;
    let flat = match &*storage {
        Storage::Cpu(CpuStorage::F32(x)) => Flat::F32(&x[o1..o2]),
        Storage::Cpu(CpuStorage::BF16(x)) => Flat::Bf16(&x[o1..o2]),
        Storage::Cpu(CpuStorage::F16(x)) => Flat::F16(&x[o1..o2]),
        _ => return Err(internal("logits are not f32/bf16/f16 host data")),
    };
    let vocab = logits.vocab;
    rows.par_iter_mut()
        .zip(logit_row.par_iter())
        .map(|(row, &lr)| {
            let Row {
                rng,
                scratch,
                widened,
                ..
            } = row;
            let x = flat
                .row(lr, vocab, widened)
                .ok_or_else(|| internal("logits row out of range"))?;
            sample_with(x, params, rng, scratch)
        })
        .collect()
}

/// Feeds each running row's last token; returns the next-token logits `[rows, vocab]` on the
/// model's device, in its dtype.
fn decode_step(m: &Infer, rows: &[Row], outs: &[GenOutput], cache: &mut KvCache) -> Result<Tensor> {
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
    let batch = m.batch(&key_valid, &positions, adapter)?;
    let model = m.model;
    let ids = Tensor::from_vec(ids, (rows.len(), 1), model.device())?;
    let hidden = model.forward(&ids, &batch, Some(cache), Mode::Infer)?;
    Ok(model.logits_raw(&hidden)?.squeeze(D::Minus2)?)
}

fn is_stop(tokens: &[u32], cfg: &GenConfig) -> bool {
    tokens.last().is_some_and(|t| cfg.stop_ids.contains(t))
        || cfg.stop_sequences.iter().any(|s| tokens.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::{hit_batches, Flat};

    /// Half-precision logits widened per row equal the device-side cast to f32, row by row.
    #[test]
    fn widened_rows_equal_the_f32_cast() {
        use candle_core::{DType, Device, Tensor};
        let (rows, vocab) = (3, 37);
        let v: Vec<f32> = (0..rows * vocab)
            .map(|i| ((i * 7919 % 1013) as f32 - 500.0) * 0.0173)
            .collect();
        let t = Tensor::from_vec(v, (rows, vocab), &Device::Cpu).unwrap();
        for dtype in [DType::BF16, DType::F16] {
            let half = t.to_dtype(dtype).unwrap();
            let want = half.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap();
            let mut buf = Vec::new();
            for (i, want) in want.iter().enumerate() {
                let got = match dtype {
                    DType::BF16 => {
                        let h = half.flatten_all().unwrap().to_vec1::<half::bf16>().unwrap();
                        Flat::Bf16(&h).row(i, vocab, &mut buf).map(<[f32]>::to_vec)
                    }
                    _ => {
                        let h = half.flatten_all().unwrap().to_vec1::<half::f16>().unwrap();
                        Flat::F16(&h).row(i, vocab, &mut buf).map(<[f32]>::to_vec)
                    }
                };
                assert_eq!(got.as_ref(), Some(want), "{dtype:?} row {i}");
            }
            if dtype == DType::BF16 {
                let h = half.flatten_all().unwrap().to_vec1::<half::bf16>().unwrap();
                assert!(
                    Flat::Bf16(&h).row(rows, vocab, &mut buf).is_none(),
                    "row past the end"
                );
            }
        }
    }

    #[test]
    fn hit_batches_bound_the_padding() {
        assert!(hit_batches(&[]).is_empty());
        assert_eq!(hit_batches(&[7]), vec![vec![0]]);
        // Padded to 40: 160 fed for 100 real tokens.
        assert_eq!(hit_batches(&[30, 40, 10, 20]), vec![vec![0, 1, 2, 3]]);
        // One long rest among short ones: 2 × 100 fed for 105 real fits, a third row does not;
        // the other short ones go together.
        assert_eq!(
            hit_batches(&[3, 100, 4, 3, 5]),
            vec![vec![1, 4], vec![0, 2, 3]]
        );
        // 2 × 10 fed for 11 real tokens fits; a third row of 1 would make 30 for 12.
        assert_eq!(hit_batches(&[1, 10, 1]), vec![vec![0, 1], vec![2]]);
    }
}
