//! The decoder: embeddings → N × (attention + SwiGLU MLP, pre-norm residuals) → final norm → LM head.

use std::sync::Arc;

use candle_core::{DType, Device, Tensor, Var};

use super::batch::Batch;
use super::config::{Arch, ModelConfig};
use super::error::{Error, Result};
use super::kv_cache::KvCache;
use super::layers::{acc_dtype, linear, softmax_last, Mode, RmsNorm, Rotary};
use super::lora::{AdapterSnapshot, LoraConfig, LoraConst, LoraLinear, LoraTarget};
use super::weights::{get_checked, TensorSource};

#[derive(Debug, Clone)]
pub struct Attention {
    pub q_proj: LoraLinear,
    pub k_proj: LoraLinear,
    pub v_proj: LoraLinear,
    pub o_proj: LoraLinear,
    /// Qwen3's per-head norms on queries and keys.
    q_norm: Option<RmsNorm>,
    k_norm: Option<RmsNorm>,
    n_heads: usize,
    n_kv_heads: usize,
    head_dim: usize,
}

#[derive(Debug, Clone)]
pub struct Mlp {
    pub gate_proj: LoraLinear,
    pub up_proj: LoraLinear,
    pub down_proj: LoraLinear,
}

#[derive(Debug, Clone)]
pub struct DecoderLayer {
    pub self_attn: Attention,
    pub mlp: Mlp,
    input_layernorm: RmsNorm,
    post_attention_layernorm: RmsNorm,
}

/// A causal LM of the Qwen2 / Qwen3 / Llama family.
#[derive(Debug, Clone)]
pub struct Model {
    cfg: ModelConfig,
    embed_tokens: Tensor,
    layers: Vec<DecoderLayer>,
    norm: RmsNorm,
    /// `[vocab, hidden]`; the embedding matrix itself when embeddings are tied.
    lm_head: Tensor,
    rotary: Rotary,
    dtype: DType,
    device: Device,
    /// Layer-wise activation recompute in [`Mode::Train`] forwards.
    checkpointing: bool,
}

struct Loader<'a> {
    src: &'a dyn TensorSource,
    dtype: DType,
    device: &'a Device,
}

impl Loader<'_> {
    fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        get_checked(self.src, name, shape, self.dtype, self.device)
    }

    fn linear(&self, path: &str, out: usize, inp: usize, bias: bool) -> Result<LoraLinear> {
        let w = self.get(&format!("{path}.weight"), &[out, inp])?;
        let b = if bias {
            Some(self.get(&format!("{path}.bias"), &[out])?)
        } else {
            None
        };
        Ok(LoraLinear::new(path.to_string(), w, b))
    }

    fn norm(&self, name: &str, dim: usize, eps: f64) -> Result<RmsNorm> {
        Ok(RmsNorm::new(self.get(name, &[dim])?, eps))
    }
}

