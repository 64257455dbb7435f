//! Starts each server under test on a free loopback port and kills it on drop (a panic unwinds
//! through the drop too). Output goes to a log file whose tail is shown when a start fails.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::args::{Peer, Settings};

/// How a server is reached, cloneable into client threads.
#[derive(Debug, Clone)]
pub struct Target {
    pub peer: Peer,
    pub base: String,
    /// The `model` field its requests carry.
    pub model: String,
}

/// A running server; killed on drop.
pub struct Server {
    pub target: Target,
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The last lines of the server's output.
    pub fn log_tail(&self) -> String {
        let text = fs_read(&self.log());
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

fn fs_read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts `peer` with its prefix/prompt cache on or off (llama.cpp turns it off per request
/// instead, so `prefix_cache` does not change its command line).
pub fn start(peer: Peer, s: &Settings, prefix_cache: bool) -> Result<Server> {
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let (mut cmd, model, health) = match peer {
        Peer::Ours => (ours(s, dir.path(), port, prefix_cache)?, "bench".to_string(), "/"),
        Peer::MlxLm => (mlx_lm(s, port, prefix_cache), "default_model".to_string(), "/health"),
        Peer::LlamaCpp => (llama_cpp(s, port)?, "bench".to_string(), "/health"),
    };
    let log = std::fs::File::create(dir.path().join("server.log"))?;
    cmd.stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    let child = cmd.spawn().with_context(|| format!("spawn {:?}", cmd.get_program()))?;
    let target = Target { peer, base: format!("http://127.0.0.1:{port}"), model };
    let mut server = Server { target, child, dir };
    server.wait_ready(health, Duration::from_secs(900))?;
    Ok(server)
}

impl Server {
    /// Polls `path` until 200 (mlx_lm and llama.cpp answer 503 while loading), bounded.
    fn wait_ready(&mut self, path: &str, limit: Duration) -> Result<()> {
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(5)).build()?;
        let url = format!("{}{path}", self.target.base);
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited ({status}) before it was ready:\n{}", self.target.peer.label(), self.log_tail());
            }
            if http.get(&url).send().is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        bail!("{} not ready after {limit:?}:\n{}", self.target.peer.label(), self.log_tail())
    }
}

/// ollmlxd with a temporary store holding the model as `library/bench` (hard links where the
/// file system allows, so an 8B folder is not copied).
fn ours(s: &Settings, dir: &Path, port: u16, prefix_cache: bool) -> Result<Command> {
    let store = dir.join("models");
    let to = store.join("library/bench");
    std::fs::create_dir_all(&to)?;
    for entry in std::fs::read_dir(&s.model_dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            let dest = to.join(entry.file_name());
            if std::fs::hard_link(entry.path(), &dest).is_err() {
                std::fs::copy(entry.path(), &dest).with_context(|| format!("copy {}", entry.path().display()))?;
            }
        }
    }
    let mut cmd = Command::new(&s.ollmlxd);
    // Settings of the caller's own daemon must not leak in; the rest (PATH, LD_LIBRARY_PATH on
    // the GPU machine) must.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("OLLMLX_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("HOME", dir)
        .env("OLLMLX_HOST", format!("127.0.0.1:{port}"))
        .env("OLLMLX_MODELS", &store)
        .env("OLLMLX_LOG", "warn")
        .env("OLLMLX_NUM_PARALLEL", s.parallel().to_string())
        .env("OLLMLX_PREFIX_CACHE", if prefix_cache { "on" } else { "off" });
    Ok(cmd)
}

/// mlx_lm.server, batching up to `parallel` prompts and decodes; a prompt cache of size 0
/// keeps nothing (its LRU drops every entry on insert).
fn mlx_lm(s: &Settings, port: u16, prefix_cache: bool) -> Command {
    let n = s.parallel().to_string();
    let mut cmd = Command::new(&s.python);
    cmd.args(["-m", "mlx_lm.server", "--host", "127.0.0.1", "--log-level", "WARNING"])
        .arg("--model")
        .arg(&s.mlx_lm_model_dir)
        .args(["--port", &port.to_string(), "--decode-concurrency", &n, "--prompt-concurrency", &n]);
    if !prefix_cache {
        cmd.args(["--prompt-cache-size", "0"]);
    }
    if let Some(lib) = &s.openblas {
        // The mlx-cpu wheel's bundled BLAS is far slower than OpenBLAS (BENCHMARKS.md).
        cmd.env("LD_PRELOAD", lib);
    }
    cmd
}

/// Context per slot: the prefix measure's conversation plus its answers, with room to spare.
const LLAMA_CTX_PER_SLOT: usize = 4096;

fn llama_cpp(s: &Settings, port: u16) -> Result<Command> {
    let gguf = s.gguf.as_ref().map_err(|why| anyhow::anyhow!("{why}"))?;
    if !s.llama_server.exists() {
        bail!("{} not built (run scripts/build-peers.sh)", s.llama_server.display());
    }
    let n = s.parallel();
    let mut cmd = Command::new(&s.llama_server);
    cmd.arg("-m")
        .arg(gguf)
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--no-webui"])
        .args(["-np", &n.to_string(), "-c", &(n * LLAMA_CTX_PER_SLOT).to_string()]);
    if let Some(t) = s.threads {
        cmd.args(["-t", &t.to_string()]);
    }
    Ok(cmd)
}

/// Why a peer cannot run here, if it cannot (checked before starting anything).
pub fn unavailable(peer: Peer, s: &Settings) -> Option<String> {
    match peer {
        Peer::Ours => None,
        Peer::MlxLm => {
            let ok = Command::new(&s.python)
                .args(["-c", "import mlx_lm.server"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|st| st.success());
            (!ok).then(|| format!("{} cannot import mlx_lm.server", s.python.display()))
        }
        Peer::LlamaCpp => match &s.gguf {
            Err(why) => Some(why.clone()),
            Ok(_) if !s.llama_server.exists() => {
                Some(format!("{} not built (run scripts/build-peers.sh)", s.llama_server.display()))
            }
            Ok(_) => None,
        },
    }
}

/// Makes sure the ollmlxd binary exists (built in release when missing or asked to).
pub fn ensure_ollmlxd(s: &Settings) -> Result<()> {
    if s.ollmlxd.exists() && !s.rebuild {
        return Ok(());
    }
    let default = s.root.join("target/release/ollmlxd");
    if s.ollmlxd != default {
        bail!("{} not found", s.ollmlxd.display());
    }
    eprintln!("building ollmlxd: cargo build --release -p ollmlx-daemon");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "-p", "ollmlx-daemon"])
        .current_dir(&s.root)
        .status()
        .context("run cargo")?;
    if !status.success() {
        bail!("cargo build --release -p ollmlx-daemon failed ({status})");
    }
    Ok(())
}
