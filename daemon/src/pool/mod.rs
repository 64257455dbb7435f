//! The model pool: which models are resident, under a byte budget, with true LRU eviction,
//! pins, keep-alive, single-flight loads, a bounded wait queue and hot swap.
//!
//! Policy only: loading and measuring go through [`Backend`]. One mutex guards [`State`];
//! critical sections never await. Lock order: `state` only (no other lock is taken inside).
//! A request holds a [`Lease`]; its `Drop` releases the refcount and records the last use,
//! so a model with requests in flight can never be evicted. Expiry is one function
//! ([`state::Slot::expiry`]) applied by one reaper task, which waits on a `Notify` or the
//! next deadline, never polls.

pub mod backend;
mod load;
pub mod state;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ollmlx_api::ollmlx::PoolEvent;
use ollmlx_api::KeepAlive;
use tokio::sync::{broadcast, watch, Notify};
use tokio::time::Instant;

pub use backend::{Backend, Estimate, LoadedModel, Measurement, ModelMeta, SlotId, Usage};
use state::{LoadStatus, Phase, Reason, Slot, State};

/// Pool limits.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// Bytes models may be charged in total.
    pub budget: u64,
    /// Extra cap on loaded models.
    pub max_loaded: Option<usize>,
    /// Requests that may wait for a model at once.
    pub max_queue: usize,
    /// Longest wait for room before a load fails.
    pub load_timeout: Duration,
    /// Bytes each model's prefix cache may fill. Charged from the load on: the cache fills as
    /// requests finish, when the model is busy and cannot be evicted to make up for it.
    pub prefix_reserve: u64,
}

/// Why the pool could not serve a model.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PoolError {
    /// Too many requests waiting.
    #[error("server busy, please try again.  maximum pending requests exceeded")]
    QueueFull,
    /// The model can never fit.
    #[error("model '{model}' needs {} but the memory budget is {} (set OLLMLX_MEMORY_BUDGET)", human(*.size), human(*.budget))]
    TooLarge {
        /// Model.
        model: String,
        /// Its estimated bytes.
        size: u64,
        /// The budget.
        budget: u64,
    },
    /// No room became free in time.
    #[error("timed out after {waited:?} waiting for memory to load '{model}': busy models {busy:?}")]
    Timeout {
        /// Model.
        model: String,
        /// How long.
        waited: Duration,
        /// Models that held memory.
        busy: Vec<String>,
    },
    /// The backend could not load it.
    #[error("failed to load model '{model}': {message}")]
    Load {
        /// Model.
        model: String,
        /// Why.
        message: String,
    },
    /// The model is not loaded (pin/unpin).
    #[error("model '{model}' is not loaded")]
    NotLoaded {
        /// Model.
        model: String,
    },
    /// Something else failed in the backend.
    #[error("{0}")]
    Backend(String),
    /// The daemon is stopping.
    #[error("the server is shutting down")]
    ShuttingDown,
}

fn human(n: u64) -> String {
    crate::config::parse::human_bytes(n)
}

/// A model the caller resolved in the store.
#[derive(Debug, Clone)]
pub struct ModelRef {
    /// Lower-case canonical name.
    pub key: String,
    /// Canonical name.
    pub name: String,
    /// Folder.
    pub path: PathBuf,
    /// Store digest.
    pub digest: String,
}

/// Per-request pool settings.
#[derive(Debug, Clone, Copy)]
pub struct AcquireOptions {
    /// keep_alive sent with the request (overwrites the model's).
    pub keep_alive: Option<KeepAlive>,
    /// keep_alive for a first load when the request sends none.
    pub default_keep_alive: KeepAlive,
    /// Context asked for (grows the model's context, never reloads); None keeps it.
    pub num_ctx: Option<usize>,
    /// Context for a first load when the request sets none.
    pub default_num_ctx: usize,
    /// Pin (Some(true)) or unpin on attach.
    pub pin: Option<bool>,
}

