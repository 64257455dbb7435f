//! Qwen2 / Qwen2.5: the llama trunk with biases on the q/k/v projections (none on `o_proj`).
//! Reference: Hugging Face `modeling_qwen2.py`; mlx-lm `models/qwen2.py`.
//!
//! As in mlx-lm, `head_dim` is always `hidden_size / num_attention_heads`, and
//! `use_sliding_window`/`sliding_window` are ignored (every layer attends over the full context).
use super::common::{rms_norm, Activation, Attention, Mlp};
use super::rope::Rope;
use super::transformer::{tied, DecoderLayer, Transformer};
use super::Architecture;
use crate::config::{parse_as, BaseConfig};
use crate::error::Result;
use crate::nn::Loader;
use std::path::Path;

/// Builds the model from config.json and the checkpoint.
pub fn load(raw: &serde_json::Value, path: &Path, ld: &Loader) -> Result<Box<dyn Architecture>> {
    let mut base: BaseConfig = parse_as(raw, path)?;
    base.head_dim = None;
    base.validate(path)?;
    let (dim, eps) = (base.hidden_size, base.rms_norm_eps);
    let tie = tied(ld, base.tie_word_embeddings.unwrap_or(true));
    let model = Transformer::load(ld, &base, tie, false, |l, _| {
        let rope = Rope::from_config(&base, base.head_dim(), base.rope_theta, path)?;
        Ok(DecoderLayer::pre_norm(
            Attention::load(&l.pp("self_attn"), &base, true, false, rope)?,
            Mlp::load(
                &l.pp("mlp"),
                dim,
                base.intermediate_size,
                false,
                Activation::Silu,
            )?,
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
