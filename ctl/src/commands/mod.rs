//! One module per command group; each command is a function returning `anyhow::Result<()>`.

pub mod models;
pub mod pool;
pub mod pull;
pub mod run;
pub mod serve;
pub mod service;
pub mod status;

use std::io::Write;

use anyhow::{Context, Result};
use serde::Serialize;

/// Writes `text` to stdout; a closed pipe (`| head`) is not an error.
pub fn emit(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// Pretty JSON on stdout, one trailing newline.
pub fn emit_json<T: Serialize>(value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).context("encoding JSON")?;
    emit(&format!("{text}\n"))
}
