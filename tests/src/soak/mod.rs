//! The soak: a real `ollmlxd` on a temporary store of six tiny models, a memory budget that
//! holds exactly two of them, and mixed load from several threads (random models, streamed and
//! whole answers on three endpoints, streams dropped mid-way, `ollmlxctl` load / pin / unload /
//! ps, weights replaced on disk), while a sampler checks /api/ps against the budget and reads
//! the process's RSS. [`run`] returns a [`Report`] whose [`Report::violations`] must be empty.
//!
//! Used by `cargo bench -p ollmlx-tests --bench soak` (long) and `tests/soak_short.rs`.
//! Loopback only; every loop is bounded by a request count and a deadline.
mod bins;
mod control;
mod daemon;
mod load;
mod report;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

pub use bins::{Binaries, BIN_DIR_VAR};
pub use daemon::Daemon;
pub use report::{Memory, Report, Stats};

/// The store's models: (store name, fixture, fixtures whose weights may replace it). The
/// alternatives share the model's config.json (the llama ones differ only in stored dtype);
/// the others are re-copied from their own fixture, which is still a new file to the daemon.
const MODELS: [(&str, &str, &[&str]); 6] = [
    ("soak/llama", "tiny-llama-f32", &["tiny-llama-f16", "tiny-llama-bf16", "tiny-llama-f32"]),
    ("soak/qwen2-q4", "tiny-qwen2-q4g64", &["tiny-qwen2-q4g64"]),
    ("soak/qwen3", "tiny-qwen3-f32", &["tiny-qwen3-f32"]),
    ("soak/gemma", "tiny-gemma-f32", &["tiny-gemma-f32"]),
    ("soak/gemma2-q4", "tiny-gemma2-q4g64", &["tiny-gemma2-q4g64"]),
    ("soak/gemma3", "tiny-gemma3_text-f32", &["tiny-gemma3_text-f32"]),
];
/// The calibration daemon's budget: room for all six.
const CALIBRATION_BUDGET: u64 = 8 << 30;
/// Longest wait for /api/ps to empty after `unload --all`.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);

/// Wait after the pool empties before memory is read: past tokio's 10 s keep-alive of idle
/// blocking threads.
const SETTLE: Duration = Duration::from_secs(11);

/// How much load to apply.
#[derive(Debug, Clone)]
pub struct Config {
    /// Generation requests in total.
    pub requests: u64,
    /// Upper bound on the mixed-load phase.
    pub seconds: u64,
    /// Request threads.
    pub workers: usize,
    /// Seed of every random choice.
    pub seed: u64,
}

