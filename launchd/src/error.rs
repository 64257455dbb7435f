//! The one error type of this crate. Every variant names the file, field or command involved.

use std::path::PathBuf;

/// Everything that can go wrong while rendering, installing or driving the service.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A [`crate::ServiceSpec`] field holds a value the service manager cannot represent.
    #[error("invalid service spec field `{field}`: {reason}")]
    InvalidSpec {
        /// Name of the offending field (e.g. `program`, `env`).
        field: &'static str,
        /// Why the value was rejected.
        reason: String,
    },

    /// The spec's label differs from the label the manager was built for.
    #[error("service spec label `{spec}` does not match the manager's label `{manager}`")]
    LabelMismatch {
        /// Label carried by the spec.
        spec: String,
        /// Label the manager drives.
        manager: String,
    },

    /// The current OS has neither launchd nor systemd support in this crate.
    #[error("no service manager support for this platform ({os})")]
    UnsupportedPlatform {
        /// `std::env::consts::OS` of the running build.
        os: &'static str,
    },

    /// The home directory could not be determined (needed for every service path).
    #[error("cannot determine the home directory: HOME is unset or empty")]
    NoHome,

    /// Creating a directory failed.
    #[error("failed to create directory {}", path.display())]
    CreateDir {
        /// Directory that could not be created.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Writing (or atomically replacing) a file failed.
    #[error("failed to write {}", path.display())]
    Write {
        /// Destination file.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Removing a file failed for a reason other than it being absent.
    #[error("failed to remove {}", path.display())]
    Remove {
        /// File that could not be removed.
        path: PathBuf,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Serializing the LaunchAgent property list failed.
    #[error("failed to serialize the LaunchAgent plist for {label}")]
    Plist {
        /// Label of the agent being rendered.
        label: String,
        /// Underlying plist error.
        #[source]
        source: plist::Error,
    },

    /// A command could not be started at all (missing binary, permissions).
    #[error("could not run `{command}`")]
    Spawn {
        /// The command line, space-joined.
        command: String,
        /// Underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// A command ran but reported failure.
    #[error("`{command}` failed ({}): {stderr}", status.map_or_else(|| "killed by a signal".to_owned(), |c| format!("exit code {c}")))]
    CommandFailed {
        /// The command line, space-joined.
        command: String,
        /// Exit code, `None` when the process was killed by a signal.
        status: Option<i32>,
        /// Trimmed stderr (or stdout when stderr was empty).
        stderr: String,
    },

    /// A command succeeded but its output could not be understood.
    #[error("unexpected output from `{command}`: {reason}")]
    UnexpectedOutput {
        /// The command line, space-joined.
        command: String,
        /// What was missing or malformed.
        reason: String,
    },
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
