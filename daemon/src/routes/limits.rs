//! Request-body limits, enforced once for every route before any handler runs: a body larger
//! than `OLLMLX_MAX_BODY` gets 413, a body that has not fully arrived `OLLMLX_READ_TIMEOUT`
//! after its headers gets 408. Both close the connection. Only the request body is timed:
//! a streaming response runs as long as it needs.
//!
//! Also here: error replies that axum makes on its own (unknown path 404, wrong method 405)
//! get the JSON body every other error has.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use ollmlx_api::ollama::ErrorResponse;

use crate::config::limits::Limits;
use crate::config::parse::human_bytes;

/// Why a body was not read.
#[derive(Debug, PartialEq, Eq)]
enum BodyError {
    /// Past the size limit (413).
    TooLarge { limit: usize },
    /// Not all there within the read timeout (408).
    TooSlow { timeout: Duration },
    /// The connection broke or the framing was invalid (400).
    Broken(String),
}

impl BodyError {
    fn response(&self) -> Response {
        let (status, message) = match self {
            BodyError::TooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body too large: the limit is {} (OLLMLX_MAX_BODY)", human_bytes(*limit as u64)),
            ),
            BodyError::TooSlow { timeout } => (
                StatusCode::REQUEST_TIMEOUT,
                format!("request body not received within {timeout:?} (OLLMLX_READ_TIMEOUT)"),
            ),
            BodyError::Broken(e) => (StatusCode::BAD_REQUEST, format!("cannot read request body: {e}")),
        };
        tracing::debug!(%status, error = %message, "request body refused");
        let mut resp = (status, Json(ErrorResponse { error: message })).into_response();
        // The rest of the body is never read, so the connection cannot carry another request.
        resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
        resp
    }
}

/// Reads the whole body under the limits, then hands the request on with the bytes.
pub async fn read_body(State(limits): State<Limits>, req: Request, next: Next) -> Response {
    let openai = is_openai(req.uri().path());
    let (parts, body) = req.into_parts();
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    // A declared length over the limit is refused before a byte of the body is read.
    let result = if declared.is_some_and(|n| n > limits.max_body as u64) {
        Err(BodyError::TooLarge { limit: limits.max_body })
    } else {
        match tokio::time::timeout(limits.read_timeout, collect(body, limits.max_body)).await {
            Ok(result) => result,
            Err(_) => Err(BodyError::TooSlow { timeout: limits.read_timeout }),
        }
    };
    match result {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(e) if openai => super::openai::error_envelope(e.response()).await,
        Err(e) => e.response(),
    }
}

/// The body's bytes, stopping as soon as they pass `limit`.
async fn collect(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| BodyError::Broken(e.to_string()))?;
        if out.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

fn is_openai(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// Gives axum's own empty 404 and 405 replies a JSON error body (OpenAI's envelope on /v1),
/// so every client sees one error shape. The words are gin's, which Ollama clients may show.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let (head, openai) = (req.method() == Method::HEAD, is_openai(req.uri().path()));
    let resp = next.run(req).await;
    let message = match resp.status() {
        StatusCode::NOT_FOUND => "404 page not found",
        StatusCode::METHOD_NOT_ALLOWED => "405 method not allowed",
        _ => return resp,
    };
    if head || resp.headers().contains_key(header::CONTENT_TYPE) {
        return resp;
    }
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let json = Json(ErrorResponse { error: message.to_string() }).into_response();
    let (json_parts, body) = json.into_parts();
    parts.headers.extend(json_parts.headers);
    let resp = Response::from_parts(parts, body);
    if openai {
        super::openai::error_envelope(resp).await
    } else {
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> Body {
        let items: Vec<Result<Bytes, std::io::Error>> = parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Body::from_stream(futures::stream::iter(items))
    }

    #[tokio::test]
    async fn collect_stops_past_the_limit() {
        assert_eq!(collect(chunks(&[b"ab", b"cd"]), 4).await.unwrap(), Bytes::from_static(b"abcd"));
        assert_eq!(collect(chunks(&[b"ab", b"cde"]), 4).await.unwrap_err(), BodyError::TooLarge { limit: 4 });
        assert_eq!(collect(chunks(&[]), 0).await.unwrap(), Bytes::new());
    }

    #[tokio::test]
    async fn broken_bodies_are_400s() {
        let items: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from_static(b"{")), Err(std::io::Error::other("reset"))];
        let e = collect(Body::from_stream(futures::stream::iter(items)), 10).await.unwrap_err();
        assert_eq!(e.response().status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn replies_close_the_connection() {
        let r = BodyError::TooSlow { timeout: Duration::from_secs(2) }.response();
        assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(r.headers()[header::CONNECTION], "close");
        let r = BodyError::TooLarge { limit: 1 << 20 }.response();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
