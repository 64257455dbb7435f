//! The decoder trunk every registered architecture builds: embedding (optionally scaled), a stack
//! of [`DecoderLayer`]s (full or sliding-window attention per layer), a final norm and a tied or
//! separate head with optional logit soft-capping. It implements [`Architecture`] directly, so an
//! architecture file only parses its config and says how each layer is built.
use super::common::{rms_norm, Attention, Mlp};
use super::Architecture;
use crate::batch_kv::RowsStep;
use crate::cache::{LayerCache, Mask};
use crate::config::BaseConfig;
use crate::error::Result;
use crate::mlx::{self, Array, Dtype};
use crate::nn::{Embedding, Linear, Loader, RmsNorm};

/// One decoder layer. Pre-norm (llama): `h = x + attn(in(x)); out = h + mlp(post_attn(h))`.
/// With the feed-forward norms (gemma2/3): `h = x + post_attn(attn(in(x)));
/// out = h + post_ff(mlp(pre_ff(h)))`.
pub struct DecoderLayer {
    /// Attention.
    pub self_attn: Attention,
    /// MLP.
    pub mlp: Mlp,
    /// Norm before attention.
    pub input_layernorm: RmsNorm,
    /// Norm before the MLP (pre-norm), or of the attention output (gemma2/3).
    pub post_attention_layernorm: RmsNorm,
    /// Norm before the MLP (gemma2/3).
    pub pre_feedforward_layernorm: Option<RmsNorm>,
    /// Norm of the MLP output (gemma2/3).
    pub post_feedforward_layernorm: Option<RmsNorm>,
    /// Residual sums of f16 activations are taken in f32 and clipped to the f16 range (gemma3's
    /// `clip_residual`, which keeps its large activations finite).
    pub clip_f16_residual: bool,
    /// Whether this layer attends over the sliding window only.
    pub sliding: bool,
}

impl DecoderLayer {
    /// A pre-norm (llama-style) layer with full attention.
    pub fn pre_norm(
        self_attn: Attention,
        mlp: Mlp,
        input_layernorm: RmsNorm,
        post_attention_layernorm: RmsNorm,
    ) -> DecoderLayer {
        DecoderLayer {
            self_attn,
            mlp,
            input_layernorm,
            post_attention_layernorm,
            pre_feedforward_layernorm: None,
            post_feedforward_layernorm: None,
            clip_f16_residual: false,
            sliding: false,
        }
    }

    fn residual(&self, x: &Array, y: &Array) -> Result<Array> {
        if !self.clip_f16_residual || x.dtype() != Dtype::Float16 {
            return Ok(x.add(y)?);
        }
        let sum = x.astype(Dtype::Float32)?.add(&y.astype(Dtype::Float32)?)?;
        let (lo, hi) = (
            Array::scalar(-65504.0, Dtype::Float32),
            Array::scalar(65504.0, Dtype::Float32),
        );
        Ok(sum.clip(Some(&lo), Some(&hi))?.astype(Dtype::Float16)?)
    }

    /// Applies the layer.
    pub fn forward(&self, x: &Array, mask: &Mask, cache: &mut LayerCache) -> Result<Array> {
        let r = self.self_attn.forward(&self.input_layernorm.forward(x)?, mask, cache)?;
        self.after_attention(x, &r)
    }

    /// Applies layer `j` to the decode batch's rows and several sequences packed along the
    /// length axis (see [`Attention::forward_packed`]).
    pub fn forward_packed(
        &self,
        x: &Array,
        j: usize,
        rows: Option<&mut RowsStep<'_>>,
        lens: &[usize],
        masks: &[&Mask],
        caches: &mut [&mut LayerCache],
    ) -> Result<Array> {
        let r = self.self_attn.forward_packed(&self.input_layernorm.forward(x)?, j, rows, lens, masks, caches)?;
        self.after_attention(x, &r)
    }

    /// The residuals and the MLP, given the attention output `r` of input `x`.
    fn after_attention(&self, x: &Array, r: &Array) -> Result<Array> {
        match (&self.pre_feedforward_layernorm, &self.post_feedforward_layernorm) {
            (Some(pre), Some(post)) => {
                let h = self.residual(x, &self.post_attention_layernorm.forward(r)?)?;
                let r = self.mlp.forward(&pre.forward(&h)?)?;
                self.residual(&h, &post.forward(&r)?)
            }
            _ => {
                let h = x.add(r)?;
                Ok(h.add(&self.mlp.forward(&self.post_attention_layernorm.forward(&h)?)?)?)
            }
        }
    }

