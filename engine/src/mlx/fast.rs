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

/// The CUDA source of [`qmv_rows`] (MLX compiles it at run time).
const QMV_ROWS_SOURCE: &str = concat!(include_str!("kernels/qmv_rows.cu"), "\0");

/// Most rows [`qmv_rows`] takes (two tensor-core tiles of 8).
pub const QMV_ROWS_MAX: usize = 16;

/// Set when [`qmv_rows`] failed to compile or run here (a GPU without bf16/f16 mma, say).
static QMV_ROWS_OFF: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether [`qmv_rows`] can run: the CUDA backend is the default device, the kernel has not
/// failed here ([`disable_qmv_rows`]), and `OLLMLX_QMV_ROWS=0` (for side-by-side measures
/// against MLX's own dispatch) is not set.
pub fn qmv_rows_available() -> bool {
    static WANTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WANTED.get_or_init(|| super::kernel_switched_on("OLLMLX_QMV_ROWS")) && kernel_runs(&QMV_ROWS_OFF)
}

/// Whether a CUDA kernel of ours can run now: the CUDA backend is the default device and the
/// kernel has not been switched off (`off`) after failing here.
fn kernel_runs(off: &std::sync::atomic::AtomicBool) -> bool {
    cuda_backend() && !off.load(std::sync::atomic::Ordering::Relaxed) && super::Device::default_device() == super::Device::Gpu
}

/// Whether this libmlx has the CUDA backend with a device.
fn cuda_backend() -> bool {
    static CUDA: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    // SAFETY: plain query; the shim catches everything.
    *CUDA.get_or_init(|| unsafe { super::sys::ox_cuda_available() } == 1)
}

/// MLX's switch for cuDNN attention on CUDA (read once, at the first attention).
const CUDNN_ATTENTION_VAR: &str = "MLX_CUDA_USE_CUDNN_SDPA";

/// Leaves attention over prompt chunks to MLX's unfused kernels (matmul, softmax, matmul) on
/// CUDA, unless `MLX_CUDA_USE_CUDNN_SDPA` is set. MLX runs it through cuDNN, and builds a cuDNN
/// graph for every new combination of query and key shapes and strides: about 36 ms each on
/// an H100 (`scripts/gpu-sdpa-shapes.py`; 0.2-5 ms unfused). A server meets a new combination
/// with nearly every prompt chunk (its length and the cached length vary), once per sequence
/// of a step, so cuDNN added that much to nearly every first token. [`prompt_chunk_cap`]
/// bounds what the unfused path holds. It sets an environment variable, so call it first,
/// while the process has one thread. Metal and the CPU are unaffected.
pub fn prefer_unfused_prompt_attention() {
    if std::env::var_os(CUDNN_ATTENTION_VAR).is_none() {
        std::env::set_var(CUDNN_ATTENTION_VAR, "0");
    }
}

/// Scores per attention head that one prompt chunk may hold where attention is unfused.
const UNFUSED_SCORES: usize = 1 << 23;

/// Most prompt tokens one chunk may take over `cached` positions. Unfused attention (CUDA with
/// cuDNN attention off) holds all of a chunk's scores at once, chunk x (cached + chunk) per
/// head: chunks shrink as the context grows, so that stays near [`UNFUSED_SCORES`] (16 MiB a
/// head in bf16), and never below 256 tokens. No limit elsewhere.
pub fn prompt_chunk_cap(cached: usize) -> usize {
    static UNFUSED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let unfused = *UNFUSED.get_or_init(|| {
        cuda_backend() && std::env::var(CUDNN_ATTENTION_VAR).is_ok_and(|v| v.trim().parse::<i64>() == Ok(0))
    });
    if unfused {
        unfused_chunk_cap(cached)
    } else {
        usize::MAX
    }
}

/// [`prompt_chunk_cap`] where attention is unfused.
fn unfused_chunk_cap(cached: usize) -> usize {
    (UNFUSED_SCORES / cached.max(1)).max(256)
}

#[cfg(test)]
mod chunk_cap_tests {
    use super::unfused_chunk_cap;

