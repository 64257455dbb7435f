//! `POST /api/generate`.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use futures::StreamExt;
use ollmlx_api::ollama::{DoneReason, GenerateRequest, GenerateResponse, Metrics, ToolCall};
use serde_json::json;

use super::extract::ApiJson;
use super::pipeline::{self, Ask, Piece};
use super::{load_or_unload, now, stream, tool_calls};
use crate::error::ApiError;
use crate::job::PromptInput;
use crate::state::AppState;

/// Completion from a prompt; an empty prompt loads (or with keep_alive 0 unloads) the model.
pub async fn generate(State(app): State<AppState>, ApiJson(req): ApiJson<GenerateRequest>) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    if req.prompt.is_empty() && req.suffix.as_deref().unwrap_or("").is_empty() {
        let num_ctx = req.options.as_ref().and_then(|o| o.num_ctx).and_then(|n| usize::try_from(n).ok());
        let reason = load_or_unload(&app, &req.model, req.keep_alive, num_ctx).await?;
        return Ok(stream::json(&chunk(&req.model, String::new(), None, Some((reason, Metrics::default(), None)))));
    }
    let raw = req.raw.unwrap_or(false);
    if raw && (req.system.is_some() || req.context.is_some()) {
        return Err(ApiError::bad("raw mode does not support template, system, or context"));
    }
    if req.template.is_some() {
        return Err(ApiError::bad("\"template\" is not supported: the model's own chat template is used (send raw: true for a pre-templated prompt)"));
    }
    if req.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::bad(format!("\"{}\" does not support insert", req.model)));
    }
    let (prompt, system, context) = (req.prompt.clone(), req.system.clone(), req.context.clone().unwrap_or_default());
    let ask = Ask {
        model: req.model.clone(),
        options: req.options.clone(),
        keep_alive: req.keep_alive,
        format: req.format.clone(),
        think: req.think.clone(),
        images: req.images.as_ref().is_some_and(|i| !i.is_empty()),
        tools: Vec::new(),
        want_context: !raw,
        arrived,
        prompt: Box::new(move |meta, think, _| {
            if raw || !meta.chat_template {
                return PromptInput::Raw { text: prompt, context };
            }
            let mut messages = Vec::new();
            if let Some(s) = system {
                messages.push(json!({"role": "system", "content": s}));
            }
            messages.push(json!({"role": "user", "content": prompt}));
            PromptInput::Chat { messages, tools: None, think, context }
        }),
    };
    let pieces = pipeline::start(&app, ask).await?;
    let model = req.model;
    if req.stream.unwrap_or(true) {
        return Ok(stream::ndjson(pieces.map(move |p| piece_line(&model, p))));
    }
    aggregate(&model, pieces).await
}

fn chunk(model: &str, response: String, thinking: Option<String>, done: Option<(DoneReason, Metrics, Option<Vec<u32>>)>) -> GenerateResponse {
    let (done_reason, metrics, context) = match done {
        Some((r, m, c)) => (Some(r), m, c),
        None => (None, Metrics::default(), None),
    };
    GenerateResponse {
        model: model.to_string(),
        created_at: now(),
        response,
        thinking: thinking.filter(|t| !t.is_empty()),
        tool_calls: None,
        done: done_reason.is_some(),
        done_reason,
        context,
        metrics,
    }
}

fn piece_line(model: &str, piece: Piece) -> axum::body::Bytes {
    match piece {
        Piece::Delta { content, thinking } => stream::line(&chunk(model, content, Some(thinking), None)),
        Piece::ToolCalls(calls) => {
            let mut c = chunk(model, String::new(), None, None);
            c.tool_calls = Some(tool_calls(calls));
            stream::line(&c)
        }
        Piece::Done(f) => stream::line(&chunk(model, String::new(), None, Some((f.reason, f.metrics, f.context)))),
        Piece::Error(e) => stream::line(&json!({ "error": e })),
    }
}

async fn aggregate(model: &str, mut pieces: futures::stream::BoxStream<'static, Piece>) -> Result<Response, ApiError> {
    let (mut text, mut thinking, mut calls): (String, String, Vec<ToolCall>) = Default::default();
    while let Some(p) = pieces.next().await {
        match p {
            Piece::Delta { content, thinking: t } => {
                text.push_str(&content);
                thinking.push_str(&t);
            }
            Piece::ToolCalls(c) => calls.extend(tool_calls(c)),
            Piece::Error(e) => return Err(ApiError::Internal(e)),
            Piece::Done(f) => {
                let mut out = chunk(model, text, Some(thinking), Some((f.reason, f.metrics, f.context)));
                out.tool_calls = (!calls.is_empty()).then_some(calls);
                return Ok(stream::json(&out));
            }
        }
    }
    Err(ApiError::Internal("generation ended without a final chunk".into()))
}
