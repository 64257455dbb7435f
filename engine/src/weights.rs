//! Reads MLX/HF safetensors checkpoints through memory maps, checking every header before any
//! tensor is built.
use crate::error::{EngineError, Result};
use crate::mlx::{Array, Dtype};
use memmap2::Mmap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where one tensor's bytes live.
#[derive(Debug, Clone)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: Dtype,
    /// Shape.
    pub shape: Vec<usize>,
    file: usize,
    start: usize,
    end: usize,
}

/// The tensors of a checkpoint, by name, backed by memory maps.
pub struct Weights {
    tensors: BTreeMap<String, TensorInfo>,
    maps: Vec<Arc<Mmap>>,
    paths: Vec<PathBuf>,
}

/// The shard files of a model folder: `model.safetensors`, or the files named by
/// `model.safetensors.index.json`, or (for hand-made folders) every `*.safetensors`.
pub fn shard_paths(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    if index.is_file() {
        let text = std::fs::read_to_string(&index).map_err(|source| EngineError::Io { path: index.clone(), source })?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| EngineError::config(&index, e.to_string()))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| EngineError::config(&index, "no \"weight_map\" object"))?;
        let mut files: Vec<String> = map.values().filter_map(|f| f.as_str().map(str::to_string)).collect();
        files.sort();
        files.dedup();
        return files
            .into_iter()
            .map(|f| {
                if f.contains('/') || f.contains("..") {
                    return Err(EngineError::config(&index, format!("shard name {f:?} leaves the model folder")));
                }
                Ok(dir.join(f))
            })
            .collect();
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| EngineError::Io { path: dir.to_path_buf(), source })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(EngineError::MissingFile { path: single, what: "weights (model.safetensors or shards)" });
    }
    Ok(found)
}

impl Weights {
    /// Maps every shard of a model folder and parses the headers.
    pub fn open(dir: &Path) -> Result<Weights> {
        let mut w = Weights { tensors: BTreeMap::new(), maps: Vec::new(), paths: Vec::new() };
        for path in shard_paths(dir)? {
            w.add_file(&path)?;
        }
        Ok(w)
    }

    /// Maps one safetensors file.
    pub fn open_file(path: &Path) -> Result<Weights> {
        let mut w = Weights { tensors: BTreeMap::new(), maps: Vec::new(), paths: Vec::new() };
        w.add_file(path)?;
        Ok(w)
    }

    fn add_file(&mut self, path: &Path) -> Result<()> {
        let file = std::fs::File::open(path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => EngineError::MissingFile { path: path.to_path_buf(), what: "this weight shard" },
            _ => EngineError::Io { path: path.to_path_buf(), source },
        })?;
        // SAFETY: the map is read-only; a model file changed under us is the store's hot-swap case, which
        // reloads the model rather than reading a file in flux (the watcher debounces writes).
        #[allow(unsafe_code)]
        let map = unsafe { Mmap::map(&file) }.map_err(|source| EngineError::Io { path: path.to_path_buf(), source })?;
        let bad = |message: String| EngineError::Safetensors { path: path.to_path_buf(), message };
        let (header_len, meta) = safetensors::SafeTensors::read_metadata(&map[..]).map_err(|e| bad(e.to_string()))?;
        let data_start = 8 + header_len;
        let idx = self.maps.len();
        for (name, info) in meta.tensors() {
            let dtype = Dtype::from_safetensors(&format!("{:?}", info.dtype))
                .ok_or_else(|| bad(format!("tensor {name:?} has unsupported dtype {:?}", info.dtype)))?;
            let (s, e) = info.data_offsets;
            if self.tensors.contains_key(&name) {
                return Err(bad(format!("tensor {name:?} appears in two shards")));
            }
            let t = TensorInfo { dtype, shape: info.shape.clone(), file: idx, start: data_start + s, end: data_start + e };
            self.tensors.insert(name, t);
        }
        self.maps.push(Arc::new(map));
        self.paths.push(path.to_path_buf());
        Ok(())
    }

    /// Header information of one tensor.
    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.get(name)
    }

    /// Whether a tensor exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Every tensor with its header information.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TensorInfo)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Drops a tensor (used by a model's `sanitize`).
    pub fn remove(&mut self, name: &str) -> Option<TensorInfo> {
        self.tensors.remove(name)
    }

    /// Renames a tensor (used by a model's `sanitize`).
    pub fn rename(&mut self, from: &str, to: &str) {
        if let Some(t) = self.tensors.remove(from) {
            self.tensors.insert(to.to_string(), t);
        }
    }

    /// Total bytes of tensor data.
    pub fn total_bytes(&self) -> u64 {
        self.tensors.values().map(|t| (t.end - t.start) as u64).sum()
    }

    /// Builds an MLX array over a tensor's bytes, without a copy where MLX allows.
    pub fn load(&self, name: &str) -> Result<Array> {
        let t = self.tensors.get(name).ok_or_else(|| EngineError::MissingTensor { name: name.to_string() })?;
        let map = &self.maps[t.file];
        let bytes = &map[t.start..t.end];
        let owner: Arc<dyn Send + Sync> = map.clone();
        if (bytes.as_ptr() as usize) % t.dtype.size() != 0 {
            // Misaligned data cannot be viewed in place: copy it.
            return Ok(Array::from_bytes(bytes, &t.shape, t.dtype)?);
        }
        #[allow(unsafe_code)]
        // SAFETY: `owner` is the read-only map holding `bytes`; the header check guaranteed the length.
        let a = unsafe { Array::from_borrowed(bytes, &t.shape, t.dtype, owner) }?;
        Ok(a)
    }

    /// The shard files.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }
}
