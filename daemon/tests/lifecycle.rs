//! Supervisor-facing behaviour of the real `ollmlxd`: SIGTERM drains in-flight streams and
//! exits 0, a second daemon on the same store or port fails clearly, systemd socket
//! activation and `sd_notify`, and the daemon's own rotated log file.
#![cfg(unix)]

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A daemon process this test controls (signals, exit status, stderr).
struct Proc {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Proc {
    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("stderr-{}.log", self.child.id()))).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill {sig} failed");
    }

    /// Waits (bounded) for the exit.
    fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("ollmlxd did not exit within {secs}s\n{}", self.log());
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if reqwest::blocking::get(self.url("/")).is_ok_and(|r| r.status().is_success()) {
                return;
            }
            assert!(self.child.try_wait().unwrap().is_none(), "ollmlxd exited early\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("ollmlxd did not start\n{}", self.log());
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A store holding the tiny llama as `tiny-llama`.
fn store_with_tiny(dir: &Path) -> PathBuf {
    let store = dir.join("models");
    common::copy_dir(&common::fixture("tiny-llama-f32"), &store.join("library").join("tiny-llama"));
    store
}

/// `program args…` with a clean environment pointing at `store` and `port`; stderr to a file.
fn command(program: &str, args: &[&str], dir: &Path, store: &Path, port: u16, env: &[(&str, &str)]) -> Command {
    let mut cmd = common::isolated(program, dir, store, port);
    cmd.args(args).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Spawns and sends stderr to `stderr-<pid>.log` in `dir` (a thread copies it).
fn spawn(mut cmd: Command, dir: &Path, port: u16) -> Proc {
    let mut child = cmd.spawn().expect("spawn");
    let mut err = child.stderr.take().unwrap();
    let path = dir.join(format!("stderr-{}.log", child.id()));
    std::thread::spawn(move || {
        let mut out = std::fs::File::create(path).unwrap();
        let _ = std::io::copy(&mut err, &mut out);
    });
    Proc { child, port, dir: dir.to_path_buf() }
}

fn daemon(dir: &Path, store: &Path, port: u16, env: &[(&str, &str)]) -> Proc {
    spawn(command(env!("CARGO_BIN_EXE_ollmlxd"), &[], dir, store, port, env), dir, port)
}

#[test]
fn sigterm_lets_a_stream_finish_then_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_tiny(tmp.path());
    let mut d = daemon(tmp.path(), &store, free_port(), &[("OLLMLX_EXIT_TIMEOUT", "60s")]);
    d.wait_ready();
    let body = json!({"model": "tiny-llama", "prompt": "Hello", "stream": true,
        "options": {"num_predict": 2000, "temperature": 0, "num_ctx": 4096}});
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
    let resp = http.post(d.url("/api/generate")).json(&body).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut lines = BufReader::new(resp).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["done"], false, "{first}");
    d.signal("-TERM");
    let mut rest: Vec<Value> = Vec::new();
    for line in lines.by_ref().take(50) {
        rest.push(serde_json::from_str(&line.unwrap()).unwrap());
    }
    // Draining: the listener is closed, the stream goes on.
    assert!(std::net::TcpStream::connect(("127.0.0.1", d.port)).is_err(), "still accepting after SIGTERM");
    rest.extend(lines.map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap()));
    let last = rest.last().expect("the stream ended without a final line");
    assert_eq!(last["done"], true, "{last}");
    // The generation ran to its end after the signal, not cut short.
    assert!(rest.len() > 100, "only {} lines after SIGTERM", rest.len());
    assert_eq!(last["done_reason"], "length", "{last}");
    assert_eq!(last["eval_count"], 2000, "{last}");
    let status = d.wait_exit(60);
    assert!(status.success(), "exit {status:?}\n{}", d.log());
    let log = d.log();
    assert!(log.contains("shutting down") && log.contains("stopped"), "{log}");
}

#[test]
fn sigterm_stops_waiting_at_the_exit_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_tiny(tmp.path());
    let mut d = daemon(tmp.path(), &store, free_port(), &[("OLLMLX_EXIT_TIMEOUT", "1s")]);
    d.wait_ready();
    // A generation far longer than the exit timeout.
    let body = json!({"model": "tiny-llama", "prompt": "Hello", "stream": true,
        "options": {"num_predict": 100_000, "temperature": 0, "num_ctx": 131_072}});
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
    let resp = http.post(d.url("/api/generate")).json(&body).send().unwrap();
    let mut lines = BufReader::new(resp).lines();
    lines.next().unwrap().unwrap();
    let sent = Instant::now();
    d.signal("-TERM");
    let status = d.wait_exit(30);
    assert!(status.success(), "exit {status:?}\n{}", d.log());
    assert!(sent.elapsed() < Duration::from_secs(20), "took {:?}", sent.elapsed());
    assert!(d.log().contains("exit timeout"), "{}", d.log());
}

