//! Layout: hand-copied folders, incomplete and broken folders, symlink
//! loops, corrupt manifests, case-insensitive lookup, delete, copy (aliases),
//! show, and read-only discovery of the Hugging Face cache.

mod common;

use std::path::Path;

use ollmlx_store::{Source, Store, StoreConfig, StoreError};

fn open(models: &Path, hf: Vec<std::path::PathBuf>) -> Store {
    Store::open(StoreConfig {
        models_dir: models.to_path_buf(),
        hf_cache_dirs: hf,
        ollama_dir: None,
    })
    .unwrap()
}

fn names(store: &Store) -> Vec<String> {
    store.list().iter().map(|e| e.name.to_string()).collect()
}

#[test]
fn hand_copied_folders_are_models_and_broken_ones_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path();
    common::write_model(&m.join("org/Good"), 1);
    common::write_model(&m.join("library/plain"), 2);
    common::write_model(&m.join("org/Tagged@v1"), 3);
    common::write_model(&m.join(".partial/org--Hidden"), 4);
    // Missing tokenizer.
    common::write_model(&m.join("org/NoTokenizer"), 5);
    std::fs::remove_file(m.join("org/NoTokenizer/tokenizer.json")).unwrap();
    // Weights still being copied: shorter than the header says.
    common::write_model(&m.join("org/Truncated"), 6);
    let w = m.join("org/Truncated/model.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() - 10]).unwrap();
    // Foreign file named like weights.
    common::write_model(&m.join("org/Foreign"), 7);
    std::fs::write(
        m.join("org/Foreign/model.safetensors"),
        b"PK\x03\x04 this is a zip",
    )
    .unwrap();
    // Corrupt config.json.
    common::write_model(&m.join("org/BadConfig"), 8);
    std::fs::write(m.join("org/BadConfig/config.json"), b"{not json").unwrap();
    // Not a model at all, and a name that cannot be a model name.
    std::fs::create_dir_all(m.join("org/Photos")).unwrap();
    std::fs::write(m.join("org/Photos/cat.jpg"), b"jpeg").unwrap();
    common::write_model(&m.join("org/bad name"), 9);
    std::fs::write(m.join("README.txt"), b"stray file").unwrap();
    let store = open(m, vec![]);
    assert_eq!(
        names(&store),
        ["org/Good:latest", "org/Tagged:v1", "plain:latest"]
    );
    let e = store.resolve("ORG/good").unwrap();
    assert_eq!(
        (e.source, e.read_only, e.digest.len()),
        (Source::Local, false, 64)
    );
    assert_eq!(
        e.size,
        common::model_files(1)
            .iter()
            .map(|f| f.1.len() as u64)
            .sum::<u64>()
    );
    assert!(matches!(
        store.resolve("org/NoTokenizer"),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.resolve("../../etc/passwd"),
        Err(StoreError::InvalidName(_))
    ));
    assert!(matches!(
        store.resolve("org/x\0y"),
        Err(StoreError::InvalidName(_))
    ));
}

#[cfg(unix)]
#[test]
fn symlink_loops_are_skipped_without_hanging() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path();
    common::write_model(&m.join("org/Good"), 1);
    std::fs::create_dir_all(m.join("loop")).unwrap();
    symlink(m.join("loop/self"), m.join("loop/self")).unwrap();
    symlink(m, m.join("loop/up")).unwrap();
    symlink(m.join("org"), m.join("org/Cycle")).unwrap();
    common::write_model(&m.join("org/LoopFile"), 2);
    std::fs::remove_file(m.join("org/LoopFile/config.json")).unwrap();
    symlink(
        m.join("org/LoopFile/config.json"),
        m.join("org/LoopFile/config.json"),
    )
    .unwrap();
    let store = open(m, vec![]);
    assert_eq!(names(&store), ["org/Good:latest"]);
}

#[test]
fn corrupt_manifest_falls_back_to_metadata_digest() {
    let dir = tempfile::tempdir().unwrap();
    common::write_model(&dir.path().join("org/M"), 1);
    let store = open(dir.path(), vec![]);
    let before = store.resolve("org/M").unwrap().digest;
    std::fs::write(
        dir.path().join("org/M.manifest.json"),
        b"{\"schema_version\": 1, truncated",
    )
    .unwrap();
    assert_eq!(store.resolve("org/M").unwrap().digest, before);
}

#[test]
fn delete_removes_folder_and_manifest() {
    let dir = tempfile::tempdir().unwrap();
    common::write_model(&dir.path().join("org/M"), 1);
    std::fs::write(dir.path().join("org/M.manifest.json"), b"{}").unwrap();
    let store = open(dir.path(), vec![]);
    let gone = store.delete("org/m").unwrap();
    assert_eq!(gone.name.to_string(), "org/M:latest");
    assert!(!dir.path().join("org/M").exists());
    assert!(!dir.path().join("org/M.manifest.json").exists());
    assert!(matches!(
        store.delete("org/M"),
        Err(StoreError::NotFound { .. })
    ));
}

