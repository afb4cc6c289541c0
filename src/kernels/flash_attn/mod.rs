//! Causal attention without materializing the scores, with backward ("flash" attention): the
//! training path's attention on CUDA.
//!
//! candle's composition (`q·kᵀ`, masked softmax, `p·v`) keeps the `[B, H, T, S]` scores and
//! probabilities of a layer for the backward — at Qwen2.5-32B and 4096 tokens 1.3 GB per layer
//! in bf16, more than an 80 GB GPU has left in a recomputed layer. Here the forward keeps only
//! `o` and the per-query log-sum-exp, and the backward recomputes the probabilities tile by tile.
//!
//! Semantics ([`flash_attention`]): query `i` of `T` sits at key slot `S − T + i`; it sees keys
//! `j ≤ S − T + i` with `z = scale · q·k_j + bias_j` (its own slot without the bias) — the
//! model's causal + padding mask (`model::batch`), with `bias` the per-key padding term.
//!
//! CPU: [`reference`]; CUDA: `kernels/flash_attn.cu` (f32, f64, f16, bf16; tiles and sums in
//! f32, f64 for f64); f16/bf16 on the tensor cores (`kernels/flash_attn_tc.cuh`) unless
//! `TRAINER_FLASH_TENSOR_CORES=0` ([`plan::Cores`]).

#[cfg(feature = "cuda")]
mod cuda;
pub mod plan;
pub mod reference;

use std::sync::Arc;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, DType, Layout, Shape, Tensor, WithDType};

use crate::kernels::host::{by_dtype, is_float, slice};
use crate::kernels::plan::acc_dtype;
use plan::FlashDims;

/// The op's name in errors.
const OP: &str = "flash_attention";

/// Whether the kernels take heads of `head_dim` in `dtype` ([`plan::max_head_dim`]).
pub fn supports(dtype: DType, head_dim: usize) -> bool {
    is_float(dtype) && head_dim > 0 && head_dim <= plan::max_head_dim(dtype)
}

/// `softmax(scale · q·kᵀ + causal/padding mask) · v`, differentiable in `q`, `k` and `v`.
///
/// `q: [B, H, T, D]`, `k`, `v: [B, Hkv, S, D]` (`H` a multiple of `Hkv`: query head `h` reads
/// KV head `h / (H / Hkv)`; `S ≥ T`), all of one float dtype; `key_bias: [B, S]`, additive, any
/// float dtype (a constant: no gradient), e.g. 0 for real keys and a large negative number or
/// `-inf` for padding. Returns `o: [B, H, T, D]` in `q`'s dtype. Errors name the offending
/// shape or dtype; `D` above [`plan::max_head_dim`] is an error (see [`supports`]).
pub fn flash_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    key_bias: &Tensor,
    scale: f64,
) -> candle_core::Result<Tensor> {
    let dims = flash_dims(q, k, v, key_bias)?;
    let dtype = q.dtype();
    dims.check(dtype)?;
    let kv = Tensor::cat(&[k.contiguous()?, v.contiguous()?], 0)?;
    let bias = key_bias
        .detach()
        .to_dtype(acc_dtype(dtype))?
        .flatten_all()?
        .contiguous()?;
    super::count(super::Op::FlashAttention);
    let op = Forward { dims, scale };
    let packed = q
        .contiguous()?
        .apply_op3_arc(&kv, &bias, Arc::new(Box::new(op)))?;
    packed
        .narrow(0, 0, dims.q_len())?
        .reshape((dims.b, dims.heads, dims.t, dims.d))?
        .to_dtype(dtype)
}

/// The [`FlashDims`] of the four inputs, or an error naming their shapes and dtypes.
fn flash_dims(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    key_bias: &Tensor,
) -> candle_core::Result<FlashDims> {
    let bad = || {
        candle_core::Error::Msg(format!(
            "{OP}: q {:?} {:?}, k {:?} {:?}, v {:?} {:?}, key_bias {:?}: expected q [B, H, T, D], \
             k and v [B, Hkv, S, D] of q's float dtype, key_bias [B, S]",
            q.dims(),
            q.dtype(),
            k.dims(),
            k.dtype(),
            v.dims(),
            v.dtype(),
            key_bias.dims()
        ))
    };
    let (&[b, heads, t, d], &[kb, kv_heads, s, kd]) = (q.dims(), k.dims()) else {
        return Err(bad());
    };
    let same_dtype = k.dtype() == q.dtype() && v.dtype() == q.dtype();
    if kb != b
        || kd != d
        || v.dims() != k.dims()
        || key_bias.dims() != [b, s]
        || !same_dtype
        || !is_float(q.dtype())
        || !is_float(key_bias.dtype())
    {
        return Err(bad());
    }
    Ok(FlashDims {
        b,
        heads,
        kv_heads,
        t,
        s,
        d,
    })
}

