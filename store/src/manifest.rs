//! The small manifest kept beside each model folder the store wrote:
//! `<models>/<org>/<folder>.manifest.json` (source, revision, file sizes and
//! sha256, pulled_at). The folder itself stays a plain MLX/HF folder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::StoreError;

/// Suffix of the manifest file next to a model folder.
pub const MANIFEST_SUFFIX: &str = ".manifest.json";
/// Current manifest schema.
pub const SCHEMA_VERSION: u32 = 1;

/// Where a stored model came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// Pulled from a Hugging Face compatible hub.
    Huggingface {
        /// Hub endpoint.
        endpoint: String,
        /// Repo id.
        repo: String,
        /// Commit sha the revision resolved to.
        revision: String,
    },
    /// Converted from a GGUF file.
    Gguf {
        /// The file imported.
        file: String,
        /// sha256 of the GGUF file header and metadata region is not
        /// computed; this is the file size, for orientation only.
        size: u64,
    },
}

/// One file of a model folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Path relative to the model folder (`/`-separated).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex sha256 of the content.
    pub sha256: String,
}

/// The manifest document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Canonical model name at the time of writing.
    pub name: String,
    /// Origin of the files.
    pub source: Origin,
    /// Files, sorted by path.
    pub files: Vec<ManifestFile>,
    /// RFC 3339 time the model was published.
    pub pulled_at: String,
}

impl Manifest {
    /// Builds a manifest stamped now, files sorted by path.
    pub fn new(name: String, source: Origin, mut files: Vec<ManifestFile>) -> Manifest {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Manifest {
            schema_version: SCHEMA_VERSION,
            name,
            source,
            files,
            pulled_at: chrono::Utc::now().to_rfc3339(),
        }
    }

    /// The model digest: sha256 over the sorted `path size sha256` lines, so
    /// it changes exactly when some file's content does.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for file in &self.files {
            hasher.update(format!("{} {} {}\n", file.path, file.size, file.sha256));
        }
        hex::encode(hasher.finalize())
    }

    /// Total bytes of the listed files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// True when every listed file exists in `dir` with the listed size (a
    /// hand-edited folder no longer matches and falls back to metadata digests).
    pub fn matches_dir(&self, dir: &Path) -> bool {
        self.files.iter().all(|f| {
            std::fs::metadata(dir.join(&f.path)).is_ok_and(|m| m.is_file() && m.len() == f.size)
        })
    }

    /// Reads and validates a manifest file.
    pub fn read(path: &Path) -> Result<Manifest, StoreError> {
        let text = fs_err::read_to_string(path)?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        if manifest.schema_version != SCHEMA_VERSION {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("unsupported schema_version {}", manifest.schema_version),
            });
        }
        let bad_file = manifest.files.iter().find(|f| {
            f.sha256.len() != 64
                || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit())
                || !is_safe_relative(&f.path)
        });
        if let Some(f) = bad_file {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("bad file entry {:?}", f.path),
            });
        }
        Ok(manifest)
    }

    /// Writes the manifest atomically (temp file + rename).
    pub fn write(&self, path: &Path) -> Result<(), StoreError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        write_atomic(path, text.as_bytes())
    }
}

/// The manifest path beside a model folder.
pub fn manifest_path(model_dir: &Path) -> PathBuf {
    sibling_with_suffix(model_dir, MANIFEST_SUFFIX)
}

/// `<parent>/<folder><suffix>` for a folder path.
pub(crate) fn sibling_with_suffix(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    dir.with_file_name(name)
}

/// Writes `bytes` to `path` through a temp file in the same folder and a rename,
/// so readers see the old or the new content, never a mix.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    if let Err(e) = fs_err::write(&tmp, bytes) {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::io_at(&tmp, e));
    }
    fs_err::rename(&tmp, path).map_err(|e| StoreError::io_at(path, e))
}

/// A relative path with no root, no `..`, no empty or hidden-escape parts.
pub(crate) fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\0')
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// Streams a file through sha256.
pub(crate) fn sha256_file(path: &Path) -> Result<String, StoreError> {
    use std::io::Read;
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}
