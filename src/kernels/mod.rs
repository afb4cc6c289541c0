//! Fused tensor ops with hand-written CUDA kernels (`kernels/*.cu`, compiled to PTX by `build.rs`
//! under the `cuda` feature) and a CPU reference implementation of the same math, both exposed
//! through candle's custom-op API with a backward pass.
//!
//! On CPU an op runs its reference; on a CUDA device it runs its kernels, described once as a
//! device-independent launch [`plan::Plan`] and executed by `exec` (cudarc). Tests compare each
//! reference with candle's plain-op composition (values, autograd gradients, finite
//! differences), run every plan's kernels from the real `.cu` source on a CPU emulation of the
//! CUDA execution model against the reference (`tests/cuda_emu`, `tests/kernels_emu_*.rs`), and
//! on a GPU compare the kernels with the reference (`--features cuda`, ignored tests).
//! `scripts/check-kernels.sh` builds every kernel with the real nvcc and ptxas (no GPU needed).

#[cfg(feature = "cuda")]
mod exec;
pub mod flash_attn;
mod host;
pub mod masked_softmax;
pub mod plan;
#[cfg(feature = "cuda")]
mod ptx;
pub mod rmsnorm;
pub mod rope;
pub mod selected_logsoftmax;

pub use flash_attn::flash_attention;
pub use masked_softmax::masked_softmax;
pub use rmsnorm::rms_norm;
pub use rope::rope;
pub use selected_logsoftmax::selected_log_softmax;

/// The public ops, for [`calls`].
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    RmsNorm,
    Rope,
    MaskedSoftmax,
    SelectedLogSoftmax,
    FlashAttention,
}

static CALLS: [std::sync::atomic::AtomicUsize; 5] =
    [const { std::sync::atomic::AtomicUsize::new(0) }; 5];

/// How often `op` was applied in this process (forward calls): lets the wiring tests prove which
/// path the model took.
#[doc(hidden)]
pub fn calls(op: Op) -> usize {
    CALLS[op as usize].load(std::sync::atomic::Ordering::Relaxed)
}

fn count(op: Op) {
    CALLS[op as usize].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Test override of [`enabled_on`]: 0 none, 1 kernels on, 2 kernels off.
static OVERRIDE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Test hook, process-wide: `Some(true)` runs the training ops through this module's ops on CPU
/// and CUDA alike (on CPU their references, instead of the model's own fused CPU ops, so CPU
/// tests exercise exactly the call sites and layouts the CUDA path uses:
/// `tests/kernels_wiring.rs`); `Some(false)` runs candle's composed ops on CUDA (what
/// `TRAINER_CUDA_KERNELS=0` does; `tests/gpu_parity.rs` compares both); `None` restores the
/// default.
#[doc(hidden)]
pub fn override_kernels(on: Option<bool>) {
    OVERRIDE.store(override_code(on), std::sync::atomic::Ordering::SeqCst);
}

/// The stored form of a test override: 0 none, 1 on, 2 off.
fn override_code(on: Option<bool>) -> u8 {
    match on {
        None => 0,
        Some(true) => 1,
        Some(false) => 2,
    }
}

/// Whether the training ops on `device` run the hand-written kernels of this module: on CUDA,
/// unless the environment sets `TRAINER_CUDA_KERNELS=0` (then candle's composed ops run
/// instead — a switch for comparing the two on a GPU, or for working around a kernel problem).
/// On CPU the model uses its own multi-threaded fused CPU ops (`model::fused`) unless a test
/// routes it here ([`override_kernels`]).
pub fn enabled_on(device: &candle_core::Device) -> bool {
    let supported = device.is_cpu() || device.is_cuda();
    match OVERRIDE.load(std::sync::atomic::Ordering::SeqCst) {
        1 => supported,
        2 => false,
        _ => device.is_cuda() && !cuda_kernels_switched_off(),
    }
}

/// When the training attention runs [`flash_attention`] instead of materializing its scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlashPolicy {
    /// When one layer's scores have at least [`FLASH_AUTO_MIN_SCORES`] elements (the default).
    Auto,
    /// Always (`TRAINER_FLASH_ATTENTION=1`).
    Always,
    /// Never (`TRAINER_FLASH_ATTENTION=0`).
    Never,
}

/// Score elements (`b · H · T · S` of one layer) from which [`FlashPolicy::Auto`] switches the
/// training attention to [`flash_attention`]: 2²⁸, i.e. 0.5 GiB per bf16 copy, ~1 GiB for the
/// scores and probabilities a materialized layer keeps (Qwen2.5-32B: from ~2600 tokens at
/// micro-batch 1). Below it the scores are small and cuBLAS's products on materialized scores are
/// expected to be at least as fast as the flash kernels (which do not overlap their tile loads
/// with their products; an estimate, not a measurement: `scripts/bench_gpu.sh` times both);
/// above it the memory matters more (Qwen2.5-32B at 8192 tokens fits an 80 GB GPU only with
/// flash attention: 79.4 GiB planned instead of 100).
pub const FLASH_AUTO_MIN_SCORES: usize = 1 << 28;

