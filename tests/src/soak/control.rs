//! The threads beside the request workers: `ollmlxctl` load / pin / unload / ps runs, model
//! files replaced on disk, and the sampler that checks the budget and the process's memory.
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Rng, Shared};

/// Longest an `ollmlxctl` run may take (an unload waits for the model's requests to end).
const CTL_LIMIT: Duration = Duration::from_secs(180);
/// How often the sampler reads /api/ps, /ollmlx/status and /proc.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// Sleeps up to `d`, waking early when the soak stops; false once stopped.
fn nap(shared: &Shared, d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if shared.stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !shared.stop.load(Ordering::Relaxed)
}

/// `ollmlxctl`'s exit code for "model not found" (for `unload`: not loaded).
const NOT_FOUND: i32 = 4;

/// Runs ollmlxctl and counts it; a non-zero exit is an unexpected failure, except
/// `NOT_FOUND` from `unload NAME`: the model it picked at random may not be loaded (never
/// asked for yet, or evicted or expired a moment before).
fn ctl(shared: &Shared, args: &[&str]) -> bool {
    let run = shared.daemon.ctl(args, CTL_LIMIT);
    let mut stats = shared.lock();
    stats.ctl_runs += 1;
    let unload_one = args.first() == Some(&"unload") && args.get(1) != Some(&"--all");
    match run {
        Ok(r) if r.code == 0 => true,
        Ok(r) if unload_one && r.code == NOT_FOUND => false,
        Ok(r) => {
            stats.ctl_fail(format!("{:.1}s ollmlxctl {args:?}: exit {}: {}", shared.since_start(), r.code, r.output.trim()));
            false
        }
        Err(e) => {
            stats.ctl_fail(format!("{:.1}s ollmlxctl {args:?}: {e:#}", shared.since_start()));
            false
        }
    }
}

/// Unpins `model`; "not loaded" is expected only when its files were replaced since the pin
/// (the replaced copy is unloaded and the fresh one starts unpinned).
pub fn unpin(shared: &Shared, model: &str, pinned_at: Instant) {
    let answer = shared.daemon.post("/ollmlx/unpin", &json!({"model": model}));
    let swapped = shared.swapped_since(model, pinned_at);
    let mut stats = shared.lock();
    stats.ctl_runs += 1;
    match answer {
        Ok((200, _)) => {}
        Ok((404, _)) if swapped => {}
        Ok((status, body)) => stats.ctl_fail(format!("{:.1}s unpin {model}: {status} {body}", shared.since_start())),
        Err(e) => stats.ctl_fail(format!("{:.1}s unpin {model}: {e:#}", shared.since_start())),
    }
}

/// The control thread: one random `ollmlxctl` operation every 0.5–2.5 s. At most one model is
/// pinned at a time (with room for two, a second pin would starve every other model), and it
/// is unpinned before the next operation.
pub fn controller(shared: &Shared, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut pinned: Option<(String, Instant)> = None;
    while nap(shared, Duration::from_millis(500 + rng.below(2000) as u64)) {
        if let Some((model, at)) = pinned.take() {
            unpin(shared, &model, at);
        }
        let model = shared.models[rng.below(shared.models.len())].clone();
        match rng.below(100) {
            0..30 => {
                ctl(shared, &["load", &model]);
            }
            30..45 => {
                let at = Instant::now();
                if ctl(shared, &["load", "--pin", &model]) {
                    pinned = Some((model, at));
                }
            }
            45..70 => {
                ctl(shared, &["unload", &model]);
            }
            70..75 => {
                ctl(shared, &["unload", "--all"]);
            }
            75..90 => {
                ctl(shared, &["ps"]);
            }
            _ => {
                ctl(shared, &["status", "--json"]);
            }
        }
    }
    if let Some((model, at)) = pinned {
        unpin(shared, &model, at);
    }
}

/// The swapper: every 3–6 s copies another fixture's weights into one model folder under a
/// hidden name and renames it over `model.safetensors` (one atomic replace; the alternatives
/// share the model's config.json, so no reader ever sees a mismatched pair).
pub fn swapper(shared: &Shared, seed: u64) {
    let mut rng = Rng::new(seed);
    while nap(shared, Duration::from_millis(3000 + rng.below(3000) as u64)) {
        let i = rng.below(shared.models.len());
        let sources = &shared.swap_sources[i];
        let source = &sources[rng.below(sources.len())];
        let dir = &shared.model_dirs[i];
        let tmp = dir.join(".model.safetensors.soak-tmp");
        let result = std::fs::copy(source.join("model.safetensors"), &tmp)
            .and_then(|_| std::fs::rename(&tmp, dir.join("model.safetensors")));
        shared.swapped.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((shared.models[i].clone(), Instant::now()));
        let mut stats = shared.lock();
        match result {
            Ok(()) => stats.swaps += 1,
            Err(e) => stats.ctl_fail(format!("replacing {}: {e}", dir.display())),
        }
    }
}

/// The sampler: /api/ps sizes and the pool's used bytes against the budget, and the RSS.
pub fn sampler(shared: &Shared) {
    while nap(shared, SAMPLE_EVERY) {
        sample(shared);
    }
}

fn sample(shared: &Shared) {
    let ps = shared.daemon.get("/api/ps");
    let status = shared.daemon.get("/ollmlx/status");
    let rss = shared.daemon.rss();
    let mut stats = shared.lock();
    let (ps, status) = match (ps, status) {
        (Ok(p), Ok(s)) => (p, s),
        (Err(e), _) | (_, Err(e)) => {
            stats.ctl_fail(format!("{:.1}s sampling: {e:#}", shared.since_start()));
            return;
        }
    };
    stats.samples += 1;
    let models = ps["models"].as_array().cloned().unwrap_or_default();
    let total: u64 = models.iter().filter_map(|m| m["size"].as_u64()).sum();
    let used = status["used_bytes"].as_u64().unwrap_or(0);
    stats.peak_ps = stats.peak_ps.max(total);
    stats.peak_models = stats.peak_models.max(models.len());
    stats.peak_rss = stats.peak_rss.max(rss.unwrap_or(0));
    if total > shared.budget || used > shared.budget {
        stats.overshoots += 1;
        let list: Vec<String> = models.iter().map(|m| format!("{}={}", m["name"].as_str().unwrap_or("?"), m["size"])).collect();
        let charged: Vec<Value> = status["models"].as_array().cloned().unwrap_or_default();
        let charged: Vec<String> = charged.iter().map(|m| format!("{}={} {}", m["name"].as_str().unwrap_or("?"), m["bytes"], m["state"])).collect();
        stats.note(format!(
            "{:.1}s over budget {}: /api/ps {total} [{}], pool used {used} [{}]",
            shared.since_start(),
            shared.budget,
            list.join(", "),
            charged.join(", ")
        ));
    }
}
