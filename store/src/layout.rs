//! On-disk layout of the store and the check that a folder is a complete
//! model: `<models>/<org>/<name>[@tag]/` holds config.json, safetensors
//! weights and a tokenizer; `<name>.manifest.json` and `<name>.alias.json`
//! sit beside folders. Folders and files whose names start with `.` are the
//! store's own (partial pulls, imports) and are never models.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::manifest::{manifest_path, Manifest};
use crate::name::ModelName;

/// Where a model comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Source {
    /// A folder in the store (pulled, imported, or copied in by hand).
    Local,
    /// A snapshot in the Hugging Face cache, served read-only.
    HfCache,
    /// A GGUF model in Ollama's store, converted on first use.
    Ollama,
    /// A name made by /api/copy that points at another model.
    Alias,
}

/// A complete model the store can serve.
#[derive(Clone, Debug)]
pub struct ModelEntry {
    /// Canonical name.
    pub name: ModelName,
    /// Plain MLX/HF folder (for Ollama models: where the conversion lives).
    pub path: PathBuf,
    /// Where it comes from.
    pub source: Source,
    /// Total bytes of its files.
    pub size: u64,
    /// 64 hex digits identifying the content.
    pub digest: String,
    /// Last modification of any file.
    pub modified: SystemTime,
    /// True when the store must not delete it.
    pub read_only: bool,
}

/// A model found by a scan, with the metadata signature the watcher diffs.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub entry: ModelEntry,
    /// Changes whenever any file's size or mtime changes.
    pub signature: String,
}

/// What a complete folder holds.
#[derive(Clone, Debug)]
pub(crate) struct FolderInfo {
    /// Top-level files: name, size, mtime, symlink target file name (HF cache blobs).
    pub files: Vec<(String, u64, SystemTime, Option<String>)>,
}

impl FolderInfo {
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.1).sum()
    }

    pub fn modified(&self) -> SystemTime {
        self.files
            .iter()
            .map(|f| f.2)
            .max()
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// sha256 over names, sizes and mtimes (or blob names when files are
    /// links into a content-addressed blob store).
    pub fn signature(&self) -> String {
        let mut hasher = Sha256::new();
        for (name, size, mtime, blob) in &self.files {
            let nanos = mtime
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            match blob {
                Some(blob) => hasher.update(format!("{name}\0{size}\0{blob}\n")),
                None => hasher.update(format!("{name}\0{size}\0{nanos}\n")),
            }
        }
        hex::encode(hasher.finalize())
    }
}

/// Largest safetensors header we read (real ones are well under a few MB).
const MAX_HEADER: u64 = 100 << 20;
/// Files that count as a tokenizer.
const TOKENIZER_FILES: [&str; 3] = ["tokenizer.json", "tokenizer.model", "tiktoken.model"];

/// Checks that `dir` is a complete model folder; the error says what is
/// missing or broken. Only top-level files are read, links are followed
/// once (a loop shows up as an error, never as recursion).
pub(crate) fn check_model_dir(dir: &Path) -> Result<FolderInfo, String> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("cannot read folder: {e}"))?;
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let meta = match std::fs::metadata(&path) {
            Ok(meta) => meta,
            Err(e) => return Err(format!("{name}: {e}")),
        };
        if !meta.is_file() {
            continue;
        }
        let blob = std::fs::read_link(&path)
            .ok()
            .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()));
        files.push((
            name,
            meta.len(),
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            blob,
        ));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let has = |n: &str| files.iter().any(|f| f.0 == n && f.1 > 0);
    if !has("config.json") {
        return Err("config.json is missing".into());
    }
    read_json_object(&dir.join("config.json")).map_err(|e| format!("config.json: {e}"))?;
    if !TOKENIZER_FILES.iter().any(|t| has(t)) {
        return Err("no tokenizer (tokenizer.json or tokenizer.model)".into());
    }
    for shard in weight_files(dir, &files)? {
        check_safetensors_cached(&dir.join(&shard)).map_err(|e| format!("{shard}: {e}"))?;
    }
    Ok(FolderInfo { files })
}

/// The safetensors files a folder's weights consist of.
fn weight_files(
    dir: &Path,
    files: &[(String, u64, SystemTime, Option<String>)],
) -> Result<Vec<String>, String> {
    let index = dir.join("model.safetensors.index.json");
    if files.iter().any(|f| f.0 == "model.safetensors.index.json") {
        let doc =
            read_json_object(&index).map_err(|e| format!("model.safetensors.index.json: {e}"))?;
        let map = doc
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or("model.safetensors.index.json has no weight_map")?;
        let mut shards: Vec<String> = map
            .values()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        shards.sort();
        shards.dedup();
        if let Some(bad) = shards
            .iter()
            .find(|s| s.contains('/') || s.contains("..") || s.starts_with('.'))
        {
            return Err(format!("weight_map names an unsafe file {bad:?}"));
        }
        if let Some(missing) = shards.iter().find(|s| !files.iter().any(|f| &f.0 == *s)) {
            return Err(format!("weight shard {missing} is missing"));
        }
        if shards.is_empty() {
            return Err("weight_map is empty".into());
        }
        return Ok(shards);
    }
    let shards: Vec<String> = files
        .iter()
        .filter(|f| f.0.ends_with(".safetensors"))
        .map(|f| f.0.clone())
        .collect();
    if shards.is_empty() {
        return Err("no *.safetensors weights".into());
    }
    Ok(shards)
}

