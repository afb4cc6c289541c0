//! Per-forward batch geometry: attention bias, rotary tables for per-row positions, and which rows
//! see the adapter.

use std::sync::Arc;

use candle_core::Tensor;

use super::decoder::Model;
use super::error::{Error, Result};
use super::layers::Mode;
use super::lora::{AdapterSnapshot, LoraLinear, LoraTarget};

/// Finite "minus infinity": a fully masked row must not turn into NaN or a uniform distribution
/// over future keys (DESIGN.md §5), so every query always sees at least its own slot.
const MASKED: f32 = -1e9;

/// Which rows of a batch use the LoRA adapter.
#[derive(Debug, Clone, PartialEq)]
pub enum AdapterUse {
    /// Every row (the policy).
    On,
    /// No row (the frozen reference / base model).
    Off,
    /// Per row: `true` = adapter on.
    Rows(Vec<bool>),
}

/// Geometry of one forward call over `B` rows of `T` new tokens, attending to `S ≥ T` key slots
/// (`S - T` cached slots followed by the new ones). Rows share slot indices, so left padding keeps
/// every row's last token in the last slot.
#[derive(Debug, Clone)]
pub struct Batch {
    pub(crate) cos: Tensor,
    pub(crate) sin: Tensor,
    /// Additive attention bias `[B, 1, T, S]` in f32.
    pub(crate) mask: Tensor,
    /// The padding part of `mask` per key, `[B, S]` in f32 (0, or [`MASKED`] for a padding
    /// slot): with the causal rule and "a query always sees its own slot", it is `mask` again —
    /// the form [`crate::kernels::flash_attention`] takes.
    pub(crate) key_bias: Tensor,
    /// `[B, 1, 1]` 0/1 switch in the model's dtype, when the adapter is on for some rows only.
    pub(crate) rows: Option<Tensor>,
    pub(crate) use_adapter: bool,
    /// Run the adapters as constants (no graph through them): the value pass of a checkpointed
    /// layer.
    pub(crate) detach_adapters: bool,
    /// The adapters as constants in the compute dtype (inference forwards only).
    pub(crate) adapters: Option<Arc<AdapterSnapshot>>,
    pub(crate) b: usize,
    pub(crate) t: usize,
}

impl Batch {
    /// General constructor. `key_valid[b]` has `S` entries (false = padding slot); `positions[b]`
    /// has `T` entries, the rotary position of each new token.
    pub fn new(
        model: &Model,
        key_valid: &[Vec<bool>],
        positions: &[Vec<u32>],
        adapter: AdapterUse,
    ) -> Result<Self> {
        let b = positions.len();
        let t = positions.first().map_or(0, Vec::len);
        let s = key_valid.first().map_or(0, Vec::len);
        if b == 0 || t == 0 {
            return Err(Error::Invalid("empty batch".into()));
        }
        if key_valid.len() != b
            || positions.iter().any(|p| p.len() != t)
            || key_valid.iter().any(|k| k.len() != s)
        {
            return Err(Error::Invalid(
                "ragged batch: every row needs the same number of positions and key slots".into(),
            ));
        }
        if s < t {
            return Err(Error::Invalid(format!(
                "batch has {t} new tokens but only {s} key slots"
            )));
        }
        let offset = s - t;
        let mut mask = Vec::with_capacity(b * t * s);
        for keys in key_valid {
            for i in 0..t {
                let q = offset + i;
                mask.extend(keys.iter().enumerate().map(|(j, &ok)| {
                    if (ok && j <= q) || j == q {
                        0.0
                    } else {
                        MASKED
                    }
                }));
            }
        }
        let device = model.device();
        let mask = Tensor::from_vec(mask, (b, 1, t, s), device)?;
        let key_bias: Vec<f32> = key_valid
            .iter()
            .flatten()
            .map(|&ok| if ok { 0.0 } else { MASKED })
            .collect();
        let key_bias = Tensor::from_vec(key_bias, (b, s), device)?;
        let (cos, sin) = model.rotary().cos_sin(positions, model.dtype(), device)?;
        let (rows, use_adapter) = match adapter {
            AdapterUse::On => (None, true),
            AdapterUse::Off => (None, false),
            AdapterUse::Rows(r) => {
                if r.len() != b {
                    return Err(Error::Invalid(format!(
                        "adapter row switch has {} entries for {b} rows",
                        r.len()
                    )));
                }
                if r.iter().all(|&x| x) {
                    (None, true)
                } else if r.iter().all(|&x| !x) {
                    (None, false)
                } else {
                    let v: Vec<f32> = r.iter().map(|&x| if x { 1.0 } else { 0.0 }).collect();
                    (
                        // In the compute dtype (0/1 are exact): no cast per adapted linear.
                        Some(Tensor::from_vec(v, (b, 1, 1), device)?.to_dtype(model.dtype())?),
                        true,
                    )
                }
            }
        };
        Ok(Batch {
            cos,
            sin,
            mask,
            key_bias,
            rows,
            use_adapter,
            detach_adapters: false,
            adapters: None,
            b,
            t,
        })
    }

    /// Uses `snapshot` (from [`Model::adapter_snapshot`]) for the adapters of this batch's
    /// inference forwards ([`Mode::Infer`]); training forwards keep using the parameters.
    pub fn with_adapters(mut self, snapshot: Option<Arc<AdapterSnapshot>>) -> Self {
        self.adapters = snapshot;
        self
    }

    /// `l`'s output for `x` in this batch. In [`Mode::Infer`] ([`Model::forward`] then sets
    /// `detach_adapters`) the adapter enters as a constant, from the snapshot when there is one.
    pub(crate) fn linear(
        &self,
        l: &LoraLinear,
        target: LoraTarget,
        layer: usize,
        mode: Mode,
        x: &Tensor,
    ) -> Result<Tensor> {
        let infer = mode == Mode::Infer;
        let fixed = match (&self.adapters, infer) {
            (Some(s), true) => s.get(layer, target),
            _ => None,
        };
        l.forward_opt(
            x,
            self.rows.as_ref(),
            self.use_adapter,
            self.detach_adapters,
            fixed,
        )
    }

    /// A padded batch with no cache: `attention_mask[b][t]` is true for real tokens (left or right
    /// padding). Positions count the real tokens before each one, as transformers does.
    pub fn padded(
        model: &Model,
        attention_mask: &[Vec<bool>],
        adapter: AdapterUse,
    ) -> Result<Self> {
        let positions: Vec<Vec<u32>> = attention_mask
            .iter()
            .map(|row| {
                let mut n = 0u32;
                row.iter()
                    .map(|&real| {
                        if real {
                            n += 1;
                            n - 1
                        } else {
                            0
                        }
                    })
                    .collect()
            })
            .collect();
        Batch::new(model, attention_mask, &positions, adapter)
    }

    /// An unpadded batch of `b` rows of `t` tokens starting at position 0.
    pub fn dense(model: &Model, b: usize, t: usize, adapter: AdapterUse) -> Result<Self> {
        Batch::padded(model, &vec![vec![true; t]; b], adapter)
    }

    pub fn batch_size(&self) -> usize {
        self.b
    }

    pub fn new_tokens(&self) -> usize {
        self.t
    }
}
