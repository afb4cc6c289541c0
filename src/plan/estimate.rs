//! The memory formulas. Sizes are bytes (f64: no overflow for 32B-scale products); `a` is the
//! compute dtype's size (`model.dtype`: f32 = 4, bf16/f16 = 2). Symbols: `h` hidden size, `qd` =
//! heads × head_dim, `kvd` = KV heads × head_dim, `im` MLP width, `H` query heads, `V` vocabulary,
//! `N` layers, `r` LoRA rank, `b` = `train.micro_batch_size`, `T` = `train.max_seq_len`,
//! `c` = `train.logprob_chunk`.
//!
//! Peak = resident (base weights + LoRA state) + max(generation phase, training phase) + margin:
//! generation and training never overlap (the GRPO step generates, then trains).
//!
//! Where candle records a graph, every intermediate tensor of the forward stays alive until the
//! loss is dropped (each op holds its inputs), so "activations" below count every tensor the
//! forward creates, not only what a hand-written backward would keep. The graph starts at the
//! lowest adapted layer (`lora.layers`): layers below it record nothing ("span" = layers from
//! there to the top).
//!
//! What the code does on each device (the plan follows it, [`Fidelity::AsCoded`]):
//! 1. layer-wise recompute (`train.gradient_checkpointing`) runs on CPU and CUDA
//!    (`model::checkpoint`);
//! 2. the frozen-linear backward (input gradient only, `model::frozen`) runs on CPU and CUDA: no
//!    base linear or LM head gets a weight gradient;
//! 3. log-probs: on CPU every chunk's logits stay in the graph until the backward (faster; they fit
//!    in RAM); on CUDA each chunk is one recomputed node (`model::logprobs`), so only one chunk's
//!    logits exist at a time, during its backward. (Generation records no graph: `Model::forward`
//!    runs the adapters as constants in inference mode.)
//! 4. the fused training ops (RMS norm, rotary, masked softmax, selected log-softmax) run as one
//!    node each on CPU in f32 (`model::fused`) and on CUDA in every dtype (the kernels of
//!    `crate::kernels`, unless `TRAINER_CUDA_KERNELS=0`); elsewhere (CPU bf16/f16, or CUDA with
//!    the kernels switched off) the composed candle ops create several tensors each.
//!    [`Fidelity::AsDesigned`] estimates every device and dtype with the fused ops.
//!
//! Checked against measured peak RSS growth on SmolLM2-135M f32 (`tests/plan_measure.rs`).

use serde::Serialize;

use super::budget::{Budget, DeviceKind, GIB};
use super::shapes::Geometry;
use crate::config::{Config, DTypeName};
use crate::model::{Arch, LoraTarget, ModelConfig};
use candle_core::DType;

/// Whether to follow the code as it is or with issue #8's fused CUDA training kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fidelity {
    /// What the current code allocates (the default; what a preflight must use).
    AsCoded,
    /// As if the fused training ops (RMS norm, rotary, masked softmax, selected log-softmax)
    /// ran on every device and dtype. They run on CPU f32 and on CUDA already, so this differs
    /// from [`Fidelity::AsCoded`] only for CPU bf16/f16 runs and for CUDA runs with the kernels
    /// switched off (`TRAINER_CUDA_KERNELS=0`).
    AsDesigned,
}

/// Which part of the run a component belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Allocated for the whole run.
    Resident,
    /// Batched generation (synthesis, GRPO rollouts, evaluation).
    Generation,
    /// One micro-batch's forward and backward.
    Training,
    /// Allocator and runtime overhead.
    Margin,
}

/// One line of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    pub name: String,
    pub phase: Phase,
    pub bytes: f64,
    /// The formula with its numbers.
    pub notes: String,
}

/// Everything the formulas read, resolved from a config.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInputs {
    pub geometry: Geometry,
    pub budget: Budget,
    /// Bytes per element of the compute dtype.
    pub dtype_bytes: f64,
    pub lora_r: usize,
    pub lora_targets: Vec<LoraTarget>,
    /// Adapted layer indices (`None` = all).
    pub lora_layers: Option<Vec<usize>>,
    pub micro_batch: usize,
    pub max_seq_len: usize,
    pub logprob_chunk: usize,
    pub gradient_checkpointing: bool,
    /// GRPO `beta > 0`: a reference forward (adapter off) per micro-batch.
    pub reference_forward: bool,
    /// Rows of one generation call (`synth.batch_size`).
    pub gen_rows: usize,
    /// New tokens per generation call at most.
    pub gen_new_tokens: usize,
    /// The engine's prefix cache budget (`model.prefix_cache_mb`), held during generation.
    pub prefix_cache_bytes: f64,
    pub fidelity: Fidelity,
}

