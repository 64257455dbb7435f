//! Model architectures: one file per Hugging Face `model_type`, over the shared blocks in
//! [`common`] and the trunk in [`transformer`]. [`REGISTRY`] is the single table that maps a
//! config's `model_type` to an architecture.
pub mod common;
pub mod gemma;
pub mod gemma2;
pub mod gemma3_text;
pub mod llama;
pub mod phi3;
pub mod qwen2;
pub mod qwen3;
pub mod rope;
pub mod transformer;

use crate::batch_kv::RowsStep;
use crate::cache::LayerCache;
use crate::error::{EngineError, Result};
use crate::mlx::Array;
use crate::nn::Loader;
use crate::weights::Weights;
use std::path::Path;

/// What every architecture provides. The caller owns the cache, so one model serves many
/// sequences at once.
pub trait Architecture: Send + Sync {
    /// Logits `[B, L, vocab]` for token ids `[B, L]`, appending to `cache`.
    fn forward(&self, tokens: &Array, cache: &mut [LayerCache]) -> Result<Array>;
    /// Logits `[R + B, vocab]` at the last new position of each sequence run together in one
    /// pass: first the R rows of the shared decode batch (`rows`), then B sequences with
    /// caches of their own (`inputs[i]` are sequence i's new token ids, `caches[i]` its cache).
    fn forward_last(&self, rows: Option<&mut RowsStep<'_>>, inputs: &[&Array], caches: &mut [&mut [LayerCache]]) -> Result<Array>;
    /// Whether decoding sequences can share a [`crate::batch_kv::BatchKv`].
    fn batches_rows(&self) -> bool;
    /// Final (normed) hidden states `[B, L, hidden]`, for embeddings.
    fn hidden(&self, tokens: &Array, cache: &mut [LayerCache]) -> Result<Array>;
    /// A fresh cache, one entry per layer.
    fn make_cache(&self) -> Vec<LayerCache>;
    /// Every weight array (for evaluation at load and byte counts).
    fn arrays(&self) -> Vec<&Array>;
}

/// Builds an architecture from config.json and a loader.
pub type LoadFn = fn(&serde_json::Value, &Path, &Loader) -> Result<Box<dyn Architecture>>;
/// Renames or drops checkpoint keys before loading.
pub type SanitizeFn = fn(&mut Weights);

/// Every supported `model_type`, with its loader and its checkpoint clean-up.
const REGISTRY: &[(&str, LoadFn, SanitizeFn)] = &[
    ("llama", llama::load, llama::sanitize),
    // mlx-lm remaps mistral onto llama (utils.MODEL_REMAPPING); see llama.rs on sliding windows.
    ("mistral", llama::load, llama::sanitize),
    ("qwen2", qwen2::load, qwen2::sanitize),
    ("qwen3", qwen3::load, qwen3::sanitize),
    ("gemma", gemma::load, gemma::sanitize),
    ("gemma2", gemma2::load, gemma2::sanitize),
    ("gemma3_text", gemma3_text::load, gemma3_text::sanitize),
    ("phi3", phi3::load, phi3::sanitize),
];

/// The supported `model_type` names.
pub fn supported() -> Vec<&'static str> {
    REGISTRY.iter().map(|(n, _, _)| *n).collect()
}

/// The loader and checkpoint clean-up for a `model_type`; unknown types list what is supported.
pub fn lookup(model_type: &str) -> Result<(LoadFn, SanitizeFn)> {
    REGISTRY
        .iter()
        .find(|(n, _, _)| *n == model_type)
        .map(|(_, load, sanitize)| (*load, *sanitize))
        .ok_or_else(|| EngineError::UnsupportedArchitecture {
            model_type: model_type.to_string(),
            supported: supported(),
        })
}

/// Removes every checkpoint tensor whose name matches (sanitize helpers).
pub(crate) fn drop_tensors(weights: &mut Weights, unused: impl Fn(&str) -> bool) {
    let names: Vec<String> = weights
        .names()
        .filter(|n| unused(n))
        .map(String::from)
        .collect();
    for n in names {
        weights.remove(&n);
    }
}
