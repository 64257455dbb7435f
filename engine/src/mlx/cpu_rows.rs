//! The CPU's matmul for the few rows of a batched decode step (`csrc/rows_matmul.cpp`).
//!
//! MLX's CPU matmul calls BLAS sgemm, and OpenBLAS repacks every weight matrix before it
//! multiplies: with 2 to 12 rows that copy is most of a decode step. This MLX primitive of ours
//! reads each weight row once, in place, for all rows, and splits the output columns over the
//! cores (BENCHMARKS.md, "The CPU's few-row matmul"). A lone row stays with MLX, so one sequence
//! keeps exactly mlx-lm's arithmetic.
use super::{call_out, Array, Device, Dtype, Result};

/// Whether the kernel serves this process: an x86-64 CPU with AVX2 and FMA, and
/// `OLLMLX_CPU_ROWS=0` (for side-by-side measures against MLX's matmul) not set.
fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    // SAFETY: plain query.
    *AVAILABLE.get_or_init(|| {
        super::kernel_switched_on("OLLMLX_CPU_ROWS") && unsafe { super::sys::ox_rows_matmul_supported() } == 1
    })
}

/// Most rows [`rows_matmul`] takes; from about 16 rows OpenBLAS's packed kernels are as fast.
pub fn rows_matmul_max() -> usize {
    // SAFETY: returns a constant.
    unsafe { super::sys::ox_rows_matmul_max() as usize }
}

/// Whether [`rows_matmul`] computes `x @ w.T` here: the CPU is the default device, both are f32,
/// `w` is `[N, K]` with K a multiple of 8, and `x` holds 2 to [`rows_matmul_max`] rows.
pub fn rows_matmul_takes(x: &Array, w: &Array) -> bool {
    if x.dtype() != Dtype::Float32 || w.dtype() != Dtype::Float32 || w.ndim() != 2 || !available() {
        return false;
    }
    let k = x.shape().last().copied().unwrap_or(0);
    if k == 0 || k % 8 != 0 || w.shape()[1] != k {
        return false;
    }
    (2..=rows_matmul_max()).contains(&(x.size() / k)) && Device::default_device() == Device::Cpu
}

/// `x @ w.T` for f32 `x` `[..., K]` and `w` `[N, K]`, where [`rows_matmul_takes`] them; the result
/// keeps x's leading axes.
pub fn rows_matmul(x: &Array, w: &Array) -> Result<Array> {
    call_out!(ox_rows_matmul(x.raw(), w.raw()))
}