impl Attention {
    fn forward(
        &self,
        x: &Tensor,
        batch: &Batch,
        layer: usize,
        cache: Option<&mut KvCache>,
        mode: Mode,
    ) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let lin = |l: &LoraLinear, target: LoraTarget, x: &Tensor| {
            batch.linear(l, target, layer, mode, x)
        };
        let heads = |y: Tensor, n: usize, norm: Option<&RmsNorm>| -> Result<Tensor> {
            let y = y.reshape((b, t, n, self.head_dim))?;
            let y = match norm {
                Some(nm) => nm.forward(&y, mode)?,
                None => y,
            };
            Ok(y.transpose(1, 2)?.contiguous()?)
        };
        let q = heads(
            lin(&self.q_proj, LoraTarget::QProj, x)?,
            self.n_heads,
            self.q_norm.as_ref(),
        )?;
        let k = heads(
            lin(&self.k_proj, LoraTarget::KProj, x)?,
            self.n_kv_heads,
            self.k_norm.as_ref(),
        )?;
        let v = heads(
            lin(&self.v_proj, LoraTarget::VProj, x)?,
            self.n_kv_heads,
            None,
        )?;
        let q = Rotary::apply(&q, &batch.cos, &batch.sin, mode)?;
        let k = Rotary::apply(&k, &batch.cos, &batch.sin, mode)?;
        let (k, v) = match (cache, mode) {
            // Inference keeps no gradient graph in the cache (it is written in place).
            (Some(c), Mode::Infer) => c.append(layer, &k.detach(), &v.detach())?,
            (Some(c), Mode::Train) => c.append(layer, &k, &v)?,
            (None, _) => (k, v),
        };
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let score_elems = b * self.n_heads * t * k.dim(2)?;
        if mode == Mode::Train
            && crate::kernels::flash_attention_on(q.device(), q.dtype(), self.head_dim, score_elems)
        {
            // Training on CUDA: no [B, H, T, S] scores in the graph (kernels/flash_attn.cu).
            let out = crate::kernels::flash_attention(&q, &k, &v, &batch.key_bias, scale)?
                .transpose(1, 2)?
                .reshape((b, t, self.n_heads * self.head_dim))?;
            return lin(&self.o_proj, LoraTarget::OProj, &out);
        }
        let s = k.dim(2)?;
        // Grouped-query attention without copying K/V per query head: the n_rep query heads of
        // a KV head are stacked along the query axis, `[B, Hkv, n_rep * T, D]` (head
        // h = kv * n_rep + r, as in transformers' `repeat_kv`).
        let n_rep = self.n_heads / self.n_kv_heads;
        let q = q.reshape((b, self.n_kv_heads, n_rep * t, self.head_dim))?;
        let acc = acc_dtype(q.dtype());
        let kernels = crate::kernels::enabled_on(q.device());
        if kernels || (mode == Mode::Train && super::fused::fusable(&q)) {
            // Scale, mask and softmax as one node with an exact backward: the CUDA kernel
            // (kernels/softmax.cu, probabilities in the scores' dtype; also in inference, where
            // it keeps the prefill's scores in the compute dtype instead of f32 copies) or, in
            // training, the fused CPU op.
            let raw = q
                .matmul(&k.t()?)?
                .reshape((b, self.n_kv_heads, n_rep, t, s))?;
            let probs = if kernels {
                crate::kernels::masked_softmax(&raw, batch.mask()?, scale)?
            } else {
                super::fused::masked_softmax(&raw, batch.mask()?, scale)?
            };
            let probs = probs.reshape((b, self.n_kv_heads, n_rep * t, s))?;
            let out = probs
                .matmul(&v)?
                .reshape((b, self.n_heads, t, self.head_dim))?
                .transpose(1, 2)?
                .reshape((b, t, self.n_heads * self.head_dim))?;
            return lin(&self.o_proj, LoraTarget::OProj, &out);
        }
        if q.device().is_cuda() && score_elems >= CANDLE_CUDA_MAX_ELEMS {
            return Err(Error::Invalid(format!(
                "attention scores of {score_elems} elements in one layer ({b} rows × {} heads × \
                 {t} queries × {s} keys) exceed what candle's CUDA kernels index (2^31 \
                 elements); keep the project's CUDA kernels on (TRAINER_CUDA_KERNELS unset) or \
                 use shorter sequences or smaller batches",
                self.n_heads
            )));
        }
        let scores = (q.matmul(&k.t()?)? * scale)?.to_dtype(acc)?.reshape((
            b,
            self.n_kv_heads,
            n_rep,
            t,
            s,
        ))?;
        let mask = batch.mask()?.to_dtype(acc)?.unsqueeze(1)?;
        let scores = scores.broadcast_add(&mask)?;
        let probs = softmax_last(&scores, mode)?.to_dtype(v.dtype())?.reshape((
            b,
            self.n_kv_heads,
            n_rep * t,
            s,
        ))?;
        let out = probs
            .matmul(&v)?
            .reshape((b, self.n_heads, t, self.head_dim))?
            .transpose(1, 2)?
            .reshape((b, t, self.n_heads * self.head_dim))?;
        lin(&self.o_proj, LoraTarget::OProj, &out)
    }
}

/// Element count from which candle's own CUDA kernels (32-bit element indices; `int` in its
/// softmax) would address a tensor wrongly: the composed attention refuses such scores on CUDA.
const CANDLE_CUDA_MAX_ELEMS: usize = 1 << 31;

