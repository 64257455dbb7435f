//! Serving benchmark (issue 6, throughput): ollmlxd beside `mlx_lm.server` and llama.cpp's
//! `llama-server` on the same weights, one server at a time on a free loopback port.
//!
//! For each stream count N: N concurrent streaming `/v1/chat/completions` requests (temperature
//! 0, `max_tokens` = --tokens), measuring aggregate decode tokens/s, mean TTFT and per-stream
//! tokens/s. Then the second-turn TTFT of a ~2,000-token conversation with each server's prefix
//! (prompt) cache on and off. Prints Markdown tables with ratios ours ÷ peer.
//!
//! Run: `cargo bench -p ollmlx-tests --bench serving -- [--model-dir DIR] [--gguf FILE]
//! [--streams 1,4,8,16] [--tokens N] [--peers ours,mlx_lm,llamacpp]` (defaults: SmolLM2-135M;
//! llama.cpp needs `scripts/build-peers.sh`). Every server is killed when its measure ends,
//! also on error or panic (drop). Not run by scripts/test.sh.

#[path = "serving/args.rs"]
mod args;
#[path = "serving/client.rs"]
mod client;
#[path = "serving/convo.rs"]
mod convo;
#[path = "serving/load.rs"]
mod load;
#[path = "serving/report.rs"]
mod report;
#[path = "serving/servers.rs"]
mod servers;

use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use clap::Parser;
use serde_json::{json, Value};

use args::{Args, Peer, Settings};
use client::RequestOptions;
use report::{PeerResults, Results};

/// Tokens of each answer in the second-turn measure (its TTFT is what counts).
const TURN_TOKENS: u32 = 16;

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("serving: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let s = Settings::resolve(args)?;
    if s.peers.contains(&Peer::Ours) {
        servers::ensure_ollmlxd(&s)?;
    }
    let convo = if s.prefix_tokens > 0 { Some(convo::conversation(&s.model_dir, s.prefix_tokens)?) } else { None };
    print_header(&s, convo.as_ref().map(|c| c.1));
    let mut results = Results::new();
    for &peer in &s.peers {
        results.insert(peer, measure(peer, &s, convo.as_ref().map(|c| &c.0)));
    }
    report::print(&s, &results);
    Ok(())
}

fn options(s: &Settings, max_tokens: u32, cache_prompt: bool) -> RequestOptions {
    RequestOptions { max_tokens, ignore_eos: s.ignore_eos, cache_prompt }
}

/// All measures of one peer; a failure is recorded and the next peer still runs.
fn measure(peer: Peer, s: &Settings, convo: Option<&Value>) -> PeerResults {
    let mut r = PeerResults::default();
    if let Some(why) = servers::unavailable(peer, s) {
        eprintln!("{}: skipped: {why}", peer.label());
        r.skipped = Some(why);
        return r;
    }
    if let Err(e) = throughput_and_turns(peer, s, convo, &mut r) {
        eprintln!("{}: {e:#}", peer.label());
        r.errors.push(format!("{e:#}"));
    }
    if let Some(messages) = convo {
        if let Err(e) = turns_cache_off(peer, s, messages, &mut r) {
            eprintln!("{} (cache off): {e:#}", peer.label());
            r.errors.push(format!("cache off: {e:#}"));
        }
    }
    r
}

/// Loads the model and compiles the first shapes before anything is timed.
fn warm_up(http: &reqwest::blocking::Client, target: &servers::Target, s: &Settings) -> Result<()> {
    let messages = json!([{"role": "user", "content": "Say hello."}]);
    client::chat(http, target, &messages, options(s, 8, true)).context("warm-up request")?;
    Ok(())
}

fn throughput_and_turns(peer: Peer, s: &Settings, convo: Option<&Value>, r: &mut PeerResults) -> Result<()> {
    let server = servers::start(peer, s, true)?;
    let http = client::client(s.request_timeout_s)?;
    let target = &server.target;
    warm_up(&http, target, s).with_context(|| server.log_tail())?;
    for &n in &s.streams {
        let l = load::run(&http, target, n, options(s, s.tokens, true)).with_context(|| server.log_tail())?;
        eprintln!(
            "{}: {n} streams: {} tokens, {:.1} decode tok/s, mean TTFT {:.0} ms",
            peer.label(),
            l.tokens,
            l.decode_tps,
            l.mean_ttft.as_secs_f64() * 1e3
        );
        r.loads.insert(n, l);
    }
    if let Some(messages) = convo {
        let t = convo::two_turns(&http, target, messages, options(s, TURN_TOKENS, true)).with_context(|| server.log_tail())?;
        eprintln!("{}: cache on: turn 1 TTFT {:?}, turn 2 TTFT {:?}", peer.label(), t.first.ttft(), t.second.ttft());
        r.cache_on = Some(t);
    }
    Ok(())
}

/// The conversation again on a fresh server with its prefix cache off.
fn turns_cache_off(peer: Peer, s: &Settings, messages: &Value, r: &mut PeerResults) -> Result<()> {
    let server = servers::start(peer, s, false)?;
    let http = client::client(s.request_timeout_s)?;
    warm_up(&http, &server.target, s).with_context(|| server.log_tail())?;
    let t = convo::two_turns(&http, &server.target, messages, options(s, TURN_TOKENS, false)).with_context(|| server.log_tail())?;
    eprintln!("{}: cache off: turn 1 TTFT {:?}, turn 2 TTFT {:?}", peer.label(), t.first.ttft(), t.second.ttft());
    r.cache_off = Some(t);
    Ok(())
}

/// First line of a command's output, or `?`.
fn output_line(cmd: &mut Command) -> String {
    cmd.output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() { o.stderr } else { o.stdout };
            String::from_utf8_lossy(&text).lines().find(|l| !l.trim().is_empty()).unwrap_or("?").trim().to_string()
        })
        .unwrap_or_else(|| "?".to_string())
}

fn print_header(s: &Settings, convo_tokens: Option<usize>) {
    let commit = output_line(Command::new("git").args(["describe", "--always", "--dirty"]).current_dir(&s.root));
    let mlx_lm = output_line(Command::new(&s.python).args(["-c", "import mlx_lm; print(mlx_lm.__version__)"]));
    println!("### Serving: {}\n", s.model_dir.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()));
    println!("- commit measured: {commit}; ollmlxd: {}", s.ollmlxd.display());
    println!("- ours: ollmlxd, OLLMLX_NUM_PARALLEL={}, on {}", s.parallel(), s.model_dir.display());
    let preload = if s.openblas.is_some() { ", LD_PRELOAD OpenBLAS" } else { "" };
    println!(
        "- mlx_lm: mlx_lm.server {mlx_lm} --decode-concurrency {n} --prompt-concurrency {n}{preload}, on {}",
        s.mlx_lm_model_dir.display(),
        n = s.parallel()
    );
    match &s.gguf {
        Ok(gguf) if s.llama_server.exists() => {
            let version = output_line(Command::new(&s.llama_server).arg("--version"));
            println!("- llama.cpp: llama-server ({version}) -np {} on {}", s.parallel(), gguf.display());
        }
        _ => println!("- llama.cpp: not run (see below)"),
    }
    let eos = if s.ignore_eos { "ignore_eos sent" } else { "EOS honoured, tokens counted from usage" };
    println!("- temperature 0, max_tokens {}, {eos}", s.tokens);
    if let Some(n) = convo_tokens {
        println!("- second-turn measure: {n}-token conversation (content tokens by the model's tokenizer), {TURN_TOKENS}-token answers");
    }
}
