//! Daemons that come and go on one store: a [`Node`] owns the folder, each [`Proc`] is one
//! `ollmlxd` on it, and `kill9` ends one the way a crash or an OOM kill would.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A store folder that outlives the daemons started on it.
pub struct Node {
    pub root: tempfile::TempDir,
    pub store: PathBuf,
}

/// One running daemon; killed (SIGKILL) on drop.
pub struct Proc {
    pub base: String,
    pub addr: SocketAddr,
    pub http: reqwest::blocking::Client,
    child: Child,
    log: PathBuf,
}

impl Node {
    pub fn new() -> Node {
        let root = tempfile::tempdir().unwrap();
        let store = root.path().join("models");
        std::fs::create_dir_all(&store).unwrap();
        Node { root, store }
    }

    /// Copies a fixture into the store as `library/<name>`.
    pub fn add_fixture(&self, name: &str, fixture: &str) {
        crate::common::copy_dir(&crate::common::fixture(fixture), &self.store.join("library").join(name));
    }

    /// Starts a daemon on the store (logs appended to `<root>/daemon.log`) and waits until it
    /// answers.
    pub fn start(&self, env: &[(&str, &str)]) -> Proc {
        let proc = self.spawn(env);
        crate::common::wait_serving(&proc.http, &proc.base, || proc.log());
        proc
    }

    /// Starts a daemon without waiting for it.
    pub fn spawn(&self, env: &[(&str, &str)]) -> Proc {
        let port = crate::common::free_port();
        let log = self.root.path().join("daemon.log");
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let mut cmd = crate::common::ollmlxd(self.root.path(), &self.store, port, file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn ollmlxd");
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(300)).build().unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        Proc { base: format!("http://{addr}"), addr, http, child, log }
    }

    /// Visible (non-hidden) `org/model` folders of the store.
    pub fn folders(&self) -> Vec<String> {
        let mut out = Vec::new();
        for org in std::fs::read_dir(&self.store).unwrap().flatten().filter(|e| e.path().is_dir()) {
            let org_name = org.file_name().to_string_lossy().into_owned();
            if org_name.starts_with('.') {
                continue;
            }
            for m in std::fs::read_dir(org.path()).unwrap().flatten() {
                out.push(format!("{org_name}/{}", m.file_name().to_string_lossy()));
            }
        }
        out.sort();
        out
    }
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        let r = self.http.get(self.url(path)).send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self.http.post(self.url(path)).json(body).send().unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    /// Model names in /api/tags, sorted.
    pub fn tags(&self) -> Vec<String> {
        let (status, v) = self.get("/api/tags");
        assert_eq!(status, 200, "{v}");
        let mut names: Vec<String> = v["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap().to_string()).collect();
        names.sort();
        names
    }

    /// A greedy generation's text.
    pub fn greedy(&self, model: &str, prompt: &str, n: u32) -> String {
        let body = serde_json::json!({"model": model, "prompt": prompt, "stream": false,
            "options": {"num_predict": n, "temperature": 0, "seed": 1}});
        let (status, v) = self.post("/api/generate", &body);
        assert_eq!(status, 200, "{v}\n{}", self.log());
        assert_eq!(v["done"], true, "{v}");
        v["response"].as_str().unwrap().to_string()
    }

    /// Opens an NDJSON stream and hands its lines to `each` until it returns false.
    pub fn stream(&self, method: reqwest::Method, path: &str, body: Option<&Value>, mut each: impl FnMut(&Value) -> bool) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { return };
            let v: Value = serde_json::from_str(&line).unwrap();
            if !each(&v) {
                return;
            }
        }
    }

    /// Sends SIGKILL without waiting (usable while a request on this daemon is being read).
    pub fn sigkill(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill(2) with a pid we spawned and have not reaped; it touches no memory.
        #[allow(unsafe_code)]
        let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(rc, 0, "kill -9 {pid}");
    }

    /// SIGKILL now (no drain, no destructors, no unlock) and wait until the process is gone.
    pub fn kill9(mut self) -> std::process::ExitStatus {
        let _ = self.child.kill();
        self.child.wait().unwrap()
    }

    /// The exit status once the process ends, if it does within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
