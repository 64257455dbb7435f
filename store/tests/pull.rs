//! Pulls against a loopback hub: success with Ollama-shaped progress,
//! unknown repos, non-MLX repos, interrupted and resumed pulls, corrupted
//! files, up-to-date re-pulls, new revisions and tags.

mod common;

use common::hub::{model_repo, sha_of, Hub};
use ollmlx_store::{HubConfig, Manifest, PullProgress, Store, StoreConfig, StoreError};

fn store(dir: &tempfile::TempDir) -> Store {
    Store::open(StoreConfig {
        models_dir: dir.path().join("models"),
        hf_cache_dirs: vec![],
        ollama_dir: None,
    })
    .unwrap()
}

fn hub_config(hub: &Hub) -> HubConfig {
    let mut config = HubConfig::new(&hub.url);
    config.chunk_size = 64 * 1024;
    // In order, one at a time: the interrupted pull below counts how much of the file was
    // committed before the cut, and with parallel chunks that depends on which finished first.
    config.parallel_chunks = 1;
    config
}

async fn pull(
    store: &Store,
    hub: &Hub,
    name: &str,
) -> (
    Result<ollmlx_store::ModelEntry, StoreError>,
    Vec<PullProgress>,
) {
    let mut lines = Vec::new();
    let result = store
        .pull_from(&hub_config(hub), name, &mut |p| lines.push(p))
        .await;
    (result, lines)
}

