//! Plain data: what to run ([`ServiceSpec`]), where the user lives ([`ServiceEnv`]) and what the
//! service manager reports back ([`ServiceStatus`], [`LogLocation`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The LaunchAgent label used unless the caller picks another.
pub const DEFAULT_LABEL: &str = "com.ollmlx.daemon";

/// The launchd socket name under which the activated listener is handed to the daemon
/// (`launch_activate_socket("Listeners")`).
pub const LAUNCHD_SOCKET_NAME: &str = "Listeners";

/// What the service manager should run and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    /// LaunchAgent label (file name and `gui/<uid>/<label>` target). Unused by systemd, whose unit
    /// is always `ollmlx.service`.
    pub label: String,
    /// Absolute path of the `ollmlxd` binary.
    pub program: PathBuf,
    /// Extra arguments after the program.
    pub args: Vec<String>,
    /// Environment for the daemon (the user's settings, e.g. `OLLMLX_HOST`).
    pub env: BTreeMap<String, String>,
    /// Directory of the stdout/stderr log files (launchd only; systemd logs to the journal).
    pub log_dir: PathBuf,
    /// Socket activation listener, if any.
    pub socket: Option<SocketSpec>,
    /// Minimum seconds between restarts (launchd `ThrottleInterval`, systemd `RestartSec`).
    pub throttle_interval_s: u32,
    /// Seconds between SIGTERM and SIGKILL on stop (launchd `ExitTimeOut`, systemd
    /// `TimeoutStopSec`).
    pub exit_timeout_s: u32,
    /// systemd `WatchdogSec`: the daemon must send `WATCHDOG=1` at least this often (0 disables).
    pub watchdog_s: u32,
}

/// A TCP listener the service manager opens and hands to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSpec {
    /// Address or host name to bind, e.g. `127.0.0.1`.
    pub host: String,
    /// TCP port, e.g. 11434.
    pub port: u16,
}

impl ServiceSpec {
    /// A spec with the default label, no arguments, no environment, no socket, logs under
    /// [`ServiceEnv::default_log_dir`], a 10 s throttle, a 30 s exit timeout and a 30 s watchdog.
    #[must_use]
    pub fn new(program: impl Into<PathBuf>, env: &ServiceEnv) -> Self {
        Self {
            label: DEFAULT_LABEL.to_owned(),
            program: program.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            log_dir: env.default_log_dir(),
            socket: None,
            throttle_interval_s: 10,
            exit_timeout_s: 30,
            watchdog_s: 30,
        }
    }

    /// Rejects values that no service manager can represent faithfully.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let invalid = |field, reason: String| Err(Error::InvalidSpec { field, reason });
        if let Some(reason) = label_problem(&self.label) {
            return invalid("label", format!("{:?} {reason}", self.label));
        }
        if !self.program.is_absolute() {
            return invalid(
                "program",
                format!("{} is not an absolute path", self.program.display()),
            );
        }
        path_str("program", &self.program)?;
        path_str("log_dir", &self.log_dir)?;
        if !self.log_dir.is_absolute() {
            return invalid(
                "log_dir",
                format!("{} is not an absolute path", self.log_dir.display()),
            );
        }
        if let Some(arg) = self.args.iter().find(|a| a.contains('\0')) {
            return invalid("args", format!("argument {arg:?} contains a NUL byte"));
        }
        for (key, value) in &self.env {
            if !env_name_is_valid(key) {
                return invalid(
                    "env",
                    format!("{key:?} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)"),
                );
            }
            if value.contains('\0') {
                return invalid("env", format!("value of {key} contains a NUL byte"));
            }
        }
        if let Some(socket) = &self.socket {
            if socket.port == 0 {
                return invalid("socket", "port 0 cannot be socket-activated".to_owned());
            }
            if socket.host.is_empty()
                || socket
                    .host
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            {
                return invalid(
                    "socket",
                    format!("host {:?} is not an address or host name", socket.host),
                );
            }
        }
        Ok(())
    }
}

