//! One streaming OpenAI `/v1/chat/completions` request, timed: when it was sent, when the
//! first content arrived, when the stream ended, and how many tokens the server says it made.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::args::Peer;
use crate::servers::Target;

/// What one request needs besides the messages.
#[derive(Debug, Clone, Copy)]
pub struct RequestOptions {
    pub max_tokens: u32,
    pub ignore_eos: bool,
    /// llama.cpp's per-request `cache_prompt` (others are switched at start).
    pub cache_prompt: bool,
}

/// Timings and counts of one streamed reply.
#[derive(Debug, Clone)]
pub struct StreamStats {
    pub sent: Instant,
    /// First chunk that carried text (None: the reply was empty).
    pub first: Option<Instant>,
    pub end: Instant,
    /// `usage.completion_tokens` when the server sent usage, else the count of content chunks.
    pub tokens: u64,
    pub prompt_tokens: Option<u64>,
    /// `usage.prompt_tokens_details.cached_tokens`, where the server reports it.
    pub cached_tokens: Option<u64>,
    pub text: String,
}

impl StreamStats {
    pub fn ttft(&self) -> Duration {
        self.first.unwrap_or(self.end) - self.sent
    }

    /// Decode rate of this stream: tokens after the first over the time after the first.
    pub fn decode_tps(&self) -> Option<f64> {
        let first = self.first?;
        let secs = (self.end - first).as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let n = self.tokens.saturating_sub(1) as f64;
        (secs > 0.0 && n > 0.0).then(|| n / secs)
    }
}

pub fn client(timeout_s: u64) -> Result<reqwest::blocking::Client> {
    Ok(reqwest::blocking::Client::builder().timeout(Duration::from_secs(timeout_s)).build()?)
}

fn body(target: &Target, messages: &Value, opts: RequestOptions) -> Value {
    let mut body = json!({
        "model": target.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
        "temperature": 0,
        "max_tokens": opts.max_tokens,
    });
    if opts.ignore_eos {
        body["ignore_eos"] = json!(true);
    }
    if target.peer == Peer::LlamaCpp {
        body["cache_prompt"] = json!(opts.cache_prompt);
    }
    body
}

/// Sends one chat request and reads its SSE stream to the end.
pub fn chat(http: &reqwest::blocking::Client, target: &Target, messages: &Value, opts: RequestOptions) -> Result<StreamStats> {
    let sent = Instant::now();
    let url = format!("{}/v1/chat/completions", target.base);
    let resp = http.post(&url).json(&body(target, messages, opts)).send().with_context(|| format!("POST {url}"))?;
    let status = resp.status();
    if !status.is_success() {
        bail!("{} answered {status}: {}", target.peer.label(), resp.text().unwrap_or_default());
    }
    let mut stats = StreamStats { sent, first: None, end: sent, tokens: 0, prompt_tokens: None, cached_tokens: None, text: String::new() };
    let (mut chunks, mut usage_tokens) = (0u64, None);
    for line in BufReader::new(resp).lines() {
        let line = line.context("read stream")?;
        let Some(data) = line.strip_prefix("data:").map(str::trim) else { continue };
        if data == "[DONE]" {
            break;
        }
        let chunk: Value = serde_json::from_str(data).with_context(|| format!("bad chunk {data}"))?;
        if let Some(err) = chunk.get("error") {
            bail!("{} streamed an error: {err}", target.peer.label());
        }
        let delta = &chunk["choices"][0]["delta"];
        let piece = delta["content"].as_str().or_else(|| delta["reasoning"].as_str()).unwrap_or("");
        if !piece.is_empty() {
            stats.first.get_or_insert_with(Instant::now);
            stats.text.push_str(piece);
            chunks += 1;
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            usage_tokens = usage["completion_tokens"].as_u64();
            stats.prompt_tokens = usage["prompt_tokens"].as_u64();
            stats.cached_tokens = usage["prompt_tokens_details"]["cached_tokens"].as_u64();
        }
    }
    stats.end = Instant::now();
    stats.tokens = usage_tokens.unwrap_or(chunks);
    Ok(stats)
}
