//! What the pool needs from whatever actually holds models: estimate, load, unload, measure.
//! The real implementation is the engine thread (`crate::engine_thread`); pool tests use a
//! fake that only simulates sizes and timings.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

/// Identifies one loaded copy of a model (a hot swap gets a new id).
pub type SlotId = u64;

/// Facts about a loaded model that handlers need (read from its config and tokenizer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelMeta {
    /// config.json `model_type`.
    pub model_type: String,
    /// The model's trained context.
    pub context_length: usize,
    /// Hidden size.
    pub embedding_length: usize,
    /// Transformer blocks.
    pub num_layers: usize,
    /// Attention heads.
    pub num_heads: usize,
    /// KV heads.
    pub num_kv_heads: usize,
    /// Head size.
    pub head_dim: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// MLP size.
    pub intermediate_size: usize,
    /// Parameters.
    pub parameter_count: u64,
    /// (bits, group size) when quantized.
    pub quantization: Option<(u32, u32)>,
    /// Weight dtype.
    pub dtype: String,
    /// RoPE base.
    pub rope_theta: f32,
    /// The tokenizer has a chat template.
    pub chat_template: bool,
    /// The template handles tools.
    pub tools: bool,
    /// The model reasons in `<think>` tags.
    pub thinking: bool,
    /// Sampling defaults from its generation_config.json (below config.toml and the request).
    pub defaults: ollmlx_api::Options,
}

/// A finished load.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// Facts for handlers.
    pub meta: Arc<ModelMeta>,
    /// Measured bytes of the weights.
    pub weight_bytes: u64,
    /// KV bytes per token of context (for the charge before KV exists).
    pub kv_bytes_per_token: u64,
}

/// A pre-load estimate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estimate {
    /// Weight bytes once loaded.
    pub weight_bytes: u64,
    /// KV bytes per token.
    pub kv_bytes_per_token: u64,
}

/// Measured bytes of one loaded model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Weights.
    pub weight_bytes: u64,
    /// KV caches of live sequences.
    pub kv_bytes: u64,
}

/// A measurement of everything loaded.
#[derive(Debug, Clone, Default)]
pub struct Measurement {
    /// Per loaded model.
    pub models: HashMap<SlotId, Usage>,
    /// MLX's buffer cache (freed buffers kept for reuse).
    pub cache_bytes: u64,
    /// MLX active memory.
    pub active_bytes: u64,
}

/// Loads, unloads and measures models.
pub trait Backend: Send + Sync + 'static {
    /// Estimates the bytes a model will take, before loading it.
    fn estimate(&self, path: PathBuf) -> BoxFuture<'static, Result<Estimate, String>>;
    /// Loads a model under `id`.
    fn load(&self, id: SlotId, path: PathBuf) -> BoxFuture<'static, Result<LoadedModel, String>>;
    /// Frees a model (and MLX's cache, so the memory really comes back).
    fn unload(&self, id: SlotId) -> BoxFuture<'static, ()>;
    /// Measures what every loaded model holds.
    fn measure(&self) -> BoxFuture<'static, Measurement>;
}
