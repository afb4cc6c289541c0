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
        let idx = Tensor::from_slice(rows, rows.len(), &device)?;
        for l in self.layers.iter_mut().flatten() {
            l.k = l.k.index_select(&idx, 0)?;
            l.v = l.v.index_select(&idx, 0)?;
            // A fresh gather, unless it carries a gradient graph.
            l.shared = l.k.track_op() || l.v.track_op();
        }
        Ok(())
    }

    /// Copies the given slots (in order) of `row` out of the cache: the valid slots of one
    /// sequence, e.g. everything after its left padding.
    pub fn extract_row(&self, row: usize, slots: &[u32]) -> Result<SeqKv> {
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
            let idx = Tensor::from_slice(slots, slots.len(), l.k.device())?;
            let k = l.k.narrow(0, row, 1)?.index_select(&idx, 2)?;
            let v = l.v.narrow(0, row, 1)?.index_select(&idx, 2)?;
            layers.push((k.detach(), v.detach()));
        }
        Ok(SeqKv {
            layers,
            len: slots.len(),
        })
    }

    /// A cache of `width` slots whose row `i` holds the first `take` slots of `parts[i]`,
    /// right-aligned (left padding of zeros, which the caller masks), with room for `reserve`
    /// slots in total.
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
            let mut ks = Vec::with_capacity(parts.len());
            let mut vs = Vec::with_capacity(parts.len());
            for (seq, take) in parts {
                let (k, v) = &seq.layers[layer];
                ks.push(left_pad(&k.narrow(2, 0, *take)?, width)?);
                vs.push(left_pad(&v.narrow(2, 0, *take)?, width)?);
            }
            let k = Tensor::cat(&ks, 0)?;
            let v = Tensor::cat(&vs, 0)?;
            layers.push(Some(LayerKv {
                k: with_room(&[&k], cap)?,
                v: with_room(&[&v], cap)?,
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

/// `[zeros ; x]` along dim 2 so that the result has `width` slots.
fn left_pad(x: &Tensor, width: usize) -> Result<Tensor> {
    let (b, h, t, d) = x.dims4()?;
    if t >= width {
        return Ok(x.clone());
    }
    let zeros = Tensor::zeros((b, h, width - t, d), x.dtype(), x.device())?;
    Ok(Tensor::cat(&[&zeros, x], 2)?)
}
