//! Shared application state and the one way handlers get a model: name -> store -> pool lease.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ollmlx_api::{KeepAlive, Options};
use ollmlx_store::{ModelName, Store};

use crate::config::Settings;
use crate::engine_thread::EngineHandle;
use crate::error::ApiError;
use crate::pool::{AcquireOptions, Lease, ModelRef, Pool};

/// Everything handlers share.
pub struct App {
    /// Validated settings.
    pub settings: Settings,
    /// The model store.
    pub store: Store,
    /// The model pool.
    pub pool: Pool,
    /// The engine thread.
    pub engine: EngineHandle,
    /// Start time and MLX device, for `/ollmlx/status`.
    pub start: crate::lifecycle::StartInfo,
}

/// Handle passed to handlers.
pub type AppState = Arc<App>;

/// A lease plus how long getting it took (Ollama's `load_duration`).
pub struct Leased {
    /// The lease.
    pub lease: Lease,
    /// Queue wait + load.
    pub load_duration: Duration,
}

impl App {
    /// Parses a model name; empty or invalid names are 400s that say why.
    pub fn parse_name(name: &str) -> Result<ModelName, ApiError> {
        if name.trim().is_empty() {
            return Err(ApiError::bad("model is required"));
        }
        ModelName::parse(name).map_err(|e| ApiError::bad(e.to_string()))
    }

    /// Finds a model in the store (off the async threads: the store scans folders).
    pub async fn resolve(&self, name: &str) -> Result<ModelRef, ApiError> {
        let store = self.store.clone();
        let wanted = name.to_string();
        let entry = tokio::task::spawn_blocking(move || store.resolve(&wanted))
            .await
            .map_err(|e| ApiError::Internal(format!("store lookup failed: {e}")))??;
        Ok(ModelRef {
            key: entry.name.key(),
            name: entry.name.to_string(),
            path: entry.path,
            digest: entry.digest,
        })
    }

    /// Options layered: the model's config.toml defaults, then the request.
    pub fn options_for(&self, key: &str, request: Option<&Options>) -> Result<Options, ApiError> {
        let base = self.settings.model(key).map(|m| m.options.clone()).unwrap_or_default();
        let merged = match request {
            Some(r) => base.overlay(r),
            None => base,
        };
        merged.validate().map_err(|e| ApiError::bad(e.to_string()))?;
        if !merged.ignored.is_empty() {
            tracing::debug!(options = ?merged.ignored, "ignoring unknown or retired options");
        }
        Ok(merged)
    }

    /// A lease on `name`: resident models attach at once, without the store; others are
    /// resolved and loaded (once, however many ask).
    pub async fn lease(&self, name: &str, keep_alive: Option<KeepAlive>, num_ctx: Option<usize>) -> Result<Leased, ApiError> {
        let started = Instant::now();
        let parsed = Self::parse_name(name)?;
        let key = parsed.key();
        let model_settings = self.settings.model(&key);
        let opts = AcquireOptions {
            keep_alive,
            default_keep_alive: model_settings.and_then(|m| m.keep_alive).unwrap_or(self.settings.keep_alive),
            num_ctx,
            default_num_ctx: self.settings.context_length,
            pin: model_settings.filter(|m| m.pinned).map(|_| true),
        };
        if let Some(lease) = self.pool.try_resident(&key, &opts) {
            return Ok(Leased { lease, load_duration: started.elapsed() });
        }
        let model = self.resolve(name).await?;
        let lease = self.pool.acquire(&model, opts).await?;
        Ok(Leased { lease, load_duration: started.elapsed() })
    }
}
