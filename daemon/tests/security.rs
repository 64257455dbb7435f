//! Who can reach what, through the real daemon: CORS with `OLLMLX_ORIGINS`, the body limit and
//! read timeout (slow clients get 408 without holding anyone else up, streams are never cut),
//! and the `/ollmlx/` control endpoints refused to a non-loopback peer unless
//! `OLLMLX_CONTROL_REMOTE=1` (proved inside a private network namespace, with a second,
//! non-loopback address).

mod common;
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::raw::{self, Send};

fn addr_of(d: &common::Daemon) -> SocketAddr {
    d.base.trim_start_matches("http://").parse().unwrap()
}

#[test]
fn cors_allows_default_and_configured_origins_only() {
    let d = common::start(&[], &[("OLLMLX_ORIGINS", "chrome-extension://*, https://app.example.com")]);
    let preflight = |origin: &str| d.preflight("/api/chat", origin, "content-type,authorization");
    for allowed in ["https://app.example.com", "https://app.example.com:8443", "chrome-extension://abcdef", "http://localhost:3000", "http://127.0.0.1:8080", "app://x"] {
        let r = preflight(allowed);
        assert!(r.status().is_success(), "{allowed}: {}", r.status());
        assert_eq!(r.headers()["access-control-allow-origin"], allowed);
        assert!(r.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
        assert!(r.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    }
    for refused in ["https://evil.example.com", "https://app.example.com.evil.com", "http://localhost.evil.com", "null", "https://example.com"] {
        let r = preflight(refused);
        assert!(!r.headers().contains_key("access-control-allow-origin"), "{refused} was allowed");
    }
    // A simple request: the answer is there either way, the header decides whether a page may read it.
    let get = |origin: &str| d.http.get(d.url("/api/version")).header("Origin", origin).send().unwrap();
    assert_eq!(get("https://app.example.com").headers()["access-control-allow-origin"], "https://app.example.com");
    assert!(!get("https://evil.example.com").headers().contains_key("access-control-allow-origin"));
}

#[test]
fn the_default_body_limit_is_64_mib() {
    let d = common::start(&[], &[]);
    let over = raw::exchange(addr_of(&d), "POST", "/api/generate", &[], &Send::HeadersOnly { declared: (64 << 20) + 1 }, Duration::from_secs(10));
    assert_eq!(over.status, 413, "{}", over.text());
    assert!(over.json()["error"].as_str().unwrap().contains("64.0 MiB"), "{}", over.text());
    let v1 = raw::exchange(addr_of(&d), "POST", "/v1/chat/completions", &[], &Send::HeadersOnly { declared: 1 << 30 }, Duration::from_secs(10));
    assert_eq!(v1.status, 413);
    assert_eq!(v1.json()["error"]["type"], "invalid_request_error", "{}", v1.text());
}

#[test]
fn slow_bodies_time_out_without_holding_up_others() {
    let d = common::start(&[("tiny-llama", "tiny-llama-f32")], &[("OLLMLX_READ_TIMEOUT", "2s")]);
    let addr = addr_of(&d);
    let body = serde_json::to_vec(&json!({"model": "tiny-llama", "prompt": "hi"})).unwrap();
    // More stalled clients than the daemon has worker threads.
    let stalled: Vec<_> = (0..16)
        .map(|_| {
            let send = Send::Stall { declared: body.len(), sent: body[..5].to_vec() };
            std::thread::spawn(move || raw::try_exchange(addr, "POST", "/api/generate", &[], &send, Duration::from_secs(30)))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(d.get("/api/version").0, 200);
    let (status, v) = d.generate("tiny-llama", json!({}));
    assert_eq!(status, 200, "{v}");
    assert!(t.elapsed() < Duration::from_secs(2), "others were held up: {:?}", t.elapsed());
    for s in stalled {
        let (reply, mut conn) = s.join().unwrap().unwrap();
        assert_eq!(reply.status, 408, "{}", reply.text());
        assert!(reply.elapsed >= Duration::from_millis(1500) && reply.elapsed < Duration::from_secs(10), "{:?}", reply.elapsed);
        assert_eq!(reply.header("connection"), Some("close"));
        assert!(raw::closed(&mut conn, Duration::from_secs(5)), "the server keeps a timed-out connection open");
    }
}

#[test]
fn streams_outlive_the_read_timeout() {
    let d = common::start(&[("tiny-llama", "tiny-llama-f32")], &[("OLLMLX_READ_TIMEOUT", "1s")]);
    let started = Instant::now();
    let body = json!({"model": "tiny-llama", "prompt": "Once", "options": {"num_predict": 30, "temperature": 0}});
    let r = d.http.post(d.url("/api/generate")).json(&body).send().unwrap();
    let mut lines = Vec::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(r)) {
        lines.push(serde_json::from_str::<Value>(&line.unwrap()).unwrap());
        std::thread::sleep(Duration::from_millis(100)); // a slow reader
    }
    assert!(started.elapsed() > Duration::from_secs(3), "{:?}", started.elapsed());
    let last = lines.last().unwrap();
    assert_eq!((last["done"].as_bool(), last["eval_count"].as_u64()), (Some(true), Some(30)), "{last}");
    // An idle event stream stays open past the timeout and still delivers.
    let events = d.http.get(d.url("/ollmlx/events")).send().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(d.post("/ollmlx/unload", &json!({"model": "tiny-llama"})).0, 200);
    let mut events = std::io::BufRead::lines(std::io::BufReader::new(events));
    let first: Value = serde_json::from_str(&events.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["event"], "unloaded", "{first}");
}

/// Inside a private network namespace (nothing leaves it, nothing outside sees it): its
/// loopback device also carries 10.231.0.1, a non-loopback address. A daemon bound to 0.0.0.0
/// sees requests to 10.231.0.1 come from 10.231.0.1 (the guard decides on the peer's address,
/// whatever the interface) and requests to 127.0.0.1 from loopback.
#[cfg(target_os = "linux")]
#[test]
fn control_endpoints_refuse_remote_peers() {
    // Runs on its own thread: a network namespace belongs to the thread that enters it, and
    // the processes it spawns.
    let outcome = std::thread::spawn(|| {
        if !enter_private_network() {
            return false;
        }
        for (env, remote_status) in [(None, 403), (Some(("OLLMLX_CONTROL_REMOTE", "1")), 200)] {
            check_peers(env, remote_status);
        }
        true
    })
    .join()
    .unwrap();
    if !outcome {
        eprintln!("SKIPPED: no CAP_SYS_ADMIN for a private network namespace; the peer decision is unit-tested in routes::guard");
    }
}

#[cfg(target_os = "linux")]
const OTHER_IP: &str = "10.231.0.1";

/// `unshare(CLONE_NEWNET)` for this thread, then lo up with a second address; false without
/// the privilege.
#[cfg(target_os = "linux")]
fn enter_private_network() -> bool {
    #[allow(unsafe_code)]
    // SAFETY: unshare takes a flag and touches no memory; it affects only the calling thread.
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
    if rc != 0 {
        return false;
    }
    for args in [vec!["link", "set", "lo", "up"], vec!["addr", "add", &format!("{OTHER_IP}/32"), "dev", "lo"]] {
        let ok = std::process::Command::new("ip").args(&args).status().is_ok_and(|s| s.success());
        assert!(ok, "ip {args:?}");
    }
    true
}

#[cfg(target_os = "linux")]
fn check_peers(env: Option<(&str, &str)>, remote_status: u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ollmlxd"));
    cmd.env_clear()
        .env("HOME", dir.path())
        .env("OLLMLX_HOST", format!("0.0.0.0:{port}"))
        .env("OLLMLX_MODELS", dir.path().join("models"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let local: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let remote: SocketAddr = format!("{OTHER_IP}:{port}").parse().unwrap();
    let get = |addr, path| raw::try_exchange(addr, "GET", path, &[], &Send::Whole(Vec::new()), Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(local, "/api/version").is_err() {
        assert!(Instant::now() < deadline, "ollmlxd did not start in the namespace");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(local, "/ollmlx/status").unwrap().0.status, 200);
    assert_eq!(get(remote, "/api/version").unwrap().0.status, 200, "the Ollama API stays open to remote clients");
    // The event stream never ends when allowed: only its refusal is read whole.
    let paths: &[&str] = if remote_status == 403 { &["/ollmlx/status", "/ollmlx/events"] } else { &["/ollmlx/status"] };
    for path in paths {
        let reply = get(remote, path).unwrap().0;
        assert_eq!(reply.status, remote_status, "{path}: {}", reply.text());
        if remote_status == 403 {
            let error = reply.json()["error"].as_str().unwrap_or_default().to_string();
            assert!(error.contains(OTHER_IP) && error.contains("OLLMLX_CONTROL_REMOTE"), "{error}");
        }
    }
    let load = raw::try_exchange(remote, "POST", "/ollmlx/unload", &[], &Send::Whole(br#"{"all":true}"#.to_vec()), Duration::from_secs(30));
    assert_eq!(load.unwrap().0.status, remote_status);
    let _ = child.kill();
    let _ = child.wait();
}
