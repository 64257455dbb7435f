//! SIGTERM/SIGINT: stop accepting, let in-flight requests finish within the exit timeout,
//! then return so the caller can unload models and exit 0.

use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use super::Notifier;

/// Serves `router` on `listener` until SIGTERM/SIGINT, then drains for at most `exit_timeout`.
/// Requests still running after the deadline are left to the caller's runtime shutdown.
pub async fn serve_until_signal(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    exit_timeout: Duration,
    notifier: &Notifier,
) -> anyhow::Result<()> {
    let (stop_tx, mut stop_rx) = watch::channel(false);
    // The peer address reaches handlers as `ConnectInfo` (the /ollmlx/ guard reads it).
    let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(super::listen::no_delay(listener), app).with_graceful_shutdown(async move {
        // Err: the sender is gone, which also means stop.
        let _ = stop_rx.wait_for(|stop| *stop).await;
    });
    let server = std::future::IntoFuture::into_future(server);
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => return result.context("server failed"),
        () = signal() => {}
    }
    notifier.stopping();
    tracing::info!(timeout = ?exit_timeout, "shutting down: no new connections, waiting for requests in flight");
    let _ = stop_tx.send(true);
    match tokio::time::timeout(exit_timeout, &mut server).await {
        Ok(result) => result.context("server failed"),
        Err(_) => {
            tracing::warn!(timeout = ?exit_timeout, "requests still running at the exit timeout; stopping them");
            Ok(())
        }
    }
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Ends the process at once, skipping atexit handlers and C++ static destructors (used when
/// another thread may still be inside MLX, whose globals those destructors free).
#[allow(unsafe_code)]
pub fn exit_without_destructors(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stderr().flush();
    // SAFETY: _exit takes no pointers and never returns.
    unsafe { libc::_exit(code) }
}
