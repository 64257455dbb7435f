//! The prefix cache: KV caches of finished sequences, kept so that a later prompt sharing a
//! prefix with one of them (the next turn of a chat: the earlier prompt, the answer, then the
//! new message) skips recomputing that prefix. LRU over its own byte budget; the owner charges
//! [`PrefixCache::bytes`] to the model's memory.
//!
//! Entries are few (a budget's worth of conversations), so the longest shared prefix is found
//! by comparing the prompt with every entry's tokens — a memcmp-speed scan that is cheaper than
//! keeping a trie in step with evictions.
//!
//! Entries can be written to a folder as safetensors (one file per entry, the token ids in the
//! header's metadata) and read back after an unload or a restart. The folder is the caller's:
//! it must be specific to the model's files, so that changed weights never reuse stale KV.
use crate::cache::{KvCache, LayerCache};
use crate::error::{EngineError, Result};
use crate::generate::Generation;
use crate::mlx::{Array, Dtype};
use crate::weights::Weights;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Shorter shared prefixes are not worth a restore.
const MIN_REUSE: usize = 16;

/// One cached sequence: its tokens and, per layer, the key and value buffers holding them.
struct Entry {
    tokens: Vec<u32>,
    layers: Vec<(Array, Array)>,
    nbytes: u64,
}

/// KV of earlier sequences of one model, by token prefix.
pub struct PrefixCache {
    /// Least recently used first.
    entries: Vec<Entry>,
    budget: u64,
}

fn shared_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl PrefixCache {
    /// An empty cache holding at most `budget` bytes.
    pub fn new(budget: u64) -> PrefixCache {
        PrefixCache { entries: Vec::new(), budget }
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.nbytes).sum()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry sharing the longest prefix with `prompt` (marked as used) and that length.
    fn best(&mut self, prompt: &[u32]) -> Option<(usize, usize)> {
        let (i, n) = self.entries.iter().enumerate().map(|(i, e)| (i, shared_prefix(&e.tokens, prompt))).max_by_key(|&(_, n)| n)?;
        if n < MIN_REUSE {
            return None;
        }
        let e = self.entries.remove(i);
        self.entries.push(e);
        Some((self.entries.len() - 1, n))
    }

    /// A cache holding the KV of the longest cached prefix of `prompt` (never all of it: the
    /// last prompt token is always computed, for its logits), and its length.
    pub(crate) fn restore(&mut self, prompt: &[u32]) -> Option<(Vec<LayerCache>, usize)> {
        let (i, n) = self.best(prompt)?;
        let n = n.min(prompt.len().saturating_sub(1));
        if n < MIN_REUSE {
            return None;
        }
        let layers = self.entries[i].layers.iter().map(|(k, v)| LayerCache::Standard(KvCache::restored(k.clone(), v.clone(), n))).collect();
        Some((layers, n))
    }

    /// Keeps a finished generation's KV. Only full-context caches are kept (a sliding window
    /// has dropped the start of the sequence). An entry whose tokens the new one extends is
    /// replaced; the least recently used entries go until the budget holds.
    pub fn insert(&mut self, generation: &Generation<'_>) {
        let (tokens, cache) = generation.kv_state();
        let Some(layers) = cache.iter().map(LayerCache::full_buffers).collect::<Option<Vec<_>>>() else { return };
        let len = cache.first().map_or(0, LayerCache::offset);
        if len < MIN_REUSE || len > tokens.len() {
            return;
        }
        let tokens = tokens[..len].to_vec();
        self.entries.retain(|e| !(e.tokens.len() <= tokens.len() && tokens.starts_with(&e.tokens)));
        if self.entries.iter().any(|e| e.tokens.starts_with(&tokens)) {
            return;
        }
        let nbytes = cache.iter().map(LayerCache::nbytes).sum();
        self.entries.push(Entry { tokens, layers, nbytes });
        self.evict();
    }

    fn evict(&mut self) {
        while self.bytes() > self.budget && !self.entries.is_empty() {
            self.entries.remove(0);
        }
    }

    /// Writes every entry to `dir` (replacing what was there).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let io = |path: &Path, source| EngineError::Io { path: path.to_path_buf(), source };
        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        for (i, e) in self.entries.iter().enumerate() {
            let path = dir.join(format!("{i:04}.safetensors"));
            let tmp = path.with_extension("tmp");
            write_entry(e, &tmp)?;
            // Whole files only: a crash mid-write leaves a .tmp that `load` ignores.
            std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        }
        Ok(())
    }

    /// Reads the entries saved in `dir` (a missing folder is an empty cache; unreadable files
    /// are skipped with a warning), oldest first, within `budget`.
    pub fn load(dir: &Path, budget: u64) -> PrefixCache {
        let mut cache = PrefixCache::new(budget);
        let Ok(read) = std::fs::read_dir(dir) else { return cache };
        let mut files: Vec<PathBuf> = read.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "safetensors")).collect();
        files.sort();
        for path in files {
            match read_entry(&path) {
                Ok(e) => cache.entries.push(e),
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "skipping a prefix-cache file"),
            }
        }
        cache.evict();
        cache
    }
}

