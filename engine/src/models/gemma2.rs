//! Gemma 2: Gemma's trunk with "sandwich" norms (after attention and around the MLP), attention
//! logits soft-capped as `cap * tanh(s / cap)`, the softmax scale `query_pre_attn_scalar^-0.5`,
//! a GELU (tanh) MLP and soft-capped final logits.
//! Reference: Hugging Face `modeling_gemma2.py`; mlx-lm `models/gemma2.py`.
//!
//! Like mlx-lm, every layer attends over the full context: Hugging Face alternates
//! sliding-window (`sliding_window`) and global layers, but mlx-lm's gemma2 has no window, and the
//! two agree whenever the context fits in the window (4096 tokens for the released models).
use super::common::{rms_norm, Activation, Attention, Mlp};
use super::rope::Rope;
use super::transformer::{DecoderLayer, Transformer};
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
    #[serde(default = "default_attn_cap")]
    attn_logit_softcapping: Option<f32>,
    #[serde(default = "default_final_cap")]
    final_logit_softcapping: Option<f32>,
    #[serde(default = "default_scalar")]
    query_pre_attn_scalar: f32,
}

fn default_attn_cap() -> Option<f32> {
    Some(50.0)
}
fn default_final_cap() -> Option<f32> {
    Some(30.0)
}
fn default_scalar() -> f32 {
    144.0
}

/// Builds the model from config.json and the checkpoint.
pub fn load(raw: &serde_json::Value, path: &Path, ld: &Loader) -> Result<Box<dyn Architecture>> {
    let cfg: Config = parse_as(raw, path)?;
    let base = &cfg.base;
    base.validate(path)?;
    // Written so that NaN counts as not positive.
    let positive = |v: Option<f32>| v.is_none_or(|c| c > 0.0);
    if !positive(Some(cfg.query_pre_attn_scalar))
        || !positive(cfg.attn_logit_softcapping)
        || !positive(cfg.final_logit_softcapping)
    {
        return Err(EngineError::config(
            path,
            "query_pre_attn_scalar, attn_logit_softcapping and final_logit_softcapping must be positive",
        ));
    }
    let (dim, eps) = (base.hidden_size, base.rms_norm_eps);
    let norm = |l: &Loader, name: &str| rms_norm(&l.pp(name), dim, eps, true);
    let mut model = Transformer::load(ld, base, true, true, |l, _| {
        let rope = Rope::new(base.head_dim(), base.rope_theta, false);
        let mut attn = Attention::load(&l.pp("self_attn"), base, false, false, rope)?;
        attn.scale = 1.0 / f64::from(cfg.query_pre_attn_scalar).sqrt() as f32;
        attn.logit_softcap = cfg.attn_logit_softcapping;
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
        Ok(layer)
    })?;
    model.embed_scale = Some((dim as f64).sqrt() as f32);
    model.final_logit_softcap = cfg.final_logit_softcapping;
    Ok(Box::new(model))
}

/// Drops tensors the model does not use (the head is always the embedding).
pub fn sanitize(weights: &mut crate::weights::Weights) {
    super::drop_tensors(weights, |n| {
        n.starts_with("lm_head.") || n.contains("rotary_emb.inv_freq")
    });
}
