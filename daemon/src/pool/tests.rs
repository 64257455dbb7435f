//! Pool policy with a fake backend that only simulates sizes and load times, under paused
//! tokio time (deterministic, no real sleeps). The same rules are tested through the real
//! daemon in `daemon/tests/`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use ollmlx_api::KeepAlive;

use super::*;

#[derive(Default)]
struct Fake {
    sizes: HashMap<PathBuf, u64>,
    loads: AtomicUsize,
    loaded: Mutex<HashMap<SlotId, u64>>,
    unloads: Mutex<Vec<SlotId>>,
}

const LOAD_TIME: Duration = Duration::from_secs(2);

impl Backend for Fake {
    fn estimate(&self, path: PathBuf) -> BoxFuture<'static, Result<Estimate, String>> {
        let size = self.sizes.get(&path).copied();
        async move {
            let weight_bytes = size.ok_or_else(|| format!("no such model {}", path.display()))?;
            Ok(Estimate { weight_bytes, kv_bytes_per_token: 0 })
        }
        .boxed()
    }
    fn load(&self, id: SlotId, path: PathBuf) -> BoxFuture<'static, Result<LoadedModel, String>> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let size = self.sizes[&path];
        self.loaded.lock().unwrap().insert(id, size);
        async move {
            tokio::time::sleep(LOAD_TIME).await;
            let meta = ModelMeta { context_length: 2048, ..ModelMeta::default() };
            Ok(LoadedModel { meta: Arc::new(meta), weight_bytes: size, kv_bytes_per_token: 0 })
        }
        .boxed()
    }
    fn unload(&self, id: SlotId) -> BoxFuture<'static, ()> {
        self.loaded.lock().unwrap().remove(&id);
        self.unloads.lock().unwrap().push(id);
        async {}.boxed()
    }
    fn measure(&self) -> BoxFuture<'static, Measurement> {
        let models = self
            .loaded
            .lock()
            .unwrap()
            .iter()
            .map(|(id, w)| (*id, Usage { weight_bytes: *w, kv_bytes: 0 }))
            .collect();
        async move { Measurement { models, cache_bytes: 0, active_bytes: 0 } }.boxed()
    }
}

fn setup(budget: u64, sizes: &[(&str, u64)], tweak: impl FnOnce(&mut PoolConfig)) -> (Pool, Arc<Fake>) {
    let fake = Arc::new(Fake {
        sizes: sizes.iter().map(|(n, s)| (PathBuf::from(n), *s)).collect(),
        ..Fake::default()
    });
    let mut config =
        PoolConfig { budget, max_loaded: None, max_queue: 16, load_timeout: Duration::from_secs(30), prefix_reserve: 0 };
    tweak(&mut config);
    (Pool::new(fake.clone(), config), fake)
}

fn model(name: &str) -> ModelRef {
    ModelRef { key: name.into(), name: name.into(), path: PathBuf::from(name), digest: "d".into() }
}

fn opts() -> AcquireOptions {
    AcquireOptions {
        keep_alive: None,
        default_keep_alive: KeepAlive::For(Duration::from_secs(300)),
        num_ctx: None,
        default_num_ctx: 1024,
        pin: None,
    }
}

fn loaded_names(pool: &Pool) -> Vec<String> {
    let mut names: Vec<String> = pool.view().models.into_iter().map(|m| m.name).collect();
    names.sort();
    names
}

async fn use_once(pool: &Pool, name: &str) {
    let lease = pool.acquire(&model(name), opts()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(lease);
    settle().await;
}

/// Lets spawned tasks (reaper, unloads) run.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn evicts_the_least_recently_used_idle_model() {
    let (pool, _) = setup(250, &[("a", 100), ("b", 100), ("c", 100)], |_| {});
    use_once(&pool, "a").await;
    use_once(&pool, "b").await;
    use_once(&pool, "a").await; // a is now more recent than b
    use_once(&pool, "c").await;
    assert_eq!(loaded_names(&pool), vec!["a", "c"]);
    assert!(pool.view().used <= 250);
}

#[tokio::test(start_paused = true)]
async fn pinned_models_are_never_evicted() {
    let (pool, _) = setup(250, &[("a", 100), ("b", 100), ("c", 100)], |_| {});
    let pinned = AcquireOptions { pin: Some(true), ..opts() };
    drop(pool.acquire(&model("a"), pinned).await.unwrap());
    use_once(&pool, "b").await;
    use_once(&pool, "c").await;
    assert_eq!(loaded_names(&pool), vec!["a", "c"]);
}

