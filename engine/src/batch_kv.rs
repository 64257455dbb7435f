//! The KV of the sequences that decode together: one row per sequence in one
//! `[rows, kv_heads, capacity, head_dim]` buffer per layer, so a decode step costs the same
//! handful of ops per layer whether 2 or 64 sequences take part (one RoPE, one scatter of the
//! new keys and values, one `scaled_dot_product_attention` under a padding mask), instead of
//! that handful once per sequence.
//!
//! Rows are right-padded: row r holds its `lens[r]` positions at `0..lens[r]`, and the mask hides
//! the rest. A sequence joins with its own cache (copied into a new row once), and leaves with a
//! cache of its own again (copied out once), so prefill, the prefix cache and a lone sequence
//! keep using [`LayerCache`]. Joins and leaves happen between steps; a step is one token for
//! every row.
use crate::cache::{KvCache, LayerCache};
use crate::error::{EngineError, Result};
use crate::mlx::{self, concatenate, zeros, Array};

/// Capacity grows in steps of this many positions (as [`KvCache`] does).
const STEP: usize = 256;

/// Identifies a sequence's row.
pub(crate) type RowId = u64;

/// The shared rows of one network's decoding sequences.
#[derive(Default)]
pub(crate) struct BatchKv {
    /// Row order: `ids[r]` owns row r.
    ids: Vec<RowId>,
    /// Positions held by each row.
    lens: Vec<usize>,
    /// Keys and values of each layer, `[rows, kv_heads, cap, head_dim]`.
    layers: Vec<(Array, Array)>,
    cap: usize,
}

fn layer_parts(cache: &LayerCache) -> Result<(&Array, &Array, usize)> {
    match cache {
        LayerCache::Standard(kv) => kv.parts().ok_or(EngineError::InvalidOption {
            name: "batch",
            message: "a sequence joined the decode batch before its prompt was processed".into(),
        }),
        LayerCache::Rotating(_) => Err(EngineError::InvalidOption {
            name: "batch",
            message: "sliding-window caches do not decode in the shared batch".into(),
        }),
    }
}

/// `a[.., 0..len, ..]` padded with zeros to `cap` positions along axis 2.
fn padded(a: &Array, len: usize, cap: usize) -> Result<Array> {
    let head = a.slice_axis(2, 0, len)?;
    if len == cap {
        return Ok(head);
    }
    let mut shape = a.shape();
    shape[2] = cap - len;
    Ok(concatenate(&[&head, &zeros(&shape, a.dtype())?], 2)?)
}

impl BatchKv {
    /// Whether `id` has a row.
    pub fn contains(&self, id: RowId) -> bool {
        self.ids.contains(&id)
    }

    /// Rows, in order.
    pub fn ids(&self) -> &[RowId] {
        &self.ids
    }

    fn row(&self, id: RowId) -> Option<usize> {
        self.ids.iter().position(|&i| i == id)
    }

    /// Bytes of one row (what a sequence in the batch is charged for its KV).
    pub fn row_bytes(&self) -> u64 {
        let rows = self.ids.len().max(1) as u64;
        self.layers.iter().map(|(k, v)| (k.nbytes() + v.nbytes()) as u64).sum::<u64>() / rows
    }

    /// Grows (or shrinks) every layer to `cap` positions.
    fn resize(&mut self, cap: usize) -> Result<()> {
        if cap == self.cap {
            return Ok(());
        }
        let used = self.lens.iter().copied().max().unwrap_or(0);
        for (k, v) in &mut self.layers {
            *k = padded(k, used.min(cap), cap)?;
            *v = padded(v, used.min(cap), cap)?;
        }
        self.cap = cap;
        Ok(())
    }

