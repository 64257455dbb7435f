//! The pool's bookkeeping: slots, what each is charged, when each expires and which one to
//! evict. Pure functions over [`State`]; the async parts live in `mod.rs` and `load.rs`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use ollmlx_api::KeepAlive;
use tokio::sync::watch;
use tokio::time::Instant;

use super::backend::{Estimate, LoadedModel, SlotId, Usage};
use super::PoolError;

/// Where a slot is in its life.
#[derive(Debug, Clone)]
pub enum Phase {
    /// Estimating, waiting for room, or loading.
    Loading,
    /// Serving requests.
    Ready(Arc<LoadedModel>),
    /// Being unloaded; still holds its memory until gone.
    Unloading,
}

/// What waiters of a load see.
#[derive(Debug, Clone)]
pub enum LoadStatus {
    /// Not done yet.
    Pending,
    /// Loaded.
    Ready,
    /// Failed; every waiter gets this error.
    Failed(PoolError),
}

/// Why a model was unloaded (for events and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Made room for another model.
    Evicted,
    /// keep_alive ran out.
    Expired,
    /// Asked for (keep_alive 0, /ollmlx/unload).
    Requested,
    /// Its files changed; a newer copy replaces it.
    Replaced,
    /// Daemon stopping.
    Shutdown,
}

impl Reason {
    /// Lower-case name for events.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Evicted => "evicted",
            Reason::Expired => "expired",
            Reason::Requested => "requested",
            Reason::Replaced => "replaced",
            Reason::Shutdown => "shutdown",
        }
    }
}

/// One loaded (or loading) copy of a model.
#[derive(Debug)]
pub struct Slot {
    /// Unique id.
    pub id: SlotId,
    /// Lower-case canonical name.
    pub key: String,
    /// Canonical name for display.
    pub name: String,
    /// Folder.
    pub path: PathBuf,
    /// Store digest.
    pub digest: String,
    /// Phase.
    pub phase: Phase,
    /// A loading slot counts against the budget only once it has been given room; before
    /// that, two cold loads would each wait for the other's reservation.
    pub admitted: bool,
    /// Leases alive.
    pub refs: usize,
    /// Requests waiting for the load.
    pub waiting: usize,
    /// Never evicted or expired.
    pub pinned: bool,
    /// Idle lifetime.
    pub keep_alive: KeepAlive,
    /// Last time a lease was taken or dropped (LRU order).
    pub last_used: Instant,
    /// When refs last reached 0.
    pub idle_since: Instant,
    /// Pre-load estimate.
    pub estimate: Estimate,
    /// Bytes set aside for the model's prefix cache (see `PoolConfig::prefix_reserve`).
    pub prefix_reserve: u64,
    /// Context the model serves (the largest `num_ctx` asked for, capped by the model).
    pub context: usize,
    /// Last measurement.
    pub usage: Usage,
    /// Share of MLX's buffer cache.
    pub cache_share: u64,
    /// Its files changed or vanished: new requests go elsewhere; unload when idle.
    pub stale: bool,
    /// Unload when idle (keep_alive 0, explicit unload).
    pub unload_requested: bool,
    /// Load outcome for waiters.
    pub status: watch::Sender<LoadStatus>,
}

/// When a slot should be unloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Not while things stay as they are (busy, loading, pinned, forever).
    Never,
    /// At this instant, if still idle.
    At(Instant),
    /// As soon as possible.
    Now,
}

impl Slot {
    /// The single expiry rule: busy or loading slots never expire; stale or unload-requested
    /// ones go now; pinned or keep-forever ones stay; otherwise idle_since + keep_alive.
    pub fn expiry(&self) -> Expiry {
        if self.refs > 0 || self.waiting > 0 || !matches!(self.phase, Phase::Ready(_)) {
            return Expiry::Never;
        }
        if self.stale || self.unload_requested {
            return Expiry::Now;
        }
        if self.pinned {
            return Expiry::Never;
        }
        match self.keep_alive {
            KeepAlive::Forever => Expiry::Never,
            KeepAlive::For(d) if d.is_zero() => Expiry::Now,
            KeepAlive::For(d) => Expiry::At(self.idle_since + d),
        }
    }

