//! The one HTTP client: a blocking reqwest client bound to the daemon's base URL.
//!
//! Connection failures become [`Failure::NotRunning`], 404 answers [`Failure::NotFound`] and
//! other error answers carry the daemon's `{"error": "..."}` text, so every command reports the
//! same way and exits with the documented code.

use std::io::{BufRead, BufReader};
use std::marker::PhantomData;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use reqwest::blocking::Response;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::exit::Failure;

/// Ollama's port, which ollmlxd listens on by default.
pub const DEFAULT_PORT: u16 = 11434;
/// The variable naming the daemon address.
pub const HOST_VAR: &str = "OLLMLX_HOST";

/// Parses `OLLMLX_HOST` the way Ollama parses `OLLAMA_HOST`: `host`, `host:port`, `:port`,
/// `[v6]:port` or `scheme://host[:port]`; `http://` without a port means 80, `https://` 443,
/// anything else 11434. A listen-anywhere host (`0.0.0.0`, `::`) is reached on loopback.
pub fn base_url(text: &str) -> Result<String, String> {
    let text = text.trim().trim_matches(|c| c == '"' || c == '\'');
    let (scheme, rest, default_port) = match text.split_once("://") {
        Some(("http", r)) => ("http", r, 80),
        Some(("https", r)) => ("https", r, 443),
        Some((s, _)) => return Err(format!("{text:?}: unsupported scheme {s:?}; use http or https")),
        None => ("http", text, DEFAULT_PORT),
    };
    let rest = rest.trim_end_matches('/');
    if rest.contains('/') {
        return Err(format!("{text:?} has a path; expected host[:port]"));
    }
    let (host, port) = split_host_port(rest).ok_or_else(|| format!("{text:?}: expected host[:port]"))?;
    let port = match port {
        Some(p) => p.parse::<u16>().map_err(|_| format!("{text:?}: port {p:?} is not a number 0-65535"))?,
        None => default_port,
    };
    let host = match host {
        "" | "0.0.0.0" => "127.0.0.1",
        "::" => "::1",
        h => h,
    };
    let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
    Ok(format!("{scheme}://{host}:{port}"))
}

fn split_host_port(text: &str) -> Option<(&str, Option<&str>)> {
    if let Some(inner) = text.strip_prefix('[') {
        let (h, after) = inner.split_once(']')?;
        return match after {
            "" => Some((h, None)),
            p => Some((h, Some(p.strip_prefix(':')?))),
        };
    }
    match text.rsplit_once(':') {
        // A bare IPv6 address has several colons and no port.
        Some((h, _)) if h.contains(':') => Some((text, None)),
        Some((h, p)) => Some((h, Some(p))),
        None => Some((text, None)),
    }
}

