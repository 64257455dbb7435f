//! Raw HTTP/1.1 over a TCP socket, for requests an HTTP client library will not send:
//! invalid UTF-8, lying Content-Length, bodies that stall or trickle, oversized chunked bodies.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A parsed response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// From the end of the request head to the end of the response.
    pub elapsed: Duration,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// How the body goes out.
#[derive(Debug, Clone)]
pub enum Send {
    /// All at once with a correct Content-Length.
    Whole(Vec<u8>),
    /// Content-Length says `declared`, `sent` bytes follow, then the client waits.
    Stall { declared: usize, sent: Vec<u8> },
    /// Correct Content-Length, one byte every `every`.
    Trickle { body: Vec<u8>, every: Duration },
    /// Content-Length only; no body is sent (the server should answer from the headers).
    HeadersOnly { declared: u64 },
    /// Chunked transfer encoding in chunks of `chunk` bytes.
    Chunked { body: Vec<u8>, chunk: usize },
}

/// The request head.
fn head(method: &str, path: &str, extra: &[(&str, &str)], length: Option<u64>) -> Vec<u8> {
    let mut h = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (k, v) in extra {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    match length {
        Some(n) => h.push_str(&format!("Content-Length: {n}\r\n")),
        None => h.push_str("Transfer-Encoding: chunked\r\n"),
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// Sends one request and reads the response (bounded by `limit`).
pub fn exchange(addr: SocketAddr, method: &str, path: &str, extra: &[(&str, &str)], send: &Send, limit: Duration) -> Reply {
    try_exchange(addr, method, path, extra, send, limit).unwrap_or_else(|e| panic!("{e}")).0
}

/// [`exchange`] that reports a missing reply instead of panicking, and also returns the
/// (keep-alive) connection. The body goes out from its own thread while this one waits for
/// the reply: a server that refuses a body answers (and may close) before it is all sent.
pub fn try_exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    send: &Send,
    limit: Duration,
) -> Result<(Reply, TcpStream), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(limit)).unwrap();
    s.set_write_timeout(Some(limit)).unwrap();
    s.set_nodelay(true).unwrap();
    let length = match send {
        Send::Whole(b) | Send::Trickle { body: b, .. } => Some(b.len() as u64),
        Send::Stall { declared, .. } => Some(*declared as u64),
        Send::HeadersOnly { declared } => Some(*declared),
        Send::Chunked { .. } => None,
    };
    s.write_all(&head(method, path, extra, length)).map_err(|e| format!("write: {e}"))?;
    let mut writer = s.try_clone().unwrap();
    let send_body = send.clone();
    std::thread::spawn(move || write_body(&mut writer, &send_body));
    let sent_at = Instant::now();
    let mut reply = read_reply(&mut s).map_err(|e| format!("{method} {path}: no reply within {limit:?}: {e}"))?;
    reply.elapsed = sent_at.elapsed();
    Ok((reply, s))
}

fn write_body(s: &mut TcpStream, send: &Send) -> std::io::Result<()> {
    match send {
        Send::Whole(b) => s.write_all(b),
        Send::Stall { sent, .. } => s.write_all(sent),
        Send::HeadersOnly { .. } => Ok(()),
        Send::Trickle { body, every } => {
            for byte in body {
                s.write_all(std::slice::from_ref(byte))?;
                std::thread::sleep(*every);
            }
            Ok(())
        }
        Send::Chunked { body, chunk } => {
            for piece in body.chunks((*chunk).max(1)) {
                s.write_all(format!("{:x}\r\n", piece.len()).as_bytes())?;
                s.write_all(piece)?;
                s.write_all(b"\r\n")?;
            }
            s.write_all(b"0\r\n\r\n")
        }
    }
}

/// Reads status line, headers and a Content-Length, chunked or read-to-close body.
pub fn read_reply(s: &mut TcpStream) -> std::io::Result<Reply> {
    // One byte at a time through the buffer would be slow; a BufReader over `&TcpStream` may
    // read past this reply only when the server pipelines, which it never does unasked.
    let mut r = BufReader::new(&*s);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status = line.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad status line {line:?}"))
    })?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let find = |name: &str| headers.iter().find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    if let Some(n) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let n = usize::from_str_radix(line.trim(), 16).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            let mut piece = vec![0; n + 2];
            r.read_exact(&mut piece)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&piece[..n]);
        }
    } else {
        r.read_to_end(&mut body)?;
    }
    Ok(Reply { status, headers, body, elapsed: Duration::ZERO })
}

/// Whether the server closed the connection: EOF (or a reset) within `wait`.
pub fn closed(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 1];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}
