//! Blocks shared by the architectures (mlx-lm's per-model Attention/MLP/TransformerBlock, written
//! once): grouped-query attention, gated MLPs, the pre-norm and Gemma "sandwich" decoder layers,
//! and the [`Transformer`] trunk that every registered `model_type` builds.
use super::rope::Rope;
use crate::batch_kv::RowsStep;
use crate::cache::{causal_mask, LayerCache, Mask};
use crate::config::BaseConfig;
use crate::error::Result;
use crate::mlx::{self, Array, Dtype};
use crate::nn::{Linear, Loader, RmsNorm};

/// An RMSNorm of width `dim`; Gemma's norms scale by `1 + w`, folded into the weight at load.
/// The addition happens in the compute dtype, as mlx-lm's `1.0 + self.weight` does at call time.
pub fn rms_norm(ld: &Loader, dim: usize, eps: f32, plus_one: bool) -> Result<RmsNorm> {
    let mut n = ld.rms_norm(dim, eps)?;
    if plus_one {
        n.weight = n.weight.add_scalar(1.0)?;
    }
    Ok(n)
}

/// `numpy.finfo(dtype).min`, the value mlx-lm writes into masked attention scores.
fn finfo_min(dt: Dtype) -> f32 {
    match dt {
        Dtype::Float16 => -65504.0,
        Dtype::Bfloat16 => -3.389_531_4e38,
        _ => f32::MIN,
    }
}

/// The query/key/value projections, separate or fused into one matrix (Phi-3's `qkv_proj`).
pub enum QkvProj {
    /// `q_proj`, `k_proj`, `v_proj`.
    Split {
        /// Query projection.
        q_proj: Linear,
        /// Key projection.
        k_proj: Linear,
        /// Value projection.
        v_proj: Linear,
    },
    /// One `[q; k; v]` projection, split after the matmul as mlx-lm does.
    Fused {
        /// Fused projection.
        qkv_proj: Linear,
    },
}

/// Multi-head attention with grouped key/value heads, RoPE, optional q/k norms and optional
/// logit soft-capping.
pub struct Attention {
    /// Input projections.
    pub proj: QkvProj,
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
    /// `cap * tanh(scores / cap)` before the softmax (gemma2); forces the unfused path.
    pub logit_softcap: Option<f32>,
}

impl Attention {
    fn with(proj: QkvProj, o_proj: Linear, cfg: &BaseConfig, rope: Rope) -> Attention {
        let d = cfg.head_dim();
        Attention {
            proj,
            o_proj,
            q_norm: None,
            k_norm: None,
            n_heads: cfg.num_attention_heads,
            n_kv_heads: cfg.kv_heads(),
            head_dim: d,
            scale: (d as f32).powf(-0.5),
            rope,
            logit_softcap: None,
        }
    }

    /// Loads `q_proj/k_proj/v_proj/o_proj` under `ld`; biases on q/k/v and on o as given.
    pub fn load(
        ld: &Loader,
        cfg: &BaseConfig,
        qkv_bias: bool,
        o_bias: bool,
        rope: Rope,
    ) -> Result<Attention> {
        let (h, kv, d, dim) = (
            cfg.num_attention_heads,
            cfg.kv_heads(),
            cfg.head_dim(),
            cfg.hidden_size,
        );
        let proj = QkvProj::Split {
            q_proj: ld.pp("q_proj").linear(dim, h * d, qkv_bias)?,
            k_proj: ld.pp("k_proj").linear(dim, kv * d, qkv_bias)?,
            v_proj: ld.pp("v_proj").linear(dim, kv * d, qkv_bias)?,
        };
        Ok(Attention::with(
            proj,
            ld.pp("o_proj").linear(h * d, dim, o_bias)?,
            cfg,
            rope,
        ))
    }

    /// Loads a fused `qkv_proj` and `o_proj` (no biases).
    pub fn load_fused(ld: &Loader, cfg: &BaseConfig, rope: Rope) -> Result<Attention> {
        let (h, kv, d, dim) = (
            cfg.num_attention_heads,
            cfg.kv_heads(),
            cfg.head_dim(),
            cfg.hidden_size,
        );
        let proj = QkvProj::Fused {
            qkv_proj: ld.pp("qkv_proj").linear(dim, (h + 2 * kv) * d, false)?,
        };
        Ok(Attention::with(
            proj,
            ld.pp("o_proj").linear(h * d, dim, false)?,
            cfg,
            rope,
        ))
    }

