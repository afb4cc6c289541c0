//! A device-independent description of one op's kernel launches: which buffers exist, which
//! kernels run in which order, with which grid, block and arguments.
//!
//! Every kernel op builds its [`Plan`] in plain Rust (no CUDA types), so the same plan is
//! executed two ways: on a GPU by [`super::exec`] (cudarc, feature `cuda`), and in the tests by
//! a CPU emulation of the CUDA execution model that compiles the same `kernels/*.cu` source with
//! a host C++ compiler (`tests/cuda_emu`). The launch geometry, the argument order and types, the
//! temporaries and the kernel source are therefore tested without a GPU; only the cudarc executor
//! and the hardware itself need one.

use candle_core::DType;

/// One buffer of a plan: `len` elements of `dtype`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufSpec {
    pub dtype: DType,
    pub len: usize,
    /// Allocated zero-filled; otherwise uninitialized, because the plan's kernels write every
    /// element before anything reads it (the CPU emulation fills such buffers with 0xFF bytes —
    /// NaN for floats — so a kernel that misses an element fails its comparison).
    pub zeroed: bool,
}

impl BufSpec {
    /// An input buffer, or an uninitialized one.
    pub fn new(dtype: DType, len: usize) -> BufSpec {
        BufSpec {
            dtype,
            len,
            zeroed: false,
        }
    }
}

/// One kernel argument: a buffer (by index into [`Plan::buffers`]) or a scalar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arg {
    /// A device pointer to the start of buffer `i`.
    Buf(usize),
    /// C `int`.
    I32(i32),
    /// C `unsigned int`.
    U32(u32),
    /// C `float`.
    F32(f32),
    /// C `double`.
    F64(f64),
}

/// One kernel launch.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    /// The `extern "C"` kernel name, e.g. `rmsnorm_fwd_bf16`.
    pub kernel: String,
    pub grid: (u32, u32, u32),
    pub block: (u32, u32, u32),
    pub args: Vec<Arg>,
}

/// The buffers and launches of one op, run in order on one stream.
///
/// Buffers `0..inputs` are the op's inputs, supplied by the caller in that order (contiguous,
/// with the listed dtype and length); every later buffer is allocated zero-filled by the
/// executor. `outputs` lists the buffers the caller gets back, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The kernel source module, `kernels/<module>.cu`.
    pub module: &'static str,
    pub buffers: Vec<BufSpec>,
    pub inputs: usize,
    pub outputs: Vec<usize>,
    pub launches: Vec<Launch>,
}

/// CUDA's limit on `gridDim.x` (2³¹ − 1, compute capability ≥ 3.0).
pub const MAX_GRID_X: usize = i32::MAX as usize;
/// CUDA's limit on `gridDim.y` and `gridDim.z`.
pub const MAX_GRID_YZ: usize = 65_535;
/// CUDA's limit on threads per block, and on `blockDim.x` and `blockDim.y`. Every kernel in
/// `kernels/*.cu` whose block size follows the data declares `__launch_bounds__(1024)`, so ptxas
/// keeps it launchable with this many threads (at most 64 registers per thread); the
/// flash-attention kernels run fixed 128-thread blocks and declare 128.
pub const MAX_BLOCK: usize = 1024;
/// CUDA's limit on `blockDim.z`.
pub const MAX_BLOCK_Z: usize = 64;

/// Errors of plan building: sizes beyond what the kernels' integer arguments or CUDA's grid
/// limits can address, or inconsistent inputs.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("{op}: {what} = {value} exceeds the kernel's limit {limit}")]
    TooLarge {
        op: &'static str,
        what: &'static str,
        value: usize,
        limit: usize,
    },
    #[error("{op}: unsupported dtype {dtype:?} ({supported})")]
    Dtype {
        op: &'static str,
        dtype: DType,
        supported: &'static str,
    },
    #[error("{op}: {msg}")]
    Invalid { op: &'static str, msg: String },
}

impl From<PlanError> for candle_core::Error {
    fn from(e: PlanError) -> Self {
        candle_core::Error::Msg(e.to_string())
    }
}

impl Plan {
    /// An empty plan over `inputs`.
    pub fn new(module: &'static str, inputs: &[BufSpec]) -> Plan {
        Plan {
            module,
            buffers: inputs.to_vec(),
            inputs: inputs.len(),
            outputs: Vec::new(),
            launches: Vec::new(),
        }
    }

    /// Adds an uninitialized buffer, every element of which the plan's kernels write before
    /// reading it, and returns its index (no memset on the GPU).
    pub fn alloc(&mut self, dtype: DType, len: usize) -> usize {
        self.buffers.push(BufSpec::new(dtype, len));
        self.buffers.len() - 1
    }

    /// Adds a zero-filled buffer (for kernels that accumulate into it) and returns its index.
    pub fn alloc_zeroed(&mut self, dtype: DType, len: usize) -> usize {
        self.buffers.push(BufSpec {
            zeroed: true,
            ..BufSpec::new(dtype, len)
        });
        self.buffers.len() - 1
    }

