//! Linear layers with an optional LoRA adapter (Hu et al. 2021), PEFT-compatible.
//!
//! `y = x Wᵀ + b + s · ((x Aᵀ) Bᵀ) ⊙ m` where `A: [r, in]`, `B: [out, r]`, `s = alpha / r`
//! (or `alpha / √r` with rsLoRA) and `m` is a per-row 0/1 switch, so one batch can mix rows that
//! see the adapter (the policy) with rows that do not (the frozen reference / simulators).
//! Adapter parameters live in f32 [`Var`]s whatever the base dtype; `B` starts at zero so a fresh
//! adapter leaves the model unchanged.

use candle_core::{DType, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::error::{Error, Result};
use super::layers::acc_dtype;

/// Modules an adapter can be attached to (the names PEFT's `target_modules` uses).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LoraTarget {
    QProj,
    KProj,
    VProj,
    OProj,
    GateProj,
    UpProj,
    DownProj,
}

impl LoraTarget {
    pub const ALL: [LoraTarget; 7] = [
        LoraTarget::QProj,
        LoraTarget::KProj,
        LoraTarget::VProj,
        LoraTarget::OProj,
        LoraTarget::GateProj,
        LoraTarget::UpProj,
        LoraTarget::DownProj,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LoraTarget::QProj => "q_proj",
            LoraTarget::KProj => "k_proj",
            LoraTarget::VProj => "v_proj",
            LoraTarget::OProj => "o_proj",
            LoraTarget::GateProj => "gate_proj",
            LoraTarget::UpProj => "up_proj",
            LoraTarget::DownProj => "down_proj",
        }
    }

    pub fn parse(s: &str) -> Option<LoraTarget> {
        LoraTarget::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// Shape and initialisation of an adapter.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraConfig {
    pub r: usize,
    pub alpha: f64,
    pub targets: Vec<LoraTarget>,
    /// rsLoRA scaling `alpha / sqrt(r)` instead of `alpha / r`.
    pub use_rslora: bool,
    /// Seed of the `A` initialisation (each tensor derives its own stream from its name).
    pub seed: u64,
    /// Layer indices that get adapters (PEFT's `layers_to_transform`); `None` = every layer.
    #[serde(default)]
    pub layers: Option<Vec<usize>>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            r: 8,
            alpha: 16.0,
            targets: LoraTarget::ALL.to_vec(),
            use_rslora: false,
            seed: 0,
            layers: None,
        }
    }
}

impl LoraConfig {
    /// Whether layer `i` gets adapters.
    pub fn adapts_layer(&self, i: usize) -> bool {
        self.layers.as_ref().is_none_or(|l| l.contains(&i))
    }

    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.r as f64).sqrt()
        } else {
            self.alpha / self.r as f64
        }
    }
}

/// FNV-1a, to derive a per-tensor seed from its name (stable across runs and platforms).
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The two adapter matrices of one linear layer.
#[derive(Debug, Clone)]
pub struct LoraPair {
    pub a: Var,
    pub b: Var,
    pub scale: f64,
}

/// An adapter's matrices as constants in the compute dtype, made once for a run of inference
/// forwards (one `generate` call) instead of casting the f32 parameters on every forward: at
/// Qwen2.5-32B with all seven linears adapted a decode step would otherwise cast 896 matrices
/// (0.8 GB of traffic and as many kernels per token). When the scale is a power of two it is
/// folded into `B` (scaling by 2ᵏ commutes with rounding outside the subnormal range; not done
/// in f16, whose subnormal range a trained `B` reaches), saving one more op per linear; either
/// way the forward is bit-identical to the one with the parameters.
#[derive(Debug, Clone)]
pub(crate) struct LoraConst {
    pub a: Tensor,
    pub b: Tensor,
    /// 1.0 when folded into `b`.
    pub scale: f64,
}

/// Whether multiplying by `x` is exact in every binary floating-point format (a power of two,
/// either sign, in the normal range).
fn is_power_of_two(x: f64) -> bool {
    x.is_normal() && x.to_bits() & ((1u64 << 52) - 1) == 0
}

/// Every active adapter of a model as [`LoraConst`]s: per layer, per [`LoraTarget::ALL`] index.
/// Valid while the adapter parameters do not change: where no cast or scaling is needed it shares
/// their storage, elsewhere it is a copy. The engine takes one per `generate` call, so an
/// optimizer step between two calls is picked up by the next snapshot.
#[derive(Debug)]
pub struct AdapterSnapshot {
    layers: Vec<[Option<LoraConst>; 7]>,
}

