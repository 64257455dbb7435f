//! CORS and the Host-header guard (DNS-rebinding protection), with Ollama's rules.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
// Request headers are mirrored: OpenAI SDKs send a growing family of `x-stainless-*` headers.
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// Origins allowed without configuration (any port).
const DEFAULT_ORIGINS: &[&str] = &[
    "http://localhost", "https://localhost", "http://127.0.0.1", "https://127.0.0.1", "http://0.0.0.0",
    "https://0.0.0.0", "app://*", "file://*", "tauri://*", "vscode-webview://*", "vscode-file://*",
];

/// True when `origin` matches `pattern` (`*` matches anything; a bare host matches any port).
fn origin_matches(pattern: &str, origin: &str) -> bool {
    if pattern == "*" || pattern == origin {
        return true;
    }
    if let Some((head, tail)) = pattern.split_once('*') {
        return origin.len() >= head.len() + tail.len() && origin.starts_with(head) && origin.ends_with(tail);
    }
    origin.strip_prefix(pattern).is_some_and(|rest| rest.strip_prefix(':').is_some_and(|p| p.chars().all(|c| c.is_ascii_digit())))
}

/// CORS: the default origins plus `OLLMLX_ORIGINS`.
pub fn cors(extra: &[String]) -> CorsLayer {
    let patterns: Vec<String> = DEFAULT_ORIGINS.iter().map(|s| (*s).to_string()).chain(extra.iter().cloned()).collect();
    let allow = AllowOrigin::predicate(move |origin: &HeaderValue, _| {
        origin.to_str().is_ok_and(|o| patterns.iter().any(|p| origin_matches(p, o)))
    });
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::HEAD, Method::OPTIONS])
        .allow_headers(AllowHeaders::mirror_request())
}

/// Whether a Host header value may reach a loopback listener.
fn host_allowed(host: &str) -> bool {
    let host = host.trim();
    if host.is_empty() {
        return true;
    }
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').filter(|(h, _)| !h.contains(':')).map_or(host, |(h, _)| h),
    };
    if let Ok(ip) = name.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_unspecified() || v4.is_link_local(),
            IpAddr::V6(v6) => v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        };
    }
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || [".localhost", ".local", ".internal"].iter().any(|s| name.ends_with(s))
        || hostname().is_some_and(|h| h.eq_ignore_ascii_case(&name))
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Refuses foreign Host headers when listening on loopback (403, empty body).
pub async fn host_guard(State(listen): State<SocketAddr>, req: Request, next: Next) -> Response {
    if listen.ip().is_loopback() {
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        if !host_allowed(host) {
            return StatusCode::FORBIDDEN.into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        for ok in ["", "localhost", "localhost:11434", "127.0.0.1:5", "[::1]:5", "192.168.1.2", "x.local", "host.docker.internal"] {
            assert!(host_allowed(ok), "{ok}");
        }
        for bad in ["evil.com", "evil.com:11434", "8.8.8.8"] {
            assert!(!host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn origins() {
        assert!(origin_matches("http://localhost", "http://localhost:3000"));
        assert!(origin_matches("app://*", "app://thing"));
        assert!(origin_matches("chrome-extension://*", "chrome-extension://abc"));
        assert!(!origin_matches("http://localhost", "http://localhost.evil.com"));
        assert!(!origin_matches("http://localhost", "http://evil.com"));
    }
}
