//! A minimal Hugging Face compatible hub on loopback (after `store/tests/common/hub.rs`): the
//! revision listing with LFS sha256 and the resolve route with HTTP ranges and the headers
//! hf-hub reads. It can stall: ranges of one file that start at or past an offset get their
//! headers and then no bytes, so a pull hangs mid-file until the client dies.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

/// One file of a repo.
#[derive(Clone)]
pub struct HubFile {
    pub path: String,
    pub bytes: Arc<Vec<u8>>,
    pub lfs: bool,
}

/// Shared state of the server.
#[derive(Default)]
pub struct HubState {
    /// repo id → (commit sha, files).
    repos: Mutex<HashMap<String, (String, Vec<HubFile>)>>,
    /// Ranges of this file starting at or past this offset never send their bytes.
    pub stall: Mutex<Option<(String, u64)>>,
    /// Whether any stalled range was requested.
    pub stalled: AtomicBool,
    /// Body bytes sent per file path.
    served: Mutex<HashMap<String, u64>>,
    pub requests: AtomicU64,
}

/// A running hub; its server task lives as long as the runtime that started it.
pub struct Hub {
    pub url: String,
    pub state: Arc<HubState>,
}

impl Hub {
    pub async fn start() -> Hub {
        let state = Arc::new(HubState::default());
        let app = Router::new()
            .route("/api/models/{org}/{name}/revision/{rev}", get(listing))
            .route("/{org}/{name}/resolve/{rev}/{*file}", get(resolve))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Hub { url, state }
    }

    /// Serves `files` as `repo` at every revision name, with commit `sha`.
    pub fn add_repo(&self, repo: &str, sha: &str, files: Vec<HubFile>) {
        self.state.repos.lock().unwrap().insert(repo.into(), (sha.into(), files));
    }

    pub fn served(&self, path: &str) -> u64 {
        self.state.served.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub fn reset_served(&self) {
        self.state.served.lock().unwrap().clear();
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn find(state: &HubState, org: &str, name: &str) -> Option<(String, Vec<HubFile>)> {
    state.repos.lock().unwrap().get(&format!("{org}/{name}")).cloned()
}

async fn listing(State(state): State<Arc<HubState>>, Path((org, name, _rev)): Path<(String, String, String)>) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let Some((sha, files)) = find(&state, &org, &name) else {
        return (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": "Repository not found"}))).into_response();
    };
    let siblings: Vec<serde_json::Value> = files
        .iter()
        .map(|f| {
            let mut s = serde_json::json!({"rfilename": f.path, "size": f.bytes.len()});
            if f.lfs {
                s["lfs"] = serde_json::json!({"sha256": sha256(&f.bytes), "size": f.bytes.len(), "pointerSize": 134});
            }
            s
        })
        .collect();
    axum::Json(serde_json::json!({"id": format!("{org}/{name}"), "sha": sha, "siblings": siblings})).into_response()
}

async fn resolve(
    State(state): State<Arc<HubState>>,
    Path((org, name, _rev, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let Some((sha, files)) = find(&state, &org, &name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(f) = files.iter().find(|f| f.path == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let len = f.bytes.len() as u64;
    let (start, end) = parse_range(&headers, len);
    // The etag names the blob in hf-hub's cache: the sha256 for LFS files, a git-like id else.
    let etag = if f.lfs { sha256(&f.bytes) } else { format!("git-{}", &sha256(&f.bytes)[..40]) };
    let mut response = Response::builder()
        .status(StatusCode::PARTIAL_CONTENT)
        .header("x-repo-commit", &sha)
        .header("content-range", format!("bytes {start}-{end}/{len}"))
        .header("content-length", (end + 1 - start).to_string())
        .header("etag", format!("\"{etag}\""));
    if f.lfs {
        response = response.header("x-linked-etag", format!("\"{etag}\"")).header("x-linked-size", len.to_string());
    }
    let stall = state.stall.lock().unwrap().clone().is_some_and(|(p, at)| p == file && start >= at);
    if stall {
        state.stalled.store(true, Ordering::SeqCst);
        return response.body(Body::from_stream(futures::stream::pending::<Result<Vec<u8>, std::io::Error>>())).unwrap();
    }
    #[allow(clippy::cast_possible_truncation)]
    let slice = f.bytes[start as usize..=end as usize].to_vec();
    *state.served.lock().unwrap().entry(file.clone()).or_default() += slice.len() as u64;
    response.body(Body::from(slice)).unwrap()
}

/// `bytes=a-b` clamped to the file; the whole file without a header.
fn parse_range(headers: &HeaderMap, len: u64) -> (u64, u64) {
    let last = len.saturating_sub(1);
    let Some(spec) = headers.get("range").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("bytes=")) else {
        return (0, last);
    };
    let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
    let start = a.parse().unwrap_or(0).min(last);
    let end = b.parse().unwrap_or(last).min(last);
    (start, end.max(start))
}

/// A model folder's files as a hub repo: `*.safetensors` as LFS files, the rest as git files;
/// `last` is listed (and so fetched) after the others.
pub fn repo_of(dir: &std::path::Path, last: &str) -> Vec<HubFile> {
    let mut files: Vec<HubFile> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            let path = e.file_name().to_string_lossy().into_owned();
            HubFile { lfs: path.ends_with(".safetensors"), bytes: Arc::new(std::fs::read(e.path()).unwrap()), path }
        })
        .collect();
    files.sort_by_key(|f| (f.path == last, f.path.clone()));
    files
}