/// A client for one daemon.
pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client for `OLLMLX_HOST` (default `127.0.0.1:11434`).
    pub fn from_env() -> Result<Client> {
        let text = std::env::var(HOST_VAR).ok().filter(|v| !v.trim().is_empty());
        let base = base_url(text.as_deref().unwrap_or("")).map_err(|e| Failure::Usage(format!("{HOST_VAR}: {e}")))?;
        Client::new(base)
    }

    /// A client for `base` (`http://host:port`).
    pub fn new(base: String) -> Result<Client> {
        let loopback = ["://127.", "://localhost", "://[::1]"].iter().any(|p| base.contains(p));
        let mut builder = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // Loads and answers take as long as they take; the user interrupts with Ctrl-C.
            .timeout(None)
            .user_agent(concat!("ollmlxctl/", env!("CARGO_PKG_VERSION")));
        if loopback {
            // A proxy for the local daemon would only get in the way.
            builder = builder.no_proxy();
        }
        let http = builder.build().context("cannot create the HTTP client")?;
        Ok(Client { base, http })
    }

    /// `http://host:port`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` as JSON.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        read_json(self.send::<()>(Method::GET, path, None)?, path)
    }

    /// `POST path` with a JSON body, answered with JSON.
    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        read_json(self.send(Method::POST, path, Some(body))?, path)
    }

    /// A request whose answer body is not needed (copy, delete).
    pub fn call<B: Serialize>(&self, method: Method, path: &str, body: &B) -> Result<()> {
        self.send(method, path, Some(body)).map(drop)
    }

    /// A request answered with NDJSON lines, read as they arrive.
    pub fn stream<B: Serialize, T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<&B>) -> Result<Lines<T>> {
        let resp = self.send(method, path, body)?;
        Ok(Lines { reader: BufReader::new(resp), path: path.to_string(), done: false, _item: PhantomData })
    }

    /// Sends one request; connection failures and error statuses become typed failures.
    pub fn send<B: Serialize>(&self, method: Method, path: &str, body: Option<&B>) -> Result<Response> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().map_err(|e| {
            if e.is_connect() {
                anyhow!(Failure::NotRunning { url: self.base.clone() })
            } else {
                anyhow!(e).context(format!("{method} {url}"))
            }
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().unwrap_or_default();
        let message = error_text(&text).unwrap_or_else(|| format!("{method} {path}: HTTP {status}"));
        if status == StatusCode::NOT_FOUND {
            return Err(Failure::NotFound(message).into());
        }
        Err(anyhow!("{message} (HTTP {})", status.as_u16()))
    }
}

/// The `error` field of an error body, if the body is one.
fn error_text(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v.get("error")?.as_str().map(str::to_string)
}

fn read_json<T: DeserializeOwned>(resp: Response, path: &str) -> Result<T> {
    let bytes = resp.bytes().with_context(|| format!("reading the answer of {path}"))?;
    serde_json::from_slice(&bytes).with_context(|| format!("unexpected answer from {path}: {}", String::from_utf8_lossy(&bytes)))
}

/// NDJSON lines of a streaming answer; an `{"error": ...}` line ends the stream with an error.
pub struct Lines<T> {
    reader: BufReader<Response>,
    path: String,
    done: bool,
    _item: PhantomData<T>,
}

impl<T: DeserializeOwned> Iterator for Lines<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Result<T>> {
        if self.done {
            return None;
        }
        let mut line = String::new();
        loop {
            line.clear();
            match self.reader.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) if line.trim().is_empty() => {}
                Ok(_) => break,
                Err(e) => {
                    self.done = true;
                    return Some(Err(anyhow!(e).context(format!("reading the stream of {}", self.path))));
                }
            }
        }
        if let Some(message) = error_text(&line) {
            self.done = true;
            return Some(Err(anyhow!("{message}")));
        }
        Some(serde_json::from_str(&line).with_context(|| format!("unexpected line from {}: {}", self.path, line.trim())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_like_ollama() {
        let ok = |t: &str| base_url(t).unwrap();
        assert_eq!(ok(""), "http://127.0.0.1:11434");
        assert_eq!(ok("example.com"), "http://example.com:11434");
        assert_eq!(ok("example.com:8080"), "http://example.com:8080");
        assert_eq!(ok(":9000"), "http://127.0.0.1:9000");
        assert_eq!(ok("0.0.0.0"), "http://127.0.0.1:11434");
        assert_eq!(ok("http://10.0.0.2"), "http://10.0.0.2:80");
        assert_eq!(ok("https://h"), "https://h:443");
        assert_eq!(ok("http://h:1234/"), "http://h:1234");
        assert_eq!(ok("[::1]:5"), "http://[::1]:5");
        assert_eq!(ok("::1"), "http://[::1]:11434");
        assert_eq!(ok("\"127.0.0.1:7\""), "http://127.0.0.1:7");
        for bad in ["h:99999", "h:x", "http://a/b", "ftp://h"] {
            assert!(base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_bodies() {
        assert_eq!(error_text(r#"{"error":"model 'x' not found"}"#).as_deref(), Some("model 'x' not found"));
        assert_eq!(error_text("Not Found"), None);
        assert_eq!(error_text(r#"{"status":"ok"}"#), None);
    }
}
