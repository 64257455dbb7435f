//! Watcher events from `Store::watch_with`: a folder copied in by hand is
//! registered only once complete and stable, removals and weight changes
//! are reported, and HF cache downloads appear without a restart.

mod common;

use std::path::Path;
use std::time::Duration;

use ollmlx_store::{ModelName, Store, StoreConfig, StoreEvent, WatchOptions};
use tokio::sync::mpsc::UnboundedReceiver;

const DEBOUNCE: Duration = Duration::from_millis(150);

fn watched(
    models: &Path,
    hf: Vec<std::path::PathBuf>,
) -> (
    Store,
    ollmlx_store::StoreWatcher,
    UnboundedReceiver<StoreEvent>,
) {
    let store = Store::open(StoreConfig {
        models_dir: models.to_path_buf(),
        hf_cache_dirs: hf,
        ollama_dir: None,
    })
    .unwrap();
    let (watcher, rx) = store
        .watch_with(WatchOptions { debounce: DEBOUNCE })
        .unwrap();
    (store, watcher, rx)
}

async fn next(rx: &mut UnboundedReceiver<StoreEvent>) -> StoreEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .expect("watcher alive")
}

/// Waits several debounce periods and asserts nothing was reported.
async fn quiet(rx: &mut UnboundedReceiver<StoreEvent>) {
    tokio::time::sleep(DEBOUNCE * 5).await;
    assert!(rx.try_recv().is_err(), "unexpected event");
}

fn name(s: &str) -> ModelName {
    ModelName::parse(s).unwrap()
}

#[tokio::test]
async fn folder_copied_in_by_hand_is_added_once_complete() {
    let dir = tempfile::tempdir().unwrap();
    common::write_model(&dir.path().join("org/Existing"), 0);
    let (_store, _w, mut rx) = watched(dir.path(), vec![]);
    // Existing models are the starting point, not events.
    quiet(&mut rx).await;
    let target = dir.path().join("org/Arriving");
    std::fs::create_dir_all(&target).unwrap();
    let files = common::model_files(1);
    for (file, bytes) in files.iter().filter(|f| f.0 != "model.safetensors") {
        std::fs::write(target.join(file), bytes).unwrap();
    }
    // Weights arrive in two halves; half a file is not a model.
    let weights = &files.iter().find(|f| f.0 == "model.safetensors").unwrap().1;
    std::fs::write(
        target.join("model.safetensors"),
        &weights[..weights.len() / 2],
    )
    .unwrap();
    quiet(&mut rx).await;
    std::fs::write(target.join("model.safetensors"), weights).unwrap();
    assert_eq!(next(&mut rx).await, StoreEvent::Added(name("org/Arriving")));
    quiet(&mut rx).await;
}

#[tokio::test]
async fn removed_and_changed_models_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    common::write_model(&dir.path().join("org/A"), 1);
    common::write_model(&dir.path().join("org/B"), 2);
    let (store, _w, mut rx) = watched(dir.path(), vec![]);
    std::fs::write(
        dir.path().join("org/A/model.safetensors"),
        common::safetensors_bytes("w", 500),
    )
    .unwrap();
    assert_eq!(next(&mut rx).await, StoreEvent::Changed(name("org/A")));
    store.delete("org/B").unwrap();
    assert_eq!(next(&mut rx).await, StoreEvent::Removed(name("org/B")));
    std::fs::remove_dir_all(dir.path().join("org/A")).unwrap();
    assert_eq!(next(&mut rx).await, StoreEvent::Removed(name("org/A")));
    quiet(&mut rx).await;
}

#[cfg(unix)]
#[tokio::test]
async fn hf_cache_download_is_added_even_if_the_cache_appears_later() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("hf/hub");
    let (_store, _w, mut rx) = watched(&dir.path().join("models"), vec![cache.clone()]);
    quiet(&mut rx).await;
    std::fs::create_dir_all(&cache).unwrap();
    tokio::time::sleep(DEBOUNCE * 3).await;
    let repo = cache.join("models--mlx-community--Fresh");
    let snap = repo.join("snapshots/c0ffee");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    for (file, bytes) in common::model_files(3) {
        std::fs::write(snap.join(file), bytes).unwrap();
    }
    // huggingface_hub writes the ref last.
    std::fs::write(repo.join("refs/main"), "c0ffee").unwrap();
    assert_eq!(
        next(&mut rx).await,
        StoreEvent::Added(name("mlx-community/Fresh"))
    );
}

#[tokio::test]
async fn dropping_the_watcher_stops_events() {
    let dir = tempfile::tempdir().unwrap();
    let (_store, watcher, mut rx) = watched(dir.path(), vec![]);
    drop(watcher);
    tokio::time::sleep(DEBOUNCE * 3).await;
    common::write_model(&dir.path().join("org/Late"), 1);
    let got = tokio::time::timeout(DEBOUNCE * 6, rx.recv()).await;
    assert!(matches!(got, Ok(None) | Err(_)), "{got:?}");
}
