//! N concurrent streams against one server: each stream its own thread and connection, all
//! released together by a barrier, each with its own prompt (same request, a different topic).

use std::sync::Barrier;
use std::time::Duration;

use anyhow::{anyhow, Result};
use serde_json::json;

use crate::client::{self, RequestOptions, StreamStats};
use crate::servers::Target;

const TOPICS: [&str; 16] = [
    "a lighthouse keeper who finds a map",
    "a robot learning to bake bread",
    "two rival chess players on a train",
    "a city where it never stops raining",
    "an astronaut growing tomatoes on Mars",
    "a dragon who is afraid of heights",
    "a detective who solves crimes by smell",
    "a small village that builds a bridge",
    "a violinist lost in a forest",
    "a cat that runs a bookshop",
    "a sailor crossing the Pacific alone",
    "a child who can talk to birds",
    "an old clockmaker and his apprentice",
    "a desert caravan in a sandstorm",
    "a scientist who shrinks herself",
    "a postman delivering letters in winter",
];

/// The prompt of stream `i`.
pub fn prompt(i: usize) -> serde_json::Value {
    let topic = TOPICS[i % TOPICS.len()];
    json!([{"role": "user", "content": format!("Write a long, detailed story about {topic}. Describe every scene.")}])
}

/// Aggregates of one run of N streams.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Tokens generated, all streams.
    pub tokens: u64,
    /// Decode tokens (each stream's tokens after its first) over the span from the first
    /// token of any stream to the end of the last stream.
    pub decode_tps: f64,
    /// All generated tokens over the wall time from sending to the end of the last stream.
    pub wall_tps: f64,
    pub mean_ttft: Duration,
    /// The first and the last stream's TTFT: how spread out the streams' starts were.
    pub min_ttft: Duration,
    pub max_ttft: Duration,
    /// Mean over streams of each stream's own decode rate.
    pub per_stream_tps: f64,
}

/// Runs `n` streams at once and aggregates them.
pub fn run(http: &reqwest::blocking::Client, target: &Target, n: usize, opts: RequestOptions) -> Result<LoadResult> {
    let barrier = Barrier::new(n);
    let results: Vec<Result<StreamStats>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    client::chat(http, target, &prompt(i), opts)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("stream thread panicked")))).collect()
    });
    let stats = results.into_iter().collect::<Result<Vec<_>>>()?;
    Ok(aggregate(&stats))
}

#[allow(clippy::cast_precision_loss)]
fn aggregate(stats: &[StreamStats]) -> LoadResult {
    let sent = stats.iter().map(|s| s.sent).min().expect("at least one stream");
    let end = stats.iter().map(|s| s.end).max().expect("at least one stream");
    let first = stats.iter().filter_map(|s| s.first).min().unwrap_or(end);
    let tokens: u64 = stats.iter().map(|s| s.tokens).sum();
    let decode_tokens: u64 = stats.iter().map(|s| s.tokens.saturating_sub(1)).sum();
    let rate = |count: u64, secs: f64| if secs > 0.0 { count as f64 / secs } else { 0.0 };
    let rates: Vec<f64> = stats.iter().filter_map(StreamStats::decode_tps).collect();
    LoadResult {
        tokens,
        decode_tps: rate(decode_tokens, (end - first).as_secs_f64()),
        wall_tps: rate(tokens, (end - sent).as_secs_f64()),
        mean_ttft: stats.iter().map(StreamStats::ttft).sum::<Duration>() / u32::try_from(stats.len()).unwrap_or(1),
        min_ttft: stats.iter().map(StreamStats::ttft).min().unwrap_or_default(),
        max_ttft: stats.iter().map(StreamStats::ttft).max().unwrap_or_default(),
        per_stream_tps: if rates.is_empty() { 0.0 } else { rates.iter().sum::<f64>() / rates.len() as f64 },
    }
}
