//! Request limits: the largest body, how long a body may take to arrive, and whether the
//! `/ollmlx/` control endpoints answer clients that are not on this machine.

use std::time::Duration;

use anyhow::{anyhow, bail};
use ollmlx_api::KeepAlive;

use super::file::FileConfig;
use super::{layer, parse, scalar, Flags};
use crate::env;

/// Ollama-compatible chat carries images as base64 inside the JSON body (4/3 of the file
/// size). 64 MiB holds a long chat with several phone photos (~5 MiB JPEG → ~7 MiB base64)
/// while bounding what one request can make the daemon buffer.
pub const DEFAULT_MAX_BODY: usize = 64 << 20;

/// Local clients send their body in milliseconds; 60 s lets a remote client on a ~10 Mbit/s
/// link send a body at the 64 MiB limit, and frees a stalled connection after a minute.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Validated limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body in bytes; larger ones get 413.
    pub max_body: usize,
    /// Time allowed for the whole body once the headers arrived; then 408.
    pub read_timeout: Duration,
    /// Whether non-loopback peers may use `/ollmlx/*`.
    pub control_remote: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_body: DEFAULT_MAX_BODY, read_timeout: DEFAULT_READ_TIMEOUT, control_remote: false }
    }
}

/// Reads the three limits from flags, the environment and the file (in that order).
pub fn from_layers(flags: &Flags, file: &FileConfig) -> anyhow::Result<Limits> {
    let max_body = match layer(&flags.max_body, env::MAX_BODY, "max_body", scalar(&file.max_body)) {
        Some((v, from)) => {
            // A percentage of memory makes no sense for one request: pass 0 so "50%" is 0 and refused.
            let n = parse::bytes(&v, 0).map_err(|e| anyhow!("{from}: {e}"))?;
            match usize::try_from(n) {
                Ok(n) if n > 0 => n,
                _ => bail!("{from}: the body limit must be between 1 byte and {} bytes", usize::MAX),
            }
        }
        None => DEFAULT_MAX_BODY,
    };
    let read_timeout = match layer(&flags.read_timeout, env::READ_TIMEOUT, "read_timeout", scalar(&file.read_timeout)) {
        Some((v, from)) => match KeepAlive::parse(&v).map_err(|e| anyhow!("{from}: {e}"))? {
            KeepAlive::For(d) if !d.is_zero() => d,
            _ => bail!("{from}: the read timeout must be a positive duration such as \"30s\""),
        },
        None => DEFAULT_READ_TIMEOUT,
    };
    let control_remote =
        match layer(&flags.control_remote, env::CONTROL_REMOTE, "control_remote", scalar(&file.control_remote)) {
            Some((v, from)) => parse::boolean(&v).map_err(|e| anyhow!("{from}: {e}"))?,
            None => false,
        };
    Ok(Limits { max_body, read_timeout, control_remote })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(flags: Flags, file: &str) -> anyhow::Result<Limits> {
        from_layers(&flags, &toml::from_str(file)?)
    }

    #[test]
    fn defaults() {
        assert_eq!(limits(Flags::default(), "").unwrap(), Limits::default());
        assert_eq!(Limits::default().max_body, 64 * 1024 * 1024);
        assert!(!Limits::default().control_remote);
    }

    #[test]
    fn layers_and_units() {
        let l = limits(Flags::default(), "max_body = \"1MiB\"\nread_timeout = 5\ncontrol_remote = true").unwrap();
        assert_eq!(l, Limits { max_body: 1 << 20, read_timeout: Duration::from_secs(5), control_remote: true });
        let flags = Flags { max_body: Some("2048".into()), read_timeout: Some("1m".into()), ..Flags::default() };
        let l = limits(flags, "max_body = \"1MiB\"").unwrap();
        assert_eq!((l.max_body, l.read_timeout), (2048, Duration::from_secs(60)));
    }

    #[test]
    fn bad_values_are_named() {
        for (flags, key) in [
            (Flags { max_body: Some("0".into()), ..Flags::default() }, "--max-body"),
            (Flags { max_body: Some("50%".into()), ..Flags::default() }, "--max-body"),
            (Flags { read_timeout: Some("0".into()), ..Flags::default() }, "--read-timeout"),
            (Flags { read_timeout: Some("-1".into()), ..Flags::default() }, "--read-timeout"),
            (Flags { control_remote: Some("maybe".into()), ..Flags::default() }, "--control-remote"),
        ] {
            let e = limits(flags, "").unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
    }
}
