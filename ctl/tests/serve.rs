//! `serve`: ollmlxctl becomes the ollmlxd found beside it, with the flags passed through.

mod common;

use std::process::{Command, Stdio};

use common::{copy_dir, ctl_binary, daemon_binary, run_ctl, spawn_and_wait, tiny_model};

#[test]
fn serve_runs_the_daemon_in_the_foreground() {
    daemon_binary();
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    copy_dir(&tiny_model("tiny-llama-f32"), &models.join("test/tiny-llama"));
    let mut cmd = Command::new(ctl_binary());
    cmd.args(["serve", "--host", "127.0.0.1:0", "--memory-budget", "1GiB", "--models"]).arg(&models);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("OLLMLX_")) {
        cmd.env_remove(k);
    }
    cmd.env("HOME", dir.path()).env("NO_COLOR", "1").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let (mut child, host, _log) = spawn_and_wait(cmd);
    // exec: the process we started is now the daemon itself.
    let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap();
    assert_eq!(exe.file_name().unwrap(), "ollmlxd");
    let out = run_ctl(&["status"], dir.path(), &[("OLLMLX_HOST", &host)], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("of 1.1 GB budget"), "{out:?}");
    let out = run_ctl(&["list"], dir.path(), &[("OLLMLX_HOST", &host)], "");
    assert!(out.stdout.contains("test/tiny-llama:latest"), "{out:?}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn serve_passes_flags_and_reports_a_missing_daemon() {
    daemon_binary();
    let dir = tempfile::tempdir().unwrap();
    let out = run_ctl(&["serve", "--help"], dir.path(), &[], "");
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains("ollmlxd") && out.stdout.contains("--memory-budget"), "{out:?}");

    // A lone ollmlxctl with nothing on PATH cannot find the daemon.
    let lone = dir.path().join("ollmlxctl");
    std::fs::copy(ctl_binary(), &lone).unwrap();
    let out = Command::new(&lone).args(["serve"]).env("PATH", dir.path().join("empty")).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot find ollmlxd"), "{out:?}");
}