    /// Bytes this slot counts against the budget: the larger of what it measurably holds and
    /// what it is expected to hold (weights + KV for its context + its prefix cache's
    /// reserve), so a model's KV growth during generation is already paid for.
    pub fn charge(&self) -> u64 {
        let weights = match &self.phase {
            Phase::Ready(m) => m.weight_bytes,
            _ => self.estimate.weight_bytes,
        };
        let kv_per_token = match &self.phase {
            Phase::Ready(m) => m.kv_bytes_per_token,
            _ => self.estimate.kv_bytes_per_token,
        };
        let expected =
            weights.saturating_add(kv_per_token.saturating_mul(self.context as u64)).saturating_add(self.prefix_reserve);
        expected.max(self.resident())
    }

    /// Bytes measured as held right now (weights + KV + cache share).
    pub fn resident(&self) -> u64 {
        match self.phase {
            Phase::Loading => 0,
            _ => self.usage.weight_bytes + self.usage.kv_bytes + self.cache_share,
        }
    }

    /// True once it holds its room in the budget: a load that was given room, or any slot
    /// past loading.
    pub fn has_room(&self) -> bool {
        self.admitted || !matches!(self.phase, Phase::Loading)
    }

    /// True when eviction may take it.
    pub fn evictable(&self) -> bool {
        matches!(self.phase, Phase::Ready(_)) && self.refs == 0 && self.waiting == 0 && !self.pinned
    }
}

/// Everything the pool tracks.
#[derive(Debug, Default)]
pub struct State {
    /// Slots by id.
    pub slots: HashMap<SlotId, Slot>,
    /// The current (not stale) slot of each name.
    pub by_name: HashMap<String, SlotId>,
    /// Requests waiting for a model.
    pub queued: usize,
    /// Next slot id.
    pub next_id: SlotId,
    /// Set when a lease ended, so the reaper re-measures.
    pub measure_due: bool,
    /// No new loads.
    pub shutting_down: bool,
    /// MLX figures from the last measurement.
    pub mlx_cache: u64,
    /// MLX active bytes from the last measurement.
    pub mlx_active: u64,
}

impl State {
    /// Bytes charged by every slot except `except`.
    pub fn used_except(&self, except: Option<SlotId>) -> u64 {
        self.slots
            .values()
            .filter(|s| Some(s.id) != except && s.has_room())
            .map(Slot::charge)
            .sum()
    }

    /// Slots that count towards OLLMLX_MAX_LOADED, except `except`.
    pub fn loaded_except(&self, except: SlotId) -> usize {
        self.slots.values().filter(|s| s.id != except && !matches!(s.phase, Phase::Unloading)).count()
    }

    /// The eviction victim: stale idle slots first, then the least recently used idle,
    /// unpinned one. Never a slot with requests in flight or waiting.
    pub fn victim(&self, except: SlotId) -> Option<SlotId> {
        self.slots
            .values()
            .filter(|s| s.id != except && s.evictable())
            .min_by_key(|s| (!s.stale, s.last_used, s.id))
            .map(|s| s.id)
    }

    /// Marks a slot as unloading and takes it out of name lookup; false when it is gone or
    /// busy again (a request attached in the meantime).
    pub fn begin_unload(&mut self, id: SlotId, force: bool) -> bool {
        let Some(slot) = self.slots.get_mut(&id) else { return false };
        if !matches!(slot.phase, Phase::Ready(_)) || (!force && (slot.refs > 0 || slot.waiting > 0)) {
            return false;
        }
        slot.phase = Phase::Unloading;
        if self.by_name.get(&slot.key) == Some(&id) {
            self.by_name.remove(&slot.key);
        }
        true
    }

    /// Slots due now and the next future deadline.
    pub fn due(&self, now: Instant) -> (Vec<(SlotId, Reason)>, Option<Instant>) {
        let mut due = Vec::new();
        let mut next: Option<Instant> = None;
        for slot in self.slots.values() {
            match slot.expiry() {
                Expiry::Never => {}
                Expiry::Now => due.push((slot.id, reason_of(slot))),
                Expiry::At(t) if t <= now => due.push((slot.id, Reason::Expired)),
                Expiry::At(t) => next = Some(next.map_or(t, |n| n.min(t))),
            }
        }
        (due, next)
    }
}

fn reason_of(slot: &Slot) -> Reason {
    if slot.stale {
        Reason::Replaced
    } else if slot.unload_requested {
        Reason::Requested
    } else {
        Reason::Expired
    }
}
