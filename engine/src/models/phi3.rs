//! Phi-3 / Phi-3.5 / Phi-4-mini: the llama trunk with fused `qkv_proj` and `gate_up_proj`
//! (split after the matmul, as mlx-lm does), `partial_rotary_factor`, and "su"/"longrope" or
//! linear RoPE scaling.
//! Reference: Hugging Face `modeling_phi3.py`; mlx-lm `models/phi3.py` and
//! `rope_utils.SuScaledRoPE`.
//!
//! As in mlx-lm: `head_dim` is `hidden_size / num_attention_heads`, `sliding_window` is ignored,
//! and longrope always applies `long_factor`. Other rope types are refused by name (mlx-lm would
//! silently run them unscaled).
use super::common::{rms_norm, Activation, Attention, Mlp};
use super::rope::{scaling_kind, Rope};
use super::transformer::{tied, DecoderLayer, Transformer};
use super::Architecture;
use crate::config::{parse_as, BaseConfig};
use crate::error::{EngineError, Result};
use crate::nn::Loader;
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct Config {
    #[serde(flatten)]
    base: BaseConfig,
    #[serde(default = "default_factor")]
    partial_rotary_factor: f32,
    #[serde(default = "default_original")]
    original_max_position_embeddings: usize,
}

fn default_factor() -> f32 {
    1.0
}
fn default_original() -> usize {
    4096
}

/// The rotary embedding of every layer.
fn rope(cfg: &Config, path: &Path) -> Result<Rope> {
    let b = &cfg.base;
    let factor = cfg.partial_rotary_factor;
    if !(factor > 0.0 && factor <= 1.0) {
        return Err(EngineError::config(
            path,
            format!("partial_rotary_factor {factor} must be in (0, 1]"),
        ));
    }
    let dims = (b.head_dim() as f64 * f64::from(factor)) as usize;
    let Some(scaling) = &b.rope_scaling else {
        return Ok(Rope::new(dims, b.rope_theta, false));
    };
    match scaling_kind(scaling) {
        "su" | "longrope" => {
            let max = b.max_position_embeddings.unwrap_or(131_072) as f64;
            Rope::su_scaled(dims, b.rope_theta, max, cfg.original_max_position_embeddings as f64, scaling, path)
        }
        "linear" => Rope::from_scaling(Some(scaling), dims, b.rope_theta, None, path),
        other => Err(EngineError::config(
            path,
            format!("rope_scaling type {other:?} is not supported for phi3 (supported: su, longrope, linear)"),
        )),
    }
}

/// Builds the model from config.json and the checkpoint.
pub fn load(raw: &serde_json::Value, path: &Path, ld: &Loader) -> Result<Box<dyn Architecture>> {
    let mut cfg: Config = parse_as(raw, path)?;
    cfg.base.head_dim = None;
    cfg.base.validate(path)?;
    let base = &cfg.base;
    let (dim, eps) = (base.hidden_size, base.rms_norm_eps);
    let tie = tied(ld, base.tie_word_embeddings.unwrap_or(false));
    let model = Transformer::load(ld, base, tie, false, |l, _| {
        Ok(DecoderLayer::pre_norm(
            Attention::load_fused(&l.pp("self_attn"), base, rope(&cfg, path)?)?,
            Mlp::load_fused(&l.pp("mlp"), dim, base.intermediate_size, Activation::Silu)?,
            rms_norm(&l.pp("input_layernorm"), dim, eps, false)?,
            rms_norm(&l.pp("post_attention_layernorm"), dim, eps, false)?,
        ))
    })?;
    Ok(Box::new(model))
}

/// Drops tensors the checkpoint may carry that the model does not use.
pub fn sanitize(weights: &mut crate::weights::Weights) {
    super::drop_tensors(weights, |n| n.contains("rotary_emb.inv_freq"));
}
