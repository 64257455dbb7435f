//! Blocks shared by the architectures: grouped-query attention, gated MLPs and the plain
//! pre-norm decoder trunk that llama, mistral and qwen build on.
use super::rope::Rope;
use crate::cache::{LayerCache, Mask};
use crate::config::BaseConfig;
use crate::error::Result;
use crate::mlx::{self, Array};
use crate::nn::{Embedding, Linear, Loader, RmsNorm};

/// Multi-head attention with grouped key/value heads, RoPE and optional q/k norms.
pub struct Attention {
    /// Query projection.
    pub q_proj: Linear,
    /// Key projection.
    pub k_proj: Linear,
    /// Value projection.
    pub v_proj: Linear,
    /// Output projection.
    pub o_proj: Linear,
    /// Per-head RMSNorm of queries (qwen3, gemma3).
    pub q_norm: Option<RmsNorm>,
    /// Per-head RMSNorm of keys (qwen3, gemma3).
    pub k_norm: Option<RmsNorm>,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads.
    pub n_kv_heads: usize,
    /// Per-head width.
    pub head_dim: usize,
    /// Softmax scale.
    pub scale: f32,
    /// Rotary embedding.
    pub rope: Rope,
}

impl Attention {
    /// Loads `q_proj/k_proj/v_proj/o_proj` under `ld` with the usual shapes.
    pub fn load(ld: &Loader, cfg: &BaseConfig, bias: bool, rope: Rope) -> Result<Attention> {
        let (h, kv, d) = (cfg.num_attention_heads, cfg.kv_heads(), cfg.head_dim());
        Ok(Attention {
            q_proj: ld.pp("q_proj").linear(cfg.hidden_size, h * d, bias)?,
            k_proj: ld.pp("k_proj").linear(cfg.hidden_size, kv * d, bias)?,
            v_proj: ld.pp("v_proj").linear(cfg.hidden_size, kv * d, bias)?,
            o_proj: ld.pp("o_proj").linear(h * d, cfg.hidden_size, cfg.attention_bias)?,
            q_norm: None,
            k_norm: None,
            n_heads: h,
            n_kv_heads: kv,
            head_dim: d,
            scale: (d as f32).powf(-0.5),
            rope,
        })
    }

    /// Splits `[B, L, H*D]` into `[B, H, L, D]`.
    fn heads(&self, x: &Array, n: usize) -> Result<Array> {
        let (b, l) = (x.dim(0) as i32, x.dim(1) as i32);
        Ok(x.reshape(&[b, l, n as i32, -1])?.transpose(&[0, 2, 1, 3])?)
    }

    /// Projects and rotates queries, keys and values, and updates the cache.
    pub fn qkv(&self, x: &Array, cache: &mut LayerCache) -> Result<(Array, Array, Array)> {
        let mut q = self.heads(&self.q_proj.forward(x)?, self.n_heads)?;
        let mut k = self.heads(&self.k_proj.forward(x)?, self.n_kv_heads)?;
        let v = self.heads(&self.v_proj.forward(x)?, self.n_kv_heads)?;
        if let Some(n) = &self.q_norm {
            q = n.forward(&q)?;
        }
        if let Some(n) = &self.k_norm {
            k = n.forward(&k)?;
        }
        let offset = cache.offset();
        let q = self.rope.apply(&q, offset)?;
        let k = self.rope.apply(&k, offset)?;
        let (k, v) = cache.update_and_fetch(&k, &v)?;
        Ok((q, k, v))
    }

    /// Merges `[B, H, L, D]` heads and applies the output projection.
    pub fn output(&self, o: &Array) -> Result<Array> {
        let (b, l) = (o.dim(0) as i32, o.dim(2) as i32);
        self.o_proj.forward(&o.transpose(&[0, 2, 1, 3])?.reshape(&[b, l, -1])?)
    }

    /// Full attention through MLX's fused kernel.
    pub fn forward(&self, x: &Array, mask: &Mask, cache: &mut LayerCache) -> Result<Array> {
        let (q, k, v) = self.qkv(x, cache)?;
        let o = mlx::scaled_dot_product_attention(&q, &k, &v, self.scale, mask.as_attention())?;
        self.output(&o)
    }

    /// Every array held.
    pub fn arrays(&self) -> Vec<&Array> {
        let mut v: Vec<&Array> = [&self.q_proj, &self.k_proj, &self.v_proj, &self.o_proj]
            .into_iter()
            .flat_map(Linear::arrays)
            .collect();
        v.extend(self.q_norm.iter().chain(self.k_norm.iter()).map(|n| &n.weight));
        v
    }
}

/// The gate activation of a gated MLP.
#[derive(Clone, Copy)]
pub enum Activation {
    /// `x * sigmoid(x)`.
    Silu,
    /// GELU, tanh approximation (gemma's `gelu_pytorch_tanh`).
    GeluApprox,
}

