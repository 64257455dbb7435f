//! Exit codes a script can rely on, and the typed failures that choose them.
//!
//! Every command returns `anyhow::Result`; [`code`] looks for a [`Failure`] anywhere in the
//! error chain and maps it to its code, so context added on the way up never changes the code.

/// Success.
pub const OK: u8 = 0;
/// Any other failure (the daemon answered with an error, a file could not be read, ...).
pub const ERROR: u8 = 1;
/// Bad flags or arguments (clap also exits with 2 on its own parse errors).
pub const USAGE: u8 = 2;
/// The daemon is not running (for `service status`: the service is not running).
pub const NOT_RUNNING: u8 = 3;
/// The model is not in the store (or, for `unload`, not loaded).
pub const NOT_FOUND: u8 = 4;

/// The exit code table shown at the end of `--help`.
pub const HELP: &str = "\
Exit codes:
  0  success
  1  error (the daemon or a file operation failed)
  2  usage error (bad flags, arguments or values)
  3  the daemon is not running (for `service status`: the service is not running)
  4  model not found (not in the store; for `unload`: not loaded)

Environment:
  OLLMLX_HOST    daemon address: host, host:port, :port or http://host:port (default 127.0.0.1:11434)
  OLLMLX_MODELS  store folder used by `import` (default ~/.ollmlx/models)";

/// A failure with its own exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Nothing listens at the daemon address.
    #[error(
        "ollmlxd is not running at {url}\n  start it in this terminal:   ollmlxctl serve\n  \
         or as a background service:  ollmlxctl service install\n  \
         (set OLLMLX_HOST if it listens elsewhere)"
    )]
    NotRunning {
        /// The base URL tried.
        url: String,
    },
    /// The daemon answered 404, or the store has no such model.
    #[error("{0}")]
    NotFound(String),
    /// A value on the command line cannot be used.
    #[error("{0}")]
    Usage(String),
    /// The background service is installed but not running, or not installed.
    #[error("{0}")]
    ServiceDown(String),
}

/// The exit code for `err`.
pub fn code(err: &anyhow::Error) -> u8 {
    let failure = err.chain().find_map(|e| e.downcast_ref::<Failure>());
    match failure {
        Some(Failure::NotRunning { .. } | Failure::ServiceDown(_)) => NOT_RUNNING,
        Some(Failure::NotFound(_)) => NOT_FOUND,
        Some(Failure::Usage(_)) => USAGE,
        None => ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn context_keeps_the_code() {
        let err = Err::<(), _>(Failure::NotFound("model 'x' not found".into())).context("show x").unwrap_err();
        assert_eq!(code(&err), NOT_FOUND);
        let err = Err::<(), _>(Failure::NotRunning { url: "http://h:1".into() }).context("list").unwrap_err();
        assert_eq!(code(&err), NOT_RUNNING);
        assert!(format!("{err:#}").contains("ollmlxctl serve"));
        assert_eq!(code(&anyhow::anyhow!("boom")), ERROR);
        assert_eq!(code(&Failure::Usage("bad".into()).into()), USAGE);
    }
}
