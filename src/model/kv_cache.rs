//! Key/value cache kept outside the model, one entry per layer, `[B, Hkv, S, D]` each.
//!
//! Storage is preallocated: each layer holds `[B, Hkv, capacity, D]` buffers of which the first
//! `len` slots are valid, new keys/values are copied in place and the attention reads a narrowed
//! view, so a decode step costs O(new tokens), not a copy of the whole cache. Capacity grows by
//! doubling when needed; [`KvCache::reserve`] sizes it up front.
//!
//! Gradients: keys/values that carry a gradient graph (a `Mode::Train` forward) are concatenated
//! instead of copied in place, so backpropagation through a cached forward still works; the
//! in-place path is used for detached inputs (`Mode::Infer` detaches them).

use candle_core::{Tensor, D};

use super::error::{Error, Result};

/// One layer's buffers; slots `[0, len)` of dimension 2 are valid.
#[derive(Debug)]
struct LayerKv {
    k: Tensor,
    v: Tensor,
    len: usize,
    /// The buffers may be shared with another cache (a clone): never write them in place.
    /// Sound because a cache only ever writes slots at or beyond its own `len`, which no view of
    /// a clone covers; the flagged copy reallocates on its next append.
    shared: bool,
}

impl LayerKv {
    fn capacity(&self) -> usize {
        self.k.dim(2).unwrap_or(0)
    }

    fn valid(&self) -> Result<(Tensor, Tensor)> {
        Ok((
            self.k.narrow(2, 0, self.len)?,
            self.v.narrow(2, 0, self.len)?,
        ))
    }
}

/// The keys/values of one sequence, copied out of a batch cache: per layer `([1, Hkv, len, D],
/// [1, Hkv, len, D])`, independent of the batch buffers (see [`KvCache::extract_row`]).
#[derive(Debug, Clone)]
pub struct SeqKv {
    layers: Vec<(Tensor, Tensor)>,
    len: usize,
}

impl SeqKv {
    /// Number of cached token slots.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Memory held by the keys and values, in bytes.
    pub fn bytes(&self) -> usize {
        self.layers
            .iter()
            .map(|(k, v)| (k.elem_count() + v.elem_count()) * k.dtype().size_in_bytes())
            .sum()
    }
}

#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<Option<LayerKv>>,
    /// Slots to allocate on the first append (0 = exactly what is appended).
    reserve: usize,
}

impl Clone for KvCache {
    /// Shares the buffers; the clone copies them before its first write (see `LayerKv::shared`).
    fn clone(&self) -> Self {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                l.as_ref().map(|l| LayerKv {
                    k: l.k.clone(),
                    v: l.v.clone(),
                    len: l.len,
                    shared: true,
                })
            })
            .collect();
        KvCache {
            layers,
            reserve: self.reserve,
        }
    }
}

/// `[x ; zeros]` along dim 2 so that the result has `cap` slots (a fresh, exclusively owned
/// buffer).
fn with_room(parts: &[&Tensor], cap: usize) -> Result<Tensor> {
    let first = parts
        .first()
        .ok_or_else(|| Error::Invalid("KV cache: nothing to store".into()))?;
    let (b, h, _, d) = first.dims4()?;
    let used: usize = parts
        .iter()
        .map(|t| t.dim(2))
        .sum::<candle_core::Result<_>>()?;
    let mut all: Vec<Tensor> = parts.iter().map(|t| (*t).clone()).collect();
    if cap > used {
        all.push(Tensor::zeros(
            (b, h, cap - used, d),
            first.dtype(),
            first.device(),
        )?);
    }
    Ok(Tensor::cat(&all, 2)?.contiguous()?)
}

impl KvCache {
    pub fn new(num_layers: usize) -> Self {
        KvCache {
            layers: (0..num_layers).map(|_| None).collect(),
            reserve: 0,
        }
    }

    /// Preallocates room for `slots` key slots in total (prompt + new tokens) at the next
    /// allocation, so that generation never reallocates.
    pub fn reserve(&mut self, slots: usize) {
        self.reserve = slots;
    }