#[test]
fn copy_makes_an_alias_that_survives_deleting_the_source() {
    let dir = tempfile::tempdir().unwrap();
    common::write_model(&dir.path().join("org/Src"), 1);
    common::write_model(&dir.path().join("org/Other"), 2);
    let store = open(dir.path(), vec![]);
    let alias = store.copy("org/Src", "mine").unwrap();
    assert_eq!(
        (alias.name.to_string(), alias.source),
        ("mine:latest".to_string(), Source::Alias)
    );
    let chained = store.copy("mine", "team/shared:v1").unwrap();
    assert_eq!(chained.path, store.resolve("org/Src").unwrap().path);
    assert_eq!(
        names(&store),
        [
            "mine:latest",
            "org/Other:latest",
            "org/Src:latest",
            "team/shared:v1"
        ]
    );
    assert!(matches!(
        store.copy("org/Src", "org/Other"),
        Err(StoreError::AlreadyExists { .. })
    ));
    assert!(matches!(
        store.copy("org/Src", "a/../b"),
        Err(StoreError::InvalidName(_))
    ));
    assert!(matches!(
        store.copy("org/Missing", "x"),
        Err(StoreError::NotFound { .. })
    ));
    // Deleting an alias removes only the name.
    store.delete("team/shared:v1").unwrap();
    assert!(store.resolve("org/Src").is_ok());
    // Deleting the source hands its folder to the alias.
    let digest = store.resolve("org/Src").unwrap().digest;
    store.delete("org/Src").unwrap();
    let heir = store.resolve("mine").unwrap();
    assert_eq!((heir.source, heir.digest), (Source::Local, digest));
    assert_eq!(names(&store), ["mine:latest", "org/Other:latest"]);
}

#[test]
fn show_reads_config_template_parameters_and_tensors() {
    let dir = tempfile::tempdir().unwrap();
    common::write_model(&dir.path().join("org/M"), 1);
    let store = open(dir.path(), vec![]);
    let d = store.show("org/M").unwrap();
    assert_eq!(d.config["hidden_size"], 9);
    assert_eq!(d.chat_template.as_deref(), Some("{{ messages }}"));
    assert_eq!(
        d.parameters,
        [
            ("temperature".into(), "0.7".into()),
            ("top_p".into(), "0.9".into()),
            ("stop".into(), "</s>".into())
        ]
    );
    assert_eq!(
        (
            d.tensors.len(),
            d.tensors[0].name.as_str(),
            d.tensors[0].shape.clone()
        ),
        (1, "w", vec![65])
    );
    assert!(matches!(
        store.show("org/none"),
        Err(StoreError::NotFound { .. })
    ));
}

/// Writes a Hugging Face cache repo whose snapshot files link into blobs/.
pub fn write_hf_repo(
    cache: &Path,
    org: &str,
    name: &str,
    refname: &str,
    commit: &str,
    seed: usize,
) {
    let repo = cache.join(format!("models--{org}--{name}"));
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(repo.join("snapshots").join(commit)).unwrap();
    std::fs::write(repo.join("refs").join(refname), commit).unwrap();
    for (file, bytes) in common::model_files(seed) {
        let blob = format!("{:x}", seed * 1000 + file.len());
        std::fs::write(repo.join("blobs").join(&blob), bytes).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(
            format!("../../blobs/{blob}"),
            repo.join("snapshots").join(commit).join(file),
        )
        .unwrap();
    }
}

#[cfg(unix)]
#[test]
fn hf_cache_snapshots_are_listed_read_only_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("hub");
    write_hf_repo(&cache, "mlx-community", "Cached-4bit", "main", "abc123", 1);
    write_hf_repo(&cache, "mlx-community", "Cached-4bit", "v2", "def456", 2);
    // A download still in progress: the weights blob is missing.
    write_hf_repo(&cache, "org", "Partial", "main", "0123", 3);
    let partial = cache.join("models--org--Partial/snapshots/0123/model.safetensors");
    std::fs::remove_file(std::fs::canonicalize(&partial).unwrap()).unwrap();
    let store = open(&dir.path().join("models"), vec![cache.clone()]);
    assert_eq!(
        names(&store),
        [
            "mlx-community/Cached-4bit:latest",
            "mlx-community/Cached-4bit:v2"
        ]
    );
    let e = store.resolve("hf.co/mlx-community/cached-4bit").unwrap();
    assert_eq!((e.source, e.read_only), (Source::HfCache, true));
    assert_eq!(
        e.path,
        cache.join("models--mlx-community--Cached-4bit/snapshots/abc123")
    );
    let err = store.delete("mlx-community/Cached-4bit").unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
    assert!(e.path.join("config.json").exists());
    // A local model of the same name wins over the cache.
    common::write_model(&dir.path().join("models/mlx-community/Cached-4bit"), 9);
    assert_eq!(
        store.resolve("mlx-community/Cached-4bit").unwrap().source,
        Source::Local
    );
    // And an alias may point into the cache.
    store.copy("mlx-community/Cached-4bit:v2", "fav").unwrap();
    assert_eq!(
        store.resolve("fav").unwrap().path,
        cache.join("models--mlx-community--Cached-4bit/snapshots/def456")
    );
}
