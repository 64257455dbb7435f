//! One real `ollmlxd` on a loopback port with its own store, home and log file, plus the
//! HTTP and `ollmlxctl` calls the soak makes against it.
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use super::bins::Binaries;

/// How long the daemon may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Each model's prefix cache: room for a few of the soak's short conversations.
const PREFIX_CACHE: &str = "8MiB";

/// A running daemon; killed on drop.
pub struct Daemon {
    child: Child,
    /// Its pid (for /proc).
    pub pid: u32,
    /// `127.0.0.1:<port>`.
    pub host: String,
    /// The store folder.
    pub models: PathBuf,
    /// stderr of the daemon, line by line.
    pub log: PathBuf,
    home: PathBuf,
    ctl: PathBuf,
    http: reqwest::blocking::Client,
}

/// What one `ollmlxctl` run did.
#[derive(Debug)]
pub struct CtlRun {
    /// Exit code (-1 when killed).
    pub code: i32,
    /// stdout and stderr together.
    pub output: String,
}

impl Daemon {
    /// Starts `ollmlxd` on `models` (under `root`) with this budget and extra environment.
    pub fn start(bins: &Binaries, root: &Path, models: &Path, budget: u64, env: &[(&str, String)]) -> Result<Daemon> {
        let home = root.join("home");
        std::fs::create_dir_all(&home).context("creating the daemon's home")?;
        let log = root.join(format!("ollmlxd-{}.log", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())));
        let mut cmd = Command::new(&bins.daemon);
        cmd.args(["--host", "127.0.0.1:0", "--models"]).arg(models);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OLLMLX_") || k.starts_with("HF_")) {
            cmd.env_remove(k);
        }
        cmd.env("HOME", &home).env("NO_COLOR", "1").env("OLLMLX_LOG", "info");
        cmd.env("OLLMLX_MEMORY_BUDGET", budget.to_string());
        // One prefix-cache size for the calibration daemon and the soak's: its reserve is part
        // of every model's charge, and the default scales with the budget.
        cmd.env("OLLMLX_PREFIX_CACHE", PREFIX_CACHE);
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().with_context(|| format!("starting {}", bins.daemon.display()))?;
        let host = match wait_listening(&mut child, &log) {
            Ok(h) => h,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e.context(tail(&log, 40)));
            }
        };
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build()?;
        Ok(Daemon { pid: child.id(), child, host, models: models.to_path_buf(), log, home, ctl: bins.ctl.clone(), http })
    }

    /// `http://host` + path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host)
    }

    /// GET a JSON document.
    pub fn get(&self, path: &str) -> Result<Value> {
        let r = self.http.get(self.url(path)).send().with_context(|| format!("GET {path}"))?;
        let status = r.status();
        if !status.is_success() {
            bail!("GET {path}: {status}: {}", r.text().unwrap_or_default());
        }
        r.json().with_context(|| format!("GET {path}: not JSON"))
    }

    /// POST a JSON body; returns the status and the body text.
    pub fn post(&self, path: &str, body: &Value) -> Result<(u16, String)> {
        let r = self.http.post(self.url(path)).json(body).send().with_context(|| format!("POST {path}"))?;
        let status = r.status().as_u16();
        Ok((status, r.text().unwrap_or_default()))
    }

    /// Runs `ollmlxctl` against this daemon, killed after `limit`.
    pub fn ctl(&self, args: &[&str], limit: Duration) -> Result<CtlRun> {
        let mut cmd = Command::new(&self.ctl);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OLLMLX_")) {
            cmd.env_remove(k);
        }
        cmd.args(args).env("HOME", &self.home).env("NO_COLOR", "1");
        cmd.env("OLLMLX_HOST", &self.host).env("OLLMLX_MODELS", &self.models);
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().context("starting ollmlxctl")?;
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        let Ok(out) = rx.recv_timeout(limit) else {
            // Only the process started here.
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            return Ok(CtlRun { code: -1, output: format!("ollmlxctl {args:?} ran past {limit:?}") });
        };
        let out = out.context("waiting for ollmlxctl")?;
        let mut output = String::from_utf8_lossy(&out.stdout).into_owned();
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok(CtlRun { code: out.status.code().unwrap_or(-1), output })
    }

    /// Resident set of the daemon in bytes, from /proc.
    pub fn rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log, n)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies stderr into `log` and returns the address from the "ollmlxd listening" line.
fn wait_listening(child: &mut Child, log: &Path) -> Result<String> {
    let stderr = child.stderr.take().context("stderr is piped")?;
    let mut file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = writeln!(file, "{line}");
            if let Some(addr) = listening_address(&line) {
                let _ = tx.send(addr);
            }
        }
    });
    let started = Instant::now();
    rx.recv_timeout(START_TIMEOUT).map_err(|_| anyhow!("ollmlxd did not listen within {:?}", started.elapsed()))
}

/// `127.0.0.1:PORT` from "ollmlxd listening address=...".
fn listening_address(line: &str) -> Option<String> {
    if !line.contains("ollmlxd listening") {
        return None;
    }
    let rest = &line[line.find("address=")? + "address=".len()..];
    Some(rest.split_whitespace().next()?.trim_matches('"').to_string())
}

fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Copies a model folder's top-level files.
pub fn copy_model(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}
