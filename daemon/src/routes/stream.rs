//! Response framing: one JSON object, NDJSON lines (Ollama) or SSE events (OpenAI), each
//! flushed on its own.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Serialize;

/// A value as `application/json`.
pub fn json<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => with_type(Body::from(body), "application/json"),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Serialises one NDJSON line (an error line if serialisation itself fails).
pub fn line<T: Serialize>(value: &T) -> Bytes {
    let mut out = serde_json::to_vec(value).unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()).into_bytes());
    out.push(b'\n');
    Bytes::from(out)
}

/// An NDJSON stream of already-framed lines.
pub fn ndjson(lines: impl Stream<Item = Bytes> + Send + 'static) -> Response {
    with_type(Body::from_stream(lines.map(Ok::<_, Infallible>)), "application/x-ndjson")
}

/// One SSE event carrying JSON.
pub fn sse_event<T: Serialize>(value: &T) -> Bytes {
    let json = serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()));
    Bytes::from(format!("data: {json}\n\n"))
}

/// The SSE terminator OpenAI clients wait for.
pub fn sse_done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// An SSE stream of already-framed events.
pub fn sse(events: impl Stream<Item = Bytes> + Send + 'static) -> Response {
    let mut resp = with_type(Body::from_stream(events.map(Ok::<_, Infallible>)), "text/event-stream");
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn with_type(body: Body, content_type: &'static str) -> Response {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
