//! `SystemdManager` against a scripted `systemctl`: the exact argv of every operation and the
//! unit files under an injected home.

use std::path::Path;

use ollmlx_launchd::{
    CommandOutput, LogLocation, Platform, ScriptedRunner, ServiceEnv, ServiceManager, ServiceSpec,
    SocketSpec,
};

fn manager(home: &Path, runner: &ScriptedRunner) -> Box<dyn ServiceManager> {
    let env = ServiceEnv::new(home, 1000);
    <dyn ServiceManager>::for_platform(
        Platform::Systemd,
        env,
        "com.ollmlx.daemon",
        Box::new(runner.clone()),
    )
}

fn spec(home: &Path) -> ServiceSpec {
    ServiceSpec::new("/usr/local/bin/ollmlxd", &ServiceEnv::new(home, 1000))
}

fn with_socket(home: &Path) -> ServiceSpec {
    ServiceSpec {
        socket: Some(SocketSpec {
            host: "127.0.0.1".into(),
            port: 11434,
        }),
        ..spec(home)
    }
}

fn systemctl(words: &[&str]) -> Vec<String> {
    ["systemctl", "--user"]
        .iter()
        .chain(words)
        .map(|w| (*w).to_owned())
        .collect()
}

fn unit_dir_entries(home: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(home.join(".config/systemd/user"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn install_twice_restarts_and_leaves_one_unit() {
    let home = tempfile::tempdir().unwrap();
    let runner = ScriptedRunner::new();
    let manager = manager(home.path(), &runner);
    let unit = home.path().join(".config/systemd/user/ollmlx.service");
    assert_eq!(
        manager.install(&spec(home.path())).unwrap(),
        std::slice::from_ref(&unit)
    );
    assert_eq!(
        manager.install(&spec(home.path())).unwrap(),
        std::slice::from_ref(&unit)
    );
    assert_eq!(
        runner.calls(),
        [
            systemctl(&["daemon-reload"]),
            systemctl(&["enable", "--now", "ollmlx.service"]),
            systemctl(&["daemon-reload"]),
            systemctl(&["enable", "--now", "ollmlx.service"]),
            systemctl(&["restart", "ollmlx.service"]),
        ]
    );
    assert_eq!(unit_dir_entries(home.path()), ["ollmlx.service"]);
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains("\nExecStart=/usr/local/bin/ollmlxd\n"),
        "{text}"
    );
}

#[test]
fn socket_activation_installs_and_removes_the_socket_unit() {
    let home = tempfile::tempdir().unwrap();
    let runner = ScriptedRunner::new();
    let manager = manager(home.path(), &runner);
    manager.install(&with_socket(home.path())).unwrap();
    assert_eq!(
        unit_dir_entries(home.path()),
        ["ollmlx.service", "ollmlx.socket"]
    );
    // Reinstalling without a socket disables and deletes the stale socket unit.
    manager.install(&spec(home.path())).unwrap();
    assert_eq!(unit_dir_entries(home.path()), ["ollmlx.service"]);
    assert_eq!(
        runner.calls(),
        [
            systemctl(&["daemon-reload"]),
            systemctl(&["enable", "--now", "ollmlx.socket", "ollmlx.service"]),
            systemctl(&["disable", "--now", "ollmlx.socket"]),
            systemctl(&["daemon-reload"]),
            systemctl(&["enable", "--now", "ollmlx.service"]),
            systemctl(&["restart", "ollmlx.service"]),
        ]
    );
}

#[test]
fn uninstall_disables_removes_and_reloads() {
    let home = tempfile::tempdir().unwrap();
    let runner = ScriptedRunner::new();
    let manager = manager(home.path(), &runner);
    assert!(
        !manager.uninstall().unwrap(),
        "missing service is Ok(false)"
    );
    assert!(runner.calls().is_empty());
    manager.install(&with_socket(home.path())).unwrap();
    runner.clear_calls();
    assert!(manager.uninstall().unwrap());
    assert_eq!(
        runner.calls(),
        [
            systemctl(&["disable", "--now", "ollmlx.socket", "ollmlx.service"]),
            systemctl(&["daemon-reload"])
        ]
    );
    assert!(unit_dir_entries(home.path()).is_empty());
}

#[test]
fn start_stop_restart_status_argv() {
    let home = tempfile::tempdir().unwrap();
    let show = "LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=99\nExecMainCode=0\nExecMainStatus=0\n";
    let runner =
        ScriptedRunner::new().answer(&["systemctl", "--user", "show"], CommandOutput::ok(show));
    let manager = manager(home.path(), &runner);
    manager.start().unwrap();
    manager.stop().unwrap();
    manager.restart().unwrap();
    let status = manager.status().unwrap();
    assert_eq!(
        (status.installed, status.running, status.pid),
        (false, true, Some(99))
    );
    assert_eq!(status.detail, "active (running)");
    assert_eq!(
        runner.calls(),
        [
            systemctl(&["start", "ollmlx.service"]),
            systemctl(&["stop", "ollmlx.service"]),
            systemctl(&["restart", "ollmlx.service"]),
            systemctl(&[
                "show",
                "-p",
                "LoadState,ActiveState,SubState,MainPID,ExecMainCode,ExecMainStatus",
                "ollmlx.service"
            ]),
        ]
    );
}

#[test]
fn status_without_a_user_manager() {
    let home = tempfile::tempdir().unwrap();
    let bus_error = CommandOutput::exit(1, "Failed to connect to bus: No medium found");
    let runner = ScriptedRunner::new()
        .answer(&["systemctl", "--user", "show"], bus_error.clone())
        .answer(&["systemctl", "--user", "show"], bus_error);
    let manager = manager(home.path(), &runner);
    let status = manager.status().unwrap();
    assert!(!status.installed && !status.running);
    assert!(
        status.detail.contains("Failed to connect to bus"),
        "{}",
        status.detail
    );
    // Once a unit file exists, the same failure is an error naming the command.
    manager.install(&spec(home.path())).unwrap();
    let err = manager.status().unwrap_err().to_string();
    assert!(err.starts_with("`systemctl --user show -p "), "{err}");
    assert!(
        err.ends_with("Failed to connect to bus: No medium found"),
        "{err}"
    );
}

#[test]
fn logs_point_at_the_journal() {
    let home = tempfile::tempdir().unwrap();
    let logs = manager(home.path(), &ScriptedRunner::new()).logs().unwrap();
    let LogLocation::Journal { unit, command } = logs else {
        panic!("{logs:?}")
    };
    assert_eq!(unit, "ollmlx.service");
    assert_eq!(command, ["journalctl", "--user", "-u", "ollmlx.service"]);
}