impl Mlp {
    fn forward(&self, x: &Tensor, batch: &Batch, layer: usize, mode: Mode) -> Result<Tensor> {
        let (b, t, _) = x.dims3()?;
        let inter = self.gate_proj.weight().dim(0)?;
        // Tokens per chunk so that no activation exceeds `mlp_chunk_elems` (batch.rs).
        let chunk = (batch.mlp_chunk_elems / (b * inter).max(1)).max(1);
        if t <= chunk {
            return self.forward_chunk(x, batch, layer, mode);
        }
        let parts = (0..t)
            .step_by(chunk)
            .map(|s| self.forward_chunk(&x.narrow(1, s, chunk.min(t - s))?, batch, layer, mode))
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::cat(&parts, 1)?)
    }

    fn forward_chunk(&self, x: &Tensor, batch: &Batch, layer: usize, mode: Mode) -> Result<Tensor> {
        let lin = |l: &LoraLinear, target: LoraTarget, x: &Tensor| {
            batch.linear(l, target, layer, mode, x)
        };
        let g = lin(&self.gate_proj, LoraTarget::GateProj, x)?.silu()?;
        let u = lin(&self.up_proj, LoraTarget::UpProj, x)?;
        lin(&self.down_proj, LoraTarget::DownProj, &(g * u)?)
    }
}

impl DecoderLayer {
    pub(crate) fn forward(
        &self,
        x: &Tensor,
        batch: &Batch,
        layer: usize,
        cache: Option<&mut KvCache>,
        mode: Mode,
    ) -> Result<Tensor> {
        let h = self.self_attn.forward(
            &self.input_layernorm.forward(x, mode)?,
            batch,
            layer,
            cache,
            mode,
        )?;
        let x = (x + h)?;
        let h = self.mlp.forward(
            &self.post_attention_layernorm.forward(&x, mode)?,
            batch,
            layer,
            mode,
        )?;
        Ok((x + h)?)
    }

    /// Whether a forward over `batch` runs any adapter of this layer.
    pub fn has_active_adapter(&self, batch: &Batch) -> bool {
        self.linears()
            .iter()
            .any(|(_, l)| l.adapter_active(batch.use_adapter))
    }

    /// The adapter tensors a forward over `batch` depends on (`A`, `B` of each active adapter).
    pub(crate) fn active_adapter_vars(&self, batch: &Batch) -> Vec<Var> {
        self.linears()
            .iter()
            .filter(|(_, l)| l.adapter_active(batch.use_adapter))
            .filter_map(|(_, l)| l.lora())
            .flat_map(|p| [p.a.clone(), p.b.clone()])
            .collect()
    }

    /// The seven adapter-capable linears of this layer.
    pub fn linears(&self) -> [(LoraTarget, &LoraLinear); 7] {
        [
            (LoraTarget::QProj, &self.self_attn.q_proj),
            (LoraTarget::KProj, &self.self_attn.k_proj),
            (LoraTarget::VProj, &self.self_attn.v_proj),
            (LoraTarget::OProj, &self.self_attn.o_proj),
            (LoraTarget::GateProj, &self.mlp.gate_proj),
            (LoraTarget::UpProj, &self.mlp.up_proj),
            (LoraTarget::DownProj, &self.mlp.down_proj),
        ]
    }

    pub fn linears_mut(&mut self) -> [(LoraTarget, &mut LoraLinear); 7] {
        [
            (LoraTarget::QProj, &mut self.self_attn.q_proj),
            (LoraTarget::KProj, &mut self.self_attn.k_proj),
            (LoraTarget::VProj, &mut self.self_attn.v_proj),
            (LoraTarget::OProj, &mut self.self_attn.o_proj),
            (LoraTarget::GateProj, &mut self.mlp.gate_proj),
            (LoraTarget::UpProj, &mut self.mlp.up_proj),
            (LoraTarget::DownProj, &mut self.mlp.down_proj),
        ]
    }

