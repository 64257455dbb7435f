//! [`SystemdManager`]: `ollmlx.service` (and optionally `ollmlx.socket`) in the user's systemd
//! instance, driven by `systemctl --user`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::fsutil::{remove_if_exists, write_atomic};
use crate::manager::{Platform, ServiceManager};
use crate::runner::{CommandOutput, CommandRunner};
use crate::spec::{LogLocation, RenderedFile, ServiceEnv, ServiceSpec, ServiceStatus};
use crate::systemd::{service_unit, socket_unit, SERVICE_UNIT, SOCKET_UNIT};

/// Looked up on `PATH`: distributions install it in `/usr/bin` or `/bin`.
pub const SYSTEMCTL: &str = "systemctl";
/// Looked up on `PATH`, like [`SYSTEMCTL`].
pub const JOURNALCTL: &str = "journalctl";

/// The properties `status` asks for. `ExecMainCode` tells an exit code from a signal number in
/// `ExecMainStatus`; `LoadState` says whether systemd knows the unit at all.
const SHOW_PROPERTIES: &str = "LoadState,ActiveState,SubState,MainPID,ExecMainCode,ExecMainStatus";
/// `ExecMainCode` for a process that exited (`CLD_EXITED`), rather than being killed.
const CLD_EXITED: &str = "1";

/// Drives the user units `ollmlx.service` and `ollmlx.socket`.
pub struct SystemdManager {
    env: ServiceEnv,
    runner: Box<dyn CommandRunner>,
}

impl SystemdManager {
    /// A manager for the user described by `env`.
    #[must_use]
    pub fn new(env: ServiceEnv, runner: Box<dyn CommandRunner>) -> Self {
        Self { env, runner }
    }

    /// `~/.config/systemd/user/ollmlx.service` (or under `$XDG_CONFIG_HOME`).
    #[must_use]
    pub fn service_path(&self) -> PathBuf {
        self.env.systemd_user_dir().join(SERVICE_UNIT)
    }

    /// `~/.config/systemd/user/ollmlx.socket` (or under `$XDG_CONFIG_HOME`).
    #[must_use]
    pub fn socket_path(&self) -> PathBuf {
        self.env.systemd_user_dir().join(SOCKET_UNIT)
    }

    fn argv(args: &[&str]) -> Vec<String> {
        [SYSTEMCTL, "--user"]
            .into_iter()
            .chain(args.iter().copied())
            .map(str::to_owned)
            .collect()
    }

    /// Runs `systemctl --user <args>` and requires success.
    fn systemctl(&self, args: &[&str]) -> Result<CommandOutput> {
        let argv = Self::argv(args);
        self.runner.run(&argv)?.check(&argv)
    }

    fn units(spec: &ServiceSpec) -> Result<(String, Option<String>)> {
        Ok((service_unit(spec)?, spec.socket.as_ref().map(socket_unit)))
    }
}

impl ServiceManager for SystemdManager {
    fn platform(&self) -> Platform {
        Platform::Systemd
    }

    fn render(&self, spec: &ServiceSpec) -> Result<Vec<RenderedFile>> {
        let (service, socket) = Self::units(spec)?;
        let mut files = vec![RenderedFile {
            path: self.service_path(),
            contents: service,
        }];
        if let Some(contents) = socket {
            files.push(RenderedFile {
                path: self.socket_path(),
                contents,
            });
        }
        Ok(files)
    }

    fn install(&self, spec: &ServiceSpec) -> Result<Vec<PathBuf>> {
        let (service, socket) = Self::units(spec)?;
        let reinstall = self.service_path().is_file();
        let stale_socket = socket.is_none() && self.socket_path().is_file();
        let mut written = vec![self.service_path()];
        write_atomic(&self.service_path(), &service)?;
        if let Some(socket) = &socket {
            write_atomic(&self.socket_path(), socket)?;
            written.push(self.socket_path());
        }
        if stale_socket {
            // A previous install used socket activation and this one does not.
            self.systemctl(&["disable", "--now", SOCKET_UNIT])?;
            remove_if_exists(&self.socket_path())?;
        }
        self.systemctl(&["daemon-reload"])?;
        let mut enable = vec!["enable", "--now"];
        if socket.is_some() {
            enable.push(SOCKET_UNIT);
        }
        enable.push(SERVICE_UNIT);
        self.systemctl(&enable)?;
        if reinstall {
            // enable --now leaves a running instance alone; restart so the new unit takes effect.
            self.systemctl(&["restart", SERVICE_UNIT])?;
        }
        Ok(written)
    }

