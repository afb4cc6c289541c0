//! Runs a [`Plan`] on a CUDA device with cudarc: views of the input storages, new buffers for
//! the rest (uninitialized, or zero-filled where [`BufSpec::zeroed`] asks), the launches in order
//! on the device's stream, and the outputs wrapped as candle storages.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{
    CudaFunction, CudaSlice, CudaView, DeviceRepr, LaunchArgs, LaunchConfig, PushKernelArg,
    ValidAsZeroBits,
};
use candle_core::{CudaDevice, CudaStorage, DType, Layout};

use super::plan::{Arg, BufSpec, Plan};
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

impl<'a, T> Mem<'a, T> {
    /// Pushes the buffer's device pointer. Inputs go as read-only views; the plan's own
    /// buffers (outputs and temporaries, which kernels write) as `&mut` slices, so that with
    /// cudarc's multi-stream event tracking the launch waits for earlier uses and records its
    /// write (an `&CudaSlice` argument records only a read: a reader on another stream would
    /// not wait for this kernel).
    fn push<'b>(&'b mut self, b: &mut LaunchArgs<'b>)
    where
        'a: 'b,
    {
        match self {
            Mem::In(v) => b.arg(&*v),
            Mem::Own(s) => b.arg(s),
        };
    }
}

impl Buf<'_> {
    fn push<'b>(&'b mut self, b: &mut LaunchArgs<'b>) {
        match self {
            Buf::F32(m) => m.push(b),
            Buf::F64(m) => m.push(b),
            Buf::F16(m) => m.push(b),
            Buf::BF16(m) => m.push(b),
            Buf::U32(m) => m.push(b),
        }
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
            None => alloc(dev, *spec)?,
        };
        bufs.push(buf);
    }
    // The device's own stream: the one candle's ops, allocations and frees of this device use,
    // so the launches are ordered after the producers of the inputs and before their consumers.
    let stream = dev.cuda_stream();
    let module = format!("trainer-{}", plan.module);
    for l in &plan.launches {
        // Loads the module on its first use on this device (cached by name); afterwards only
        // looks the function up.
        let f = dev.get_or_load_custom_func(&l.kernel, &module, source)?;
        let func = CudaFunction::clone(&f);
        let mut b = stream.launch_builder(&func);
        // One exclusive borrow per buffer: `validate` ensures a launch names a buffer once.
        let mut slots: Vec<Option<&mut Buf>> = bufs.iter_mut().map(Some).collect();
        for a in &l.args {
            match a {
                Arg::Buf(i) => match slots.get_mut(*i).and_then(Option::take) {
                    Some(buf) => buf.push(&mut b),
                    None => {
                        candle_core::bail!("{}: no buffer {i}, or it is passed twice", l.kernel)
                    }
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
        // SAFETY: the plan's argument list matches the kernel's signature in count, order and
        // C type (`Arg::I32` is `int`, `F64` `double`, buffers are device pointers; checked for
        // every plan by the CPU emulation tests, tests/kernels_*.rs, against the real `.cu`
        // signatures), every buffer holds the elements the plan's launch geometry addresses,
        // and every argument (views, slices, scalars in `plan`) outlives the launch call, which
        // copies the argument values.
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
    let out_of_range = |have: usize| {
        candle_core::Error::Msg(format!(
            "{module}: input layout {start}..{end} outside a storage of {have} elements"
        ))
    };
    // `try_slice`, not `slice`: a layout beyond the storage is an error, not a panic.
    macro_rules! view {
        ($t:ty, $variant:ident) => {{
            let all = s.as_cuda_slice::<$t>()?;
            let v = all
                .try_slice(start..end)
                .ok_or_else(|| out_of_range(all.len()))?;
            Buf::$variant(Mem::In(v))
        }};
    }
    Ok(match dtype {
        DType::F32 => view!(f32, F32),
        DType::F64 => view!(f64, F64),
        DType::F16 => view!(half::f16, F16),
        DType::BF16 => view!(half::bf16, BF16),
        DType::U32 => view!(u32, U32),
        other => candle_core::bail!("{module}: no kernel buffers of dtype {other:?}"),
    })
}

/// A zero-filled buffer on the device's stream (`Plan::validate` rejects empty buffers).
fn alloc<'a>(dev: &CudaDevice, spec: BufSpec) -> candle_core::Result<Buf<'a>> {
    fn mem<'a, T: DeviceRepr + ValidAsZeroBits>(
        dev: &CudaDevice,
        spec: BufSpec,
    ) -> candle_core::Result<Mem<'a, T>> {
        let slice = if spec.zeroed {
            dev.alloc_zeros::<T>(spec.len)?
        } else {
            // SAFETY: the plan's kernels write every element of this buffer before any read
            // (`BufSpec::zeroed`; the CPU emulation fills such buffers with NaN to test it).
            unsafe { dev.alloc::<T>(spec.len)? }
        };
        Ok(Mem::Own(slice))
    }
    Ok(match spec.dtype {
        DType::F32 => Buf::F32(mem(dev, spec)?),
        DType::F64 => Buf::F64(mem(dev, spec)?),
        DType::F16 => Buf::F16(mem(dev, spec)?),
        DType::BF16 => Buf::BF16(mem(dev, spec)?),
        DType::U32 => Buf::U32(mem(dev, spec)?),
        other => candle_core::bail!("no kernel buffers of dtype {other:?}"),
    })
}
