//! The model store: names, on-disk layout, pulls, the watcher and imports.
//!
//! Key types: [`Store`] (cheap to clone), [`ModelName`], [`ModelEntry`],
//! [`StoreEvent`], [`PullProgress`], [`ModelDetails`].
//!
//! Models live in `<models>/<org>/<name>[@tag]/` as plain MLX/HF folders with
//! a manifest beside them; the Hugging Face cache and Ollama's store are
//! discovered read-only. Pulls come from a Hugging Face compatible hub
//! (`HF_ENDPOINT`, `HF_TOKEN`) through hf-hub and are published with one
//! atomic rename. GGUF files are converted to MLX folders in Rust.
//!
//! This crate does not load models or talk to the engine: it reports
//! [`StoreEvent`]s and the daemon decides what to load, unload or swap.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod alias;
mod error;
pub mod gguf;
mod hf_cache;
mod hub;
mod layout;
mod manifest;
mod name;
mod ollama;
mod pull;
mod show;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use error::StoreError;
pub use hub::{HubConfig, PullProgress, DEFAULT_ENDPOINT};
pub use layout::{ModelEntry, Source};
pub use manifest::{Manifest, ManifestFile, Origin};
pub use name::{ModelName, NameError};
pub use show::{ModelDetails, TensorInfo};
pub use watch::{StoreEvent, StoreWatcher, WatchOptions};

use layout::Found;

/// Where the store looks for models.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// The store's own folder (`OLLMLX_MODELS`); created when missing.
    pub models_dir: PathBuf,
    /// Hugging Face cache folders (each a `hub` folder), listed read-only.
    pub hf_cache_dirs: Vec<PathBuf>,
    /// Ollama's store (`~/.ollama/models`), listed read-only.
    pub ollama_dir: Option<PathBuf>,
}

impl StoreConfig {
    /// Fills the Hugging Face cache folders from `HF_HUB_CACHE`,
    /// `HF_HOME/hub` and `~/.cache/huggingface/hub` (in that order, without
    /// duplicates) and Ollama's from `OLLAMA_MODELS` or `~/.ollama/models`.
    pub fn from_env(models_dir: PathBuf) -> StoreConfig {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = var("HOME");
        let mut hf = Vec::new();
        let candidates = [
            var("HF_HUB_CACHE"),
            var("HF_HOME").map(|h| h.join("hub")),
            home.as_ref().map(|h| h.join(".cache/huggingface/hub")),
        ];
        for dir in candidates.into_iter().flatten() {
            if !hf.contains(&dir) {
                hf.push(dir);
            }
        }
        let ollama_dir = var("OLLAMA_MODELS").or_else(|| home.map(|h| h.join(".ollama/models")));
        StoreConfig {
            models_dir,
            hf_cache_dirs: hf,
            ollama_dir,
        }
    }
}

/// The model store. Clone it freely; all clones share state.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    config: StoreConfig,
    /// Pulls and imports in flight, by lower-case name: a second one for the
    /// same name waits for the first rather than racing on the same folder.
    busy: Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Per Ollama blob: can it be converted (checked once; blobs are immutable).
    ollama_checked: Mutex<std::collections::HashMap<PathBuf, Result<(), String>>>,
}

