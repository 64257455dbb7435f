//! The router: every `/api/*`, `/v1/*` and `/ollmlx/*` route on one screen, plus CORS, the
//! Host-header guard, the body limits and the control endpoints' peer guard. One file per
//! endpoint group beside this one.

mod chat;
mod embed;
pub mod extract;
mod generate;
mod guard;
mod info;
mod limits;
mod manage;
mod models;
mod ollmlx;
mod openai;
pub mod pipeline;
pub mod stream;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::{middleware, Router};
use ollmlx_api::ollama::{DoneReason, Timestamp, ToolCall, ToolCallFunction};
use ollmlx_api::KeepAlive;

use crate::error::ApiError;
use crate::format::tools::ParsedCall;
use crate::state::{App, AppState};

/// Every route.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/chat/completions", post(openai::chat))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/models", get(openai::models))
        .route("/v1/models/{*id}", get(openai::model))
        // route_layer: a `layer` here would also wrap the fallback, and after the merge every
        // unknown path (/api/... too) answered with OpenAI's envelope.
        .route_layer(middleware::map_response(openai::error_envelope));
    let control = Router::new()
        .route("/ollmlx/load", post(ollmlx::load))
        .route("/ollmlx/unload", post(ollmlx::unload))
        .route("/ollmlx/pin", post(ollmlx::pin))
        .route("/ollmlx/unpin", post(ollmlx::unpin))
        .route("/ollmlx/status", get(ollmlx::status))
        .route("/ollmlx/events", get(ollmlx::events))
        .layer(middleware::from_fn_with_state(state.settings.limits.control_remote, guard::control_guard));
    let body_limits = state.settings.limits;
    // Each layer wraps those above it: a request meets the Host guard first, then CORS, the
    // JSON 404/405 bodies and the body limits, and only then a route.
    Router::new()
        .route("/", get(models::root).head(models::root))
        .route("/api/version", get(models::version).head(models::version))
        .route("/api/generate", post(generate::generate))
        .route("/api/chat", post(chat::chat))
        .route("/api/tags", get(models::tags).head(models::tags))
        .route("/api/ps", get(models::ps))
        .route("/api/show", post(models::show))
        .route("/api/embed", post(embed::embed))
        .route("/api/embeddings", post(embed::embeddings))
        .route("/api/copy", post(manage::copy))
        .route("/api/delete", delete(manage::delete))
        .route("/api/pull", post(manage::pull))
        .merge(control)
        .merge(v1)
        .layer(DefaultBodyLimit::max(body_limits.max_body))
        .layer(middleware::from_fn_with_state(body_limits, limits::read_body))
        .layer(middleware::from_fn(limits::json_errors))
        .layer(guard::cors(&state.settings.origins))
        .layer(middleware::from_fn_with_state(state.settings.host, guard::host_guard))
        .with_state(state)
}

/// Now, as Ollama stamps `created_at` (UTC).
pub fn now() -> Timestamp {
    chrono::Utc::now().fixed_offset()
}

/// `call_` and 8 lowercase alphanumerics, as Ollama makes tool-call ids.
pub fn call_id() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let tail: String = (0..8).map(|_| CHARS[rand::random::<u32>() as usize % CHARS.len()] as char).collect();
    format!("call_{tail}")
}

/// Parsed calls in the native shape (arguments as an object).
pub fn tool_calls(calls: Vec<ParsedCall>) -> Vec<ToolCall> {
    calls
        .into_iter()
        .enumerate()
        .map(|(i, c)| ToolCall {
            id: Some(call_id()),
            function: ToolCallFunction { index: Some(i), name: c.name, arguments: c.arguments },
        })
        .collect()
}

/// Empty prompt: load the model, or with keep_alive 0 unload it (a no-op when not loaded,
/// 404 when not in the store).
pub async fn load_or_unload(app: &App, model: &str, keep_alive: Option<KeepAlive>, num_ctx: Option<usize>) -> Result<DoneReason, ApiError> {
    if keep_alive.is_some_and(|k| k.is_zero()) {
        let key = App::parse_name(model)?.key();
        if !app.pool.request_unload(&key) {
            app.resolve(model).await?;
        }
        return Ok(DoneReason::Unload);
    }
    drop(app.lease(model, keep_alive, num_ctx).await?);
    Ok(DoneReason::Load)
}
