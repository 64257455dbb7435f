//! `pull` through the daemon from a loopback hub, and `import` of the real SmolLM2 GGUF into
//! the store the daemon serves.

mod common;

use ollmlx_testhub::{folder_repo, Hub};
use common::{smollm_gguf, tiny_model, Daemon, DaemonOptions};

#[test]
fn pull_streams_progress_and_the_model_appears() {
    let hub = Hub::start_in_thread();
    hub.add_repo("hubtest/tiny", "main", &format!("{:040x}", 1), folder_repo(&tiny_model("tiny-llama-f32"), ""));
    let d = Daemon::start_with(&DaemonOptions { models: &[], env: &[("HF_ENDPOINT", &hub.url)] });
    let out = d.ctl(&["pull", "hubtest/tiny"]).expect(0);
    assert_eq!(out.stdout, "success\n");
    // Without a terminal, each new status is one line on stderr.
    let statuses: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(statuses.first(), Some(&"pulling manifest"), "{out:?}");
    assert!(statuses.contains(&"pulling model.safetensors"), "{out:?}");
    assert_eq!(&statuses[statuses.len() - 2..], ["verifying sha256 digest", "writing manifest"], "{out:?}");
    assert!(d.ctl(&["list"]).expect(0).stdout.contains("hubtest/tiny:latest"));
    d.ctl(&["load", "hubtest/tiny"]).expect(0);

    // Pulling again is a no-op that still succeeds.
    assert_eq!(d.ctl(&["pull", "hubtest/tiny"]).expect(0).stdout, "success\n");
    // A repo the hub does not have: the daemon's error, exit 1.
    let out = d.ctl(&["pull", "hubtest/missing"]).expect(1);
    assert!(out.stderr.contains("hubtest/missing") && out.stderr.contains("not found"), "{out:?}");
}

#[test]
fn import_converts_into_the_daemons_store() {
    let d = Daemon::start_with(&DaemonOptions::default());
    let gguf = smollm_gguf();
    let gguf = gguf.to_str().unwrap();
    let out = d.ctl(&["import", gguf, "test/smol"]).expect(0);
    assert!(out.stdout.starts_with("imported test/smol:latest ("), "{out:?}");
    assert!(out.stdout.ends_with("success\n"), "{out:?}");
    assert!(out.stderr.lines().next() == Some("parsing GGUF"), "{out:?}");
    assert!(d.models_dir().join("test/smol/config.json").is_file());
    // The daemon serves it at once.
    let shown = d.ctl(&["show", "test/smol", "--json"]).expect(0);
    let shown: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["details"]["family"], "llama");
    let answer = d.ctl(&["run", "test/smol", "What is 2+2?", "-o", "temperature=0", "-o", "num_predict=8"]).expect(0);
    assert!(!answer.stdout.trim().is_empty(), "{answer:?}");

    let out = d.ctl(&["import", gguf, "test/smol"]).expect(1);
    assert!(out.stderr.contains("already exists"), "{out:?}");
    d.ctl(&["import", gguf, "../bad"]).expect(2);
    let out = d.ctl(&["import", "/nonexistent.gguf", "test/other"]).expect(1);
    assert!(out.stderr.contains("no such file"), "{out:?}");
    let not_gguf = d.models_dir().join("test/smol/config.json");
    let out = d.ctl(&["import", not_gguf.to_str().unwrap(), "test/other"]).expect(1);
    assert!(out.stderr.contains("config.json"), "{out:?}");
}
