//! The generated units pass `systemd-analyze verify --user`, and systemd itself parses the
//! `Environment=` and `ExecStart=` escaping back to the original values (`systemd --test` dumps
//! the loaded unit). Each systemd check first proves it can run here with a known-good trivial
//! unit and is skipped, with the reason printed, only when that probe fails.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ollmlx_launchd::{
    Platform, RenderedFile, ScriptedRunner, ServiceEnv, ServiceManager, ServiceSpec, SocketSpec,
};

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    /// World-readable dirs: the dump check runs systemd as `nobody` when we are root.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["units", "runtime", "home"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        for sub in ["", "units", "runtime", "home"] {
            set_mode(&dir.path().join(sub), 0o777);
        }
        Self { dir }
    }

    fn path(&self, sub: &str) -> PathBuf {
        self.dir.path().join(sub)
    }

    /// An executable at a path that needs quoting and `%` escaping.
    fn program(&self) -> PathBuf {
        let bin = self.path("bin dir %i");
        std::fs::create_dir_all(&bin).unwrap();
        set_mode(&bin, 0o755);
        let program = bin.join("ollmlxd");
        std::fs::write(&program, "#!/bin/sh\nexit 0\n").unwrap();
        set_mode(&program, 0o755);
        program
    }

    /// Writes rendered units into `units/`, returning their paths.
    fn write(&self, files: &[RenderedFile]) -> Vec<PathBuf> {
        files
            .iter()
            .map(|f| {
                let path = self.path("units").join(f.path.file_name().unwrap());
                std::fs::write(&path, &f.contents).unwrap();
                set_mode(&path, 0o644);
                path
            })
            .collect()
    }

    fn verify(&self, units: &[PathBuf]) -> std::io::Result<Output> {
        Command::new("timeout")
            .args(["60", "systemd-analyze", "verify", "--user"])
            .args(units)
            .env("XDG_RUNTIME_DIR", self.path("runtime"))
            .env("HOME", self.path("home"))
            .output()
    }

    /// `systemd --test` for `unit`, as `nobody` when running as root (systemd refuses root here).
    fn dump(&self, unit: &str) -> std::io::Result<Output> {
        let systemd = ["/lib/systemd/systemd", "/usr/lib/systemd/systemd"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or_else(|| std::io::Error::other("no systemd binary"))?;
        let mut argv = vec!["60".to_owned()];
        if running_as_root() {
            argv.extend(
                [
                    "setpriv",
                    "--reuid=65534",
                    "--regid=65534",
                    "--clear-groups",
                ]
                .map(String::from),
            );
        }
        argv.extend(
            [
                systemd,
                "--test",
                "--user",
                "--no-pager",
                "--log-target=console",
            ]
            .map(String::from),
        );
        argv.push(format!("--unit={unit}"));
        Command::new("timeout")
            .args(argv)
            .env("XDG_RUNTIME_DIR", self.path("runtime"))
            .env("HOME", self.path("home"))
            // Trailing ':' keeps the default search path, for default.target and sockets.target.
            .env(
                "SYSTEMD_UNIT_PATH",
                format!("{}:", self.path("units").display()),
            )
            .output()
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

const PROBE_UNIT: &str = "[Unit]\nDescription=probe\n\n[Service]\nExecStart=/bin/true\n\n[Install]\nWantedBy=default.target\n";

/// Err(reason) when `check` cannot run even on a trivial correct unit.
fn probe(
    check: impl Fn(&Sandbox, &[PathBuf]) -> std::io::Result<Output>,
    expect: &str,
) -> Result<(), String> {
    let sandbox = Sandbox::new();
    let file = RenderedFile {
        path: "probe.service".into(),
        contents: PROBE_UNIT.into(),
    };
    let paths = sandbox.write(&[file]);
    match check(&sandbox, &paths) {
        Err(e) => Err(format!("could not run it: {e}")),
        Ok(out)
            if out.status.success() && String::from_utf8_lossy(&out.stdout).contains(expect) =>
        {
            Ok(())
        }
        Ok(out) => Err(format!(
            "a trivial unit fails ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

fn tricky_env() -> BTreeMap<String, String> {
    [
        ("OLLMLX_HOST", "127.0.0.1:11434"),
        ("SPACES", "  two  words  "),
        ("QUOTES", r#"say "hi" and 'bye'"#),
        ("PERCENT", "100% %h %%"),
        ("DOLLAR", "$HOME ${USER} $$"),
        ("BACKSLASH", r"C:\path\n\"),
        ("MULTILINE", "line1\nline2\ttab"),
        ("UNICODE", "héllo ✓"),
        ("SEMI", "a;b ; c"),
        ("EMPTY", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn tricky_args() -> Vec<String> {
    [
        "--host",
        "127.0.0.1:11434",
        "two words",
        "100%",
        "$HOME",
        r#"q"uo'te"#,
        r"back\slash",
        ";",
        "",
        "tab\there",
    ]
    .map(String::from)
    .to_vec()
}

fn render(sandbox: &Sandbox, socket: bool) -> Vec<RenderedFile> {
    let env = ServiceEnv::new(sandbox.path("home"), 1000);
    let mut spec = ServiceSpec::new(sandbox.program(), &env);
    spec.args = tricky_args();
    spec.env = tricky_env();
    if socket {
        spec.socket = Some(SocketSpec {
            host: "127.0.0.1".into(),
            port: 11434,
        });
    }
    let manager = <dyn ServiceManager>::for_platform(
        Platform::Systemd,
        env,
        &spec.label,
        Box::new(ScriptedRunner::new()),
    );
    manager.render(&spec).unwrap()
}

#[test]
fn units_pass_systemd_analyze_verify() {
    let verify = |s: &Sandbox, p: &[PathBuf]| s.verify(p);
    if let Err(reason) = probe(verify, "") {
        println!("SKIPPED systemd-analyze verify --user check: {reason}");
        return;
    }
    for socket in [false, true] {
        let sandbox = Sandbox::new();
        let paths = sandbox.write(&render(&sandbox, socket));
        assert_eq!(paths.len(), if socket { 2 } else { 1 });
        let out = sandbox.verify(&paths).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "verify failed (socket={socket}): {stderr}"
        );
        // Warnings (unknown keys, bad escapes, unresolvable specifiers) do not change the exit code.
        let complaints: Vec<_> = stderr.lines().filter(|l| l.contains("ollmlx")).collect();
        assert!(
            complaints.is_empty(),
            "verify complained (socket={socket}): {complaints:#?}"
        );
    }
}

#[test]
fn systemd_parses_environment_and_exec_start_back() {
    let dump = |s: &Sandbox, _: &[PathBuf]| s.dump("probe.service");
    if let Err(reason) = probe(dump, "-> Unit probe.service:") {
        println!("SKIPPED systemd --test round-trip check: {reason}");
        return;
    }
    let sandbox = Sandbox::new();
    sandbox.write(&render(&sandbox, false));
    let out = sandbox.dump("ollmlx.service").unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "systemd --test failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let block = unit_block(&text, "ollmlx.service");
    assert_eq!(dumped_environment(block), tricky_env(), "in\n{block}");
    let argv = dumped_command_line(block);
    let mut expected = vec![sandbox.program().to_str().unwrap().to_owned()];
    expected.extend(tricky_args());
    assert_eq!(argv, expected, "in\n{block}");
}

/// The `-> Unit <name>:` section of a `systemd --test` dump.
fn unit_block<'a>(dump: &'a str, name: &str) -> &'a str {
    let header = format!("\t-> Unit {name}:\n");
    let start = dump
        .find(&header)
        .unwrap_or_else(|| panic!("no {name} in dump:\n{dump}"))
        + header.len();
    let rest = &dump[start..];
    rest.find("\t-> Unit ").map_or(rest, |end| &rest[..end])
}

/// `Environment: K=V` lines; a value with a newline continues on lines without the indent.
fn dumped_environment(block: &str) -> BTreeMap<String, String> {
    let mut env: Vec<String> = Vec::new();
    let mut in_env = false;
    for line in block.lines() {
        if let Some(assignment) = line.strip_prefix("\t\tEnvironment: ") {
            env.push(assignment.to_owned());
            in_env = true;
        } else if line.starts_with('\t') {
            in_env = false;
        } else if in_env {
            let last = env.last_mut().unwrap();
            last.push('\n');
            last.push_str(line);
        }
    }
    env.iter()
        .map(|a| {
            a.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .unwrap()
        })
        .collect()
}

/// The ExecStart argv from `Command Line:`, undoing systemd's shell-style quoting and the `$$`
/// that is only collapsed at exec time.
fn dumped_command_line(block: &str) -> Vec<String> {
    let line = block
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("Command Line: "))
        .unwrap_or_else(|| panic!("no Command Line in\n{block}"));
    let (mut words, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => (quoted, any) = (!quoted, true),
            '\\' => word.push(match chars.next().unwrap() {
                't' => '\t',
                'n' => '\n',
                other => other,
            }),
            ' ' if !quoted => {
                if any || !word.is_empty() {
                    words.push(collapse_dollars(&std::mem::take(&mut word)));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(collapse_dollars(&word));
    }
    words
}

/// What systemd does to an ExecStart word at exec time: `$$` becomes `$`, and any other `$` starts
/// a variable reference, which would change the argument (so the test fails on it).
fn collapse_dollars(word: &str) -> String {
    let mut out = String::new();
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        if c == '$' {
            let next = chars.next();
            assert_eq!(
                next,
                Some('$'),
                "unescaped variable reference in ExecStart word {word:?}"
            );
        }
        out.push(c);
    }
    out
}
