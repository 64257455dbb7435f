//! list, show, cp, rm, load, unload and the exit codes, against a real ollmlxd.

mod common;

use common::{run_ctl, Daemon};
use serde_json::Value;

fn json(out: &common::Out) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", out.stdout))
}

fn loaded_names(d: &Daemon) -> Vec<String> {
    let status = d.status();
    status["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn list_show_copy_remove() {
    let d = Daemon::start();
    let out = d.ctl(&["list"]).expect(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("NAME") && lines[0].contains("ID") && lines[0].contains("SIZE"), "{out:?}");
    assert!(lines.iter().any(|l| l.starts_with("test/tiny-llama:latest ")), "{out:?}");
    assert!(lines.iter().any(|l| l.starts_with("test/tiny-qwen:latest ")), "{out:?}");
    // The daemon's own answer, field for field.
    let listed = json(&d.ctl(&["list", "--json"]).expect(0));
    let tags: Value = reqwest::blocking::get(format!("{}/api/tags", d.url)).unwrap().json().unwrap();
    assert_eq!(listed, tags);

    let out = d.ctl(&["show", "test/tiny-llama"]).expect(0);
    assert!(out.stdout.contains("architecture        llama"), "{}", out.stdout);
    assert!(out.stdout.contains("Capabilities") && out.stdout.contains("completion"), "{}", out.stdout);
    let shown = json(&d.ctl(&["show", "test/tiny-llama", "--json"]).expect(0));
    assert_eq!(shown["details"]["family"], "llama");
    let template = d.ctl(&["show", "test/tiny-llama", "--template"]).expect(0);
    assert_eq!(template.stdout.trim_end(), shown["template"].as_str().unwrap().trim_end());
    let verbose = d.ctl(&["show", "-v", "test/tiny-llama"]).expect(0);
    assert!(verbose.stdout.contains("model.embed_tokens.weight"), "{}", verbose.stdout);

    let out = d.ctl(&["cp", "test/tiny-llama", "test/copy:v1"]).expect(0);
    assert_eq!(out.stdout, "copied 'test/tiny-llama' to 'test/copy:v1'\n");
    assert!(d.ctl(&["list"]).expect(0).stdout.contains("test/copy:v1"));
    let out = d.ctl(&["rm", "test/copy:v1"]).expect(0);
    assert_eq!(out.stdout, "deleted 'test/copy:v1'\n");
    assert!(!d.ctl(&["list"]).expect(0).stdout.contains("test/copy:v1"));

    // Model not found: exit 4 with the daemon's message.
    let out = d.ctl(&["show", "test/nothing"]).expect(4);
    assert!(out.stderr.contains("not found"), "{out:?}");
    d.ctl(&["rm", "test/nothing"]).expect(4);
    d.ctl(&["cp", "test/nothing", "test/other"]).expect(4);
}

#[test]
fn load_ps_unload() {
    let d = Daemon::start();
    let out = d.ctl(&["load", "test/tiny-llama", "--keep-alive", "10m"]).expect(0);
    assert!(out.stdout.starts_with("loaded test/tiny-llama:latest ("), "{out:?}");
    assert_eq!(loaded_names(&d), ["test/tiny-llama:latest"]);
    let status = d.status();
    assert_eq!(status["models"][0]["keep_alive"], "10m0s");
    assert_eq!(status["models"][0]["pinned"], false);

    let out = d.ctl(&["load", "test/tiny-qwen", "--pin"]).expect(0);
    assert!(out.stdout.trim_end().ends_with(", pinned"), "{out:?}");
    let status = d.status();
    let qwen = status["models"].as_array().unwrap().iter().find(|m| m["name"] == "test/tiny-qwen:latest").unwrap();
    assert_eq!(qwen["pinned"], true);

    let ps = json(&d.ctl(&["ps", "--json"]).expect(0));
    let mut names: Vec<&str> = ps["models"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["test/tiny-llama:latest", "test/tiny-qwen:latest"]);
    let status_json = json(&d.ctl(&["status", "--json"]).expect(0));
    assert_eq!(status_json["models"].as_array().unwrap().len(), 2);

    let out = d.ctl(&["unload", "test/tiny-llama"]).expect(0);
    assert_eq!(out.stdout, "unloaded test/tiny-llama:latest\n");
    assert_eq!(loaded_names(&d), ["test/tiny-qwen:latest"]);
    // Not loaded any more: exit 4.
    let out = d.ctl(&["unload", "test/tiny-llama"]).expect(4);
    assert!(out.stderr.contains("not loaded"), "{out:?}");

    d.ctl(&["load", "test/tiny-llama"]).expect(0);
    let out = d.ctl(&["unload", "--all"]).expect(0);
    let mut lines: Vec<&str> = out.stdout.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["unloaded test/tiny-llama:latest", "unloaded test/tiny-qwen:latest"]);
    assert!(loaded_names(&d).is_empty());
    assert_eq!(d.ctl(&["unload", "--all"]).expect(0).stdout, "no models loaded\n");

    d.ctl(&["load", "test/nothing"]).expect(4);
}

#[test]
fn usage_and_connection_errors() {
    let d = Daemon::start();
    // Usage: bad flags, bad values, bad OLLMLX_HOST.
    d.ctl(&["load"]).expect(2);
    d.ctl(&["unload", "x", "--all"]).expect(2);
    d.ctl(&["frobnicate"]).expect(2);
    let out = d.ctl(&["load", "test/tiny-llama", "--keep-alive", "soon"]).expect(2);
    assert!(out.stderr.contains("--keep-alive"), "{out:?}");
    let out = d.ctl(&["run", "test/tiny-llama", "hi", "-o", "temperature=hot"]).expect(2);
    assert!(out.stderr.contains("temperature"), "{out:?}");
    d.ctl_with(&["list"], &[("OLLMLX_HOST", "127.0.0.1:notaport")], "").expect(2);
    // --help documents the exit codes.
    let help = d.ctl(&["--help"]).expect(0);
    assert!(help.stdout.contains("Exit codes:") && help.stdout.contains("3  the daemon is not running"), "{help:?}");

    // Nothing listens on a port we just closed: exit 3 and how to start the daemon.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let host = format!("127.0.0.1:{port}");
    for args in [&["status"][..], &["ps"], &["list"], &["show", "x"], &["load", "x"], &["unload", "--all"], &["run", "x", "hi"], &["pull", "x"], &["rm", "x"], &["cp", "a", "b"]] {
        let out = run_ctl(args, d.dir.path(), &[("OLLMLX_HOST", &host)], "");
        assert_eq!(out.code, 3, "{args:?}: {out:?}");
        assert!(out.stderr.contains(&format!("ollmlxd is not running at http://{host}")), "{out:?}");
        assert!(out.stderr.contains("ollmlxctl serve") && out.stderr.contains("ollmlxctl service install"), "{out:?}");
    }
}