    /// Adds per-head `q_norm`/`k_norm` (Gemma's are `1 + w`).
    pub fn with_qk_norms(mut self, ld: &Loader, eps: f32, plus_one: bool) -> Result<Attention> {
        self.q_norm = Some(rms_norm(&ld.pp("q_norm"), self.head_dim, eps, plus_one)?);
        self.k_norm = Some(rms_norm(&ld.pp("k_norm"), self.head_dim, eps, plus_one)?);
        Ok(self)
    }

    /// Splits `[B, L, H*D]` into `[B, H, L, D]`.
    fn heads(&self, x: &Array, n: usize) -> Result<Array> {
        let (b, l) = (x.dim(0) as i32, x.dim(1) as i32);
        Ok(x.reshape(&[b, l, n as i32, -1])?.transpose(&[0, 2, 1, 3])?)
    }

    fn project(&self, x: &Array) -> Result<(Array, Array, Array)> {
        match &self.proj {
            QkvProj::Split {
                q_proj,
                k_proj,
                v_proj,
            } => Ok((q_proj.forward(x)?, k_proj.forward(x)?, v_proj.forward(x)?)),
            QkvProj::Fused { qkv_proj } => {
                let qkv = qkv_proj.forward(x)?;
                let q_end = self.n_heads * self.head_dim;
                let k_end = q_end + self.n_kv_heads * self.head_dim;
                let total = qkv.dim(-1);
                Ok((
                    qkv.slice_axis(-1, 0, q_end)?,
                    qkv.slice_axis(-1, q_end, k_end)?,
                    qkv.slice_axis(-1, k_end, total)?,
                ))
            }
        }
    }

