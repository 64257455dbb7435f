//! Per-layer KV caches. [`KvCache`] grows in 256-token steps (one allocation per step, not a copy
//! per token); [`RotatingKvCache`] keeps a fixed window for sliding-window layers. Both report
//! `nbytes()`, which the daemon charges to the model's memory budget.
//!
//! The update and mask rules follow mlx-lm's caches exactly, so that our tokens equal the oracle's.
use crate::error::Result;
use crate::mlx::{self, concatenate, zeros, Array};

const STEP: usize = 256;

/// How attention is masked for a forward pass of `n` new tokens.
pub enum Mask {
    /// No mask (single token over a full cache).
    None,
    /// Standard causal mask (aligned to the end of the keys).
    Causal,
    /// An explicit boolean mask (true = attend).
    Array(Array),
}

impl Mask {
    /// As the argument of `scaled_dot_product_attention`.
    pub fn as_attention(&self) -> mlx::AttentionMask<'_> {
        match self {
            Mask::None => mlx::AttentionMask::None,
            Mask::Causal => mlx::AttentionMask::Causal,
            Mask::Array(a) => mlx::AttentionMask::Array(a),
        }
    }
}

/// A causal mask of `n` queries at `offset` over `offset + n` keys, limited to `window` if given.
pub fn causal_mask(n: usize, offset: usize, window: Option<usize>) -> Result<Array> {
    let total = offset + n;
    let mut m = vec![false; n * total];
    for i in 0..n {
        let q = offset + i;
        for k in 0..total {
            m[i * total + k] = q >= k && window.is_none_or(|w| q < k + w);
        }
    }
    Ok(Array::from_slice(&m, &[n, total])?)
}

fn seq_slice(a: &Array, start: usize, stop: usize) -> Result<Array> {
    Ok(a.slice_axis(2, start, stop)?)
}

/// A growing cache of `[B, kv_heads, T, head_dim]` keys and values.
#[derive(Default)]
pub struct KvCache {
    keys: Option<Array>,
    values: Option<Array>,
    offset: usize,
}

impl KvCache {
    /// A cache whose buffers hold at least `offset` positions already (a prefix-cache hit).
    /// The buffers are shared with their owner; the first write copies them.
    pub fn restored(keys: Array, values: Array, offset: usize) -> KvCache {
        KvCache { keys: Some(keys), values: Some(values), offset }
    }

    /// The key and value buffers and the positions they hold (`None` before the first write).
    pub(crate) fn parts(&self) -> Option<(&Array, &Array, usize)> {
        Some((self.keys.as_ref()?, self.values.as_ref()?, self.offset))
    }

    /// Appends `[B, H, S, D]` keys/values and returns everything cached so far.
    pub fn update_and_fetch(&mut self, k: &Array, v: &Array) -> Result<(Array, Array)> {
        let prev = self.offset;
        let s = k.dim(2);
        let cap = self.keys.as_ref().map_or(0, |a| a.dim(2));
        if self.keys.is_none() || prev + s > cap {
            let steps = s.div_ceil(STEP);
            let (b, h) = (k.dim(0), k.dim(1));
            let nk = zeros(&[b, h, steps * STEP, k.dim(3)], k.dtype())?;
            let nv = zeros(&[b, h, steps * STEP, v.dim(3)], v.dtype())?;
            match (self.keys.take(), self.values.take()) {
                (Some(mut ok), Some(mut ov)) => {
                    if prev % STEP != 0 {
                        ok = seq_slice(&ok, 0, prev)?;
                        ov = seq_slice(&ov, 0, prev)?;
                    }
                    self.keys = Some(concatenate(&[&ok, &nk], 2)?);
                    self.values = Some(concatenate(&[&ov, &nv], 2)?);
                }
                _ => {
                    self.keys = Some(nk);
                    self.values = Some(nv);
                }
            }
        }
        self.offset += s;
        let (keys, values) = (self.keys.take().expect("allocated above"), self.values.take().expect("allocated above"));
        let keys = write_at(&keys, k, prev)?;
        let values = write_at(&values, v, prev)?;
        let out = (seq_slice(&keys, 0, self.offset)?, seq_slice(&values, 0, self.offset)?);
        self.keys = Some(keys);
        self.values = Some(values);
        Ok(out)
    }

