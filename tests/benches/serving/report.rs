//! Markdown tables of a run (stdout, ready to paste into BENCHMARKS.md): throughput per stream
//! count with ratios, per-server detail, second-turn TTFT, and the targets.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::args::{Peer, Settings};
use crate::convo::Turns;
use crate::load::LoadResult;

/// Everything measured on one server (or why it was not).
#[derive(Debug, Default)]
pub struct PeerResults {
    pub skipped: Option<String>,
    pub loads: BTreeMap<usize, LoadResult>,
    pub cache_on: Option<Turns>,
    pub cache_off: Option<Turns>,
    pub errors: Vec<String>,
}

pub type Results = BTreeMap<Peer, PeerResults>;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn cell(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_string(), |v| format!("{v:.digits$}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn tps(r: &Results, peer: Peer, n: usize) -> Option<f64> {
    r.get(&peer)?.loads.get(&n).map(|l| l.decode_tps)
}

pub fn print(s: &Settings, r: &Results) {
    println!("\n#### Aggregate decode tokens/s ({} max tokens per stream)\n", s.tokens);
    println!("| streams | ours | mlx_lm | llama.cpp | ours÷mlx_lm | ours÷llama.cpp | ours(N)÷ours(1) |");
    println!("|---|---|---|---|---|---|---|");
    let one = tps(r, Peer::Ours, 1);
    for &n in &s.streams {
        let (ours, mlx, llama) = (tps(r, Peer::Ours, n), tps(r, Peer::MlxLm, n), tps(r, Peer::LlamaCpp, n));
        println!(
            "| {n} | {} | {} | {} | {} | {} | {} |",
            cell(ours, 1),
            cell(mlx, 1),
            cell(llama, 1),
            cell(ratio(ours, mlx), 2),
            cell(ratio(ours, llama), 2),
            cell(ratio(ours, one), 2)
        );
    }
    print_detail(s, r);
    if s.prefix_tokens > 0 {
        print_turns(r);
    }
    print_targets(r);
    for (peer, res) in r {
        if let Some(why) = &res.skipped {
            println!("\n{} skipped: {why}", peer.label());
        }
        for e in &res.errors {
            println!("\n{} failed: {e}", peer.label());
        }
    }
}

fn print_detail(s: &Settings, r: &Results) {
    println!("\n#### Per server\n");
    println!("| server | streams | tokens made | decode tok/s | wall tok/s | TTFT ms mean (min-max) | per-stream tok/s |");
    println!("|---|---|---|---|---|---|---|");
    for (peer, res) in r {
        for &n in &s.streams {
            let Some(l) = res.loads.get(&n) else { continue };
            println!(
                "| {} | {n} | {} | {:.1} | {:.1} | {:.0} ({:.0}-{:.0}) | {:.2} |",
                peer.label(),
                l.tokens,
                l.decode_tps,
                l.wall_tps,
                ms(l.mean_ttft),
                ms(l.min_ttft),
                ms(l.max_ttft),
                l.per_stream_tps
            );
        }
    }
}

fn print_turns(r: &Results) {
    println!("\n#### Second-turn TTFT (ms)\n");
    println!("| server | prompt tokens turn 1 / 2 | turn 1 | turn 2, cache on | cached tokens | turn 2, cache off | on÷turn 1 | off÷on |");
    println!("|---|---|---|---|---|---|---|---|");
    for (peer, res) in r {
        let Some(on) = &res.cache_on else { continue };
        let off = res.cache_off.as_ref().map(|t| ms(t.second.ttft()));
        let (t1, t2) = (ms(on.first.ttft()), ms(on.second.ttft()));
        let count = |v: Option<u64>| v.map_or_else(|| "?".to_string(), |v| v.to_string());
        println!(
            "| {} | {} / {} | {t1:.0} | {t2:.0} | {} | {} | {:.2} | {} |",
            peer.label(),
            count(on.first.prompt_tokens),
            count(on.second.prompt_tokens),
            count(on.second.cached_tokens),
            cell(off, 0),
            t2 / t1,
            cell(ratio(off, Some(t2)), 2)
        );
    }
}

fn print_targets(r: &Results) {
    let ours = r.get(&Peer::Ours);
    let scale = ratio(tps(r, Peer::Ours, 8), tps(r, Peer::Ours, 1));
    let vs_mlx = ratio(tps(r, Peer::Ours, 8), tps(r, Peer::MlxLm, 8));
    let second = ours.and_then(|o| o.cache_on.as_ref()).map(|t| ms(t.second.ttft()) / ms(t.first.ttft()));
    let verdict = |v: Option<f64>, ok: fn(f64) -> bool| match v {
        None => "not measured".to_string(),
        Some(v) => format!("{v:.2} ({})", if ok(v) { "met" } else { "not met" }),
    };
    println!("\n#### Issue 6 targets (ours)\n");
    println!("- 8 streams ≥ 4× one stream's tokens/s: {}", verdict(scale, |v| v >= 4.0));
    println!("- ≥ 1.2× mlx_lm.server at 8 streams: {}", verdict(vs_mlx, |v| v >= 1.2));
    println!("- second-turn TTFT ≤ 0.30 of the first turn: {}", verdict(second, |v| v <= 0.30));
}
