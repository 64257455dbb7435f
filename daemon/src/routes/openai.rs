//! The OpenAI layer: `/v1/*` requests are translated into the native requests, run through
//! the same pipeline, and the pieces are written back in OpenAI's shapes. Errors are
//! rewritten into OpenAI's envelope by [`error_envelope`].

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Body};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use futures::stream::{self as fstream, BoxStream, StreamExt};
use ollmlx_api::ollama::{ChatRequest, DoneReason, Format, Message, Think, ToolCall as NativeCall, ToolCallFunction};
use ollmlx_api::openai::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage, Choice, ChunkChoice, Completion,
    CompletionChoice, CompletionRequest, Delta, Embedding, EmbeddingList, EmbeddingRequest, EmbeddingUsage,
    ErrorEnvelope, FunctionCall, MessageContent, Model, ModelList, ResponseMessage, ToolCall, Usage,
};
use ollmlx_api::Options;

use super::extract::ApiJson;
use super::pipeline::{self, Ask, Final, Piece};
use super::stream;
use crate::error::ApiError;
use crate::format::tools::ParsedCall;
use crate::job::PromptInput;
use crate::state::{App, AppState};

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// OpenAI's defaults differ from Ollama's: temperature and top_p are 1.0 when omitted.
fn options(temperature: Option<f64>, top_p: Option<f64>, max_tokens: Option<i64>, seed: Option<i64>, stop: Option<Vec<String>>, fp: Option<f64>, pp: Option<f64>) -> Options {
    Options {
        temperature: Some(temperature.unwrap_or(1.0)),
        top_p: Some(top_p.unwrap_or(1.0)),
        num_predict: max_tokens,
        seed,
        stop,
        frequency_penalty: fp,
        presence_penalty: pp,
        ..Options::default()
    }
}

/// `POST /v1/chat/completions`.
pub async fn chat(State(app): State<AppState>, ApiJson(req): ApiJson<ChatCompletionRequest>) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    if req.messages.is_empty() {
        return Err(ApiError::bad("[] is too short - 'messages'"));
    }
    let (stream_out, include_usage, model) =
        (req.stream, req.stream_options.as_ref().is_some_and(|s| s.include_usage), req.model.clone());
    let native = to_native_chat(req)?;
    let pieces = pipeline::start(&app, super::chat::ask_for(native, arrived)?).await?;
    let id = format!("chatcmpl-{}", rand::random::<u32>() % 999);
    if stream_out {
        return Ok(stream::sse(chat_sse(id, model, include_usage, pieces)));
    }
    let (content, reasoning, calls, reason, usage) = collect(pieces).await?;
    let finish = finish_reason(reason, !calls.is_empty());
    let message = ResponseMessage {
        role: "assistant".into(),
        content,
        reasoning: (!reasoning.is_empty()).then_some(reasoning),
        tool_calls: (!calls.is_empty()).then(|| openai_calls(calls)),
    };
    Ok(stream::json(&ChatCompletion {
        id,
        object: "chat.completion".into(),
        created: unix_now(),
        model,
        system_fingerprint: "fp_ollama".into(),
        choices: vec![Choice { index: 0, message, finish_reason: Some(finish) }],
        usage,
    }))
}

