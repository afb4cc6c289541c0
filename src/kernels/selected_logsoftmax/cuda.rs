//! The `kernels/logsoftmax.cu` plans ([`super::plan`]) on contiguous CUDA storages.

use candle_core::backend::BackendStorage;
use candle_core::{CudaStorage, Layout};

use crate::kernels::exec;

fn single(mut out: Vec<CudaStorage>) -> candle_core::Result<CudaStorage> {
    out.pop().ok_or_else(|| {
        candle_core::Error::Msg("selected_log_softmax: the plan returned no output".into())
    })
}

/// The packed `(lp, lse[, entropy])` rows for `(logits, targets)`.
pub(super) fn forward(
    x: &CudaStorage,
    lx: &Layout,
    t: &CudaStorage,
    lt: &Layout,
    inv_t: f64,
    entropy: bool,
) -> candle_core::Result<CudaStorage> {
    let (rows, vocab) = super::rows_vocab(lx)?;
    let plan = super::plan::forward(x.dtype(), rows, vocab, inv_t, entropy)?;
    single(exec::run(x.device(), &plan, &[(x, lx), (t, lt)])?)
}

/// `dlogits` for `(logits, targets, gl)`.
pub(super) fn backward(
    x: &CudaStorage,
    lx: &Layout,
    t: &CudaStorage,
    lt: &Layout,
    gl: &CudaStorage,
    lgl: &Layout,
    inv_t: f64,
) -> candle_core::Result<CudaStorage> {
    let (rows, vocab) = super::rows_vocab(lx)?;
    let plan = super::plan::backward(x.dtype(), rows, vocab, inv_t)?;
    single(exec::run(
        x.device(),
        &plan,
        &[(x, lx), (t, lt), (gl, lgl)],
    )?)
}
