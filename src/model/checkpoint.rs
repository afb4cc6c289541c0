//! Layer-wise activation recompute ("gradient checkpointing") for candle's autograd.
//!
//! A checkpointed decoder layer is one graph node: its forward runs the layer with the adapters
//! detached (no graph, so its activations are freed at once) and keeps only the layer input; its
//! backward re-runs the layer with a graph, back-propagates the incoming gradient through it and
//! returns the input gradient.
//!
//! candle's custom ops return gradients for their tensor arguments only, so the layer's LoRA
//! tensors reach the outer gradient store through "carriers": each adapter tensor `v` enters the
//! graph as `c_v = carrier(v)` (the scalar 0), and the layer input becomes `x + Σ c_v` (the same
//! values). The carriers are ancestors of the checkpoint node, so candle's topological backward
//! visits them after it: the checkpoint's backward leaves each `∂L/∂v` in a shared stash and the
//! carrier hands it on as its own input gradient. Gradients are exactly those of the plain graph.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Storage, Tensor, TensorId, Var};

use super::batch::Batch;
use super::decoder::DecoderLayer;
use super::error::Result;
use super::layers::Mode;

type Stash = Arc<Mutex<HashMap<TensorId, Tensor>>>;

/// Runs `layer` on `x` as one recomputed node (CPU only; the caller checks the device).
pub(crate) fn checkpointed_layer(
    layer: &DecoderLayer,
    x: &Tensor,
    batch: &Batch,
    index: usize,
) -> Result<Tensor> {
    let vars = layer.active_adapter_vars(batch);
    let stash: Stash = Arc::new(Mutex::new(HashMap::new()));
    let mut no_grad = batch.clone();
    no_grad.detach_adapters = true;
    let value = layer.forward(&x.detach(), &no_grad, index, None, Mode::Train)?;
    let mut input = x.clone();
    let mut zero: Option<Tensor> = None;
    for v in &vars {
        let c = v.as_tensor().apply_op1(GradCarrier {
            stash: stash.clone(),
            id: v.as_tensor().id(),
        })?;
        zero = Some(match zero {
            None => c,
            Some(z) => (z + c)?,
        });
    }
    if let Some(z) = zero {
        input = input.broadcast_add(&z.to_dtype(x.dtype())?)?;
    }
    Ok(input.apply_op1(LayerCheckpoint {
        layer: layer.clone(),
        batch: batch.clone(),
        index,
        value: Mutex::new(Some(value)),
        vars,
        stash,
    })?)
}

struct LayerCheckpoint {
    layer: DecoderLayer,
    batch: Batch,
    index: usize,
    /// The layer output computed without a graph, moved into the op's result by the forward.
    value: Mutex<Option<Tensor>>,
    vars: Vec<Var>,
    stash: Stash,
}

impl CustomOp1 for LayerCheckpoint {
    fn name(&self) -> &'static str {
        "layer-checkpoint"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let value = self
            .value
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match value {
            Some(v) => copy_to_cpu_storage(&v),
            None => candle_core::bail!("layer-checkpoint: forward value already taken"),
        }
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let leaf = Var::from_tensor(&arg.detach())?;
        let y = self
            .layer
            .forward(leaf.as_tensor(), &self.batch, self.index, None, Mode::Train)
            .map_err(|e| candle_core::Error::Msg(format!("layer-checkpoint recompute: {e}")))?;
        let grads = (y * grad_res.detach())?.sum_all()?.backward()?;
        let mut stash = self.stash.lock().unwrap_or_else(PoisonError::into_inner);
        for v in &self.vars {
            let g = match grads.get(v.as_tensor()) {
                Some(g) => g.clone(),
                None => v.as_tensor().zeros_like()?,
            };
            stash.insert(v.as_tensor().id(), g);
        }
        Ok(grads.get(leaf.as_tensor()).cloned())
    }
}

/// The scalar 0 in the forward; in the backward, the gradient of its adapter tensor that the
/// layer checkpoint left in the stash.
struct GradCarrier {
    stash: Stash,
    id: TensorId,
}

impl CustomOp1 for GradCarrier {
    fn name(&self) -> &'static str {
        "checkpoint-grad-carrier"
    }

    fn cpu_fwd(&self, s: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let zero = match s {
            CpuStorage::F32(_) => CpuStorage::F32(vec![0.0]),
            CpuStorage::F64(_) => CpuStorage::F64(vec![0.0]),
            CpuStorage::F16(_) => CpuStorage::F16(vec![half::f16::ZERO]),
            CpuStorage::BF16(_) => CpuStorage::BF16(vec![half::bf16::ZERO]),
            other => candle_core::bail!(
                "checkpoint-grad-carrier: unsupported dtype {:?}",
                other.dtype()
            ),
        };
        Ok((zero, Shape::from(())))
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, _: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let g = self
            .stash
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
        match g {
            Some(g) => Ok(Some(g)),
            None => candle_core::bail!(
                "checkpoint-grad-carrier: the layer's recompute has not produced this adapter's gradient"
            ),
        }
    }
}

/// A contiguous CPU copy of `t`'s data.
fn copy_to_cpu_storage(t: &Tensor) -> candle_core::Result<(CpuStorage, Shape)> {
    let t = t.contiguous()?;
    let (st, l) = t.storage_and_layout();
    let Storage::Cpu(cs) = &*st else {
        candle_core::bail!("layer-checkpoint: the layer output is not on the CPU");
    };
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("layer-checkpoint: non-contiguous layer output");
    };
    fn slice<T: Clone>(v: &[T], a: usize, b: usize) -> candle_core::Result<Vec<T>> {
        match v.get(a..b) {
            Some(s) => Ok(s.to_vec()),
            None => candle_core::bail!("layer-checkpoint: layout out of the storage's bounds"),
        }
    }
    let out = match cs {
        CpuStorage::F32(v) => CpuStorage::F32(slice(v, a, b)?),
        CpuStorage::F64(v) => CpuStorage::F64(slice(v, a, b)?),
        CpuStorage::F16(v) => CpuStorage::F16(slice(v, a, b)?),
        CpuStorage::BF16(v) => CpuStorage::BF16(slice(v, a, b)?),
        other => candle_core::bail!("layer-checkpoint: unsupported dtype {:?}", other.dtype()),
    };
    Ok((out, l.shape().clone()))
}