/// Prompt positions per prefill forward (`engine::GenConfig::default().prefill_chunk`).
const PREFILL_CHUNK: usize = 512;

impl PlanInputs {
    /// Reads the settings that size memory out of `cfg`.
    ///
    /// Generation rows: every phase plays episodes through `synth::run_episodes` with at most
    /// `synth.batch_size` live episodes, and the local backend sends all of them to one engine
    /// call (GRPO: `min(batch_size, grpo_tasks_per_step × num_generations)`, synthesis:
    /// `min(batch_size, episodes)`, evaluation: `batch_size`) — so `synth.batch_size` rows.
    /// New tokens: the larger of `grpo.max_completion_length` and the synthesis/evaluation budget
    /// (`synth.max_new_tokens`, else `generation.max_new_tokens`).
    pub fn from_config(
        cfg: &Config,
        geometry: Geometry,
        budget: Budget,
        fidelity: Fidelity,
    ) -> Self {
        let synth_new = cfg
            .synth
            .max_new_tokens
            .unwrap_or(cfg.generation.max_new_tokens);
        let grpo_rows = cfg
            .train
            .grpo_tasks_per_step
            .saturating_mul(cfg.grpo.num_generations);
        let gen_rows = cfg
            .synth
            .batch_size
            .min(grpo_rows.max(cfg.synth.episodes))
            .max(1);
        PlanInputs {
            geometry,
            budget,
            dtype_bytes: match cfg.model.dtype {
                DTypeName::F32 => 4.0,
                DTypeName::Bf16 | DTypeName::F16 => 2.0,
            },
            lora_r: cfg.lora.r,
            lora_targets: cfg.lora.targets.clone(),
            lora_layers: cfg.lora.layers.clone(),
            micro_batch: cfg.train.micro_batch_size,
            max_seq_len: cfg.train.max_seq_len,
            logprob_chunk: cfg.train.logprob_chunk.max(1),
            gradient_checkpointing: cfg.train.gradient_checkpointing,
            reference_forward: cfg.grpo.beta != 0.0,
            gen_rows,
            gen_new_tokens: synth_new.max(cfg.grpo.max_completion_length),
            prefix_cache_bytes: cfg.model.prefix_cache_mb as f64 * (1u64 << 20) as f64,
            fidelity,
        }
    }

    fn cpu(&self) -> bool {
        self.budget.device == DeviceKind::Cpu
    }

    fn designed(&self) -> bool {
        self.fidelity == Fidelity::AsDesigned
    }

    /// Layer-wise recompute actually runs (CPU and CUDA).
    pub fn recompute(&self) -> bool {
        self.gradient_checkpointing
    }

    /// Training log-probs recompute each chunk's logits in the backward (every device but CPU,
    /// `model::logprobs::ChunkGraph::for_device`).
    pub fn recomputed_logprobs(&self) -> bool {
        !self.cpu()
    }

    /// The fused single-node training ops apply: CPU f32, CUDA unless its kernels are switched
    /// off (`TRAINER_CUDA_KERNELS=0`), every device as designed.
    pub fn fused_ops(&self) -> bool {
        (self.cpu() && self.dtype_bytes == 4.0) || self.cuda_kernels() || self.designed()
    }

    /// The CUDA kernels run (training and inference attention): a CUDA device, unless
    /// `TRAINER_CUDA_KERNELS=0`.
    fn cuda_kernels(&self) -> bool {
        !self.cpu() && !crate::kernels::cuda_kernels_switched_off()
    }

    /// The training attention over `b` rows of `t` tokens runs the flash kernel
    /// (`kernels/flash_attn.cu`: no `T × T` scores per head): the CUDA kernels run, the kernels
    /// take the head dim, and the policy wants it for `b · H · t²` scores
    /// (`kernels::flash_attention_on`; by default from 2²⁸ scores on).
    pub fn flash_attention(&self, b: usize, t: usize) -> bool {
        let dtype = if self.dtype_bytes == 8.0 {
            DType::F64
        } else {
            DType::F32
        };
        let c = &self.geometry.config;
        let scores = b
            .saturating_mul(c.num_attention_heads)
            .saturating_mul(t)
            .saturating_mul(t);
        self.cuda_kernels()
            && crate::kernels::flash_attention_wanted(scores)
            && c.head_dim <= crate::kernels::flash_attn::plan::max_head_dim(dtype)
    }

