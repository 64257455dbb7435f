//! config.json, stage one: the fields every architecture shares, as Hugging Face writes them.
//! Each architecture file flattens [`BaseConfig`] into its own `Config` for its extra keys.
use crate::error::{EngineError, Result};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// The keys shared by every decoder-only transformer we load.
#[derive(Debug, Clone, Deserialize)]
pub struct BaseConfig {
    /// Architecture name.
    pub model_type: String,
    /// Model width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (defaults to `num_attention_heads`).
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Per-head width (defaults to hidden / heads).
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Norm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f32,
    /// RoPE base.
    #[serde(default = "default_theta")]
    pub rope_theta: f32,
    /// RoPE scaling block, as HF writes it.
    #[serde(default)]
    pub rope_scaling: Option<BTreeMap<String, Value>>,
    /// Training context.
    #[serde(default)]
    pub max_position_embeddings: Option<usize>,
    /// Whether the output head reuses the embedding.
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
    /// Biases on q/k/v/o.
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases on the MLP.
    #[serde(default)]
    pub mlp_bias: bool,
    /// MLX quantization block (with per-layer overrides).
    #[serde(default)]
    pub quantization: Option<Value>,
    /// The same block under the transformers name.
    #[serde(default)]
    pub quantization_config: Option<Value>,
    /// Declared dtype of the weights.
    #[serde(default)]
    pub torch_dtype: Option<String>,
}

fn default_eps() -> f32 {
    1e-6
}
fn default_theta() -> f32 {
    10000.0
}

impl BaseConfig {
    /// Key/value heads after defaults.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Head width after defaults.
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// Checks the shared shapes; `path` names config.json in errors.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |m: String| Err(EngineError::config(path, m));
        if self.num_attention_heads == 0 || self.hidden_size == 0 || self.num_hidden_layers == 0 || self.vocab_size == 0 {
            return bad("hidden_size, num_hidden_layers, num_attention_heads and vocab_size must be positive".into());
        }
        if self.kv_heads() == 0 || self.num_attention_heads % self.kv_heads() != 0 {
            return bad(format!(
                "num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
                self.num_attention_heads,
                self.kv_heads()
            ));
        }
        if self.head_dim.is_none() && self.hidden_size % self.num_attention_heads != 0 {
            return bad(format!("hidden_size ({}) is not divisible by num_attention_heads ({})", self.hidden_size, self.num_attention_heads));
        }
        if !(self.rms_norm_eps > 0.0) || !(self.rope_theta > 0.0) {
            return bad("rms_norm_eps and rope_theta must be positive".into());
        }
        Ok(())
    }

    /// The quantization block, wherever the file put it.
    pub fn quantization_block(&self) -> Option<&Value> {
        self.quantization.as_ref().or(self.quantization_config.as_ref())
    }
}

/// Reads config.json.
pub fn read_config(dir: &Path) -> Result<(Value, std::path::PathBuf)> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => EngineError::MissingFile { path: path.clone(), what: "config.json" },
        _ => EngineError::Io { path: path.clone(), source },
    })?;
    let v: Value = serde_json::from_str(&text).map_err(|e| EngineError::config(&path, e.to_string()))?;
    if !v.is_object() {
        return Err(EngineError::config(&path, "expected a JSON object"));
    }
    Ok((v, path))
}

/// Deserialises an architecture's config from the raw JSON, naming the bad field on failure.
pub fn parse_as<T: serde::de::DeserializeOwned>(raw: &Value, path: &Path) -> Result<T> {
    serde_json::from_value(raw.clone()).map_err(|e| EngineError::config(path, e.to_string()))
}
