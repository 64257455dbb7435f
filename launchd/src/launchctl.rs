//! [`LaunchdManager`]: a LaunchAgent in the user's `gui/<uid>` domain, driven by `launchctl`.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::fsutil::{create_dir_all, remove_if_exists, write_atomic};
use crate::manager::{Platform, ServiceManager};
use crate::plist::{log_paths, LaunchAgent};
use crate::runner::{CommandOutput, CommandRunner};
use crate::spec::{LogLocation, RenderedFile, ServiceEnv, ServiceSpec, ServiceStatus};

/// launchctl's fixed location on every macOS; an absolute path keeps `PATH` out of the picture.
pub const LAUNCHCTL: &str = "/bin/launchctl";

/// `launchctl print` / `kickstart` exit code for "Could not find service".
const EXIT_NOT_FOUND: i32 = 113;
/// `launchctl bootout` exit code for "No such process" (the service is not loaded).
const EXIT_NO_SUCH_PROCESS: i32 = 3;

/// Drives one LaunchAgent, identified by its label.
pub struct LaunchdManager {
    env: ServiceEnv,
    label: String,
    runner: Box<dyn CommandRunner>,
}

impl LaunchdManager {
    /// A manager for the agent `label` of the user described by `env`.
    #[must_use]
    pub fn new(env: ServiceEnv, label: &str, runner: Box<dyn CommandRunner>) -> Self {
        Self {
            env,
            label: label.to_owned(),
            runner,
        }
    }

    /// `~/Library/LaunchAgents/<label>.plist`.
    #[must_use]
    pub fn plist_path(&self) -> PathBuf {
        self.env
            .launch_agents_dir()
            .join(format!("{}.plist", self.label))
    }

    /// `gui/<uid>`, the per-login-session domain LaunchAgents live in.
    fn domain(&self) -> String {
        format!("gui/{}", self.env.uid)
    }

    /// `gui/<uid>/<label>`.
    fn target(&self) -> String {
        format!("{}/{}", self.domain(), self.label)
    }

    fn argv(args: &[&str]) -> Vec<String> {
        std::iter::once(LAUNCHCTL)
            .chain(args.iter().copied())
            .map(str::to_owned)
            .collect()
    }

    /// Runs launchctl and requires success.
    fn launchctl(&self, args: &[&str]) -> Result<CommandOutput> {
        let argv = Self::argv(args);
        self.runner.run(&argv)?.check(&argv)
    }

    /// `launchctl print gui/<uid>/<label>`; `None` when the agent is not loaded.
    fn print(&self) -> Result<Option<String>> {
        let argv = Self::argv(&["print", &self.target()]);
        let out = self.runner.run(&argv)?;
        if not_found(&out) {
            return Ok(None);
        }
        Ok(Some(out.check(&argv)?.stdout))
    }

    /// `launchctl bootout gui/<uid>/<label>`, tolerating an agent that is already gone.
    fn bootout(&self) -> Result<()> {
        let argv = Self::argv(&["bootout", &self.target()]);
        let out = self.runner.run(&argv)?;
        if not_found(&out) || out.status == Some(EXIT_NO_SUCH_PROCESS) {
            return Ok(());
        }
        out.check(&argv).map(drop)
    }

    fn agent_xml(&self, spec: &ServiceSpec) -> Result<String> {
        if spec.label != self.label {
            return Err(Error::LabelMismatch {
                spec: spec.label.clone(),
                manager: self.label.clone(),
            });
        }
        LaunchAgent::from_spec(spec)?.to_xml()
    }
}

/// Whether launchctl said the service does not exist in the domain.
fn not_found(out: &CommandOutput) -> bool {
    out.status == Some(EXIT_NOT_FOUND)
        || (!out.success()
            && format!("{}{}", out.stdout, out.stderr).contains("Could not find service"))
}

impl ServiceManager for LaunchdManager {
    fn platform(&self) -> Platform {
        Platform::Launchd
    }

    fn render(&self, spec: &ServiceSpec) -> Result<Vec<RenderedFile>> {
        Ok(vec![RenderedFile {
            path: self.plist_path(),
            contents: self.agent_xml(spec)?,
        }])
    }

    fn install(&self, spec: &ServiceSpec) -> Result<Vec<PathBuf>> {
        let xml = self.agent_xml(spec)?;
        // launchd opens StandardOutPath itself but does not create missing directories.
        create_dir_all(&spec.log_dir)?;
        let path = self.plist_path();
        // Write before booting anything out, so a failed write leaves the old agent running.
        write_atomic(&path, &xml)?;
        if self.print()?.is_some() {
            self.bootout()?;
        }
        let plist = crate::spec::path_str("home", &path)?;
        self.launchctl(&["bootstrap", &self.domain(), plist])?;
        Ok(vec![path])
    }

    fn uninstall(&self) -> Result<bool> {
        let loaded = self.print()?.is_some();
        if loaded {
            self.bootout()?;
        }
        let existed = remove_if_exists(&self.plist_path())?;
        Ok(loaded || existed)
    }