    /// Norm weights with their HF names (for export).
    pub fn norms(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut v = vec![
            (
                format!("{prefix}.input_layernorm.weight"),
                self.input_layernorm.weight().clone(),
            ),
            (
                format!("{prefix}.post_attention_layernorm.weight"),
                self.post_attention_layernorm.weight().clone(),
            ),
        ];
        if let Some(n) = &self.self_attn.q_norm {
            v.push((
                format!("{prefix}.self_attn.q_norm.weight"),
                n.weight().clone(),
            ));
        }
        if let Some(n) = &self.self_attn.k_norm {
            v.push((
                format!("{prefix}.self_attn.k_norm.weight"),
                n.weight().clone(),
            ));
        }
        v
    }
}

impl Model {
    /// Builds the model from HF-named tensors, converted to `dtype` on `device`.
    pub fn load(
        cfg: &ModelConfig,
        src: &dyn TensorSource,
        dtype: DType,
        device: &Device,
    ) -> Result<Model> {
        cfg.validate("<model config>")?;
        let ld = Loader { src, dtype, device };
        let (h, qd, kvd, im) = (
            cfg.hidden_size,
            cfg.q_dim(),
            cfg.kv_dim(),
            cfg.intermediate_size,
        );
        let eps = cfg.rms_norm_eps;
        let embed_tokens = ld.get("model.embed_tokens.weight", &[cfg.vocab_size, h])?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("model.layers.{i}");
            let qk_norm = |n: &str| -> Result<Option<RmsNorm>> {
                match cfg.arch {
                    Arch::Qwen3 => Ok(Some(ld.norm(
                        &format!("{p}.self_attn.{n}.weight"),
                        cfg.head_dim,
                        eps,
                    )?)),
                    _ => Ok(None),
                }
            };
            let bias = cfg.attention_bias;
            layers.push(DecoderLayer {
                self_attn: Attention {
                    q_proj: ld.linear(&format!("{p}.self_attn.q_proj"), qd, h, bias)?,
                    k_proj: ld.linear(&format!("{p}.self_attn.k_proj"), kvd, h, bias)?,
                    v_proj: ld.linear(&format!("{p}.self_attn.v_proj"), kvd, h, bias)?,
                    o_proj: ld.linear(&format!("{p}.self_attn.o_proj"), h, qd, false)?,
                    q_norm: qk_norm("q_norm")?,
                    k_norm: qk_norm("k_norm")?,
                    n_heads: cfg.num_attention_heads,
                    n_kv_heads: cfg.num_key_value_heads,
                    head_dim: cfg.head_dim,
                },
                mlp: Mlp {
                    gate_proj: ld.linear(&format!("{p}.mlp.gate_proj"), im, h, false)?,
                    up_proj: ld.linear(&format!("{p}.mlp.up_proj"), im, h, false)?,
                    down_proj: ld.linear(&format!("{p}.mlp.down_proj"), h, im, false)?,
                },
                input_layernorm: ld.norm(&format!("{p}.input_layernorm.weight"), h, eps)?,
                post_attention_layernorm: ld.norm(
                    &format!("{p}.post_attention_layernorm.weight"),
                    h,
                    eps,
                )?,
            });
        }
        let norm = ld.norm("model.norm.weight", h, eps)?;
        let lm_head = if cfg.tie_word_embeddings {
            embed_tokens.clone()
        } else {
            ld.get("lm_head.weight", &[cfg.vocab_size, h])?
        };
        Ok(Model {
            cfg: cfg.clone(),
            embed_tokens,
            layers,
            norm,
            lm_head,
            rotary: Rotary::new(cfg.head_dim, cfg.rope_theta),
            dtype,
            device: device.clone(),
            checkpointing: false,
        })
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn rotary(&self) -> &Rotary {
        &self.rotary
    }

    pub fn layers(&self) -> &[DecoderLayer] {
        &self.layers
    }

    pub fn embed_tokens(&self) -> &Tensor {
        &self.embed_tokens
    }

    pub fn final_norm(&self) -> &RmsNorm {
        &self.norm
    }

    pub fn lm_head(&self) -> &Tensor {
        &self.lm_head
    }

    /// A fresh empty KV cache sized for this model.
    pub fn new_cache(&self) -> KvCache {
        KvCache::new(self.layers.len())
    }

