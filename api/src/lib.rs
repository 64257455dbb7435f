//! Ollama and OpenAI wire types shared by the daemon (`ollmlxd`) and `ollmlxctl`.
//!
//! Every request and response body exists once here, with Ollama's defaults in one place
//! ([`options::defaults`]). Key types: [`KeepAlive`] (number, Go duration or unit-less string),
//! [`Options`] (sampling/runner options with validation that names the bad option),
//! [`ollama`] (native `/api/*` bodies), [`openai`] (`/v1/*` bodies) and [`ollmlx`] (the private
//! `/ollmlx/*` control bodies).
//!
//! This crate does no I/O and knows nothing about models or HTTP servers.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod duration;
pub mod ollama;
pub mod ollmlx;
pub mod openai;
pub mod options;

pub use duration::{KeepAlive, KeepAliveError};
pub use options::{OptionError, Options, Resolved};

/// The Ollama version we report on `/api/version`: clients compare it against minimum versions,
/// so it must look like a recent Ollama (`X.Y.Z`).
pub const OLLAMA_COMPAT_VERSION: &str = "0.12.6";