    fn start(&self) -> Result<()> {
        self.launchctl(&["kickstart", &self.target()]).map(drop)
    }

    fn stop(&self) -> Result<()> {
        self.launchctl(&["kill", "SIGTERM", &self.target()])
            .map(drop)
    }

    fn restart(&self) -> Result<()> {
        // -k kills a running instance before starting it again.
        self.launchctl(&["kickstart", "-k", &self.target()])
            .map(drop)
    }

    fn status(&self) -> Result<ServiceStatus> {
        let installed = self.plist_path().is_file();
        match self.print()? {
            None => Ok(ServiceStatus {
                installed,
                detail: "not loaded".to_owned(),
                ..ServiceStatus::default()
            }),
            Some(text) => parse_print(&text, installed).map_err(|reason| Error::UnexpectedOutput {
                command: Self::argv(&["print", &self.target()]).join(" "),
                reason,
            }),
        }
    }

    fn logs(&self) -> Result<LogLocation> {
        // The installed agent may use a custom log_dir; its plist is the truth when present.
        let path = self.plist_path();
        let (stdout, stderr) = match plist::from_file::<_, LaunchAgent>(&path) {
            Ok(agent) => (
                agent.standard_out_path.into(),
                agent.standard_error_path.into(),
            ),
            Err(_) if !path.exists() => log_paths(&self.env.default_log_dir()),
            Err(e) => {
                return Err(Error::Plist {
                    label: self.label.clone(),
                    source: e,
                })
            }
        };
        Ok(LogLocation::Files { stdout, stderr })
    }

    fn definition_paths(&self) -> Vec<PathBuf> {
        vec![self.plist_path()]
    }
}

/// Reads the top-level `key = value` lines of `launchctl print` output. Nested blocks
/// (`environment = { … }`, `domain = { … }`) repeat keys such as `state`, so depth is tracked.
fn parse_print(text: &str, installed: bool) -> std::result::Result<ServiceStatus, String> {
    let mut depth = 0usize;
    let (mut state, mut pid, mut last_exit, mut signal) = (None, None, None, None);
    for line in text.lines().map(str::trim) {
        if line == "}" {
            depth = depth.saturating_sub(1);
            continue;
        }
        let opens = line.ends_with('{');
        if depth == 1 && !opens {
            if let Some((key, value)) = line.split_once(" = ") {
                match key {
                    "state" => state = Some(value.to_owned()),
                    "pid" => pid = Some(parse_pid(value)?),
                    // "0", "78: EX_CONFIG", or "(never exited)".
                    "last exit code" => last_exit = leading_int(value),
                    "last terminating signal" => signal = Some(value.to_owned()),
                    _ => {}
                }
            }
        }
        if opens {
            depth += 1;
        }
    }
    let state = state.ok_or("no `state = …` line")?;
    let detail = match signal {
        Some(signal) => format!("state = {state}, last terminating signal = {signal}"),
        None => format!("state = {state}"),
    };
    Ok(ServiceStatus {
        installed,
        running: state == "running" && pid.is_some(),
        pid,
        last_exit,
        detail,
    })
}

fn parse_pid(value: &str) -> std::result::Result<u32, String> {
    value.parse().map_err(|_| format!("bad pid {value:?}"))
}

fn leading_int(value: &str) -> Option<i32> {
    let end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(value.len());
    value[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: &str = "gui/501/com.ollmlx.daemon = {\n\tactive count = 1\n\tpath = /Users/me/Library/LaunchAgents/com.ollmlx.daemon.plist\n\ttype = LaunchAgent\n\tstate = running\n\n\tprogram = /usr/local/bin/ollmlxd\n\tenvironment = {\n\t\tstate = fake\n\t\tpid = 1\n\t}\n\n\tdomain = gui/501 [100005]\n\truns = 2\n\tpid = 4242\n\timmediate reason = speculative\n\tlast exit code = 1: Operation not permitted\n\tlast terminating signal = Terminated: 15\n\n\tsockets = {\n\t\t\"Listeners\" = {\n\t\t\ttype = stream\n\t\t}\n\t}\n}\n";

    #[test]
    fn parses_running_agent_ignoring_nested_blocks() {
        let status = parse_print(RUNNING, true).unwrap();
        assert_eq!(
            status,
            ServiceStatus {
                installed: true,
                running: true,
                pid: Some(4242),
                last_exit: Some(1),
                detail: "state = running, last terminating signal = Terminated: 15".into(),
            }
        );
    }

    #[test]
    fn parses_stopped_agent_that_never_exited() {
        let text = "gui/501/x = {\n\tstate = not running\n\tlast exit code = (never exited)\n}\n";
        let status = parse_print(text, false).unwrap();
        assert!(!status.running && status.pid.is_none() && status.last_exit.is_none());
        assert_eq!(status.detail, "state = not running");
        assert!(parse_print("gui/501/x = {\n}\n", true).is_err());
        assert!(parse_print("x = {\n\tstate = running\n\tpid = abc\n}\n", true).is_err());
    }
}
