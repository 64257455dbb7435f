//! GGUF import of a generated llama model holding every supported tensor
//! type (random blocks), checked value by value against an independent numpy
//! GGUF reader; and bad GGUF files refused with clear errors, leaving
//! nothing behind.

mod common;

use std::path::Path;
use std::process::Command;

use common::gguf::{random_data, write, Meta, Rng, Tensor};
use ollmlx_store::{Store, StoreConfig, StoreError};

const HIDDEN: u64 = 256;

fn tokenizer_meta() -> Vec<(&'static str, Meta)> {
    let mut tokens: Vec<String> = [
        "<|endoftext|>",
        "a",
        "b",
        "ab",
        "Ġ",
        "Ġa",
        "<|im_start|>",
        "<|im_end|>",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    tokens.extend((0..8).map(|i| format!("t{i}")));
    let types: Vec<i32> = tokens
        .iter()
        .map(|t| if t.starts_with("<|") { 3 } else { 1 })
        .collect();
    vec![
        ("tokenizer.ggml.model", Meta::Str("gpt2".into())),
        ("tokenizer.ggml.pre", Meta::Str("default".into())),
        ("tokenizer.ggml.tokens", Meta::Strs(tokens)),
        ("tokenizer.ggml.token_type", Meta::I32s(types)),
        (
            "tokenizer.ggml.merges",
            Meta::Strs(vec!["a b".into(), "Ġ a".into()]),
        ),
        ("tokenizer.ggml.bos_token_id", Meta::U32(6)),
        ("tokenizer.ggml.eos_token_id", Meta::U32(7)),
        (
            "tokenizer.chat_template",
            Meta::Str("{% for m in messages %}{{ m.content }}{% endfor %}".into()),
        ),
    ]
}

fn model_meta(arch: &str) -> Vec<(&'static str, Meta)> {
    let mut meta = vec![
        ("general.architecture", Meta::Str(arch.into())),
        ("llama.embedding_length", Meta::U32(HIDDEN as u32)),
        ("llama.feed_forward_length", Meta::U32(256)),
        ("llama.block_count", Meta::U32(2)),
        ("llama.attention.head_count", Meta::U32(4)),
        ("llama.attention.head_count_kv", Meta::U32(2)),
        ("llama.attention.layer_norm_rms_epsilon", Meta::F32(1e-6)),
        ("llama.rope.freq_base", Meta::F32(10_000.0)),
        ("llama.context_length", Meta::U32(512)),
    ];
    meta.extend(tokenizer_meta());
    meta
}

fn tensor(rng: &mut Rng, name: &str, ty: u32, dims: &[u64]) -> Tensor {
    let rows = dims.get(1).copied().unwrap_or(1) as usize;
    Tensor {
        name: name.into(),
        dims: dims.to_vec(),
        ty,
        data: random_data(rng, ty, rows, dims[0] as usize),
    }
}

/// Every type this importer handles, spread over two layers.
fn all_types_model() -> Vec<Tensor> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (h, kv) = (HIDDEN, 128);
    let mut t = vec![
        tensor(&mut rng, "token_embd.weight", 8, &[h, 16]),
        tensor(&mut rng, "output_norm.weight", 0, &[h]),
        tensor(&mut rng, "output.weight", 14, &[h, 16]),
    ];
    let layers: [[u32; 9]; 2] = [
        [0, 2, 3, 6, 7, 12, 13, 10, 1],
        [0, 11, 12, 14, 30, 1, 0, 8, 0],
    ];
    for (l, types) in layers.iter().enumerate() {
        let parts = [
            ("attn_norm", vec![h]),
            ("attn_q", vec![h, h]),
            ("attn_k", vec![h, kv]),
            ("attn_v", vec![h, kv]),
            ("attn_output", vec![h, h]),
            ("ffn_gate", vec![h, 256]),
            ("ffn_up", vec![h, 256]),
            ("ffn_down", vec![256, h]),
            ("ffn_norm", vec![h]),
        ];
        for ((part, dims), ty) in parts.iter().zip(types) {
            t.push(tensor(
                &mut rng,
                &format!("blk.{l}.{part}.weight"),
                *ty,
                dims,
            ));
        }
    }
    t
}

fn store(dir: &Path) -> Store {
    Store::open(StoreConfig {
        models_dir: dir.join("models"),
        hf_cache_dirs: vec![],
        ollama_dir: None,
    })
    .unwrap()
}