    /// Splits one sequence's projections into heads, normalises and rotates them at the cache's
    /// offset, and appends keys/values to the cache.
    fn rotate_and_cache(&self, q: &Array, k: &Array, v: &Array, cache: &mut LayerCache) -> Result<(Array, Array, Array)> {
        let mut q = self.heads(q, self.n_heads)?;
        let mut k = self.heads(k, self.n_kv_heads)?;
        let v = self.heads(v, self.n_kv_heads)?;
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

    /// One sequence's attention over its own cache; returns merged heads `[1, L, H*D]`.
    fn attend(&self, q: &Array, k: &Array, v: &Array, mask: &Mask, cache: &mut LayerCache) -> Result<Array> {
        let (q, k, v) = self.rotate_and_cache(q, k, v, cache)?;
        let o = match self.logit_softcap {
            None => mlx::scaled_dot_product_attention(&q, &k, &v, self.scale, mask.as_attention())?,
            Some(cap) => self.softcapped(&q, &k, &v, cap, mask)?,
        };
        let (b, l) = (o.dim(0) as i32, o.dim(2) as i32);
        Ok(o.transpose(&[0, 2, 1, 3])?.reshape(&[b, l, -1])?)
    }

    /// Attention through MLX's fused kernel, or by hand when scores are soft-capped.
    pub fn forward(&self, x: &Array, mask: &Mask, cache: &mut LayerCache) -> Result<Array> {
        let (q, k, v) = self.project(x)?;
        self.o_proj.forward(&self.attend(&q, &k, &v, mask, cache)?)
    }

    /// Whether this attention can run the shared decode batch ([`Attention::forward_packed`]'s
    /// `rows`): not with soft-capped scores (gemma2) or a length-dependent RoPE.
    pub fn batches_rows(&self) -> bool {
        self.logit_softcap.is_none() && self.rope.rotates_rows()
    }

    /// Attention for several sequences packed along the length axis of `x` (`[1, N, D]`): the
    /// projections run once over every row (one weight pass for the whole batch). The first
    /// `rows.rows()` positions, if `rows` is given, are one new token of each row of the shared
    /// decode batch, attended together in one call (layer `layer` of its buffers); after them,
    /// each packed sequence (`lens[i]` positions) attends over its own cache and mask. Every
    /// sequence sees exactly what it would alone.
    pub fn forward_packed(
        &self,
        x: &Array,
        layer: usize,
        rows: Option<&mut RowsStep<'_>>,
        lens: &[usize],
        masks: &[&Mask],
        caches: &mut [&mut LayerCache],
    ) -> Result<Array> {
        let (q, k, v) = self.project(x)?;
        let mut outs = Vec::with_capacity(lens.len() + 1);
        let mut start = 0;
        if let Some(rows) = rows {
            let n = rows.rows();
            let head = |a: &Array| a.slice_axis(1, 0, n);
            outs.push(self.attend_rows(&head(&q)?, &head(&k)?, &head(&v)?, layer, rows)?);
            start = n;
        }
        for ((&n, mask), cache) in lens.iter().zip(masks).zip(caches.iter_mut()) {
            let part = |a: &Array| a.slice_axis(1, start, start + n);
            outs.push(self.attend(&part(&q)?, &part(&k)?, &part(&v)?, mask, cache)?);
            start += n;
        }
        let refs: Vec<&Array> = outs.iter().collect();
        let merged = if refs.len() == 1 { outs[0].clone() } else { mlx::concatenate(&refs, 1)? };
        self.o_proj.forward(&merged)
    }

    /// The decode batch's attention: `q/k/v` are `[1, R, *]`, one new token per row; each row
    /// is rotated at its own position and masked to its own length. Returns `[1, R, H*D]`.
    fn attend_rows(&self, q: &Array, k: &Array, v: &Array, layer: usize, rows: &mut RowsStep<'_>) -> Result<Array> {
        let r = rows.rows() as i32;
        // [1, R, n*D] -> [R, n, 1, D] in one reshape: with one position per row, the split
        // into heads needs no transpose (fewer graph nodes on a step that is host-bound).
        let per_row = |a: &Array, n: usize| a.reshape(&[r, n as i32, 1, self.head_dim as i32]);
        let (mut q, mut k, v) = (per_row(q, self.n_heads)?, per_row(k, self.n_kv_heads)?, per_row(v, self.n_kv_heads)?);
        if let Some(n) = &self.q_norm {
            q = n.forward(&q)?;
        }
        if let Some(n) = &self.k_norm {
            k = n.forward(&k)?;
        }
        let q = self.rope.apply_rows(&q, &rows.offsets)?;
        let k = self.rope.apply_rows(&k, &rows.offsets)?;
        let (k, v) = rows.update(layer, &k, &v)?;
        if q.dtype() == k.dtype() && mlx::attend_rows_enabled(self.head_dim, q.dtype()) {
            return Ok(mlx::attend_rows(&q, &k, &v, &rows.offsets, self.scale)?);
        }
        let (k, v) = (rows.visible(&k)?, rows.visible(&v)?);
        let o = mlx::scaled_dot_product_attention(&q, &k, &v, self.scale, mlx::AttentionMask::Array(rows.mask()?))?;
        // [R, H, 1, D] -> [1, R, H*D]: again no transpose, the position axis being 1.
        Ok(o.reshape(&[1, r, (self.n_heads * self.head_dim) as i32])?)
    }

    /// mlx-lm gemma2's attention: scaled queries, grouped heads by reshape, `cap * tanh(s / cap)`,
    /// a boolean mask filled with the dtype's minimum, and a precise softmax.
    fn softcapped(&self, q: &Array, k: &Array, v: &Array, cap: f32, mask: &Mask) -> Result<Array> {
        let (b, l, d) = (q.dim(0) as i32, q.dim(2) as i32, self.head_dim as i32);
        let repeats = (self.n_heads / self.n_kv_heads) as i32;
        let mut q = q.mul_scalar(self.scale)?;
        let (mut k, mut v) = (k.clone(), v.clone());
        if repeats > 1 {
            q = q.reshape(&[b, self.n_kv_heads as i32, repeats, l, d])?;
            k = k.expand_dims(2)?;
            v = v.expand_dims(2)?;
        }
        let scores = q.matmul(&k.swapaxes(-1, -2)?)?;
        let cap_s = Array::scalar(cap, scores.dtype());
        let mut scores = scores.divide(&cap_s)?.tanh()?.multiply(&cap_s)?;
        let explicit;
        let mask = match mask {
            Mask::None => None,
            Mask::Array(m) => Some(m),
            Mask::Causal => {
                let keys = k.dim(-2);
                explicit = causal_mask(l as usize, keys - l as usize, None)?;
                Some(&explicit)
            }
        };
        if let Some(m) = mask {
            scores = mlx::select(
                m,
                &scores,
                &Array::scalar(finfo_min(scores.dtype()), scores.dtype()),
            )?;
        }
        let mut out = scores.softmax(-1, true)?.matmul(&v)?;
        if repeats > 1 {
            out = out.reshape(&[b, self.n_heads as i32, l, d])?;
        }
        Ok(out)
    }

    /// Every array held.
    pub fn arrays(&self) -> Vec<&Array> {
        let projections: Vec<&Linear> = match &self.proj {
            QkvProj::Split {
                q_proj,
                k_proj,
                v_proj,
            } => vec![q_proj, k_proj, v_proj],
            QkvProj::Fused { qkv_proj } => vec![qkv_proj],
        };
        let mut v: Vec<&Array> = projections
            .into_iter()
            .chain([&self.o_proj])
            .flat_map(Linear::arrays)
            .collect();
        v.extend(
            self.q_norm
                .iter()
                .chain(self.k_norm.iter())
                .map(|n| &n.weight),
        );
        v
    }
}

/// The gate activation of a gated MLP, written as `mlx.nn` writes it so results match bit for bit.
#[derive(Clone, Copy)]
pub enum Activation {
    /// `x * sigmoid(x)`.
    Silu,
    /// Exact GELU, `x * (1 + erf(x / sqrt 2)) / 2` (mlx-lm's gemma uses it).
    Gelu,
    /// GELU, tanh approximation (`gelu_pytorch_tanh`).
    GeluApprox,
}

impl Activation {
    /// Applies the activation.
    pub fn apply(self, x: &Array) -> Result<Array> {
        let s = |v: f32| Array::scalar(v, x.dtype());
        Ok(match self {
            Activation::Silu => x.multiply(&x.sigmoid()?)?,
            Activation::Gelu => {
                let cdf = x
                    .divide(&s(std::f32::consts::SQRT_2))?
                    .erf()?
                    .add(&s(1.0))?;
                x.multiply(&cdf)?.divide(&s(2.0))?
            }
            Activation::GeluApprox => {
                // 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x**3))).
                let x3 = x.power(&s(3.0))?;
                let inner = x
                    .add(&x3.mul_scalar(0.044_715)?)?
                    .mul_scalar((2.0 / std::f32::consts::PI).sqrt())?;
                x.mul_scalar(0.5)?.multiply(&inner.tanh()?.add(&s(1.0))?)?
            }
        })
    }
}

/// The gate and up projections of a gated MLP, separate or fused (Phi-3's `gate_up_proj`).
pub enum GateUp {
    /// `gate_proj`, `up_proj`.
    Split {
        /// Gate projection.
        gate_proj: Linear,
        /// Up projection.
        up_proj: Linear,
    },
    /// One `[gate; up]` projection, halved after the matmul.
    Fused {
        /// Fused projection.
        gate_up_proj: Linear,
    },
}

/// `down(act(gate(x)) * up(x))`.
pub struct Mlp {
    /// Gate and up projections.
    pub gate_up: GateUp,
    /// Down projection.
    pub down_proj: Linear,
    /// Gate activation.
    pub act: Activation,
}

impl Mlp {
    /// Loads `gate_proj/up_proj/down_proj`.
    pub fn load(
        ld: &Loader,
        hidden: usize,
        inter: usize,
        bias: bool,
        act: Activation,
    ) -> Result<Mlp> {
        Ok(Mlp {
            gate_up: GateUp::Split {
                gate_proj: ld.pp("gate_proj").linear(hidden, inter, bias)?,
                up_proj: ld.pp("up_proj").linear(hidden, inter, bias)?,
            },
            down_proj: ld.pp("down_proj").linear(inter, hidden, bias)?,
            act,
        })
    }

