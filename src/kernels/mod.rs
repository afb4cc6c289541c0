//! Fused tensor ops with hand-written CUDA kernels (`kernels/*.cu`, compiled to PTX by `build.rs`
//! under the `cuda` feature) and a CPU reference implementation of the same math, both exposed
//! through candle's custom-op API with a backward pass.
//!
//! On CPU the op runs its reference; on a CUDA device it launches the kernel. Tests compare the
//! reference with candle's plain-op composition (values and autograd gradients), and on a GPU the
//! kernel with the reference (`tests/kernels_*.rs`).

#[cfg(feature = "cuda")]
mod ptx;
pub mod rmsnorm;

pub use rmsnorm::rms_norm;
