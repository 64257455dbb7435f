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

/// A long-lived mlx-lm oracle: one request per line (`{"model": dir, "runs": [...]}`), one answer
/// per line (`ok {mode: [results]}` or `err <traceback>`). For each model it runs the model as
/// stored ("stored"), then converts it to float32 as `oracle.py --dequantize-f32` does and runs
/// again ("f32"), through oracle.py's own functions, so answers equal oracle.py runs while the
/// interpreter and mlx-lm start once per test binary instead of once per model.
const ORACLE_SERVER: &str = r#"
import io, json, sys, traceback
sys.path.insert(0, sys.argv[1])
import oracle, oracle_common
out, sys.stdout = sys.stdout, sys.stderr
for line in sys.stdin:
    try:
        req = json.loads(line)
        model, tokenizer = oracle_common.load_model(req["model"], False)
        eos = set(tokenizer.eos_token_ids)
        parts = []
        for run in sorted(req["runs"], key=lambda r: r["mode"] != "stored"):
            if run["mode"] == "f32":
                model = oracle_common.to_float32(model)
            prompts = run["prompts"]
            results = [oracle.run_prompt(model, oracle.prompt_ids(p, tokenizer), run["max_tokens"], eos) for p in prompts]
            buf = io.StringIO()
            oracle.write_json(results, buf)
            parts.append(json.dumps(run["mode"]) + ": " + buf.getvalue().strip())
        out.write("ok {" + ",".join(parts) + "}\n")
    except Exception:
        out.write("err " + json.dumps(traceback.format_exc()) + "\n")
    out.flush()
"#;

/// One oracle run: a dtype policy (`"stored"`: weights as stored; `"f32"`: dequantized and cast
/// to float32, as `oracle.py --dequantize-f32`), its prompts and how many tokens to generate.
#[derive(serde::Serialize)]
pub struct OracleRun<'a> {
    pub mode: &'a str,
    pub prompts: &'a [Vec<u32>],
    pub max_tokens: usize,
}

struct OracleServer {
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    _child: std::process::Child,
}

impl OracleServer {
    fn start() -> OracleServer {
        let py = root().join(".venv/bin/python");
        assert!(py.exists(), "{} missing: run scripts/setup.sh", py.display());
        let mut cmd = Command::new(py);
        cmd.arg("-c").arg(ORACLE_SERVER).arg(root().join("tests/oracle"));
        cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
        // mlx-lm and transformers chatter on stderr; only failures matter, and they come back
        // on stdout as tracebacks.
        cmd.stderr(std::process::Stdio::null());
        let openblas = Path::new("/usr/lib/x86_64-linux-gnu/libopenblas.so.0");
        if openblas.exists() {
            cmd.env("LD_PRELOAD", openblas);
        }
        let mut child = cmd.spawn().expect("starting the mlx-lm oracle");
        let stdin = child.stdin.take().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        // The child ends when this process exits: its stdin closes and its loop finishes.
        OracleServer { stdin, stdout, _child: child }
    }
}

static SERVER: std::sync::OnceLock<std::sync::Mutex<OracleServer>> = std::sync::OnceLock::new();

/// mlx-lm's answers for each run, keyed by mode. Requests from parallel tests queue on one
/// interpreter (our side of each test keeps running meanwhile).
pub fn oracle_modes(model: &Path, runs: &[OracleRun]) -> std::collections::BTreeMap<String, Vec<OracleResult>> {
    use std::io::{BufRead, Write};
    let request = serde_json::json!({ "model": model, "runs": runs }).to_string();
    let server = SERVER.get_or_init(|| std::sync::Mutex::new(OracleServer::start()));
    let mut s = server.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    writeln!(s.stdin, "{request}").and_then(|()| s.stdin.flush()).expect("the mlx-lm oracle exited");
    let mut line = String::new();
    s.stdout.read_line(&mut line).expect("reading the mlx-lm oracle");
    drop(s);
    match line.split_once(' ') {
        Some(("ok", json)) => serde_json::from_str(json).expect("oracle JSON"),
        Some(("err", tb)) => panic!("oracle failed on {}:\n{}", model.display(), serde_json::from_str::<String>(tb).unwrap_or_default()),
        _ => panic!("the mlx-lm oracle exited (answer {line:?})"),
    }
}