impl Store {
    /// Opens (creating if needed) the store folder.
    pub fn open(config: StoreConfig) -> Result<Store, StoreError> {
        fs_err::create_dir_all(&config.models_dir)
            .map_err(|e| StoreError::io_at(&config.models_dir, e))?;
        clean_leftovers(&config.models_dir);
        let inner = Inner {
            config,
            busy: Mutex::default(),
            ollama_checked: Mutex::default(),
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// The configuration the store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// The store folder.
    pub fn models_dir(&self) -> &Path {
        &self.inner.config.models_dir
    }

    /// Complete models from every source, sorted by name. Local folders win
    /// over aliases, then the HF cache, then Ollama when names collide.
    pub fn list(&self) -> Vec<ModelEntry> {
        self.scan().into_iter().map(|f| f.entry).collect()
    }

    /// Finds a model by name, ignoring case. Ollama models are converted to
    /// MLX on first use here (this can take a while; call it off the async
    /// runtime when the model may be an Ollama one).
    pub fn resolve(&self, name: &str) -> Result<ModelEntry, StoreError> {
        let wanted = ModelName::parse(name)?;
        let found = self
            .scan()
            .into_iter()
            .find(|f| f.entry.name.same_as(&wanted))
            .ok_or_else(|| StoreError::NotFound {
                name: name.to_string(),
            })?;
        if found.entry.source == Source::Ollama {
            return ollama::materialize(self, found.entry);
        }
        Ok(found.entry)
    }

    /// Deletes a model and returns what was removed. Deleting an alias
    /// removes only the alias; deleting a model that aliases point at moves
    /// its folder to the first alias, so copies survive (as in Ollama).
    pub fn delete(&self, name: &str) -> Result<ModelEntry, StoreError> {
        let entry = self.resolve_listed(name)?;
        match entry.source {
            Source::Alias => {
                let file = alias::alias_path(self.models_dir(), &entry.name);
                fs_err::remove_file(&file)?;
            }
            Source::Local => self.delete_local(&entry)?,
            Source::HfCache | Source::Ollama => {
                return Err(StoreError::ReadOnly {
                    name: entry.name.to_string(),
                    kind: entry.source,
                    path: entry.path,
                });
            }
        }
        tracing::info!(model = %entry.name, "deleted");
        Ok(entry)
    }

    /// Makes `dst` another name for `src` (/api/copy). Replaces an existing
    /// alias `dst`; refuses to shadow a real model.
    pub fn copy(&self, src: &str, dst: &str) -> Result<ModelEntry, StoreError> {
        let dst_name = ModelName::parse(dst)?;
        let source = self.resolve_listed(src)?;
        let models = self.scan();
        if let Some(existing) = models.iter().find(|f| f.entry.name.same_as(&dst_name)) {
            if existing.entry.source != Source::Alias {
                return Err(StoreError::AlreadyExists {
                    name: existing.entry.name.to_string(),
                });
            }
        }
        if source.name.same_as(&dst_name) {
            return Err(StoreError::AlreadyExists {
                name: dst_name.to_string(),
            });
        }
        // Point at the final target so alias chains never form.
        let target = match source.source {
            Source::Alias => alias::scan_aliases(self.models_dir())
                .into_iter()
                .find(|a| a.name.same_as(&source.name))
                .map_or(source.name.clone(), |a| a.target),
            _ => source.name.clone(),
        };
        alias::write_alias(self.models_dir(), &dst_name, &target)?;
        Ok(ModelEntry {
            name: dst_name,
            source: Source::Alias,
            read_only: false,
            ..source
        })
    }

    /// What /api/show needs: config, chat template, generation defaults,
    /// parameters, tensors, size, digest, modified time.
    pub fn show(&self, name: &str) -> Result<ModelDetails, StoreError> {
        show::details(self.resolve(name)?)
    }

    /// Pulls `name` from the hub configured by `HF_ENDPOINT` / `HF_TOKEN`.
    pub async fn pull(
        &self,
        name: &str,
        progress: &mut (dyn FnMut(PullProgress) + Send),
    ) -> Result<ModelEntry, StoreError> {
        self.pull_from(&HubConfig::from_env(), name, progress).await
    }

    /// Pulls `name` from an explicit hub.
    pub async fn pull_from(
        &self,
        hub: &HubConfig,
        name: &str,
        progress: &mut (dyn FnMut(PullProgress) + Send),
    ) -> Result<ModelEntry, StoreError> {
        let mut name = ModelName::parse(name)?;
        // Re-pulling a model typed in another case keeps the stored spelling.
        if let Some((existing, _)) = layout::candidate_dirs(self.models_dir())
            .into_iter()
            .find(|(n, _)| n.same_as(&name))
        {
            name = existing;
        }
        let lock = self.busy_lock(&name);
        let _guard = lock.lock().await;
        pull::pull(self, hub, &name, progress).await?;
        self.resolve_listed(&name.to_string())
    }

    /// Converts a GGUF file into a model folder named `name`.
    pub fn import_gguf(
        &self,
        gguf: &Path,
        name: &str,
        progress: &mut dyn FnMut(PullProgress),
    ) -> Result<ModelEntry, StoreError> {
        let name = ModelName::parse(name)?;
        let lock = self.busy_lock(&name);
        // try_lock, not blocking_lock: this may run on an async thread.
        let _guard = lock.try_lock().map_err(|_| StoreError::Busy {
            name: name.to_string(),
        })?;
        if let Some(existing) = self
            .scan()
            .into_iter()
            .find(|f| f.entry.name.same_as(&name))
        {
            return Err(StoreError::AlreadyExists {
                name: existing.entry.name.to_string(),
            });
        }
        let target = self.models_dir().join(name.relative_dir());
        gguf::import::import_to(self.models_dir(), gguf, &name, &target, None, progress)?;
        self.resolve_listed(&name.to_string())
    }

    /// Starts watching every source; events arrive on the receiver while the
    /// returned [`StoreWatcher`] is alive.
    pub fn watch(
        &self,
    ) -> Result<
        (
            StoreWatcher,
            tokio::sync::mpsc::UnboundedReceiver<StoreEvent>,
        ),
        StoreError,
    > {
        self.watch_with(WatchOptions::default())
    }

    /// [`Store::watch`] with explicit debounce settings.
    pub fn watch_with(
        &self,
        options: WatchOptions,
    ) -> Result<
        (
            StoreWatcher,
            tokio::sync::mpsc::UnboundedReceiver<StoreEvent>,
        ),
        StoreError,
    > {
        watch::start(self.clone(), options)
    }

    /// Like [`Store::resolve`] but never converts (used where the entry as
    /// listed is enough).
    fn resolve_listed(&self, name: &str) -> Result<ModelEntry, StoreError> {
        let wanted = ModelName::parse(name)?;
        self.scan()
            .into_iter()
            .find(|f| f.entry.name.same_as(&wanted))
            .map(|f| f.entry)
            .ok_or_else(|| StoreError::NotFound {
                name: name.to_string(),
            })
    }

    fn busy_lock(&self, name: &ModelName) -> Arc<tokio::sync::Mutex<()>> {
        let mut busy = self
            .inner
            .busy
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        busy.entry(name.key()).or_default().clone()
    }

    /// Every complete model with its change signature, deduplicated by
    /// case-insensitive name in precedence order, sorted by display name.
    pub(crate) fn scan(&self) -> Vec<Found> {
        let config = &self.inner.config;
        let local = layout::scan_local(&config.models_dir);
        let mut others = hf_cache::scan_hf_caches(&config.hf_cache_dirs);
        if let Some(dir) = &config.ollama_dir {
            others.extend(ollama::scan(self, dir));
        }
        let mut targets = local.clone();
        targets.extend(others.iter().cloned());
        let aliases = alias::resolve_aliases(&alias::scan_aliases(&config.models_dir), &targets);
        let mut all: Vec<Found> = Vec::new();
        for found in local.into_iter().chain(aliases).chain(others) {
            if !all.iter().any(|f| f.entry.name.same_as(&found.entry.name)) {
                all.push(found);
            }
        }
        all.sort_by_key(|f| f.entry.name.to_string());
        all
    }

    /// Removes a local model folder (and its manifest), first handing the
    /// folder to an alias when one points at it.
    fn delete_local(&self, entry: &ModelEntry) -> Result<(), StoreError> {
        let dir = &entry.path;
        let manifest = manifest::manifest_path(dir);
        let heirs: Vec<alias::Alias> = alias::scan_aliases(self.models_dir())
            .into_iter()
            .filter(|a| a.target.same_as(&entry.name))
            .collect();
        if let Some((heir, rest)) = heirs.split_first() {
            let new_dir = self.models_dir().join(heir.name.relative_dir());
            fs_err::rename(dir, &new_dir)?;
            if manifest.exists() {
                fs_err::rename(&manifest, manifest::manifest_path(&new_dir))?;
            }
            fs_err::remove_file(&heir.file)?;
            for other in rest {
                alias::write_alias(self.models_dir(), &other.name, &heir.name)?;
            }
            return Ok(());
        }
        // Rename first so the folder vanishes from listings at once, then
        // remove it at leisure.
        let trash = self.models_dir().join(".trash").join(format!(
            "{}-{}",
            std::process::id(),
            unique_suffix()
        ));
        fs_err::create_dir_all(trash.parent().unwrap_or(self.models_dir()))?;
        fs_err::rename(dir, &trash)?;
        if manifest.exists() {
            fs_err::remove_file(&manifest)?;
        }
        // The model is gone once renamed; failing to free the space is only logged.
        if let Err(e) = fs_err::remove_dir_all(&trash) {
            tracing::warn!(error = %e, "could not remove deleted model files");
        }
        Ok(())
    }
}

/// Removes what a crash can leave behind: folders renamed away for deletion
/// and unfinished imports (pull staging is kept: pulls resume from it).
/// Only entries idle for an hour go, so another process's running import or
/// delete (the daemon and ollmlxctl share the store) is never disturbed.
fn clean_leftovers(models_dir: &Path) {
    let stale = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(3600))
    };
    let trash = layout::visible_entries(&models_dir.join(".trash"));
    let imports = layout::visible_entries(&models_dir.join(hub::PARTIAL_DIR))
        .into_iter()
        .filter(|d| {
            d.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("import-"))
        });
    for dir in trash.into_iter().chain(imports).filter(|d| stale(d)) {
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// A suffix unique within this process run (time + counter) for temp names.
pub(crate) fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}
