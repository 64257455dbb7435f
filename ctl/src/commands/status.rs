//! `status` (the daemon, its memory budget and every resident model, from `/ollmlx/status`)
//! and `ps` (loaded models as `ollama ps` shows them, from `/api/ps`).

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Result;
use chrono::{DateTime, FixedOffset};
use ollmlx_api::ollama::ProcessResponse;
use ollmlx_api::ollmlx::{ModelStatus, StatusResponse};
use ollmlx_api::KeepAlive;

use super::models::short_id;
use super::{emit, emit_json};
use crate::client::Client;
use crate::table::{self, Table};

/// Width of the memory bar in cells.
const BAR_WIDTH: usize = 30;
/// Expiry further away than this is shown as "Forever" (the daemon sends a far-future time).
const FOREVER_AFTER: Duration = Duration::from_secs(50 * 365 * 86_400);

/// `status`.
pub fn status(json: bool) -> Result<()> {
    let client = Client::from_env()?;
    let resp: StatusResponse = client.get("/ollmlx/status")?;
    if json {
        return emit_json(&resp);
    }
    emit(&render_status(&resp, client.base(), chrono::Local::now().fixed_offset()))
}

/// The human form of `status`.
pub fn render_status(s: &StatusResponse, url: &str, now: DateTime<FixedOffset>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ollmlxd {} at {url}", s.version);
    if let Some(line) = uptime_line(s) {
        let _ = writeln!(out, "up       {line}");
    }
    let _ = writeln!(
        out,
        "memory   {} {} of {} budget ({}%)",
        table::bar(s.used_bytes, s.budget_bytes, BAR_WIDTH),
        table::bytes(s.used_bytes),
        table::bytes(s.budget_bytes),
        table::percent(s.used_bytes, s.budget_bytes)
    );
    let _ = writeln!(
        out,
        "mlx      {} active, {} cache; process {} resident{}",
        table::bytes(s.mlx_active_bytes),
        table::bytes(s.mlx_cache_bytes),
        table::bytes(s.process_rss_bytes),
        s.heap_in_use_bytes.map(|b| format!(", {} heap in use", table::bytes(b))).unwrap_or_default()
    );
    let cap = if s.max_loaded == 0 { "no cap".to_string() } else { s.max_loaded.to_string() };
    let _ = writeln!(out, "queue    {} waiting; most models loaded: {cap}", s.queued);
    out.push('\n');
    if s.models.is_empty() {
        out.push_str("no models loaded\n");
        return out;
    }
    let mut t = Table::new(&["NAME", "STATE", "SIZE", "KV", "CONTEXT", "REQUESTS", "LAST USED", "EXPIRES IN", "PINNED"]);
    for m in &s.models {
        t.push(model_row(m, now));
    }
    out.push_str(&t.render());
    out
}

/// "2 hours on cpu", from the fields newer daemons send.
fn uptime_line(s: &StatusResponse) -> Option<String> {
    let up = s.uptime_s.map(|secs| if secs == 0 { "just started".to_string() } else { table::duration(Duration::from_secs(secs)) });
    match (up, &s.device) {
        (Some(up), Some(device)) => Some(format!("{up} on {device}")),
        (Some(up), None) => Some(up),
        (None, Some(device)) => Some(format!("on {device}")),
        (None, None) => None,
    }
}

fn model_row(m: &ModelStatus, now: DateTime<FixedOffset>) -> Vec<String> {
    let busy = m.active_requests > 0;
    let state = if m.state == "ready" && busy { "busy".to_string() } else { m.state.clone() };
    let last_used = if busy { "now".to_string() } else { table::ago(Duration::from_millis(m.idle_ms)) };
    vec![
        m.name.clone(),
        state,
        table::bytes(m.bytes),
        table::bytes(m.kv_bytes),
        m.context_length.to_string(),
        m.active_requests.to_string(),
        last_used,
        expires_in(m, now),
        if m.pinned { "yes" } else { "no" }.to_string(),
    ]
}

