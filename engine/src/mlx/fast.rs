//! MLX's fused kernels (`mlx::core::fast`): never re-implemented by hand.
use super::{call_out, Array, Result};
use std::ffi::CString;

fn null() -> super::sys::RawArray {
    std::ptr::null_mut()
}

/// RMS normalisation over the last axis, with an optional weight.
pub fn rms_norm(x: &Array, weight: Option<&Array>, eps: f32) -> Result<Array> {
    call_out!(ox_rms_norm(x.raw(), weight.map_or(null(), Array::raw), eps))
}

/// Layer normalisation over the last axis.
pub fn layer_norm(x: &Array, weight: Option<&Array>, bias: Option<&Array>, eps: f32) -> Result<Array> {
    call_out!(ox_layer_norm(
        x.raw(),
        weight.map_or(null(), Array::raw),
        bias.map_or(null(), Array::raw),
        eps
    ))
}

/// Rotary embedding of the first `dims` features at positions `offset..`. With `freqs` given
/// (custom per-feature frequencies, e.g. llama3 scaling), `base` is ignored.
pub fn rope(
    x: &Array,
    dims: usize,
    traditional: bool,
    base: f32,
    scale: f32,
    offset: usize,
    freqs: Option<&Array>,
) -> Result<Array> {
    let base = if freqs.is_some() { 0.0 } else { base };
    call_out!(ox_rope(x.raw(), dims as i32, traditional, base, scale, offset as i32, freqs.map_or(null(), Array::raw)))
}

/// [`rope`] with a start position per batch row: `x` is `[B, H, L, D]`, `offsets` an int32
/// vector of B positions (continuous batching, where every sequence is at its own length).
pub fn rope_rows(
    x: &Array,
    dims: usize,
    traditional: bool,
    base: f32,
    scale: f32,
    offsets: &Array,
    freqs: Option<&Array>,
) -> Result<Array> {
    let base = if freqs.is_some() { 0.0 } else { base };
    call_out!(ox_rope_rows(x.raw(), dims as i32, traditional, base, scale, offsets.raw(), freqs.map_or(null(), Array::raw)))
}

/// How attention is masked.
#[derive(Debug)]
pub enum AttentionMask<'a> {
    /// Every query sees every key.
    None,
    /// Query i sees keys up to its own position (aligned to the end of the keys).
    Causal,
    /// An explicit boolean (true = keep) or additive mask.
    Array(&'a Array),
}

/// Fused `softmax(q k^T * scale + mask) v` with grouped-query support.
pub fn scaled_dot_product_attention(
    q: &Array,
    k: &Array,
    v: &Array,
    scale: f32,
    mask: AttentionMask<'_>,
) -> Result<Array> {
    let (mode, arr) = match mask {
        AttentionMask::None => ("", null()),
        AttentionMask::Causal => ("causal", null()),
        AttentionMask::Array(a) => ("", a.raw()),
    };
    let mode = CString::new(mode).expect("static mask mode has no NUL");
    call_out!(ox_sdpa(q.raw(), k.raw(), v.raw(), scale, mode.as_ptr(), arr))
}
