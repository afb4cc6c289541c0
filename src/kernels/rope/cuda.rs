//! The `kernels/rope.cu` plan ([`super::plan`]) on contiguous CUDA storages.

use candle_core::backend::BackendStorage;
use candle_core::{CudaStorage, Layout};

use super::plan::RopeDims;
use crate::kernels::exec;

/// The rotation (`inverse`: by minus the angle) of `(x, cos, sin)`.
pub(super) fn rotate(
    s: [(&CudaStorage, &Layout); 3],
    dims: RopeDims,
    inverse: bool,
) -> candle_core::Result<CudaStorage> {
    let [x, cos, sin] = s;
    let plan = super::plan::rotate(x.0.dtype(), dims, inverse)?;
    exec::run(x.0.device(), &plan, &[x, cos, sin])?
        .pop()
        .ok_or_else(|| candle_core::Error::Msg("rope: the plan returned no output".into()))
}
