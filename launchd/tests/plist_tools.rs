//! The LaunchAgent plist parses back with the `plist` crate and survives libplist's `plistutil`
//! (XML → binary → XML), the closest this Linux box gets to `plutil -lint`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use ollmlx_launchd::plist::LaunchAgent;
use ollmlx_launchd::{
    Platform, ScriptedRunner, ServiceEnv, ServiceManager, ServiceSpec, SocketSpec,
};

/// Values that need escaping somewhere: XML (`<&>`), shells, systemd (`%`, `$`).
fn tricky_env() -> BTreeMap<String, String> {
    [
        ("OLLMLX_HOST", "127.0.0.1:11434"),
        ("SPACES", "  two  words  "),
        ("QUOTES", r#"say "hi" and 'bye'"#),
        ("PERCENT", "100% %h %%"),
        ("DOLLAR", "$HOME ${USER} $$"),
        ("XML", "<a href=\"x\">&amp;</a>"),
        ("BACKSLASH", r"C:\path\n"),
        ("MULTILINE", "line1\nline2\ttab"),
        ("UNICODE", "héllo ✓"),
        ("EMPTY", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn spec(home: &Path) -> ServiceSpec {
    let env = ServiceEnv::new(home, 501);
    let mut spec = ServiceSpec::new("/Applications/ollmlx dir/ollmlxd", &env);
    spec.args = vec!["--flag".into(), "a b".into()];
    spec.env = tricky_env();
    spec.socket = Some(SocketSpec {
        host: "127.0.0.1".into(),
        port: 11434,
    });
    spec
}

fn plistutil(args: &[&str]) {
    let out = match Command::new("plistutil").args(args).output() {
        Ok(out) => out,
        Err(e) => panic!(
            "`plistutil` could not be run ({e}); install it with `apt-get install -y libplist-utils` \
             (Debian package libplist-utils)"
        ),
    };
    assert!(
        out.status.success(),
        "plistutil {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rendered_plist_parses_back_into_the_same_agent() {
    let home = tempfile::tempdir().unwrap();
    let spec = spec(home.path());
    let manager = <dyn ServiceManager>::for_platform(
        Platform::Launchd,
        ServiceEnv::new(home.path(), 501),
        &spec.label,
        Box::new(ScriptedRunner::new()),
    );
    let files = manager.render(&spec).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0].path,
        home.path()
            .join("Library/LaunchAgents/com.ollmlx.daemon.plist")
    );
    let parsed: LaunchAgent = plist::from_bytes(files[0].contents.as_bytes()).unwrap();
    assert_eq!(parsed, LaunchAgent::from_spec(&spec).unwrap());
    assert_eq!(parsed.environment_variables, tricky_env());
    assert_eq!(
        parsed.program_arguments,
        ["/Applications/ollmlx dir/ollmlxd", "--flag", "a b"]
    );
}

#[test]
fn plistutil_converts_to_binary_and_back_without_change() {
    let dir = tempfile::tempdir().unwrap();
    let xml = LaunchAgent::from_spec(&spec(dir.path()))
        .unwrap()
        .to_xml()
        .unwrap();
    let (xml_path, bin_path, back_path) = (
        dir.path().join("agent.plist"),
        dir.path().join("agent.bin"),
        dir.path().join("back.plist"),
    );
    std::fs::write(&xml_path, &xml).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    plistutil(&["-i", &s(&xml_path), "-o", &s(&bin_path), "-f", "bin"]);
    plistutil(&["-i", &s(&bin_path), "-o", &s(&back_path), "-f", "xml"]);

    let binary = std::fs::read(&bin_path).unwrap();
    assert!(
        binary.starts_with(b"bplist00"),
        "plistutil did not write a binary plist"
    );
    let original = plist::Value::from_reader_xml(xml.as_bytes()).unwrap();
    let from_binary = plist::Value::from_reader(std::io::Cursor::new(&binary)).unwrap();
    let from_back = plist::Value::from_file(&back_path).unwrap();
    assert_eq!(from_binary, original);
    assert_eq!(from_back, original);
    let agent: LaunchAgent = plist::from_bytes(&binary).unwrap();
    assert_eq!(agent.environment_variables, tricky_env());
}