/// `(q, kv, bias)` → packed `[o | lse]` (accumulator dtype); its backward applies [`Backward`].
struct Forward {
    dims: FlashDims,
    scale: f64,
}

/// `(q, kv, aux)` → `[dq | dk | dv]`, `aux = [o | lse | do | dlse | bias]`.
struct Backward {
    dims: FlashDims,
    scale: f64,
}

impl CustomOp3 for Forward {
    fn name(&self) -> &'static str {
        "trainer-flash-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let args = ((s1, l1), (s2, l2), (s3, l3));
        let out = by_dtype!(
            OP,
            s1.dtype(),
            cpu_forward::<_, acc>(args, self.dims, self.scale)
        )?;
        Ok((out, Shape::from(self.dims.packed_len())))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let out = cuda::forward([(s1, l1), (s2, l2), (s3, l3)], self.dims, self.scale)?;
        Ok((out, Shape::from(self.dims.packed_len())))
    }

    fn bwd(
        &self,
        q: &Tensor,
        kv: &Tensor,
        bias: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let aux = Tensor::cat(&[&res.detach(), grad, bias], 0)?.contiguous()?;
        let op = Backward {
            dims: self.dims,
            scale: self.scale,
        };
        let grads = q.apply_op3_no_bwd(kv, &aux, &op)?;
        let (q_len, kv_len) = (self.dims.q_len(), self.dims.kv_len());
        let dq = grads.narrow(0, 0, q_len)?.reshape(q.shape())?;
        let dkv = grads.narrow(0, q_len, kv_len)?.reshape(kv.shape())?;
        Ok((Some(dq), Some(dkv), None))
    }
}

impl CustomOp3 for Backward {
    fn name(&self) -> &'static str {
        "trainer-flash-attention-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let args = ((s1, l1), (s2, l2), (s3, l3));
        let out = by_dtype!(
            OP,
            s1.dtype(),
            cpu_backward::<_, acc>(args, self.dims, self.scale)
        )?;
        Ok((out, Shape::from(self.dims.grads_len())))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let out = cuda::backward([(s1, l1), (s2, l2), (s3, l3)], self.dims, self.scale)?;
        Ok((out, Shape::from(self.dims.grads_len())))
    }
}

type CpuArgs<'a> = (
    (&'a CpuStorage, &'a Layout),
    (&'a CpuStorage, &'a Layout),
    (&'a CpuStorage, &'a Layout),
);

/// The three inputs as slices, their lengths checked against `lens`.
fn inputs<'a, T: WithDType, A: WithDType>(
    ((s1, l1), (s2, l2), (s3, l3)): CpuArgs<'a>,
    lens: [usize; 3],
) -> candle_core::Result<(&'a [T], &'a [T], &'a [A])> {
    let (a, b, c) = (
        slice::<T>(OP, s1, l1)?,
        slice::<T>(OP, s2, l2)?,
        slice::<A>(OP, s3, l3)?,
    );
    if [a.len(), b.len(), c.len()] != lens {
        candle_core::bail!(
            "{OP}: inputs of {}, {}, {} elements; expected {lens:?}",
            a.len(),
            b.len(),
            c.len()
        );
    }
    Ok((a, b, c))
}

fn cpu_forward<T: WithDType, A: WithDType>(
    args: CpuArgs,
    dims: FlashDims,
    scale: f64,
) -> candle_core::Result<CpuStorage> {
    let (q, kv, bias) = inputs::<T, A>(args, [dims.q_len(), dims.kv_len(), dims.bias_len()])?;
    let packed = reference::forward(q, kv, bias, dims, scale);
    Ok(A::to_cpu_storage_owned(
        packed.into_iter().map(A::from_f64).collect(),
    ))
}

fn cpu_backward<T: WithDType, A: WithDType>(
    args: CpuArgs,
    dims: FlashDims,
    scale: f64,
) -> candle_core::Result<CpuStorage> {
    let (q, kv, aux) = inputs::<T, A>(args, [dims.q_len(), dims.kv_len(), dims.aux_len()])?;
    Ok(T::to_cpu_storage_owned(reference::backward(
        q, kv, aux, dims, scale,
    )))
}
