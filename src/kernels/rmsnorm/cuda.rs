//! The `kernels/rmsnorm.cu` plans ([`super::plan`]) on contiguous CUDA storages.

use candle_core::backend::BackendStorage;
use candle_core::{CudaStorage, Layout};

use crate::kernels::exec;

/// `(rows, cols)` of a layout normalized over its last dim.
fn rows_cols(l: &Layout) -> candle_core::Result<(usize, usize)> {
    let cols = l.dims().last().copied().unwrap_or(0);
    if cols == 0 {
        candle_core::bail!(
            "rms_norm: input shape {:?} has no non-empty last dim",
            l.dims()
        );
    }
    Ok((l.shape().elem_count() / cols, cols))
}

fn single(mut out: Vec<CudaStorage>) -> candle_core::Result<CudaStorage> {
    out.pop()
        .ok_or_else(|| candle_core::Error::Msg("rms_norm: the plan returned no output".into()))
}

/// `y` for `(x, weight)`.
pub(super) fn forward(
    x: &CudaStorage,
    lx: &Layout,
    w: &CudaStorage,
    lw: &Layout,
    eps: f64,
) -> candle_core::Result<CudaStorage> {
    let (rows, cols) = rows_cols(lx)?;
    let plan = super::plan::forward(x.dtype(), rows, cols, eps)?;
    single(exec::run(x.device(), &plan, &[(x, lx), (w, lw)])?)
}

/// `dx` for `(x, weight, grad)`.
pub(super) fn backward_x(
    x: &CudaStorage,
    lx: &Layout,
    w: &CudaStorage,
    lw: &Layout,
    g: &CudaStorage,
    lg: &Layout,
    eps: f64,
) -> candle_core::Result<CudaStorage> {
    let (rows, cols) = rows_cols(lx)?;
    let plan = super::plan::backward_x(x.dtype(), rows, cols, eps)?;
    single(exec::run(x.device(), &plan, &[(x, lx), (w, lw), (g, lg)])?)
}

/// `dweight` for `(x, grad)`.
pub(super) fn backward_weight(
    x: &CudaStorage,
    lx: &Layout,
    g: &CudaStorage,
    lg: &Layout,
    eps: f64,
) -> candle_core::Result<CudaStorage> {
    let (rows, cols) = rows_cols(lx)?;
    let plan = super::plan::backward_weight(x.dtype(), rows, cols, eps)?;
    single(exec::run(x.device(), &plan, &[(x, lx), (g, lg)])?)
}