    /// Copies the caches of sequences that start decoding together into new last rows, in the
    /// given order. All of them join in one concatenation per buffer: joining them one by one
    /// would copy the whole batch once per sequence (eight sequences that finish their prompts
    /// together would copy it eight times over).
    pub fn join(&mut self, joining: Vec<(RowId, Vec<LayerCache>)>) -> Result<()> {
        let mut rows: Vec<(RowId, Vec<LayerCache>, usize)> = Vec::with_capacity(joining.len());
        for (id, cache) in joining {
            if self.contains(id) || rows.iter().any(|(r, _, _)| *r == id) {
                continue;
            }
            let expected = if self.layers.is_empty() { rows.first().map(|(_, c, _)| c.len()) } else { Some(self.layers.len()) };
            if expected.is_some_and(|n| n != cache.len()) {
                return Err(EngineError::InvalidOption { name: "batch", message: "sequences of different models cannot share a batch".into() });
            }
            let len = cache.first().map(layer_parts).transpose()?.map_or(0, |(_, _, n)| n);
            rows.push((id, cache, len));
        }
        let Some(layer_count) = rows.first().map(|(_, c, _)| c.len()) else { return Ok(()) };
        let longest = rows.iter().map(|(_, _, n)| *n).max().unwrap_or(0);
        let cap = self.cap.max((longest + 1).div_ceil(STEP) * STEP);
        self.resize(cap)?;
        let mut layers = Vec::with_capacity(layer_count);
        for j in 0..layer_count {
            let (mut ks, mut vs) = match self.layers.get(j) {
                Some((k, v)) => (vec![k.clone()], vec![v.clone()]),
                None => (Vec::with_capacity(rows.len()), Vec::with_capacity(rows.len())),
            };
            for (_, cache, _) in &rows {
                let (k, v, n) = layer_parts(&cache[j])?;
                ks.push(padded(k, n, cap)?);
                vs.push(padded(v, n, cap)?);
            }
            let join = |parts: &[Array]| -> Result<Array> {
                match parts {
                    [one] => Ok(one.clone()),
                    parts => Ok(concatenate(&parts.iter().collect::<Vec<_>>(), 0)?),
                }
            };
            layers.push((join(&ks)?, join(&vs)?));
        }
        self.layers = layers;
        self.cap = cap;
        for (id, _, len) in rows {
            self.ids.push(id);
            self.lens.push(len);
        }
        Ok(())
    }

    /// Takes a sequence's row out as a cache of its own (evaluated, so the shared buffers can
    /// be freed); `None` if it has no row.
    pub fn leave(&mut self, id: RowId) -> Result<Option<Vec<LayerCache>>> {
        let Some(r) = self.row(id) else { return Ok(None) };
        let len = self.lens[r];
        let mut own = Vec::with_capacity(self.layers.len());
        for (k, v) in &self.layers {
            let take = |a: &Array| -> Result<Array> { Ok(a.slice_axis(0, r, r + 1)?.slice_axis(2, 0, len)?.contiguous()?) };
            own.push((take(k)?, take(v)?));
        }
        let arrays: Vec<&Array> = own.iter().flat_map(|(k, v)| [k, v]).collect();
        mlx::eval(&arrays)?;
        self.remove_row(r)?;
        Ok(Some(own.into_iter().map(|(k, v)| LayerCache::Standard(KvCache::restored(k, v, len))).collect()))
    }

    /// Drops a sequence's row (the sequence was abandoned).
    pub fn remove(&mut self, id: RowId) -> Result<()> {
        match self.row(id) {
            Some(r) => self.remove_row(r),
            None => Ok(()),
        }
    }

    fn remove_row(&mut self, r: usize) -> Result<()> {
        self.ids.remove(r);
        self.lens.remove(r);
        if self.ids.is_empty() {
            *self = BatchKv::default();
            return Ok(());
        }
        let rows = self.ids.len() + 1;
        let without = |a: &Array| -> Result<Array> {
            Ok(match r {
                0 => a.slice_axis(0, 1, rows)?,
                r if r == rows - 1 => a.slice_axis(0, 0, r)?,
                r => concatenate(&[&a.slice_axis(0, 0, r)?, &a.slice_axis(0, r + 1, rows)?], 0)?,
            })
        };
        for (k, v) in &mut self.layers {
            *k = without(k)?;
            *v = without(v)?;
        }
        // Give back capacity a departed long sequence needed.
        let need = (self.lens.iter().copied().max().unwrap_or(0) + 1).div_ceil(STEP) * STEP;
        if need + STEP <= self.cap {
            self.resize(need)?;
        }
        Ok(())
    }

