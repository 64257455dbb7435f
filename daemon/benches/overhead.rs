//! Daemon benchmark: the engine run directly in this process beside the real `ollmlxd` over
//! HTTP. Prints time-to-first-token overhead of the HTTP path, per-request HTTP overhead, the
//! switch latency between two resident models, cold-load time against bytes read, and idle
//! RSS. Run: `cargo bench -p ollmlx-daemon --bench overhead` (needs `scripts/setup.sh`).
//! Targets: switching adds < 5% to TTFT; HTTP overhead < 1 ms per request; idle RSS < 30 MB.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ollmlx_engine::{Event, GenerateParams, LoadOptions, Model, SamplingParams};
use serde_json::{json, Value};

const RUNS: usize = 9;
const PROMPT: &str = "Why is the sky blue?";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn fixture(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models");
    let dir = if name.starts_with("tiny-") { root.join("tiny").join(name) } else { root.join(name) };
    assert!(dir.join("config.json").exists(), "missing {} (run scripts/setup.sh)", dir.display());
    dir
}

/// TTFT of the engine alone: template + tokenize + prefill + first token.
fn direct_ttft(model: &Model) -> Duration {
    let template = model.chat_template().expect("chat template");
    let messages = [json!({"role": "user", "content": PROMPT})];
    let start = Instant::now();
    let text = template.render(&ollmlx_engine::text::ChatRenderRequest::new(&messages)).expect("render");
    let prompt = model.tokenizer().encode(&text, false).expect("encode");
    let params = GenerateParams {
        prompt,
        max_tokens: Some(1),
        sampling: SamplingParams { temperature: 0.0, ..SamplingParams::default() },
        ..GenerateParams::default()
    };
    let mut first = None;
    model
        .generate(params, &mut |e| {
            if matches!(e, Event::Token { .. }) && first.is_none() {
                first = Some(start.elapsed());
            }
            ControlFlow::Continue(())
        })
        .expect("generate");
    first.unwrap_or_else(|| start.elapsed())
}

struct Daemon {
    child: Child,
    base: String,
    http: reqwest::blocking::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_daemon(fixture_name: &str, models: &[&str]) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    for name in models {
        let to = dir.path().join("models/library").join(name);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(fixture(fixture_name)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_ollmlxd"))
        .env_clear()
        .env("HOME", dir.path())
        .env("OLLMLX_HOST", format!("127.0.0.1:{port}"))
        .env("OLLMLX_MODELS", dir.path().join("models"))
        .env("OLLMLX_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ollmlxd");
    let http = reqwest::blocking::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while http.get(&base).send().is_err() {
        assert!(Instant::now() < deadline, "ollmlxd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Daemon { child, base, http, _dir: dir }
}

impl Daemon {
    fn post(&self, path: &str, body: &Value) -> Value {
        self.http.post(format!("{}{path}", self.base)).json(body).send().unwrap().json().unwrap()
    }

    /// Time until the first streamed token line of a chat request.
    fn ttft(&self, model: &str) -> Duration {
        let body = json!({"model": model, "messages": [{"role": "user", "content": PROMPT}],
                          "options": {"temperature": 0, "num_predict": 1}});
        let start = Instant::now();
        let resp = self.http.post(format!("{}/api/chat", self.base)).json(&body).send().unwrap();
        let mut line = String::new();
        BufReader::new(resp).read_line(&mut line).unwrap();
        let t = start.elapsed();
        assert!(line.contains("\"message\""), "{line}");
        t
    }

    fn rss(&self) -> u64 {
        let v: Value = self.http.get(format!("{}/ollmlx/status", self.base)).send().unwrap().json().unwrap();
        v["process_rss_bytes"].as_u64().unwrap_or(0)
    }
}

/// Direct and HTTP runs interleaved, so background load on a shared machine hits both alike.
fn compare(fixture_name: &str) {
    let dir = fixture(fixture_name);
    let bytes: u64 = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    let d = start_daemon(fixture_name, &["a", "b"]);
    let idle_rss = d.rss();
    let start = Instant::now();
    d.post("/api/generate", &json!({"model": "a", "prompt": ""}));
    let cold = start.elapsed();
    d.post("/api/generate", &json!({"model": "b", "prompt": ""}));
    let mut http = Vec::new();
    for _ in 0..200 {
        let s = Instant::now();
        d.post("/api/generate", &json!({"model": "a", "prompt": ""}));
        http.push(s.elapsed());
    }
    let http = median(http);
    let model = Model::load(&dir, &LoadOptions::default()).expect("load");
    direct_ttft(&model);
    d.ttft("a");
    let (mut direct, mut same, mut switching) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..RUNS {
        direct.push(direct_ttft(&model));
        same.push(d.ttft("a"));
        same.push(d.ttft("a"));
        // Alternate: every request goes to the other model than the last one.
        switching.push(d.ttft(if i % 2 == 0 { "b" } else { "a" }));
        switching.push(d.ttft(if i % 2 == 0 { "a" } else { "b" }));
    }
    let (direct, same, switching) = (median(direct), median(same), median(switching));
    println!("{fixture_name} (median of {RUNS})");
    println!("  engine direct TTFT          {:9.2} ms", ms(direct));
    println!("  HTTP /api/chat TTFT         {:9.2} ms  (overhead {:+.2} ms)", ms(same), ms(same) - ms(direct));
    println!("  HTTP request overhead       {:9.3} ms  (resident model, no MLX work; target < 1 ms)", ms(http));
    let pct = (ms(switching) / ms(same) - 1.0) * 100.0;
    println!("  switching A<->B TTFT        {:9.2} ms  ({pct:+.1}% vs same model; target < 5%)", ms(switching));
    #[allow(clippy::cast_precision_loss)]
    let mb = bytes as f64 / 1e6;
    println!("  cold load                   {:9.2} ms  for {mb:.1} MB on disk ({:.0} MB/s)", ms(cold), mb / cold.as_secs_f64());
    #[allow(clippy::cast_precision_loss)]
    let rss_mb = idle_rss as f64 / 1e6;
    println!("  idle RSS                    {rss_mb:9.1} MB  (target < 30 MB)");
}

fn main() {
    for name in ["tiny-llama-f32", "smollm2-135m-instruct-q4"] {
        compare(name);
    }
}