impl AdapterSnapshot {
    pub(crate) fn new(layers: Vec<[Option<LoraConst>; 7]>) -> Self {
        AdapterSnapshot { layers }
    }

    /// The constants of layer `layer`'s `target` linear, if it has an active adapter.
    pub(crate) fn get(&self, layer: usize, target: LoraTarget) -> Option<&LoraConst> {
        let i = LoraTarget::ALL.iter().position(|&t| t == target)?;
        self.layers.get(layer)?.get(i)?.as_ref()
    }

    /// Whether no linear has an active adapter.
    pub fn is_empty(&self) -> bool {
        self.layers.iter().flatten().all(Option::is_none)
    }
}

/// A frozen linear layer (`weight: [out, in]`, optional bias) with an optional LoRA adapter.
#[derive(Debug, Clone)]
pub struct LoraLinear {
    /// HF module path, e.g. `model.layers.3.self_attn.q_proj`.
    pub path: String,
    weight: Tensor,
    bias: Option<Tensor>,
    lora: Option<LoraPair>,
    merged: bool,
}

impl LoraLinear {
    pub fn new(path: String, weight: Tensor, bias: Option<Tensor>) -> Self {
        LoraLinear {
            path,
            weight,
            bias,
            lora: None,
            merged: false,
        }
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    pub fn lora(&self) -> Option<&LoraPair> {
        self.lora.as_ref()
    }

    pub fn is_merged(&self) -> bool {
        self.merged
    }

    /// Attaches a fresh adapter: `A ~ U(-1/√in, 1/√in)` (PEFT's kaiming-uniform with a = √5), `B = 0`.
    pub fn attach(&mut self, cfg: &LoraConfig) -> Result<()> {
        let (out_dim, in_dim) = self.weight.dims2()?;
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ name_hash(&self.path));
        let bound = 1.0 / (in_dim as f32).sqrt();
        let a: Vec<f32> = (0..cfg.r * in_dim)
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        let device = self.weight.device();
        let a = Tensor::from_vec(a, (cfg.r, in_dim), device)?;
        let b = Tensor::zeros((out_dim, cfg.r), DType::F32, device)?;
        self.set_adapter(a, b, cfg.scale())
    }

    /// Installs given adapter matrices (e.g. loaded from a PEFT file). Shapes are checked.
    pub fn set_adapter(&mut self, a: Tensor, b: Tensor, scale: f64) -> Result<()> {
        if self.merged {
            return Err(Error::Invalid(format!(
                "{}: cannot replace a merged adapter; unmerge first",
                self.path
            )));
        }
        let (out_dim, in_dim) = self.weight.dims2()?;
        let (r, a_in) = a.dims2()?;
        let (b_out, b_r) = b.dims2()?;
        if a_in != in_dim || b_out != out_dim || b_r != r {
            return Err(Error::Invalid(format!(
                "{}: adapter shapes A {:?} / B {:?} do not fit weight [{out_dim}, {in_dim}]",
                self.path,
                a.dims(),
                b.dims()
            )));
        }
        let device = self.weight.device();
        let pdt = acc_dtype(self.weight.dtype());
        let a = Var::from_tensor(&a.to_dtype(pdt)?.to_device(device)?)?;
        let b = Var::from_tensor(&b.to_dtype(pdt)?.to_device(device)?)?;
        self.lora = Some(LoraPair { a, b, scale });
        Ok(())
    }

    pub fn detach_adapter(&mut self) -> Result<()> {
        if self.merged {
            self.unmerge()?;
        }
        self.lora = None;
        Ok(())
    }

    /// The adapter as constants in the base dtype (see [`LoraConst`]), if one is active.
    pub(crate) fn snapshot(&self) -> Result<Option<LoraConst>> {
        let (Some(l), false) = (&self.lora, self.merged) else {
            return Ok(None);
        };
        let dt = self.weight.dtype();
        let a = l.a.as_tensor().detach().to_dtype(dt)?;
        let b = l.b.as_tensor().detach();
        // f16's subnormals start at 6.1e-5, where a trained B has entries and scaling is not
        // exact; bf16/f32/f64 share f32's (or a wider) exponent range (subnormal below 1e-38).
        Ok(Some(if is_power_of_two(l.scale) && dt != DType::F16 {
            LoraConst {
                a,
                b: (b * l.scale)?.to_dtype(dt)?,
                scale: 1.0,
            }
        } else {
            LoraConst {
                a,
                b: b.to_dtype(dt)?,
                scale: l.scale,
            }
        }))
    }

