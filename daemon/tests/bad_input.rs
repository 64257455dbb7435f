//! Bad input gets a 4xx with `{"error": "..."}` naming the problem, and the daemon stays up.

mod common;

use std::process::Command;

use serde_json::{json, Value};

fn error_of(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_else(|| panic!("no error in {v}"))
}

#[test]
fn malformed_and_mistyped_bodies() {
    let mut d = common::start(&[("tiny-llama", "tiny-llama-f32")], &[]);
    let (s, v) = d.post_raw("/api/generate", "{not json");
    assert_eq!(s, 400);
    assert!(error_of(&v).contains("invalid JSON"), "{v}");
    let (s, v) = d.post_raw("/api/chat", "");
    assert_eq!((s, error_of(&v)), (400, "missing request body"));
    let (s, v) = d.post("/api/generate", &json!({"model": "tiny-llama", "prompt": "x", "stream": "yes"}));
    assert_eq!(s, 400);
    assert!(error_of(&v).contains("stream"), "{v}");
    let (s, v) = d.post("/api/chat", &json!({"model": "tiny-llama", "messages": "hello"}));
    assert_eq!(s, 400);
    assert!(error_of(&v).contains("messages"), "{v}");
    let (s, v) = d.post("/api/generate", &json!({"model": "tiny-llama", "prompt": "x", "options": {"temperature": "hot"}}));
    assert_eq!(s, 400);
    assert!(error_of(&v).contains("temperature"), "{v}");
    let (s, v) = d.post("/api/generate", &json!({"model": "tiny-llama", "prompt": "x", "keep_alive": "soon"}));
    assert_eq!(s, 400);
    assert!(error_of(&v).contains("soon"), "{v}");
    let (s, v) = d.post("/api/generate", &json!({"model": "tiny-llama", "prompt": "x", "format": "yaml"}));
    assert_eq!(s, 400);
    assert!(error_of(&v).contains("format"), "{v}");
    let (s, v) = d.post("/api/generate", &json!({"prompt": "x"}));
    assert_eq!((s, error_of(&v)), (400, "model is required"));
    assert!(d.is_running());
    assert_eq!(d.get("/api/version").0, 200);
}

#[test]
fn unknown_models_and_bad_names() {
    let mut d = common::start(&[("tiny-llama", "tiny-llama-f32")], &[]);
    for (path, body) in [
        ("/api/generate", json!({"model": "x", "prompt": "hi"})),
        ("/api/chat", json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]})),
        ("/api/show", json!({"model": "x"})),
        ("/api/embed", json!({"model": "x", "input": "hi"})),
    ] {
        let (s, v) = d.post(path, &body);
        assert_eq!((s, error_of(&v)), (404, "model 'x' not found"), "{path}");
    }
    for name in ["../etc/passwd", "a/../../b", "..", "a/b/c/d", "bad name"] {
        let (s, v) = d.post("/api/generate", &json!({"model": name, "prompt": "hi"}));
        assert_eq!(s, 400, "{name}: {v}");
        assert!(error_of(&v).contains("invalid model name"), "{v}");
    }
    assert!(d.is_running());
}

#[test]
fn absurd_options_are_named() {
    let mut d = common::start(&[("tiny-llama", "tiny-llama-f32")], &[]);
    for (opts, name) in [
        (json!({"num_predict": -5}), "num_predict"),
        (json!({"top_p": 7}), "top_p"),
        (json!({"num_ctx": 1_000_000_000u64}), "num_ctx"),
        (json!({"temperature": -2}), "temperature"),
    ] {
        let (s, v) = d.post("/api/generate", &json!({"model": "tiny-llama", "prompt": "hi", "options": opts}));
        assert_eq!(s, 400, "{v}");
        assert!(error_of(&v).contains(name), "{v}");
    }
    let (s, v) = d.post("/v1/chat/completions", &json!({"model": "tiny-llama", "messages": [{"role": "user", "content": "x"}], "top_p": 7}));
    assert_eq!(s, 400);
    assert!(v["error"]["message"].as_str().unwrap().contains("top_p"), "{v}");
    assert!(d.is_running());
}

#[test]
fn capabilities_the_model_lacks_are_clear_400s() {
    let d = common::start(&[("tiny-llama", "tiny-llama-f32")], &[]);
    let (s, v) = d.post("/api/generate", &json!({"model": "tiny-llama", "prompt": "what is this", "images": ["aGVsbG8="]}));
    assert_eq!(s, 400);
    assert!(error_of(&v).contains("does not support images"), "{v}");
    let (s, v) = d.post("/api/chat", &json!({"model": "tiny-llama", "think": true, "messages": [{"role": "user", "content": "x"}]}));
    assert_eq!(s, 400);
    assert!(error_of(&v).contains("does not support thinking"), "{v}");
    let tools = json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]);
    let (s, v) = d.post("/api/chat", &json!({"model": "tiny-llama", "tools": tools, "messages": [{"role": "user", "content": "x"}]}));
    assert_eq!(s, 400);
    assert!(error_of(&v).contains("does not support tools"), "{v}");
    let (s, v) = d.post("/api/generate", &json!({"model": "tiny-llama", "prompt": "x".repeat(3000), "options": {"num_ctx": 64}}));
    assert_eq!(s, 400);
    assert!(error_of(&v).contains("64"), "{v}");
}

#[test]
fn foreign_host_headers_are_refused() {
    let d = common::start(&[], &[]);
    let r = d.http.get(d.url("/api/version")).header("Host", "evil.example.com").send().unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = d.http.get(d.url("/api/version")).header("Host", "localhost:11434").send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let preflight = |origin: &str| d.preflight("/v1/chat/completions", origin, "content-type,x-stainless-os");
    let ok = preflight("http://localhost:3000");
    assert_eq!(ok.headers()["access-control-allow-origin"], "http://localhost:3000");
    assert!(ok.headers()["access-control-allow-headers"].to_str().unwrap().contains("x-stainless-os"));
    assert!(!preflight("http://evil.example.com").headers().contains_key("access-control-allow-origin"));
}

#[test]
fn invalid_settings_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in [("OLLMLX_MEMORY_BUDGET", "lots"), ("OLLMLX_KEEP_ALIVE", "soon"), ("OLLMLX_HOST", "127.0.0.1:99999"), ("OLLMLX_MAX_QUEUE", "-3")] {
        let out = Command::new(env!("CARGO_BIN_EXE_ollmlxd"))
            .env_clear()
            .env("HOME", dir.path())
            .env("OLLMLX_MODELS", dir.path().join("m"))
            .env(key, value)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{key}={value} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key) && err.contains(value), "{key}: {err}");
    }
    std::fs::write(dir.path().join("bad.toml"), "memory_budgte = 1").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ollmlxd")).env_clear().env("HOME", dir.path())
        .args(["--config", dir.path().join("bad.toml").to_str().unwrap()]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("memory_budgte"));
}
