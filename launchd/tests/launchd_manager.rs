//! `LaunchdManager` against a scripted `launchctl`: the exact argv of every operation, files on
//! disk under an injected home, and status parsing.

use std::path::{Path, PathBuf};

use ollmlx_launchd::{
    CommandOutput, Error, LogLocation, Platform, ScriptedRunner, ServiceEnv, ServiceManager,
    ServiceSpec,
};

const UID: u32 = 501;
const TARGET: &str = "gui/501/com.ollmlx.daemon";
const NOT_FOUND: i32 = 113;

fn manager(home: &Path, runner: &ScriptedRunner) -> Box<dyn ServiceManager> {
    let env = ServiceEnv::new(home, UID);
    <dyn ServiceManager>::for_platform(
        Platform::Launchd,
        env,
        "com.ollmlx.daemon",
        Box::new(runner.clone()),
    )
}

fn spec(home: &Path) -> ServiceSpec {
    let mut spec = ServiceSpec::new("/usr/local/bin/ollmlxd", &ServiceEnv::new(home, UID));
    spec.env
        .insert("OLLMLX_MAX_LOADED_MODELS".into(), "2".into());
    spec
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

fn plist_path(home: &Path) -> PathBuf {
    home.join("Library/LaunchAgents/com.ollmlx.daemon.plist")
}

fn not_loaded() -> CommandOutput {
    CommandOutput::exit(
        NOT_FOUND,
        "Could not find service \"com.ollmlx.daemon\" in domain for user gui: 501",
    )
}

#[test]
fn install_twice_boots_out_first_and_leaves_one_agent() {
    let home = tempfile::tempdir().unwrap();
    // First install: not loaded yet. Second install: loaded, so it is booted out first.
    let runner = ScriptedRunner::new()
        .answer(&["/bin/launchctl", "print"], not_loaded())
        .answer(
            &["/bin/launchctl", "print"],
            CommandOutput::ok("gui/501/com.ollmlx.daemon = {\n\tstate = running\n}\n"),
        );
    let manager = manager(home.path(), &runner);
    let plist = plist_path(home.path());
    assert_eq!(
        manager.install(&spec(home.path())).unwrap(),
        std::slice::from_ref(&plist)
    );
    assert_eq!(
        manager.install(&spec(home.path())).unwrap(),
        std::slice::from_ref(&plist)
    );

    let plist_arg = plist.to_str().unwrap();
    assert_eq!(
        runner.calls(),
        [
            argv(&["/bin/launchctl", "print", TARGET]),
            argv(&["/bin/launchctl", "bootstrap", "gui/501", plist_arg]),
            argv(&["/bin/launchctl", "print", TARGET]),
            argv(&["/bin/launchctl", "bootout", TARGET]),
            argv(&["/bin/launchctl", "bootstrap", "gui/501", plist_arg]),
        ]
    );
    let agents: Vec<_> = std::fs::read_dir(plist.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(agents, ["com.ollmlx.daemon.plist"]);
    assert!(
        home.path().join("Library/Logs/ollmlx").is_dir(),
        "log dir is created for launchd"
    );
    let written = std::fs::read_to_string(&plist).unwrap();
    assert_eq!(
        written,
        manager.render(&spec(home.path())).unwrap()[0].contents
    );
}

#[test]
fn uninstall_of_a_missing_agent_is_ok() {
    let home = tempfile::tempdir().unwrap();
    let runner = ScriptedRunner::new().answer(&["/bin/launchctl", "print"], not_loaded());
    assert!(!manager(home.path(), &runner).uninstall().unwrap());
    assert_eq!(runner.calls(), [argv(&["/bin/launchctl", "print", TARGET])]);
}

#[test]
fn uninstall_boots_out_and_removes_the_plist() {
    let home = tempfile::tempdir().unwrap();
    let runner = ScriptedRunner::new().answer(&["/bin/launchctl", "print"], not_loaded());
    let manager = manager(home.path(), &runner);
    manager.install(&spec(home.path())).unwrap();
    runner.clear_calls();
    // Loaded (print succeeds by default), and bootout races with an exit: "No such process".
    let runner = runner.answer(
        &["/bin/launchctl", "bootout"],
        CommandOutput::exit(3, "Boot-out failed: 3: No such process"),
    );
    assert!(manager.uninstall().unwrap());
    assert_eq!(
        runner.calls(),
        [
            argv(&["/bin/launchctl", "print", TARGET]),
            argv(&["/bin/launchctl", "bootout", TARGET])
        ]
    );
    assert!(!plist_path(home.path()).exists());
}

#[test]
fn start_stop_restart_argv() {
    let home = tempfile::tempdir().unwrap();
    let runner = ScriptedRunner::new();
    let manager = manager(home.path(), &runner);
    manager.start().unwrap();
    manager.stop().unwrap();
    manager.restart().unwrap();
    assert_eq!(
        runner.calls(),
        [
            argv(&["/bin/launchctl", "kickstart", TARGET]),
            argv(&["/bin/launchctl", "kill", "SIGTERM", TARGET]),
            argv(&["/bin/launchctl", "kickstart", "-k", TARGET]),
        ]
    );
}

#[test]
fn failures_name_the_command_and_its_stderr() {
    let home = tempfile::tempdir().unwrap();
    let runner = ScriptedRunner::new()
        .answer(&["/bin/launchctl", "print"], not_loaded())
        .answer(
            &["/bin/launchctl", "bootstrap"],
            CommandOutput::exit(5, "Bootstrap failed: 5: Input/output error"),
        );
    let err = manager(home.path(), &runner)
        .install(&spec(home.path()))
        .unwrap_err();
    let Error::CommandFailed {
        command,
        status,
        stderr,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(
        command.starts_with("/bin/launchctl bootstrap gui/501 "),
        "{command}"
    );
    assert_eq!(
        (*status, stderr.as_str()),
        (Some(5), "Bootstrap failed: 5: Input/output error")
    );

    let mismatched = ServiceSpec {
        label: "com.other".into(),
        ..spec(home.path())
    };
    assert!(matches!(
        manager(home.path(), &runner).install(&mismatched),
        Err(Error::LabelMismatch { .. })
    ));
}

#[test]
fn status_reports_loaded_and_unloaded_agents() {
    let home = tempfile::tempdir().unwrap();
    let print =
        "gui/501/com.ollmlx.daemon = {\n\tstate = running\n\tpid = 777\n\tlast exit code = 0\n}\n";
    let runner = ScriptedRunner::new()
        .answer(&["/bin/launchctl", "print"], CommandOutput::ok(print))
        .answer(&["/bin/launchctl", "print"], not_loaded());
    let manager = manager(home.path(), &runner);
    let status = manager.status().unwrap();
    assert_eq!(
        (
            status.installed,
            status.running,
            status.pid,
            status.last_exit
        ),
        (false, true, Some(777), Some(0))
    );
    let status = manager.status().unwrap();
    assert_eq!(
        (status.installed, status.running, status.pid),
        (false, false, None)
    );
    assert_eq!(status.detail, "not loaded");
}

#[test]
fn logs_follow_the_installed_plist() {
    let home = tempfile::tempdir().unwrap();
    let runner = ScriptedRunner::new().answer(&["/bin/launchctl", "print"], not_loaded());
    let manager = manager(home.path(), &runner);
    let default_dir = home.path().join("Library/Logs/ollmlx");
    let files = |dir: &Path| LogLocation::Files {
        stdout: dir.join("ollmlxd.out.log"),
        stderr: dir.join("ollmlxd.err.log"),
    };
    assert_eq!(manager.logs().unwrap(), files(&default_dir));
    let custom = home.path().join("custom logs");
    manager
        .install(&ServiceSpec {
            log_dir: custom.clone(),
            ..spec(home.path())
        })
        .unwrap();
    assert_eq!(manager.logs().unwrap(), files(&custom));
}
