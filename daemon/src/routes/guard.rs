//! CORS and the Host-header guard (DNS-rebinding protection), with Ollama's rules, and the
//! peer guard of the `/ollmlx/` control endpoints (loopback clients only, unless configured).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use ollmlx_api::ollama::ErrorResponse;
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

/// Whether a peer may use the control endpoints: loopback peers always (IPv4-mapped IPv6
/// included), others only when `allow_remote`. An unknown peer is refused.
fn control_allowed(peer: Option<IpAddr>, allow_remote: bool) -> Result<(), String> {
    let loopback = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    };
    match peer {
        _ if allow_remote => Ok(()),
        Some(ip) if loopback(ip) => Ok(()),
        Some(ip) => Err(format!(
            "the /ollmlx/ control endpoints only answer clients on this machine (this request came from {ip}); set OLLMLX_CONTROL_REMOTE=1 to allow remote control"
        )),
        None => Err("the /ollmlx/ control endpoints only answer clients on this machine (the peer address is unknown)".into()),
    }
}

/// Refuses non-loopback peers on the routes it wraps (403 with a JSON error naming why). Pulls,
/// deletes and copies stay open to remote clients as in Ollama; loading, pinning and the
/// memory/status view are the daemon's own controls.
pub async fn control_guard(State(allow_remote): State<bool>, req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    match control_allowed(peer, allow_remote) {
        Ok(()) => next.run(req).await,
        Err(error) => {
            tracing::warn!(peer = ?peer, path = %req.uri().path(), "control endpoint refused to a remote peer");
            (StatusCode::FORBIDDEN, Json(ErrorResponse { error })).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_peers() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        for local in ["127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "::ffff:127.0.0.1"] {
            assert!(control_allowed(ip(local), false).is_ok(), "{local}");
        }
        for remote in ["10.0.0.2", "192.168.1.5", "0.0.0.0", "::ffff:10.0.0.2", "fe80::1", "fd00::2", "8.8.8.8"] {
            let e = control_allowed(ip(remote), false).unwrap_err();
            assert!(e.contains(remote.trim_start_matches("::ffff:")) && e.contains("OLLMLX_CONTROL_REMOTE"), "{e}");
            assert!(control_allowed(ip(remote), true).is_ok(), "{remote}");
        }
        assert!(control_allowed(None, false).unwrap_err().contains("unknown"));
        assert!(control_allowed(None, true).is_ok());
    }

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