    /// Every array held.
    pub fn arrays(&self) -> Vec<&Array> {
        let mut v = self.self_attn.arrays();
        v.extend(self.mlp.arrays());
        let norms = [
            Some(&self.input_layernorm),
            Some(&self.post_attention_layernorm),
        ];
        let extra = [
            self.pre_feedforward_layernorm.as_ref(),
            self.post_feedforward_layernorm.as_ref(),
        ];
        v.extend(norms.into_iter().chain(extra).flatten().map(|n| &n.weight));
        v
    }
}

/// Embedding, a stack of [`DecoderLayer`]s, a final norm and a (possibly tied) head.
pub struct Transformer {
    /// Token embedding.
    pub embed_tokens: Embedding,
    /// Decoder layers.
    pub layers: Vec<DecoderLayer>,
    /// Final norm.
    pub norm: RmsNorm,
    /// Output head; `None` when tied to the embedding.
    pub lm_head: Option<Linear>,
    /// Attention window of the layers marked `sliding`.
    pub sliding_window: Option<usize>,
    /// Multiplies the embeddings (Gemma's `sqrt(hidden_size)`), in the activation dtype.
    pub embed_scale: Option<f32>,
    /// `cap * tanh(logits / cap)` on the output (gemma2).
    pub final_logit_softcap: Option<f32>,
}

/// Whether the head is tied: as configured, or because the checkpoint has no `lm_head`.
pub fn tied(ld: &Loader, configured: bool) -> bool {
    configured || !ld.pp("lm_head").contains("weight")
}

impl Transformer {
    /// Loads the trunk given a per-layer builder (`model.layers.N` loader, index -> layer).
    /// `plus_one` selects Gemma's `1 + w` final norm.
    pub fn load(
        ld: &Loader,
        cfg: &BaseConfig,
        tied: bool,
        plus_one: bool,
        mut layer: impl FnMut(&Loader, usize) -> Result<DecoderLayer>,
    ) -> Result<Transformer> {
        let m = ld.pp("model");
        Ok(Transformer {
            embed_tokens: m
                .pp("embed_tokens")
                .embedding(cfg.vocab_size, cfg.hidden_size)?,
            layers: (0..cfg.num_hidden_layers)
                .map(|i| layer(&m.pp("layers").pp(i), i))
                .collect::<Result<_>>()?,
            norm: rms_norm(&m.pp("norm"), cfg.hidden_size, cfg.rms_norm_eps, plus_one)?,
            lm_head: if tied {
                None
            } else {
                Some(
                    ld.pp("lm_head")
                        .linear(cfg.hidden_size, cfg.vocab_size, false)?,
                )
            },
            sliding_window: None,
            embed_scale: None,
            final_logit_softcap: None,
        })
    }

    /// The masks of full and sliding layers, each made by the cache of the first such layer
    /// (mlx-lm's `fa_idx`/`swa_idx`).
    fn masks(&self, n: usize, cache: &[LayerCache]) -> Result<(Option<Mask>, Option<Mask>)> {
        let first = |sliding: bool| self.layers.iter().position(|l| l.sliding == sliding);
        let full = first(false).map(|i| cache[i].mask(n, None)).transpose()?;
        let window = first(true)
            .map(|i| cache[i].mask(n, self.sliding_window))
            .transpose()?;
        Ok((full, window))
    }

    /// Final hidden states `[B, L, hidden]` for token ids `[B, L]`.
    pub fn hidden(&self, tokens: &Array, cache: &mut [LayerCache]) -> Result<Array> {
        let mut h = self.embed_tokens.forward(tokens)?;
        if let Some(s) = self.embed_scale {
            h = h.mul_scalar(s)?;
        }
        let (full, window) = self.masks(tokens.dim(1), cache)?;
        for (layer, c) in self.layers.iter().zip(cache.iter_mut()) {
            let mask = if layer.sliding { &window } else { &full };
            h = layer.forward(&h, mask.as_ref().unwrap_or(&Mask::None), c)?;
        }
        self.norm.forward(&h)
    }

