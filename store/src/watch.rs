//! Live discovery with notify: a folder that appears (pulled, downloaded by
//! huggingface-cli or mlx-lm, or copied in by hand) is reported once it is
//! complete and has stayed the same for one debounce period; a folder that
//! goes away is reported at once; changed weights are reported as Changed.
//!
//! One OS thread owns the notify watcher and the last snapshot. It rescans
//! after events go quiet for `debounce`, diffs against the snapshot and
//! sends [`StoreEvent`]s; it needs no async runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::StoreError;
use crate::name::ModelName;
use crate::Store;

/// A change in the set of servable models.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreEvent {
    /// A new complete model.
    Added(ModelName),
    /// A model is gone (unload it).
    Removed(ModelName),
    /// A model's files changed (hot-swap it).
    Changed(ModelName),
}

/// Timing of the watcher.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// Quiet time after the last file event before rescanning; a new or
    /// changed model must also look the same in two scans this far apart.
    pub debounce: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            debounce: Duration::from_millis(500),
        }
    }
}

/// Keeps the watch alive; dropping it stops the watcher thread.
pub struct StoreWatcher {
    stop: Arc<AtomicBool>,
}

impl Drop for StoreWatcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts the watcher thread.
pub(crate) fn start(
    store: Store,
    options: WatchOptions,
) -> Result<
    (
        StoreWatcher,
        tokio::sync::mpsc::UnboundedReceiver<StoreEvent>,
    ),
    StoreError,
> {
    let (fs_tx, fs_rx) = mpsc::channel::<notify::Result<notify::Event>>();
    let config = notify::Config::default().with_follow_symlinks(false);
    let watcher = notify::RecommendedWatcher::new(fs_tx, config)
        .map_err(|e| watch_error(store.models_dir(), &e))?;
    let mut roots: Vec<PathBuf> = vec![store.models_dir().to_path_buf()];
    roots.extend(store.config().hf_cache_dirs.iter().cloned());
    if let Some(dir) = &store.config().ollama_dir {
        roots.push(dir.join("manifests"));
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let mut state = Loop {
        store,
        options,
        watcher,
        unwatched: roots,
        tx,
        known: HashMap::new(),
        pending: HashMap::new(),
    };
    state.watch_roots();
    if let Some(root) = state
        .unwatched
        .first()
        .filter(|r| r.as_path() == state.store.models_dir())
    {
        return Err(StoreError::Watch {
            path: root.clone(),
            message: "cannot watch the store folder".into(),
        });
    }
    state.known = state.snapshot();
    let thread_stop = stop.clone();
    std::thread::Builder::new()
        .name("ollmlx-store-watch".into())
        .spawn(move || state.run(&fs_rx, &thread_stop))
        .map_err(StoreError::Io)?;
    Ok((StoreWatcher { stop }, rx))
}

fn watch_error(path: &Path, err: &notify::Error) -> StoreError {
    StoreError::Watch {
        path: path.to_path_buf(),
        message: err.to_string(),
    }
}

struct Loop {
    store: Store,
    options: WatchOptions,
    watcher: notify::RecommendedWatcher,
    /// Roots that did not exist yet; retried on every tick.
    unwatched: Vec<PathBuf>,
    tx: UnboundedSender<StoreEvent>,
    /// Registered models: key → (name, signature).
    known: HashMap<String, (ModelName, String)>,
    /// Complete but not yet stable: key → signature seen in the last scan.
    pending: HashMap<String, String>,
}

impl Loop {
    fn run(mut self, events: &mpsc::Receiver<notify::Result<notify::Event>>, stop: &AtomicBool) {
        let mut dirty_since: Option<Instant> = None;
        while !stop.load(Ordering::Relaxed) {
            match events.recv_timeout(self.options.debounce) {
                Ok(Ok(event)) if self.relevant(&event) => dirty_since = Some(Instant::now()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "file watcher error"),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            self.watch_roots();
            let quiet = dirty_since.is_some_and(|t| t.elapsed() >= self.options.debounce);
            if quiet || (dirty_since.is_none() && !self.pending.is_empty()) {
                dirty_since = None;
                if self.rescan().is_err() {
                    return; // receiver dropped: nobody listens any more
                }
            }
        }
    }

    /// Watches every root that exists now.
    fn watch_roots(&mut self) {
        let roots = std::mem::take(&mut self.unwatched);
        for root in roots {
            if root.is_dir() && self.watcher.watch(&root, RecursiveMode::Recursive).is_ok() {
                tracing::debug!(path = %root.display(), "watching");
            } else {
                self.unwatched.push(root);
            }
        }
    }

    /// Ignores reads and the store's own hidden work folders.
    fn relevant(&self, event: &notify::Event) -> bool {
        if let EventKind::Access(kind) = event.kind {
            if !matches!(
                kind,
                notify::event::AccessKind::Close(notify::event::AccessMode::Write)
            ) {
                return false;
            }
        }
        let root = self.store.models_dir();
        event.paths.iter().any(|p| match p.strip_prefix(root) {
            Ok(rel) => !rel
                .components()
                .next()
                .is_some_and(|c| c.as_os_str().to_string_lossy().starts_with('.')),
            Err(_) => true,
        })
    }

    fn snapshot(&self) -> HashMap<String, (ModelName, String)> {
        self.store
            .scan()
            .into_iter()
            .map(|f| (f.entry.name.key(), (f.entry.name, f.signature)))
            .collect()
    }

    /// Diffs a fresh scan against what is registered and sends events.
    fn rescan(&mut self) -> Result<(), ()> {
        let now = self.snapshot();
        let gone: Vec<String> = self
            .known
            .keys()
            .filter(|k| !now.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some((name, _)) = self.known.remove(&key) {
                tracing::info!(model = %name, "model removed");
                self.tx.send(StoreEvent::Removed(name)).map_err(|_| ())?;
            }
        }
        self.pending.retain(|k, _| now.contains_key(k));
        for (key, (name, sig)) in now {
            let previous = self.known.get(&key).map(|(_, s)| s.clone());
            if previous.as_deref() == Some(sig.as_str()) {
                self.pending.remove(&key);
                continue;
            }
            // Stable = the same signature in two consecutive scans.
            if self.pending.get(&key) != Some(&sig) {
                self.pending.insert(key, sig);
                continue;
            }
            self.pending.remove(&key);
            let event = if previous.is_some() {
                StoreEvent::Changed(name.clone())
            } else {
                StoreEvent::Added(name.clone())
            };
            tracing::info!(model = %name, ?event, "model registered");
            self.known.insert(key, (name, sig));
            self.tx.send(event).map_err(|_| ())?;
        }
        Ok(())
    }
}
