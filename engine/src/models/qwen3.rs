//! Qwen3 (dense): the llama trunk without biases, with a per-head RMSNorm of queries and keys
//! before RoPE.
//! Reference: Hugging Face `modeling_qwen3.py`; mlx-lm `models/qwen3.py`.
//!
//! As in mlx-lm, no projection has a bias (`attention_bias` is ignored) and
//! `sliding_window`/`use_sliding_window` are ignored.
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
    let base: BaseConfig = parse_as(raw, path)?;
    base.validate(path)?;
    let (dim, eps) = (base.hidden_size, base.rms_norm_eps);
    let tie = tied(ld, base.tie_word_embeddings.unwrap_or(true));
    let model =
        Transformer::load(ld, &base, tie, false, |l, _| {
            let rope = Rope::from_config(&base, base.head_dim(), base.rope_theta, path)?;
            let attn = Attention::load(&l.pp("self_attn"), &base, false, false, rope)?
                .with_qk_norms(&l.pp("self_attn"), eps, false)?;
            Ok(DecoderLayer::pre_norm(
                attn,
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
