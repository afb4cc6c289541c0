//! Per-forward batch geometry: attention bias, rotary tables for per-row positions, and which rows
//! see the adapter.

use std::sync::{Arc, OnceLock};

use candle_core::{DType, Tensor};

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
    /// Additive attention bias `[B, 1, T, S]` in f32, built on the device from `key_bias` on
    /// first use ([`Batch::mask`]): nothing of size `B·T·S` is built on the host or uploaded, and
    /// nothing at all when every layer takes the flash path (which reads `key_bias`).
    pub(crate) mask: OnceLock<Tensor>,
    /// The padding part of the mask per key, `[B, S]` in f32 (0, or [`MASKED`] for a padding
    /// slot): with the causal rule and "a query always sees its own slot", it is the mask again —
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
    /// Elements of one MLP activation (`B × tokens × intermediate`) above which the MLP runs
    /// over chunks of tokens ([`MLP_CHUNK_ELEMS`]).
    pub(crate) mlp_chunk_elems: usize,
}

/// Default of [`Batch::with_mlp_chunk_elems`]: 2^30 elements. candle's CUDA element-wise
/// kernels (unary, binary, affine, cast, copy) index with 32-bit unsigned integers and its
/// rms-norm/rope/softmax kernels with signed ones, so a tensor of 2^31 or more elements would be
/// processed wrongly with no error. The MLP's activations are a forward's largest tensors
/// (`B·T·intermediate`: 3.6e9 at 16 × 8192 tokens of a 32B model), so above this size the MLP
/// runs token chunk by token chunk; the result and its gradients are the same.
pub const MLP_CHUNK_ELEMS: usize = 1 << 30;

/// [`Batch::mask`] from the per-key padding bias `[B, S]` for the last `t` slots as queries,
/// with device ops only: `max(min(key_bias, future), own)`, where `future` is [`MASKED`] for keys
/// after the query and `own` is 0 on the query's own slot, [`MASKED`] elsewhere. Every value is
/// exactly 0 or [`MASKED`], as the host rule gives.
fn causal_mask(key_bias: &Tensor, t: usize) -> Result<Tensor> {
    let (b, s) = key_bias.dims2()?;
    let device = key_bias.device();
    let to_u32 = |n: usize| {
        u32::try_from(n).map_err(|_| Error::Invalid(format!("{n} key slots exceed u32")))
    };
    let (s32, t32) = (to_u32(s)?, to_u32(t)?);
    let keys = Tensor::arange(0u32, s32, device)?.reshape((1, s))?;
    let queries = Tensor::arange(s32 - t32, s32, device)?.reshape((t, 1))?;
    // 1·MASKED + 0 or 0·MASKED + 0 = +0 (not -0).
    let bias = |flags: Tensor| -> Result<Tensor> {
        Ok(flags
            .to_dtype(DType::F32)?
            .affine(f64::from(MASKED), 0.0)?
            .reshape((1, 1, t, s))?)
    };
    let future = bias(keys.broadcast_gt(&queries)?)?;
    let own = bias(keys.broadcast_ne(&queries)?)?;
    Ok(key_bias
        .reshape((b, 1, 1, s))?
        .broadcast_minimum(&future)?
        .broadcast_maximum(&own)?)
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
        let device = model.device();
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
            mask: OnceLock::new(),
            key_bias,
            rows,
            use_adapter,
            detach_adapters: false,
            adapters: None,
            b,
            t,
            mlp_chunk_elems: MLP_CHUNK_ELEMS,
        })
    }

    /// The additive attention bias `[B, 1, T, S]` in f32: 0 where query `i` (slot `S - T + i`)
    /// may see key slot `j` — a real slot at or before its own, or its own slot whatever it
    /// holds — and [`MASKED`] elsewhere. Built on the batch's device on the first call.
    pub(crate) fn mask(&self) -> Result<&Tensor> {
        if let Some(m) = self.mask.get() {
            return Ok(m);
        }
        let mask = causal_mask(&self.key_bias, self.t)?;
        Ok(self.mask.get_or_init(|| mask))
    }

    /// Runs the MLP over chunks of tokens whenever one activation would exceed `elems` elements
    /// (default [`MLP_CHUNK_ELEMS`]; at least one token per chunk).
    pub fn with_mlp_chunk_elems(mut self, elems: usize) -> Self {
        self.mlp_chunk_elems = elems.max(1);
        self
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

#[cfg(test)]
mod tests {
    use super::{causal_mask, MASKED};
    use candle_core::{Device, Tensor};

    /// The host rule the mask follows: query `i` sees slot `j` iff `j` is real and at or before
    /// its own slot `S - T + i`, or `j` is its own slot.
    fn host_mask(key_valid: &[Vec<bool>], t: usize) -> Vec<f32> {
        let s = key_valid[0].len();
        let mut out = Vec::new();
        for keys in key_valid {
            for i in 0..t {
                let q = s - t + i;
                out.extend(keys.iter().enumerate().map(|(j, &ok)| {
                    if (ok && j <= q) || j == q {
                        0.0
                    } else {
                        MASKED
                    }
                }));
            }
        }
        out
    }

    /// The device-built mask equals the host rule bit for bit (no -0), over left and right
    /// padding, gaps, fully padded rows, one query (decode) and T = S (no cache).
    #[test]
    fn device_mask_equals_the_host_rule() {
        let mut seed = 7u64;
        let mut coin = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            !(seed >> 33).is_multiple_of(3)
        };
        for (b, t, s) in [
            (1, 1, 1),
            (3, 1, 9),
            (2, 5, 5),
            (4, 3, 11),
            (2, 16, 16),
            (3, 7, 20),
        ] {
            let mut key_valid: Vec<Vec<bool>> =
                (0..b).map(|_| (0..s).map(|_| coin()).collect()).collect();
            key_valid[0] = vec![false; s];
            let bias: Vec<f32> = key_valid
                .iter()
                .flatten()
                .map(|&ok| if ok { 0.0 } else { MASKED })
                .collect();
            let key_bias = Tensor::from_vec(bias, (b, s), &Device::Cpu).unwrap();
            let got = causal_mask(&key_bias, t).unwrap();
            assert_eq!(got.dims(), [b, 1, t, s]);
            let got: Vec<u32> = got
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|x| x.to_bits())
                .collect();
            let want: Vec<u32> = host_mask(&key_valid, t)
                .iter()
                .map(|x| x.to_bits())
                .collect();
            assert_eq!(got, want, "b {b}, t {t}, s {s}");
        }
    }
}
