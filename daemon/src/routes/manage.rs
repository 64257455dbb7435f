//! Store management: `/api/copy`, `/api/delete`, `/api/pull`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use ollmlx_api::ollama::{CopyRequest, DeleteRequest, ProgressResponse, PullRequest};
use serde_json::json;
use tokio_stream::wrappers::UnboundedReceiverStream;

use super::extract::ApiJson;
use super::stream;
use crate::error::ApiError;
use crate::state::{App, AppState};

/// `POST /api/copy`: 200 with an empty body.
pub async fn copy(State(app): State<AppState>, ApiJson(req): ApiJson<CopyRequest>) -> Result<Response, ApiError> {
    App::parse_name(&req.source)?;
    App::parse_name(&req.destination)?;
    let store = app.store.clone();
    tokio::task::spawn_blocking(move || store.copy(&req.source, &req.destination))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(StatusCode::OK.into_response())
}

/// `DELETE /api/delete`: 200 with an empty body; a loaded copy is unloaded once idle.
pub async fn delete(State(app): State<AppState>, ApiJson(req): ApiJson<DeleteRequest>) -> Result<Response, ApiError> {
    let name = App::parse_name(&req.model)?;
    let store = app.store.clone();
    let model = req.model.clone();
    tokio::task::spawn_blocking(move || store.delete(&model)).await.map_err(|e| ApiError::Internal(e.to_string()))??;
    app.pool.mark_stale(&name.key());
    Ok(StatusCode::OK.into_response())
}

/// `POST /api/pull`: progress lines, `{"status":"success"}` last.
pub async fn pull(State(app): State<AppState>, ApiJson(req): ApiJson<PullRequest>) -> Result<Response, ApiError> {
    let name = App::parse_name(&req.model)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<ProgressResponse, String>>();
    let store = app.store.clone();
    let pool = app.pool.clone();
    let model = req.model.clone();
    // Its own task: a pull continues (and can be resumed) when the client goes away.
    tokio::spawn(async move {
        let progress_tx = tx.clone();
        let mut progress = move |p: ollmlx_store::PullProgress| {
            let _ = progress_tx.send(Ok(ProgressResponse { status: p.status, digest: p.digest, total: p.total, completed: p.completed }));
        };
        match store.pull(&model, &mut progress).await {
            Ok(_) => {
                pool.mark_stale(&name.key());
                let _ = tx.send(Ok(ProgressResponse { status: "success".into(), digest: None, total: None, completed: None }));
            }
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
            }
        }
    });
    let lines = UnboundedReceiverStream::new(rx);
    if req.stream.unwrap_or(true) {
        return Ok(stream::ndjson(lines.map(|item| match item {
            Ok(p) => stream::line(&p),
            Err(e) => stream::line(&json!({ "error": e })),
        })));
    }
    let mut last = None;
    let mut lines = lines;
    while let Some(item) = lines.next().await {
        match item {
            Ok(p) => last = Some(p),
            Err(e) => return Err(ApiError::Internal(e)),
        }
    }
    last.map(|p| stream::json(&p)).ok_or_else(|| ApiError::Internal("pull ended without a result".into()))
}