/// The pool handle; clone freely.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Wakes room-waiters whenever memory may have been freed.
    changed: Notify,
    /// Wakes the reaper.
    reaper: Notify,
    events: broadcast::Sender<PoolEvent>,
    backend: Arc<dyn Backend>,
    config: PoolConfig,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough data for bookkeeping.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn emit(&self, event: PoolEvent) {
        // No subscribers is fine.
        let _ = self.events.send(event);
    }

    fn wake(&self) {
        self.changed.notify_waiters();
        self.reaper.notify_one();
    }
}

/// A request's hold on a resident model. Dropping it ends the request.
pub struct Lease {
    inner: Arc<Inner>,
    id: SlotId,
    model: Arc<LoadedModel>,
    name: String,
    context: usize,
}

impl Lease {
    /// The slot to address the backend with.
    pub fn slot(&self) -> SlotId {
        self.id
    }
    /// Facts about the model.
    pub fn meta(&self) -> &ModelMeta {
        &self.model.meta
    }
    /// Canonical name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Context the model serves now.
    pub fn context(&self) -> usize {
        self.context
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        if let Some(slot) = st.slots.get_mut(&self.id) {
            slot.refs = slot.refs.saturating_sub(1);
            let now = Instant::now();
            slot.last_used = now;
            if slot.refs == 0 {
                // keep_alive counts from the end of the last request.
                slot.idle_since = now;
            }
        }
        st.measure_due = true;
        drop(st);
        self.inner.wake();
    }
}

/// A loaded model as /api/ps and /ollmlx/status show it.
#[derive(Debug, Clone)]
pub struct SlotView {
    /// Canonical name.
    pub name: String,
    /// Store digest.
    pub digest: String,
    /// Facts (None while loading).
    pub meta: Option<Arc<ModelMeta>>,
    /// `loading`, `ready`, `unloading`.
    pub phase: &'static str,
    /// Given its room in the budget (false while a load still waits for room).
    pub admitted: bool,
    /// Charged bytes.
    pub charge: u64,
    /// Measured resident bytes.
    pub resident: u64,
    /// Measured usage.
    pub usage: Usage,
    /// Cache share.
    pub cache_share: u64,
    /// Leases + waiters.
    pub active: usize,
    /// Pinned.
    pub pinned: bool,
    /// keep_alive.
    pub keep_alive: KeepAlive,
    /// Time left before expiry: None = never while as is; Some(0) = stopping.
    pub expires_in: Option<Duration>,
    /// Since last use.
    pub idle: Duration,
    /// Context served.
    pub context: usize,
    /// For LRU order.
    pub last_used: Instant,
}

/// Pool-wide figures.
#[derive(Debug, Clone)]
pub struct PoolView {
    /// Budget.
    pub budget: u64,
    /// Charged bytes.
    pub used: u64,
    /// Waiting requests.
    pub queued: usize,
    /// MLX cache bytes.
    pub mlx_cache: u64,
    /// MLX active bytes.
    pub mlx_active: u64,
    /// Slots, most recently used first.
    pub models: Vec<SlotView>,
}

impl Pool {
    /// A pool over `backend`; spawns the reaper task (needs a tokio runtime).
    pub fn new(backend: Arc<dyn Backend>, config: PoolConfig) -> Pool {
        let (events, _) = broadcast::channel(256);
        let inner = Arc::new(Inner {
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            reaper: Notify::new(),
            events,
            backend,
            config,
        });
        tokio::spawn(load::reaper(Arc::clone(&inner)));
        Pool { inner }
    }

    /// The budget in bytes.
    pub fn budget(&self) -> u64 {
        self.inner.config.budget
    }

    /// Attaches to `key` if it is resident and current, without touching the store.
    pub fn try_resident(&self, key: &str, opts: &AcquireOptions) -> Option<Lease> {
        let mut st = self.inner.lock();
        let id = *st.by_name.get(key)?;
        attach(&self.inner, &mut st, id, opts)
    }

