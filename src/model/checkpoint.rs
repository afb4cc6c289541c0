//! Layer-wise activation recompute ("gradient checkpointing") for candle's autograd.
//!
//! A checkpointed decoder layer is one graph node: its forward runs the layer with the adapters
//! detached (no graph, so its activations are freed at once) and keeps only the layer input; its
//! backward re-runs the layer with a graph, back-propagates the incoming gradient through it and
//! returns the input gradient.
//!
//! candle's custom ops return gradients for their tensor arguments only, so the layer's LoRA
//! tensors reach the outer gradient store through "carriers": each adapter tensor `v` enters the
//! graph as `c_v = carrier(v)` (the scalar 0), and the layer input becomes `x` with `Σ c_v`
//! attached as a second input (the same values). The carriers are ancestors of the checkpoint node, so candle's topological backward
//! visits them after it: the checkpoint's backward leaves each `∂L/∂v` in a shared stash and the
//! carrier hands it on as its own input gradient. Gradients are exactly those of the plain graph.
//!
//! Both ops only copy a precomputed value (or produce a scalar zero) in their forward, written once
//! over candle's `BackendStorage` / `BackendDevice` traits for the CPU and CUDA backends
//! ([`Precomputed`], [`scalar_zero`]); the recompute itself is ordinary tensor code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use candle_core::backend::{BackendDevice, BackendStorage};
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Storage, Tensor, TensorId, Var,
};

use super::batch::Batch;
use super::decoder::DecoderLayer;
use super::error::Result;
use super::layers::Mode;

type Stash = Arc<Mutex<HashMap<TensorId, Tensor>>>;

/// Runs `layer` on `x` as one recomputed node (CPU and CUDA; the caller checks the device).
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
        let c = v.as_tensor().apply_op1(GradCarrier::Stashed {
            stash: stash.clone(),
            id: v.as_tensor().id(),
        })?;
        zero = Some(match zero {
            None => c,
            Some(z) => (z + c)?,
        });
    }
    if let Some(z) = zero {
        input = input.apply_op2(&z, AttachCarriers)?;
    }
    Ok(input.apply_op1(LayerCheckpoint {
        layer: layer.clone(),
        batch: batch.clone(),
        index,
        value: Precomputed::new(value),
        vars,
        stash,
    })?)
}

struct LayerCheckpoint {
    layer: DecoderLayer,
    batch: Batch,
    index: usize,
    /// The layer output computed without a graph, moved into the op's result by the forward.
    value: Precomputed,
    vars: Vec<Var>,
    stash: Stash,
}

impl CustomOp1 for LayerCheckpoint {
    fn name(&self) -> &'static str {
        "layer-checkpoint"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.value.cpu(self.name())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        self.value.cuda(self.name())
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
        let grads = y
            .apply_op1(GradCarrier::Given(grad_res.detach()))?
            .backward()?;
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

/// The scalar 0 in the forward; in the backward, a gradient for its input that does not depend
/// on the incoming one (used where the backward's own seed carries no information).
enum GradCarrier {
    /// The gradient of an adapter tensor that the layer checkpoint left in the stash: the
    /// carrier `c_v` of the module docs.
    Stashed { stash: Stash, id: TensorId },
    /// A given gradient, as the root of a backward: `seed.backward()` with `seed =
    /// Given(g)` applied to `y` gives the gradients of `Σ y ⊙ g` (the vector-Jacobian product of
    /// `y` with `g`) without computing that product, its sum, or their backward — elementwise
    /// passes and a one-block reduction over the layer's whole output per recomputed layer.
    Given(Tensor),
}

impl CustomOp1 for GradCarrier {
    fn name(&self) -> &'static str {
        match self {
            GradCarrier::Stashed { .. } => "checkpoint-grad-carrier",
            GradCarrier::Given(_) => "checkpoint-seed-grad",
        }
    }

    fn cpu_fwd(&self, s: &CpuStorage, _: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        scalar_zero(s)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        _: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        scalar_zero(s)
    }