    fn adapts(&self, layer: usize) -> bool {
        self.lora_layers.as_ref().is_none_or(|l| l.contains(&layer))
    }

    /// Index of the lowest adapted layer (`N` when none is adapted).
    fn lowest_adapted(&self) -> usize {
        let n = self.geometry.config.num_hidden_layers;
        (0..n).find(|&i| self.adapts(i)).unwrap_or(n)
    }
}

/// `(target, out, in)` of the seven linears of a layer.
fn linear_dims(c: &ModelConfig) -> [(LoraTarget, usize, usize); 7] {
    let (h, qd, kvd, im) = (c.hidden_size, c.q_dim(), c.kv_dim(), c.intermediate_size);
    [
        (LoraTarget::QProj, qd, h),
        (LoraTarget::KProj, kvd, h),
        (LoraTarget::VProj, kvd, h),
        (LoraTarget::OProj, h, qd),
        (LoraTarget::GateProj, im, h),
        (LoraTarget::UpProj, im, h),
        (LoraTarget::DownProj, h, im),
    ]
}

/// LoRA parameters: `Σ_adapted layers Σ_targets r·(in + out)`.
pub fn lora_params(p: &PlanInputs) -> f64 {
    let c = &p.geometry.config;
    let per_layer: usize = linear_dims(c)
        .iter()
        .filter(|(t, _, _)| p.lora_targets.contains(t))
        .map(|(_, o, i)| p.lora_r * (o + i))
        .sum();
    let layers = (0..c.num_hidden_layers).filter(|&i| p.adapts(i)).count();
    (per_layer * layers) as f64
}

/// Bytes per attention score element (one query head, one query, one key) kept by a training
/// forward. Fused: scores + probabilities in the compute dtype (2a: the CPU op runs in f32, the
/// CUDA kernel reads and writes the scores' dtype, accumulating in f32). Composed: scores `a`,
/// scaled `a`, f32 cast (4, none in f32), masked 4, softmax's shifted / exp / quotient 3 × 4,
/// cast back (`a`, none in f32): bf16 26, f32 24.
fn train_score_bytes(p: &PlanInputs) -> f64 {
    let a = p.dtype_bytes;
    if p.fused_ops() {
        2.0 * a
    } else {
        let casts = if a == 4.0 { 0.0 } else { 4.0 + a };
        2.0 * a + 4.0 + 12.0 + casts
    }
}

/// Bytes per token of one layer's training forward, besides the attention scores: elements
/// created × `a`, in units of the layer's widths:
/// norm outputs 2h; linear outputs qd + 2kvd + h + 2im + h (+ qd + 2kvd bias adds); an adapted
/// linear is one node that keeps only its output (`model::fused_lora`: nothing more per token);
/// head-major copies qd + 2kvd;
/// rotary qd + kvd (composed: 4(qd + kvd)); attention output and its head-merge copy 2qd;
/// residual adds 2h; SiLU and gate·up 2im. Composed RMS norms add three f32 temporaries (12h
/// bytes) each. Qwen3's q/k norms add qd + kvd.
fn train_token_bytes(p: &PlanInputs) -> f64 {
    let c = &p.geometry.config;
    let (h, qd, kvd, im) = (
        c.hidden_size as f64,
        c.q_dim() as f64,
        c.kv_dim() as f64,
        c.intermediate_size as f64,
    );
    let a = p.dtype_bytes;
    let fused = p.fused_ops();
    let mut elems = 2.0 * h // norm outputs
        + (qd + 2.0 * kvd + h + 2.0 * im + h) // base linear outputs
        + (qd + 2.0 * kvd) // head-major copies
        + if fused { qd + kvd } else { 4.0 * (qd + kvd) } // rotary
        + 2.0 * qd // attention output + merge copy
        + 2.0 * h // residual adds
        + 2.0 * im; // SiLU, gate·up
    if c.attention_bias {
        elems += qd + 2.0 * kvd;
    }
    if c.arch == Arch::Qwen3 {
        elems += qd + kvd;
    }
    let norm_extra = if fused { 0.0 } else { 2.0 * 12.0 * h };
    elems * a + norm_extra
}