impl SocketSpec {
    /// The host parsed as an IP address, if it is one (host names return `None`).
    #[must_use]
    pub fn ip(&self) -> Option<IpAddr> {
        self.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
    }
}

/// Why `label` cannot be a LaunchAgent label and file name, if it cannot.
fn label_problem(label: &str) -> Option<&'static str> {
    if label.is_empty() {
        Some("is empty")
    } else if label.starts_with('.') {
        Some("starts with a dot")
    } else if !label
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        Some("may only hold ASCII letters, digits, '.', '-' and '_'")
    } else {
        None
    }
}

/// POSIX-shell variable names, which is also what systemd's `Environment=` accepts.
fn env_name_is_valid(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `path` as UTF-8, or an [`Error::InvalidSpec`] for `field` (plists and unit files are text).
pub(crate) fn path_str<'a>(field: &'static str, path: &'a Path) -> Result<&'a str> {
    path.to_str().ok_or_else(|| Error::InvalidSpec {
        field,
        reason: format!("{} is not valid UTF-8", path.display()),
    })
}

/// The user context every path derives from; injected so nothing reads the process environment
/// deep inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEnv {
    /// The user's home directory.
    pub home: PathBuf,
    /// The user's numeric id (for the launchd `gui/<uid>` domain).
    pub uid: u32,
    /// `$XDG_CONFIG_HOME` when set; systemd user units then live under it instead of
    /// `~/.config`.
    pub xdg_config_home: Option<PathBuf>,
}

impl ServiceEnv {
    /// An environment with `home` and `uid` and no `XDG_CONFIG_HOME`.
    #[must_use]
    pub fn new(home: impl Into<PathBuf>, uid: u32) -> Self {
        Self {
            home: home.into(),
            uid,
            xdg_config_home: None,
        }
    }

    /// Reads `HOME`, `XDG_CONFIG_HOME` and the real uid of this process. Call once at the top
    /// of a binary and pass the result down.
    ///
    /// # Errors
    /// [`Error::NoHome`] when `HOME` is unset or empty; [`Error::UnsupportedPlatform`] off Unix.
    pub fn detect() -> Result<Self> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or(Error::NoHome)?;
        // An empty or relative XDG_CONFIG_HOME must be ignored (XDG base directory spec).
        let xdg_config_home = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        Ok(Self {
            home: home.into(),
            uid: current_uid()?,
            xdg_config_home,
        })
    }

    /// `~/Library/Logs/ollmlx`, where the LaunchAgent's log files go by default.
    #[must_use]
    pub fn default_log_dir(&self) -> PathBuf {
        self.home.join("Library/Logs/ollmlx")
    }

    /// `~/Library/LaunchAgents`.
    #[must_use]
    pub fn launch_agents_dir(&self) -> PathBuf {
        self.home.join("Library/LaunchAgents")
    }

    /// `$XDG_CONFIG_HOME/systemd/user`, defaulting to `~/.config/systemd/user`.
    #[must_use]
    pub fn systemd_user_dir(&self) -> PathBuf {
        let config = self
            .xdg_config_home
            .clone()
            .unwrap_or_else(|| self.home.join(".config"));
        config.join("systemd/user")
    }
}

#[cfg(unix)]
#[allow(clippy::unnecessary_wraps)] // same signature as the non-Unix fallback
fn current_uid() -> Result<u32> {
    Ok(rustix::process::getuid().as_raw())
}

#[cfg(not(unix))]
fn current_uid() -> Result<u32> {
    Err(Error::UnsupportedPlatform {
        os: std::env::consts::OS,
    })
}

/// What the service manager says about the service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceStatus {
    /// The service definition file exists.
    pub installed: bool,
    /// The daemon process is up.
    pub running: bool,
    /// Its process id while running.
    pub pid: Option<u32>,
    /// Exit code of the last run, when it exited (not when it was killed by a signal).
    pub last_exit: Option<i32>,
    /// One human-readable line, e.g. `state = running` or `active (running)`.
    pub detail: String,
}

