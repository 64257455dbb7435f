//! How the daemon starts and stops under a supervisor: one daemon per store (a lock file),
//! the listener (socket activation from systemd or launchd, else a bind with a clear error),
//! readiness and watchdog notifications to systemd, a bounded drain on SIGTERM/SIGINT, and a
//! size-rotated log file when the daemon writes its own log.

pub mod info;
pub mod listen;
pub mod lock;
pub mod logfile;
pub mod notify;
pub mod shutdown;

pub use info::StartInfo;
pub use listen::listener;
pub use lock::StoreLock;
pub use logfile::RotatingFile;
pub use notify::Notifier;
pub use shutdown::{exit_without_destructors, serve_until_signal, signal};