    /// Logits at the last new position of each sequence of one batched pass: first one per
    /// row of the shared decode batch (`rows`, in row order), then one per packed sequence,
    /// whose new tokens (`inputs[i]`, any shape, row-major) run over their own caches.
    pub fn forward_last(&self, mut rows: Option<&mut RowsStep<'_>>, inputs: &[&Array], caches: &mut [&mut [LayerCache]]) -> Result<Array> {
        let lens: Vec<usize> = inputs.iter().map(|a| a.size()).collect();
        // Flattened only where needed: every reshape is a graph node, and a decode step of a
        // small model is host-bound.
        let flat = |a: &Array| if a.ndim() == 1 { Ok(a.clone()) } else { a.reshape(&[-1]) };
        let mut parts: Vec<Array> = rows.iter().map(|r| flat(&r.ids)).collect::<std::result::Result<_, _>>()?;
        for a in inputs {
            parts.push(flat(a)?);
        }
        let refs: Vec<&Array> = parts.iter().collect();
        let ids = mlx::concatenate(&refs, 0)?.reshape(&[1, -1])?;
        let mut h = self.embed_tokens.forward(&ids)?;
        if let Some(s) = self.embed_scale {
            h = h.mul_scalar(s)?;
        }
        let masks: Vec<(Option<Mask>, Option<Mask>)> =
            lens.iter().zip(caches.iter()).map(|(&n, c)| self.masks(n, c)).collect::<Result<_>>()?;
        for (j, layer) in self.layers.iter().enumerate() {
            let seg_masks: Vec<&Mask> = masks
                .iter()
                .map(|(full, window)| if layer.sliding { window } else { full }.as_ref().unwrap_or(&Mask::None))
                .collect();
            let mut layer_caches: Vec<&mut LayerCache> = caches.iter_mut().map(|c| &mut c[j]).collect();
            h = layer.forward_packed(&h, j, rows.as_deref_mut(), &lens, &seg_masks, &mut layer_caches)?;
        }
        let n_rows = rows.map_or(0, |r| r.rows());
        let mut last: Vec<u32> = (0..n_rows as u32).collect();
        last.extend(lens.iter().scan(n_rows as u32, |end, &n| {
            *end += n as u32;
            Some(*end - 1)
        }));
        let h = if last.len() == h.dim(1) { h } else { h.take(&Array::from_slice(&last, &[last.len()])?, 1)? };
        let logits = self.head(&self.norm.forward(&h)?)?;
        Ok(logits.squeeze(0)?)
    }

    /// Whether every layer can decode in the shared batch: full attention everywhere (a
    /// sliding window keeps a rotating cache per sequence) and attention that batches rows.
    pub fn batches_rows(&self) -> bool {
        self.layers.iter().all(|l| !l.sliding && l.self_attn.batches_rows())
    }

    /// Applies the head (and the final soft-cap) to hidden states.
    pub fn head(&self, h: &Array) -> Result<Array> {
        let logits = match &self.lm_head {
            Some(l) => l.forward(h)?,
            None => self.embed_tokens.as_linear(h)?,
        };
        let Some(cap) = self.final_logit_softcap else {
            return Ok(logits);
        };
        let cap = Array::scalar(cap, logits.dtype());
        Ok(logits.divide(&cap)?.tanh()?.multiply(&cap)?)
    }

    /// Every array held.
    pub fn all_arrays(&self) -> Vec<&Array> {
        let mut v = self.embed_tokens.arrays();
        v.extend(self.layers.iter().flat_map(DecoderLayer::arrays));
        v.push(&self.norm.weight);
        v.extend(self.lm_head.iter().flat_map(Linear::arrays));
        v
    }
}

impl Architecture for Transformer {
    fn forward(&self, tokens: &Array, cache: &mut [LayerCache]) -> Result<Array> {
        self.head(&self.hidden(tokens, cache)?)
    }

    fn forward_last(&self, rows: Option<&mut RowsStep<'_>>, inputs: &[&Array], caches: &mut [&mut [LayerCache]]) -> Result<Array> {
        Transformer::forward_last(self, rows, inputs, caches)
    }

    fn batches_rows(&self) -> bool {
        Transformer::batches_rows(self)
    }

    fn hidden(&self, tokens: &Array, cache: &mut [LayerCache]) -> Result<Array> {
        Transformer::hidden(self, tokens, cache)
    }

    /// Sliding layers get a rotating cache of the window's size, the others a growing one.
    fn make_cache(&self) -> Vec<LayerCache> {
        let cache = |l: &DecoderLayer| match (l.sliding, self.sliding_window) {
            (true, Some(w)) => LayerCache::rotating(w),
            _ => LayerCache::standard(),
        };
        self.layers.iter().map(cache).collect()
    }

    fn arrays(&self) -> Vec<&Array> {
        self.all_arrays()
    }
}