    /// `ΔW = s · B A` in the base dtype.
    fn delta(&self, l: &LoraPair) -> Result<Tensor> {
        Ok((l.b.as_tensor().matmul(l.a.as_tensor())? * l.scale)?.to_dtype(self.weight.dtype())?)
    }

    /// Folds the adapter into the base weight (fast inference; per-row switching then unavailable).
    pub fn merge(&mut self) -> Result<()> {
        if let (Some(l), false) = (&self.lora, self.merged) {
            self.weight = (&self.weight + self.delta(l)?)?;
            self.merged = true;
        }
        Ok(())
    }

    /// Undoes [`merge`](Self::merge).
    pub fn unmerge(&mut self) -> Result<()> {
        if let (Some(l), true) = (&self.lora, self.merged) {
            self.weight = (&self.weight - self.delta(l)?)?;
            self.merged = false;
        }
        Ok(())
    }

    /// `x: [B, T, in]` → `[B, T, out]`. `rows: [B, 1, 1]` (1.0 = adapter on) or `None` (on for all).
    /// `use_adapter = false` skips the adapter for the whole batch (the reference policy).
    pub fn forward(&self, x: &Tensor, rows: Option<&Tensor>, use_adapter: bool) -> Result<Tensor> {
        self.forward_opt(x, rows, use_adapter, false, None)
    }

    /// Whether a forward with `use_adapter` runs an (unmerged) adapter, i.e. depends on `A`, `B`.
    pub fn adapter_active(&self, use_adapter: bool) -> bool {
        use_adapter && self.lora.is_some() && !self.merged
    }

    /// [`forward`](Self::forward); with `detach_adapter`, `A` and `B` enter as constants (no
    /// gradient graph), taken from `fixed` when given (this linear's [`LoraConst`]).
    pub(crate) fn forward_opt(
        &self,
        x: &Tensor,
        rows: Option<&Tensor>,
        use_adapter: bool,
        detach_adapter: bool,
        fixed: Option<&LoraConst>,
    ) -> Result<Tensor> {
        let spec = super::fused_lora::LoraSpec {
            w: &self.weight,
            bias: self.bias.as_ref(),
            scale: self.lora.as_ref().map_or(1.0, |l| l.scale),
            rows,
        };
        let lora = match (&self.lora, self.merged) {
            // The base weight is frozen: no weight gradient is ever computed for it.
            (None, _) => return super::fused_lora::base(x, &spec),
            (Some(_), true) => {
                if !use_adapter || rows.is_some() {
                    return Err(Error::Invalid(format!(
                        "{}: the adapter is merged into the weights, so the base model and per-row \
                         adapter switching are unavailable; unmerge first",
                        self.path
                    )));
                }
                return super::fused_lora::base(x, &spec);
            }
            (Some(_), false) if !use_adapter => return super::fused_lora::base(x, &spec),
            (Some(l), false) => l,
        };
        if let (true, Some(c)) = (detach_adapter, fixed) {
            let spec = super::fused_lora::LoraSpec {
                scale: c.scale,
                ..spec
            };
            let d = super::fused_lora::delta(x, &c.a, &c.b, &spec)?;
            return Ok((super::fused_lora::base(x, &spec)? + d)?);
        }
        let (a, b) = (lora.a.as_tensor(), lora.b.as_tensor());
        if detach_adapter {
            // A and B as constants: no graph through the adapter.
            let d = super::fused_lora::delta(x, &a.detach(), &b.detach(), &spec)?;
            return Ok((super::fused_lora::base(x, &spec)? + d)?);
        }
        // Training: one node that keeps only its output (model::fused_lora).
        super::fused_lora::fused_lora_linear(x, a, b, &spec)
    }
}

/// Checks a target list from a config: known names, no duplicates.
pub fn parse_targets(names: &[String]) -> std::result::Result<Vec<LoraTarget>, String> {
    let mut out = Vec::new();
    for n in names {
        let t = LoraTarget::parse(n).ok_or_else(|| {
            format!(
                "unknown LoRA target `{n}` (allowed: {})",
                LoraTarget::ALL
                    .iter()
                    .map(|t| t.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        if out.contains(&t) {
            return Err(format!("LoRA target `{n}` listed twice"));
        }
        out.push(t);
    }
    Ok(out)
}
