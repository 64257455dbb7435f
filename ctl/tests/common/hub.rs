//! A loopback Hugging Face compatible hub serving one model folder, so `ollmlxctl pull` can be
//! tested end to end (the daemon pulls from `HF_ENDPOINT`). It answers the two routes hf-hub
//! uses: the revision listing (with LFS sha256) and `resolve` with HTTP ranges.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};

/// The commit every file of the test repo belongs to.
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

struct Repo {
    id: String,
    files: Vec<(String, Vec<u8>)>,
}

/// A running hub (its runtime thread lives as long as the test process).
pub struct Hub {
    pub url: String,
}

impl Hub {
    /// Serves the files of `folder` as repo `repo_id` at revision `main`.
    pub fn serve(repo_id: &str, folder: &Path) -> Hub {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(folder)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
            .collect();
        files.sort();
        let repo = Arc::new(Repo { id: repo_id.to_string(), files });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let app = Router::new()
                    .route("/api/models/{org}/{name}/revision/{rev}", get(listing))
                    .route("/{org}/{name}/resolve/{rev}/{*file}", get(resolve))
                    .with_state(repo);
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        Hub { url }
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn is_lfs(name: &str) -> bool {
    name.ends_with(".safetensors")
}

async fn listing(State(repo): State<Arc<Repo>>, UrlPath((org, name, _rev)): UrlPath<(String, String, String)>) -> Response {
    if format!("{org}/{name}") != repo.id {
        return (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": "Repository not found"}))).into_response();
    }
    let siblings: Vec<serde_json::Value> = repo
        .files
        .iter()
        .map(|(path, bytes)| {
            let mut s = serde_json::json!({"rfilename": path, "size": bytes.len()});
            if is_lfs(path) {
                s["lfs"] = serde_json::json!({"sha256": sha256(bytes), "size": bytes.len(), "pointerSize": 134});
            }
            s
        })
        .collect();
    axum::Json(serde_json::json!({"id": repo.id, "sha": SHA, "siblings": siblings})).into_response()
}

async fn resolve(
    State(repo): State<Arc<Repo>>,
    UrlPath((org, name, _rev, file)): UrlPath<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let found = repo.files.iter().find(|(p, _)| *p == file).filter(|_| format!("{org}/{name}") == repo.id);
    let Some((path, bytes)) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let len = bytes.len() as u64;
    let (start, end) = range(&headers, len);
    let etag = if is_lfs(path) { sha256(bytes) } else { format!("git-{}", &sha256(bytes)[..40]) };
    let mut response = Response::builder()
        .status(StatusCode::PARTIAL_CONTENT)
        .header("x-repo-commit", SHA)
        .header("content-range", format!("bytes {start}-{end}/{len}"))
        .header("content-length", (end + 1 - start).to_string())
        .header("etag", format!("\"{etag}\""));
    if is_lfs(path) {
        response = response.header("x-linked-etag", format!("\"{etag}\"")).header("x-linked-size", len.to_string());
    }
    let slice = bytes[usize::try_from(start).unwrap()..=usize::try_from(end).unwrap()].to_vec();
    response.body(Body::from(slice)).unwrap()
}

/// `bytes=a-b` clamped to the file; the whole file without a header.
fn range(headers: &HeaderMap, len: u64) -> (u64, u64) {
    let last = len.saturating_sub(1);
    let Some(spec) = headers.get("range").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("bytes=")) else {
        return (0, last);
    };
    let (a, b) = spec.split_once('-').unwrap_or((spec, ""));
    let start = a.parse().unwrap_or(0).min(last);
    let end = b.parse().unwrap_or(last).min(last);
    (start, end.max(start))
}
