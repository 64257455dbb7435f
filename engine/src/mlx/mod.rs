//! Safe Rust over MLX's C++ API (`mlx::core`), through the C ABI in `csrc/shim.cpp`.
//!
//! All of the engine's `unsafe` lives in this module. Every call that can throw in C++ returns a
//! status code; [`check`] turns a failure into [`MlxError`] carrying MLX's own message, read from a
//! thread-local in the shim. [`Array`] owns exactly one `mlx::core::array` handle and frees it in
//! `Drop`, so no handle leaks.
#![allow(unsafe_code)]

mod array;
mod cpu_rows;
mod device;
mod dtype;
mod fast;
mod ops;
mod random;
mod sys;

pub use array::{async_eval, eval, Array};
pub use cpu_rows::{rows_matmul, rows_matmul_max, rows_matmul_takes};
pub use device::{blas_info, device_info, memory, mlx_version, synchronize, Device, DeviceInfo, Stream};
pub use dtype::{Dtype, Element};
pub use fast::{attend_rows, attend_rows_enabled, attend_rows_supported, disable_attend_rows, disable_qmv_rows, layer_norm, prefer_unfused_prompt_attention, prompt_chunk_cap, qmv_rows, qmv_rows_available, rms_norm, rope, rope_rows, scaled_dot_product_attention, AttentionMask, QMV_ROWS_MAX};
pub use ops::*;
pub use random::RandomKey;

use std::ffi::CStr;

/// An exception thrown by MLX, with the operation that raised it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("mlx {op}: {message}")]
pub struct MlxError {
    /// The shim function that failed.
    pub op: &'static str,
    /// MLX's exception text.
    pub message: String,
}

/// Result of an MLX call.
pub type Result<T> = std::result::Result<T, MlxError>;

#[cold]
fn last_error(op: &'static str) -> MlxError {
    // SAFETY: the shim returns a pointer to its thread-local std::string, valid until the next call on
    // this thread; we copy it out at once.
    let message = unsafe { CStr::from_ptr(sys::ox_last_error()) }.to_string_lossy().into_owned();
    MlxError { op, message }
}

/// Turns a shim status code into a `Result`.
#[inline]
fn check(op: &'static str, status: std::ffi::c_int) -> Result<()> {
    if status == 0 {
        Ok(())
    } else {
        Err(last_error(op))
    }
}

/// Calls a shim function that writes one new array into its last argument.
macro_rules! call_out {
    ($f:ident ( $($arg:expr),* )) => {{
        let mut out: crate::mlx::sys::RawArray = std::ptr::null_mut();
        // SAFETY: every argument is a live handle or plain data; on success the shim stores a new
        // owning pointer in `out`, which `from_raw` takes over.
        let status = unsafe { crate::mlx::sys::$f($($arg,)* &mut out) };
        crate::mlx::check(stringify!($f), status).map(|()| unsafe { crate::mlx::Array::from_raw(out) })
    }};
}
pub(crate) use call_out;

/// Whether a kernel of ours is wanted: its switch `var` (`OLLMLX_QMV_ROWS`, ...) is not `0`.
/// Each switch exists for side-by-side measures against MLX's own kernels.
fn kernel_switched_on(var: &str) -> bool {
    std::env::var(var).map_or(true, |v| v.trim() != "0")
}

#[cfg(test)]
mod tests;
