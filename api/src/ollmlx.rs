//! Bodies of the private `/ollmlx/*` endpoints that `ollmlxctl` uses (load, unload, pin,
//! status, events). Documented in the README.

use serde::{Deserialize, Serialize};

use crate::KeepAlive;

/// `POST /ollmlx/load`: load a model now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadRequest {
    /// Model name.
    pub model: String,
    /// Keep-alive once idle (server default when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<KeepAlive>,
    /// Pin it: never evicted, never expired.
    #[serde(default)]
    pub pin: bool,
    /// Context to reserve KV for (`num_ctx`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_ctx: Option<usize>,
}

/// `POST /ollmlx/unload`: unload one model, or all with `all: true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnloadRequest {
    /// Model name (ignored with `all`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Unload every model.
    #[serde(default)]
    pub all: bool,
}

/// `POST /ollmlx/pin` and `/ollmlx/unpin`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinRequest {
    /// Model name (must be loaded).
    pub model: String,
}

/// A loaded model as `/ollmlx/status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelStatus {
    /// `name:tag`.
    pub name: String,
    /// `loading`, `ready` or `unloading`.
    pub state: String,
    /// Bytes charged to the budget (measured after load; the estimate while loading).
    pub bytes: u64,
    /// Measured weight bytes.
    pub weight_bytes: u64,
    /// KV cache bytes of live sequences.
    pub kv_bytes: u64,
    /// Share of MLX's buffer cache.
    pub cache_bytes: u64,
    /// Requests in flight or waiting.
    pub active_requests: usize,
    /// Pinned models are never evicted.
    pub pinned: bool,
    /// Keep-alive once idle.
    pub keep_alive: KeepAlive,
    /// Expiry time (RFC 3339), absent while busy, pinned or forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Milliseconds since last use.
    pub idle_ms: u64,
    /// Context the model is loaded for.
    pub context_length: u64,
}

/// `GET /ollmlx/status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusResponse {
    /// Daemon version.
    pub version: String,
    /// The memory budget in bytes.
    pub budget_bytes: u64,
    /// Bytes charged by loaded and loading models.
    pub used_bytes: u64,
    /// MLX active memory (all models and temporaries).
    pub mlx_active_bytes: u64,
    /// MLX buffer cache.
    pub mlx_cache_bytes: u64,
    /// Resident set of the daemon process.
    pub process_rss_bytes: u64,
    /// Bytes the daemon's allocator has handed out and not had back (jemalloc's
    /// `stats.allocated`; absent where the system allocator is used, as on macOS): what the
    /// daemon holds, against the RSS that also counts mapped code and freed pages kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heap_in_use_bytes: Option<u64>,
    /// Extra cap on loaded models (0: none).
    pub max_loaded: usize,
    /// Requests waiting for a model.
    pub queued: usize,
    /// Loaded and loading models, most recently used first.
    pub models: Vec<ModelStatus>,
    /// When the daemon started (RFC 3339); absent from older daemons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Seconds since the daemon started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_s: Option<u64>,
    /// MLX's device: `cpu` or `gpu: <name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// One line of `GET /ollmlx/events` (NDJSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PoolEvent {
    /// A load started.
    Loading {
        /// Model.
        model: String,
        /// Estimated bytes.
        estimate_bytes: u64,
    },
    /// A load finished.
    Loaded {
        /// Model.
        model: String,
        /// Measured bytes.
        bytes: u64,
        /// Load time in ms.
        load_ms: u64,
    },
    /// A load failed.
    LoadFailed {
        /// Model.
        model: String,
        /// Why.
        error: String,
    },
    /// A model was unloaded.
    Unloaded {
        /// Model.
        model: String,
        /// `evicted`, `expired`, `requested`, `replaced`, `deleted`, `shutdown`.
        reason: String,
    },
    /// Pinned or unpinned.
    Pinned {
        /// Model.
        model: String,
        /// New state.
        pinned: bool,
    },
}
