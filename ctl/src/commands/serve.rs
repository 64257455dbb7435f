//! `serve`: replaces this process with `ollmlxd`, found next to `ollmlxctl` or else on `PATH`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, Context, Result};

/// The daemon's file name on this OS.
const DAEMON: &str = if cfg!(windows) { "ollmlxd.exe" } else { "ollmlxd" };

/// `serve ARGS...`: runs the daemon in the foreground with `ARGS` passed through.
pub fn serve(args: &[OsString]) -> Result<()> {
    let program = daemon_path()?;
    let mut cmd = Command::new(&program);
    cmd.args(args);
    exec(cmd).with_context(|| format!("running {}", program.display()))
}

/// Becomes the daemon, so signals and the exit status are its own.
#[cfg(unix)]
fn exec(mut cmd: Command) -> Result<()> {
    use std::os::unix::process::CommandExt;
    Err(cmd.exec().into())
}

/// Without exec: waits for the daemon and exits with its code.
#[cfg(not(unix))]
fn exec(mut cmd: Command) -> Result<()> {
    let status = cmd.status()?;
    std::process::exit(status.code().unwrap_or(1));
}

/// `ollmlxd` in the folder of this executable, else the first on `PATH`; absolute either way
/// (the service definition needs an absolute path).
pub fn daemon_path() -> Result<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.canonicalize().ok())
        .and_then(|exe| exe.parent().map(|dir| dir.join(DAEMON)))
        .filter(|p| is_executable(p));
    if let Some(path) = beside {
        return Ok(path);
    }
    let path_var = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(DAEMON))
        .find(|p| is_executable(p))
        .map(|p| p.canonicalize().unwrap_or(p))
        .ok_or_else(|| anyhow!("cannot find {DAEMON} next to ollmlxctl or on PATH; install it beside ollmlxctl"))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}
