//! The hub side of a pull: which hub (`HF_ENDPOINT`, `HF_TOKEN`), the
//! Ollama-shaped progress line, and the file listing of a revision
//! (`/api/models/{repo}/revision/{rev}?blobs=true`, which carries the LFS
//! sha256 of every weight file) narrowed to what an MLX model needs.

use std::path::{Path, PathBuf};

use hf_hub::api::tokio::{Api, ApiBuilder, ApiRepo};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::manifest::is_safe_relative;
use crate::name::ModelName;
use crate::pull::api_error;

/// Default hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// hf-hub's client has no read timeout, so a connection that stops sending would hold a
/// pull forever. Long enough for a slow link between two chunks.
const STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Chunks of one file downloaded at once by default.
const PARALLEL_CHUNKS: usize = 4;

/// Hidden folder under the store root for partial pulls and imports.
pub(crate) const PARTIAL_DIR: &str = ".partial";

/// Which hub to pull from and how.
#[derive(Clone, Debug)]
pub struct HubConfig {
    /// Base URL (`HF_ENDPOINT`), without a trailing slash.
    pub endpoint: String,
    /// Bearer token (`HF_TOKEN`, else the token file of `HF_HOME`).
    pub token: Option<String>,
    /// Download chunk size; an interrupted download resumes at a chunk boundary.
    pub chunk_size: usize,
    /// Chunks of one file downloaded at once.
    pub parallel_chunks: usize,
    /// A download that receives nothing for this long is abandoned (its committed chunks
    /// stay, so the next pull resumes).
    pub stall_timeout: std::time::Duration,
}

impl HubConfig {
    /// A hub at `endpoint` without a token.
    pub fn new(endpoint: impl Into<String>) -> HubConfig {
        let endpoint: String = endpoint.into();
        HubConfig {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token: None,
            chunk_size: 10_000_000,
            parallel_chunks: PARALLEL_CHUNKS,
            stall_timeout: STALL_TIMEOUT,
        }
    }

    /// Reads `HF_ENDPOINT` and `HF_TOKEN` (falling back to
    /// `$HF_HOME/token` or `~/.cache/huggingface/token`).
    pub fn from_env() -> HubConfig {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let mut hub =
            HubConfig::new(var("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()));
        hub.token = var("HF_TOKEN").or_else(|| {
            let home = var("HF_HOME")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| Path::new(&h).join(".cache/huggingface")))?;
            let token = std::fs::read_to_string(home.join("token")).ok()?;
            Some(token.trim().to_string()).filter(|t| !t.is_empty())
        });
        hub
    }
}

/// One line of /api/pull progress, shaped like Ollama's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PullProgress {
    /// `pulling manifest`, `pulling <file>`, `verifying sha256 digest`,
    /// `writing manifest`, `success`, or an import step.
    pub status: String,
    /// `sha256:<hex>` of the file being transferred, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Total bytes of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Bytes done so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed: Option<u64>,
}

impl PullProgress {
    /// A status-only line.
    pub fn status(status: impl Into<String>) -> PullProgress {
        PullProgress {
            status: status.into(),
            digest: None,
            total: None,
            completed: None,
        }
    }
}

/// The hub's answer for `/api/models/{repo}/revision/{rev}?blobs=true`.
#[derive(Debug, Deserialize)]
pub(crate) struct RepoListing {
    pub sha: String,
    siblings: Vec<Sibling>,
}

#[derive(Debug, Deserialize)]
struct Sibling {
    rfilename: String,
    size: Option<u64>,
    lfs: Option<Lfs>,
}

#[derive(Debug, Deserialize)]
struct Lfs {
    sha256: String,
    size: u64,
}

/// A file to fetch.
pub(crate) struct Wanted {
    pub path: String,
    pub size: Option<u64>,
    pub sha256: Option<String>,
}

pub(crate) fn build_api(
    hub: &HubConfig,
    cache: &Path,
    name: &ModelName,
) -> Result<Api, StoreError> {
    fs_err::create_dir_all(cache).map_err(|e| StoreError::io_at(cache, e))?;
    ApiBuilder::new()
        .with_endpoint(hub.endpoint.clone())
        .with_token(hub.token.clone())
        .with_cache_dir(cache.to_path_buf())
        .with_progress(false)
        .with_chunk_size(Some(hub.chunk_size.max(1)))
        // Several chunks of a file at once, as huggingface_hub's fast transfer does. With one,
        // the first chunk tokio happens to start may be the file's last, and a connection
        // that stalls there blocks every other chunk behind it.
        .with_max_files(hub.parallel_chunks.max(1))
        .build()
        .map_err(|e| api_error(name, cache, e))
}

pub(crate) async fn list_repo(
    repo: &ApiRepo,
    hub: &HubConfig,
    name: &ModelName,
) -> Result<RepoListing, StoreError> {
    let hub_err = |message: String| StoreError::Hub {
        repo: name.repo_id(),
        message,
    };
    let response = repo
        .info_request()
        .query(&[("blobs", "true")])
        .send()
        .await
        .map_err(|e| hub_err(format!("cannot reach {}: {e}", hub.endpoint)))?;
    let status = response.status();
    if matches!(status.as_u16(), 401 | 403 | 404) {
        return Err(StoreError::NoSuchRepo {
            repo: name.repo_id(),
            revision: name.revision().to_string(),
            endpoint: hub.endpoint.clone(),
            status: status.as_u16(),
        });
    }
    if !status.is_success() {
        return Err(hub_err(format!("listing files failed: HTTP {status}")));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| hub_err(format!("listing files: connection cut: {e}")))?;
    serde_json::from_slice(&body)
        .map_err(|e| hub_err(format!("listing files: unexpected reply: {e}")))
}

/// The files an MLX model needs: top-level configs, weights and tokenizer.
pub(crate) fn select_files(
    name: &ModelName,
    listing: &RepoListing,
) -> Result<Vec<Wanted>, StoreError> {
    let files: Vec<Wanted> = listing
        .siblings
        .iter()
        .filter(|s| needed(&s.rfilename))
        .map(|s| Wanted {
            path: s.rfilename.clone(),
            size: s.lfs.as_ref().map(|l| l.size).or(s.size),
            sha256: s.lfs.as_ref().map(|l| l.sha256.to_lowercase()),
        })
        .collect();
    let has = |pred: &dyn Fn(&str) -> bool| files.iter().any(|f| pred(&f.path));
    let missing = if !has(&|p| p == "config.json") {
        Some("no config.json")
    } else if !has(&|p| p.ends_with(".safetensors")) {
        Some("no .safetensors weights (for a GGUF repo, download the file and use `ollmlxctl import`)")
    } else if !has(&|p| p == "tokenizer.json" || p == "tokenizer.model" || p == "tiktoken.model") {
        Some("no tokenizer.json or tokenizer.model")
    } else {
        None
    };
    match missing {
        Some(reason) => Err(StoreError::NotMlx {
            repo: name.repo_id(),
            reason: reason.to_string(),
        }),
        None => Ok(files),
    }
}

fn needed(path: &str) -> bool {
    if !is_safe_relative(path) || path.contains('/') || path.starts_with('.') {
        return false;
    }
    let lower = path.to_ascii_lowercase();
    [".safetensors", ".json", ".jinja", ".tiktoken"]
        .iter()
        .any(|ext| lower.ends_with(ext))
        || [
            "tokenizer.model",
            "tiktoken.model",
            "merges.txt",
            "vocab.txt",
        ]
        .contains(&lower.as_str())
}