    fn bwd(&self, _: &Tensor, _: &Tensor, _: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (stash, id) = match self {
            GradCarrier::Given(g) => return Ok(Some(g.clone())),
            GradCarrier::Stashed { stash, id } => (stash, id),
        };
        let g = stash
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        match g {
            Some(g) => Ok(Some(g)),
            None => candle_core::bail!(
                "checkpoint-grad-carrier: the layer's recompute has not produced this adapter's gradient"
            ),
        }
    }
}

/// `x` with the carriers' scalar sum `z` attached as a second input, so that the carriers are
/// ancestors of the checkpoint: the value is a copy of `x` (as `x + z` with `z = 0` was); the
/// backward passes the gradient to `x` and a scalar 0 to `z` (the carriers ignore it), instead of
/// the broadcast-add's reduction of the whole gradient to a scalar.
struct AttachCarriers;

impl CustomOp2 for AttachCarriers {
    fn name(&self) -> &'static str {
        "checkpoint-attach-carriers"
    }

    fn cpu_fwd(
        &self,
        s: &CpuStorage,
        l: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        copy_storage(s, l)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        copy_storage(s, l)
    }

    fn bwd(
        &self,
        _: &Tensor,
        z: &Tensor,
        _: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad.clone()), Some(z.zeros_like()?)))
    }
}

/// A value computed beforehand (without a graph) that a custom op's forward moves into its result:
/// the forward of a recomputed node. Taken once; a second forward is an error.
pub(crate) struct Precomputed(Mutex<Option<Tensor>>);

impl Precomputed {
    pub(crate) fn new(value: Tensor) -> Self {
        Self(Mutex::new(Some(value)))
    }

    fn take(&self, op: &str) -> candle_core::Result<Tensor> {
        let value = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        match value {
            Some(v) => Ok(v),
            None => candle_core::bail!("{op}: forward value already taken"),
        }
    }

    /// The value as CPU storage (the CPU forward of op `op`).
    pub(crate) fn cpu(&self, op: &str) -> candle_core::Result<(CpuStorage, Shape)> {
        copy_value(&self.take(op)?, |s| match s {
            Storage::Cpu(s) => Some(s),
            _ => None,
        })
    }

    /// The value as CUDA storage (the CUDA forward of op `op`).
    #[cfg(feature = "cuda")]
    pub(crate) fn cuda(&self, op: &str) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        copy_value(&self.take(op)?, |s| match s {
            Storage::Cuda(s) => Some(s),
            _ => None,
        })
    }
}

/// A fresh contiguous copy of `t`'s data on `t`'s backend (`pick` selects the backend's storage
/// from candle's `Storage` enum; `None` means `t` lives elsewhere). Used by custom ops whose
/// forward returns a value computed beforehand.
fn copy_value<S: BackendStorage>(
    t: &Tensor,
    pick: impl FnOnce(&Storage) -> Option<&S>,
) -> candle_core::Result<(S, Shape)>
where
    S::Device: BackendDevice<Storage = S>,
{
    let (st, l) = t.storage_and_layout();
    let Some(src) = pick(&st) else {
        candle_core::bail!(
            "precomputed value on {:?} is not on the op's device",
            t.device().location()
        );
    };
    copy_storage(src, l)
}

/// A fresh contiguous copy of the elements of `src` that layout `l` addresses.
fn copy_storage<S: BackendStorage>(src: &S, l: &Layout) -> candle_core::Result<(S, Shape)>
where
    S::Device: BackendDevice<Storage = S>,
{
    // SAFETY: `copy_strided_src` writes every element of the contiguous `dst` (same shape) before
    // anything reads it, so no uninitialized memory is observed.
    let mut dst = unsafe { src.device().alloc_uninit(l.shape(), src.dtype())? };
    src.copy_strided_src(&mut dst, 0, l)?;
    Ok((dst, l.shape().clone()))
}

/// The scalar 0 of `s`'s dtype on `s`'s device.
fn scalar_zero<S: BackendStorage>(s: &S) -> candle_core::Result<(S, Shape)>
where
    S::Device: BackendDevice<Storage = S>,
{
    let shape = Shape::from(());
    Ok((s.device().zeros_impl(&shape, s.dtype())?, shape))
}