    /// `ids: [B, T]` (u32) → final hidden states `[B, T, hidden]` (after the final norm).
    /// With a cache, the new tokens attend to the cached slots and are appended to it.
    pub fn forward(
        &self,
        ids: &Tensor,
        batch: &Batch,
        mut cache: Option<&mut KvCache>,
        mode: Mode,
    ) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        if b != batch.b || t != batch.t {
            return Err(Error::Invalid(format!(
                "input ids are [{b}, {t}] but the batch geometry is [{}, {}]",
                batch.b, batch.t
            )));
        }
        // Inference never differentiates: the adapters enter as constants. Otherwise candle would
        // record a graph through the trainable LoRA tensors and keep every adapted layer's
        // activations alive for the whole decode (measured on SmolLM2, 16 × 510-token prompts:
        // 7.5 GB peak with the adapter on vs 1.0 GB with it off).
        let detached;
        let batch = if mode == Mode::Infer && !batch.detach_adapters {
            detached = Batch {
                detach_adapters: true,
                ..batch.clone()
            };
            &detached
        } else {
            batch
        };
        let mut x = self
            .embed_tokens
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, self.cfg.hidden_size))?;
        let checkpoint = mode == Mode::Train
            && self.checkpointing
            && cache.is_none()
            && (self.device.is_cpu() || self.device.is_cuda())
            && !batch.detach_adapters;
        for (i, layer) in self.layers.iter().enumerate() {
            // Below the lowest layer with an active adapter nothing depends on a trainable
            // tensor: candle records no graph there (no op input is tracked), so those layers
            // cost a plain forward and keep no activations.
            let needs_graph = x.track_op() || layer.has_active_adapter(batch);
            x = if checkpoint && needs_graph {
                super::checkpoint::checkpointed_layer(layer, &x, batch, i)?
            } else {
                layer.forward(&x, batch, i, cache.as_deref_mut(), mode)?
            };
        }
        self.norm.forward(&x, mode)
    }

    /// Full-vocabulary logits `[.., vocab]` in f32 for the given hidden states. Use only where all
    /// logits are needed (sampling the last position); training uses chunked log-probs instead.
    pub fn logits(&self, hidden: &Tensor) -> Result<Tensor> {
        // Contiguous input keeps candle on its single-gemm path; a strided one (e.g. the last
        // position narrowed out of a prefill) would make it copy the whole LM head per row.
        Ok(linear(&hidden.contiguous()?, &self.lm_head)?.to_dtype(acc_dtype(self.dtype))?)
    }

    /// [`Model::logits`] before the cast: the LM head's output in the model's dtype (bf16 for a
    /// bf16 model). Casting these to f32 gives exactly [`Model::logits`]; generation downloads
    /// them as they are (half the bytes) and widens each row on the host.
    pub fn logits_raw(&self, hidden: &Tensor) -> Result<Tensor> {
        linear(&hidden.contiguous()?, &self.lm_head)
    }

    /// Turns layer-wise activation recompute (gradient checkpointing) on or off for
    /// [`Mode::Train`] forwards: each decoder layer then keeps only its input, and its activations
    /// are recomputed during the backward pass (less memory, about one more forward of compute).
    /// Gradients are the same either way.
    pub fn set_gradient_checkpointing(&mut self, on: bool) {
        self.checkpointing = on;
    }

    pub fn gradient_checkpointing(&self) -> bool {
        self.checkpointing
    }

    /// Attaches a fresh adapter to every targeted linear of every layer in `cfg.layers` (all
    /// layers when `None`).
    pub fn attach_lora(&mut self, cfg: &LoraConfig) -> Result<()> {
        if cfg.r == 0 {
            return Err(Error::Invalid("LoRA rank r must be > 0".into()));
        }
        let n = self.layers.len();
        if let Some(bad) = cfg.layers.iter().flatten().find(|&&i| i >= n) {
            return Err(Error::Invalid(format!(
                "LoRA layers: index {bad} is out of range (the model has {n} layers, 0..{n})"
            )));
        }
        if cfg.layers.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::Invalid("LoRA layers: the list is empty".into()));
        }
        for (i, layer) in self.layers.iter_mut().enumerate() {
            for (target, lin) in layer.linears_mut() {
                if cfg.targets.contains(&target) && cfg.adapts_layer(i) {
                    lin.attach(cfg)?;
                }
            }
        }
        Ok(())
    }

    /// Every adapter-capable linear with its target kind, in layer order.
    pub fn linears(&self) -> impl Iterator<Item = (LoraTarget, &LoraLinear)> {
        self.layers.iter().flat_map(|l| l.linears())
    }

    pub fn linears_mut(&mut self) -> impl Iterator<Item = (LoraTarget, &mut LoraLinear)> {
        self.layers.iter_mut().flat_map(|l| l.linears_mut())
    }

    /// Trainable adapter tensors with their PEFT names
    /// (`base_model.model.<module>.lora_A.weight` / `lora_B.weight`), in a stable order.
    pub fn lora_vars(&self) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        for (_, lin) in self.linears() {
            if let Some(l) = lin.lora() {
                out.push((
                    format!("base_model.model.{}.lora_A.weight", lin.path),
                    l.a.clone(),
                ));
                out.push((
                    format!("base_model.model.{}.lora_B.weight", lin.path),
                    l.b.clone(),
                ));
            }
        }
        out
    }

    /// The active adapters as constants in the model's dtype, for a run of inference forwards
    /// over batches made [`with_adapters`](Batch::with_adapters) (see `model::lora::LoraConst`);
    /// `None` when no adapter is active. Take a new one after the adapters change.
    pub fn adapter_snapshot(&self) -> Result<Option<Arc<AdapterSnapshot>>> {
        let mut layers = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let mut consts: [Option<LoraConst>; 7] = Default::default();
            for (target, lin) in layer.linears() {
                if let Some(i) = LoraTarget::ALL.iter().position(|&t| t == target) {
                    consts[i] = lin.snapshot()?;
                }
            }
            layers.push(consts);
        }
        let snapshot = AdapterSnapshot::new(layers);
        Ok((!snapshot.is_empty()).then(|| Arc::new(snapshot)))
    }

    pub fn merge_lora(&mut self) -> Result<()> {
        self.linears_mut().try_for_each(|(_, l)| l.merge())
    }

    pub fn unmerge_lora(&mut self) -> Result<()> {
        self.linears_mut().try_for_each(|(_, l)| l.unmerge())
    }

    /// Base weights with their HF names, as they are now (merged adapters included).
    pub fn named_weights(&self) -> Vec<(String, Tensor)> {
        let mut v = vec![(
            "model.embed_tokens.weight".to_string(),
            self.embed_tokens.clone(),
        )];
        for (i, layer) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            for (_, lin) in layer.linears() {
                v.push((format!("{}.weight", lin.path), lin.weight().clone()));
                if let Some(b) = lin.bias() {
                    v.push((format!("{}.bias", lin.path), b.clone()));
                }
            }
            v.extend(layer.norms(&p));
        }
        v.push(("model.norm.weight".to_string(), self.norm.weight().clone()));
        if !self.cfg.tie_word_embeddings {
            v.push(("lm_head.weight".to_string(), self.lm_head.clone()));
        }
        v
    }

    /// Mean-pooled final hidden states over the real (unmasked) tokens, `[B, hidden]` in f32
    /// (semantic embeddings of tool definitions).
    pub fn mean_pool(&self, hidden: &Tensor, attention_mask: &[Vec<bool>]) -> Result<Tensor> {
        let (b, t, _) = hidden.dims3()?;
        let m: Vec<f32> = attention_mask
            .iter()
            .flat_map(|r| r.iter().map(|&x| if x { 1.0 } else { 0.0 }))
            .collect();
        if m.len() != b * t {
            return Err(Error::Invalid(
                "attention mask does not match hidden states".into(),
            ));
        }
        let m = Tensor::from_vec(m, (b, t, 1), &self.device)?;
        let h = hidden.to_dtype(DType::F32)?;
        let sum = h.broadcast_mul(&m)?.sum(1)?;
        let n = m.sum(1)?.clamp(1.0, f64::INFINITY)?;
        Ok(sum.broadcast_div(&n)?)
    }
}
