//! The pool's async work: load tasks (estimate, make room, load), unloads, measurement and
//! the reaper that applies [`super::state::Slot::expiry`].

use std::sync::Arc;

use ollmlx_api::ollmlx::PoolEvent;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};

use super::backend::{LoadedModel, SlotId, Usage};
use super::state::{LoadStatus, Phase, Reason, Slot, State};
use super::{AcquireOptions, Inner, ModelRef, PoolError};

/// Registers a loading slot for `model` and spawns its load task; returns the slot id.
pub(super) fn start(inner: &Arc<Inner>, st: &mut State, model: &ModelRef, opts: &AcquireOptions) -> SlotId {
    st.next_id += 1;
    let id = st.next_id;
    let (status, _) = watch::channel(LoadStatus::Pending);
    let now = Instant::now();
    st.slots.insert(
        id,
        Slot {
            id,
            key: model.key.clone(),
            name: model.name.clone(),
            path: model.path.clone(),
            digest: model.digest.clone(),
            phase: Phase::Loading,
            admitted: false,
            refs: 0,
            waiting: 0,
            pinned: opts.pin.unwrap_or(false),
            keep_alive: opts.keep_alive.unwrap_or(opts.default_keep_alive),
            last_used: now,
            idle_since: now,
            estimate: super::Estimate::default(),
            prefix_reserve: inner.config.prefix_reserve,
            context: opts.num_ctx.unwrap_or(opts.default_num_ctx).max(1),
            usage: Usage::default(),
            cache_share: 0,
            stale: false,
            unload_requested: false,
            status,
        },
    );
    st.by_name.insert(model.key.clone(), id);
    // Its own task: the load outlives the request that triggered it.
    tokio::spawn(run_load(Arc::clone(inner), id, model.clone()));
    id
}

async fn run_load(inner: Arc<Inner>, id: SlotId, model: ModelRef) {
    let started = Instant::now();
    let result = load_steps(&inner, id, &model).await;
    let load_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let outcome = publish(&inner, id, &model, result);
    match outcome {
        Outcome::Loaded(bytes) => {
            tracing::info!(model = %model.name, bytes, load_ms, "loaded");
            inner.emit(PoolEvent::Loaded { model: model.name.clone(), bytes, load_ms });
            enforce_budget(&inner).await;
        }
        Outcome::Failed(e) => {
            tracing::warn!(model = %model.name, error = %e, "load failed");
            inner.emit(PoolEvent::LoadFailed { model: model.name.clone(), error: e.to_string() });
        }
        // The slot went away during the load (shutdown): free what was loaded.
        Outcome::Orphan => inner.backend.unload(id).await,
    }
    inner.wake();
}

enum Outcome {
    Loaded(u64),
    Failed(PoolError),
    Orphan,
}

/// Records the load's result in the slot and tells its waiters.
fn publish(inner: &Inner, id: SlotId, model: &ModelRef, result: Result<LoadedModel, PoolError>) -> Outcome {
    let mut st = inner.lock();
    let Some(slot) = st.slots.get_mut(&id) else {
        return if result.is_ok() { Outcome::Orphan } else { Outcome::Failed(PoolError::ShuttingDown) };
    };
    match result {
        Ok(loaded) => {
            let now = Instant::now();
            slot.context = slot.context.min(loaded.meta.context_length.max(1));
            slot.usage = Usage { weight_bytes: loaded.weight_bytes, kv_bytes: 0 };
            let bytes = loaded.weight_bytes;
            slot.phase = Phase::Ready(Arc::new(loaded));
            slot.last_used = now;
            slot.idle_since = now;
            slot.status.send_replace(LoadStatus::Ready);
            Outcome::Loaded(bytes)
        }
        Err(e) => {
            slot.status.send_replace(LoadStatus::Failed(e.clone()));
            st.slots.remove(&id);
            if st.by_name.get(&model.key) == Some(&id) {
                st.by_name.remove(&model.key);
            }
            Outcome::Failed(e)
        }
    }
}

async fn load_steps(inner: &Arc<Inner>, id: SlotId, model: &ModelRef) -> Result<LoadedModel, PoolError> {
    let load_err = |message: String| PoolError::Load { model: model.name.clone(), message };
    let estimate = inner.backend.estimate(model.path.clone()).await.map_err(load_err)?;
    let charge = {
        let mut st = inner.lock();
        let slot = st.slots.get_mut(&id).ok_or(PoolError::ShuttingDown)?;
        slot.estimate = estimate;
        slot.charge()
    };
    inner.emit(PoolEvent::Loading { model: model.name.clone(), estimate_bytes: charge });
    make_room(inner, id, &model.name).await?;
    inner.backend.load(id, model.path.clone()).await.map_err(load_err)
}