    /// Appends a launch.
    pub fn launch(
        &mut self,
        kernel: String,
        grid: (u32, u32, u32),
        block: (u32, u32, u32),
        args: Vec<Arg>,
    ) {
        self.launches.push(Launch {
            kernel,
            grid,
            block,
            args,
        });
    }

    /// Checks what the CUDA executor relies on: every buffer is non-empty (a zero-byte device
    /// allocation has no usable pointer); every output is a buffer the plan allocates, listed
    /// once; every buffer argument names a buffer, at most once per launch (the executor passes
    /// allocated buffers as `&mut` slices so that cudarc records the kernel's write); and every
    /// launch respects CUDA's grid and block limits.
    pub fn validate(&self) -> Result<(), PlanError> {
        let op = self.module;
        let n = self.buffers.len();
        let invalid = |msg: String| PlanError::Invalid { op, msg };
        if self.inputs > n {
            return Err(invalid(format!("{} inputs but {n} buffers", self.inputs)));
        }
        if let Some(i) = self.buffers.iter().position(|b| b.len == 0) {
            return Err(invalid(format!("buffer {i} is empty")));
        }
        for (k, &o) in self.outputs.iter().enumerate() {
            if o >= n || o < self.inputs {
                return Err(invalid(format!(
                    "output buffer {o} is not one of the allocated buffers {}..{n}",
                    self.inputs
                )));
            }
            if self.outputs.get(..k).is_some_and(|prev| prev.contains(&o)) {
                return Err(invalid(format!("output buffer {o} listed twice")));
            }
        }
        for l in &self.launches {
            let mut seen = Vec::new();
            for a in &l.args {
                if let Arg::Buf(i) = a {
                    if *i >= n {
                        return Err(invalid(format!("{}: buffer {i} of {n}", l.kernel)));
                    }
                    if seen.contains(i) {
                        return Err(invalid(format!(
                            "{}: buffer {i} passed twice to one launch",
                            l.kernel
                        )));
                    }
                    seen.push(*i);
                }
            }
            let (gx, gy, gz) = l.grid;
            let (bx, by, bz) = l.block;
            let threads = bx as usize * by as usize * bz as usize;
            if gx == 0 || gy == 0 || gz == 0 || threads == 0 {
                return Err(invalid(format!(
                    "{}: empty launch {:?} × {:?}",
                    l.kernel, l.grid, l.block
                )));
            }
            if gx as usize > MAX_GRID_X || gy as usize > MAX_GRID_YZ || gz as usize > MAX_GRID_YZ {
                return Err(invalid(format!(
                    "{}: grid {:?} beyond CUDA's limits",
                    l.kernel, l.grid
                )));
            }
            if threads > MAX_BLOCK || bz as usize > MAX_BLOCK_Z {
                return Err(invalid(format!(
                    "{}: block {:?} beyond CUDA's limits ({MAX_BLOCK} threads, z ≤ {MAX_BLOCK_Z})",
                    l.kernel, l.block
                )));
            }
        }
        Ok(())
    }
}

/// The kernel-name suffix of a dtype (`f32`, `f64`, `f16`, `bf16`).
pub fn float_suffix(op: &'static str, dtype: DType) -> Result<&'static str, PlanError> {
    match dtype {
        DType::F32 => Ok("f32"),
        DType::F64 => Ok("f64"),
        DType::F16 => Ok("f16"),
        DType::BF16 => Ok("bf16"),
        other => Err(PlanError::Dtype {
            op,
            dtype: other,
            supported: "f32/f64/f16/bf16",
        }),
    }
}

/// The accumulator dtype of a kernel over `dtype`: f64 for f64, else f32.
pub fn acc_dtype(dtype: DType) -> DType {
    if dtype == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// `n` as a C `int` kernel argument.
pub fn int_arg(op: &'static str, what: &'static str, n: usize) -> Result<i32, PlanError> {
    i32::try_from(n).map_err(|_| PlanError::TooLarge {
        op,
        what,
        value: n,
        limit: i32::MAX as usize,
    })
}

/// `n` as the C `int` bound of a kernel loop `for (int i = threadIdx.x; i < n; i += blockDim.x)`
/// (or of a thread index `blockIdx.x * blockDim.x + threadIdx.x` compared with `n`): at most
/// `i32::MAX - MAX_BLOCK`, so that the index never overflows `int` on its way past `n`.
pub fn strided_arg(op: &'static str, what: &'static str, n: usize) -> Result<i32, PlanError> {
    let limit = i32::MAX as usize - MAX_BLOCK;
    if n > limit {
        return Err(PlanError::TooLarge {
            op,
            what,
            value: n,
            limit,
        });
    }
    Ok(n as i32)
}

/// `n` as a grid dimension (x: up to 2³¹−1).
pub fn grid_x(op: &'static str, what: &'static str, n: usize) -> Result<u32, PlanError> {
    let limit = MAX_GRID_X;
    if n > limit {
        return Err(PlanError::TooLarge {
            op,
            what,
            value: n,
            limit,
        });
    }
    Ok(n as u32)
}

/// Threads per block for a kernel whose block strides over `cols` elements of one row: a
/// multiple of the warp size, at most 1024.
pub fn row_threads(cols: usize) -> u32 {
    (cols.div_ceil(32).clamp(1, 32) * 32) as u32
}
