//! Launch plans of `kernels/rope.cu` (see [`crate::kernels::plan`]).
//!
//! One launch: blocks of `(bx, by)` threads, `by` rows of `D` per block and `bx` threads striding
//! over each row's `D/2` pairs.

use candle_core::DType;

use crate::kernels::plan::{
    acc_dtype, float_suffix, grid_x, int_arg, strided_arg, Arg, BufSpec, Plan, PlanError,
};

const OP: &str = "rope";
/// Threads per block (at most; `bx · by`).
const BLOCK: usize = 256;
/// The most threads per row (`bx`).
const MAX_ROW_THREADS: usize = 128;

/// The shape of a rotary embedding: `x: [b, heads, seq, dim]`, tables `[b, seq, dim/2]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RopeDims {
    pub b: usize,
    pub heads: usize,
    pub seq: usize,
    pub dim: usize,
}

impl RopeDims {
    /// Elements of `x`.
    pub fn x_len(&self) -> usize {
        self.b * self.heads * self.seq * self.dim
    }

    /// Elements of each table (`cos`, `sin`).
    pub fn table_len(&self) -> usize {
        self.b * self.seq * (self.dim / 2)
    }
}

/// `y = rope(x)` (`inverse = false`) or the backward `dx = rope⁻¹(g)` (`inverse = true`).
///
/// Inputs: `x` (or `g`) `[b, heads, seq, dim]` of `dtype`; `cos`, `sin` `[b, seq, dim/2]` of the
/// accumulator dtype ([`acc_dtype`]: f32, f64 for f64). Output: `[b, heads, seq, dim]` of `dtype`.
pub fn rotate(dtype: DType, dims: RopeDims, inverse: bool) -> Result<Plan, PlanError> {
    let sfx = float_suffix(OP, dtype)?;
    let RopeDims { b, heads, seq, dim } = dims;
    if b == 0 || heads == 0 || seq == 0 || dim == 0 || dim % 2 != 0 {
        return Err(PlanError::Invalid {
            op: OP,
            msg: format!("x [{b}, {heads}, {seq}, {dim}] must be non-empty with an even last dim"),
        });
    }
    let rows = b.saturating_mul(heads).saturating_mul(seq);
    let rows_i = int_arg(OP, "rows (b · heads · seq)", rows)?;
    // The kernel strides over `half` pairs and indexes the second half of a row with int
    // (`half + i < dim`).
    strided_arg(OP, "dim", dim)?;
    let half = dim / 2;
    let bx = half.next_power_of_two().clamp(32, MAX_ROW_THREADS);
    let by = BLOCK / bx;
    let grid = grid_x(OP, "row blocks", rows.div_ceil(by))?;
    let acc = acc_dtype(dtype);
    let n = dims.x_len();
    let table = BufSpec::new(acc, dims.table_len());
    let mut p = Plan::new("rope", &[BufSpec::new(dtype, n), table, table]);
    let y = p.alloc(dtype, n);
    let kind = if inverse { "bwd" } else { "fwd" };
    p.launch(
        format!("rope_{kind}_{sfx}"),
        (grid, 1, 1),
        (bx as u32, by as u32, 1),
        vec![
            Arg::Buf(0),
            Arg::Buf(1),
            Arg::Buf(2),
            Arg::Buf(y),
            Arg::I32(rows_i),
            Arg::I32(int_arg(OP, "heads", heads)?),
            Arg::I32(int_arg(OP, "seq", seq)?),
            Arg::I32(int_arg(OP, "dim / 2", half)?),
        ],
    );
    p.outputs.push(y);
    Ok(p)
}
