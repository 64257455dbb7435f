//! systemd's `sd_notify` protocol without libsystemd: one datagram per state change to the
//! socket named by `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace).

use std::time::Duration;

use crate::env;

/// Sends notifications when systemd asked for them; does nothing otherwise.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    socket: Option<String>,
}

impl Notifier {
    /// From `NOTIFY_SOCKET` (absent: every call is a no-op).
    pub fn from_env() -> Notifier {
        Notifier { socket: env::get(env::NOTIFY_SOCKET) }
    }

    /// Whether a notification socket is set.
    pub fn enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// `READY=1`: the listener is up.
    pub fn ready(&self) {
        self.send(&format!("READY=1\nMAINPID={}\n", std::process::id()));
    }

    /// `STOPPING=1`: shutdown began.
    pub fn stopping(&self) {
        self.send("STOPPING=1\n");
    }

    /// Sends `state`; failures are logged, never fatal (the supervisor may be gone).
    pub fn send(&self, state: &str) {
        let Some(path) = &self.socket else { return };
        if let Err(e) = send_to(path, state) {
            tracing::warn!(socket = %path, error = %e, "cannot notify systemd");
        }
    }

    /// Pings `WATCHDOG=1` every half `WATCHDOG_USEC` for as long as the runtime lives.
    pub fn spawn_watchdog(&self) {
        let Some(interval) = self.watchdog_interval() else { return };
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                me.send("WATCHDOG=1\n");
            }
        });
    }

    /// Half the watchdog period, when systemd set one for this process.
    fn watchdog_interval(&self) -> Option<Duration> {
        self.socket.as_ref()?;
        let usec: u64 = env::get(env::WATCHDOG_USEC)?.parse().ok().filter(|u| *u > 0)?;
        if let Some(pid) = env::get(env::WATCHDOG_PID) {
            if pid.parse::<u32>().ok() != Some(std::process::id()) {
                return None;
            }
        }
        Some(Duration::from_micros(usec / 2).max(Duration::from_millis(10)))
    }
}

#[cfg(unix)]
fn send_to(path: &str, state: &str) -> std::io::Result<()> {
    use std::os::unix::net::UnixDatagram;
    let sock = UnixDatagram::unbound()?;
    match path.strip_prefix('@') {
        Some(name) => send_abstract(&sock, name, state),
        None => sock.send_to(state.as_bytes(), path).map(|_| ()),
    }
}

#[cfg(target_os = "linux")]
fn send_abstract(sock: &std::os::unix::net::UnixDatagram, name: &str, state: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    sock.send_to_addr(state.as_bytes(), &addr).map(|_| ())
}

#[cfg(all(unix, not(target_os = "linux")))]
fn send_abstract(_sock: &std::os::unix::net::UnixDatagram, name: &str, _state: &str) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, format!("abstract socket @{name} is Linux-only")))
}

#[cfg(not(unix))]
fn send_to(_path: &str, _state: &str) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn sends_datagrams_to_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let rx = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let n = Notifier { socket: Some(path.to_string_lossy().into_owned()) };
        n.stopping();
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1\n");
    }
}
