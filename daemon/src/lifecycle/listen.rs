//! The listening socket: one handed over by the supervisor (systemd `LISTEN_FDS`, launchd
//! `launch_activate_socket`) wins over binding `OLLMLX_HOST` ourselves; a bind failure names
//! the address and the likely cause.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use axum::serve::{ListenerExt, TapIo};
use tokio::net::{TcpListener, TcpStream};

use crate::env;

/// The first fd systemd passes (`SD_LISTEN_FDS_START`).
#[cfg(unix)]
const SD_LISTEN_FDS_START: i32 = 3;

/// The listener to serve on, and whether it came from the supervisor.
pub async fn listener(host: SocketAddr) -> anyhow::Result<(TcpListener, bool)> {
    if let Some(std_listener) = activated()? {
        std_listener.set_nonblocking(true).context("cannot make the activated socket non-blocking")?;
        let l = TcpListener::from_std(std_listener).context("cannot use the activated socket")?;
        return Ok((l, true));
    }
    match TcpListener::bind(host).await {
        Ok(l) => Ok((l, false)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            bail!("cannot listen on {host}: the address is already in use (another ollmlxd or ollama?); stop it or set OLLMLX_HOST")
        }
        Err(e) => Err(e).with_context(|| format!("cannot listen on {host} (OLLMLX_HOST)")),
    }
}

/// The accepted connections of a listener, each with `TCP_NODELAY` set.
pub type Connections = TapIo<TcpListener, fn(&mut TcpStream)>;

/// Sets `TCP_NODELAY` on every connection `listener` accepts. Without it, Nagle holds each
/// small streamed chunk until the client ACKs the one before, and clients delay their ACKs
/// (40 ms on Linux): on a kept-alive connection a fast stream arrived as one burst about 40 ms
/// late, first token included.
pub fn no_delay(listener: TcpListener) -> Connections {
    listener.tap_io(set_no_delay)
}

fn set_no_delay(tcp: &mut TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY on a connection");
    }
}

/// A socket passed by the supervisor, if any.
fn activated() -> anyhow::Result<Option<std::net::TcpListener>> {
    if let Some(l) = systemd()? {
        return Ok(Some(l));
    }
    launchd()
}

/// systemd socket activation: `LISTEN_PID` is us and `LISTEN_FDS` ≥ 1 → fd 3 is the socket.
#[cfg(unix)]
#[allow(unsafe_code)]
fn systemd() -> anyhow::Result<Option<std::net::TcpListener>> {
    use std::os::fd::FromRawFd;
    let (Some(pid), Some(fds)) = (env::get(env::LISTEN_PID), env::get(env::LISTEN_FDS)) else {
        return Ok(None);
    };
    // A LISTEN_PID for another process was inherited by mistake: those fds are not ours.
    if pid.parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(None);
    }
    let count: u32 = fds.parse().with_context(|| format!("LISTEN_FDS={fds:?} is not a number"))?;
    if count == 0 {
        return Ok(None);
    }
    if count > 1 {
        tracing::warn!(count, "systemd passed several sockets; serving on the first only");
    }
    if !is_stream_socket(SD_LISTEN_FDS_START) {
        bail!("LISTEN_FDS is set but fd 3 is not a listening stream socket");
    }
    // SAFETY: systemd hands fd 3 to this process (LISTEN_PID matched) and nothing else in the
    // daemon owns it; checked above to be a stream socket.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(SD_LISTEN_FDS_START) };
    set_cloexec(SD_LISTEN_FDS_START);
    Ok(Some(listener))
}

#[cfg(not(unix))]
fn systemd() -> anyhow::Result<Option<std::net::TcpListener>> {
    Ok(None)
}

#[cfg(unix)]
#[allow(unsafe_code)]
fn is_stream_socket(fd: i32) -> bool {
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `kind` and `len` are valid for writes of the sizes given.
    let rc = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_TYPE, (&mut kind as *mut libc::c_int).cast(), &mut len) };
    rc == 0 && kind == libc::SOCK_STREAM
}

/// Passed fds arrive without FD_CLOEXEC; children (none today) must not inherit the socket.
#[cfg(unix)]
#[allow(unsafe_code)]
fn set_cloexec(fd: i32) {
    // SAFETY: fcntl on a valid fd touches no memory.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
        }
    }
}

/// launchd socket activation: the plist's `Sockets` → `Listeners` entry.
#[cfg(target_os = "macos")]
#[allow(unsafe_code)]
fn launchd() -> anyhow::Result<Option<std::net::TcpListener>> {
    use std::os::fd::FromRawFd;
    extern "C" {
        fn launch_activate_socket(name: *const libc::c_char, fds: *mut *mut libc::c_int, cnt: *mut libc::size_t) -> libc::c_int;
    }
    let name = c"Listeners";
    let mut fds: *mut libc::c_int = std::ptr::null_mut();
    let mut count: libc::size_t = 0;
    // SAFETY: valid C string and out-pointers; launchd allocates `fds` with malloc.
    let rc = unsafe { launch_activate_socket(name.as_ptr(), &mut fds, &mut count) };
    // ESRCH: not started by launchd; ENOENT: no such socket in the plist.
    if rc == libc::ESRCH || rc == libc::ENOENT {
        return Ok(None);
    }
    if rc != 0 {
        bail!("launch_activate_socket(\"Listeners\") failed: {}", std::io::Error::from_raw_os_error(rc));
    }
    if fds.is_null() || count == 0 {
        return Ok(None);
    }
    // SAFETY: launchd returned `count` fds in `fds`; we take the first, close the rest, and
    // free the array it malloc'ed.
    let listener = unsafe {
        let all = std::slice::from_raw_parts(fds, count);
        for extra in &all[1..] {
            libc::close(*extra);
        }
        let l = std::net::TcpListener::from_raw_fd(all[0]);
        libc::free(fds.cast());
        l
    };
    Ok(Some(listener))
}

#[cfg(not(target_os = "macos"))]
fn launchd() -> anyhow::Result<Option<std::net::TcpListener>> {
    Ok(None)
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener;

    #[tokio::test]
    async fn accepted_connections_do_not_wait_for_acks() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let mut connections = super::no_delay(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (server_side, _) = connections.accept().await;
        assert!(server_side.nodelay().expect("read TCP_NODELAY"), "an accepted connection must have TCP_NODELAY set");
    }
}
