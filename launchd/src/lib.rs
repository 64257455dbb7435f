//! Runs `ollmlxd` as a per-user background service.
//!
//! On macOS it writes a LaunchAgent plist (`~/Library/LaunchAgents/<label>.plist`) and drives it
//! with `launchctl bootstrap/bootout/kickstart/kill/print` in the `gui/<uid>` domain. On Linux it
//! writes systemd user units (`~/.config/systemd/user/ollmlx.service`, optionally
//! `ollmlx.socket`) and drives them with `systemctl --user`.
//!
//! Key types:
//! - [`ServiceSpec`]: what to run (absolute program, args, environment, socket, timeouts).
//! - [`ServiceEnv`]: home directory and uid, injected by the caller ([`ServiceEnv::detect`] reads
//!   them once at the top of a binary).
//! - [`ServiceManager`]: install / uninstall / start / stop / restart / status / logs;
//!   `<dyn ServiceManager>::for_current_platform` is the one place the platform is chosen.
//! - [`CommandRunner`]: the thin process layer; [`SystemRunner`] runs real commands and
//!   [`ScriptedRunner`] records argv and answers from a script in tests.
//!
//! Both platform implementations are compiled and unit-tested on every OS. This crate does not
//! implement the daemon's side of socket activation or `sd_notify`/watchdog pings; `ollmlxd`
//! must do those (see [`LAUNCHD_SOCKET_NAME`], and `Type=notify` + `WatchdogSec=` in the unit).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod error;
mod fsutil;
mod launchctl;
mod manager;
pub mod plist;
mod runner;
mod spec;
mod systemctl;
pub mod systemd;

pub use error::{Error, Result};
pub use launchctl::{LaunchdManager, LAUNCHCTL};
pub use manager::{Platform, ServiceManager};
pub use runner::{CommandOutput, CommandRunner, ScriptedRunner, SystemRunner};
pub use spec::{
    LogLocation, RenderedFile, ServiceEnv, ServiceSpec, ServiceStatus, SocketSpec, DEFAULT_LABEL,
    LAUNCHD_SOCKET_NAME,
};
pub use systemctl::{SystemdManager, JOURNALCTL, SYSTEMCTL};