fn to_native_chat(req: ChatCompletionRequest) -> Result<ChatRequest, ApiError> {
    let mut messages = Vec::with_capacity(req.messages.len());
    for m in req.messages {
        messages.push(native_message(m)?);
    }
    let format = match req.response_format {
        Some(f) if f.kind == "json_object" => Some(Format::Json),
        Some(f) if f.kind == "json_schema" => {
            let schema = f.json_schema.as_ref().and_then(|s| s.get("schema")).cloned();
            Some(Format::Schema(schema.ok_or_else(|| ApiError::bad("response_format json_schema needs json_schema.schema"))?))
        }
        _ => None,
    };
    let effort = req.reasoning_effort.or_else(|| req.reasoning.and_then(|r| r.effort));
    let think = match effort.as_deref() {
        None => None,
        Some("none") => Some(Think::Enabled(false)),
        Some("minimal") => Some(Think::Level("low".into())),
        Some(l @ ("low" | "medium" | "high" | "max")) => Some(Think::Level(l.into())),
        Some("xhigh" | "ultra") => Some(Think::Level("max".into())),
        Some(other) => return Err(ApiError::bad(format!("invalid reasoning effort {other:?}"))),
    };
    let stop = req.stop.map(ollmlx_api::openai::Stop::into_vec);
    let max = req.max_tokens.or(req.max_completion_tokens);
    Ok(ChatRequest {
        model: req.model,
        messages,
        tools: req.tools,
        format,
        options: Some(options(req.temperature, req.top_p, max, req.seed, stop, req.frequency_penalty, req.presence_penalty)),
        stream: Some(req.stream),
        keep_alive: None,
        think,
    })
}

fn native_message(m: ChatMessage) -> Result<Message, ApiError> {
    let role = if m.role == "developer" { "system".to_string() } else { m.role };
    let mut out = Message { role, ..Message::default() };
    match m.content {
        Some(MessageContent::Text(t)) => out.content = t,
        Some(MessageContent::Parts(parts)) => {
            let mut images = Vec::new();
            for p in parts {
                match (p.kind.as_str(), p.text, p.image_url) {
                    ("text", Some(t), _) => out.content.push_str(&t),
                    ("image_url", _, Some(url)) => {
                        let data = url.url().split_once("base64,").map(|(_, d)| d.to_string());
                        images.push(data.ok_or_else(|| ApiError::bad("image_url must be a base64 data URI"))?);
                    }
                    (kind, _, _) => return Err(ApiError::bad(format!("unsupported content part type {kind:?}"))),
                }
            }
            out.images = (!images.is_empty()).then_some(images);
        }
        None => {}
    }
    if let Some(calls) = m.tool_calls {
        let mut native = Vec::new();
        for (i, c) in calls.into_iter().enumerate() {
            let arguments = match serde_json::from_str::<serde_json::Value>(&c.function.arguments) {
                Ok(serde_json::Value::Object(a)) => a,
                _ if c.function.arguments.trim().is_empty() => serde_json::Map::new(),
                _ => return Err(ApiError::bad("tool call arguments must be a JSON object encoded as a string")),
            };
            native.push(NativeCall {
                id: Some(c.id),
                function: ToolCallFunction { index: Some(i), name: c.function.name, arguments },
            });
        }
        out.tool_calls = Some(native);
    }
    out.tool_name = m.name;
    out.tool_call_id = m.tool_call_id;
    out.thinking = m.reasoning;
    Ok(out)
}

fn finish_reason(reason: DoneReason, tool_calls: bool) -> String {
    match (reason, tool_calls) {
        (_, true) => "tool_calls".into(),
        (DoneReason::Length, _) => "length".into(),
        _ => "stop".into(),
    }
}

fn openai_calls(calls: Vec<ParsedCall>) -> Vec<ToolCall> {
    calls
        .into_iter()
        .enumerate()
        .map(|(i, c)| ToolCall {
            id: super::call_id(),
            index: Some(i),
            kind: "function".into(),
            function: FunctionCall { name: c.name, arguments: serde_json::Value::Object(c.arguments).to_string() },
        })
        .collect()
}

type Collected = (String, String, Vec<ParsedCall>, DoneReason, Usage);

async fn collect(mut pieces: BoxStream<'static, Piece>) -> Result<Collected, ApiError> {
    let (mut content, mut reasoning, mut calls) = (String::new(), String::new(), Vec::new());
    while let Some(p) = pieces.next().await {
        match p {
            Piece::Delta { content: c, thinking } => {
                content.push_str(&c);
                reasoning.push_str(&thinking);
            }
            Piece::ToolCalls(c) => calls.extend(c),
            Piece::Error(e) => return Err(ApiError::Internal(e)),
            Piece::Done(f) => {
                let usage = usage_of(&f);
                return Ok((content, reasoning, calls, f.reason, usage));
            }
        }
    }
    Err(ApiError::Internal("generation ended without a final chunk".into()))
}

