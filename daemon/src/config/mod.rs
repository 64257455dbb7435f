//! Settings in two stages: raw values from flags, the environment and config.toml (flags win
//! over env, env over the file), then one validated [`Settings`]. An invalid value stops the
//! start with a message naming where it came from.

pub mod batching;
pub mod file;
pub mod limits;
pub mod parse;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use ollmlx_api::{KeepAlive, Options};

use crate::env::{self, EnvVar};
use file::FileConfig;

/// Command-line flags (each overrides its environment variable).
#[derive(Debug, Default, Parser)]
#[command(name = "ollmlxd", version, about = "Serve the Ollama API from MLX models kept resident under a memory budget")]
#[command(after_help = env::help())]
pub struct Flags {
    /// Listen address (OLLMLX_HOST).
    #[arg(long)]
    pub host: Option<String>,
    /// Model store folder (OLLMLX_MODELS).
    #[arg(long)]
    pub models: Option<String>,
    /// Memory budget: bytes, "12GiB" or "60%" (OLLMLX_MEMORY_BUDGET).
    #[arg(long)]
    pub memory_budget: Option<String>,
    /// Default keep_alive (OLLMLX_KEEP_ALIVE).
    #[arg(long)]
    pub keep_alive: Option<String>,
    /// Most models loaded at once (OLLMLX_MAX_LOADED).
    #[arg(long)]
    pub max_loaded: Option<String>,
    /// Requests waiting for a model before 503 (OLLMLX_MAX_QUEUE).
    #[arg(long)]
    pub max_queue: Option<String>,
    /// Extra CORS origins, comma-separated (OLLMLX_ORIGINS).
    #[arg(long)]
    pub origins: Option<String>,
    /// Default num_ctx (OLLMLX_CONTEXT_LENGTH).
    #[arg(long)]
    pub context_length: Option<String>,
    /// Wait for room and a load at most this long (OLLMLX_LOAD_TIMEOUT).
    #[arg(long)]
    pub load_timeout: Option<String>,
    /// On SIGTERM, wait this long for in-flight requests (OLLMLX_EXIT_TIMEOUT).
    #[arg(long)]
    pub exit_timeout: Option<String>,
    /// Write the log to this file, rotated by size (OLLMLX_LOG_FILE; default stderr).
    #[arg(long)]
    pub log_file: Option<String>,
    /// Largest request body, e.g. "64MiB" (OLLMLX_MAX_BODY).
    #[arg(long)]
    pub max_body: Option<String>,
    /// Time to receive a request body after its headers (OLLMLX_READ_TIMEOUT).
    #[arg(long)]
    pub read_timeout: Option<String>,
    /// Let non-loopback clients use /ollmlx/ (OLLMLX_CONTROL_REMOTE; the bare flag means true).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub control_remote: Option<String>,
    /// Sequences per model batched together (OLLMLX_NUM_PARALLEL).
    #[arg(long)]
    pub num_parallel: Option<String>,
    /// Prefix-cache bytes per model, or "off" (OLLMLX_PREFIX_CACHE).
    #[arg(long)]
    pub prefix_cache: Option<String>,
    /// Config file (OLLMLX_CONFIG; default ~/.ollmlx/config.toml).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Per-model settings from the config file.
#[derive(Debug, Clone, Default)]
pub struct ModelSettings {
    /// Keep-alive for this model.
    pub keep_alive: Option<KeepAlive>,
    /// Pinned when loaded.
    pub pinned: bool,
    /// Default options.
    pub options: Options,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address.
    pub host: SocketAddr,
    /// Store folder.
    pub models_dir: PathBuf,
    /// Bytes models may occupy.
    pub memory_budget: u64,
    /// Physical memory of the machine.
    pub total_memory: u64,
    /// Default keep-alive.
    pub keep_alive: KeepAlive,
    /// Extra cap on loaded models.
    pub max_loaded: Option<usize>,
    /// Requests that may wait for a model.
    pub max_queue: usize,
    /// Extra CORS origins.
    pub origins: Vec<String>,
    /// Default num_ctx.
    pub context_length: usize,
    /// Bound on waiting for room + load.
    pub load_timeout: Duration,
    /// Bound on draining in-flight requests at shutdown.
    pub exit_timeout: Duration,
    /// The daemon's own log file (rotated by size); `None` logs to stderr.
    pub log_file: Option<PathBuf>,
    /// Body size and read-time limits, and the reach of `/ollmlx/`.
    pub limits: limits::Limits,
    /// Continuous batching and the prefix cache.
    pub batching: batching::Batching,
    /// Per-model settings keyed by the store key (`ModelName::key`).
    pub models: HashMap<String, ModelSettings>,
}

/// Default share of physical memory for the budget: leaves room for the OS and other apps,
/// close to Metal's recommended working set on Apple silicon.
const DEFAULT_BUDGET_PERCENT: u64 = 70;
const DEFAULT_MAX_QUEUE: usize = 512;
const DEFAULT_CONTEXT: usize = 4096;
/// Under systemd's default 90 s stop timeout and launchd's 20 s + grace, long enough for most
/// answers to finish.
const DEFAULT_EXIT_TIMEOUT: Duration = Duration::from_secs(25);

impl Settings {
    /// Flags, then environment, then the config file, validated.
    pub fn load(flags: Flags, total_memory: u64) -> anyhow::Result<Settings> {
        let config_path = flags.config.clone().or_else(|| env::get(env::CONFIG).map(PathBuf::from));
        let file = match &config_path {
            Some(p) => FileConfig::read(p, true)?,
            None => match env::ollmlx_dir() {
                Some(dir) => FileConfig::read(&dir.join("config.toml"), false)?,
                None => FileConfig::default(),
            },
        };
        Self::from_layers(&flags, &file, total_memory)
    }