    /// Number of cached key slots (0 when empty).
    pub fn seq_len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .map_or(0, |l| l.len)
    }

    /// Appends this step's keys/values for `layer` and returns the full `(k, v)` (views of the
    /// first `seq_len` slots).
    pub fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let reserve = self.reserve;
        let slot = self
            .layers
            .get_mut(layer)
            .ok_or_else(|| Error::Invalid(format!("KV cache has no layer {layer}")))?;
        let t = k.dim(D::Minus2)?;
        let tracked = k.track_op() || v.track_op();
        let next = match slot.take() {
            None if tracked => LayerKv {
                k: k.clone(),
                v: v.clone(),
                len: t,
                shared: true,
            },
            None => LayerKv {
                k: with_room(&[k], reserve.max(t))?,
                v: with_room(&[v], reserve.max(t))?,
                len: t,
                // With no spare room the buffers may be the caller's tensors.
                shared: reserve <= t,
            },
            Some(prev) => {
                let len = prev.len + t;
                if tracked {
                    // Differentiable path: a fresh concatenation, never written in place.
                    let (pk, pv) = prev.valid()?;
                    LayerKv {
                        k: Tensor::cat(&[&pk, k], D::Minus2)?,
                        v: Tensor::cat(&[&pv, v], D::Minus2)?,
                        len,
                        shared: true,
                    }
                } else if len <= prev.capacity()
                    && !prev.shared
                    && prev.k.is_contiguous()
                    && prev.v.is_contiguous()
                {
                    prev.k.slice_set(&k.contiguous()?, 2, prev.len)?;
                    prev.v.slice_set(&v.contiguous()?, 2, prev.len)?;
                    LayerKv { len, ..prev }
                } else {
                    let cap = len.max(2 * prev.capacity()).max(reserve);
                    let (pk, pv) = prev.valid()?;
                    LayerKv {
                        k: with_room(&[&pk, &k.detach()], cap)?,
                        v: with_room(&[&pv, &v.detach()], cap)?,
                        len,
                        // Part of a gradient graph when the old slots were.
                        shared: pk.track_op() || pv.track_op(),
                    }
                }
            }
        };
        let out = next.valid()?;
        *slot = Some(next);
        Ok(out)
    }

    /// Repeats every row `n` times (row-major: row 0 ×n, row 1 ×n, …): a prompt prefilled once is
    /// shared by the `G` samples of a group.
    pub fn repeat_rows(&self, n: usize) -> Result<KvCache> {
        let b = self
            .layers
            .iter()
            .flatten()
            .next()
            .map_or(Ok(0), |l| l.k.dim(0))?;
        let idx: Vec<u32> = (0..b as u32)
            .flat_map(|r| std::iter::repeat_n(r, n))
            .collect();
        self.select_rows(&idx)
    }

    /// Keeps only the given rows, in the given order; an index may repeat (e.g. drop finished
    /// sequences from a running batch, or share a prefilled prompt between several rows).
    pub fn select_rows(&self, rows: &[u32]) -> Result<KvCache> {
        let mut out = self.clone();
        out.retain_rows(rows)?;
        Ok(out)
    }

    /// [`KvCache::select_rows`] in place, one layer at a time: each layer's old buffers are freed
    /// (unless a clone still holds them) as soon as its gather exists, so dropping finished rows
    /// peaks at the cache plus one layer's gather instead of two whole caches.
    ///
    /// The gather keeps the capacity but reads only the `len` valid slots of each kept row: one
    /// `index_select` over `(row, head, slot)` vectors of the flattened buffer, with one index
    /// (uploaded once, shared by all layers) whose slots beyond `len` all repeat the row's slot 0
    /// (those slots are never read before they are written). `index_select` needs a contiguous
    /// source on CUDA, so the valid slots cannot be narrowed out first.
    pub fn retain_rows(&mut self, rows: &[u32]) -> Result<()> {
        let Some(device) = self
            .layers
            .iter()
            .flatten()
            .next()
            .map(|l| l.k.device().clone())
        else {
            return Ok(());
        };
        let mut row_idx: Option<Tensor> = None;
        // (rows, heads, capacity, len) of the last flat index built.
        let mut flat: Option<((usize, usize, usize, usize), Tensor)> = None;
        for l in self.layers.iter_mut().flatten() {
            let (b, h, cap, _) = l.k.dims4()?;
            if let Some(&bad) = rows.iter().find(|&&r| r as usize >= b) {
                return Err(Error::Invalid(format!(
                    "KV cache row {bad} is out of range (the cache has {b} rows)"
                )));
            }
            let plain = !l.k.track_op()
                && !l.v.track_op()
                && l.k.is_contiguous()
                && l.v.is_contiguous()
                && l.v.dims()[..3] == l.k.dims()[..3]
                && l.len < cap;
            let geometry = (b, h, cap, l.len);
            let idx = match &flat {
                Some((g, idx)) if plain && *g == geometry => Some(idx.clone()),
                _ if plain => valid_slot_index(rows, h, cap, l.len)
                    .map(|ids| Tensor::from_vec(ids, rows.len() * h * cap, &device))
                    .transpose()?,
                _ => None,
            };
            if let Some(idx) = idx {
                l.k = gather_vectors(&l.k, &idx, rows.len())?;
                l.v = gather_vectors(&l.v, &idx, rows.len())?;
                flat = Some((geometry, idx));
            } else {
                let idx = match &row_idx {
                    Some(i) => i.clone(),
                    None => Tensor::from_slice(rows, rows.len(), &device)?,
                };
                l.k = l.k.index_select(&idx, 0)?;
                l.v = l.v.index_select(&idx, 0)?;
                row_idx = Some(idx);
            }
            // A fresh gather, unless it carries a gradient graph.
            l.shared = l.k.track_op() || l.v.track_op();
        }
        Ok(())
    }

    /// Copies the given slots (in order) of `row` out of the cache: the valid slots of one
    /// sequence, e.g. everything after its left padding (possibly with a gap).
    ///
    /// Slots that form a few ascending runs (what the engine passes) are copied as narrowed views
    /// with candle's 2-D copy, which uploads nothing to a GPU; other lists go through one
    /// `index_select` index shared by all layers.
    pub fn extract_row(&self, row: usize, slots: &[u32]) -> Result<SeqKv> {
        if slots.is_empty() {
            return Err(Error::Invalid("KV cache: no slots to extract".into()));
        }
        let runs = slot_runs(slots);
        let mut idx: Option<Tensor> = None;
        let mut layers = Vec::with_capacity(self.layers.len());
        for (i, l) in self.layers.iter().enumerate() {
            let l = l
                .as_ref()
                .ok_or_else(|| Error::Invalid(format!("KV cache layer {i} is empty")))?;
            if let Some(&bad) = slots.iter().find(|&&s| s as usize >= l.len) {
                return Err(Error::Invalid(format!(
                    "KV cache slot {bad} is beyond the {} cached slots",
                    l.len
                )));
            }
            let (k, v) = if runs.len() <= MAX_COPY_RUNS {
                (copy_runs(&l.k, row, &runs)?, copy_runs(&l.v, row, &runs)?)
            } else {
                let ids = match &idx {
                    Some(i) => i.clone(),
                    None => Tensor::from_slice(slots, slots.len(), l.k.device())?,
                };
                let k = l.k.narrow(0, row, 1)?.index_select(&ids, 2)?;
                let v = l.v.narrow(0, row, 1)?.index_select(&ids, 2)?;
                idx = Some(ids);
                (k, v)
            };
            layers.push((k.detach(), v.detach()));
        }
        Ok(SeqKv {
            layers,
            len: slots.len(),
        })
    }

    /// A cache of `width` slots whose row `i` holds the first `take` slots of `parts[i]`,
    /// right-aligned (left padding of zeros, which the caller masks), with room for `reserve`
    /// slots in total. A `take` of 0 gives a row of padding only.
    pub fn from_prefixes(
        parts: &[(&SeqKv, usize)],
        width: usize,
        reserve: usize,
    ) -> Result<KvCache> {
        let (first, _) = parts
            .first()
            .ok_or_else(|| Error::Invalid("KV cache: no sequences to assemble".into()))?;
        let n_layers = first.layers.len();
        if parts
            .iter()
            .any(|(s, take)| s.layers.len() != n_layers || *take > s.len || *take > width)
        {
            return Err(Error::Invalid(
                "KV cache: sequences to assemble differ in layers or are shorter than requested"
                    .into(),
            ));
        }
        let cap = reserve.max(width);
        let mut layers = Vec::with_capacity(n_layers);
        for layer in 0..n_layers {
            let (k0, v0) = &first.layers[layer];
            let (_, h, _, dk) = k0.dims4()?;
            let (_, hv, _, dv) = v0.dims4()?;
            // One zeroed buffer per layer; each row's prefix is copied once, into place.
            let k = Tensor::zeros((parts.len(), h, cap, dk), k0.dtype(), k0.device())?;
            let v = Tensor::zeros((parts.len(), hv, cap, dv), v0.dtype(), v0.device())?;
            for (i, (seq, take)) in parts.iter().enumerate() {
                if *take == 0 {
                    continue;
                }
                let (sk, sv) = &seq.layers[layer];
                let at = width - take;
                k.narrow(0, i, 1)?
                    .slice_set(&sk.narrow(2, 0, *take)?.contiguous()?, 2, at)?;
                v.narrow(0, i, 1)?
                    .slice_set(&sv.narrow(2, 0, *take)?.contiguous()?, 2, at)?;
            }
            layers.push(Some(LayerKv {
                k,
                v,
                len: width,
                shared: false,
            }));
        }
        Ok(KvCache {
            layers,
            reserve: cap,
        })
    }
}