fn chat_sse(id: String, model: String, include_usage: bool, pieces: BoxStream<'static, Piece>) -> impl futures::Stream<Item = axum::body::Bytes> + Send {
    let created = unix_now();
    let chunk = move |delta: Delta, finish: Option<String>, usage: Option<Usage>| ChatCompletionChunk {
        id: id.clone(),
        object: "chat.completion.chunk".into(),
        created,
        model: model.clone(),
        system_fingerprint: "fp_ollama".into(),
        choices: if usage.is_some() { Vec::new() } else { vec![ChunkChoice { index: 0, delta, finish_reason: finish }] },
        usage,
    };
    let mut first = true;
    let mut saw_calls = false;
    pieces
        .flat_map(move |p| {
            let role = std::mem::take(&mut first).then(|| "assistant".to_string());
            let events: Vec<axum::body::Bytes> = match p {
                Piece::Delta { content, thinking } => {
                    let mut out = Vec::new();
                    if !thinking.is_empty() {
                        out.push(Delta { role: role.clone(), reasoning: Some(thinking), ..Delta::default() });
                    }
                    if !content.is_empty() || out.is_empty() {
                        out.push(Delta { role: if out.is_empty() { role } else { None }, content: Some(content), ..Delta::default() });
                    }
                    out.into_iter().map(|d| stream::sse_event(&chunk(d, None, None))).collect()
                }
                Piece::ToolCalls(calls) => {
                    saw_calls = true;
                    let d = Delta { role, tool_calls: Some(openai_calls(calls)), ..Delta::default() };
                    vec![stream::sse_event(&chunk(d, None, None))]
                }
                Piece::Done(f) => {
                    let mut out = vec![stream::sse_event(&chunk(Delta::default(), Some(finish_reason(f.reason, saw_calls)), None))];
                    if include_usage {
                        let usage = usage_of(&f);
                        out.push(stream::sse_event(&chunk(Delta::default(), None, Some(usage))));
                    }
                    out.push(stream::sse_done());
                    out
                }
                Piece::Error(e) => vec![stream::sse_event(&ErrorEnvelope::for_status(500, e)), stream::sse_done()],
            };
            fstream::iter(events)
        })
}

/// `POST /v1/completions`.
pub async fn completions(State(app): State<AppState>, ApiJson(req): ApiJson<CompletionRequest>) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    let stop = req.stop.clone().map(ollmlx_api::openai::Stop::into_vec);
    let prompt = req.prompt.clone();
    let ask = Ask {
        model: req.model.clone(),
        options: Some(options(req.temperature, req.top_p, req.max_tokens, req.seed, stop, req.frequency_penalty, req.presence_penalty)),
        keep_alive: None,
        format: None,
        think: None,
        images: false,
        tools: Vec::new(),
        want_context: false,
        arrived,
        // OpenAI completions send the prompt as is.
        prompt: Box::new(move |_, _, _| PromptInput::Raw { text: prompt, context: Vec::new() }),
    };
    let pieces = pipeline::start(&app, ask).await?;
    let id = format!("cmpl-{}", rand::random::<u32>() % 999);
    let created = unix_now();
    let model = req.model.clone();
    let make = move |text: String, finish: Option<String>, usage: Option<Usage>| Completion {
        id: id.clone(),
        object: "text_completion".into(),
        created,
        model: model.clone(),
        system_fingerprint: "fp_ollama".into(),
        choices: if usage.is_some() && finish.is_none() && text.is_empty() { Vec::new() } else { vec![CompletionChoice { text, index: 0, finish_reason: finish, logprobs: None }] },
        usage,
    };
    if !req.stream {
        let (content, _, _, reason, usage) = collect(pieces).await?;
        return Ok(stream::json(&make(content, Some(finish_reason(reason, false)), Some(usage))));
    }
    let include_usage = req.stream_options.as_ref().is_some_and(|s| s.include_usage);
    let events = pieces.flat_map(move |p| {
        let out: Vec<axum::body::Bytes> = match p {
            Piece::Delta { content, .. } => vec![stream::sse_event(&make(content, None, None))],
            Piece::ToolCalls(_) => Vec::new(),
            Piece::Done(f) => {
                let mut out = vec![stream::sse_event(&make(String::new(), Some(finish_reason(f.reason, false)), None))];
                if include_usage {
                    out.push(stream::sse_event(&make(String::new(), None, Some(usage_of(&f)))));
                }
                out.push(stream::sse_done());
                out
            }
            Piece::Error(e) => vec![stream::sse_event(&ErrorEnvelope::for_status(500, e)), stream::sse_done()],
        };
        fstream::iter(out)
    });
    Ok(stream::sse(events))
}