    fn from_layers(flags: &Flags, file: &FileConfig, total_memory: u64) -> anyhow::Result<Settings> {
        let text = |f: &Option<String>, var: EnvVar, key: &str, fv: Option<String>| layer(f, var, key, fv);
        let host = match text(&flags.host, env::HOST, "host", file.host.clone()) {
            Some((v, from)) => parse::host(&v).map_err(|e| anyhow!("{from}: {e}"))?,
            None => SocketAddr::from(([127, 0, 0, 1], parse::DEFAULT_PORT)),
        };
        let models_dir = match text(&flags.models, env::MODELS, "models", file.models.clone()) {
            Some((v, _)) => expand_home(&v),
            None => env::ollmlx_dir().context("cannot find the home folder; set OLLMLX_MODELS")?.join("models"),
        };
        let budget = text(&flags.memory_budget, env::MEMORY_BUDGET, "memory_budget", scalar(&file.memory_budget));
        let memory_budget = match budget {
            Some((v, from)) => parse::bytes(&v, total_memory).map_err(|e| anyhow!("{from}: {e}"))?,
            None => total_memory / 100 * DEFAULT_BUDGET_PERCENT,
        };
        if memory_budget == 0 {
            bail!("the memory budget is 0 bytes; set OLLMLX_MEMORY_BUDGET (e.g. \"8GiB\" or \"60%\")");
        }
        let keep_alive = match text(&flags.keep_alive, env::KEEP_ALIVE, "keep_alive", scalar(&file.keep_alive)) {
            Some((v, from)) => KeepAlive::parse(&v).map_err(|e| anyhow!("{from}: {e}"))?,
            None => KeepAlive::For(Duration::from_secs(300)),
        };
        let count = |f, var, key, fv| -> anyhow::Result<Option<usize>> {
            text(f, var, key, fv).map(|(v, from)| parse::count(&v).map_err(|e| anyhow!("{from}: {e}"))).transpose()
        };
        let max_loaded = count(&flags.max_loaded, env::MAX_LOADED, "max_loaded", scalar(&file.max_loaded))?
            .filter(|n| *n > 0);
        let max_queue =
            count(&flags.max_queue, env::MAX_QUEUE, "max_queue", scalar(&file.max_queue))?.unwrap_or(DEFAULT_MAX_QUEUE);
        if max_queue == 0 {
            bail!("OLLMLX_MAX_QUEUE must be at least 1");
        }
        let context_length = count(&flags.context_length, env::CONTEXT_LENGTH, "context_length", scalar(&file.context_length))?
            .unwrap_or(DEFAULT_CONTEXT);
        if context_length == 0 || i64::try_from(context_length).map_or(true, |c| c > ollmlx_api::options::MAX_NUM_CTX) {
            bail!("OLLMLX_CONTEXT_LENGTH must be between 1 and {}", ollmlx_api::options::MAX_NUM_CTX);
        }
        let load_timeout = match text(&flags.load_timeout, env::LOAD_TIMEOUT, "load_timeout", scalar(&file.load_timeout)) {
            Some((v, from)) => match KeepAlive::parse(&v).map_err(|e| anyhow!("{from}: {e}"))? {
                KeepAlive::For(d) if !d.is_zero() => d,
                _ => bail!("{from}: the load timeout must be a positive duration"),
            },
            None => Duration::from_secs(300),
        };
        let exit_timeout = match text(&flags.exit_timeout, env::EXIT_TIMEOUT, "exit_timeout", scalar(&file.exit_timeout)) {
            Some((v, from)) => match KeepAlive::parse(&v).map_err(|e| anyhow!("{from}: {e}"))? {
                KeepAlive::For(d) => d,
                KeepAlive::Forever => bail!("{from}: the exit timeout must be a duration (0 stops at once)"),
            },
            None => DEFAULT_EXIT_TIMEOUT,
        };
        let log_file = text(&flags.log_file, env::LOG_FILE, "log_file", file.log_file.clone()).map(|(v, _)| expand_home(&v));
        let origins = origins(flags, file);
        let limits = limits::from_layers(flags, file)?;
        let batching = batching::from_layers(flags, file, memory_budget)?;
        let models = model_settings(file)?;
        Ok(Settings {
            host, models_dir, memory_budget, total_memory, keep_alive, max_loaded, max_queue, origins,
            context_length, load_timeout, exit_timeout, log_file, limits, batching, models,
        })
    }

