//! `status` and `ps` output against a real ollmlxd, as insta snapshots with filters for what
//! varies between runs (port, sizes, times, digests), plus the busy state of a model serving
//! a request.

mod common;

use std::time::{Duration, Instant};

use common::Daemon;

/// Filters for values that differ between runs and machines. Sizes and times change the
/// column widths, so runs of spaces are folded last.
fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"127\.0\.0\.1:\d+", "[HOST]"),
        (r"(?m)^up( +)(just started|\d+ (second|minute|hour|day)s?) on ", "up$1[UPTIME] on "),
        (r"\d+(\.\d)? (B|KB|MB|GB|TB)\b", "[SIZE]"),
        (r"\[[#-]+\]", "[BAR]"),
        (r"\(\d+%\)", "([PCT])"),
        (r"(\d+ (second|minute|hour|day)s? ago|just now)", "[AGO]"),
        (r"\d+ (second|minute|hour|day)s?", "[TIME]"),
        (r"\b[0-9a-f]{12}\b", "[ID]"),
        (r"ollmlxd \d+\.\d+\.\d+", "ollmlxd [VERSION]"),
        (r" {2,}", "  "),
    ]
}

#[test]
fn status_and_ps_snapshots() {
    let d = Daemon::start();
    let status = d.ctl(&["status"]).expect(0);
    insta::with_settings!({ filters => filters() }, {
        insta::assert_snapshot!(status.stdout, @r"
        ollmlxd [VERSION] at http://[HOST]
        up  [UPTIME] on cpu
        memory  [BAR] [SIZE] of [SIZE] budget ([PCT])
        mlx  [SIZE] active, [SIZE] cache; process [SIZE] resident, [SIZE] heap in use
        queue  0 waiting; most models loaded: no cap

        no models loaded
        ");
    });
    let ps = d.ctl(&["ps"]).expect(0);
    insta::assert_snapshot!(ps.stdout, @"NAME   ID   SIZE   PROCESSOR   CONTEXT   UNTIL");

    d.ctl(&["load", "test/tiny-llama", "--keep-alive", "10m"]).expect(0);
    d.ctl(&["load", "test/tiny-qwen", "--pin"]).expect(0);
    let status = d.ctl(&["status"]).expect(0);
    let ps = d.ctl(&["ps"]).expect(0);
    insta::with_settings!({ filters => filters() }, {
        insta::assert_snapshot!(status.stdout, @r"
        ollmlxd [VERSION] at http://[HOST]
        up  [UPTIME] on cpu
        memory  [BAR] [SIZE] of [SIZE] budget ([PCT])
        mlx  [SIZE] active, [SIZE] cache; process [SIZE] resident, [SIZE] heap in use
        queue  0 waiting; most models loaded: no cap

        NAME  STATE  SIZE  KV  CONTEXT  REQUESTS  LAST USED  EXPIRES IN  PINNED
        test/tiny-qwen:latest  ready  [SIZE]  [SIZE]  4096  0  [AGO]  never  yes
        test/tiny-llama:latest  ready  [SIZE]  [SIZE]  4096  0  [AGO]  [TIME]  no
        ");
        insta::assert_snapshot!(ps.stdout, @r"
        NAME  ID  SIZE  PROCESSOR  CONTEXT  UNTIL
        test/tiny-qwen:latest  [ID]  [SIZE]  100% CPU  4096  Forever
        test/tiny-llama:latest  [ID]  [SIZE]  100% CPU  4096  [TIME] from now
        ");
    });
}

#[test]
fn status_shows_a_busy_model() {
    let d = Daemon::start();
    d.ctl(&["load", "test/tiny-llama"]).expect(0);
    // A long streamed answer that is never read: the model stays busy while it is open.
    let body = serde_json::json!({
        "model": "test/tiny-llama",
        "messages": [{"role": "user", "content": "count"}],
        "options": {"num_predict": 100_000, "temperature": 0},
    });
    let pending = reqwest::blocking::Client::new().post(format!("{}/api/chat", d.url)).json(&body).send().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let row = loop {
        let out = d.ctl(&["status"]).expect(0);
        if let Some(row) = out.stdout.lines().find(|l| l.starts_with("test/tiny-llama:latest") && l.contains(" busy ")) {
            break row.to_string();
        }
        assert!(Instant::now() < deadline, "never busy:\n{}", out.stdout);
        std::thread::sleep(Duration::from_millis(50));
    };
    let cells: Vec<&str> = row.split("   ").map(str::trim).filter(|c| !c.is_empty()).collect();
    // NAME STATE SIZE KV CONTEXT REQUESTS LAST-USED EXPIRES-IN PINNED
    assert_eq!((cells[1], cells[5], cells[6], cells[7], cells[8]), ("busy", "1", "now", "-", "no"), "{row}");
    drop(pending);
}
