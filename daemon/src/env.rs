//! Every `OLLMLX_*` environment variable, in one registry. Nothing else in the daemon reads
//! `std::env` (the store crate reads the Hugging Face / Ollama locations itself).

use std::path::PathBuf;

/// A documented environment variable.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// Its name.
    pub name: &'static str,
    /// What it sets, for `--help` and error messages.
    pub doc: &'static str,
}

/// Listen address: `host`, `host:port`, `:port` or `http://host:port` (default 127.0.0.1:11434).
pub const HOST: EnvVar = EnvVar { name: "OLLMLX_HOST", doc: "listen address (default 127.0.0.1:11434)" };
/// The store folder (default `~/.ollmlx/models`).
pub const MODELS: EnvVar = EnvVar { name: "OLLMLX_MODELS", doc: "model store folder (default ~/.ollmlx/models)" };
/// Memory budget for resident models: bytes, `12GiB`, or `60%` of memory.
pub const MEMORY_BUDGET: EnvVar =
    EnvVar { name: "OLLMLX_MEMORY_BUDGET", doc: "memory budget: bytes, \"12GiB\" or \"60%\" (default 70% of memory)" };
/// Default keep-alive (default `5m`).
pub const KEEP_ALIVE: EnvVar = EnvVar { name: "OLLMLX_KEEP_ALIVE", doc: "default keep_alive (default 5m)" };
/// Extra cap on the number of loaded models.
pub const MAX_LOADED: EnvVar = EnvVar { name: "OLLMLX_MAX_LOADED", doc: "most models loaded at once (default: no cap)" };
/// Requests that may wait for a model before new ones get 503.
pub const MAX_QUEUE: EnvVar = EnvVar { name: "OLLMLX_MAX_QUEUE", doc: "requests waiting for a model (default 512)" };
/// Extra allowed CORS origins, comma-separated.
pub const ORIGINS: EnvVar = EnvVar { name: "OLLMLX_ORIGINS", doc: "extra CORS origins, comma-separated" };
/// Default context length (`num_ctx`) when a request sets none.
pub const CONTEXT_LENGTH: EnvVar =
    EnvVar { name: "OLLMLX_CONTEXT_LENGTH", doc: "default num_ctx (default 4096, capped by the model)" };
/// How long a request may wait for room and a load before it fails.
pub const LOAD_TIMEOUT: EnvVar = EnvVar { name: "OLLMLX_LOAD_TIMEOUT", doc: "wait for room + load (default 5m)" };
/// How long a shutdown waits for in-flight requests before it stops them.
pub const EXIT_TIMEOUT: EnvVar =
    EnvVar { name: "OLLMLX_EXIT_TIMEOUT", doc: "on SIGTERM, wait this long for in-flight requests (default 25s)" };
/// A log file the daemon writes itself (rotated by size) instead of stderr.
pub const LOG_FILE: EnvVar =
    EnvVar { name: "OLLMLX_LOG_FILE", doc: "write the log to this file, rotated at 10 MiB (default: stderr)" };
/// Largest request body in bytes (413 above it).
pub const MAX_BODY: EnvVar =
    EnvVar { name: "OLLMLX_MAX_BODY", doc: "largest request body, e.g. 64MiB (default 64MiB; 413 above)" };
/// How long a client may take to send a request body once its headers arrived.
pub const READ_TIMEOUT: EnvVar =
    EnvVar { name: "OLLMLX_READ_TIMEOUT", doc: "time to receive a request body after its headers (default 60s; 408 after)" };
/// Let non-loopback clients use the `/ollmlx/` control endpoints.
pub const CONTROL_REMOTE: EnvVar =
    EnvVar { name: "OLLMLX_CONTROL_REMOTE", doc: "1 lets non-loopback clients use /ollmlx/ (default 0: loopback only)" };
/// Sequences of one model that decode together (continuous batching).
pub const NUM_PARALLEL: EnvVar =
    EnvVar { name: "OLLMLX_NUM_PARALLEL", doc: "sequences per model batched together (default 8; more wait)" };
/// The prefix cache's budget per model, or `off`.
pub const PREFIX_CACHE: EnvVar = EnvVar {
    name: "OLLMLX_PREFIX_CACHE",
    doc: "prefix-cache bytes per model, e.g. 512MiB, or off (default: 1/8 of the budget, at most 1GiB)",
};
/// The config file (default `~/.ollmlx/config.toml`).
pub const CONFIG: EnvVar = EnvVar { name: "OLLMLX_CONFIG", doc: "config file (default ~/.ollmlx/config.toml)" };
/// Log filter (tracing `EnvFilter` syntax, default `info`).
pub const LOG: EnvVar = EnvVar { name: "OLLMLX_LOG", doc: "log filter, e.g. debug or ollmlx_daemon=trace (default info)" };

/// Every variable, for `--help`.
pub const ALL: &[EnvVar] = &[
    HOST, MODELS, MEMORY_BUDGET, KEEP_ALIVE, MAX_LOADED, MAX_QUEUE, ORIGINS, CONTEXT_LENGTH, LOAD_TIMEOUT, EXIT_TIMEOUT,
    LOG_FILE, MAX_BODY, READ_TIMEOUT, CONTROL_REMOTE, NUM_PARALLEL, PREFIX_CACHE, CONFIG, LOG,
];

/// systemd socket activation: the pid the passed sockets are meant for.
pub const LISTEN_PID: EnvVar = EnvVar { name: "LISTEN_PID", doc: "systemd: pid the passed sockets are for" };
/// systemd socket activation: how many sockets were passed, from fd 3 on.
pub const LISTEN_FDS: EnvVar = EnvVar { name: "LISTEN_FDS", doc: "systemd: number of passed sockets" };
/// systemd notification socket (`sd_notify`).
pub const NOTIFY_SOCKET: EnvVar = EnvVar { name: "NOTIFY_SOCKET", doc: "systemd: readiness notification socket" };
/// systemd watchdog interval in microseconds.
pub const WATCHDOG_USEC: EnvVar = EnvVar { name: "WATCHDOG_USEC", doc: "systemd: watchdog interval (µs)" };
/// systemd watchdog: the pid the watchdog is meant for.
pub const WATCHDOG_PID: EnvVar = EnvVar { name: "WATCHDOG_PID", doc: "systemd: pid the watchdog is for" };

/// The value of `var`, trimmed of spaces and quotes as Ollama does; empty counts as unset.
pub fn get(var: EnvVar) -> Option<String> {
    let raw = std::env::var(var.name).ok()?;
    let value = raw.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// The user's home folder.
pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// `~/.ollmlx`, where the store and config live by default.
pub fn ollmlx_dir() -> Option<PathBuf> {
    home_dir().map(|h| h.join(".ollmlx"))
}

/// Help text listing every variable.
pub fn help() -> String {
    let mut out = String::from("Environment:\n");
    for var in ALL {
        out.push_str(&format!("  {:<24} {}\n", var.name, var.doc));
    }
    out
}
