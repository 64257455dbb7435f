//! Commands with progress: `pull` (streams `/api/pull` lines) and `import` (converts a GGUF
//! file into the store). Progress goes to stderr: bars on a terminal, one line per new status
//! otherwise; the final `success` goes to stdout.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ollmlx_api::ollama::{ProgressResponse, PullRequest};
use ollmlx_store::{ModelName, Store, StoreConfig, StoreError};

use super::emit;
use crate::client::Client;
use reqwest::Method;
use crate::exit::Failure;
use crate::table;

/// The store folder variable `import` writes into (the daemon reads the same one).
const MODELS_VAR: &str = "OLLMLX_MODELS";

/// Progress display for a sequence of Ollama progress lines.
struct Progress {
    multi: MultiProgress,
    /// One bar per file digest (or per status, for counted steps without a file).
    bars: HashMap<String, ProgressBar>,
    /// The spinner of the current digest-less status.
    spinner: Option<ProgressBar>,
    tty: bool,
    last_status: String,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            multi: MultiProgress::new(),
            bars: HashMap::new(),
            spinner: None,
            tty: std::io::stderr().is_terminal(),
            last_status: String::new(),
        }
    }

    fn update(&mut self, p: &ProgressResponse) {
        if p.status != self.last_status {
            self.last_status.clone_from(&p.status);
            if !self.tty && p.status != "success" {
                eprintln!("{}", p.status);
            }
        }
        match p.total {
            Some(total) => {
                let key = p.digest.clone().unwrap_or_else(|| p.status.clone());
                let bar = self.bars.entry(key).or_insert_with(|| {
                    if let Some(s) = self.spinner.take() {
                        s.finish();
                    }
                    let style = ProgressStyle::with_template("{msg} {bar:30} {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} {eta}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar());
                    self.multi.add(ProgressBar::new(total).with_style(style))
                });
                bar.set_length(total);
                bar.set_position(p.completed.unwrap_or(0));
                bar.set_message(p.status.clone());
            }
            _ if p.status == "success" => {}
            _ => {
                if let Some(s) = self.spinner.take() {
                    s.finish();
                }
                let s = self.multi.add(ProgressBar::new_spinner());
                s.set_message(p.status.clone());
                s.enable_steady_tick(std::time::Duration::from_millis(120));
                self.spinner = Some(s);
            }
        }
    }

    fn finish(&mut self) {
        for bar in self.bars.values() {
            bar.finish();
        }
        if let Some(s) = self.spinner.take() {
            s.finish();
        }
    }
}

/// `pull NAME`.
pub fn pull(name: &str) -> Result<()> {
    let client = Client::from_env()?;
    let req = PullRequest { model: name.to_string(), insecure: false, stream: Some(true) };
    let mut progress = Progress::new();
    let mut succeeded = false;
    for line in client.stream::<_, ProgressResponse>(Method::POST, "/api/pull", Some(&req))? {
        let line = line.map_err(|e| {
            progress.finish();
            e.context(format!("pulling {name}"))
        })?;
        progress.update(&line);
        succeeded = line.status == "success";
    }
    progress.finish();
    if !succeeded {
        return Err(anyhow!("pulling {name}: the daemon ended the stream without success"));
    }
    emit("success\n")
}

/// `OLLMLX_MODELS`, else `~/.ollmlx/models` (as the daemon resolves it).
fn models_dir() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    if let Some(dir) = std::env::var(MODELS_VAR).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
        return Ok(match (dir.strip_prefix("~/"), home) {
            (Some(rest), Some(h)) => h.join(rest),
            _ => PathBuf::from(dir),
        });
    }
    home.map(|h| h.join(".ollmlx/models")).ok_or_else(|| anyhow!("cannot find the home folder; set {MODELS_VAR}"))
}

/// `import FILE NAME`: converts the GGUF file straight into the store the daemon serves from
/// (the daemon has no import endpoint; its store watcher picks the new model up).
pub fn import(file: &Path, name: &str) -> Result<()> {
    ModelName::parse(name).map_err(|e| Failure::Usage(format!("{name:?}: {e}")))?;
    if !file.is_file() {
        return Err(anyhow!("{}: no such file", file.display()));
    }
    let dir = models_dir()?;
    let store = Store::open(StoreConfig::from_env(dir.clone())).with_context(|| format!("opening the store {}", dir.display()))?;
    let mut progress = Progress::new();
    let result = store.import_gguf(file, name, &mut |p| {
        progress.update(&ProgressResponse { status: p.status, digest: p.digest, total: p.total, completed: p.completed });
    });
    progress.finish();
    let entry = result.map_err(|e| match e {
        StoreError::InvalidName(e) => anyhow!(Failure::Usage(e.to_string())),
        e => anyhow!(e),
    })
    .with_context(|| format!("importing {}", file.display()))?;
    emit(&format!("imported {} ({}) into {}\nsuccess\n", entry.name, table::bytes(entry.size), dir.display()))
}
