//! The operations every platform offers, and the one place that picks the platform.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::launchctl::LaunchdManager;
use crate::runner::CommandRunner;
use crate::spec::{LogLocation, RenderedFile, ServiceEnv, ServiceSpec, ServiceStatus};
use crate::systemctl::SystemdManager;

/// Install, control and inspect the `ollmlxd` background service.
///
/// Both implementations are compiled on every OS; only [`Platform::current`] decides which one a
/// binary uses.
pub trait ServiceManager: Send + Sync {
    /// Which service manager this drives.
    fn platform(&self) -> Platform;

    /// The files [`ServiceManager::install`] would write for `spec`, without touching anything.
    ///
    /// # Errors
    /// [`Error::InvalidSpec`] / [`Error::LabelMismatch`] for a spec that cannot be installed.
    fn render(&self, spec: &ServiceSpec) -> Result<Vec<RenderedFile>>;

    /// Writes the service definition atomically and loads it, replacing an already loaded
    /// instance so installing twice leaves one service. Returns the files written.
    ///
    /// # Errors
    /// Invalid spec, file errors naming the file, or a failed command with its stderr.
    fn install(&self, spec: &ServiceSpec) -> Result<Vec<PathBuf>>;

    /// Unloads the service and removes its files. Returns whether anything was installed or
    /// loaded; a missing service is `Ok(false)`, not an error.
    ///
    /// # Errors
    /// File errors naming the file, or a failed command with its stderr.
    fn uninstall(&self) -> Result<bool>;

    /// Starts the loaded service.
    ///
    /// # Errors
    /// [`Error::CommandFailed`] (e.g. when it is not installed).
    fn start(&self) -> Result<()>;

    /// Stops the service with SIGTERM; a clean exit is not restarted.
    ///
    /// # Errors
    /// [`Error::CommandFailed`] (e.g. when it is not installed).
    fn stop(&self) -> Result<()>;

    /// Stops (if running) and starts the service again.
    ///
    /// # Errors
    /// [`Error::CommandFailed`] (e.g. when it is not installed).
    fn restart(&self) -> Result<()>;

    /// Installed / running / pid / last exit, as the service manager reports them.
    ///
    /// # Errors
    /// A failed query command, or output that cannot be parsed.
    fn status(&self) -> Result<ServiceStatus>;

    /// Where the daemon's output can be read.
    ///
    /// # Errors
    /// An installed definition that cannot be read.
    fn logs(&self) -> Result<LogLocation>;

    /// The definition files this manager owns (whether or not they exist yet).
    fn definition_paths(&self) -> Vec<PathBuf>;
}

/// The service managers this crate drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// macOS launchd, through `launchctl` and a LaunchAgent plist.
    Launchd,
    /// Linux systemd, through `systemctl --user` and user units.
    Systemd,
}

impl Platform {
    /// The platform of this build. The only `cfg` decision about platforms in the crate.
    ///
    /// # Errors
    /// [`Error::UnsupportedPlatform`] on anything but macOS and Linux.
    pub fn current() -> Result<Self> {
        if cfg!(target_os = "macos") {
            Ok(Self::Launchd)
        } else if cfg!(target_os = "linux") {
            Ok(Self::Systemd)
        } else {
            Err(Error::UnsupportedPlatform {
                os: std::env::consts::OS,
            })
        }
    }
}

impl dyn ServiceManager {
    /// The manager for the OS this binary was built for.
    ///
    /// `label` names the LaunchAgent on macOS (usually [`crate::DEFAULT_LABEL`]); systemd's unit is
    /// always `ollmlx.service`.
    ///
    /// ```no_run
    /// use ollmlx_launchd::{ServiceEnv, ServiceManager, SystemRunner, DEFAULT_LABEL};
    /// let env = ServiceEnv::detect()?;
    /// let manager = <dyn ServiceManager>::for_current_platform(env, DEFAULT_LABEL, Box::new(SystemRunner))?;
    /// println!("{:?}", manager.status()?);
    /// # Ok::<(), ollmlx_launchd::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::UnsupportedPlatform`] on anything but macOS and Linux.
    pub fn for_current_platform(
        env: ServiceEnv,
        label: &str,
        runner: Box<dyn CommandRunner>,
    ) -> Result<Box<dyn ServiceManager>> {
        Ok(Self::for_platform(Platform::current()?, env, label, runner))
    }

    /// The manager for `platform`, whatever OS this is (for tests and previews).
    #[must_use]
    pub fn for_platform(
        platform: Platform,
        env: ServiceEnv,
        label: &str,
        runner: Box<dyn CommandRunner>,
    ) -> Box<dyn ServiceManager> {
        match platform {
            Platform::Launchd => Box::new(LaunchdManager::new(env, label, runner)),
            Platform::Systemd => Box::new(SystemdManager::new(env, runner)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::ScriptedRunner;

    #[test]
    fn current_platform_matches_the_build() {
        let expected = if cfg!(target_os = "macos") {
            Platform::Launchd
        } else {
            Platform::Systemd
        };
        if cfg!(any(target_os = "macos", target_os = "linux")) {
            assert_eq!(Platform::current().unwrap(), expected);
            let env = ServiceEnv::new("/home/me", 1000);
            let manager = <dyn ServiceManager>::for_current_platform(
                env,
                "x",
                Box::new(ScriptedRunner::new()),
            )
            .unwrap();
            assert_eq!(manager.platform(), expected);
        } else {
            assert!(Platform::current().is_err());
        }
    }

    #[test]
    fn for_platform_builds_either_manager() {
        for platform in [Platform::Launchd, Platform::Systemd] {
            let env = ServiceEnv::new("/home/me", 1000);
            let manager = <dyn ServiceManager>::for_platform(
                platform,
                env,
                "x",
                Box::new(ScriptedRunner::new()),
            );
            assert_eq!(manager.platform(), platform);
        }
    }
}