/// Evicts idle models, least recently used first, until this slot fits; waits (bounded) when
/// only busy or pinned models hold the memory.
async fn make_room(inner: &Arc<Inner>, id: SlotId, name: &str) -> Result<(), PoolError> {
    let budget = inner.config.budget;
    let deadline = Instant::now() + inner.config.load_timeout;
    loop {
        let notified = inner.changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let victim = {
            let mut st = inner.lock();
            let need = st.slots.get(&id).ok_or(PoolError::ShuttingDown)?.charge();
            if need > budget {
                return Err(PoolError::TooLarge { model: name.to_string(), size: need, budget });
            }
            let used = st.used_except(Some(id));
            let over_count = inner.config.max_loaded.is_some_and(|m| st.loaded_except(id) >= m);
            if used + need <= budget && !over_count {
                if let Some(slot) = st.slots.get_mut(&id) {
                    slot.admitted = true;
                }
                return Ok(());
            }
            st.victim(id).filter(|v| st.begin_unload(*v, false))
        };
        if let Some(victim) = victim {
            finish_unload(inner, victim, Reason::Evicted).await;
            continue;
        }
        tokio::select! {
            () = &mut notified => {}
            () = sleep_until(deadline) => {
                let st = inner.lock();
                let busy = st.slots.values().filter(|s| s.id != id && s.charge() > 0).map(|s| s.name.clone()).collect();
                return Err(PoolError::Timeout { model: name.to_string(), waited: inner.config.load_timeout, busy });
            }
        }
    }
}

/// Unloads a slot already marked [`Phase::Unloading`] and forgets it.
pub(super) async fn finish_unload(inner: &Arc<Inner>, id: SlotId, reason: Reason) {
    inner.backend.unload(id).await;
    let mut st = inner.lock();
    let Some(slot) = st.slots.remove(&id) else { return };
    if st.by_name.get(&slot.key) == Some(&id) {
        st.by_name.remove(&slot.key);
    }
    drop(st);
    tracing::info!(model = %slot.name, reason = reason.as_str(), "unloaded");
    inner.emit(PoolEvent::Unloaded { model: slot.name, reason: reason.as_str().to_string() });
    inner.wake();
}

/// Updates every slot's measured usage and MLX cache share.
pub(super) async fn measure(inner: &Arc<Inner>) {
    let m = inner.backend.measure().await;
    let mut st = inner.lock();
    let held: u64 = m.models.values().map(|u| u.weight_bytes + u.kv_bytes).sum();
    for (id, usage) in &m.models {
        if let Some(slot) = st.slots.get_mut(id) {
            // An unloading model keeps the charge it had when its unload began: as its arrays
            // are freed they move into MLX's buffer cache, and a share of that cache on top of
            // the weights it still reports would bill the same bytes twice (the soak saw the
            // pool's sum pass the budget by 0.8% this way while a model reloaded).
            if matches!(slot.phase, Phase::Unloading) {
                continue;
            }
            slot.usage = *usage;
            // The buffer cache is shared; each model carries it in proportion to what it holds.
            let own = u128::from(usage.weight_bytes + usage.kv_bytes);
            slot.cache_share = if held == 0 {
                0
            } else {
                u64::try_from(u128::from(m.cache_bytes) * own / u128::from(held)).unwrap_or(u64::MAX)
            };
        }
    }
    st.mlx_cache = m.cache_bytes;
    st.mlx_active = m.active_bytes;
}

/// Evicts idle models while the measured total is over the budget (a load came out larger
/// than estimated, or caches grew).
async fn enforce_budget(inner: &Arc<Inner>) {
    loop {
        let victim = {
            let mut st = inner.lock();
            if st.used_except(None) <= inner.config.budget {
                return;
            }
            match st.victim(0).filter(|v| st.begin_unload(*v, false)) {
                Some(v) => v,
                None => return,
            }
        };
        finish_unload(inner, victim, Reason::Evicted).await;
    }
}

/// Applies expiry to idle slots and re-measures after requests end; sleeps until the next
/// deadline or a change.
pub(super) async fn reaper(inner: Arc<Inner>) {
    loop {
        let notified = inner.reaper.notified();
        let (due, next, measure_due) = {
            let mut st = inner.lock();
            let (due, next) = st.due(Instant::now());
            let due: Vec<(SlotId, Reason)> = due.into_iter().filter(|(id, _)| st.begin_unload(*id, false)).collect();
            (due, next, std::mem::take(&mut st.measure_due))
        };
        for (id, reason) in due {
            finish_unload(&inner, id, reason).await;
        }
        if measure_due {
            measure(&inner).await;
            enforce_budget(&inner).await;
        }
        match next {
            Some(t) => {
                tokio::select! {
                    () = notified => {}
                    () = sleep_until(t) => {}
                }
            }
            None => notified.await,
        }
    }
}