fn safetensors_dtype(d: Dtype) -> Option<safetensors::Dtype> {
    Some(match d {
        Dtype::Float32 => safetensors::Dtype::F32,
        Dtype::Float16 => safetensors::Dtype::F16,
        Dtype::Bfloat16 => safetensors::Dtype::BF16,
        _ => return None,
    })
}

/// One layer's keys or values, cut to the entry's tokens, as host bytes.
struct HostTensor {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl safetensors::View for &HostTensor {
    fn dtype(&self) -> safetensors::Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn write_entry(e: &Entry, path: &Path) -> Result<()> {
    let bad = |message: String| EngineError::Safetensors { path: path.to_path_buf(), message };
    let n = e.tokens.len();
    let mut tensors = Vec::with_capacity(e.layers.len() * 2);
    for (j, (k, v)) in e.layers.iter().enumerate() {
        for (kind, a) in [("keys", k), ("values", v)] {
            let a = a.slice_axis(2, 0, n)?;
            let dtype = safetensors_dtype(a.dtype()).ok_or_else(|| bad(format!("cannot save KV of dtype {:?}", a.dtype())))?;
            tensors.push((format!("layers.{j}.{kind}"), HostTensor { dtype, shape: a.shape(), data: a.to_bytes()? }));
        }
    }
    let tokens = serde_json::to_string(&e.tokens).map_err(|err| bad(err.to_string()))?;
    let meta = HashMap::from([("tokens".to_string(), tokens)]);
    let views = tensors.iter().map(|(name, t)| (name.clone(), t));
    safetensors::serialize_to_file(views, Some(meta), path).map_err(|err| bad(err.to_string()))
}

fn read_entry(path: &Path) -> Result<Entry> {
    let bad = |message: String| EngineError::Safetensors { path: path.to_path_buf(), message };
    let bytes = std::fs::read(path).map_err(|source| EngineError::Io { path: path.to_path_buf(), source })?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
    let tokens = meta.metadata().as_ref().and_then(|m| m.get("tokens")).ok_or_else(|| bad("no token ids in the header".into()))?;
    let tokens: Vec<u32> = serde_json::from_str(tokens).map_err(|e| bad(format!("token ids: {e}")))?;
    drop(bytes);
    let weights = Weights::open_file(path)?;
    let mut layers = Vec::new();
    while weights.info(&format!("layers.{}.keys", layers.len())).is_some() {
        let j = layers.len();
        let (k, v) = (weights.load(&format!("layers.{j}.keys"))?, weights.load(&format!("layers.{j}.values"))?);
        if k.ndim() != 4 || k.dim(2) != tokens.len() || v.dim(2) != tokens.len() {
            return Err(bad(format!("layer {j} does not hold {} positions", tokens.len())));
        }
        layers.push((k, v));
    }
    if layers.is_empty() {
        return Err(bad("no layers".into()));
    }
    let nbytes = layers.iter().map(|(k, v)| (k.nbytes() + v.nbytes()) as u64).sum();
    Ok(Entry { tokens, layers, nbytes })
}
