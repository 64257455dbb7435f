//! `service` with the systemd backend against a temporary HOME and fake `systemctl` /
//! `journalctl` scripts on PATH that record their argv and answer `show` from a state file.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{daemon_binary, run_ctl, Out};

const SYSTEMCTL: &str = r#"#!/bin/sh
echo "systemctl $*" >> "$FAKE_DIR/argv"
case "$2" in
  enable|start|restart) echo running > "$FAKE_DIR/state" ;;
  stop|disable) echo stopped > "$FAKE_DIR/state" ;;
  show)
    if [ ! -f "$HOME/.config/systemd/user/ollmlx.service" ]; then
      printf 'LoadState=not-found\nActiveState=inactive\nSubState=dead\nMainPID=0\nExecMainCode=0\nExecMainStatus=0\n'
    elif [ "$(cat "$FAKE_DIR/state" 2>/dev/null)" = running ]; then
      printf 'LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=4242\nExecMainCode=0\nExecMainStatus=0\n'
    else
      printf 'LoadState=loaded\nActiveState=inactive\nSubState=dead\nMainPID=0\nExecMainCode=1\nExecMainStatus=0\n'
    fi ;;
esac
"#;

const JOURNALCTL: &str = r#"#!/bin/sh
echo "journalctl $*" >> "$FAKE_DIR/argv"
echo "ollmlxd listening (from the fake journal)"
"#;

struct Fake {
    dir: tempfile::TempDir,
    path: String,
}

impl Fake {
    fn new() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        for (name, text) in [("systemctl", SYSTEMCTL), ("journalctl", JOURNALCTL)] {
            let p = bin.join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        Fake { dir, path }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn unit(&self) -> PathBuf {
        self.home().join(".config/systemd/user/ollmlx.service")
    }

    fn ctl(&self, args: &[&str]) -> Out {
        let fake = self.dir.path().to_str().unwrap();
        let env = [("PATH", self.path.as_str()), ("FAKE_DIR", fake), ("OLLMLX_HOST", "127.0.0.1:5555")];
        run_ctl(args, &self.home(), &env, "")
    }

    /// The argv recorded since the last call.
    fn take_argv(&self) -> Vec<String> {
        let file = self.dir.path().join("argv");
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let _ = std::fs::remove_file(&file);
        text.lines().map(str::to_string).collect()
    }
}

fn has(path: &Path) -> bool {
    path.exists()
}

#[test]
fn install_status_control_logs_uninstall() {
    let daemon = daemon_binary().canonicalize().unwrap();
    let f = Fake::new();

    let out = f.ctl(&["service", "status"]).expect(3);
    assert!(out.stdout.contains("installed   no"), "{out:?}");
    assert!(out.stderr.contains("not installed"), "{out:?}");
    f.take_argv();

    let out = f.ctl(&["service", "install", "--dry-run"]).expect(0);
    assert!(out.stdout.contains(&format!("# {}", f.unit().display())), "{out:?}");
    assert!(out.stdout.contains(&format!("ExecStart={}", daemon.display())), "{out:?}");
    assert!(out.stdout.contains("Environment=\"OLLMLX_HOST=127.0.0.1:5555\""), "{out:?}");
    assert!(f.take_argv().is_empty() && !has(&f.unit()));

    let out = f.ctl(&["service", "install"]).expect(0);
    assert!(out.stdout.contains(&f.unit().display().to_string()), "{out:?}");
    let unit = std::fs::read_to_string(f.unit()).unwrap();
    assert!(unit.contains(&format!("ExecStart={}", daemon.display())), "{unit}");
    assert_eq!(f.take_argv(), ["systemctl --user daemon-reload", "systemctl --user enable --now ollmlx.service"]);

    let out = f.ctl(&["service", "status"]).expect(0);
    assert!(out.stdout.contains("running     yes (pid 4242)"), "{out:?}");
    let out = f.ctl(&["service", "status", "--json"]).expect(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!((v["platform"].as_str(), v["installed"].as_bool(), v["running"].as_bool(), v["pid"].as_u64()), (Some("systemd"), Some(true), Some(true), Some(4242)));
    assert_eq!(f.take_argv(), vec!["systemctl --user show -p LoadState,ActiveState,SubState,MainPID,ExecMainCode,ExecMainStatus ollmlx.service"; 2]);

    assert_eq!(f.ctl(&["service", "stop"]).expect(0).stdout, "stopped the ollmlx service\n");
    let out = f.ctl(&["service", "status"]).expect(3);
    assert!(out.stdout.contains("running     no") && out.stderr.contains("not running"), "{out:?}");
    f.ctl(&["service", "start"]).expect(0);
    f.ctl(&["service", "restart"]).expect(0);
    let argv = f.take_argv();
    assert_eq!(argv[0], "systemctl --user stop ollmlx.service");
    assert_eq!(&argv[2..], ["systemctl --user start ollmlx.service", "systemctl --user restart ollmlx.service"]);

    let out = f.ctl(&["service", "logs", "-n", "5"]).expect(0);
    assert!(out.stdout.contains("from the fake journal"), "{out:?}");
    assert_eq!(f.take_argv(), ["journalctl --user -u ollmlx.service -n 5"]);

    assert_eq!(f.ctl(&["service", "uninstall"]).expect(0).stdout, "uninstalled the ollmlx service\n");
    assert!(!has(&f.unit()));
    assert_eq!(f.take_argv(), ["systemctl --user disable --now ollmlx.service", "systemctl --user daemon-reload"]);
    assert_eq!(f.ctl(&["service", "uninstall"]).expect(0).stdout, "the ollmlx service was not installed\n");
}

#[test]
fn a_failing_systemctl_is_an_error() {
    daemon_binary();
    let f = Fake::new();
    // Not installed: systemctl refuses to start an unknown unit.
    let failing = f.dir.path().join("bin/systemctl");
    std::fs::write(&failing, "#!/bin/sh\necho 'Unit ollmlx.service not found.' >&2\nexit 5\n").unwrap();
    let out = f.ctl(&["service", "start"]).expect(1);
    assert!(out.stderr.contains("Unit ollmlx.service not found."), "{out:?}");
}