impl Activation {
    /// Applies the activation.
    pub fn apply(self, x: &Array) -> Result<Array> {
        Ok(match self {
            Activation::Silu => x.multiply(&x.sigmoid()?)?,
            Activation::GeluApprox => {
                // 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))), as mlx.nn.gelu_approx.
                let x3 = x.multiply(&x.square()?)?;
                let inner = x.add(&x3.mul_scalar(0.044715)?)?.mul_scalar((2.0 / std::f32::consts::PI).sqrt())?;
                x.mul_scalar(0.5)?.multiply(&inner.tanh()?.add_scalar(1.0)?)?
            }
        })
    }
}

/// `down(act(gate(x)) * up(x))`.
pub struct Mlp {
    /// Gate projection.
    pub gate_proj: Linear,
    /// Up projection.
    pub up_proj: Linear,
    /// Down projection.
    pub down_proj: Linear,
    /// Gate activation.
    pub act: Activation,
}

impl Mlp {
    /// Loads `gate_proj/up_proj/down_proj`.
    pub fn load(ld: &Loader, hidden: usize, inter: usize, bias: bool, act: Activation) -> Result<Mlp> {
        Ok(Mlp {
            gate_proj: ld.pp("gate_proj").linear(hidden, inter, bias)?,
            up_proj: ld.pp("up_proj").linear(hidden, inter, bias)?,
            down_proj: ld.pp("down_proj").linear(inter, hidden, bias)?,
            act,
        })
    }

    /// Applies the MLP.
    pub fn forward(&self, x: &Array) -> Result<Array> {
        let g = self.act.apply(&self.gate_proj.forward(x)?)?;
        self.down_proj.forward(&g.multiply(&self.up_proj.forward(x)?)?)
    }

    /// Every array held.
    pub fn arrays(&self) -> Vec<&Array> {
        [&self.gate_proj, &self.up_proj, &self.down_proj].into_iter().flat_map(Linear::arrays).collect()
    }
}

/// A pre-norm decoder layer: `h = x + attn(norm(x)); out = h + mlp(norm(h))`.
pub struct DecoderLayer {
    /// Attention.
    pub self_attn: Attention,
    /// MLP.
    pub mlp: Mlp,
    /// Norm before attention.
    pub input_layernorm: RmsNorm,
    /// Norm before the MLP.
    pub post_attention_layernorm: RmsNorm,
}

impl DecoderLayer {
    /// Applies the layer.
    pub fn forward(&self, x: &Array, mask: &Mask, cache: &mut LayerCache) -> Result<Array> {
        let h = x.add(&self.self_attn.forward(&self.input_layernorm.forward(x)?, mask, cache)?)?;
        h.add(&self.mlp.forward(&self.post_attention_layernorm.forward(&h)?)?)
            .map_err(Into::into)
    }

    /// Every array held.
    pub fn arrays(&self) -> Vec<&Array> {
        let mut v = self.self_attn.arrays();
        v.extend(self.mlp.arrays());
        v.push(&self.input_layernorm.weight);
        v.push(&self.post_attention_layernorm.weight);
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
    /// Attention window of every layer (mistral), if any.
    pub sliding_window: Option<usize>,
}

impl Transformer {
    /// Loads the trunk given a per-layer builder (`model.layers.N` loader -> layer).
    pub fn load(
        ld: &Loader,
        cfg: &BaseConfig,
        tie_default: bool,
        mut layer: impl FnMut(&Loader, usize) -> Result<DecoderLayer>,
    ) -> Result<Transformer> {
        let m = ld.pp("model");
        let tied = cfg.tie_word_embeddings.unwrap_or(tie_default) || !ld.pp("lm_head").contains("weight");
        Ok(Transformer {
            embed_tokens: m.pp("embed_tokens").embedding(cfg.vocab_size, cfg.hidden_size)?,
            layers: (0..cfg.num_hidden_layers)
                .map(|i| layer(&m.pp("layers").pp(i), i))
                .collect::<Result<_>>()?,
            norm: m.pp("norm").rms_norm(cfg.hidden_size, cfg.rms_norm_eps)?,
            lm_head: if tied { None } else { Some(ld.pp("lm_head").linear(cfg.hidden_size, cfg.vocab_size, false)?) },
            sliding_window: None,
        })
    }

    /// Final hidden states `[B, L, hidden]` for token ids `[B, L]`.
    pub fn hidden(&self, tokens: &Array, cache: &mut [LayerCache]) -> Result<Array> {
        let mut h = self.embed_tokens.forward(tokens)?;
        let mask = cache[0].mask(tokens.dim(1), self.sliding_window)?;
        for (layer, c) in self.layers.iter().zip(cache.iter_mut()) {
            h = layer.forward(&h, &mask, c)?;
        }
        self.norm.forward(&h)
    }

    /// Applies the head to hidden states.
    pub fn head(&self, h: &Array) -> Result<Array> {
        match &self.lm_head {
            Some(l) => l.forward(h),
            None => self.embed_tokens.as_linear(h),
        }
    }

    /// Every array held.
    pub fn arrays(&self) -> Vec<&Array> {
        let mut v = self.embed_tokens.arrays();
        v.extend(self.layers.iter().flat_map(DecoderLayer::arrays));
        v.push(&self.norm.weight);
        v.extend(self.lm_head.iter().flat_map(Linear::arrays));
        v
    }
}
