//! The request workers: random models, `/api/generate`, `/api/chat` and
//! `/v1/chat/completions`, streamed or not, some streams dropped after their first chunk. Every
//! answer is read to the end and checked; anything but a complete 200 answer (or a stream we
//! dropped ourselves) is an unexpected error.
use std::io::{BufRead, BufReader};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Rng, Shared};

/// One request the worker will make.
#[derive(Debug, Clone)]
struct Plan {
    model: String,
    /// 0 generate, 1 chat, 2 v1 chat.
    endpoint: usize,
    stream: bool,
    /// Drop the connection after the first chunk.
    cancel: bool,
    num_predict: u64,
    /// Ask for `keep_alive: 0` (unload once idle).
    unload_after: bool,
    seed: u64,
}

/// How a request ended.
enum End {
    Completed,
    Cancelled,
}

impl Plan {
    fn random(rng: &mut Rng, models: &[String]) -> Plan {
        let stream = rng.chance(0.6);
        let cancel = stream && rng.chance(0.25);
        Plan {
            model: models[rng.below(models.len())].clone(),
            endpoint: rng.below(3),
            stream,
            cancel,
            // Cancelled streams ask for more, so the drop lands mid-generation.
            num_predict: if cancel { 48 + rng.below(32) as u64 } else { 1 + rng.below(12) as u64 },
            unload_after: rng.chance(0.08),
            seed: rng.next(),
        }
    }

    fn request(&self) -> (&'static str, Value) {
        let prompt = format!("Tell me about the number {} in one line.", self.seed % 1000);
        let temperature = if self.seed % 2 == 0 { 0.0 } else { 0.8 };
        let options = json!({"num_predict": self.num_predict, "temperature": temperature, "seed": self.seed % 100_000});
        let mut body = match self.endpoint {
            0 => json!({"model": self.model, "prompt": prompt, "stream": self.stream, "options": options}),
            1 => json!({"model": self.model, "messages": [{"role": "user", "content": prompt}], "stream": self.stream, "options": options}),
            _ => json!({"model": self.model, "messages": [{"role": "user", "content": prompt}], "stream": self.stream,
                        "max_tokens": self.num_predict, "temperature": temperature, "seed": self.seed % 100_000}),
        };
        if self.unload_after && self.endpoint < 2 {
            body["keep_alive"] = json!(0);
        }
        let path = ["/api/generate", "/api/chat", "/v1/chat/completions"][self.endpoint];
        (path, body)
    }
}

/// One worker: makes requests until the count or the time runs out.
pub fn worker(shared: &Shared, seed: u64) {
    let mut rng = Rng::new(seed);
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .expect("a reqwest client builds");
    while !shared.stop.load(Ordering::Relaxed) && Instant::now() < shared.deadline {
        if shared.issued.fetch_add(1, Ordering::SeqCst) >= shared.limit {
            break;
        }
        let plan = Plan::random(&mut rng, &shared.models);
        let started = Instant::now();
        let result = run(&client, shared, &plan, started);
        let mut stats = shared.lock();
        stats.requests += 1;
        stats.per_endpoint[plan.endpoint] += 1;
        stats.streamed += u64::from(plan.stream);
        match result {
            Ok((End::Completed, ttfb)) => {
                stats.completed += 1;
                stats.ttfb.push(ttfb);
            }
            Ok((End::Cancelled, ttfb)) => {
                stats.cancelled += 1;
                stats.ttfb.push(ttfb);
            }
            Err(e) => stats.fail(format!("{:.1}s {plan:?}: {e}", shared.since_start())),
        }
    }
}

/// Sends the request and reads the answer; returns how it ended and the time to first byte.
fn run(client: &reqwest::blocking::Client, shared: &Shared, plan: &Plan, started: Instant) -> Result<(End, Duration), String> {
    let (path, body) = plan.request();
    let resp = client.post(shared.url(path)).json(&body).send().map_err(|e| format!("send: {e}"))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(format!("status {status}: {}", resp.text().unwrap_or_default()));
    }
    let mut lines = BufReader::new(resp).lines();
    let first = lines.next().ok_or("empty body")?.map_err(|e| format!("read: {e}"))?;
    let ttfb = started.elapsed();
    if plan.cancel {
        // Dropping the reader closes the connection mid-stream.
        check_line(plan, &first)?;
        return Ok((End::Cancelled, ttfb));
    }
    let mut all = vec![first];
    for line in lines {
        all.push(line.map_err(|e| format!("read: {e}"))?);
    }
    check_answer(plan, &all)?;
    Ok((End::Completed, ttfb))
}

/// A streamed line (NDJSON, or SSE `data:`/blank lines) must carry no error.
fn check_line(plan: &Plan, line: &str) -> Result<Option<Value>, String> {
    let payload = if plan.endpoint == 2 && plan.stream {
        match line.strip_prefix("data: ") {
            Some("[DONE]") | None => return Ok(None),
            Some(p) => p,
        }
    } else {
        line
    };
    if payload.trim().is_empty() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(payload).map_err(|e| format!("bad JSON line {payload:?}: {e}"))?;
    if v.get("error").is_some() {
        return Err(format!("error in the answer: {payload}"));
    }
    Ok(Some(v))
}

/// The whole answer must be complete: `done: true` last (native), `[DONE]` (SSE) or a choice.
fn check_answer(plan: &Plan, lines: &[String]) -> Result<(), String> {
    let mut last = None;
    for line in lines {
        if let Some(v) = check_line(plan, line)? {
            last = Some(v);
        }
    }
    let last = last.ok_or("no JSON in the answer")?;
    let complete = match (plan.endpoint, plan.stream) {
        (2, true) => lines.iter().any(|l| l == "data: [DONE]"),
        (2, false) => last.pointer("/choices/0/message").is_some(),
        _ => last.get("done") == Some(&Value::Bool(true)),
    };
    if complete {
        Ok(())
    } else {
        Err(format!("answer ended early; last line {last}"))
    }
}