/// Test override of [`flash_policy`]: 0 none, 1 always, 2 never.
static FLASH_OVERRIDE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Test hook, process-wide: `Some(true)` runs the training attention through
/// [`flash_attention`] whatever the size (where the kernels run), `Some(false)` never; `None`
/// restores the environment's policy.
#[doc(hidden)]
pub fn override_flash_attention(on: Option<bool>) {
    FLASH_OVERRIDE.store(override_code(on), std::sync::atomic::Ordering::SeqCst);
}

/// The policy: `TRAINER_FLASH_ATTENTION=1` always, `=0` never, unset or `auto`
/// [`FlashPolicy::Auto`] (read once per process; another value warns and means auto).
pub fn flash_policy() -> FlashPolicy {
    match FLASH_OVERRIDE.load(std::sync::atomic::Ordering::SeqCst) {
        1 => return FlashPolicy::Always,
        2 => return FlashPolicy::Never,
        _ => {}
    }
    static ENV: std::sync::OnceLock<FlashPolicy> = std::sync::OnceLock::new();
    *ENV.get_or_init(|| {
        let var = std::env::var("TRAINER_FLASH_ATTENTION");
        match var.as_deref().map(str::trim) {
            Ok("1") => FlashPolicy::Always,
            Ok("0") => FlashPolicy::Never,
            Ok("" | "auto") | Err(_) => FlashPolicy::Auto,
            Ok(other) => {
                tracing::warn!(
                    "TRAINER_FLASH_ATTENTION={other:?} is not 1, 0 or auto: using auto \
                     (flash attention from {FLASH_AUTO_MIN_SCORES} scores per layer)"
                );
                FlashPolicy::Auto
            }
        }
    })
}

/// Whether the policy wants flash attention for a layer with `score_elems` (`b · H · T · S`)
/// attention scores (device and head dim aside).
pub fn flash_attention_wanted(score_elems: usize) -> bool {
    match flash_policy() {
        FlashPolicy::Always => true,
        FlashPolicy::Never => false,
        FlashPolicy::Auto => score_elems >= FLASH_AUTO_MIN_SCORES,
    }
}

/// Whether the training attention over heads of `head_dim` in `dtype` on `device`, with
/// `score_elems` scores, runs [`flash_attention`] (no `[B, H, T, S]` scores) instead of
/// materializing the scores for the masked-softmax kernel: where the kernels run
/// ([`enabled_on`]), the kernels take the head dim ([`flash_attn::supports`]: up to 128, 64 in
/// f64), and the policy wants it ([`flash_attention_wanted`]). Inference (prefill, decode) always
/// materializes its scores.
pub fn flash_attention_on(
    device: &candle_core::Device,
    dtype: candle_core::DType,
    head_dim: usize,
    score_elems: usize,
) -> bool {
    flash_attention_wanted(score_elems)
        && enabled_on(device)
        && flash_attn::supports(dtype, head_dim)
}

/// Whether the environment sets `TRAINER_CUDA_KERNELS=0` (read once per process).
pub fn cuda_kernels_switched_off() -> bool {
    static OFF: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OFF.get_or_init(|| {
        env_switch("TRAINER_CUDA_KERNELS", "the CUDA kernels stay on") == Some(false)
    })
}

/// Whether 16-bit flash attention runs its tensor-core kernels ([`flash_attn::plan::Cores`]):
/// yes unless the environment sets `TRAINER_FLASH_TENSOR_CORES=0`, which runs the CUDA-core
/// kernels instead (a switch for comparing the two on a GPU, or for working around a problem
/// with the tensor-core ones). Read once per process.
pub fn flash_tensor_cores() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        env_switch(
            "TRAINER_FLASH_TENSOR_CORES",
            "the tensor-core kernels stay on",
        ) != Some(false)
    })
}

/// An on/off environment variable: `Some(true)` for `1`, `Some(false)` for `0`, `None` when it
/// is unset or empty, or (with a warning ending in `fallback`) any other value.
fn env_switch(var: &str, fallback: &str) -> Option<bool> {
    let v = std::env::var(var).ok()?;
    match v.trim() {
        "1" => Some(true),
        "0" => Some(false),
        "" => None,
        other => {
            tracing::warn!("{var}={other:?} is not 0 or 1: {fallback}");
            None
        }
    }
}
