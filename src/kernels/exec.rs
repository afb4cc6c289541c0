//! Runs a [`Plan`] on a CUDA device with cudarc: views of the input storages, zero-filled
//! buffers for the rest, the launches in order on the device's stream, and the outputs wrapped
//! as candle storages.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{
    CudaFunction, CudaSlice, CudaView, LaunchArgs, LaunchConfig, PushKernelArg,
};
use candle_core::{CudaDevice, CudaStorage, DType, Layout};

use super::plan::{Arg, Plan};
use super::ptx;

/// A device buffer of one of the dtypes plans use.
enum Buf<'a> {
    F32(Mem<'a, f32>),
    F64(Mem<'a, f64>),
    F16(Mem<'a, half::f16>),
    BF16(Mem<'a, half::bf16>),
    U32(Mem<'a, u32>),
}

/// An input's view or an owned allocation.
enum Mem<'a, T> {
    In(CudaView<'a, T>),
    Own(CudaSlice<T>),
}

impl<T> Mem<'_, T> {
    fn push<'b>(&'b self, b: &mut LaunchArgs<'b>) {
        match self {
            Mem::In(v) => b.arg(v),
            Mem::Own(s) => b.arg(s),
        };
    }
}

/// Runs `plan` with `inputs` (one `(storage, layout)` per input buffer, contiguous) and returns
/// its outputs.
pub(crate) fn run(
    dev: &CudaDevice,
    plan: &Plan,
    inputs: &[(&CudaStorage, &Layout)],
) -> candle_core::Result<Vec<CudaStorage>> {
    plan.validate()?;
    if inputs.len() != plan.inputs {
        candle_core::bail!(
            "{}: {} inputs given, the plan takes {}",
            plan.module,
            inputs.len(),
            plan.inputs
        );
    }
    let source = ptx::source(plan.module)?;
    let mut bufs = Vec::with_capacity(plan.buffers.len());
    for (i, spec) in plan.buffers.iter().enumerate() {
        let buf = match inputs.get(i) {
            Some(&(s, l)) => input_view(plan.module, s, l, spec.dtype, spec.len)?,
            None => alloc(dev, spec.dtype, spec.len)?,
        };
        bufs.push(buf);
    }
    let stream = dev.cuda_stream();
    for l in &plan.launches {
        let module = format!("trainer-{}", plan.module);
        let f = dev.get_or_load_custom_func(&l.kernel, &module, source)?;
        let func = CudaFunction::clone(&f);
        let mut b = stream.launch_builder(&func);
        for a in &l.args {
            match a {
                Arg::Buf(i) => match bufs.get(*i) {
                    Some(Buf::F32(m)) => m.push(&mut b),
                    Some(Buf::F64(m)) => m.push(&mut b),
                    Some(Buf::F16(m)) => m.push(&mut b),
                    Some(Buf::BF16(m)) => m.push(&mut b),
                    Some(Buf::U32(m)) => m.push(&mut b),
                    None => candle_core::bail!("{}: no buffer {i}", l.kernel),
                },
                Arg::I32(v) => {
                    b.arg(v);
                }
                Arg::U32(v) => {
                    b.arg(v);
                }
                Arg::F32(v) => {
                    b.arg(v);
                }
                Arg::F64(v) => {
                    b.arg(v);
                }
            }
        }
        let cfg = LaunchConfig {
            grid_dim: l.grid,
            block_dim: l.block,
            shared_mem_bytes: 0,
        };
        // SAFETY: the plan's argument list matches the kernel's signature (checked for every
        // plan by the CPU emulation tests, tests/kernels_emu.rs), and every buffer holds the
        // elements the plan's launch geometry addresses.
        unsafe { b.launch(cfg) }
            .map_err(|e| candle_core::Error::Msg(format!("{}: launch failed: {e}", l.kernel)))?;
    }
    let mut out = Vec::with_capacity(plan.outputs.len());
    let mut bufs: Vec<Option<Buf>> = bufs.into_iter().map(Some).collect();
    for &o in &plan.outputs {
        let buf = bufs.get_mut(o).and_then(Option::take);
        let storage = match buf {
            Some(Buf::F32(Mem::Own(s))) => CudaStorage::wrap_cuda_slice(s, dev.clone()),
            Some(Buf::F64(Mem::Own(s))) => CudaStorage::wrap_cuda_slice(s, dev.clone()),
            Some(Buf::F16(Mem::Own(s))) => CudaStorage::wrap_cuda_slice(s, dev.clone()),
            Some(Buf::BF16(Mem::Own(s))) => CudaStorage::wrap_cuda_slice(s, dev.clone()),
            Some(Buf::U32(Mem::Own(s))) => CudaStorage::wrap_cuda_slice(s, dev.clone()),
            _ => candle_core::bail!(
                "{}: output buffer {o} is an input or listed twice",
                plan.module
            ),
        };
        out.push(storage);
    }
    Ok(out)
}

fn input_view<'a>(
    module: &str,
    s: &'a CudaStorage,
    l: &Layout,
    dtype: DType,
    len: usize,
) -> candle_core::Result<Buf<'a>> {
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!(
            "{module}: input with shape {:?} is not contiguous",
            l.dims()
        );
    };
    if end - start != len || s.dtype() != dtype {
        candle_core::bail!(
            "{module}: input is {:?} with {} elements, the plan expects {dtype:?} with {len}",
            s.dtype(),
            end - start
        );
    }
    Ok(match dtype {
        DType::F32 => Buf::F32(Mem::In(s.as_cuda_slice::<f32>()?.slice(start..end))),
        DType::F64 => Buf::F64(Mem::In(s.as_cuda_slice::<f64>()?.slice(start..end))),
        DType::F16 => Buf::F16(Mem::In(s.as_cuda_slice::<half::f16>()?.slice(start..end))),
        DType::BF16 => Buf::BF16(Mem::In(s.as_cuda_slice::<half::bf16>()?.slice(start..end))),
        DType::U32 => Buf::U32(Mem::In(s.as_cuda_slice::<u32>()?.slice(start..end))),
        other => candle_core::bail!("{module}: no kernel buffers of dtype {other:?}"),
    })
}

fn alloc<'a>(dev: &CudaDevice, dtype: DType, len: usize) -> candle_core::Result<Buf<'a>> {
    // At least one element: a zero-length allocation has no device pointer.
    let len = len.max(1);
    Ok(match dtype {
        DType::F32 => Buf::F32(Mem::Own(dev.alloc_zeros::<f32>(len)?)),
        DType::F64 => Buf::F64(Mem::Own(dev.alloc_zeros::<f64>(len)?)),
        DType::F16 => Buf::F16(Mem::Own(dev.alloc_zeros::<half::f16>(len)?)),
        DType::BF16 => Buf::BF16(Mem::Own(dev.alloc_zeros::<half::bf16>(len)?)),
        DType::U32 => Buf::U32(Mem::Own(dev.alloc_zeros::<u32>(len)?)),
        other => candle_core::bail!("no kernel buffers of dtype {other:?}"),
    })
}
