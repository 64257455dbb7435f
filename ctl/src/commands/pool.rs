//! Pool commands: `load` (waits until the model is resident) and `unload` (waits until the
//! daemon reports the model gone, unless `--no-wait`).

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use ollmlx_api::ollmlx::{LoadRequest, StatusResponse, UnloadRequest};
use ollmlx_api::KeepAlive;
use ollmlx_store::ModelName;
use reqwest::Method;
use serde_json::Value;

use super::emit;
use crate::client::Client;
use crate::exit::Failure;
use crate::table;

/// The store key of a name (`org/name:tag`, lower case), for comparing names as the daemon does.
fn key(name: &str) -> Result<String> {
    Ok(ModelName::parse(name).map_err(|e| Failure::Usage(format!("{name:?}: {e}")))?.key())
}

/// `load NAME`.
pub fn load(name: &str, keep_alive: Option<&str>, pin: bool, context: Option<usize>) -> Result<()> {
    let keep_alive = keep_alive
        .map(|k| KeepAlive::parse(k).map_err(|e| Failure::Usage(format!("--keep-alive: {e}"))))
        .transpose()?;
    let client = Client::from_env()?;
    let started = Instant::now();
    let req = LoadRequest { model: name.to_string(), keep_alive, pin, num_ctx: context };
    let body: Value = client.post("/ollmlx/load", &req).with_context(|| format!("loading {name}"))?;
    let elapsed = started.elapsed();
    let shown = body.get("model").and_then(Value::as_str).unwrap_or(name).to_string();
    let mut line = format!("loaded {shown}");
    // The size is measured by the pool after the load; status reports it.
    let wanted = key(&shown)?;
    let status: Option<StatusResponse> = client.get("/ollmlx/status").ok();
    let model = status.and_then(|s| s.models.into_iter().find(|m| key(&m.name).is_ok_and(|k| k == wanted)));
    if let Some(m) = model {
        let _ = write!(line, " ({}, context {})", table::bytes(m.bytes), m.context_length);
    }
    let _ = write!(line, " in {:.1}s", elapsed.as_secs_f64());
    if pin {
        line.push_str(", pinned");
    }
    emit(&format!("{line}\n"))
}

/// `unload NAME` or `unload --all`.
pub fn unload(name: Option<&str>, all: bool, wait: bool) -> Result<()> {
    let client = Client::from_env()?;
    let wanted = name.map(key).transpose()?;
    // Subscribe before asking, so no `unloaded` event can slip in between.
    let events = if wait { Some(client.stream::<(), Value>(Method::GET, "/ollmlx/events", None)?) } else { None };
    let status: StatusResponse = client.get("/ollmlx/status")?;
    let req = UnloadRequest { model: name.map(str::to_string), all };
    let what = name.unwrap_or("every model");
    client.call(Method::POST, "/ollmlx/unload", &req).with_context(|| format!("unloading {what}"))?;
    let mut pending: Vec<String> = status
        .models
        .iter()
        .filter_map(|m| key(&m.name).ok())
        .filter(|k| wanted.as_ref().is_none_or(|w| w == k))
        .collect();
    let Some(events) = events else {
        return emit(&format!("unloading {what}\n"));
    };
    if pending.is_empty() {
        return emit(if all { "no models loaded\n" } else { "unloaded\n" });
    }
    for event in events {
        let event = event.context("waiting for the unload")?;
        if event.get("event").and_then(Value::as_str) != Some("unloaded") {
            continue;
        }
        let model = event.get("model").and_then(Value::as_str).unwrap_or_default();
        let Ok(k) = key(model) else { continue };
        if let Some(i) = pending.iter().position(|p| *p == k) {
            pending.remove(i);
            emit(&format!("unloaded {model}\n"))?;
        }
        if pending.is_empty() {
            return Ok(());
        }
    }
    Err(anyhow!("the daemon closed the event stream before {} unloaded", pending.join(", ")))
}
