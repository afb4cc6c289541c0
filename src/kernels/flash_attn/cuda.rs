//! The `kernels/flash_attn.cu` plans ([`super::plan`]) on contiguous CUDA storages.

use candle_core::backend::BackendStorage;
use candle_core::{CudaStorage, Layout};

use super::plan::{Cores, FlashDims};
use crate::kernels::exec;

type Input<'a> = (&'a CudaStorage, &'a Layout);

fn single(mut out: Vec<CudaStorage>) -> candle_core::Result<CudaStorage> {
    out.pop().ok_or_else(|| {
        candle_core::Error::Msg("flash_attention: the plan returned no output".into())
    })
}

/// The kernels: the default for the pass and dtype, or the CUDA cores when
/// `TRAINER_FLASH_TENSOR_CORES=0`.
fn cores(default: Cores) -> Cores {
    if crate::kernels::flash_tensor_cores() {
        default
    } else {
        Cores::Simt
    }
}

/// `[o | lse]` for `(q, kv, bias)`.
pub(super) fn forward(
    inputs: [Input; 3],
    dims: FlashDims,
    scale: f64,
) -> candle_core::Result<CudaStorage> {
    let dtype = inputs[0].0.dtype();
    let plan = super::plan::forward_on(dtype, dims, scale, cores(Cores::default_forward(dtype)))?;
    single(exec::run(inputs[0].0.device(), &plan, &inputs)?)
}

/// `[dq | dk | dv]` for `(q, kv, aux)`.
pub(super) fn backward(
    inputs: [Input; 3],
    dims: FlashDims,
    scale: f64,
) -> candle_core::Result<CudaStorage> {
    let dtype = inputs[0].0.dtype();
    let plan = super::plan::backward_on(dtype, dims, scale, cores(Cores::default_backward(dtype)))?;
    single(exec::run(inputs[0].0.device(), &plan, &inputs)?)
}
