//! StoreConfig::from_env (its own binary: it sets the environment).

use std::path::PathBuf;

#[test]
fn from_env_finds_hf_caches_and_ollama() {
    std::env::set_var("HF_HUB_CACHE", "/cache/hub");
    std::env::set_var("HF_HOME", "/hfhome");
    std::env::set_var("HOME", "/home/u");
    std::env::remove_var("OLLAMA_MODELS");
    let c = ollmlx_store::StoreConfig::from_env(PathBuf::from("/models"));
    let want: Vec<PathBuf> = [
        "/cache/hub",
        "/hfhome/hub",
        "/home/u/.cache/huggingface/hub",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    assert_eq!(c.hf_cache_dirs, want);
    assert_eq!(c.ollama_dir, Some(PathBuf::from("/home/u/.ollama/models")));
    std::env::set_var("HF_HUB_CACHE", "/home/u/.cache/huggingface/hub");
    std::env::remove_var("HF_HOME");
    std::env::set_var("OLLAMA_MODELS", "/o");
    let c = ollmlx_store::StoreConfig::from_env(PathBuf::from("/models"));
    assert_eq!(
        c.hf_cache_dirs,
        vec![PathBuf::from("/home/u/.cache/huggingface/hub")]
    );
    assert_eq!(c.ollama_dir, Some(PathBuf::from("/o")));
}
