//! Launch plans of `kernels/logsoftmax.cu` (see [`crate::kernels::plan`]): one block per row,
//! threads striding over the vocabulary, for the forward and for the backward.

use candle_core::DType;

use crate::kernels::plan::{
    acc_dtype, float_suffix, grid_x, row_threads, strided_arg, Arg, BufSpec, Plan, PlanError,
};

const OP: &str = "selected_log_softmax";
/// The kernel module, `kernels/logsoftmax.cu`.
const MODULE: &str = "logsoftmax";

/// Columns of the forward's packed output: `lp`, `lse`, and the entropy when asked for.
pub fn packed_cols(entropy: bool) -> usize {
    if entropy {
        3
    } else {
        2
    }
}

fn check(rows: usize, vocab: usize, inv_t: f64) -> Result<(i32, u32), PlanError> {
    if rows == 0 || vocab == 0 {
        return Err(PlanError::Invalid {
            op: OP,
            msg: format!("empty logits ({rows} rows of {vocab})"),
        });
    }
    if !(inv_t.is_finite() && inv_t > 0.0) {
        return Err(PlanError::Invalid {
            op: OP,
            msg: format!("1/temperature = {inv_t} must be finite and positive"),
        });
    }
    Ok((strided_arg(OP, "vocab", vocab)?, grid_x(OP, "rows", rows)?))
}

/// Inputs `logits: [rows, vocab]` (`dtype`), `targets: [rows]` (u32); output the packed
/// `[rows, packed_cols(entropy)]` rows `(lp, lse[, entropy])` in the accumulator dtype (f32, f64
/// for f64 logits).
pub fn forward(
    dtype: DType,
    rows: usize,
    vocab: usize,
    inv_t: f64,
    entropy: bool,
) -> Result<Plan, PlanError> {
    let sfx = float_suffix(OP, dtype)?;
    let (vocab_i, grid) = check(rows, vocab, inv_t)?;
    let k = packed_cols(entropy);
    let mut p = Plan::new(MODULE, &[spec(dtype, rows * vocab), spec(DType::U32, rows)]);
    let out = p.alloc(acc_dtype(dtype), rows * k);
    p.launch(
        format!("selected_logsoftmax_fwd_{sfx}"),
        (grid, 1, 1),
        (row_threads(vocab), 1, 1),
        vec![
            Arg::Buf(0),
            Arg::Buf(1),
            Arg::Buf(out),
            Arg::I32(vocab_i),
            Arg::I32(k as i32),
            Arg::F64(inv_t),
        ],
    );
    p.outputs.push(out);
    Ok(p)
}

/// Inputs `logits: [rows, vocab]` (`dtype`), `targets: [rows]` (u32) and `gl: [rows, 2]` (the
/// gradient of `lp` and the forward's `lse` per row, accumulator dtype); output
/// `dlogits: [rows, vocab]` in `dtype`.
pub fn backward(dtype: DType, rows: usize, vocab: usize, inv_t: f64) -> Result<Plan, PlanError> {
    let sfx = float_suffix(OP, dtype)?;
    let (vocab_i, grid) = check(rows, vocab, inv_t)?;
    let n = rows * vocab;
    let mut p = Plan::new(
        MODULE,
        &[
            spec(dtype, n),
            spec(DType::U32, rows),
            spec(acc_dtype(dtype), rows * 2),
        ],
    );
    let dx = p.alloc(dtype, n);
    p.launch(
        format!("selected_logsoftmax_bwd_{sfx}"),
        (grid, 1, 1),
        (row_threads(vocab), 1, 1),
        vec![
            Arg::Buf(0),
            Arg::Buf(1),
            Arg::Buf(2),
            Arg::Buf(dx),
            Arg::I32(vocab_i),
            Arg::F64(inv_t),
        ],
    );
    p.outputs.push(dx);
    Ok(p)
}

fn spec(dtype: DType, len: usize) -> BufSpec {
    BufSpec::new(dtype, len)
}
