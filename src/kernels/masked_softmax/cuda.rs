//! The `kernels/softmax.cu` plans ([`super::plan`]) on contiguous CUDA storages.

use candle_core::backend::BackendStorage;
use candle_core::{CudaStorage, Layout};

use super::plan::SoftmaxDims;
use crate::kernels::exec;

type Input<'a> = (&'a CudaStorage, &'a Layout);

fn single(mut out: Vec<CudaStorage>) -> candle_core::Result<CudaStorage> {
    out.pop().ok_or_else(|| {
        candle_core::Error::Msg("masked_softmax: the plan returned no output".into())
    })
}

/// `p` for `(scores, mask)`.
pub(super) fn forward(
    scores: Input,
    mask: Input,
    dims: SoftmaxDims,
    scale: f64,
) -> candle_core::Result<CudaStorage> {
    let plan = super::plan::forward(scores.0.dtype(), dims, scale)?;
    single(exec::run(scores.0.device(), &plan, &[scores, mask])?)
}

/// `ds` for `(p, grad)`.
pub(super) fn backward(
    p: Input,
    g: Input,
    dims: SoftmaxDims,
    scale: f64,
) -> candle_core::Result<CudaStorage> {
    let plan = super::plan::backward(p.0.dtype(), dims, scale)?;
    single(exec::run(p.0.device(), &plan, &[p, g])?)
}
