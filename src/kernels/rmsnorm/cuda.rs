//! Launches of the `kernels/rmsnorm.cu` kernels on contiguous CUDA storages.

use crate::kernels::ptx;
use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::{
    CudaFunction, CudaView, DeviceRepr, LaunchConfig, PushKernelArg, ValidAsZeroBits,
};
use candle_core::cuda_backend::{CudaDType, WrapErr};
use candle_core::{CudaDevice, CudaStorage, DType, Layout, WithDType};

const MODULE: &str = "trainer-rmsnorm";
/// Threads per block of the column-wise weight-gradient kernels.
const COL_BLOCK: u32 = 256;
/// Rows each block of `rmsnorm_dw_partial` sums (at least; more when rows exceed the grid).
const ROWS_PER_CHUNK: usize = 64;
/// CUDA's limit on `gridDim.y`.
const MAX_GRID_Y: usize = 65_535;

/// An element type with kernels: its name suffix and its accumulator type.
trait Elem: CudaDType + DeviceRepr + WithDType + ValidAsZeroBits {
    const SUFFIX: &'static str;
    type Acc: DeviceRepr + ValidAsZeroBits;
}

impl Elem for f32 {
    const SUFFIX: &'static str = "f32";
    type Acc = f32;
}
impl Elem for f64 {
    const SUFFIX: &'static str = "f64";
    type Acc = f64;
}
impl Elem for half::f16 {
    const SUFFIX: &'static str = "f16";
    type Acc = f32;
}
impl Elem for half::bf16 {
    const SUFFIX: &'static str = "bf16";
    type Acc = f32;
}

/// `y` for `(x, weight)`.
pub(super) fn forward(
    x: &CudaStorage,
    lx: &Layout,
    w: &CudaStorage,
    lw: &Layout,
    eps: f64,
) -> candle_core::Result<CudaStorage> {
    fn run<T: Elem>(
        x: &CudaStorage,
        lx: &Layout,
        w: &CudaStorage,
        lw: &Layout,
        eps: f64,
    ) -> candle_core::Result<CudaStorage> {
        let dev = x.device();
        let (rows, cols) = rows_cols(lx)?;
        let (xs, ws) = (view::<T>(x, lx)?, view::<T>(w, lw)?);
        let func = func(dev, "rmsnorm_fwd", T::SUFFIX)?;
        // SAFETY: every element is written by the kernel below.
        let y = unsafe { dev.alloc::<T>(rows * cols)? };
        let stream = dev.cuda_stream();
        let mut b = stream.launch_builder(&func);
        let cols_i = to_i32(cols)?;
        b.arg(&xs).arg(&ws).arg(&y).arg(&cols_i).arg(&eps);
        // SAFETY: argument types and order match `rmsnorm_fwd_*`.
        unsafe { b.launch(row_config(rows, cols)) }.w()?;
        Ok(CudaStorage::wrap_cuda_slice(y, dev.clone()))
    }
    match x.dtype() {
        DType::F32 => run::<f32>(x, lx, w, lw, eps),
        DType::F64 => run::<f64>(x, lx, w, lw, eps),
        DType::F16 => run::<half::f16>(x, lx, w, lw, eps),
        DType::BF16 => run::<half::bf16>(x, lx, w, lw, eps),
        other => unsupported(other),
    }
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
    #[allow(clippy::too_many_arguments)]
    fn run<T: Elem>(
        x: &CudaStorage,
        lx: &Layout,
        w: &CudaStorage,
        lw: &Layout,
        g: &CudaStorage,
        lg: &Layout,
        eps: f64,
    ) -> candle_core::Result<CudaStorage> {
        let dev = x.device();
        let (rows, cols) = rows_cols(lx)?;
        let (xs, ws, gs) = (view::<T>(x, lx)?, view::<T>(w, lw)?, view::<T>(g, lg)?);
        let func = func(dev, "rmsnorm_bwd_dx", T::SUFFIX)?;
        // SAFETY: every element is written by the kernel below.
        let dx = unsafe { dev.alloc::<T>(rows * cols)? };
        let stream = dev.cuda_stream();
        let mut b = stream.launch_builder(&func);
        let cols_i = to_i32(cols)?;
        b.arg(&xs).arg(&ws).arg(&gs).arg(&dx).arg(&cols_i).arg(&eps);
        // SAFETY: argument types and order match `rmsnorm_bwd_dx_*`.
        unsafe { b.launch(row_config(rows, cols)) }.w()?;
        Ok(CudaStorage::wrap_cuda_slice(dx, dev.clone()))
    }
    match x.dtype() {
        DType::F32 => run::<f32>(x, lx, w, lw, g, lg, eps),
        DType::F64 => run::<f64>(x, lx, w, lw, g, lg, eps),
        DType::F16 => run::<half::f16>(x, lx, w, lw, g, lg, eps),
        DType::BF16 => run::<half::bf16>(x, lx, w, lw, g, lg, eps),
        other => unsupported(other),
    }
}