    #[test]
    fn unfused_prompt_chunks_shrink_with_the_context_down_to_256() {
        assert!(unfused_chunk_cap(0) >= 2048, "a fresh prompt keeps the usual 2048-token chunks");
        assert_eq!(unfused_chunk_cap(4096), 2048);
        assert_eq!(unfused_chunk_cap(16_384), 512);
        assert_eq!(unfused_chunk_cap(1 << 20), 256);
        for cached in [1000, 20_000, 100_000] {
            let n = unfused_chunk_cap(cached);
            assert!(n == 256 || n * cached <= 1 << 23, "{n} tokens over {cached} hold too many scores");
        }
    }
}

/// Leaves every few-row matmul of this process to MLX's kernels.
pub fn disable_qmv_rows() {
    QMV_ROWS_OFF.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// `x @ dequantize(w).T` for `x` of `[..., K]` holding M rows, 2 <= M <= [`QMV_ROWS_MAX`]
/// (the result keeps x's leading axes), and 4-bit affine weights `[N, K/8]` with `group_size`
/// (32, 64 or 128) and biases; K a multiple of 64. A CUDA kernel of ours that reads and
/// dequantizes each weight once for all rows and multiplies on the tensor cores, where MLX's CUDA
/// dispatch runs its one-row kernel once per row below 8 rows and a tiled kernel with too few
/// blocks to keep the memory busy from 8 (BENCHMARKS.md, "Serving on the GPU"). Only where
/// [`qmv_rows_available`].
pub fn qmv_rows(x: &Array, w: &Array, scales: &Array, biases: &Array, group_size: i32) -> Result<Array> {
    call_out!(ox_qmv_rows(x.raw(), w.raw(), scales.raw(), biases.raw(), group_size, QMV_ROWS_SOURCE.as_ptr().cast()))
}

/// The CUDA source of [`attend_rows`].
const ATTEND_ROWS_SOURCE: &str = concat!(include_str!("kernels/attend_rows.cu"), "\0");

/// Set when [`attend_rows`] failed to compile or run here.
static ATTEND_ROWS_OFF: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether [`attend_rows`] runs heads of width `head_dim` in `dtype` here: the CUDA backend is
/// the default device, the kernel has not failed here ([`disable_attend_rows`]), and the width
/// is a power of two from 16 to 512 (the kernel's block splits a value row in pairs of dims).
pub fn attend_rows_supported(head_dim: usize, dtype: super::Dtype) -> bool {
    head_dim.is_power_of_two()
        && (16..=512).contains(&head_dim)
        && matches!(dtype, super::Dtype::Bfloat16 | super::Dtype::Float16 | super::Dtype::Float32)
        && kernel_runs(&ATTEND_ROWS_OFF)
}

/// Whether the shared decode batch attends through [`attend_rows`]: where it is supported, unless
/// `OLLMLX_ATTEND_ROWS=0` (for side-by-side measures against MLX's masked attention). On an H100
/// it takes the engine's 8-row step of a 1B model from 3.6-4.8 ms to 2.4-2.9 ms
/// (BENCHMARKS.md, "Fewer graph nodes in the batched step").
pub fn attend_rows_enabled(head_dim: usize, dtype: super::Dtype) -> bool {
    static WANTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *WANTED.get_or_init(|| super::kernel_switched_on("OLLMLX_ATTEND_ROWS"))
        && attend_rows_supported(head_dim, dtype)
}

/// Leaves the decode batch's attention to MLX's masked attention for the rest of this process.
pub fn disable_attend_rows() {
    ATTEND_ROWS_OFF.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The shared decode batch's attention in one CUDA kernel of ours: row r's one query
/// (`q` `[R, H, 1, D]`) over positions `0..=offsets[r]` of its own row of `k` and `v`
/// (`[R, KVH, CAP, D]`, the whole buffers), softmax in f32; returns `[1, R, H * D]`. MLX's CUDA
/// attention has no kernel for one query under a padding mask and runs it unfused, half a
/// dozen launches a layer (kernels/attend_rows.cu). Only where [`attend_rows_supported`].
pub fn attend_rows(q: &Array, k: &Array, v: &Array, offsets: &Array, scale: f32) -> Result<Array> {
    call_out!(ox_attend_rows(q.raw(), k.raw(), v.raw(), offsets.raw(), scale, ATTEND_ROWS_SOURCE.as_ptr().cast()))
}