/// Bytes per token of one layer's flash attention (instead of `H·t` score elements): the
/// stacked `[k; v]` copy `2·kvd·a` and the packed f32 output `o` + log-sum-exp `4·(qd + H)`.
fn flash_token_bytes(p: &PlanInputs) -> f64 {
    let c = &p.geometry.config;
    let (qd, kvd, heads) = (
        c.q_dim() as f64,
        c.kv_dim() as f64,
        c.num_attention_heads as f64,
    );
    2.0 * kvd * p.dtype_bytes + 4.0 * (qd + heads)
}

/// One layer's training forward for `b` rows of `t` tokens: `b·t·(token bytes + H·t·score
/// bytes)` (the causal mask is applied to a full `t × t` score matrix), or with flash attention
/// `b·t·(token bytes + flash bytes)`.
fn train_layer_bytes(p: &PlanInputs, b: f64, t: f64) -> f64 {
    let heads = p.geometry.config.num_attention_heads as f64;
    let attention = if p.flash_attention(b as usize, t as usize) {
        flash_token_bytes(p)
    } else {
        heads * t * train_score_bytes(p)
    };
    b * t * (train_token_bytes(p) + attention)
}

/// One layer's inference transients (inference records no graph):
/// `rows·q·(H·s·score + a·(4·im + 2h))` for `rows × q` new positions over `s` keys. Scores alive at
/// once: scaled, f32 cast, masked, softmax, cast back = `12 + 2a` bytes (f32: 12, the casts are
/// no-ops); the MLP's gate, up, SiLU and product plus two hidden-sized tensors.
fn infer_transient_bytes(p: &PlanInputs, rows: f64, q: f64, s: f64) -> f64 {
    let c = &p.geometry.config;
    let a = p.dtype_bytes;
    let (h, im, heads) = (
        c.hidden_size as f64,
        c.intermediate_size as f64,
        c.num_attention_heads as f64,
    );
    let score = if p.cuda_kernels() {
        // The softmax kernel: scores and probabilities in the compute dtype.
        2.0 * a
    } else if a == 4.0 {
        12.0
    } else {
        12.0 + 2.0 * a
    };
    rows * q * (heads * s * score + a * (4.0 * im + 2.0 * h))
}

/// The longest sequence of at most `t` tokens whose training attention over `b` rows
/// materializes its scores (no flash attention), if any: the rule is monotone in the length.
fn longest_materialized(p: &PlanInputs, b: usize, t: usize) -> Option<usize> {
    if p.flash_attention(b, 1) {
        return None;
    }
    let (mut lo, mut hi) = (1, t);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if p.flash_attention(b, mid) {
            hi = mid - 1;
        } else {
            lo = mid;
        }
    }
    Some(lo)
}

/// How the training attention is counted, for the notes.
fn attention_note(p: &PlanInputs) -> String {
    if p.flash_attention(p.micro_batch, p.max_seq_len) {
        format!(
            "flash (no T × T scores; {:.0} B/token/layer)",
            flash_token_bytes(p)
        )
    } else {
        format!("scores {} B/elem", train_score_bytes(p))
    }
}

/// The peak estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub model_file: String,
    pub fidelity: Fidelity,
    pub budget: Budget,
    pub components: Vec<Component>,
    pub resident_bytes: f64,
    pub generation_bytes: f64,
    pub training_bytes: f64,
    pub margin_bytes: f64,
    /// resident + max(generation, training) + margin.
    pub total_bytes: f64,
    /// The phase that sets the peak.
    pub peak_phase: Phase,
    pub fits: bool,
    /// Where the code does something other than the config asks, and other caveats.
    pub caveats: Vec<String>,
}

fn gib(x: f64) -> String {
    format!("{:.2} GiB", x / GIB)
}