    /// A lease on `model`, loading it (once, shared by concurrent callers) if needed.
    /// The load runs on its own task: a caller that goes away does not cancel it.
    pub async fn acquire(&self, model: &ModelRef, opts: AcquireOptions) -> Result<Lease, PoolError> {
        loop {
            let mut rx = {
                let mut st = self.inner.lock();
                if st.shutting_down {
                    return Err(PoolError::ShuttingDown);
                }
                let existing = st.by_name.get(&model.key).copied();
                if let Some(id) = existing {
                    if let Some(lease) = attach(&self.inner, &mut st, id, &opts) {
                        return Ok(lease);
                    }
                }
                if st.queued >= self.inner.config.max_queue {
                    return Err(PoolError::QueueFull);
                }
                let id = match existing {
                    Some(id) => id,
                    None => load::start(&self.inner, &mut st, model, &opts),
                };
                let Some(slot) = st.slots.get_mut(&id) else { continue };
                slot.waiting += 1;
                let rx = slot.status.subscribe();
                st.queued += 1;
                WaitGuard { inner: Arc::clone(&self.inner), id, rx }
            };
            if let LoadStatus::Failed(e) = rx.wait().await {
                return Err(e);
            }
            // Attach before the guard un-counts us, so the fresh model is never idle in between.
            let lease = attach(&self.inner, &mut self.inner.lock(), rx.id, &opts);
            drop(rx);
            if let Some(lease) = lease {
                return Ok(lease);
            }
        }
    }

    /// Unloads `key` as soon as it is idle (now if idle). False when it is not loaded.
    pub fn request_unload(&self, key: &str) -> bool {
        let mut st = self.inner.lock();
        let found = match st.by_name.get(key).copied() {
            Some(id) => st.slots.get_mut(&id).map(|s| s.unload_requested = true).is_some(),
            None => false,
        };
        drop(st);
        self.inner.wake();
        found
    }

    /// Unloads every model once idle; returns how many were asked.
    pub fn request_unload_all(&self) -> usize {
        let mut st = self.inner.lock();
        let n = st.slots.values_mut().map(|s| s.unload_requested = true).count();
        drop(st);
        self.inner.wake();
        n
    }

    /// Pins or unpins a loaded model.
    pub fn set_pinned(&self, key: &str, name: &str, pinned: bool) -> Result<(), PoolError> {
        let mut st = self.inner.lock();
        let id = st.by_name.get(key).copied().ok_or_else(|| PoolError::NotLoaded { model: name.to_string() })?;
        let slot = st.slots.get_mut(&id).ok_or_else(|| PoolError::NotLoaded { model: name.to_string() })?;
        slot.pinned = pinned;
        let model = slot.name.clone();
        drop(st);
        self.inner.emit(PoolEvent::Pinned { model, pinned });
        self.inner.wake();
        Ok(())
    }

    /// The model's files changed or vanished: requests from now on get a fresh load; the old
    /// copy finishes its requests and is then freed.
    pub fn mark_stale(&self, key: &str) {
        let mut st = self.inner.lock();
        if let Some(id) = st.by_name.remove(key) {
            if let Some(slot) = st.slots.get_mut(&id) {
                slot.stale = true;
                tracing::info!(model = %slot.name, "model files changed; the loaded copy will be replaced");
            }
        }
        drop(st);
        self.inner.wake();
    }

    /// Marks stale every model whose folder is gone. The store watcher reports removals of
    /// models it registered; a model requested (and loaded) before the watcher found it stable
    /// and deleted soon after is caught here instead.
    pub fn forget_vanished(&self) {
        let gone: Vec<String> = {
            let st = self.inner.lock();
            st.slots.values().filter(|s| !s.stale && !s.path.join("config.json").exists()).map(|s| s.key.clone()).collect()
        };
        for key in gone {
            self.mark_stale(&key);
        }
    }

    /// Events (loads, unloads, pins).
    pub fn subscribe(&self) -> broadcast::Receiver<PoolEvent> {
        self.inner.events.subscribe()
    }

    /// Measures real usage now, then returns the view.
    pub async fn refresh(&self) -> PoolView {
        load::measure(&self.inner).await;
        self.view()
    }