/// Visible entries of the models folder (hidden work folders excluded).
fn visible_tree(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    for org in std::fs::read_dir(store.models_dir()).unwrap().flatten() {
        let name = org.file_name().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue;
        }
        for e in std::fs::read_dir(org.path()).unwrap().flatten() {
            out.push(format!("{name}/{}", e.file_name().to_string_lossy()));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn pull_publishes_folder_manifest_and_ollama_progress() {
    let hub = Hub::start().await;
    hub.add_repo(
        "mlx-community/Tiny-4bit",
        "main",
        &sha_of(1),
        model_repo(300_000, 1),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let (result, lines) = pull(&store, &hub, "hf.co/mlx-community/Tiny-4bit").await;
    let entry = result.unwrap();
    assert_eq!(entry.name.to_string(), "mlx-community/Tiny-4bit:latest");
    assert_eq!(
        entry.path,
        store.models_dir().join("mlx-community/Tiny-4bit")
    );
    let statuses: Vec<&str> = lines.iter().map(|l| l.status.as_str()).collect();
    assert_eq!(statuses.first(), Some(&"pulling manifest"));
    assert_eq!(
        &statuses[statuses.len() - 3..],
        &["verifying sha256 digest", "writing manifest", "success"]
    );
    let weights = lines
        .iter()
        .filter(|l| l.status == "pulling model.safetensors")
        .collect::<Vec<_>>();
    let last = weights.last().unwrap();
    assert!(last.digest.as_ref().unwrap().starts_with("sha256:"));
    assert_eq!(last.total, last.completed);
    assert!(weights.len() > 3, "progress is streamed: {weights:?}");
    let json = serde_json::to_string(&lines[0]).unwrap();
    assert_eq!(json, r#"{"status":"pulling manifest"}"#);
    // Only what an MLX model needs was fetched.
    let mut files: Vec<String> = std::fs::read_dir(&entry.path)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "config.json",
            "generation_config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json"
        ]
    );
    assert_eq!(hub.served("model.gguf"), 0);
    let manifest = Manifest::read(
        &store
            .models_dir()
            .join("mlx-community/Tiny-4bit.manifest.json"),
    )
    .unwrap();
    assert_eq!(manifest.digest(), entry.digest);
    assert_eq!(manifest.files.len(), 5);
    assert_eq!(
        store.resolve("MLX-COMMUNITY/tiny-4bit").unwrap().digest,
        entry.digest
    );
}

#[tokio::test]
async fn unknown_repo_is_not_found_and_writes_nothing() {
    let hub = Hub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let err = pull(&store, &hub, "nobody/nothing").await.0.unwrap_err();
    assert!(
        matches!(err, StoreError::NoSuchRepo { status: 404, .. }),
        "{err}"
    );
    assert!(err.is_not_found());
    assert!(err.to_string().contains("nobody/nothing"));
    assert!(visible_tree(&store).is_empty());
}

#[tokio::test]
async fn repo_without_safetensors_is_not_an_mlx_model() {
    let hub = Hub::start().await;
    let files = model_repo(1000, 2)
        .into_iter()
        .filter(|f| f.path != "model.safetensors")
        .collect();
    hub.add_repo("someone/Model-GGUF", "main", &sha_of(2), files);
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let err = pull(&store, &hub, "someone/Model-GGUF")
        .await
        .0
        .unwrap_err();
    assert!(matches!(err, StoreError::NotMlx { .. }), "{err}");
    assert!(err.to_string().contains("ollmlxctl import"), "{err}");
    assert!(visible_tree(&store).is_empty());
}

#[tokio::test]
async fn interrupted_pull_is_never_a_model_and_resumes() {
    let hub = Hub::start().await;
    let repo = model_repo(600_000, 3);
    let size = repo
        .iter()
        .find(|f| f.path == "model.safetensors")
        .unwrap()
        .bytes
        .len() as u64;
    hub.add_repo("org/Resumable", "main", &sha_of(3), repo);
    *hub.state.cut.lock().unwrap() = Some(("model.safetensors".into(), 400_000));
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let err = pull(&store, &hub, "org/Resumable").await.0.unwrap_err();
    assert!(matches!(err, StoreError::Hub { .. }), "{err}");
    assert!(err.to_string().contains("pull again"), "{err}");
    assert!(store.list().is_empty());
    assert!(
        visible_tree(&store).is_empty(),
        "{:?}",
        visible_tree(&store)
    );
    // Wait for hf-hub's background chunk tasks of the failed attempt to settle.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    *hub.state.cut.lock().unwrap() = None;
    hub.reset_served();
    let entry = pull(&store, &hub, "org/Resumable").await.0.unwrap();
    let second = hub.served("model.safetensors");
    assert!(
        second < size - 300_000,
        "resumed pull fetched {second} of {size} bytes"
    );
    let stored = std::fs::read(entry.path.join("model.safetensors")).unwrap();
    assert_eq!(stored.len() as u64, size);
    assert_eq!(store.list().len(), 1);
}

#[tokio::test]
async fn corrupted_file_is_refused_and_refetched() {
    let hub = Hub::start().await;
    hub.add_repo("org/Corrupt", "main", &sha_of(4), model_repo(100_000, 4));
    *hub.state.corrupt.lock().unwrap() = Some("model.safetensors".into());
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let err = pull(&store, &hub, "org/Corrupt").await.0.unwrap_err();
    assert!(matches!(err, StoreError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("model.safetensors"));
    assert!(store.list().is_empty());
    assert!(visible_tree(&store).is_empty());
    *hub.state.corrupt.lock().unwrap() = None;
    hub.reset_served();
    pull(&store, &hub, "org/Corrupt").await.0.unwrap();
    assert!(
        hub.served("model.safetensors") >= 100_000,
        "the corrupt file was fetched again"
    );
}

#[tokio::test]
async fn repull_is_up_to_date_and_new_revision_replaces_old() {
    let hub = Hub::start().await;
    hub.add_repo("org/Evolving", "main", &sha_of(5), model_repo(50_000, 5));
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let first = pull(&store, &hub, "org/Evolving").await.0.unwrap();
    hub.reset_served();
    let (again, lines) = pull(&store, &hub, "org/evolving").await;
    assert_eq!(again.unwrap().digest, first.digest);
    assert_eq!(hub.served("model.safetensors"), 0);
    assert_eq!(lines.last().unwrap().status, "success");
    hub.add_repo("org/Evolving", "main", &sha_of(6), model_repo(50_000, 6));
    let second = pull(&store, &hub, "org/Evolving").await.0.unwrap();
    assert_ne!(second.digest, first.digest);
    assert_eq!(second.path, first.path);
    assert_eq!(store.list().len(), 1);
}

#[tokio::test]
async fn tag_selects_revision_and_folder() {
    let hub = Hub::start().await;
    hub.add_repo("org/Tagged", "main", &sha_of(7), model_repo(10_000, 7));
    hub.add_repo("org/Tagged", "v2", &sha_of(8), model_repo(20_000, 8));
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let v2 = pull(&store, &hub, "org/Tagged:v2").await.0.unwrap();
    assert_eq!(v2.name.to_string(), "org/Tagged:v2");
    assert_eq!(v2.path, store.models_dir().join("org/Tagged@v2"));
    let latest = pull(&store, &hub, "org/Tagged").await.0.unwrap();
    assert!(latest.size < v2.size);
    let names: Vec<String> = store.list().iter().map(|e| e.name.to_string()).collect();
    assert_eq!(names, ["org/Tagged:latest", "org/Tagged:v2"]);
}

#[tokio::test]
async fn a_stalled_download_is_abandoned_and_the_next_pull_finishes() {
    let hub = Hub::start().await;
    hub.add_repo("org/Stalling", "main", &sha_of(7), model_repo(300_000, 7));
    // Headers, then no bytes at all for the weights.
    *hub.state.stall.lock().unwrap() = Some(("model.safetensors".into(), 0));
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let mut config = hub_config(&hub);
    config.stall_timeout = std::time::Duration::from_millis(500);
    let started = std::time::Instant::now();
    let err = store
        .pull_from(&config, "org/Stalling", &mut |_| {})
        .await
        .unwrap_err();
    assert!(hub.state.stalled.load(std::sync::atomic::Ordering::SeqCst));
    assert!(matches!(err, StoreError::Hub { .. }), "{err}");
    assert!(err.to_string().contains("stalled") && err.to_string().contains("pull again"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "gave up after {:?}", started.elapsed());
    assert!(store.list().is_empty());
    assert!(visible_tree(&store).is_empty(), "{:?}", visible_tree(&store));
    *hub.state.stall.lock().unwrap() = None;
    pull(&store, &hub, "org/Stalling").await.0.unwrap();
    assert_eq!(store.list().len(), 1);
}
