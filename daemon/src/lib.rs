//! ollmlxd: serves the Ollama HTTP API (and its OpenAI `/v1` layer) from several MLX models
//! kept resident under a memory budget.
//!
//! Request walk: `routes` (one router, one file per endpoint) parse the body into `ollmlx_api`
//! types, resolve the name through the store, take a [`pool::Lease`] from the [`pool::Pool`]
//! (LRU over a byte budget, single-flight loads), then send the work to the engine thread
//! (`engine_thread`, the only place that touches `ollmlx_engine`) and stream its events back as
//! NDJSON or SSE. Settings come from `config` (flags > env > config.toml), and `env` is the only
//! reader of `OLLMLX_*` variables.
//!
//! Not here: model math (engine crate), naming and files (store crate), wire types (api crate).
#![deny(unsafe_code)]

pub mod allocator;
pub mod config;
pub mod engine_thread;
pub mod env;
pub mod error;
pub mod format;
pub mod job;
pub mod lifecycle;
pub mod platform;
pub mod pool;
pub mod routes;
pub mod server;
pub mod state;
