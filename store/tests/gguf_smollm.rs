//! GGUF import of the real SmolLM2-135M-Instruct (Q4_1 linears, Q8_0
//! embedding) checked against MLX's own GGUF loader tensor by tensor, its
//! tokenizer against the GGUF vocabulary, and the folder run by mlx-lm.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use ollmlx_store::{Source, Store, StoreConfig};

/// Imports once per test binary; returns (store, folder).
fn imported() -> &'static (Store, PathBuf) {
    static ONCE: OnceLock<(Store, PathBuf)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("smollm-import-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let store = Store::open(StoreConfig {
            models_dir: root,
            hf_cache_dirs: vec![],
            ollama_dir: None,
        })
        .unwrap();
        let mut statuses = Vec::new();
        let entry = store
            .import_gguf(&common::smollm_gguf(), "local/smollm2-135m", &mut |p| {
                statuses.push(p.status)
            })
            .expect("import succeeds");
        assert_eq!(entry.source, Source::Local);
        assert_eq!(statuses.first().map(String::as_str), Some("parsing GGUF"));
        assert_eq!(statuses.last().map(String::as_str), Some("success"));
        assert!(statuses.iter().any(|s| s == "converting model"));
        (store, entry.path)
    })
}

fn json(path: PathBuf) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[test]
fn config_matches_the_gguf_hyperparameters() {
    let (_, dir) = imported();
    let c = json(dir.join("config.json"));
    assert_eq!(c["model_type"], "llama");
    for (key, want) in [
        ("hidden_size", 576),
        ("intermediate_size", 1536),
        ("num_hidden_layers", 30),
        ("num_attention_heads", 9),
        ("num_key_value_heads", 3),
        ("head_dim", 64),
        ("vocab_size", 49152),
        ("max_position_embeddings", 8192),
        ("bos_token_id", 1),
        ("eos_token_id", 2),
    ] {
        assert_eq!(c[key], want, "{key}");
    }
    assert_eq!(c["rms_norm_eps"], 1e-5);
    assert_eq!(c["rope_theta"], 100_000.0);
    assert_eq!(c["tie_word_embeddings"], true);
    let q = serde_json::json!({"group_size": 32, "bits": 4, "model.embed_tokens": {"group_size": 32, "bits": 8}});
    assert_eq!(c["quantization"], q);
    assert_eq!(c["quantization_config"], q);
    let t = json(dir.join("tokenizer_config.json"));
    assert_eq!(t["bos_token"], "<|im_start|>");
    assert_eq!(t["eos_token"], "<|im_end|>");
    assert_eq!(t["pad_token"], "<|im_end|>");
    assert_eq!(t["unk_token"], "<|endoftext|>");
    assert_eq!(t["add_bos_token"], false);
    assert!(t["chat_template"]
        .as_str()
        .unwrap()
        .contains("<|im_start|>"));
    assert_eq!(json(dir.join("generation_config.json"))["eos_token_id"], 2);
}

#[test]
fn tensors_equal_mlx_gguf_loader_after_unpermuting() {
    let (_, dir) = imported();
    let out = Command::new(common::venv_python())
        .arg(common::repo_root().join("store/tests/py/compare_gguf.py"))
        .arg(common::smollm_gguf())
        .arg(dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "compare failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    // 30 layers x (7 linears + 2 norms) + embedding + final norm.
    assert_eq!(summary["compared"], 272, "{summary}");
    assert_eq!(summary["max_abs_diff"], 0.0, "{summary}");
}

#[test]
fn tokenizer_follows_llama_cpp_smollm_rules() {
    let (_, dir) = imported();
    let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    let id = |t: &str| {
        tok.token_to_id(t)
            .unwrap_or_else(|| panic!("{t} not in vocab"))
    };
    let enc = |s: &str| tok.encode(s, false).unwrap().get_ids().to_vec();
    // Special tokens are matched whole and never split.
    assert_eq!(
        enc("<|im_start|>user\nHi<|im_end|>"),
        vec![1, id("user"), id("Ċ"), id("Hi"), 2]
    );
    assert_eq!(
        (id("<|endoftext|>"), id("<|im_start|>"), id("<|im_end|>")),
        (0, 1, 2)
    );
    // The smollm pre-tokenizer splits digits one by one.
    assert_eq!(enc("2024"), vec![id("2"), id("0"), id("2"), id("4")]);
    // Byte-level, no prefix space: words keep their leading space as Ġ.
    assert_eq!(enc("the sky"), vec![id("the"), id("Ġsky")]);
    // Round trip of unicode, emoji, whitespace and code.
    for text in [
        "héllo wörld 👋 日本語",
        "  two  spaces\n\ttab",
        "fn main() { println!(\"{}\", 1 + 2); }",
    ] {
        let ids = enc(text);
        assert_eq!(tok.decode(&ids, false).unwrap(), text);
    }
    // 17 CONTROL tokens are special added tokens.
    let doc = json(dir.join("tokenizer.json"));
    let added = doc["added_tokens"].as_array().unwrap();
    assert_eq!(added.iter().filter(|t| t["special"] == true).count(), 17);
}

#[test]
fn mlx_lm_runs_the_imported_folder() {
    let (_, dir) = imported();
    let out = Command::new(common::venv_python())
        .arg(common::repo_root().join("store/tests/py/generate.py"))
        .arg(dir)
        .arg("What is the capital of France?")
        .arg("12")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mlx-lm failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert!(
        result["text"].as_str().unwrap().contains("Paris"),
        "{result}"
    );
}

#[test]
fn show_reports_template_tensors_and_manifest_digest() {
    let (store, _) = imported();
    let details = store.show("LOCAL/SmolLM2-135M").unwrap();
    assert!(details.chat_template.unwrap().contains("<|im_start|>"));
    assert_eq!(details.config["model_type"], "llama");
    // 210 quantized linears x 3 + embedding x 3 + 61 norms.
    assert_eq!(details.tensors.len(), 210 * 3 + 3 + 61);
    let q = details
        .tensors
        .iter()
        .find(|t| t.name == "model.layers.0.self_attn.q_proj.weight")
        .unwrap();
    assert_eq!((q.dtype.as_str(), q.shape.clone()), ("U32", vec![576, 72]));
    assert_eq!(details.entry.digest.len(), 64);
    assert!(details
        .parameters
        .contains(&("stop".to_string(), "<|im_end|>".to_string())));
}