/// Time left before an idle model is unloaded; `never` when pinned or kept forever, `-` while
/// busy (the clock starts when its last request ends).
fn expires_in(m: &ModelStatus, now: DateTime<FixedOffset>) -> String {
    if m.pinned || m.keep_alive == KeepAlive::Forever {
        return "never".into();
    }
    match m.expires_at.as_deref().map(DateTime::parse_from_rfc3339) {
        Some(Ok(at)) => table::duration((at - now).to_std().unwrap_or_default()),
        Some(Err(_)) | None => "-".into(),
    }
}

/// `ps`.
pub fn ps(json: bool) -> Result<()> {
    let resp: ProcessResponse = Client::from_env()?.get("/api/ps")?;
    if json {
        return emit_json(&resp);
    }
    emit(&render_ps(&resp, chrono::Local::now().fixed_offset()))
}

/// The human form of `ps`, with Ollama's columns.
pub fn render_ps(r: &ProcessResponse, now: DateTime<FixedOffset>) -> String {
    let mut t = Table::new(&["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"]);
    for m in &r.models {
        let left = (m.expires_at - now).to_std().unwrap_or_default();
        let until = if left > FOREVER_AFTER { "Forever".to_string() } else { format!("{} from now", table::duration(left)) };
        t.push(vec![
            m.name.clone(),
            short_id(&m.digest),
            table::bytes(m.size),
            processor(m.size, m.size_vram),
            m.context_length.to_string(),
            until,
        ]);
    }
    t.render()
}

/// `100% GPU`, `100% CPU` or a split, from the share of the size in device memory.
fn processor(size: u64, vram: u64) -> String {
    if size == 0 || vram == 0 {
        return "100% CPU".into();
    }
    let gpu = table::percent(vram.min(size), size);
    if gpu == 100 {
        "100% GPU".into()
    } else {
        format!("{}%/{gpu}% CPU/GPU", 100 - gpu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(name: &str, state: &str, active: usize, pinned: bool) -> ModelStatus {
        ModelStatus {
            name: name.into(),
            state: state.into(),
            bytes: 29_300_000,
            weight_bytes: 26_000_000,
            kv_bytes: 1_048_576,
            cache_bytes: 0,
            active_requests: active,
            pinned,
            keep_alive: KeepAlive::For(Duration::from_secs(300)),
            expires_at: Some("2025-01-01T00:04:30+00:00".into()),
            idle_ms: 30_000,
            context_length: 4096,
        }
    }

    #[test]
    fn status_table() {
        let now = DateTime::parse_from_rfc3339("2025-01-01T00:00:00+00:00").unwrap();
        let s = StatusResponse {
            version: "0.1.0".into(),
            budget_bytes: 1_000_000_000,
            used_bytes: 250_000_000,
            mlx_active_bytes: 240_000_000,
            mlx_cache_bytes: 10_000_000,
            process_rss_bytes: 400_000_000,
            heap_in_use_bytes: Some(3_000_000),
            max_loaded: 0,
            queued: 1,
            models: vec![model("a/b:latest", "ready", 0, false), model("c/d:q4", "ready", 2, true), model("e/f:latest", "loading", 1, false)],
            started_at: Some("2024-12-31T22:00:00+00:00".into()),
            uptime_s: Some(7200),
            device: Some("gpu: Apple M2".into()),
        };
        insta::assert_snapshot!(render_status(&s, "http://127.0.0.1:11434", now), @r"
        ollmlxd 0.1.0 at http://127.0.0.1:11434
        up       2 hours on gpu: Apple M2
        memory   [########----------------------] 250 MB of 1 GB budget (25%)
        mlx      240 MB active, 10 MB cache; process 400 MB resident, 3 MB heap in use
        queue    1 waiting; most models loaded: no cap

        NAME         STATE     SIZE    KV       CONTEXT   REQUESTS   LAST USED        EXPIRES IN   PINNED
        a/b:latest   ready     29 MB   1.0 MB   4096      0          30 seconds ago   4 minutes    no
        c/d:q4       busy      29 MB   1.0 MB   4096      2          now              never        yes
        e/f:latest   loading   29 MB   1.0 MB   4096      1          now              4 minutes    no
        ");
    }

    #[test]
    fn processor_split() {
        assert_eq!(processor(100, 0), "100% CPU");
        assert_eq!(processor(100, 100), "100% GPU");
        assert_eq!(processor(100, 25), "75%/25% CPU/GPU");
    }
}
