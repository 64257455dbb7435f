//! Shared helpers of the engine's integration tests: test-model folders and the mlx-lm oracle.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A test model made by `scripts/setup.sh` (fails with the fix when absent).
pub fn model_dir(name: &str) -> PathBuf {
    let base = root().join(".cache/models");
    let candidates = [base.join(name), base.join("tiny").join(name)];
    for c in &candidates {
        if c.join("config.json").is_file() {
            return c.clone();
        }
    }
    panic!("test model {name} not found under {}: run scripts/setup.sh", base.display());
}

/// One oracle answer.
#[derive(serde::Deserialize, Debug)]
pub struct OracleResult {
    pub prompt_tokens: Vec<u32>,
    pub tokens: Vec<u32>,
    pub first_eos: Option<usize>,
    pub logits: Vec<f32>,
}

/// Runs mlx-lm on `prompts` (token-id lists) and returns its greedy tokens and first-step logits.
pub fn oracle(model: &Path, prompts: &[Vec<u32>], max_tokens: usize, dequantize_f32: bool) -> Vec<OracleResult> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prompts.json");
    std::fs::write(&file, serde_json::to_string(prompts).unwrap()).unwrap();
    let py = root().join(".venv/bin/python");
    assert!(py.exists(), "{} missing: run scripts/setup.sh", py.display());
    let mut cmd = Command::new(py);
    cmd.arg(root().join("tests/oracle/oracle.py"))
        .arg("--model")
        .arg(model)
        .arg("--prompts-json")
        .arg(&file)
        .arg("--max-tokens")
        .arg(max_tokens.to_string());
    if dequantize_f32 {
        cmd.arg("--dequantize-f32");
    }
    let openblas = Path::new("/usr/lib/x86_64-linux-gnu/libopenblas.so.0");
    if openblas.exists() {
        cmd.env("LD_PRELOAD", openblas);
    }
    let out = cmd.output().expect("running the mlx-lm oracle");
    assert!(out.status.success(), "oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("oracle JSON")
}

/// Largest |a-b| relative to the largest |b|.
pub fn max_rel_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "logit vectors differ in length");
    let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-6);
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale
}
