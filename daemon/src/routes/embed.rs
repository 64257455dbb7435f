//! `/api/embed` (normalised, batched) and the legacy `/api/embeddings` (raw).

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use ollmlx_api::ollama::{EmbedRequest, EmbedResponse, EmbeddingsRequest, EmbeddingsResponse};

use super::extract::ApiJson;
use super::stream;
use crate::error::ApiError;
use crate::job::{EmbedOutput, GenFailure};
use crate::state::{App, AppState};

/// Embeds `inputs` with `model`; an empty list only loads the model.
pub async fn embed_texts(
    app: &App,
    model: &str,
    inputs: Vec<String>,
    options: Option<&ollmlx_api::Options>,
    keep_alive: Option<ollmlx_api::KeepAlive>,
    truncate: bool,
) -> Result<(EmbedOutput, u64), ApiError> {
    let options = app.options_for(&App::parse_name(model)?.key(), options)?.resolve();
    let leased = app.lease(model, keep_alive, options.num_ctx).await?;
    let load_ns = u64::try_from(leased.load_duration.as_nanos()).unwrap_or(u64::MAX);
    if inputs.is_empty() {
        return Ok((EmbedOutput::default(), load_ns));
    }
    let limit = options.num_ctx.unwrap_or(leased.lease.context()).min(leased.lease.meta().context_length.max(1));
    let out = app.engine.embed(leased.lease.slot(), inputs, limit, truncate).await.map_err(|e| match e {
        GenFailure::BadRequest(m) => ApiError::BadRequest(m),
        GenFailure::Internal(m) => ApiError::Internal(m),
    })?;
    Ok((out, load_ns))
}

/// L2-normalises, keeping the first `dims` values first when asked.
pub fn normalise(mut v: Vec<f32>, dims: Option<usize>) -> Vec<f32> {
    if let Some(d) = dims.filter(|d| *d > 0) {
        v.truncate(d);
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// `POST /api/embed`.
pub async fn embed(State(app): State<AppState>, ApiJson(req): ApiJson<EmbedRequest>) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    let inputs = req.input.map(ollmlx_api::ollama::EmbedInput::into_vec).unwrap_or_default();
    let truncate = req.truncate.unwrap_or(true);
    let (out, load_duration) = embed_texts(&app, &req.model, inputs, req.options.as_ref(), req.keep_alive, truncate).await?;
    let embeddings = out.vectors.into_iter().map(|v| normalise(v, req.dimensions)).collect();
    Ok(stream::json(&EmbedResponse {
        model: req.model,
        embeddings,
        total_duration: u64::try_from(arrived.elapsed().as_nanos()).unwrap_or(u64::MAX),
        load_duration,
        prompt_eval_count: out.tokens as u64,
    }))
}

/// `POST /api/embeddings`: one prompt, raw vector.
pub async fn embeddings(State(app): State<AppState>, ApiJson(req): ApiJson<EmbeddingsRequest>) -> Result<Response, ApiError> {
    let inputs = if req.prompt.is_empty() { Vec::new() } else { vec![req.prompt] };
    let (out, _) = embed_texts(&app, &req.model, inputs, req.options.as_ref(), req.keep_alive, true).await?;
    let embedding = out.vectors.into_iter().next().unwrap_or_default().into_iter().map(f64::from).collect();
    Ok(stream::json(&EmbeddingsResponse { embedding }))
}
