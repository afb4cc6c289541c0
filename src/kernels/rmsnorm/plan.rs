//! Launch plans of `kernels/rmsnorm.cu` (see [`crate::kernels::plan`]).
//!
//! - forward and `dx`: one block per row, threads striding over the row;
//! - `dweight`: per-row `1/rms`, per-chunk column sums (a `[chunks, cols]` buffer), then their
//!   sum in chunk order — deterministic, no atomics.

use candle_core::DType;

use crate::kernels::plan::{
    acc_dtype, float_suffix, grid_x, int_arg, row_threads, strided_arg, Arg, BufSpec, Plan,
    PlanError, MAX_GRID_YZ,
};

const OP: &str = "rms_norm";
/// Threads per block of the column-wise weight-gradient kernels.
const COL_BLOCK: u32 = 256;
/// Rows each block of `rmsnorm_dw_partial` sums (at least; more when rows exceed the grid).
const ROWS_PER_CHUNK: usize = 64;

fn check(rows: usize, cols: usize) -> Result<(i32, u32), PlanError> {
    if rows == 0 || cols == 0 {
        return Err(PlanError::Invalid {
            op: OP,
            msg: format!("empty input ({rows} rows of {cols})"),
        });
    }
    Ok((strided_arg(OP, "cols", cols)?, grid_x(OP, "rows", rows)?))
}

/// Inputs `x: [rows, cols]`, `w: [cols]`; output `y: [rows, cols]`.
pub fn forward(dtype: DType, rows: usize, cols: usize, eps: f64) -> Result<Plan, PlanError> {
    let sfx = float_suffix(OP, dtype)?;
    let (cols_i, grid) = check(rows, cols)?;
    let mut p = Plan::new("rmsnorm", &[spec(dtype, rows * cols), spec(dtype, cols)]);
    let y = p.alloc(dtype, rows * cols);
    p.launch(
        format!("rmsnorm_fwd_{sfx}"),
        (grid, 1, 1),
        (row_threads(cols), 1, 1),
        vec![
            Arg::Buf(0),
            Arg::Buf(1),
            Arg::Buf(y),
            Arg::I32(cols_i),
            Arg::F64(eps),
        ],
    );
    p.outputs.push(y);
    Ok(p)
}

/// Inputs `x: [rows, cols]`, `w: [cols]`, `grad: [rows, cols]`; output `dx: [rows, cols]`.
pub fn backward_x(dtype: DType, rows: usize, cols: usize, eps: f64) -> Result<Plan, PlanError> {
    let sfx = float_suffix(OP, dtype)?;
    let (cols_i, grid) = check(rows, cols)?;
    let n = rows * cols;
    let mut p = Plan::new(
        "rmsnorm",
        &[spec(dtype, n), spec(dtype, cols), spec(dtype, n)],
    );
    let dx = p.alloc(dtype, n);
    p.launch(
        format!("rmsnorm_bwd_dx_{sfx}"),
        (grid, 1, 1),
        (row_threads(cols), 1, 1),
        vec![
            Arg::Buf(0),
            Arg::Buf(1),
            Arg::Buf(2),
            Arg::Buf(dx),
            Arg::I32(cols_i),
            Arg::F64(eps),
        ],
    );
    p.outputs.push(dx);
    Ok(p)
}

/// Inputs `x: [rows, cols]`, `grad: [rows, cols]`; output `dweight: [cols]`.
pub fn backward_weight(
    dtype: DType,
    rows: usize,
    cols: usize,
    eps: f64,
) -> Result<Plan, PlanError> {
    let sfx = float_suffix(OP, dtype)?;
    let (cols_i, grid) = check(rows, cols)?;
    let acc = acc_dtype(dtype);
    let n = rows * cols;
    let rows_per_chunk = ROWS_PER_CHUNK.max(rows.div_ceil(MAX_GRID_YZ));
    let chunks = rows.div_ceil(rows_per_chunk);
    let col_blocks = grid_x(OP, "column blocks", cols.div_ceil(COL_BLOCK as usize))?;
    let mut p = Plan::new("rmsnorm", &[spec(dtype, n), spec(dtype, n)]);
    let rstd = p.alloc(acc, rows);
    let partial = p.alloc(acc, chunks * cols);
    let dw = p.alloc(dtype, cols);
    p.launch(
        format!("rmsnorm_rstd_{sfx}"),
        (grid, 1, 1),
        (row_threads(cols), 1, 1),
        vec![Arg::Buf(0), Arg::Buf(rstd), Arg::I32(cols_i), Arg::F64(eps)],
    );
    p.launch(
        format!("rmsnorm_dw_partial_{sfx}"),
        (col_blocks, chunks as u32, 1),
        (COL_BLOCK, 1, 1),
        vec![
            Arg::Buf(0),
            Arg::Buf(1),
            Arg::Buf(rstd),
            Arg::Buf(partial),
            Arg::I32(int_arg(OP, "rows", rows)?),
            Arg::I32(cols_i),
            Arg::I32(int_arg(OP, "rows per chunk", rows_per_chunk)?),
        ],
    );
    p.launch(
        format!("rmsnorm_dw_finalize_{sfx}"),
        (col_blocks, 1, 1),
        (COL_BLOCK, 1, 1),
        vec![
            Arg::Buf(partial),
            Arg::Buf(dw),
            Arg::I32(int_arg(OP, "chunks", chunks)?),
            Arg::I32(cols_i),
        ],
    );
    p.outputs.push(dw);
    Ok(p)
}

fn spec(dtype: DType, len: usize) -> BufSpec {
    BufSpec::new(dtype, len)
}
