//! How a batched decode step scales with the number of sequences, in the engine alone (no HTTP,
//! no scheduler): N generations prefill, then step together through
//! [`ollmlx_engine::step_generations`] until each has produced `--gen-tokens` tokens.
//!
//! ```text
//! cargo bench -p ollmlx-engine --bench batch -- [--model DIR] [--streams 1,2,4,8,16]
//!     [--prompt-tokens 128] [--gen-tokens 128]
//! ```
//! Prints, per N: milliseconds per decode step, aggregate decode tokens/s and the ratio to one
//! sequence. Set against the serving bench's numbers, it tells the engine's share of a gap
//! from the daemon's.
#[path = "common/prompt_ids.rs"]
mod prompt_ids;

use ollmlx_engine::mlx;
use prompt_ids::prompt_ids;
use ollmlx_engine::{step_generations, step_times, Event, GenerateParams, Generation, LoadOptions, Model, PREFILL_STEP};
use std::path::{Path, PathBuf};
use std::time::Instant;

struct Args {
    model: PathBuf,
    streams: Vec<usize>,
    prompt_tokens: usize,
    gen_tokens: usize,
}

fn parse() -> Args {
    let mut a = Args {
        model: Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models/smollm2-135m-instruct-f32"),
        streams: vec![1, 2, 4, 8, 16],
        prompt_tokens: 128,
        gen_tokens: 128,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--model" => a.model = PathBuf::from(v()),
            "--streams" => a.streams = v().split(',').map(|s| s.parse().expect("--streams")).collect(),
            "--prompt-tokens" => a.prompt_tokens = v().parse().expect("--prompt-tokens"),
            "--gen-tokens" => a.gen_tokens = v().parse().expect("--gen-tokens"),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// Decode steps and their time, once every sequence has its first token.
fn run(model: &Model, n: usize, prompt_tokens: usize, gen: usize) -> (usize, f64, (f64, f64, f64)) {
    let vocab = model.info().vocab_size;
    let mut gens: Vec<Generation<'_>> = (0..n)
        .map(|i| {
            // A different prompt per sequence, of slightly different lengths (as real requests are).
            let params = GenerateParams { prompt: prompt_ids(i as u64 + 1, prompt_tokens + i * 3, vocab), max_tokens: Some(gen), ignore_eos: true, ..Default::default() };
            Generation::new(model, params).expect("generation")
        })
        .collect();
    let mut tokens = vec![0usize; n];
    let mut times = step_times();
    let mut start = None;
    let mut steps = 0;
    while gens.iter().any(|g| !g.is_done()) {
        {
            let mut refs: Vec<&mut Generation<'_>> = gens.iter_mut().collect();
            step_generations(&mut refs, PREFILL_STEP).expect("step");
        }
        for (g, count) in gens.iter_mut().zip(tokens.iter_mut()) {
            while let Some(e) = g.next_event() {
                if matches!(e, Event::Token { .. }) {
                    *count += 1;
                }
            }
        }
        match start {
            None if tokens.iter().all(|&c| c > 0) => {
                start = Some(Instant::now());
                times = step_times();
            }
            Some(_) => steps += 1,
            None => {}
        }
    }
    let end = step_times();
    // Per decode step as counted above, so the three parts add up to the step time.
    let per_step = |a: std::time::Duration, b: std::time::Duration| (a - b).as_secs_f64() * 1e3 / steps.max(1) as f64;
    let split = (per_step(end.build, times.build), per_step(end.dispatch, times.dispatch), per_step(end.wait, times.wait));
    (steps, start.map_or(0.0, |s| s.elapsed().as_secs_f64()), split)
}

fn main() {
    // As ollmlxd does (before any thread exists).
    mlx::prefer_unfused_prompt_attention();
    let args = parse();
    let model = Model::load(&args.model, &LoadOptions::default()).expect("loading the model");
    let device = mlx::device_info().map(|d| format!("{:?} {}", d.device, d.name)).unwrap_or_default();
    println!("model {} | device {device} | MLX {}", args.model.display(), mlx::mlx_version());
    println!("prompts ~{} tokens, {} generated per sequence (EOS ignored), after a warm-up of each N", args.prompt_tokens, args.gen_tokens);
    println!("\n| sequences | ms / step | decode tok/s | ÷ one sequence | build ms | dispatch ms | wait ms |\n|---|---|---|---|---|---|---|");
    let mut one = None;
    for &n in &args.streams {
        run(&model, n, args.prompt_tokens, 16);
        let (steps, secs, (build, dispatch, wait)) = run(&model, n, args.prompt_tokens, args.gen_tokens);
        let tps = (steps * n) as f64 / secs.max(1e-9);
        if n == 1 {
            one = Some(tps);
        }
        let ratio = one.map_or_else(|| "-".to_string(), |o| format!("{:.2}", tps / o));
        println!("| {n} | {:.2} | {tps:.1} | {ratio} | {build:.2} | {dispatch:.2} | {wait:.2} |", secs * 1e3 / steps.max(1) as f64);
    }
}