/// `dweight` for `(x, grad)`: per-row `1/rms`, then per-chunk column sums, then their sum in
/// chunk order (deterministic, no atomics).
pub(super) fn backward_weight(
    x: &CudaStorage,
    lx: &Layout,
    g: &CudaStorage,
    lg: &Layout,
    eps: f64,
) -> candle_core::Result<CudaStorage> {
    fn run<T: Elem>(
        x: &CudaStorage,
        lx: &Layout,
        g: &CudaStorage,
        lg: &Layout,
        eps: f64,
    ) -> candle_core::Result<CudaStorage> {
        let dev = x.device();
        let (rows, cols) = rows_cols(lx)?;
        let (xs, gs) = (view::<T>(x, lx)?, view::<T>(g, lg)?);
        let rows_per_chunk = ROWS_PER_CHUNK.max(rows.div_ceil(MAX_GRID_Y));
        let chunks = rows.div_ceil(rows_per_chunk);
        let (rows_i, cols_i) = (to_i32(rows)?, to_i32(cols)?);
        let (chunks_i, per_chunk_i) = (to_i32(chunks)?, to_i32(rows_per_chunk)?);

        let rstd = dev.alloc_zeros::<T::Acc>(rows)?;
        let partial = dev.alloc_zeros::<T::Acc>(chunks * cols)?;
        let dw = dev.alloc_zeros::<T>(cols)?;

        let f_rstd = func(dev, "rmsnorm_rstd", T::SUFFIX)?;
        let stream = dev.cuda_stream();
        let mut b = stream.launch_builder(&f_rstd);
        b.arg(&xs).arg(&rstd).arg(&cols_i).arg(&eps);
        // SAFETY: argument types and order match `rmsnorm_rstd_*`.
        unsafe { b.launch(row_config(rows, cols)) }.w()?;

        let col_blocks = to_u32(cols.div_ceil(COL_BLOCK as usize))?;
        let f_partial = func(dev, "rmsnorm_dw_partial", T::SUFFIX)?;
        let mut b = stream.launch_builder(&f_partial);
        b.arg(&xs).arg(&gs).arg(&rstd).arg(&partial);
        b.arg(&rows_i).arg(&cols_i).arg(&per_chunk_i);
        let cfg = LaunchConfig {
            grid_dim: (col_blocks, to_u32(chunks)?, 1),
            block_dim: (COL_BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: argument types and order match `rmsnorm_dw_partial_*`.
        unsafe { b.launch(cfg) }.w()?;

        let f_final = func(dev, "rmsnorm_dw_finalize", T::SUFFIX)?;
        let mut b = stream.launch_builder(&f_final);
        b.arg(&partial).arg(&dw).arg(&chunks_i).arg(&cols_i);
        let cfg = LaunchConfig {
            grid_dim: (col_blocks, 1, 1),
            block_dim: (COL_BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: argument types and order match `rmsnorm_dw_finalize_*`.
        unsafe { b.launch(cfg) }.w()?;
        Ok(CudaStorage::wrap_cuda_slice(dw, dev.clone()))
    }
    match x.dtype() {
        DType::F32 => run::<f32>(x, lx, g, lg, eps),
        DType::F64 => run::<f64>(x, lx, g, lg, eps),
        DType::F16 => run::<half::f16>(x, lx, g, lg, eps),
        DType::BF16 => run::<half::bf16>(x, lx, g, lg, eps),
        other => unsupported(other),
    }
}

/// `{name}_{suffix}` from the module (loaded once per device).
fn func(dev: &CudaDevice, name: &str, suffix: &str) -> candle_core::Result<CudaFunction> {
    ptx::ensure_built(MODULE, ptx::RMSNORM)?;
    let f = dev.get_or_load_custom_func(&format!("{name}_{suffix}"), MODULE, ptx::RMSNORM)?;
    Ok(CudaFunction::clone(&f))
}

/// One block per row; threads cover the row in strides (a multiple of the warp size, ≤ 1024).
fn row_config(rows: usize, cols: usize) -> LaunchConfig {
    let threads = cols.div_ceil(32).clamp(1, 32) * 32;
    LaunchConfig {
        grid_dim: (rows as u32, 1, 1),
        block_dim: (threads as u32, 1, 1),
        shared_mem_bytes: 0,
    }
}

fn view<'a, T: Elem>(s: &'a CudaStorage, l: &Layout) -> candle_core::Result<CudaView<'a, T>> {
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!(
            "rms_norm: input with shape {:?} is not contiguous",
            l.dims()
        );
    };
    Ok(s.as_cuda_slice::<T>()?.slice(start..end))
}

/// `(rows, cols)` of a layout normalized over its last dim; both must fit the kernels' `int`.
fn rows_cols(l: &Layout) -> candle_core::Result<(usize, usize)> {
    let cols = l.dims().last().copied().unwrap_or(0);
    if cols == 0 {
        candle_core::bail!(
            "rms_norm: input shape {:?} has no non-empty last dim",
            l.dims()
        );
    }
    let rows = l.shape().elem_count() / cols;
    to_u32(rows)?;
    to_i32(cols)?;
    Ok((rows, cols))
}

fn to_i32(n: usize) -> candle_core::Result<i32> {
    i32::try_from(n).map_err(|_| candle_core::Error::Msg(format!("rms_norm: {n} exceeds i32")))
}

fn to_u32(n: usize) -> candle_core::Result<u32> {
    u32::try_from(n).map_err(|_| candle_core::Error::Msg(format!("rms_norm: {n} exceeds u32")))
}

fn unsupported<R>(dtype: DType) -> candle_core::Result<R> {
    candle_core::bail!("rms_norm: unsupported dtype {dtype:?} on CUDA (f32/f64/f16/bf16)")
}
