//! Crash safety: `kill -9` of the real daemon during a generation, during a model load and
//! during a pull from a loopback hub; then a new daemon on the same store takes the lock over,
//! lists no half-written model, resumes the pull, and serves the same answers as before.

mod common;
mod support;

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use ollmlx_testhub::{folder_repo, Hub};
use support::model::{write_llama, Shape};
use support::proc::{Node, Proc};

const TINY: (&str, &str) = ("tiny-llama", "tiny-llama-f32");

/// The new daemon holds the store lock: the lock file names it and a third daemon is refused.
fn assert_lock_taken_over(node: &Node, d: &Proc) {
    let text = std::fs::read_to_string(node.store.join(".ollmlxd.lock")).unwrap();
    assert_eq!(text.trim(), d.pid().to_string(), "the lock file names the new daemon");
    let mut third = node.spawn(&[]);
    let status = third.wait_exit(Duration::from_secs(30)).expect("a second daemon on a held store must exit");
    assert!(!status.success());
    assert!(third.log().contains("already serves this store (lock"), "{}", third.log());
}

fn killed_by_sigkill(status: std::process::ExitStatus) {
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
}

#[test]
fn kill9_during_a_generation() {
    let node = Node::new();
    node.add_fixture(TINY.0, TINY.1);
    let d = node.start(&[]);
    let (tags, folders) = (d.tags(), node.folders());
    let reference = d.greedy("tiny-llama", "Hello", 8);
    // A long sampled generation; the daemon dies after some tokens reached us.
    let body = json!({"model": "tiny-llama", "prompt": "Once upon a time", "options": {"num_predict": 100_000, "temperature": 0.9}});
    let mut lines = 0;
    d.stream(reqwest::Method::POST, "/api/generate", Some(&body), |v| {
        assert_ne!(v["done"], true, "the generation ended before the kill: {v}");
        lines += 1;
        if lines == 20 {
            d.sigkill();
            return false;
        }
        true
    });
    assert_eq!(lines, 20);
    killed_by_sigkill(d.kill9());

    let d = node.start(&[]);
    assert_lock_taken_over(&node, &d);
    assert_eq!(d.tags(), tags);
    assert_eq!(node.folders(), folders);
    assert_eq!(d.greedy("tiny-llama", "Hello", 8), reference, "same answer after the crash");
}

/// Big enough that a debug-build daemon takes a measurable time to load it (checked below).
const BIG: Shape = Shape { hidden: 1024, layers: 8, intermediate: 2816 };

#[test]
fn kill9_during_a_model_load() {
    let node = Node::new();
    node.add_fixture(TINY.0, TINY.1);
    write_llama(&common::fixture(TINY.1), &node.store.join("library/big"), BIG, 7);
    let d = node.start(&[]);
    let (tags, folders) = (d.tags(), node.folders());
    assert!(tags.contains(&"big:latest".to_string()), "{tags:?}");
    let reference = d.greedy("tiny-llama", "Hello", 8);

    // Subscribed before the load starts (the reply's headers come after the subscription).
    let events = d.http.get(d.url("/ollmlx/events")).send().unwrap();
    let (http, url) = (d.http.clone(), d.url("/api/generate"));
    let loader = std::thread::spawn(move || http.post(url).json(&json!({"model": "big", "prompt": ""})).send().map(|r| r.status()));
    let mut killed_at = None;
    for line in BufReader::new(events).lines() {
        let Ok(line) = line else { break };
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_ne!(v["event"], "loaded", "the load finished before the kill: {v}");
        if v["event"] == "loading" && v["model"].as_str().is_some_and(|m| m.starts_with("big")) {
            d.sigkill();
            killed_at = Some(Instant::now());
            break;
        }
    }
    assert!(killed_at.is_some(), "no loading event\n{}", d.log());
    assert!(loader.join().unwrap().is_err(), "the load request cannot have been answered");
    killed_by_sigkill(d.kill9());

    let d = node.start(&[]);
    assert_lock_taken_over(&node, &d);
    assert_eq!(d.tags(), tags);
    assert_eq!(node.folders(), folders);
    assert_eq!(d.greedy("tiny-llama", "Hello", 8), reference);
    // The interrupted model loads now, and its load is long compared with the few
    // milliseconds between the loading event and the kill above.
    let events = d.http.get(d.url("/ollmlx/events")).send().unwrap();
    let (status, v) = d.post("/api/generate", &json!({"model": "big", "prompt": ""}));
    assert_eq!((status, &v["done_reason"]), (200, &json!("load")), "{v}");
    let loaded = BufReader::new(events)
        .lines()
        .map_while(Result::ok)
        .map(|l| serde_json::from_str::<Value>(&l).unwrap())
        .find(|v| v["event"] == "loaded")
        .unwrap();
    let load_ms = loaded["load_ms"].as_u64().unwrap();
    eprintln!("big model ({} MB of weights) loaded in {load_ms} ms", BIG.bytes(49152) >> 20);
    assert!(load_ms >= 100, "the load is too quick to have been interrupted: {load_ms} ms");
}