/// A small deterministic generator (SplitMix64), so a seed replays the same choices.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// What every soak thread shares.
pub struct Shared {
    daemon: Daemon,
    models: Vec<String>,
    model_dirs: Vec<PathBuf>,
    swap_sources: Vec<Vec<PathBuf>>,
    budget: u64,
    limit: u64,
    deadline: Instant,
    started: Instant,
    issued: AtomicU64,
    stop: AtomicBool,
    stats: Mutex<Stats>,
    swapped: Mutex<Vec<(String, Instant)>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    fn url(&self, path: &str) -> String {
        self.daemon.url(path)
    }
    fn since_start(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
    fn swapped_since(&self, model: &str, at: Instant) -> bool {
        let swaps = self.swapped.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        swaps.iter().any(|(m, t)| m == model && *t >= at)
    }
}

fn fixture(name: &str) -> Result<PathBuf> {
    let dir = bins::repo_root().join(".cache/models/tiny").join(name);
    if !dir.join("config.json").is_file() {
        bail!("{} is missing: run scripts/setup.sh first", dir.display());
    }
    Ok(dir)
}

/// Runs a soak; the temporary store and the daemon's log are kept (and named in the error or
/// the report) when something went wrong.
pub fn run(cfg: &Config) -> Result<Report> {
    let bins = bins::find()?;
    let tmp = tempfile::Builder::new().prefix("ollmlx-soak-").tempdir().context("creating a temporary folder")?;
    let models = tmp.path().join("models");
    for (name, fix, _) in MODELS {
        daemon::copy_model(&fixture(fix)?, &models.join(name))?;
    }
    let sizes = calibrate(&bins, tmp.path(), &models)?;
    let budget = budget_for(&sizes)?;
    let daemon = Daemon::start(&bins, tmp.path(), &models, budget, &[])?;
    let result = soak(cfg, daemon, &models, budget, sizes);
    let keep = result.as_ref().map_or(true, |r| !r.violations().is_empty());
    if keep {
        let kept = tmp.keep();
        eprintln!("soak: kept {} for inspection", kept.display());
    }
    result
}

/// Each model's charged size: loaded alone under a roomy budget, after one request.
fn calibrate(bins: &Binaries, root: &std::path::Path, models: &std::path::Path) -> Result<Vec<(String, u64)>> {
    let d = Daemon::start(bins, root, models, CALIBRATION_BUDGET, &[])?;
    let mut sizes = Vec::new();
    for (name, _, _) in MODELS {
        request_ok(&d, name)?;
        let status = d.get("/ollmlx/status")?;
        let bytes = status["models"]
            .as_array()
            .and_then(|ms| ms.iter().find(|m| m["name"].as_str().is_some_and(|n| n.starts_with(name))))
            .and_then(|m| m["bytes"].as_u64())
            .with_context(|| format!("{name} is not in /ollmlx/status after a request: {status}"))?;
        sizes.push((name.to_string(), bytes));
    }
    Ok(sizes)
}

/// A budget that holds any two models and never three: halfway between the two largest and
/// the three smallest.
fn budget_for(sizes: &[(String, u64)]) -> Result<u64> {
    let mut s: Vec<u64> = sizes.iter().map(|(_, b)| *b).collect();
    s.sort_unstable();
    let two = s[s.len() - 1] + s[s.len() - 2];
    let three = s[0] + s[1] + s[2];
    if two >= three {
        bail!("no budget fits exactly two of these models: {sizes:?}");
    }
    Ok(two + (three - two) / 2)
}

/// One short non-streamed generation that must succeed.
fn request_ok(d: &Daemon, model: &str) -> Result<()> {
    let body = json!({"model": model, "prompt": "Hello", "stream": false, "options": {"num_predict": 4, "temperature": 0}});
    let (status, text) = d.post("/api/generate", &body)?;
    if status != 200 {
        bail!("warm-up request to {model}: {status} {text}\n{}", d.log_tail(30));
    }
    Ok(())
}

/// Before the start is measured, every model serves the kinds of request the load sends: four
/// at once (so they decode as one batch) on the three endpoints, streamed and whole, greedy
/// and sampled. The first time the daemon does each of these it keeps memory that later runs
/// reuse: pages of libmlx's code that only a batch or the sampler touches (1.3 MiB), the
/// stacks and malloc arenas of the runtime's blocking threads. Measured after one plain
/// request per model, these made the end sit 2-3 MiB above the start at 80 and at 300
/// requests alike; warmed up here, they are part of the start.
fn warm_up(d: &Daemon) -> Result<()> {
    let bodies = |model: &str| {
        let options = json!({"num_predict": 6, "temperature": 0.8, "seed": 1});
        let msgs = json!([{"role": "user", "content": "Hello"}]);
        [
            ("/api/generate", json!({"model": model, "prompt": "Hello", "stream": false, "options": {"num_predict": 4, "temperature": 0}})),
            ("/api/generate", json!({"model": model, "prompt": "Hi there", "stream": true, "options": options})),
            ("/api/chat", json!({"model": model, "messages": msgs, "stream": true, "options": options})),
            ("/v1/chat/completions", json!({"model": model, "messages": msgs, "stream": false, "max_tokens": 6, "temperature": 0.8, "seed": 2})),
        ]
    };
    for (name, _, _) in MODELS {
        request_ok(d, name)?;
        std::thread::scope(|s| -> Result<()> {
            let runs: Vec<_> = bodies(name).into_iter().map(|(path, body)| s.spawn(move || (path, d.post(path, &body)))).collect();
            for r in runs {
                let (path, r) = r.join().map_err(|_| anyhow::anyhow!("warm-up thread panicked"))?;
                let (status, text) = r?;
                if status != 200 {
                    bail!("warm-up {path} to {name}: {status} {text}\n{}", d.log_tail(30));
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// `ollmlxctl unload --all`, then waits (bounded) for /api/ps to empty and for the pool to
/// measure; returns the memory figures then.
fn unload_all(d: &Daemon) -> Result<Memory> {
    let run = d.ctl(&["unload", "--all"], DRAIN_LIMIT)?;
    if run.code != 0 {
        bail!("ollmlxctl unload --all: exit {}: {}", run.code, run.output);
    }
    let until = Instant::now() + DRAIN_LIMIT;
    while d.get("/api/ps")?["models"].as_array().is_some_and(|m| !m.is_empty()) {
        if Instant::now() > until {
            bail!("models still loaded {DRAIN_LIMIT:?} after unload --all:\n{}", d.log_tail(30));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the engine thread finish freeing and the pool re-measure, and let the runtime's
    // blocking threads (one per concurrent store lookup) idle out, so that the start and the
    // end count the same threads: each one still alive holds its stack and arena pages, which
    // made the RSS end 0.3-0.5 MiB higher per thread.
    std::thread::sleep(SETTLE);
    dump_proc(d);
    let status = d.get("/ollmlx/status")?;
    Ok(Memory {
        mlx_active: status["mlx_active_bytes"].as_u64().unwrap_or(0),
        mlx_cache: status["mlx_cache_bytes"].as_u64().unwrap_or(0),
        rss: d.rss().context("reading the daemon's RSS")?,
        heap: status["heap_in_use_bytes"].as_u64(),
    })
}

/// With `OLLMLX_SOAK_DUMP=<folder>`, copies the daemon's /proc smaps, status and thread names
/// there at every drain (`<n>-smaps`, ...), to see which mappings an unload leaves grown.
fn dump_proc(d: &Daemon) {
    let Some(dir) = std::env::var_os("OLLMLX_SOAK_DUMP") else { return };
    let dir = PathBuf::from(dir);
    let _ = std::fs::create_dir_all(&dir);
    let n = std::fs::read_dir(&dir).map_or(0, |r| r.filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with("-smaps"))).count());
    let proc = PathBuf::from(format!("/proc/{}", d.pid));
    let _ = std::fs::copy(&d.log, dir.join(format!("{n}-log")));
    for f in ["smaps", "status"] {
        let _ = std::fs::copy(proc.join(f), dir.join(format!("{n}-{f}")));
    }
    let mut names: Vec<String> = std::fs::read_dir(proc.join("task"))
        .map(|r| r.filter_map(|e| e.ok()).filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok()).map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    names.sort();
    let _ = std::fs::write(dir.join(format!("{n}-threads")), names.join("\n"));
}

/// Warm-up, the mixed load, and the drain.
fn soak(cfg: &Config, daemon: Daemon, models: &std::path::Path, budget: u64, sizes: Vec<(String, u64)>) -> Result<Report> {
    warm_up(&daemon)?;
    let start = unload_all(&daemon)?;
    let log = daemon.log.display().to_string();
    let names: Vec<String> = MODELS.iter().map(|(n, _, _)| (*n).to_string()).collect();
    let swap_sources = MODELS.iter().map(|(_, _, alts)| alts.iter().map(|a| fixture(a)).collect()).collect::<Result<_>>()?;
    let started = Instant::now();
    let shared = Shared {
        model_dirs: names.iter().map(|n| models.join(n)).collect(),
        models: names,
        swap_sources,
        budget,
        limit: cfg.requests,
        deadline: started + Duration::from_secs(cfg.seconds),
        started,
        issued: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        stats: Mutex::new(Stats::default()),
        swapped: Mutex::new(Vec::new()),
        daemon,
    };
    drive(cfg, &shared);
    let elapsed = started.elapsed();
    let Shared { mut daemon, stats, .. } = shared;
    let mut stats = stats.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !daemon.alive() {
        stats.fail(format!("ollmlxd exited during the soak:\n{}", daemon.log_tail(40)));
    }
    let end = unload_all(&daemon)?;
    Ok(Report { stats, budget, sizes, start, end, elapsed, log })
}

/// Runs the workers until the count or the deadline, with the control, swap and sampling
/// threads beside them.
fn drive(cfg: &Config, shared: &Shared) {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..cfg.workers.max(1))
            .map(|i| s.spawn(move || load::worker(shared, cfg.seed.wrapping_add(i as u64 * 7919))))
            .collect();
        s.spawn(|| control::controller(shared, cfg.seed ^ 0xC0FFEE));
        s.spawn(|| control::swapper(shared, cfg.seed ^ 0x5A5A));
        s.spawn(|| control::sampler(shared));
        for w in workers {
            let _ = w.join();
        }
        shared.stop.store(true, Ordering::SeqCst);
    });
}