/// `POST /v1/embeddings`.
pub async fn embeddings(State(app): State<AppState>, ApiJson(req): ApiJson<EmbeddingRequest>) -> Result<Response, ApiError> {
    let inputs = req.input.into_vec();
    if inputs.is_empty() {
        return Err(ApiError::bad("invalid input: expected a non-empty string or list of strings"));
    }
    let (out, _) = super::embed::embed_texts(&app, &req.model, inputs, None, None, true).await?;
    let base64 = req.encoding_format.as_deref() == Some("base64");
    let data = out
        .vectors
        .into_iter()
        .enumerate()
        .map(|(index, v)| {
            let v = super::embed::normalise(v, req.dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                serde_json::Value::String(base64_encode(&bytes))
            } else {
                serde_json::json!(v)
            };
            Embedding { object: "embedding".into(), embedding, index }
        })
        .collect();
    let tokens = out.tokens as u64;
    Ok(stream::json(&EmbeddingList {
        object: "list".into(),
        data,
        model: req.model,
        usage: EmbeddingUsage { prompt_tokens: tokens, total_tokens: tokens },
    }))
}

fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= c.len() { T[((n >> shift) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

fn model_object(e: &ollmlx_store::ModelEntry) -> Model {
    let created = e.modified.duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    Model { id: e.name.to_string(), object: "model".into(), created, owned_by: e.name.namespace().to_string() }
}

/// `GET /v1/models`.
pub async fn models(State(app): State<AppState>) -> Result<Response, ApiError> {
    let store = app.store.clone();
    let list = tokio::task::spawn_blocking(move || store.list()).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(stream::json(&ModelList { object: "list".into(), data: list.iter().map(model_object).collect() }))
}

/// `GET /v1/models/{id}` (ids may contain `/`).
pub async fn model(State(app): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    App::parse_name(&id)?;
    let store = app.store.clone();
    let entry = tokio::task::spawn_blocking(move || store.resolve(&id)).await.map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(stream::json(&model_object(&entry)))
}

/// Rewrites `{"error": "..."}` replies of the `/v1` routes into OpenAI's envelope.
pub async fn error_envelope(resp: Response) -> Response {
    let status = resp.status();
    if status.is_success() {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let mut message = serde_json::from_slice::<ollmlx_api::ollama::ErrorResponse>(&bytes)
        .map(|e| e.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_string());
    // axum's own 405 has no body: say what it is rather than send an empty message.
    if message.is_empty() {
        message = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("error").to_lowercase());
    }
    let body = serde_json::to_vec(&ErrorEnvelope::for_status(status.as_u16(), message)).unwrap_or_default();
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(base64_encode(b"hi!"), "aGkh");
        assert_eq!(base64_encode(b"h"), "aA==");
    }
}

/// OpenAI's usage from the final figures: the whole prompt, with the cached part named.
fn usage_of(f: &Final) -> Usage {
    Usage::with_cached(f.metrics.prompt_eval_count + f.cached_tokens, f.metrics.eval_count, f.cached_tokens)
}
