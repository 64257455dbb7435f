//! Llama 2/3/3.1/3.2 (with llama3 rope scaling), SmolLM/SmolLM2, TinyLlama, and Mistral, which
//! mlx-lm maps onto this model (`MODEL_REMAPPING["mistral"] = "llama"`).
//! Reference: Hugging Face `modeling_llama.py`; mlx-lm `models/llama.py`.
//!
//! Sliding windows follow mlx-lm, not Hugging Face's Mistral: a layer attends over a window only
//! when config.json lists it as `"sliding_attention"` in `layer_types`. Mistral's top-level
//! `sliding_window` alone changes nothing (mlx-lm ignores it the same way), so every Mistral layer
//! keeps full attention.
use super::common::{rms_norm, Activation, Attention, Mlp};
use super::rope::Rope;
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
    /// `"full_attention"` or `"sliding_attention"` per layer.
    #[serde(default)]
    layer_types: Option<Vec<String>>,
    #[serde(default)]
    sliding_window: Option<usize>,
}

/// Which layers slide, from `layer_types` (none when absent).
fn sliding_layers(cfg: &Config, path: &Path) -> Result<Vec<bool>> {
    let n = cfg.base.num_hidden_layers;
    let Some(types) = &cfg.layer_types else {
        return Ok(vec![false; n]);
    };
    if types.len() != n {
        return Err(EngineError::config(
            path,
            format!("layer_types has {} entries for {n} layers", types.len()),
        ));
    }
    let flags = types
        .iter()
        .map(|t| match t.as_str() {
            "full_attention" => Ok(false),
            "sliding_attention" => Ok(true),
            other => Err(EngineError::config(
                path,
                format!("layer_types entry {other:?} is not supported"),
            )),
        })
        .collect::<Result<Vec<bool>>>()?;
    if flags.contains(&true) && cfg.sliding_window.is_none_or(|w| w == 0) {
        return Err(EngineError::config(
            path,
            "layer_types has sliding layers but sliding_window is not set",
        ));
    }
    Ok(flags)
}

/// Builds the model from config.json and the checkpoint.
pub fn load(raw: &serde_json::Value, path: &Path, ld: &Loader) -> Result<Box<dyn Architecture>> {
    let cfg: Config = parse_as(raw, path)?;
    let base = &cfg.base;
    base.validate(path)?;
    let sliding = sliding_layers(&cfg, path)?;
    let (dim, eps) = (base.hidden_size, base.rms_norm_eps);
    // mlx-lm's default is tied; a checkpoint without `lm_head` is tied whatever the config says.
    let tie = tied(ld, base.tie_word_embeddings.unwrap_or(true));
    let mut model = Transformer::load(ld, base, tie, false, |l, i| {
        let rope = Rope::from_config(base, base.head_dim(), base.rope_theta, path)?;
        let attn = Attention::load(
            &l.pp("self_attn"),
            base,
            base.attention_bias,
            base.attention_bias,
            rope,
        )?;
        let mlp = Mlp::load(
            &l.pp("mlp"),
            dim,
            base.intermediate_size,
            base.mlp_bias,
            Activation::Silu,
        )?;
        let mut layer = DecoderLayer::pre_norm(
            attn,
            mlp,
            rms_norm(&l.pp("input_layernorm"), dim, eps, false)?,
            rms_norm(&l.pp("post_attention_layernorm"), dim, eps, false)?,
        );
        layer.sliding = sliding[i];
        Ok(layer)
    })?;
    model.sliding_window = cfg.sliding_window.filter(|_| sliding.contains(&true));
    Ok(Box::new(model))
}

/// Drops tensors the checkpoint may carry that the model does not use.
pub fn sanitize(weights: &mut crate::weights::Weights) {
    super::drop_tensors(weights, |n| n.contains("rotary_emb.inv_freq"));
}