/// Reads a JSON file that must hold an object.
pub(crate) fn read_json_object(
    path: &Path,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > 64 << 20 {
        return Err("file is larger than 64 MiB".into());
    }
    let text = std::fs::read(path).map_err(|e| e.to_string())?;
    match serde_json::from_slice(&text).map_err(|e| e.to_string())? {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err("not a JSON object".into()),
    }
}

/// Tensor descriptors from a safetensors header: name, dtype, shape.
pub(crate) type TensorList = Vec<(String, String, Vec<u64>)>;

/// [`check_safetensors`] remembering successes by (path, size, mtime), so
/// the scans behind every list/resolve mostly cost a `stat` per file.
fn check_safetensors_cached(path: &Path) -> Result<(), String> {
    type Seen = std::collections::HashMap<PathBuf, (u64, SystemTime)>;
    static SEEN: std::sync::OnceLock<std::sync::Mutex<Seen>> = std::sync::OnceLock::new();
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let key = (
        meta.len(),
        meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
    );
    let seen = SEEN.get_or_init(Default::default);
    let lock = || {
        seen.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if lock().get(path) == Some(&key) {
        return Ok(());
    }
    check_safetensors(path)?;
    lock().insert(path.to_path_buf(), key);
    Ok(())
}

/// Validates a safetensors file: a sane header whose tensors end exactly at
/// the end of the file (a truncated copy fails here).
pub(crate) fn check_safetensors(path: &Path) -> Result<TensorList, String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut head = [0u8; 8];
    file.read_exact(&mut head)
        .map_err(|_| "shorter than a safetensors header".to_string())?;
    let n = u64::from_le_bytes(head);
    if n > MAX_HEADER || 8 + n > len {
        return Err(format!(
            "bad header length {n} (file is {len} bytes): truncated or not safetensors"
        ));
    }
    let mut header = vec![0u8; usize::try_from(n).map_err(|_| "header too large")?];
    file.read_exact(&mut header).map_err(|e| e.to_string())?;
    let doc: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| format!("header is not JSON: {e}"))?;
    let mut end = 0u64;
    let mut tensors = Vec::new();
    for (name, info) in &doc {
        if name == "__metadata__" {
            continue;
        }
        let offsets = info
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .ok_or(format!("{name}: no data_offsets"))?;
        let stop = offsets
            .get(1)
            .and_then(serde_json::Value::as_u64)
            .ok_or(format!("{name}: bad data_offsets"))?;
        end = end.max(stop);
        let dtype = info
            .get("dtype")
            .and_then(|d| d.as_str())
            .unwrap_or("?")
            .to_string();
        let shape = info
            .get("shape")
            .and_then(|s| s.as_array())
            .map(|s| s.iter().filter_map(serde_json::Value::as_u64).collect())
            .unwrap_or_default();
        tensors.push((name.clone(), dtype, shape));
    }
    if 8 + n + end != len {
        return Err(format!("size {len} does not match header ({} bytes expected): truncated or still being written", 8 + n + end));
    }
    Ok(tensors)
}

/// Scans `<models>/<org>/<folder>/` for complete local models. Incomplete or
/// broken folders are skipped (logged at debug: they may still be arriving).
pub(crate) fn scan_local(models_dir: &Path) -> Vec<Found> {
    let mut found = Vec::new();
    for (name, dir) in candidate_dirs(models_dir) {
        match check_model_dir(&dir) {
            Ok(info) => found.push(local_found(name, dir, &info)),
            Err(reason) => tracing::debug!(path = %dir.display(), %reason, "skipping folder"),
        }
    }
    found
}

/// Every `<org>/<folder>` directory whose names form a valid model name.
pub(crate) fn candidate_dirs(models_dir: &Path) -> Vec<(ModelName, PathBuf)> {
    let mut out = Vec::new();
    for org in visible_entries(models_dir) {
        let Some(org_name) = org.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
            continue;
        };
        if !org.is_dir() {
            continue;
        }
        for dir in visible_entries(&org) {
            let Some(folder) = dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !dir.is_dir() {
                continue;
            }
            if let Some(name) = ModelName::from_folder(&org_name, folder) {
                out.push((name, dir));
            }
        }
    }
    out
}

fn local_found(name: ModelName, dir: PathBuf, info: &FolderInfo) -> Found {
    let signature = info.signature();
    let manifest_file = manifest_path(&dir);
    let manifest = match Manifest::read(&manifest_file) {
        Ok(m) if m.matches_dir(&dir) => Some(m),
        Ok(_) => None,
        Err(e) => {
            // A broken manifest only costs the content digest; the folder itself is fine.
            if manifest_file.exists() {
                tracing::warn!(error = %e, "ignoring manifest; using file metadata for the digest");
            }
            None
        }
    };
    let digest = manifest
        .as_ref()
        .map_or_else(|| signature.clone(), Manifest::digest);
    let entry = ModelEntry {
        name,
        path: dir,
        source: Source::Local,
        size: info.size(),
        digest,
        modified: info.modified(),
        read_only: false,
    };
    Found { entry, signature }
}

/// Entries of a folder whose names do not start with `.`; unreadable → empty.
pub(crate) fn visible_entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}
