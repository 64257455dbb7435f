//! Discovery of Ollama's store: manifests naming a GGUF blob are listed
//! read-only and converted to MLX on first resolve; blobs that are not a
//! convertible GGUF and corrupt manifests are skipped.

mod common;

use std::path::Path;

use ollmlx_store::{Source, Store, StoreConfig, StoreError};
use sha2::{Digest, Sha256};

fn manifest(dir: &Path, host: &str, ns: &str, model: &str, tag: &str, blob_hex: &str, size: u64) {
    let path = dir.join("manifests").join(host).join(ns).join(model);
    std::fs::create_dir_all(&path).unwrap();
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": format!("sha256:{}", "0".repeat(64)), "size": 10},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": format!("sha256:{blob_hex}"), "size": size},
            {"mediaType": "application/vnd.ollama.image.template", "digest": format!("sha256:{}", "1".repeat(64)), "size": 10},
        ],
    });
    std::fs::write(path.join(tag), serde_json::to_vec(&doc).unwrap()).unwrap();
}

#[cfg(unix)]
#[test]
fn ollama_gguf_models_are_listed_and_converted_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let ollama = dir.path().join("ollama");
    std::fs::create_dir_all(ollama.join("blobs")).unwrap();
    let gguf = common::smollm_gguf();
    let bytes = std::fs::read(&gguf).unwrap();
    let hex = hex::encode(Sha256::digest(&bytes));
    std::os::unix::fs::symlink(&gguf, ollama.join("blobs").join(format!("sha256-{hex}"))).unwrap();
    manifest(
        &ollama,
        "registry.ollama.ai",
        "library",
        "smollm2",
        "135m",
        &hex,
        bytes.len() as u64,
    );
    manifest(
        &ollama,
        "hf.co",
        "bartowski",
        "SmolLM2-GGUF",
        "Q4_1",
        &hex,
        bytes.len() as u64,
    );
    // A blob that is not GGUF, a missing blob, a corrupt manifest, an unknown host.
    let junk = "a".repeat(64);
    std::fs::write(
        ollama.join("blobs").join(format!("sha256-{junk}")),
        b"not a gguf",
    )
    .unwrap();
    manifest(
        &ollama,
        "registry.ollama.ai",
        "library",
        "junk",
        "latest",
        &junk,
        10,
    );
    manifest(
        &ollama,
        "registry.ollama.ai",
        "library",
        "gone",
        "latest",
        &"b".repeat(64),
        10,
    );
    std::fs::create_dir_all(ollama.join("manifests/registry.ollama.ai/library/corrupt")).unwrap();
    std::fs::write(
        ollama.join("manifests/registry.ollama.ai/library/corrupt/latest"),
        b"{\"layers\": [",
    )
    .unwrap();
    manifest(&ollama, "example.com", "x", "y", "latest", &hex, 1);
    let store = Store::open(StoreConfig {
        models_dir: dir.path().join("models"),
        hf_cache_dirs: vec![],
        ollama_dir: Some(ollama),
    })
    .unwrap();
    let listed: Vec<(String, Source, bool)> = store
        .list()
        .into_iter()
        .map(|e| (e.name.to_string(), e.source, e.read_only))
        .collect();
    assert_eq!(
        listed,
        [
            (
                "bartowski/SmolLM2-GGUF:Q4_1".to_string(),
                Source::Ollama,
                true
            ),
            ("smollm2:135m".to_string(), Source::Ollama, true)
        ]
    );
    let listed_entry = store
        .list()
        .into_iter()
        .find(|e| e.name.to_string() == "smollm2:135m")
        .unwrap();
    assert!(!listed_entry.path.exists(), "listing converts nothing");
    assert_eq!(listed_entry.digest, hex);
    let entry = store.resolve("smollm2:135m").unwrap();
    assert!(entry.path.join("model.safetensors").exists());
    assert!(entry.path.join("tokenizer.json").exists());
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(entry.path.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["num_hidden_layers"], 30);
    // Second resolve finds the conversion; delete is refused.
    assert_eq!(store.resolve("SMOLLM2:135M").unwrap().path, entry.path);
    assert!(matches!(
        store.delete("smollm2:135m"),
        Err(StoreError::ReadOnly { .. })
    ));
    assert!(store.show("smollm2:135m").unwrap().chat_template.is_some());
}
