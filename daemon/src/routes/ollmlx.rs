//! Private endpoints for `ollmlxctl` under `/ollmlx/`: load (with keep_alive and pin),
//! unload one or all, pin/unpin, status with the memory figures, and an NDJSON event stream.

use axum::extract::State;
use axum::response::Response;
use futures::StreamExt;
use ollmlx_api::ollmlx::{LoadRequest, ModelStatus, PinRequest, StatusResponse, UnloadRequest};
use serde_json::json;
use tokio_stream::wrappers::BroadcastStream;

use super::extract::ApiJson;
use super::stream;
use crate::error::ApiError;
use crate::state::{App, AppState};

/// `POST /ollmlx/load`: loads (and optionally pins) a model, then reports its status.
pub async fn load(State(app): State<AppState>, ApiJson(req): ApiJson<LoadRequest>) -> Result<Response, ApiError> {
    let leased = app.lease(&req.model, req.keep_alive, req.num_ctx).await?;
    let name = leased.lease.name().to_string();
    if req.pin {
        app.pool.set_pinned(&App::parse_name(&name)?.key(), &name, true)?;
    }
    drop(leased);
    Ok(stream::json(&json!({ "model": name, "status": "loaded", "pinned": req.pin })))
}

/// `POST /ollmlx/unload`: unloads once idle; `all` for every model.
pub async fn unload(State(app): State<AppState>, ApiJson(req): ApiJson<UnloadRequest>) -> Result<Response, ApiError> {
    if req.all {
        let n = app.pool.request_unload_all();
        return Ok(stream::json(&json!({ "unloading": n })));
    }
    let model = req.model.ok_or_else(|| ApiError::bad("model is required (or all: true)"))?;
    let key = App::parse_name(&model)?.key();
    if !app.pool.request_unload(&key) {
        return Err(ApiError::NotFound(format!("model '{model}' is not loaded")));
    }
    Ok(stream::json(&json!({ "model": model, "status": "unloading" })))
}

/// `POST /ollmlx/pin`.
pub async fn pin(State(app): State<AppState>, ApiJson(req): ApiJson<PinRequest>) -> Result<Response, ApiError> {
    set_pin(&app, &req.model, true)
}

/// `POST /ollmlx/unpin`.
pub async fn unpin(State(app): State<AppState>, ApiJson(req): ApiJson<PinRequest>) -> Result<Response, ApiError> {
    set_pin(&app, &req.model, false)
}

fn set_pin(app: &App, model: &str, pinned: bool) -> Result<Response, ApiError> {
    app.pool.set_pinned(&App::parse_name(model)?.key(), model, pinned)?;
    Ok(stream::json(&json!({ "model": model, "pinned": pinned })))
}

/// `GET /ollmlx/status`.
pub async fn status(State(app): State<AppState>) -> Response {
    let view = app.pool.refresh().await;
    let models = view
        .models
        .iter()
        .map(|m| ModelStatus {
            name: m.name.clone(),
            state: m.phase.to_string(),
            bytes: m.charge,
            weight_bytes: m.usage.weight_bytes,
            kv_bytes: m.usage.kv_bytes,
            cache_bytes: m.cache_share,
            active_requests: m.active,
            pinned: m.pinned,
            keep_alive: m.keep_alive,
            expires_at: m.expires_in.map(|d| {
                (chrono::Local::now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)).to_rfc3339()
            }),
            idle_ms: u64::try_from(m.idle.as_millis()).unwrap_or(u64::MAX),
            context_length: m.context as u64,
        })
        .collect();
    stream::json(&StatusResponse {
        version: env!("CARGO_PKG_VERSION").to_string(),
        budget_bytes: view.budget,
        used_bytes: view.used,
        mlx_active_bytes: view.mlx_active,
        mlx_cache_bytes: view.mlx_cache,
        process_rss_bytes: crate::platform::process_rss(),
        heap_in_use_bytes: crate::allocator::in_use(),
        max_loaded: app.settings.max_loaded.unwrap_or(0),
        queued: view.queued,
        models,
        started_at: Some(app.start.started_at.clone()),
        uptime_s: Some(app.start.uptime().as_secs()),
        device: app.start.device.clone(),
    })
}

/// `GET /ollmlx/events`: pool events as NDJSON, until the client leaves.
pub async fn events(State(app): State<AppState>) -> Response {
    let events = BroadcastStream::new(app.pool.subscribe()).filter_map(|e| async move { e.ok().map(|e| stream::line(&e)) });
    stream::ndjson(events)
}
