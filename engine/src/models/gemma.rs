//! Gemma (1): the llama trunk with the embedding scaled by `sqrt(hidden_size)`, RMSNorms that
//! scale by `1 + w`, a GELU-gated MLP and a head always tied to the embedding.
//! Reference: Hugging Face `modeling_gemma.py`; mlx-lm `models/gemma.py`.
//!
//! The MLP uses the exact (erf) GELU, as mlx-lm's gemma does, although config.json names
//! `gelu_pytorch_tanh`: the two differ by under 1e-3 and we follow the oracle we are tested against.
use super::common::{rms_norm, Activation, Attention, Mlp};
use super::rope::Rope;
use super::transformer::{DecoderLayer, Transformer};
use super::Architecture;
use crate::config::{parse_as, BaseConfig};
use crate::error::Result;
use crate::nn::Loader;
use std::path::Path;

/// Builds the model from config.json and the checkpoint.
pub fn load(raw: &serde_json::Value, path: &Path, ld: &Loader) -> Result<Box<dyn Architecture>> {
    let base: BaseConfig = parse_as(raw, path)?;
    base.validate(path)?;
    let (dim, eps) = (base.hidden_size, base.rms_norm_eps);
    let mut model = Transformer::load(ld, &base, true, true, |l, _| {
        let rope = Rope::new(base.head_dim(), base.rope_theta, false);
        Ok(DecoderLayer::pre_norm(
            Attention::load(&l.pp("self_attn"), &base, false, false, rope)?,
            Mlp::load(
                &l.pp("mlp"),
                dim,
                base.intermediate_size,
                false,
                Activation::Gelu,
            )?,
            rms_norm(&l.pp("input_layernorm"), dim, eps, true)?,
            rms_norm(&l.pp("post_attention_layernorm"), dim, eps, true)?,
        ))
    })?;
    model.embed_scale = Some((dim as f64).sqrt() as f32);
    Ok(Box::new(model))
}

/// Drops tensors the model does not use (the head is always the embedding).
pub fn sanitize(weights: &mut crate::weights::Weights) {
    super::drop_tensors(weights, |n| {
        n.starts_with("lm_head.") || n.contains("rotary_emb.inv_freq")
    });
}
