//! Host-side helpers shared by the ops' CPU paths: dtype dispatch and contiguous storage slices.

use candle_core::{CpuStorage, DType, Layout, WithDType};

/// Calls `$f::<T>(args)` with `T` the element type of `$dtype` (f32, f64, f16 or bf16), or with
/// `$f::<_, acc>` also its accumulator type (f64 for f64, else f32); other dtypes are an error
/// naming the op `$op`.
macro_rules! by_dtype {
    ($op:expr, $dtype:expr, $f:ident::<_, acc>($($arg:expr),* $(,)?)) => {
        match $dtype {
            candle_core::DType::F32 => $f::<f32, f32>($($arg),*),
            candle_core::DType::F64 => $f::<f64, f64>($($arg),*),
            candle_core::DType::F16 => $f::<half::f16, f32>($($arg),*),
            candle_core::DType::BF16 => $f::<half::bf16, f32>($($arg),*),
            other => Err($crate::kernels::host::unsupported($op, other)),
        }
    };
    ($op:expr, $dtype:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $dtype {
            candle_core::DType::F32 => $f::<f32>($($arg),*),
            candle_core::DType::F64 => $f::<f64>($($arg),*),
            candle_core::DType::F16 => $f::<half::f16>($($arg),*),
            candle_core::DType::BF16 => $f::<half::bf16>($($arg),*),
            other => Err($crate::kernels::host::unsupported($op, other)),
        }
    };
}
pub(crate) use by_dtype;

/// The error for a dtype the kernels do not take.
pub(crate) fn unsupported(op: &str, dtype: DType) -> candle_core::Error {
    candle_core::Error::Msg(format!(
        "{op}: unsupported dtype {dtype:?} (f32/f64/f16/bf16)"
    ))
}

/// f32, f64, f16 or bf16.
pub(crate) fn is_float(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::F64 | DType::F16 | DType::BF16)
}

/// The contiguous elements of `s` under `l`; errors name the op.
pub(crate) fn slice<'a, T: WithDType>(
    op: &str,
    s: &'a CpuStorage,
    l: &Layout,
) -> candle_core::Result<&'a [T]> {
    let all = T::cpu_storage_as_slice(s)?;
    let Some((start, end)) = l.contiguous_offsets() else {
        candle_core::bail!("{op}: input with shape {:?} is not contiguous", l.dims());
    };
    all.get(start..end).ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "{op}: layout {start}..{end} outside a storage of {} elements",
            all.len()
        ))
    })
}