    /// Loads a fused `gate_up_proj` and `down_proj` (no biases).
    pub fn load_fused(ld: &Loader, hidden: usize, inter: usize, act: Activation) -> Result<Mlp> {
        Ok(Mlp {
            gate_up: GateUp::Fused {
                gate_up_proj: ld.pp("gate_up_proj").linear(hidden, 2 * inter, false)?,
            },
            down_proj: ld.pp("down_proj").linear(inter, hidden, false)?,
            act,
        })
    }

    /// Applies the MLP.
    pub fn forward(&self, x: &Array) -> Result<Array> {
        let (gate, up) = match &self.gate_up {
            GateUp::Split { gate_proj, up_proj } => (gate_proj.forward(x)?, up_proj.forward(x)?),
            GateUp::Fused { gate_up_proj } => {
                let gu = gate_up_proj.forward(x)?;
                let (n, half) = (gu.dim(-1), gu.dim(-1) / 2);
                (gu.slice_axis(-1, 0, half)?, gu.slice_axis(-1, half, n)?)
            }
        };
        self.down_proj
            .forward(&self.act.apply(&gate)?.multiply(&up)?)
    }

    /// Every array held.
    pub fn arrays(&self) -> Vec<&Array> {
        let mut v: Vec<&Array> = match &self.gate_up {
            GateUp::Split { gate_proj, up_proj } => gate_proj
                .arrays()
                .into_iter()
                .chain(up_proj.arrays())
                .collect(),
            GateUp::Fused { gate_up_proj } => gate_up_proj.arrays(),
        };
        v.extend(self.down_proj.arrays());
        v
    }
}
