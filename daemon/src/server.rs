//! Start-up and shutdown: settings, logging, store lock, store, engine thread, pool, watcher,
//! listener; the supervisor-facing parts (lock, activation, notify, drain) live in `lifecycle`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ollmlx_store::{Store, StoreConfig, StoreEvent};

use crate::config::{Flags, Settings};
use crate::engine_thread::{EngineConfig, EngineHandle};
use crate::lifecycle::{self, Notifier, StoreLock};
use crate::pool::{Pool, PoolConfig};
use crate::state::App;

/// How long shutdown waits for the engine thread to finish its current step.
const ENGINE_STOP_WAIT: Duration = Duration::from_secs(30);

/// How often loaded models are checked for a deleted folder (see `Pool::forget_vanished`).
const VANISHED_SWEEP: Duration = Duration::from_secs(1);

/// MLX's buffer cache may hold at most the budget divided by this.
const CACHE_SHARE_OF_BUDGET: u64 = 16;

/// Runs the daemon until SIGINT/SIGTERM.
pub fn run(flags: Flags) -> anyhow::Result<()> {
    let settings = Settings::load(flags, crate::platform::total_memory())?;
    init_logging(settings.log_file.as_deref())?;
    // Few worker threads: the HTTP side only shuffles bytes; MLX has its own thread.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(serve(settings));
    // Requests still running past the exit timeout are dropped here, not waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

fn init_logging(log_file: Option<&std::path::Path>) -> anyhow::Result<()> {
    let filter = crate::env::get(crate::env::LOG).unwrap_or_else(|| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal: supervisors' log files get plain text.
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match log_file {
        Some(path) => {
            let file = lifecycle::RotatingFile::open(path, lifecycle::logfile::DEFAULT_MAX_BYTES, lifecycle::logfile::DEFAULT_KEEP)
                .with_context(|| format!("cannot open the log file {} (OLLMLX_LOG_FILE)", path.display()))?;
            builder.with_ansi(false).with_writer(file).init();
        }
        None => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            builder.with_ansi(ansi).with_writer(std::io::stderr).init();
        }
    }
    Ok(())
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    // Before anything else: a second daemon on this store must fail, not share it.
    let lock = StoreLock::acquire(&settings.models_dir)?;
    let store = Store::open(StoreConfig::from_env(settings.models_dir.clone()))
        .with_context(|| format!("cannot open the model store at {}", settings.models_dir.display()))?;
    let start = lifecycle::StartInfo::detect();
    let engine = EngineHandle::start(EngineConfig {
        batching: settings.batching,
        // Hidden, so the store never mistakes it for a model.
        prefix_root: Some(settings.models_dir.join(".prefix-cache")),
    })
    .context("cannot start the engine thread")?;
    // MLX keeps freed buffers for reuse; the pool bills that cache to the models in proportion
    // to what they hold, so left unbounded it could carry the charged total past the budget
    // while every model is busy (nothing to evict). A sixteenth of the budget bounds it.
    ollmlx_engine::mlx::memory::set_cache_limit(usize::try_from(settings.memory_budget / CACHE_SHARE_OF_BUDGET).unwrap_or(usize::MAX));
    let pool = Pool::new(
        Arc::new(engine.clone()),
        PoolConfig {
            budget: settings.memory_budget,
            max_loaded: settings.max_loaded,
            max_queue: settings.max_queue,
            load_timeout: settings.load_timeout,
            prefix_reserve: settings.batching.prefix_cache_bytes,
        },
    );
    let _watcher = watch_store(&store, &pool);
    let (listener, activated) = lifecycle::listener(settings.host).await?;
    tracing::info!(
        activated,
        address = %listener.local_addr().unwrap_or(settings.host),
        models = %settings.models_dir.display(),
        budget = %crate::config::parse::human_bytes(settings.memory_budget),
        "ollmlxd listening"
    );
    let exit_timeout = settings.exit_timeout;
    let app = Arc::new(App { settings, store, pool: pool.clone(), engine: engine.clone(), start });
    let notifier = Notifier::from_env();
    notifier.ready();
    notifier.spawn_watchdog();
    lifecycle::serve_until_signal(listener, crate::routes::router(app), exit_timeout, &notifier).await?;
    pool.shutdown().await;
    if !engine.stop(ENGINE_STOP_WAIT).await {
        // The engine thread is inside one long step and still uses MLX: returning would run
        // MLX's static destructors under it (a crash). Leave without them; the lock file is
        // advisory and goes with the process.
        tracing::warn!(wait = ?ENGINE_STOP_WAIT, "the engine did not stop in time; exiting without cleanup");
        lifecycle::exit_without_destructors(0);
    }
    tracing::info!(lock = %lock.path().display(), "stopped");
    drop(lock);
    Ok(())
}

/// Hot swap: changed or removed models are replaced or freed once idle.
fn watch_store(store: &Store, pool: &Pool) -> Option<ollmlx_store::StoreWatcher> {
    let (watcher, mut events) = match store.watch() {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the store; model changes need a restart");
            return None;
        }
    };
    let pool = pool.clone();
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(VANISHED_SWEEP);
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(StoreEvent::Changed(name) | StoreEvent::Removed(name)) => pool.mark_stale(&name.key()),
                    Some(StoreEvent::Added(_)) => {}
                    None => return,
                },
                _ = sweep.tick() => pool.forget_vanished(),
            }
        }
    });
    Some(watcher)
}