/// Above this many runs of consecutive slots, [`KvCache::extract_row`] gathers by index.
const MAX_COPY_RUNS: usize = 8;

/// `slots` as maximal runs `(start, len)` of consecutive ascending slots.
fn slot_runs(slots: &[u32]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &s in slots {
        let s = s as usize;
        match runs.last_mut() {
            Some((start, len)) if *start + *len == s => *len += 1,
            _ => runs.push((s, 1)),
        }
    }
    runs
}

/// A fresh `[1, H, Σ len, D]` copy of the slot runs of `row` of a `[B, H, S, D]` buffer. The
/// runs are narrowed views concatenated along the slot axis, which candle copies with its 2-D
/// copy (a strided `contiguous()` would upload the layout to a GPU on every call); a single run
/// is split in two so that `cat` copies it too instead of returning the view.
fn copy_runs(t: &Tensor, row: usize, runs: &[(usize, usize)]) -> Result<Tensor> {
    let r = t.narrow(0, row, 1)?;
    let mut views = Vec::with_capacity(runs.len().max(2));
    match runs {
        [(start, 1)] => return Ok(r.narrow(2, *start, 1)?.force_contiguous()?),
        [(start, len)] => {
            let half = len / 2;
            views.push(r.narrow(2, *start, half)?);
            views.push(r.narrow(2, start + half, len - half)?);
        }
        _ => {
            for &(start, len) in runs {
                views.push(r.narrow(2, start, len)?);
            }
        }
    }
    Ok(Tensor::cat(&views, 2)?)
}

