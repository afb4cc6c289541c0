//! PTX modules built by `build.rs` from `kernels/*.cu`.

/// `kernels/rmsnorm.cu`. Empty when built with the fake nvcc of `scripts/check-cuda.sh`.
pub(crate) const RMSNORM: &str = include_str!(concat!(env!("OUT_DIR"), "/rmsnorm.ptx"));

/// Fails clearly when a PTX module is empty (a build whose nvcc produced no code), before the
/// driver is asked to load it.
pub(crate) fn ensure_built(module: &str, ptx: &str) -> candle_core::Result<()> {
    if ptx.trim().is_empty() {
        candle_core::bail!(
            "kernel module {module:?} has no PTX: this binary was built without a real nvcc \
             (e.g. scripts/check-cuda.sh); rebuild with scripts/build-cuda.sh"
        );
    }
    Ok(())
}
