//! `POST /api/chat`.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use futures::StreamExt;
use ollmlx_api::ollama::{ChatRequest, ChatResponse, DoneReason, Message, Metrics, ToolCall};
use serde_json::{json, Value};

use super::extract::ApiJson;
use super::pipeline::{self, Ask, Piece};
use super::{load_or_unload, now, stream, tool_calls};
use crate::error::ApiError;
use crate::job::PromptInput;
use crate::state::AppState;

/// Chat; empty `messages` loads (or with keep_alive 0 unloads) the model.
pub async fn chat(State(app): State<AppState>, ApiJson(req): ApiJson<ChatRequest>) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    if req.messages.is_empty() {
        let num_ctx = req.options.as_ref().and_then(|o| o.num_ctx).and_then(|n| usize::try_from(n).ok());
        let reason = load_or_unload(&app, &req.model, req.keep_alive, num_ctx).await?;
        return Ok(stream::json(&reply(&req.model, Message::assistant(""), Some((reason, Metrics::default())))));
    }
    let ask = ask_for(req.clone(), arrived)?;
    let pieces = pipeline::start(&app, ask).await?;
    let model = req.model;
    if req.stream.unwrap_or(true) {
        return Ok(stream::ndjson(pieces.map(move |p| piece_line(&model, p))));
    }
    aggregate(&model, pieces).await
}

/// The pipeline request for a chat (shared with /v1/chat/completions).
pub fn ask_for(req: ChatRequest, arrived: Instant) -> Result<Ask, ApiError> {
    let images = req.messages.iter().any(|m| m.images.as_ref().is_some_and(|i| !i.is_empty()));
    let mut messages = Vec::with_capacity(req.messages.len());
    for m in &req.messages {
        messages.push(message_json(m)?);
    }
    let tools: Vec<Value> = req.tools.iter().flatten().filter_map(|t| serde_json::to_value(t).ok()).collect();
    Ok(Ask {
        model: req.model,
        options: req.options,
        keep_alive: req.keep_alive,
        format: req.format,
        think: req.think,
        images,
        tools,
        want_context: false,
        arrived,
        prompt: Box::new(move |meta, think, tools| {
            if meta.chat_template {
                PromptInput::Chat { messages, tools, think, context: Vec::new() }
            } else {
                let text = messages.iter().filter_map(|m| m["content"].as_str()).collect::<Vec<_>>().join("\n");
                PromptInput::Raw { text, context: Vec::new() }
            }
        }),
    })
}

/// A message as chat templates read it.
fn message_json(m: &Message) -> Result<Value, ApiError> {
    let role = m.role.to_ascii_lowercase();
    if !matches!(role.as_str(), "system" | "user" | "assistant" | "tool") {
        return Err(ApiError::bad(format!("invalid message role {:?}: expected system, user, assistant or tool", m.role)));
    }
    let mut v = json!({ "role": role, "content": m.content });
    if let Some(calls) = &m.tool_calls {
        let calls: Vec<Value> = calls
            .iter()
            .map(|c| json!({"type": "function", "id": c.id, "function": {"name": c.function.name, "arguments": c.function.arguments}}))
            .collect();
        v["tool_calls"] = Value::Array(calls);
    }
    if let Some(name) = &m.tool_name {
        v["name"] = json!(name);
        v["tool_name"] = json!(name);
    }
    if let Some(id) = &m.tool_call_id {
        v["tool_call_id"] = json!(id);
    }
    Ok(v)
}

fn reply(model: &str, message: Message, done: Option<(DoneReason, Metrics)>) -> ChatResponse {
    let (done_reason, metrics) = match done {
        Some((r, m)) => (Some(r), m),
        None => (None, Metrics::default()),
    };
    ChatResponse { model: model.to_string(), created_at: now(), message, done: done_reason.is_some(), done_reason, metrics }
}

fn piece_line(model: &str, piece: Piece) -> axum::body::Bytes {
    match piece {
        Piece::Delta { content, thinking } => {
            let mut m = Message::assistant(content);
            m.thinking = (!thinking.is_empty()).then_some(thinking);
            stream::line(&reply(model, m, None))
        }
        Piece::ToolCalls(calls) => {
            let mut m = Message::assistant("");
            m.tool_calls = Some(tool_calls(calls));
            stream::line(&reply(model, m, None))
        }
        Piece::Done(f) => stream::line(&reply(model, Message::assistant(""), Some((f.reason, f.metrics)))),
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
                let mut m = Message::assistant(text);
                m.thinking = (!thinking.is_empty()).then_some(thinking);
                m.tool_calls = (!calls.is_empty()).then_some(calls);
                return Ok(stream::json(&reply(model, m, Some((f.reason, f.metrics)))));
            }
        }
    }
    Err(ApiError::Internal("generation ended without a final chunk".into()))
}