    /// Prepares a step in which every row gets one new token. Rows whose sequence sits this step
    /// out are carried along: their new position is written past their length, where the mask
    /// hides it and their next real token overwrites it ([`BatchKv::commit`] says which rows
    /// took part).
    /// `ids` are the rows' input tokens, `[rows]`.
    pub fn begin_step(&mut self, ids: Array) -> Result<RowsStep<'_>> {
        let rows = self.ids.len();
        let visible = self.lens.iter().copied().max().unwrap_or(0) + 1;
        if visible > self.cap {
            self.resize(visible.div_ceil(STEP) * STEP)?;
        }
        let offsets: Vec<i32> = self.lens.iter().map(|&n| n as i32).collect();
        // One upload a step: the scatter indices are a view of the offsets.
        let offsets = Array::from_slice(&offsets, &[rows])?;
        Ok(RowsStep { ids, positions: offsets.reshape(&[rows as i32, 1, 1, 1])?, offsets, mask: None, visible, kv: self })
    }

    /// Ends a step: the rows marked in `present` now hold one more position.
    pub fn commit(&mut self, present: &[bool]) {
        for (n, &p) in self.lens.iter_mut().zip(present) {
            *n += usize::from(p);
        }
    }
}

/// One decode step over every row of a [`BatchKv`] (crate-internal; public only because the
/// [`crate::models::Architecture`] trait names it): the per-row positions and padding mask,
/// built once and used by every layer.
pub struct RowsStep<'a> {
    kv: &'a mut BatchKv,
    /// Each row's input token, `[rows]`.
    pub(crate) ids: Array,
    /// Position of each row's new token, `[rows]` (RoPE offsets).
    pub(crate) offsets: Array,
    /// The same, `[rows, 1, 1, 1]`, as scatter indices along the positions axis.
    positions: Array,
    /// `[rows, 1, 1, visible]`: true where a row has a position. Made at its first use, since
    /// the batched attention kernel (where it runs) needs none.
    mask: Option<Array>,
    /// Positions attention reads (the longest row's, plus the new one).
    visible: usize,
}

impl RowsStep<'_> {
    /// Rows in this step.
    pub(crate) fn rows(&self) -> usize {
        self.kv.ids.len()
    }

    /// Writes layer `j`'s new keys and values `[rows, kv_heads, 1, head_dim]` at each row's
    /// position and returns the layer's whole buffers `[rows, kv_heads, capacity, head_dim]`.
    pub(crate) fn update(&mut self, j: usize, k: &Array, v: &Array) -> Result<(Array, Array)> {
        let (bk, bv) = self.kv.layers.get_mut(j).ok_or(EngineError::InvalidOption { name: "batch", message: format!("no layer {j} in the decode batch") })?;
        let index = self.positions.broadcast_to(&k.shape())?;
        *bk = bk.put_along_axis(&index, k, 2)?;
        let v_index = if v.shape() == k.shape() { index } else { self.positions.broadcast_to(&v.shape())? };
        *bv = bv.put_along_axis(&v_index, v, 2)?;
        Ok((bk.clone(), bv.clone()))
    }

    /// `[rows, 1, 1, visible]`: true where a row has a position (its length, plus the new one).
    pub(crate) fn mask(&mut self) -> Result<&Array> {
        if self.mask.is_none() {
            let visible = self.visible;
            let mut mask = vec![false; self.kv.lens.len() * visible];
            for (r, &n) in self.kv.lens.iter().enumerate() {
                mask[r * visible..r * visible + n + 1].fill(true);
            }
            self.mask = Some(Array::from_slice(&mask, &[self.kv.lens.len(), 1, 1, visible])?);
        }
        Ok(self.mask.as_ref().expect("just made"))
    }

    /// The positions of a buffer that attention reads under [`RowsStep::mask`]: the longest
    /// row's, plus the new one.
    pub(crate) fn visible(&self, buffer: &Array) -> Result<Array> {
        Ok(buffer.slice_axis(2, 0, self.visible)?)
    }
}
