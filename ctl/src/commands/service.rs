//! `service install | uninstall | start | stop | restart | status | logs`: ollmlxd as a per-user
//! service (a LaunchAgent on macOS, a systemd user unit on Linux) through `ollmlx-launchd`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, Context, Result};
use clap::Subcommand;
use ollmlx_launchd::{LogLocation, Platform, ServiceEnv, ServiceManager, ServiceSpec, SystemRunner, DEFAULT_LABEL};
use serde_json::json;

use super::serve::daemon_path;
use super::{emit, emit_json};
use crate::exit::Failure;

/// What to do with the service.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Install ollmlxd as a per-user service (started now and at login) with this shell's OLLMLX_* settings
    Install {
        /// Print the files that would be written, change nothing
        #[arg(long)]
        dry_run: bool,
    },
    /// Stop the service and remove its files
    Uninstall,
    /// Start the installed service
    Start,
    /// Stop the service
    Stop,
    /// Restart the service
    Restart,
    /// Show whether the service is installed and running (exit 3 when it is not running)
    Status {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Print the daemon's log
    Logs {
        /// Keep printing new lines
        #[arg(long, short)]
        follow: bool,
        /// How many of the last lines to print
        #[arg(long, short = 'n', default_value_t = 50)]
        lines: usize,
    },
}

/// Runs one service action.
pub fn service(action: Action) -> Result<()> {
    let env = ServiceEnv::detect()?;
    let manager = <dyn ServiceManager>::for_current_platform(env.clone(), DEFAULT_LABEL, Box::new(SystemRunner))?;
    let manager = manager.as_ref();
    match action {
        Action::Install { dry_run } => install(manager, &env, dry_run),
        Action::Uninstall => {
            let removed = manager.uninstall()?;
            emit(if removed { "uninstalled the ollmlx service\n" } else { "the ollmlx service was not installed\n" })
        }
        Action::Start => manager.start().map_err(Into::into).and_then(|()| emit("started the ollmlx service\n")),
        Action::Stop => manager.stop().map_err(Into::into).and_then(|()| emit("stopped the ollmlx service\n")),
        Action::Restart => manager.restart().map_err(Into::into).and_then(|()| emit("restarted the ollmlx service\n")),
        Action::Status { json } => status(manager, json),
        Action::Logs { follow, lines } => logs(manager, follow, lines),
    }
}

/// The service runs the `ollmlxd` beside this binary with the `OLLMLX_*` variables set now,
/// so it serves the same store and address the user is configured for.
fn install(manager: &dyn ServiceManager, env: &ServiceEnv, dry_run: bool) -> Result<()> {
    let mut spec = ServiceSpec::new(daemon_path()?, env);
    spec.env = std::env::vars().filter(|(k, _)| k.starts_with("OLLMLX_")).collect::<BTreeMap<_, _>>();
    if dry_run {
        let mut out = String::new();
        for file in manager.render(&spec)? {
            let _ = writeln!(out, "# {}\n{}", file.path.display(), file.contents);
        }
        return emit(&out);
    }
    let written = manager.install(&spec)?;
    let mut out = String::from("installed the ollmlx service:\n");
    for path in written {
        let _ = writeln!(out, "  {}", path.display());
    }
    out.push_str("it starts now and at every login; check it with `ollmlxctl status`\n");
    emit(&out)
}

fn platform_name(p: Platform) -> &'static str {
    match p {
        Platform::Launchd => "launchd",
        Platform::Systemd => "systemd",
    }
}

fn status(manager: &dyn ServiceManager, json: bool) -> Result<()> {
    let s = manager.status()?;
    let definition = manager.definition_paths().into_iter().next().unwrap_or_default();
    if json {
        emit_json(&json!({
            "platform": platform_name(manager.platform()),
            "definition": definition,
            "installed": s.installed,
            "running": s.running,
            "pid": s.pid,
            "last_exit": s.last_exit,
            "detail": s.detail,
        }))?;
    } else {
        let mut out = String::new();
        let _ = writeln!(out, "service     {}", platform_name(manager.platform()));
        let installed = if s.installed { format!("yes ({})", definition.display()) } else { "no".into() };
        let _ = writeln!(out, "installed   {installed}");
        let running = match s.pid {
            Some(pid) if s.running => format!("yes (pid {pid})"),
            _ if s.running => "yes".into(),
            _ => "no".into(),
        };
        let _ = writeln!(out, "running     {running}");
        if let Some(code) = s.last_exit {
            let _ = writeln!(out, "last exit   {code}");
        }
        let _ = writeln!(out, "detail      {}", s.detail);
        emit(&out)?;
    }
    match (s.installed, s.running) {
        (_, true) => Ok(()),
        (false, false) => Err(Failure::ServiceDown("the ollmlx service is not installed (ollmlxctl service install)".into()).into()),
        (true, false) => Err(Failure::ServiceDown("the ollmlx service is not running (ollmlxctl service start)".into()).into()),
    }
}

fn logs(manager: &dyn ServiceManager, follow: bool, lines: usize) -> Result<()> {
    match manager.logs()? {
        LogLocation::Journal { command, .. } => {
            let (program, args) = command.split_first().ok_or_else(|| anyhow!("empty log command"))?;
            let mut cmd = Command::new(program);
            cmd.args(args).args(["-n", &lines.to_string()]);
            if follow {
                cmd.arg("-f");
            }
            let status = cmd.status().with_context(|| format!("running {}", command.join(" ")))?;
            if !status.success() {
                return Err(anyhow!("{} failed ({status})", command.join(" ")));
            }
            Ok(())
        }
        LogLocation::Files { stdout, stderr } if follow => {
            let status = Command::new("tail")
                .args(["-n", &lines.to_string(), "-F"])
                .arg(&stdout)
                .arg(&stderr)
                .status()
                .context("running tail")?;
            if status.success() { Ok(()) } else { Err(anyhow!("tail failed ({status})")) }
        }
        LogLocation::Files { stdout, stderr } => {
            let mut out = String::new();
            for path in [&stdout, &stderr] {
                let _ = writeln!(out, "==> {} <==\n{}", path.display(), last_lines(path, lines));
            }
            emit(&out)
        }
    }
}

/// The last `n` lines of a log file (a note when it does not exist yet).
fn last_lines(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(cannot read: {e})"),
    }
}
