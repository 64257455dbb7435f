//! Start-up and shutdown: settings, logging, store, engine thread, pool, watcher, listener.

use std::sync::Arc;

use anyhow::Context;
use ollmlx_store::{Store, StoreConfig, StoreEvent};

use crate::config::{Flags, Settings};
use crate::engine_thread::EngineHandle;
use crate::pool::{Pool, PoolConfig};
use crate::state::App;

/// Runs the daemon until SIGINT/SIGTERM.
pub fn run(flags: Flags) -> anyhow::Result<()> {
    let settings = Settings::load(flags, crate::platform::total_memory())?;
    init_logging();
    // Few worker threads: the HTTP side only shuffles bytes; MLX has its own thread.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(settings))
}

fn init_logging() {
    let filter = crate::env::get(crate::env::LOG).unwrap_or_else(|| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal: supervisors' log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = Store::open(StoreConfig::from_env(settings.models_dir.clone()))
        .with_context(|| format!("cannot open the model store at {}", settings.models_dir.display()))?;
    let engine = EngineHandle::start().context("cannot start the engine thread")?;
    let pool = Pool::new(
        Arc::new(engine.clone()),
        PoolConfig {
            budget: settings.memory_budget,
            max_loaded: settings.max_loaded,
            max_queue: settings.max_queue,
            load_timeout: settings.load_timeout,
        },
    );
    let _watcher = watch_store(&store, &pool);
    let listener = tokio::net::TcpListener::bind(settings.host)
        .await
        .with_context(|| format!("cannot listen on {} (OLLMLX_HOST)", settings.host))?;
    tracing::info!(
        address = %listener.local_addr().unwrap_or(settings.host),
        models = %settings.models_dir.display(),
        budget = %crate::config::parse::human_bytes(settings.memory_budget),
        "ollmlxd listening"
    );
    let app = Arc::new(App { settings, store, pool: pool.clone(), engine });
    axum::serve(listener, crate::routes::router(app))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("server failed")?;
    pool.shutdown().await;
    tracing::info!("stopped");
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
        while let Some(event) = events.recv().await {
            match event {
                StoreEvent::Changed(name) | StoreEvent::Removed(name) => pool.mark_stale(&name.key()),
                StoreEvent::Added(_) => {}
            }
        }
    });
    Some(watcher)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}
