//! Every pool rule through the real daemon: LRU order under a byte budget (sampled while
//! models rotate), keep_alive expiry, pinning, in-flight protection, the queue's 503,
//! single-flight loads, hot swap after files are replaced, and the over-budget error.

mod common;

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

const CTX: u64 = 256;

/// Each model's prefix cache, the same in every daemon here: its reserve is part of a
/// model's charge, and the default scales with the budget, so the probe's measured charge
/// would not hold under the budgets the tests derive from it.
const PREFIX_CACHE: (&str, &str) = ("OLLMLX_PREFIX_CACHE", "4MiB");

fn start(models: &[(&str, &str)], env: &[(&str, &str)]) -> common::Daemon {
    let env: Vec<(&str, &str)> = std::iter::once(PREFIX_CACHE).chain(env.iter().copied()).collect();
    common::start(models, &env)
}

fn models(names: &[&'static str]) -> Vec<(&'static str, &'static str)> {
    names.iter().map(|n| (*n, "tiny-llama-f32")).collect()
}

/// Bytes one tiny model is charged (weights + KV for CTX), measured by a daemon.
fn charge_of_one() -> u64 {
    let d = start(&models(&["probe"]), &[]);
    let (s, v) = d.post("/ollmlx/load", &json!({"model": "probe", "num_ctx": CTX}));
    assert_eq!(s, 200, "{v}");
    let (_, status) = d.get("/ollmlx/status");
    status["models"][0]["bytes"].as_u64().unwrap()
}

fn budget_for(n: f64) -> String {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    let b = (charge_of_one() as f64 * n) as u64;
    b.to_string()
}

fn use_model(d: &common::Daemon, name: &str) {
    let (s, v) = d.generate(name, json!({"options": {"num_ctx": CTX, "num_predict": 2, "temperature": 0}}));
    assert_eq!(s, 200, "{name}: {v}\n{}", d.log());
}

/// Opens a long streaming generation and reads its first line; the request stays in flight
/// until the returned reader is dropped.
fn hold(d: &common::Daemon, name: &str) -> BufReader<reqwest::blocking::Response> {
    let r = d
        .http
        .post(d.url("/api/generate"))
        .json(&json!({"model": name, "prompt": "Hi", "options": {"num_ctx": 130_000, "num_predict": 120_000}}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut reader = BufReader::new(r);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.contains("\"done\":false"), "{line}");
    reader
}

#[test]
fn lru_rotation_never_exceeds_the_budget() {
    let budget = budget_for(2.5);
    let d = Arc::new(start(&models(&["a", "b", "c"]), &[("OLLMLX_MEMORY_BUDGET", &budget)]));
    let budget: u64 = budget.parse().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let max_seen = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (d, stop, max_seen) = (d.clone(), stop.clone(), max_seen.clone());
        std::thread::spawn(move || {
            let mut samples = 0;
            while !stop.load(Ordering::Relaxed) {
                let total: u64 = d.ps().iter().map(|m| m["size"].as_u64().unwrap()).sum();
                max_seen.fetch_max(total, Ordering::Relaxed);
                samples += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            samples
        })
    };
    for name in ["a", "b", "a", "c"] {
        use_model(&d, name);
    }
    assert_eq!(d.loaded(), ["a:latest", "c:latest"], "b was least recently used");
    use_model(&d, "b");
    assert_eq!(d.loaded(), ["b:latest", "c:latest"], "then a");
    for name in ["a", "b", "c", "a"] {
        use_model(&d, name);
    }
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    assert!(samples > 5, "{samples}");
    let max = max_seen.load(Ordering::Relaxed);
    assert!(max > 0 && max <= budget, "resident total {max} over budget {budget}");
}

#[test]
fn keep_alive_expires_after_the_last_request() {
    let d = start(&models(&["a", "b"]), &[]);
    d.generate("a", json!({"keep_alive": "1s"}));
    d.generate("b", json!({"keep_alive": "1h"}));
    assert_eq!(d.loaded(), ["a:latest", "b:latest"]);
    d.wait_for("a to expire", 15, |d| d.loaded() == ["b:latest"]);
    // keep_alive 0 on a real request: unloaded as soon as it ends.
    d.generate("a", json!({"keep_alive": 0}));
    d.wait_for("a to unload", 10, |d| d.loaded() == ["b:latest"]);
}

#[test]
fn pinned_models_are_never_evicted() {
    let budget = budget_for(2.5);
    let d = start(&models(&["a", "b", "c"]), &[("OLLMLX_MEMORY_BUDGET", &budget)]);
    let (s, v) = d.post("/ollmlx/load", &json!({"model": "a", "pin": true, "num_ctx": CTX}));
    assert_eq!(s, 200, "{v}");
    use_model(&d, "b");
    use_model(&d, "c");
    assert_eq!(d.loaded(), ["a:latest", "c:latest"]);
    let (_, status) = d.get("/ollmlx/status");
    let a = status["models"].as_array().unwrap().iter().find(|m| m["name"] == "a:latest").unwrap().clone();
    assert_eq!(a["pinned"], true);
    assert!(status["used_bytes"].as_u64().unwrap() <= status["budget_bytes"].as_u64().unwrap());
    assert_eq!(d.post("/ollmlx/unpin", &json!({"model": "a"})).0, 200);
    use_model(&d, "b");
    assert_eq!(d.loaded(), ["b:latest", "c:latest"], "unpinned, a was least recently used");
}

#[test]
fn a_busy_model_is_waited_for_and_a_full_queue_is_503() {
    let budget = budget_for(1.5);
    let d = Arc::new(start(&models(&["a", "b"]), &[("OLLMLX_MEMORY_BUDGET", &budget), ("OLLMLX_MAX_QUEUE", "1")]));
    use_model(&d, "a");
    let held = hold(&d, "a");
    let waiter = {
        let d = d.clone();
        std::thread::spawn(move || d.generate("b", json!({"options": {"num_ctx": CTX, "num_predict": 2}})))
    };
    d.wait_for("b to queue", 20, |d| d.get("/ollmlx/status").1["queued"] == 1);
    let r = d.http.post(d.url("/api/generate")).json(&json!({"model": "b", "prompt": "x"})).send().unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().unwrap();
    assert!(v["error"].as_str().unwrap().contains("maximum pending requests"), "{v}");
    assert!(d.loaded().contains(&"a:latest".to_string()), "a is in flight, never evicted");
    assert!(!waiter.is_finished());
    drop(held); // the client goes away; a's generation stops and a becomes evictable
    let (s, v) = waiter.join().unwrap();
    assert_eq!(s, 200, "{v}");
    assert_eq!(d.loaded(), ["b:latest"]);
}

#[test]
fn concurrent_requests_share_one_load() {
    let d = Arc::new(start(&models(&["a"]), &[]));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let d = d.clone();
            std::thread::spawn(move || d.generate("a", json!({})).0)
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    assert_eq!(d.log().matches(": loaded").count(), 1, "{}", d.log());
}

#[test]
fn hot_swap_serves_the_new_files_and_frees_the_old_copy() {
    let d = start(&models(&["swap"]), &[]);
    let held = hold(&d, "swap");
    // Replace the files the way a pull does: a staged copy renamed into place (the loaded
    // copy keeps its old files).
    let dir = d.store.join("library/swap");
    let staging = d.store.join("staging");
    common::copy_dir(&common::fixture("tiny-qwen2-f32"), &staging);
    for entry in std::fs::read_dir(&staging).unwrap() {
        let entry = entry.unwrap();
        std::fs::rename(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    std::fs::remove_dir(&staging).unwrap();
    let family = |d: &common::Daemon| -> Vec<String> {
        d.ps().iter().map(|m| m["details"]["family"].as_str().unwrap_or("").to_string()).collect()
    };
    d.wait_for("the new version to load", 30, |d| {
        d.generate("swap", json!({}));
        family(d).contains(&"qwen2".to_string())
    });
    assert_eq!(family(&d).len(), 2, "the old copy finishes its request first");
    drop(held);
    d.wait_for("the old copy to be freed", 20, |d| family(d) == ["qwen2"]);
    // A deleted model is unloaded.
    std::fs::remove_dir_all(&dir).unwrap();
    d.wait_for("the deleted model to unload", 20, |d| d.loaded().is_empty());
}

#[test]
fn a_model_larger_than_the_budget_is_refused_by_name() {
    let d = start(&models(&["big"]), &[("OLLMLX_MEMORY_BUDGET", "10MB")]);
    let (s, v) = d.generate("big", json!({}));
    assert_eq!(s, 507, "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("'big:latest'") && e.contains("budget") && e.contains("MiB"), "{e}");
    assert_eq!(d.get("/").0, 200);
}