    /// The current view without measuring.
    pub fn view(&self) -> PoolView {
        let st = self.inner.lock();
        let now = Instant::now();
        let mut models: Vec<SlotView> = st.slots.values().map(|s| view_of(s, now)).collect();
        models.sort_by_key(|m| std::cmp::Reverse(m.last_used));
        PoolView {
            budget: self.inner.config.budget,
            used: st.used_except(None),
            queued: st.queued,
            mlx_cache: st.mlx_cache,
            mlx_active: st.mlx_active,
            models,
        }
    }

    /// Stops new loads and unloads every idle model.
    pub async fn shutdown(&self) {
        let ids: Vec<SlotId> = {
            let mut st = self.inner.lock();
            st.shutting_down = true;
            let ids: Vec<SlotId> = st.slots.keys().copied().collect();
            ids.into_iter().filter(|id| st.begin_unload(*id, false)).collect()
        };
        for id in ids {
            load::finish_unload(&self.inner, id, Reason::Shutdown).await;
        }
    }
}

/// Takes a lease on a ready, current slot and applies the request's settings.
fn attach(inner: &Arc<Inner>, st: &mut State, id: SlotId, opts: &AcquireOptions) -> Option<Lease> {
    let slot = st.slots.get_mut(&id)?;
    let Phase::Ready(model) = &slot.phase else { return None };
    if slot.stale {
        return None;
    }
    let model = Arc::clone(model);
    slot.refs += 1;
    slot.last_used = Instant::now();
    slot.unload_requested = false;
    if let Some(ka) = opts.keep_alive {
        slot.keep_alive = ka;
    }
    if let Some(pin) = opts.pin {
        slot.pinned = pin;
    }
    // num_ctx is a cap: asking for less never reloads; more grows the served context.
    if let Some(wanted) = opts.num_ctx {
        slot.context = slot.context.max(wanted.min(model.meta.context_length.max(1)));
    }
    Some(Lease { inner: Arc::clone(inner), id, model, name: slot.name.clone(), context: slot.context })
}

fn view_of(s: &Slot, now: Instant) -> SlotView {
    let expires_in = match s.expiry() {
        state::Expiry::Never => None,
        state::Expiry::Now => Some(Duration::ZERO),
        state::Expiry::At(t) => Some(t.saturating_duration_since(now)),
    };
    SlotView {
        name: s.name.clone(),
        digest: s.digest.clone(),
        meta: match &s.phase {
            Phase::Ready(m) => Some(Arc::clone(&m.meta)),
            _ => None,
        },
        phase: match s.phase {
            Phase::Loading => "loading",
            Phase::Ready(_) => "ready",
            Phase::Unloading => "unloading",
        },
        admitted: s.has_room(),
        charge: s.charge(),
        resident: s.resident(),
        usage: s.usage,
        cache_share: s.cache_share,
        active: s.refs + s.waiting,
        pinned: s.pinned,
        keep_alive: s.keep_alive,
        expires_in,
        idle: if s.refs > 0 { Duration::ZERO } else { now.saturating_duration_since(s.last_used) },
        context: s.context,
        last_used: s.last_used,
    }
}

/// A request waiting for a load; leaving (done or client gone) always un-counts it.
struct WaitGuard {
    inner: Arc<Inner>,
    id: SlotId,
    rx: watch::Receiver<LoadStatus>,
}

impl WaitGuard {
    async fn wait(&mut self) -> LoadStatus {
        loop {
            let status = self.rx.borrow_and_update().clone();
            if !matches!(status, LoadStatus::Pending) {
                return status;
            }
            if self.rx.changed().await.is_err() {
                return LoadStatus::Failed(PoolError::Backend("the load was abandoned".into()));
            }
        }
    }
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        st.queued = st.queued.saturating_sub(1);
        if let Some(slot) = st.slots.get_mut(&self.id) {
            slot.waiting = slot.waiting.saturating_sub(1);
            slot.last_used = Instant::now();
            slot.idle_since = slot.last_used;
        }
        drop(st);
        self.inner.wake();
    }
}