/// Computes every component (formulas in the module and function docs).
pub fn estimate(p: &PlanInputs) -> Plan {
    let c = &p.geometry.config;
    let a = p.dtype_bytes;
    let (h, v, n) = (
        c.hidden_size as f64,
        c.vocab_size as f64,
        c.num_hidden_layers,
    );
    let dt = if a == 4.0 { "f32" } else { "bf16/f16" };
    let mut comps = Vec::new();
    let mut caveats = Vec::new();

    // Resident.
    let params = c.num_parameters() as f64;
    comps.push(Component {
        name: "base weights".into(),
        phase: Phase::Resident,
        bytes: params * a,
        notes: format!(
            "{:.3} B params × {a} B ({dt}){}{}",
            params / 1e9,
            if p.geometry.gguf {
                "; GGUF dequantized to the compute dtype on load"
            } else {
                ""
            },
            if c.tie_word_embeddings {
                "; LM head tied to the embeddings"
            } else {
                ""
            }
        ),
    });
    let lp = lora_params(p);
    comps.push(Component {
        name: "LoRA params + grads + AdamW".into(),
        phase: Phase::Resident,
        bytes: lp * 20.0,
        notes: format!(
            "{:.1} M params × 20 B: f32 weights 4 + grads 2 × 4 (backward store + accumulator) + 2 moments × 4",
            lp / 1e6
        ),
    });

    // Generation.
    let rows = p.gen_rows as f64;
    let slots = p.max_seq_len.max(p.gen_new_tokens + 1) as f64;
    let kv_token = 2.0 * c.kv_dim() as f64 * a * n as f64;
    comps.push(Component {
        name: "KV cache".into(),
        phase: Phase::Generation,
        bytes: rows * slots * kv_token * (1.0 + 1.0 / n.max(1) as f64),
        notes: format!(
            "{rows} rows × {slots} slots × {:.0} KiB/token (2·kvd·a·N), + one layer's gather while dropping finished rows (1 + 1/{n})",
            kv_token / 1024.0
        ),
    });
    if p.prefix_cache_bytes > 0.0 {
        comps.push(Component {
            name: "prefix cache".into(),
            phase: Phase::Generation,
            bytes: p.prefix_cache_bytes,
            notes: format!(
                "model.prefix_cache_mb: keys/values of finished sequences, {:.0} tokens at most",
                p.prefix_cache_bytes / kv_token
            ),
        });
    }
    let lowest = p.lowest_adapted();
    let span = n.saturating_sub(lowest);
    let q = PREFILL_CHUNK.min(slots as usize) as f64;
    let transient = infer_transient_bytes(p, rows, q, slots);
    // Next-token logits in the compute dtype, and the device token pick's temporaries
    // (`engine::device_pick`: the rows in f32, three f32 element-wise results; then the block
    // sums' f64 copy: at most 16 B per logit).
    let logits_gen = rows * v * (a + 16.0);
    comps.push(Component {
        name: "generation activations".into(),
        phase: Phase::Generation,
        bytes: transient + logits_gen,
        notes: format!(
            "one layer's prefill transients ({q} positions × {rows} rows over {slots} keys) + next-token logits and the device token pick's temporaries (inference records no graph: the adapters enter as constants)"
        ),
    });

    // Training: one micro-batch.
    let (b, t) = (p.micro_batch as f64, p.max_seq_len as f64);
    let train_act = |t: f64| {
        // Every span layer keeps the same (adapted linears keep only their outputs).
        let layer = train_layer_bytes(p, b, t);
        let kept = if p.recompute() {
            span as f64 * b * t * h * a + 2.0 * layer
        } else {
            (span + 1) as f64 * layer
        };
        kept + 3.0 * b * t * h * a
    };
    // A micro-batch shorter than `max_seq_len` that stays below the flash-attention switch
    // materializes its scores and can need more than one of `max_seq_len` tokens: the peak is
    // the larger of the two (fewer rows at the switch keep less).
    let (act, shorter_peak) = match longest_materialized(p, p.micro_batch, p.max_seq_len) {
        Some(t0) if t0 < p.max_seq_len && train_act(t0 as f64) > train_act(t) => {
            (train_act(t0 as f64), format!("; peak at {t0} tokens, the longest below the flash-attention switch (scores materialized)"))
        }
        _ => (train_act(t), String::new()),
    };
    comps.push(Component {
        name: "training activations".into(),
        phase: Phase::Training,
        bytes: act,
        notes: if p.recompute() {
            format!(
                "recompute: {span} layer inputs b·T·h·a ({b} × {t} tokens) + one layer's internals recomputed + its backward transients; attention {}{shorter_peak}",
                attention_note(p)
            )
        } else {
            format!(
                "no recompute: every internal of {span} span layers ({b} × {t} tokens) + one layer of backward transients; attention {}{shorter_peak}",
                attention_note(p)
            )
        },
    });
    let chunk = (p.logprob_chunk as f64).min(t);
    let chunks = (t / chunk).ceil();
    let (logit_bytes, logit_note) = if !p.recomputed_logprobs() {
        let kept = 4.0 + if a == 4.0 { 0.0 } else { a };
        (
            b * t * v * kept + 5.0 * b * chunk * v * 4.0,
            format!(
                "all {chunks} chunks stay in the graph: {b} × {t} positions × V {v} × {kept} B + one chunk's entropy/gradient temporaries"
            ),
        )
    } else if p.fused_ops() {
        // The kernel reads the logits in the compute dtype and writes their gradient in it; no
        // softmax or f32 copy is materialized.
        (
            2.0 * b * chunk * v * a,
            format!("one chunk of {chunk} positions × {b} rows × V {v} × {a} B × 2 (logits, their gradient: fused selected log-softmax), recomputed in its backward"),
        )
    } else {
        // The recompute's graph: logits a, f32 cast (none in f32), scaled, shifted, exp (3 × 4);
        // its backward's gradients ≈ 4 × 4 + a.
        let per = 2.0 * a + 28.0 + if a == 4.0 { 0.0 } else { 4.0 };
        (
            b * chunk * v * per,
            format!("one chunk of {chunk} positions × {b} rows × V {v} × {per} B (composed log-softmax graph + its gradients), recomputed in its backward; the {chunks} chunks never coexist"),
        )
    };
    comps.push(Component {
        name: "log-prob logits".into(),
        phase: Phase::Training,
        bytes: logit_bytes,
        notes: logit_note,
    });
    if p.reference_forward {
        comps.push(Component {
            name: "reference forward (beta > 0)".into(),
            phase: Phase::Training,
            bytes: infer_transient_bytes(p, b, t, t) + b * t * h * a,
            notes: "adapter-off forward of the micro-batch, one layer at a time, while the policy graph is alive".into(),
        });
    }

    let sum = |ph: Phase| -> f64 {
        comps
            .iter()
            .filter(|c| c.phase == ph)
            .map(|c| c.bytes)
            .sum()
    };
    let resident = sum(Phase::Resident);
    let generation = sum(Phase::Generation);
    let training = sum(Phase::Training);
    let (peak_phase, phase_peak) = if generation >= training {
        (Phase::Generation, generation)
    } else {
        (Phase::Training, training)
    };
    let tensors = resident + phase_peak;
    let (fixed, share, what) = match p.budget.device {
        DeviceKind::Cuda => (
            1.0 * GIB,
            0.05,
            "CUDA context + cuBLAS workspace 1 GiB + 5 % allocator slack",
        ),
        DeviceKind::Cpu => (
            0.5 * GIB,
            0.10,
            "binary, tokenizer, thread stacks 0.5 GiB + 10 % malloc slack",
        ),
    };
    let margin = fixed + share * tensors;
    comps.push(Component {
        name: "workspace margin".into(),
        phase: Phase::Margin,
        bytes: margin,
        notes: what.into(),
    });
    let total = tensors + margin;

    if p.budget.device == DeviceKind::Cpu {
        caveats.push(
            "CPU: measured peak RSS also counts mapped weight-file pages, the allocator's retained free memory and everything outside tensors".into(),
        );
    }
    caveats.push(format!(
        "assumes every conversation fits train.max_seq_len = {} tokens (the engine does not stop longer ones)",
        p.max_seq_len
    ));

    Plan {
        model_file: p.geometry.file.display().to_string(),
        fidelity: p.fidelity,
        budget: p.budget.clone(),
        components: comps,
        resident_bytes: resident,
        generation_bytes: generation,
        training_bytes: training,
        margin_bytes: margin,
        total_bytes: total,
        peak_phase,
        fits: total <= p.budget.bytes,
        caveats,
    }
}

impl Plan {
    /// The component to blame when the plan does not fit: the largest resident one if weights
    /// and LoRA state alone exceed the budget, else the largest one of the peak phase.
    pub fn culprit(&self) -> Option<&Component> {
        let largest = |ph: Phase| {
            self.components
                .iter()
                .filter(|c| c.phase == ph)
                .max_by(|x, y| x.bytes.total_cmp(&y.bytes))
        };
        if self.resident_bytes > self.budget.bytes {
            largest(Phase::Resident)
        } else {
            largest(self.peak_phase)
        }
    }

    /// `Ok` when the plan fits, else [`super::Error::DoesNotFit`] naming the culprit, the
    /// estimate and the budget.
    pub fn check(&self) -> super::Result<()> {
        if self.fits {
            return Ok(());
        }
        let blame = self
            .culprit()
            .map(|c| {
                format!(
                    "; largest part: {} = {} ({})",
                    c.name,
                    gib(c.bytes),
                    c.notes
                )
            })
            .unwrap_or_default();
        Err(super::Error::DoesNotFit(format!(
            "the run does not fit: estimated peak {} > budget {} ({}){blame}",
            gib(self.total_bytes),
            gib(self.budget.bytes),
            self.budget.source
        )))
    }
}