/// hf-hub's chunk when the daemon pulls (`HubConfig::from_env`); a download resumes at a
/// committed chunk boundary.
const CHUNK: u64 = 10_000_000;

/// hf-hub's partial download: the file's bytes, then the committed length (u64 LE).
fn committed_part(store: &Path) -> Option<u64> {
    files_under(&store.join(".partial"))
        .into_iter()
        .filter(|(p, _)| p.to_string_lossy().ends_with(".sync.part"))
        .filter_map(|(p, _)| {
            let mut f = std::fs::File::open(p).ok()?;
            f.seek(SeekFrom::End(-8)).ok()?;
            let mut buf = [0u8; 8];
            f.read_exact(&mut buf).ok()?;
            Some(u64::from_le_bytes(buf))
        })
        .max()
}

/// Every file below `dir` with its size (for failure messages).
fn files_under(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::metadata(&p).map_or(0, |m| m.len())));
            }
        }
    }
    out
}

#[test]
fn kill9_during_a_pull_then_the_pull_resumes() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let hub = runtime.block_on(Hub::start());
    let fixture = common::fixture(TINY.1);
    let weights = std::fs::metadata(fixture.join("model.safetensors")).unwrap().len();
    assert!(weights > 2 * CHUNK, "the fixture must span several chunks");
    hub.add_repo("test/tiny-pull", "main", &format!("{:040x}", 42), folder_repo(&fixture, "model.safetensors"));
    // The weights stall after their first chunk: the pull hangs mid-file.
    *hub.state.stall.lock().unwrap() = Some(("model.safetensors".into(), CHUNK));

    let node = Node::new();
    node.add_fixture(TINY.0, TINY.1);
    let env = [("HF_ENDPOINT", hub.url.as_str())];
    let d = node.start(&env);
    let (tags, folders) = (d.tags(), node.folders());
    let reference = d.greedy("tiny-llama", "Hello", 8);
    let (http, url) = (d.http.clone(), d.url("/api/pull"));
    let puller = std::thread::spawn(move || http.post(url).json(&json!({"model": "hf.co/test/tiny-pull"})).send().and_then(|r| r.text()));
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(hub.state.stalled.load(std::sync::atomic::Ordering::SeqCst) && committed_part(&node.store) >= Some(CHUNK)) {
        assert!(
            Instant::now() < deadline,
            "the pull never reached its first chunk: hub requests {}, stalled {}, committed {:?}, files {:?}\n{}",
            hub.state.requests.load(std::sync::atomic::Ordering::SeqCst),
            hub.state.stalled.load(std::sync::atomic::Ordering::SeqCst),
            committed_part(&node.store),
            files_under(&node.store.join(".partial")),
            d.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    killed_by_sigkill(d.kill9());
    let _ = puller.join().unwrap();
    assert_eq!(node.folders(), folders, "no visible half model in the store");

    *hub.state.stall.lock().unwrap() = None;
    hub.reset_served();
    let d = node.start(&env);
    assert_lock_taken_over(&node, &d);
    assert_eq!(d.tags(), tags, "no half model listed");
    let (status, v) = d.post("/api/pull", &json!({"model": "hf.co/test/tiny-pull", "stream": false}));
    assert_eq!((status, &v["status"]), (200, &json!("success")), "{v}\n{}", d.log());
    // Only the chunks after the committed one come again, plus the one byte of hf-hub's
    // metadata probe (`Range: bytes=0-0`).
    let again = hub.served("model.safetensors");
    assert!(again <= weights - CHUNK + 1, "the pull did not resume: {again} of {weights} bytes fetched again");
    assert!(d.tags().contains(&"test/tiny-pull:latest".to_string()), "{:?}", d.tags());
    assert_eq!(d.greedy("test/tiny-pull", "Hello", 8), reference, "the resumed weights are the fixture's");
}