#[test]
fn a_second_daemon_on_the_same_store_fails_naming_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_tiny(tmp.path());
    let mut first = daemon(tmp.path(), &store, free_port(), &[]);
    first.wait_ready();
    let mut second = daemon(tmp.path(), &store, free_port(), &[]);
    let status = second.wait_exit(30);
    assert!(!status.success());
    std::thread::sleep(Duration::from_millis(200));
    let log = second.log();
    assert!(log.contains(".ollmlxd.lock"), "{log}");
    assert!(log.contains(&format!("pid {}", first.child.id())), "{log}");
    // The first still serves.
    assert!(reqwest::blocking::get(first.url("/")).unwrap().status().is_success());
}

#[test]
fn a_second_daemon_on_the_same_port_fails_naming_the_address() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut first = daemon(tmp.path(), &store_with_tiny(tmp.path()), port, &[]);
    first.wait_ready();
    let other = tmp.path().join("other-store");
    let mut second = daemon(tmp.path(), &other, port, &[]);
    let status = second.wait_exit(30);
    assert!(!status.success());
    std::thread::sleep(Duration::from_millis(200));
    let log = second.log();
    assert!(log.contains(&format!("127.0.0.1:{port}")) && log.contains("already in use"), "{log}");
}

#[test]
fn systemd_socket_activation_serves_on_the_passed_socket() {
    let Ok(tool) = which("systemd-socket-activate") else {
        panic!("systemd-socket-activate is missing (scripts/setup-test-tools.sh installs it)");
    };
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_tiny(tmp.path());
    let port = free_port();
    // OLLMLX_HOST names another port: answering on `port` proves the passed socket was used.
    let unused = free_port();
    let listen = format!("-l127.0.0.1:{port}");
    let mut args = vec![listen.as_str()];
    // Options before the program: which of our variables to pass through.
    args.extend(["-EPATH", "-EHOME", "-EOLLMLX_HOST", "-EOLLMLX_MODELS", "-EOLLMLX_LOG"]);
    args.push(env!("CARGO_BIN_EXE_ollmlxd"));
    let mut d = spawn(command(&tool, &args, tmp.path(), &store, unused, &[]), tmp.path(), port);
    // The socket exists before ollmlxd does; the first request starts it (non-accept mode).
    wait_listening(port);
    let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let text = http.get(d.url("/")).send().unwrap().text().unwrap();
    assert_eq!(text, "Ollama is running");
    let tags: Value = http.get(d.url("/api/tags")).send().unwrap().json().unwrap();
    assert_eq!(tags["models"][0]["name"], "tiny-llama:latest", "{tags}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", unused)).is_err(), "OLLMLX_HOST was bound too");
    let status: Value = http.get(d.url("/ollmlx/status")).send().unwrap().json().unwrap();
    assert!(chrono_like(status["started_at"].as_str().unwrap_or("")), "{status}");
    assert!(status["uptime_s"].as_u64().is_some(), "{status}");
    let device = status["device"].as_str().unwrap_or("");
    assert!(device == "cpu" || device.starts_with("gpu"), "{status}");
    assert!(d.log().contains("activated=true"), "{}", d.log());
    d.signal("-TERM");
    assert!(d.wait_exit(30).success(), "{}", d.log());
}

#[test]
fn sd_notify_sends_ready_watchdog_and_stopping() {
    let tmp = tempfile::tempdir().unwrap();
    let sock_path = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let store = store_with_tiny(tmp.path());
    let log_file = tmp.path().join("logs/ollmlxd.log");
    let notify = sock_path.to_string_lossy().into_owned();
    let env = [("NOTIFY_SOCKET", notify.as_str()), ("WATCHDOG_USEC", "200000"), ("OLLMLX_LOG_FILE", log_file.to_str().unwrap())];
    let mut d = daemon(tmp.path(), &store, free_port(), &env);
    let mut buf = [0u8; 256];
    let recv = |buf: &mut [u8]| -> String {
        let n = sock.recv(buf).expect("no notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let ready = recv(&mut buf);
    assert!(ready.contains("READY=1"), "{ready}");
    assert!(ready.contains(&format!("MAINPID={}", d.child.id())), "{ready}");
    // READY is sent once listening: the port answers now.
    assert!(reqwest::blocking::get(d.url("/")).unwrap().status().is_success());
    assert_eq!(recv(&mut buf), "WATCHDOG=1\n");
    d.signal("-TERM");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "no STOPPING=1");
        if recv(&mut buf).contains("STOPPING=1") {
            break;
        }
    }
    assert!(d.wait_exit(30).success());
    // Logging went to the daemon's own file, not stderr.
    let mut text = String::new();
    std::fs::File::open(&log_file).unwrap().read_to_string(&mut text).unwrap();
    assert!(text.contains("ollmlxd listening") && text.contains("stopped"), "{text}");
    assert!(!d.log().contains("ollmlxd listening"), "{}", d.log());
}

fn which(program: &str) -> Result<String, ()> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
        .ok_or(())
}

/// `YYYY-MM-DDTHH:MM:SS…`: an RFC 3339 time.
fn chrono_like(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':'
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