/// Where the daemon's output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLocation {
    /// Plain files (launchd `StandardOutPath` / `StandardErrorPath`).
    Files {
        /// stdout file.
        stdout: PathBuf,
        /// stderr file.
        stderr: PathBuf,
    },
    /// The systemd journal; `command` prints it (append `-f` to follow).
    Journal {
        /// The unit whose records to show.
        unit: String,
        /// argv that prints the log, e.g. `journalctl --user -u ollmlx.service`.
        command: Vec<String>,
    },
}

/// A file a manager would write on install, for previews (`--dry-run`) and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Where it goes.
    pub path: PathBuf,
    /// Its full text.
    pub contents: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServiceSpec {
        ServiceSpec::new("/usr/local/bin/ollmlxd", &ServiceEnv::new("/Users/me", 501))
    }

    #[test]
    fn defaults_follow_the_env() {
        let s = spec();
        assert_eq!(s.label, DEFAULT_LABEL);
        assert_eq!(s.log_dir, PathBuf::from("/Users/me/Library/Logs/ollmlx"));
        s.validate().unwrap();
        let mut env = ServiceEnv::new("/home/me", 1000);
        assert_eq!(
            env.systemd_user_dir(),
            PathBuf::from("/home/me/.config/systemd/user")
        );
        env.xdg_config_home = Some("/cfg".into());
        assert_eq!(env.systemd_user_dir(), PathBuf::from("/cfg/systemd/user"));
    }

    #[cfg(unix)]
    #[test]
    fn detect_reads_home_and_the_real_uid() {
        let env = ServiceEnv::detect().unwrap();
        assert_eq!(Some(env.home.into_os_string()), std::env::var_os("HOME"));
        let id = std::process::Command::new("id").arg("-u").output().unwrap();
        assert_eq!(
            env.uid.to_string(),
            String::from_utf8_lossy(&id.stdout).trim()
        );
    }

    #[test]
    fn validation_names_the_field() {
        let field_of = |s: ServiceSpec| match s.validate() {
            Err(Error::InvalidSpec { field, .. }) => field,
            other => panic!("expected InvalidSpec, got {other:?}"),
        };
        assert_eq!(
            field_of(ServiceSpec {
                program: "ollmlxd".into(),
                ..spec()
            }),
            "program"
        );
        assert_eq!(
            field_of(ServiceSpec {
                label: "a/b".into(),
                ..spec()
            }),
            "label"
        );
        assert_eq!(
            field_of(ServiceSpec {
                label: String::new(),
                ..spec()
            }),
            "label"
        );
        let mut bad_env = spec();
        bad_env.env.insert("1X".into(), "v".into());
        assert_eq!(field_of(bad_env), "env");
        let mut nul = spec();
        nul.env.insert("X".into(), "a\0b".into());
        assert_eq!(field_of(nul), "env");
        let port0 = ServiceSpec {
            socket: Some(SocketSpec {
                host: "127.0.0.1".into(),
                port: 0,
            }),
            ..spec()
        };
        assert_eq!(field_of(port0), "socket");
        assert_eq!(
            field_of(ServiceSpec {
                args: vec!["a\0".into()],
                ..spec()
            }),
            "args"
        );
        assert_eq!(
            field_of(ServiceSpec {
                log_dir: "logs".into(),
                ..spec()
            }),
            "log_dir"
        );
    }

    #[test]
    fn socket_ip_parses_v4_v6_and_names() {
        let sock = |host: &str| SocketSpec {
            host: host.into(),
            port: 1,
        };
        assert!(sock("127.0.0.1").ip().is_some_and(|ip| ip.is_ipv4()));
        assert!(sock("::1").ip().is_some_and(|ip| ip.is_ipv6()));
        assert!(sock("[::1]").ip().is_some_and(|ip| ip.is_ipv6()));
        assert_eq!(sock("localhost").ip(), None);
    }
}
