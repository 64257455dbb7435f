//! `Store::pull` honours HF_ENDPOINT (its own test binary: it sets the
//! process environment).

mod common;

use common::hub::{model_repo, sha_of, Hub};
use ollmlx_store::{Store, StoreConfig};

#[tokio::test]
async fn pull_uses_hf_endpoint_and_hf_token_from_the_environment() {
    let hub = Hub::start().await;
    hub.add_repo("env/Model", "main", &sha_of(9), model_repo(5_000, 9));
    std::env::set_var("HF_ENDPOINT", &hub.url);
    std::env::set_var("HF_TOKEN", "hf_test_token");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig {
        models_dir: dir.path().to_path_buf(),
        hf_cache_dirs: vec![],
        ollama_dir: None,
    })
    .unwrap();
    let entry = store.pull("env/Model", &mut |_| {}).await.unwrap();
    assert_eq!(entry.name.to_string(), "env/Model:latest");
    assert!(
        hub.state
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
    let auth = hub.state.auth.lock().unwrap().clone();
    assert!(
        !auth.is_empty() && auth.iter().all(|a| a == "Bearer hf_test_token"),
        "{auth:?}"
    );
}