    /// The attention mask for `n` new tokens.
    pub fn mask(&self, n: usize, window: Option<usize>) -> Result<Mask> {
        if n == 1 {
            return Ok(Mask::None);
        }
        match window {
            Some(w) if self.offset + n > w => Ok(Mask::Array(causal_mask(n, self.offset, Some(w))?)),
            _ => Ok(Mask::Causal),
        }
    }
}

/// Writes `update` into `dst[.., at..at+S, ..]`.
fn write_at(dst: &Array, update: &Array, at: usize) -> Result<Array> {
    let shape = dst.shape();
    let start = [0, 0, at as i32, 0];
    let stop = [shape[0] as i32, shape[1] as i32, (at + update.dim(2)) as i32, shape[3] as i32];
    Ok(dst.slice_update(update, &start, &stop)?)
}

/// A fixed-size window cache for sliding-window attention layers.
pub struct RotatingKvCache {
    keys: Option<Array>,
    values: Option<Array>,
    offset: usize,
    max_size: usize,
    idx: usize,
}

impl RotatingKvCache {
    /// A cache that keeps the last `max_size` positions.
    pub fn new(max_size: usize) -> RotatingKvCache {
        RotatingKvCache { keys: None, values: None, offset: 0, max_size, idx: 0 }
    }

    fn temporal_order(&self, v: &Array) -> Result<Array> {
        let len = v.dim(2);
        if self.idx == len {
            Ok(v.clone())
        } else if self.idx < self.offset {
            Ok(concatenate(&[&seq_slice(v, self.idx, len)?, &seq_slice(v, 0, self.idx)?], 2)?)
        } else {
            seq_slice(v, 0, self.idx)
        }
    }

    fn trim(trim: usize, v: &Array, append: Option<&Array>) -> Result<Array> {
        let mut parts = Vec::new();
        let kept = if trim > 0 { seq_slice(v, trim, v.dim(2))? } else { v.clone() };
        parts.push(&kept);
        if let Some(a) = append {
            parts.push(a);
        }
        Ok(concatenate(&parts, 2)?)
    }

    fn update_concat(&mut self, k: &Array, v: &Array) -> Result<(Array, Array)> {
        let (keys, values) = match (self.keys.take(), self.values.take()) {
            (Some(ok), Some(ov)) => {
                let ok = self.temporal_order(&ok)?;
                let ov = self.temporal_order(&ov)?;
                self.idx = ok.dim(2);
                let trim = (self.idx + 1).saturating_sub(self.max_size);
                (Self::trim(trim, &ok, Some(k))?, Self::trim(trim, &ov, Some(v))?)
            }
            _ => (k.clone(), v.clone()),
        };
        self.offset += k.dim(2);
        self.idx = keys.dim(2);
        self.keys = Some(keys.clone());
        self.values = Some(values.clone());
        Ok((keys, values))
    }

    fn update_in_place(&mut self, k: &Array, v: &Array) -> Result<(Array, Array)> {
        let (b, h, s) = (k.dim(0), k.dim(1), k.dim(2));
        let prev = self.offset;
        let cap = self.keys.as_ref().map_or(0, |a| a.dim(2));
        let (mut keys, mut values) = match (self.keys.take(), self.values.take()) {
            (Some(ok), Some(ov)) if !(prev >= cap && cap < self.max_size) => (ok, ov),
            (old_k, old_v) => {
                let size = STEP.min(self.max_size - prev);
                let nk = zeros(&[b, h, size, k.dim(3)], k.dtype())?;
                let nv = zeros(&[b, h, size, v.dim(3)], v.dtype())?;
                self.idx = prev;
                match (old_k, old_v) {
                    (Some(ok), Some(ov)) => (concatenate(&[&ok, &nk], 2)?, concatenate(&[&ov, &nv], 2)?),
                    _ => (nk, nv),
                }
            }
        };
        let trim = keys.dim(2).saturating_sub(self.max_size);
        if trim > 0 {
            keys = Self::trim(trim, &keys, None)?;
            values = Self::trim(trim, &values, None)?;
            self.idx = self.max_size;
        }
        if self.idx == self.max_size {
            self.idx = 0;
        }
        keys = write_at(&keys, k, self.idx)?;
        values = write_at(&values, v, self.idx)?;
        self.offset += s;
        self.idx += s;
        let out = if self.offset < keys.dim(2) {
            (seq_slice(&keys, 0, self.offset)?, seq_slice(&values, 0, self.offset)?)
        } else {
            (keys.clone(), values.clone())
        };
        self.keys = Some(keys);
        self.values = Some(values);
        Ok(out)
    }