    /// Settings of one model by its store key (`ModelName::key`).
    pub fn model(&self, key: &str) -> Option<&ModelSettings> {
        self.models.get(key)
    }
}

/// The first layer that sets a value, with a description of where it came from.
fn layer(flag: &Option<String>, var: EnvVar, key: &str, file: Option<String>) -> Option<(String, String)> {
    if let Some(v) = flag {
        return Some((v.clone(), format!("--{}", key.replace('_', "-"))));
    }
    if let Some(v) = env::get(var) {
        return Some((v, var.name.to_string()));
    }
    file.map(|v| (v, format!("config.toml key {key:?}")))
}

fn scalar(s: &Option<file::Scalar>) -> Option<String> {
    s.as_ref().map(file::Scalar::text)
}

fn origins(flags: &Flags, file: &FileConfig) -> Vec<String> {
    let text = flags.origins.clone().or_else(|| env::get(env::ORIGINS));
    let list: Vec<String> = match (text, &file.origins) {
        (Some(t), _) => t.split(',').map(str::to_string).collect(),
        (None, Some(file::Origins::Text(t))) => t.split(',').map(str::to_string).collect(),
        (None, Some(file::Origins::List(l))) => l.clone(),
        (None, None) => Vec::new(),
    };
    list.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
}

fn model_settings(file: &FileConfig) -> anyhow::Result<HashMap<String, ModelSettings>> {
    let mut out = HashMap::new();
    for (name, m) in &file.model {
        let canonical = ollmlx_store::ModelName::parse(name)
            .map_err(|e| anyhow!("config.toml [model.{name:?}]: {e}"))?
            .key();
        let options = m.options.clone().unwrap_or_default();
        options.validate().map_err(|e| anyhow!("config.toml [model.{name:?}] options: {e}"))?;
        out.insert(canonical, ModelSettings { keep_alive: m.keep_alive, pinned: m.pinned, options });
    }
    Ok(out)
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), env::home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(flags: Flags, file: &str) -> anyhow::Result<Settings> {
        let file: FileConfig = toml::from_str(file)?;
        Settings::from_layers(&flags, &file, 10_000)
    }

    #[test]
    fn flags_override_file() {
        let flags = Flags { memory_budget: Some("1000".into()), ..Flags::default() };
        let s = settings(flags, "memory_budget = \"50%\"\nmax_queue = 3").unwrap();
        assert_eq!(s.memory_budget, 1000);
        assert_eq!(s.max_queue, 3);
        let s = settings(Flags::default(), "memory_budget = \"50%\"").unwrap();
        assert_eq!(s.memory_budget, 5000);
    }

    #[test]
    fn errors_name_their_source() {
        let flags = Flags { keep_alive: Some("soon".into()), ..Flags::default() };
        let e = settings(flags, "").unwrap_err().to_string();
        assert!(e.contains("--keep-alive") && e.contains("soon"), "{e}");
        let e = settings(Flags::default(), "max_queue = \"many\"").unwrap_err().to_string();
        assert!(e.contains("max_queue"), "{e}");
        let e = settings(Flags::default(), "[model.\"../x\"]\npinned = true").unwrap_err().to_string();
        assert!(e.contains("../x"), "{e}");
    }

    #[test]
    fn exit_timeout_and_log_file() {
        let s = settings(Flags::default(), "").unwrap();
        assert_eq!(s.exit_timeout, Duration::from_secs(25));
        assert!(s.log_file.is_none());
        let s = settings(Flags::default(), "exit_timeout = \"2m\"\nlog_file = \"/tmp/d.log\"").unwrap();
        assert_eq!(s.exit_timeout, Duration::from_secs(120));
        assert_eq!(s.log_file.as_deref(), Some(std::path::Path::new("/tmp/d.log")));
        let flags = Flags { exit_timeout: Some("-1".into()), ..Flags::default() };
        let e = settings(flags, "").unwrap_err().to_string();
        assert!(e.contains("--exit-timeout"), "{e}");
    }

    #[test]
    fn listens_on_loopback_unless_told_otherwise() {
        let s = settings(Flags::default(), "").unwrap();
        assert!(s.host.ip().is_loopback(), "{}", s.host);
        assert_eq!(s.host.to_string(), "127.0.0.1:11434");
        let s = settings(Flags { host: Some(":9000".into()), ..Flags::default() }, "").unwrap();
        assert!(s.host.ip().is_loopback(), "a bare port stays on loopback: {}", s.host);
    }

    #[test]
    fn model_tables_are_keyed_by_canonical_name() {
        let s = settings(Flags::default(), "[model.\"SmolLM2\"]\npinned = true").unwrap();
        assert!(s.model("library/smollm2:latest").unwrap().pinned);
    }
}