#[test]
fn every_supported_type_matches_an_independent_reader() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("all.gguf");
    std::fs::write(&file, write(&model_meta("llama"), &all_types_model())).unwrap();
    let store = store(dir.path());
    let entry = store
        .import_gguf(&file, "test/all-types", &mut |_| {})
        .unwrap();
    let out = Command::new(common::venv_python())
        .arg(common::repo_root().join("store/tests/py/gguf_ref.py"))
        .arg(&file)
        .arg(&entry.path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["compared"], 21, "{summary}");
    assert_eq!(
        summary["types"],
        serde_json::json!([0, 1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 30])
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry.path.join("config.json")).unwrap()).unwrap();
    let q = &config["quantization"];
    assert_eq!(
        (q["bits"].as_u64(), q["group_size"].as_u64()),
        (Some(4), Some(32))
    );
    assert_eq!(q["model.embed_tokens"]["bits"], 8);
    assert_eq!(q["model.layers.0.self_attn.v_proj"]["bits"], 5);
    assert_eq!(q["model.layers.1.mlp.down_proj"]["bits"], 8);
    assert!(
        q.get("model.layers.0.mlp.down_proj").is_none(),
        "Q2_K is dequantized, not quantized"
    );
    assert_eq!(config["tie_word_embeddings"], false);
    assert_eq!(config["eos_token_id"], 7);
}

fn assert_refused(bytes: &[u8], want: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.gguf");
    std::fs::write(&file, bytes).unwrap();
    let store = store(dir.path());
    let err = store
        .import_gguf(&file, "test/bad", &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, StoreError::Gguf { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(want) && msg.contains("bad.gguf"),
        "{msg:?} lacks {want:?}"
    );
    assert!(store.list().is_empty());
    let leftovers: Vec<_> = walk(store.models_dir());
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

/// Every file under `dir` (a failed import must leave none).
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn bad_gguf_files_are_refused_with_clear_errors() {
    let mut rng = Rng(7);
    let good = write(
        &model_meta("llama"),
        &[tensor(&mut rng, "token_embd.weight", 8, &[HIDDEN, 16])],
    );
    let mut magic = good.clone();
    magic[..4].copy_from_slice(b"GGML");
    assert_refused(&magic, "not a GGUF file");
    let mut v1 = good.clone();
    v1[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert_refused(&v1, "unsupported GGUF version 1");
    let mut big_endian = good.clone();
    big_endian[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert_refused(&big_endian, "big-endian");
    assert_refused(&good[..200], "GGUF");
    assert_refused(&good[..good.len() - 100], "truncated");
    assert_refused(b"", "truncated");
    let mut huge = good.clone();
    // First key length (at byte 24) claims more bytes than the file has.
    huge[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_refused(&huge, "corrupt");
    assert_refused(
        &write(&model_meta("mamba"), &[]),
        "unsupported architecture \"mamba\"",
    );
    let iq = Tensor {
        name: "token_embd.weight".into(),
        dims: vec![HIDDEN, 16],
        ty: 16,
        data: vec![0; 1024],
    };
    assert_refused(&write(&model_meta("llama"), &[iq]), "IQ2_XXS");
    let moe = tensor(&mut rng, "blk.0.ffn_gate_exps.weight", 0, &[HIDDEN, 4]);
    assert_refused(&write(&model_meta("llama"), &[moe]), "ffn_gate_exps");
    let mut spm = model_meta("llama");
    spm.retain(|(k, _)| *k != "tokenizer.ggml.model");
    spm.push(("tokenizer.ggml.model", Meta::Str("llama".into())));
    assert_refused(&write(&spm, &[]), "not supported");
    let mut no_hidden = model_meta("llama");
    no_hidden.retain(|(k, _)| *k != "llama.embedding_length");
    assert_refused(&write(&no_hidden, &[]), "llama.embedding_length");
}

#[test]
fn import_refuses_to_overwrite_and_rejects_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.gguf");
    std::fs::write(&file, write(&model_meta("llama"), &all_types_model())).unwrap();
    let store = store(dir.path());
    store.import_gguf(&file, "test/m", &mut |_| {}).unwrap();
    assert!(matches!(
        store.import_gguf(&file, "TEST/M", &mut |_| {}),
        Err(StoreError::AlreadyExists { .. })
    ));
    assert!(matches!(
        store.import_gguf(&file, "../escape", &mut |_| {}),
        Err(StoreError::InvalidName(_))
    ));
    let missing = store
        .import_gguf(&dir.path().join("nope.gguf"), "test/n", &mut |_| {})
        .unwrap_err();
    assert!(missing.to_string().contains("nope.gguf"), "{missing}");
}
