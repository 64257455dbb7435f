//! Replays every committed fuzz seed (`fuzz/seeds/<target>/`) and every crash reproducer
//! (`fuzz/regressions/<target>/`) through the fuzz entry points, on stable Rust: nothing may
//! panic, `ok-*` seeds must be accepted all the way (parsed, validated, loaded by the engine)
//! and `bad-*` seeds refused. The entry points are compiled from the fuzz crate's own source.
#[path = "../../fuzz/src/entry.rs"]
mod entry;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Runs `f` on every file of `seeds/<target>` and `regressions/<target>`; returns how many ran.
fn replay(target: &str, f: fn(&[u8]) -> entry::Outcome) -> usize {
    let mut ran = 0;
    let mut failures = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = fuzz_dir().join(kind).join(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect())
            .unwrap_or_default();
        files.sort();
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            ran += 1;
            match catch_unwind(AssertUnwindSafe(|| f(&bytes))) {
                Err(_) => failures.push(format!("{kind}/{target}/{name}: panicked")),
                Ok(Err(e)) if name.starts_with("ok-") => failures.push(format!("{kind}/{target}/{name}: refused: {e}")),
                Ok(Ok(())) if name.starts_with("bad-") => failures.push(format!("{kind}/{target}/{name}: accepted")),
                Ok(_) => {}
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    ran
}

#[test]
fn api_request_corpus() {
    assert!(replay("api_request", entry::api_request) >= 5);
}

#[test]
fn model_name_corpus() {
    assert!(replay("model_name", entry::model_name) >= 5);
}

#[test]
fn safetensors_corpus() {
    assert!(replay("safetensors", entry::safetensors) >= 2);
}

#[test]
fn config_json_corpus() {
    assert!(replay("config_json", entry::config_json) >= 5);
}

#[test]
fn gguf_corpus() {
    assert!(replay("gguf", entry::gguf) >= 2);
}