#[tokio::test(start_paused = true)]
async fn a_busy_model_is_waited_for_not_evicted() {
    let (pool, _) = setup(150, &[("a", 100), ("b", 100)], |_| {});
    let lease_a = pool.acquire(&model("a"), opts()).await.unwrap();
    let p2 = pool.clone();
    let waiting = tokio::spawn(async move { p2.acquire(&model("b"), opts()).await.map(|l| l.name().to_string()) });
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!waiting.is_finished(), "b must wait while a is in use");
    assert_eq!(loaded_names(&pool), vec!["a", "b"], "b is registered as loading, a still resident");
    drop(lease_a);
    assert_eq!(waiting.await.unwrap().unwrap(), "b");
    settle().await;
    assert_eq!(loaded_names(&pool), vec!["b"]);
}

#[tokio::test(start_paused = true)]
async fn waiting_for_room_is_bounded() {
    let (pool, _) = setup(150, &[("a", 100), ("b", 100)], |c| c.load_timeout = Duration::from_secs(5));
    let _lease_a = pool.acquire(&model("a"), opts()).await.unwrap();
    let err = pool.acquire(&model("b"), opts()).await.err().unwrap();
    assert!(matches!(err, PoolError::Timeout { ref busy, .. } if busy == &["a".to_string()]), "{err}");
    assert_eq!(loaded_names(&pool), vec!["a"]);
}

