//! A small Hugging Face compatible hub on loopback: the revision listing
//! (`/api/models/{repo}/revision/{rev}`, with LFS sha256) and the resolve
//! route with HTTP ranges and the headers hf-hub reads. Faults can be
//! injected: cut the connection past a byte offset of a file, or serve a
//! corrupted file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

/// One file of a repo revision.
#[derive(Clone)]
pub struct HubFile {
    pub path: String,
    pub bytes: Vec<u8>,
    pub lfs: bool,
}

/// (repo id, revision) → (commit sha, files).
type Repos = HashMap<(String, String), (String, Vec<HubFile>)>;

/// Shared state of the server.
#[derive(Default)]
pub struct HubState {
    pub repos: Mutex<Repos>,
    /// Cut any transfer of this file past this offset.
    pub cut: Mutex<Option<(String, u64)>>,
    /// Serve this file with one byte flipped.
    pub corrupt: Mutex<Option<String>>,
    /// Body bytes sent per file path.
    pub served: Mutex<HashMap<String, u64>>,
    pub requests: AtomicU64,
    /// Authorization headers seen.
    pub auth: Mutex<Vec<String>>,
}

fn record(state: &HubState, headers: &HeaderMap) {
    state.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(v) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        state.auth.lock().unwrap().push(v.to_string());
    }
}

/// A running hub; the server task lives as long as the runtime.
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

    pub fn add_repo(&self, repo: &str, rev: &str, sha: &str, files: Vec<HubFile>) {
        self.state
            .repos
            .lock()
            .unwrap()
            .insert((repo.into(), rev.into()), (sha.into(), files));
    }

    pub fn served(&self, path: &str) -> u64 {
        self.state
            .served
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn reset_served(&self) {
        self.state.served.lock().unwrap().clear();
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn find(state: &HubState, org: &str, name: &str, rev: &str) -> Option<(String, Vec<HubFile>)> {
    let repos = state.repos.lock().unwrap();
    let key = (format!("{org}/{name}"), rev.to_string());
    repos.get(&key).cloned().or_else(|| {
        // Like the hub, a commit sha also resolves.
        repos
            .iter()
            .find(|((r, _), (sha, _))| *r == key.0 && sha == rev)
            .map(|(_, v)| v.clone())
    })
}

async fn listing(
    State(state): State<Arc<HubState>>,
    Path((org, name, rev)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    record(&state, &headers);
    let Some((sha, files)) = find(&state, &org, &name, &rev) else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": "Repository not found"})),
        )
            .into_response();
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
    axum::Json(serde_json::json!({"id": format!("{org}/{name}"), "sha": sha, "siblings": siblings}))
        .into_response()
}

async fn resolve(
    State(state): State<Arc<HubState>>,
    Path((org, name, rev, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    record(&state, &headers);
    let Some((sha, files)) = find(&state, &org, &name, &rev) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Some(f) = files.iter().find(|f| f.path == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut bytes = f.bytes.clone();
    if state.corrupt.lock().unwrap().as_deref() == Some(file.as_str()) {
        let last = bytes.len() - 1;
        bytes[last] ^= 0xFF;
    }
    let len = bytes.len() as u64;
    let (start, end) = parse_range(&headers, len);
    let mut response = Response::builder()
        .status(StatusCode::PARTIAL_CONTENT)
        .header("x-repo-commit", &sha)
        .header("content-range", format!("bytes {start}-{end}/{len}"))
        .header("content-length", (end + 1 - start).to_string());
    let etag = if f.lfs {
        sha256(&f.bytes)
    } else {
        format!("git-{}", &sha256(&f.bytes)[..40])
    };
    response = response.header("etag", format!("\"{etag}\""));
    if f.lfs {
        response = response
            .header("x-linked-etag", format!("\"{etag}\""))
            .header("x-linked-size", len.to_string());
    }
    let cut = state
        .cut
        .lock()
        .unwrap()
        .clone()
        .filter(|(p, _)| *p == file)
        .map(|(_, at)| at);
    let slice = bytes[start as usize..=end as usize].to_vec();
    let body = match cut {
        Some(at) if end >= at => {
            let keep = at.saturating_sub(start) as usize;
            *state
                .served
                .lock()
                .unwrap()
                .entry(file.clone())
                .or_default() += keep as u64;
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
                Ok(slice[..keep].to_vec()),
                Err(std::io::Error::other("connection cut by test hub")),
            ];
            Body::from_stream(futures::stream::iter(chunks))
        }
        _ => {
            *state
                .served
                .lock()
                .unwrap()
                .entry(file.clone())
                .or_default() += slice.len() as u64;
            Body::from(slice)
        }
    };
    response.body(body).unwrap()
}

/// `bytes=a-b` clamped to the file; the whole file without a header.
fn parse_range(headers: &HeaderMap, len: u64) -> (u64, u64) {
    let last = len.saturating_sub(1);
    let Some(spec) = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
    else {
        return (0, last);
    };
    let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
    let start = a.parse().unwrap_or(0).min(last);
    let end = b.parse().unwrap_or(last).min(last);
    (start, end.max(start))
}

/// A generated MLX model repo: configs, tokenizer, an LFS safetensors file
/// of about `weights` bytes, and files an MLX pull must skip.
pub fn model_repo(weights: usize, seed: u8) -> Vec<HubFile> {
    let n = weights / 4;
    let mut files: Vec<HubFile> = super::model_files(seed as usize)
        .into_iter()
        .filter(|(name, _)| name != "model.safetensors")
        .map(|(path, bytes)| HubFile {
            path,
            bytes,
            lfs: false,
        })
        .collect();
    let mut st = super::safetensors_bytes("w", n);
    let tail = st.len() - 1;
    st[tail] = seed;
    files.push(HubFile {
        path: "model.safetensors".into(),
        bytes: st,
        lfs: true,
    });
    files.push(HubFile {
        path: "README.md".into(),
        bytes: b"# test model".to_vec(),
        lfs: false,
    });
    files.push(HubFile {
        path: "model.gguf".into(),
        bytes: vec![0u8; 1000],
        lfs: true,
    });
    files.push(HubFile {
        path: "onnx/model.onnx".into(),
        bytes: vec![1u8; 100],
        lfs: true,
    });
    files
}

pub fn sha_of(n: u8) -> String {
    format!("{:040x}", u128::from(n) * 0x1111_1111)
}
