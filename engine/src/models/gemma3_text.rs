//! Gemma 3 (text): Gemma 2's sandwich norms plus per-head q/k norms, without soft-capping.
//! Local layers attend over a sliding window with their own RoPE base
//! (`rope_local_base_freq`); every `sliding_window_pattern`-th layer is global, with `rope_theta`
//! and `rope_scaling`. The embedding scale `sqrt(hidden_size)` is rounded to bf16 first.
//! Reference: Hugging Face `modeling_gemma3.py` (`Gemma3ForCausalLM`); mlx-lm
//! `models/gemma3_text.py`.
//!
//! Which layers slide: `layer_types` when config.json has it (Hugging Face's own source of
//! truth), else the pattern (mlx-lm reads only the pattern; the two agree on released configs).
use super::common::{rms_norm, Activation, Attention, Mlp};
use super::rope::{Rope, Scaling};
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
    #[serde(default = "default_local_base")]
    rope_local_base_freq: f32,
    #[serde(default = "default_scalar")]
    query_pre_attn_scalar: f32,
    #[serde(default = "default_window")]
    sliding_window: usize,
    #[serde(default = "default_pattern")]
    sliding_window_pattern: usize,
    #[serde(default)]
    layer_types: Option<Vec<String>>,
}

fn default_local_base() -> f32 {
    10_000.0
}
fn default_scalar() -> f32 {
    256.0
}
fn default_window() -> usize {
    512
}
fn default_pattern() -> usize {
    6
}

/// True for positive numbers, false for NaN.
fn positive(x: f32) -> bool {
    x > 0.0
}

/// Which layers slide: `layer_types` if given, else all but every `pattern`-th.
fn sliding_layers(cfg: &Config, path: &Path) -> Result<Vec<bool>> {
    let n = cfg.base.num_hidden_layers;
    if cfg.sliding_window == 0
        || cfg.sliding_window_pattern == 0
        || !positive(cfg.query_pre_attn_scalar)
    {
        return Err(EngineError::config(
            path,
            "sliding_window, sliding_window_pattern and query_pre_attn_scalar must be positive",
        ));
    }
    let Some(types) = &cfg.layer_types else {
        return Ok((0..n)
            .map(|i| (i + 1) % cfg.sliding_window_pattern != 0)
            .collect());
    };
    if types.len() != n {
        return Err(EngineError::config(
            path,
            format!("layer_types has {} entries for {n} layers", types.len()),
        ));
    }
    types
        .iter()
        .map(|t| match t.as_str() {
            "full_attention" => Ok(false),
            "sliding_attention" => Ok(true),
            other => Err(EngineError::config(
                path,
                format!("layer_types entry {other:?} is not supported"),
            )),
        })
        .collect()
}

fn rope(cfg: &Config, sliding: bool, path: &Path) -> Result<Rope> {
    let b = &cfg.base;
    if sliding {
        return Ok(Rope::new(b.head_dim(), cfg.rope_local_base_freq, false));
    }
    let scaling: Option<&Scaling> = b.rope_scaling.as_ref();
    Rope::from_scaling(
        scaling,
        b.head_dim(),
        b.rope_theta,
        b.max_position_embeddings,
        path,
    )
}

/// Builds the model from config.json and the checkpoint.
pub fn load(raw: &serde_json::Value, path: &Path, ld: &Loader) -> Result<Box<dyn Architecture>> {
    let cfg: Config = parse_as(raw, path)?;
    let base = &cfg.base;
    base.validate(path)?;
    let sliding = sliding_layers(&cfg, path)?;
    let (dim, eps) = (base.hidden_size, base.rms_norm_eps);
    let norm = |l: &Loader, name: &str| rms_norm(&l.pp(name), dim, eps, true);
    // mlx-lm ties the head exactly when the checkpoint has no `lm_head`.
    let mut model = Transformer::load(ld, base, tied(ld, false), true, |l, i| {
        let mut attn = Attention::load(
            &l.pp("self_attn"),
            base,
            false,
            false,
            rope(&cfg, sliding[i], path)?,
        )?
        .with_qk_norms(&l.pp("self_attn"), eps, true)?;
        attn.scale = f64::from(cfg.query_pre_attn_scalar).powf(-0.5) as f32;
        let mut layer = DecoderLayer::pre_norm(
            attn,
            Mlp::load(
                &l.pp("mlp"),
                dim,
                base.intermediate_size,
                false,
                Activation::GeluApprox,
            )?,
            norm(l, "input_layernorm")?,
            norm(l, "post_attention_layernorm")?,
        );
        layer.pre_feedforward_layernorm = Some(norm(l, "pre_feedforward_layernorm")?);
        layer.post_feedforward_layernorm = Some(norm(l, "post_feedforward_layernorm")?);
        layer.clip_f16_residual = true;
        layer.sliding = sliding[i];
        Ok(layer)
    })?;
    model.sliding_window = Some(cfg.sliding_window);
    // mlx-lm: `mx.array(hidden_size ** 0.5, mx.bfloat16)`, then cast to the activation dtype.
    model.embed_scale = Some(half::bf16::from_f64((dim as f64).sqrt()).to_f32());
    Ok(Box::new(model))
}

/// Drops tensors the model does not use.
pub fn sanitize(weights: &mut crate::weights::Weights) {
    super::drop_tensors(weights, |n| n.contains("rotary_emb.inv_freq"));
}
