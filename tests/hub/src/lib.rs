//! A small Hugging Face compatible hub on loopback for pull tests: the revision listing
//! (`/api/models/{repo}/revision/{rev}`, with LFS sha256) and the resolve route with HTTP
//! ranges and the headers hf-hub reads. Faults can be injected into one file at a time:
//! - `cut`: a transfer past an offset sends its bytes up to there, then breaks;
//! - `stall`: ranges starting at or past an offset send their headers, then nothing, so a
//!   pull hangs mid-file until the client gives up or dies;
//! - `corrupt`: the file is served with its last byte flipped.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

/// One file of a repo revision.
#[derive(Clone)]
pub struct HubFile {
    pub path: String,
    pub bytes: Arc<Vec<u8>>,
    pub lfs: bool,
}

impl HubFile {
    pub fn new(path: impl Into<String>, bytes: Vec<u8>, lfs: bool) -> HubFile {
        HubFile { path: path.into(), bytes: Arc::new(bytes), lfs }
    }
}

/// (repo id, revision) → (commit sha, files).
type Repos = HashMap<(String, String), (String, Vec<HubFile>)>;

/// Shared state of the server.
#[derive(Default)]
pub struct HubState {
    pub repos: Mutex<Repos>,
    /// Cut any transfer of this file past this offset.
    pub cut: Mutex<Option<(String, u64)>>,
    /// Ranges of this file starting at or past this offset never send their bytes.
    pub stall: Mutex<Option<(String, u64)>>,
    /// Whether any stalled range was requested.
    pub stalled: AtomicBool,
    /// Serve this file with its last byte flipped.
    pub corrupt: Mutex<Option<String>>,
    /// Body bytes sent per file path.
    pub served: Mutex<HashMap<String, u64>>,
    pub requests: AtomicU64,
    /// Authorization headers seen.
    pub auth: Mutex<Vec<String>>,
}

/// A running hub; its server task lives as long as the runtime that started it.
pub struct Hub {
    pub url: String,
    pub state: Arc<HubState>,
}

impl Hub {
    /// Starts the server on the current tokio runtime.
    pub async fn start() -> Hub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Hub::serve_on(listener)
    }

    /// Starts the server on a runtime thread of its own, for tests without a runtime (it
    /// lives as long as the test process).
    pub fn start_in_thread() -> Hub {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let hub = Hub::serve_on(tokio::net::TcpListener::from_std(listener).unwrap());
                tx.send(hub).unwrap();
                std::future::pending::<()>().await;
            });
        });
        rx.recv().unwrap()
    }

    fn serve_on(listener: tokio::net::TcpListener) -> Hub {
        let state = Arc::new(HubState::default());
        let app = Router::new()
            .route("/api/models/{org}/{name}/revision/{rev}", get(listing))
            .route("/{org}/{name}/resolve/{rev}/{*file}", get(resolve))
            .with_state(state.clone());
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Hub { url, state }
    }

    /// Serves `files` as `repo` at revision `rev` (and at commit `sha`).
    pub fn add_repo(&self, repo: &str, rev: &str, sha: &str, files: Vec<HubFile>) {
        self.state.repos.lock().unwrap().insert((repo.into(), rev.into()), (sha.into(), files));
    }

    pub fn served(&self, path: &str) -> u64 {
        self.state.served.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub fn reset_served(&self) {
        self.state.served.lock().unwrap().clear();
    }
}

/// A model folder's files as a repo: `*.safetensors` as LFS files, the rest as git files,
/// by name, except that `last` is listed (and so fetched) after the others.
pub fn folder_repo(dir: &Path, last: &str) -> Vec<HubFile> {
    let mut files: Vec<HubFile> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            let path = e.file_name().to_string_lossy().into_owned();
            HubFile::new(path.clone(), std::fs::read(e.path()).unwrap(), path.ends_with(".safetensors"))
        })
        .collect();
    files.sort_by_key(|f| (f.path == last, f.path.clone()));
    files
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn record(state: &HubState, headers: &HeaderMap) {
    state.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        state.auth.lock().unwrap().push(v.to_string());
    }
}

fn find(state: &HubState, org: &str, name: &str, rev: &str) -> Option<(String, Vec<HubFile>)> {
    let repos = state.repos.lock().unwrap();
    let key = (format!("{org}/{name}"), rev.to_string());
    repos.get(&key).cloned().or_else(|| {
        // Like the hub, a commit sha also resolves.
        repos.iter().find(|((r, _), (sha, _))| *r == key.0 && sha == rev).map(|(_, v)| v.clone())
    })
}

fn count_served(state: &HubState, file: &str, n: usize) {
    *state.served.lock().unwrap().entry(file.to_string()).or_default() += n as u64;
}

async fn listing(
    State(state): State<Arc<HubState>>,
    UrlPath((org, name, rev)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    record(&state, &headers);
    let Some((sha, files)) = find(&state, &org, &name, &rev) else {
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
    UrlPath((org, name, rev, file)): UrlPath<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    record(&state, &headers);
    let Some((sha, files)) = find(&state, &org, &name, &rev) else {
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
    let fault = |m: &Mutex<Option<(String, u64)>>| m.lock().unwrap().clone().filter(|(p, _)| *p == file).map(|(_, at)| at);
    if fault(&state.stall).is_some_and(|at| start >= at) {
        state.stalled.store(true, Ordering::SeqCst);
        return response.body(Body::from_stream(futures::stream::pending::<Result<Vec<u8>, std::io::Error>>())).unwrap();
    }
    let (start, end) = (usize::try_from(start).unwrap(), usize::try_from(end).unwrap());
    let mut slice = f.bytes[start..=end].to_vec();
    if state.corrupt.lock().unwrap().as_deref() == Some(file.as_str()) && end + 1 == f.bytes.len() {
        *slice.last_mut().unwrap() ^= 0xFF;
    }
    let body = match fault(&state.cut) {
        Some(at) if end as u64 >= at => {
            let keep = usize::try_from(at).unwrap().saturating_sub(start);
            count_served(&state, &file, keep);
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                vec![Ok(slice[..keep].to_vec()), Err(std::io::Error::other("connection cut by test hub"))];
            Body::from_stream(futures::stream::iter(chunks))
        }
        _ => {
            count_served(&state, &file, slice.len());
            Body::from(slice)
        }
    };
    response.body(body).unwrap()
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