    /// Appends keys/values and returns what attention should see.
    pub fn update_and_fetch(&mut self, k: &Array, v: &Array) -> Result<(Array, Array)> {
        if k.dim(2) == 1 {
            self.update_in_place(k, v)
        } else {
            self.update_concat(k, v)
        }
    }

    /// The attention mask for `n` new tokens with attention window `window`.
    pub fn mask(&self, n: usize, window: Option<usize>) -> Result<Mask> {
        if n > 1 {
            let w = window.unwrap_or(self.max_size);
            let offset = (self.max_size - 1).min(self.offset);
            return Ok(if offset + n > w { Mask::Array(causal_mask(n, offset, Some(w))?) } else { Mask::Causal });
        }
        let Some(w) = window else { return Ok(Mask::None) };
        if self.offset >= w && self.max_size > w {
            let idx = if self.idx >= self.max_size { 0 } else { self.idx };
            let size = if self.offset < self.max_size { self.offset + 1 } else { self.max_size };
            let mut m = vec![false; size];
            for (i, slot) in (0..size).map(|i| (i, i >= size - w)) {
                m[(i + idx + 1) % size] = slot;
            }
            return Ok(Mask::Array(Array::from_slice(&m, &[size])?));
        }
        Ok(Mask::None)
    }
}

/// The cache of one layer.
pub enum LayerCache {
    /// Full-context layer.
    Standard(KvCache),
    /// Sliding-window layer.
    Rotating(RotatingKvCache),
}

impl LayerCache {
    /// A full-context cache.
    pub fn standard() -> LayerCache {
        LayerCache::Standard(KvCache::default())
    }

    /// A sliding-window cache of `window` positions.
    pub fn rotating(window: usize) -> LayerCache {
        LayerCache::Rotating(RotatingKvCache::new(window))
    }

    /// Appends and fetches.
    pub fn update_and_fetch(&mut self, k: &Array, v: &Array) -> Result<(Array, Array)> {
        match self {
            LayerCache::Standard(c) => c.update_and_fetch(k, v),
            LayerCache::Rotating(c) => c.update_and_fetch(k, v),
        }
    }

    /// Tokens seen so far (the RoPE offset of the next token).
    pub fn offset(&self) -> usize {
        match self {
            LayerCache::Standard(c) => c.offset,
            LayerCache::Rotating(c) => c.offset,
        }
    }

    /// The mask for `n` new tokens.
    pub fn mask(&self, n: usize, window: Option<usize>) -> Result<Mask> {
        match self {
            LayerCache::Standard(c) => c.mask(n, window),
            LayerCache::Rotating(c) => c.mask(n, window),
        }
    }

    /// Bytes held by the cached keys and values (as allocated, including unused step room).
    pub fn nbytes(&self) -> u64 {
        let (k, v) = match self {
            LayerCache::Standard(c) => (&c.keys, &c.values),
            LayerCache::Rotating(c) => (&c.keys, &c.values),
        };
        (k.as_ref().map_or(0, Array::nbytes) + v.as_ref().map_or(0, Array::nbytes)) as u64
    }

    /// The key and value buffers of a full-context cache (`None` for a sliding window, or
    /// before anything was cached).
    pub fn full_buffers(&self) -> Option<(Array, Array)> {
        match self {
            LayerCache::Standard(KvCache { keys: Some(k), values: Some(v), .. }) => Some((k.clone(), v.clone())),
            _ => None,
        }
    }

    /// Every cached array (to evaluate the cache state after prefill).
    pub fn arrays(&self) -> Vec<&Array> {
        let (k, v) = match self {
            LayerCache::Standard(c) => (&c.keys, &c.values),
            LayerCache::Rotating(c) => (&c.keys, &c.values),
        };
        k.iter().chain(v.iter()).collect()
    }
}