#[tokio::test(start_paused = true)]
async fn a_model_larger_than_the_budget_is_refused_by_name() {
    let (pool, fake) = setup(100, &[("big", 1000)], |_| {});
    let err = pool.acquire(&model("big"), opts()).await.err().unwrap();
    let msg = err.to_string();
    assert!(matches!(err, PoolError::TooLarge { size: 1000, budget: 100, .. }), "{msg}");
    assert!(msg.contains("'big'") && msg.contains("1000 B") && msg.contains("100 B"), "{msg}");
    assert_eq!(fake.loads.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn concurrent_requests_share_one_load() {
    let (pool, fake) = setup(1000, &[("a", 100)], |_| {});
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let p = pool.clone();
            tokio::spawn(async move { p.acquire(&model("a"), opts()).await.map(|l| l.slot()) })
        })
        .collect();
    let mut slots = Vec::new();
    for t in tasks {
        slots.push(t.await.unwrap().unwrap());
    }
    assert_eq!(fake.loads.load(Ordering::SeqCst), 1);
    assert!(slots.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test(start_paused = true)]
async fn a_load_survives_its_client_going_away() {
    let (pool, fake) = setup(1000, &[("a", 100)], |_| {});
    let p = pool.clone();
    let client = tokio::spawn(async move { p.acquire(&model("a"), opts()).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(500)).await;
    client.abort();
    tokio::time::sleep(LOAD_TIME * 2).await;
    assert_eq!(loaded_names(&pool), vec!["a"]);
    assert_eq!(pool.view().queued, 0);
    pool.acquire(&model("a"), opts()).await.unwrap();
    assert_eq!(fake.loads.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn keep_alive_counts_from_the_end_of_the_last_request() {
    let (pool, _) = setup(1000, &[("a", 100)], |_| {});
    let lease = pool.acquire(&model("a"), opts()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(400)).await; // longer than keep_alive, but busy
    assert_eq!(loaded_names(&pool), vec!["a"]);
    drop(lease);
    tokio::time::sleep(Duration::from_secs(299)).await;
    assert_eq!(loaded_names(&pool), vec!["a"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    settle().await;
    assert!(loaded_names(&pool).is_empty());
}

#[tokio::test(start_paused = true)]
async fn keep_alive_zero_unloads_when_the_request_ends_and_forever_stays() {
    let (pool, _) = setup(1000, &[("a", 100), ("b", 100)], |_| {});
    let zero = AcquireOptions { keep_alive: Some(KeepAlive::ZERO), ..opts() };
    let lease = pool.acquire(&model("a"), zero).await.unwrap();
    settle().await;
    assert_eq!(loaded_names(&pool), vec!["a"], "not while in use");
    drop(lease);
    settle().await;
    assert!(loaded_names(&pool).is_empty());
    let forever = AcquireOptions { keep_alive: Some(KeepAlive::Forever), ..opts() };
    drop(pool.acquire(&model("b"), forever).await.unwrap());
    tokio::time::sleep(Duration::from_secs(100_000)).await;
    assert_eq!(loaded_names(&pool), vec!["b"]);
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_is_refused() {
    let (pool, _) = setup(1000, &[("a", 100)], |c| c.max_queue = 2);
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let p = pool.clone();
            tokio::spawn(async move { p.acquire(&model("a"), opts()).await.map(|_| ()) })
        })
        .collect();
    settle().await;
    let err = pool.acquire(&model("a"), opts()).await.err().unwrap();
    assert!(matches!(err, PoolError::QueueFull));
    for w in waiters {
        w.await.unwrap().unwrap();
    }
    // Once loaded, requests attach without queueing.
    pool.acquire(&model("a"), opts()).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn hot_swap_serves_new_requests_from_a_fresh_load() {
    let (pool, fake) = setup(1000, &[("a", 100)], |_| {});
    let old = pool.acquire(&model("a"), opts()).await.unwrap();
    pool.mark_stale("a");
    let new = pool.acquire(&model("a"), opts()).await.unwrap();
    assert_ne!(old.slot(), new.slot());
    assert_eq!(fake.loads.load(Ordering::SeqCst), 2);
    settle().await;
    assert_eq!(pool.view().models.len(), 2, "the old copy finishes its request first");
    let old_slot = old.slot();
    drop(old);
    settle().await;
    assert_eq!(pool.view().models.len(), 1);
    assert_eq!(*fake.unloads.lock().unwrap(), vec![old_slot]);
}

#[tokio::test(start_paused = true)]
async fn max_loaded_caps_the_count() {
    let (pool, _) = setup(10_000, &[("a", 100), ("b", 100), ("c", 100)], |c| c.max_loaded = Some(2));
    use_once(&pool, "a").await;
    use_once(&pool, "b").await;
    use_once(&pool, "c").await;
    assert_eq!(loaded_names(&pool), vec!["b", "c"]);
}

#[tokio::test(start_paused = true)]
async fn explicit_unload_waits_for_in_flight_requests() {
    let (pool, _) = setup(1000, &[("a", 100)], |_| {});
    let lease = pool.acquire(&model("a"), opts()).await.unwrap();
    assert!(pool.request_unload("a"));
    settle().await;
    assert_eq!(loaded_names(&pool), vec!["a"]);
    drop(lease);
    settle().await;
    assert!(loaded_names(&pool).is_empty());
    assert!(!pool.request_unload("a"));
}

#[tokio::test(start_paused = true)]
async fn asking_for_less_context_never_reloads() {
    let (pool, fake) = setup(1000, &[("a", 100)], |_| {});
    drop(pool.acquire(&model("a"), AcquireOptions { num_ctx: Some(2048), ..opts() }).await.unwrap());
    let lease = pool.acquire(&model("a"), AcquireOptions { num_ctx: Some(256), ..opts() }).await.unwrap();
    assert_eq!(lease.context(), 2048);
    assert_eq!(fake.loads.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn the_prefix_reserve_is_charged_from_the_load_on() {
    // 100 + 50 each: two fit in 300, a third does not, although its weights alone would.
    let (pool, _) = setup(300, &[("a", 100), ("b", 100), ("c", 100)], |c| c.prefix_reserve = 50);
    use_once(&pool, "a").await;
    use_once(&pool, "b").await;
    assert_eq!(pool.view().used, 300);
    use_once(&pool, "c").await;
    assert_eq!(loaded_names(&pool), vec!["b", "c"]);
    assert!(pool.view().models.iter().all(|m| m.charge == 150), "{:?}", pool.view().models);
}

#[tokio::test(start_paused = true)]
async fn a_load_waiting_for_room_has_none_until_given_it() {
    let (pool, _) = setup(150, &[("a", 100), ("b", 100)], |_| {});
    let held = pool.acquire(&model("a"), opts()).await.unwrap();
    let waiting = {
        let pool = pool.clone();
        tokio::spawn(async move { pool.acquire(&model("b"), opts()).await.map(drop) })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let view = pool.view();
    let b = view.models.iter().find(|m| m.name == "b").expect("b is registered while it waits");
    assert!(!b.admitted && b.phase == "loading", "{b:?}");
    assert_eq!(view.used, 100, "a waiting load is not charged");
    drop(held);
    waiting.await.unwrap().unwrap();
    assert_eq!(loaded_names(&pool), vec!["b"]);
}
