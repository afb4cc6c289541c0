//! PTX modules built by `build.rs` from `kernels/*.cu`.

/// `kernels/rmsnorm.cu`. Empty when built with the fake nvcc of `scripts/check-cuda.sh`.
const RMSNORM: &str = include_str!(concat!(env!("OUT_DIR"), "/rmsnorm.ptx"));
/// `kernels/rope.cu`.
const ROPE: &str = include_str!(concat!(env!("OUT_DIR"), "/rope.ptx"));
/// `kernels/softmax.cu`.
const SOFTMAX: &str = include_str!(concat!(env!("OUT_DIR"), "/softmax.ptx"));
/// `kernels/logsoftmax.cu` (selective log-softmax).
const LOGSOFTMAX: &str = include_str!(concat!(env!("OUT_DIR"), "/logsoftmax.ptx"));
/// `kernels/flash_attn.cu` (causal attention without the score matrix).
const FLASH_ATTN: &str = include_str!(concat!(env!("OUT_DIR"), "/flash_attn.ptx"));

/// The PTX of `kernels/<module>.cu`. Fails clearly for an unknown module and for an empty one
/// (a build whose nvcc produced no code), before the driver is asked to load it.
pub(crate) fn source(module: &str) -> candle_core::Result<&'static str> {
    let ptx = match module {
        "rmsnorm" => RMSNORM,
        "rope" => ROPE,
        "softmax" => SOFTMAX,
        "logsoftmax" => LOGSOFTMAX,
        "flash_attn" => FLASH_ATTN,
        other => candle_core::bail!("no kernel module {other:?} in this build"),
    };
    if ptx.trim().is_empty() {
        candle_core::bail!(
            "kernel module {module:?} has no PTX: this binary was built without a real nvcc \
             (e.g. scripts/check-cuda.sh); rebuild with scripts/build-cuda.sh"
        );
    }
    Ok(ptx)
}