/// Flat source index of every `(kept row, head, slot)` of a `[B, H, cap, D]` buffer viewed as
/// `[B·H·cap, D]`: slot `s < len` reads itself, every later slot reads the same row's slot 0.
/// `None` when it does not fit `u32`.
fn valid_slot_index(rows: &[u32], h: usize, cap: usize, len: usize) -> Option<Vec<u32>> {
    let mut ids = Vec::with_capacity(rows.len() * h * cap);
    for &r in rows {
        for g in 0..h {
            let base = u32::try_from((r as usize * h + g) * cap).ok()?;
            let last = u32::try_from(cap - 1).ok()?;
            base.checked_add(last)?;
            ids.extend((0..len as u32).map(|s| base + s));
            ids.extend(std::iter::repeat_n(base, cap - len));
        }
    }
    Some(ids)
}

/// Rows `[B', H, cap, D]` of `t: [B, H, cap, D]` (contiguous) gathered with `idx` from
/// [`valid_slot_index`].
fn gather_vectors(t: &Tensor, idx: &Tensor, rows: usize) -> Result<Tensor> {
    let (b, h, cap, d) = t.dims4()?;
    Ok(t.reshape((b * h * cap, d))?
        .index_select(idx, 0)?
        .reshape((rows, h, cap, d))?)
}
