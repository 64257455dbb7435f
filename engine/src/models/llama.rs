//! Llama 2/3/3.1/3.2 (with llama3 rope scaling), SmolLM/SmolLM2, TinyLlama.
//! Reference: Hugging Face `modeling_llama.py`; mlx-lm `models/llama.py`.
use super::common::{Activation, Attention, DecoderLayer, Mlp, Transformer};
use super::rope::Rope;
use super::Architecture;
use crate::cache::LayerCache;
use crate::config::{parse_as, BaseConfig};
use crate::error::Result;
use crate::mlx::Array;
use crate::nn::Loader;
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
struct Config {
    #[serde(flatten)]
    base: BaseConfig,
}

/// A Llama-family model.
pub struct Llama {
    model: Transformer,
    num_layers: usize,
}

/// Builds the model from config.json and the checkpoint.
pub fn load(raw: &serde_json::Value, path: &Path, ld: &Loader) -> Result<Box<dyn Architecture>> {
    let cfg: Config = parse_as(raw, path)?;
    let base = &cfg.base;
    base.validate(path)?;
    let model = Transformer::load(ld, base, false, |l, _| {
        let rope = Rope::from_config(base, base.head_dim(), base.rope_theta, path)?;
        Ok(DecoderLayer {
            self_attn: Attention::load(&l.pp("self_attn"), base, base.attention_bias, rope)?,
            mlp: Mlp::load(&l.pp("mlp"), base.hidden_size, base.intermediate_size, base.mlp_bias, Activation::Silu)?,
            input_layernorm: l.pp("input_layernorm").rms_norm(base.hidden_size, base.rms_norm_eps)?,
            post_attention_layernorm: l.pp("post_attention_layernorm").rms_norm(base.hidden_size, base.rms_norm_eps)?,
        })
    })?;
    Ok(Box::new(Llama { model, num_layers: base.num_hidden_layers }))
}

/// Drops tensors the checkpoint may carry that the model does not use.
pub fn sanitize(weights: &mut crate::weights::Weights) {
    let unused: Vec<String> = weights.names().filter(|n| n.contains("rotary_emb.inv_freq")).map(String::from).collect();
    for n in unused {
        weights.remove(&n);
    }
}

impl Architecture for Llama {
    fn forward(&self, tokens: &Array, cache: &mut [LayerCache]) -> Result<Array> {
        self.model.head(&self.model.hidden(tokens, cache)?)
    }

    fn hidden(&self, tokens: &Array, cache: &mut [LayerCache]) -> Result<Array> {
        self.model.hidden(tokens, cache)
    }

    fn make_cache(&self) -> Vec<LayerCache> {
        (0..self.num_layers).map(|_| LayerCache::standard()).collect()
    }

    fn arrays(&self) -> Vec<&Array> {
        self.model.arrays()
    }
}
