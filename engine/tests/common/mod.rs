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

/// One process, both dtype policies: runs mlx-lm on the model as stored ("stored"), then converts
/// it to float32 as `oracle.py --dequantize-f32` does and runs again ("f32"). Reuses oracle.py's
/// own functions, so the answers equal oracle.py runs at the cost of one interpreter start.
const ORACLE_MODES: &str = r#"
import io, json, sys
sys.path.insert(0, sys.argv[1])
import oracle, oracle_common
model_dir, runs = sys.argv[2], json.load(open(sys.argv[3]))
result_out, sys.stdout = sys.stdout, sys.stderr
model, tokenizer = oracle_common.load_model(model_dir, False)
eos = set(tokenizer.eos_token_ids)
parts = []
for run in sorted(runs, key=lambda r: r["mode"] != "stored"):
    if run["mode"] == "f32":
        model = oracle_common.to_float32(model)
    results = [oracle.run_prompt(model, oracle.prompt_ids(p, tokenizer), run["max_tokens"], eos) for p in run["prompts"]]
    buf = io.StringIO()
    oracle.write_json(results, buf)
    parts.append(json.dumps(run["mode"]) + ": " + buf.getvalue())
result_out.write("{" + ",".join(parts) + "}\n")
"#;

/// One oracle run: a dtype policy (`"stored"`: weights as stored; `"f32"`: dequantized and cast
/// to float32, as `oracle.py --dequantize-f32`), its prompts and how many tokens to generate.
#[derive(serde::Serialize)]
pub struct OracleRun<'a> {
    pub mode: &'a str,
    pub prompts: &'a [Vec<u32>],
    pub max_tokens: usize,
}

/// mlx-lm's answers for each run, keyed by mode, from a single interpreter.
pub fn oracle_modes(model: &Path, runs: &[OracleRun]) -> std::collections::BTreeMap<String, Vec<OracleResult>> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runs.json");
    std::fs::write(&file, serde_json::to_string(runs).unwrap()).unwrap();
    let py = root().join(".venv/bin/python");
    assert!(py.exists(), "{} missing: run scripts/setup.sh", py.display());
    let mut cmd = Command::new(py);
    cmd.arg("-c").arg(ORACLE_MODES).arg(root().join("tests/oracle")).arg(model).arg(&file);
    let openblas = Path::new("/usr/lib/x86_64-linux-gnu/libopenblas.so.0");
    if openblas.exists() {
        cmd.env("LD_PRELOAD", openblas);
    }
    let out = cmd.output().expect("running the mlx-lm oracle");
    assert!(out.status.success(), "oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("oracle JSON")
}