    fn uninstall(&self) -> Result<bool> {
        let mut units = Vec::new();
        if self.socket_path().is_file() {
            units.push(SOCKET_UNIT);
        }
        if self.service_path().is_file() {
            units.push(SERVICE_UNIT);
        }
        if units.is_empty() {
            return Ok(false);
        }
        let mut disable = vec!["disable", "--now"];
        disable.extend(&units);
        self.systemctl(&disable)?;
        remove_if_exists(&self.socket_path())?;
        remove_if_exists(&self.service_path())?;
        self.systemctl(&["daemon-reload"])?;
        Ok(true)
    }

    fn start(&self) -> Result<()> {
        self.systemctl(&["start", SERVICE_UNIT]).map(drop)
    }

    fn stop(&self) -> Result<()> {
        self.systemctl(&["stop", SERVICE_UNIT]).map(drop)
    }

    fn restart(&self) -> Result<()> {
        self.systemctl(&["restart", SERVICE_UNIT]).map(drop)
    }

    fn status(&self) -> Result<ServiceStatus> {
        let installed = self.service_path().is_file();
        let argv = Self::argv(&["show", "-p", SHOW_PROPERTIES, SERVICE_UNIT]);
        let out = self.runner.run(&argv)?;
        if !installed && !out.success() {
            // No unit file and no reachable user manager: nothing is installed either way.
            let why = out.stderr.trim();
            return Ok(ServiceStatus {
                detail: format!("not installed ({why})"),
                ..ServiceStatus::default()
            });
        }
        let out = out.check(&argv)?;
        parse_show(&out.stdout, installed).map_err(|reason| Error::UnexpectedOutput {
            command: argv.join(" "),
            reason,
        })
    }

    fn logs(&self) -> Result<LogLocation> {
        let command = [JOURNALCTL, "--user", "-u", SERVICE_UNIT]
            .map(str::to_owned)
            .to_vec();
        Ok(LogLocation::Journal {
            unit: SERVICE_UNIT.to_owned(),
            command,
        })
    }

    fn definition_paths(&self) -> Vec<PathBuf> {
        vec![self.service_path(), self.socket_path()]
    }
}

/// Reads the `Key=Value` lines of `systemctl show`.
fn parse_show(text: &str, installed: bool) -> std::result::Result<ServiceStatus, String> {
    let props: HashMap<&str, &str> = text.lines().filter_map(|l| l.split_once('=')).collect();
    let get = |key: &str| {
        props
            .get(key)
            .copied()
            .ok_or_else(|| format!("no {key}= line"))
    };
    let (active, sub) = (get("ActiveState")?, get("SubState")?);
    let main_pid = get("MainPID")?;
    let pid = main_pid
        .parse::<u32>()
        .map_err(|_| format!("bad MainPID {main_pid:?}"))?;
    // MainPID is 0 whenever no main process is alive.
    let pid = (pid != 0).then_some(pid);
    let code = props.get("ExecMainCode").copied().unwrap_or_default();
    let status = props
        .get("ExecMainStatus")
        .and_then(|s| s.parse::<i32>().ok());
    let last_exit = if code == CLD_EXITED { status } else { None };
    let mut detail = format!("{active} ({sub})");
    if props.get("LoadState") == Some(&"not-found") {
        detail.push_str(", unit not loaded");
    }
    if let (Some(signal), "2" | "3") = (status, code) {
        let _ = write!(detail, ", last killed by signal {signal}");
    }
    Ok(ServiceStatus {
        installed,
        running: pid.is_some(),
        pid,
        last_exit,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_running_and_failed_units() {
        let running = "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=321\nExecMainCode=0\nExecMainStatus=0\n";
        let status = parse_show(running, true).unwrap();
        assert_eq!(
            status,
            ServiceStatus {
                installed: true,
                running: true,
                pid: Some(321),
                last_exit: None,
                detail: "active (running)".into()
            }
        );
        let failed =
            "ActiveState=failed\nSubState=failed\nMainPID=0\nExecMainCode=1\nExecMainStatus=2\n";
        let status = parse_show(failed, true).unwrap();
        assert_eq!(
            (status.running, status.pid, status.last_exit),
            (false, None, Some(2))
        );
        let killed =
            "ActiveState=failed\nSubState=failed\nMainPID=0\nExecMainCode=2\nExecMainStatus=9\n";
        let status = parse_show(killed, true).unwrap();
        assert_eq!(status.last_exit, None);
        assert_eq!(status.detail, "failed (failed), last killed by signal 9");
    }

    #[test]
    fn rejects_incomplete_output() {
        assert!(parse_show("ActiveState=active\n", true).is_err());
        assert!(parse_show("ActiveState=active\nSubState=running\nMainPID=x\n", true).is_err());
    }
}
