//! Side-by-side speed of our engine and mlx-lm on the same model, backend and prompt.
//!
//! ```text
//! cargo bench -p ollmlx-engine --bench decode -- [--model DIR] [--prompt-tokens 512]
//!     [--gen-tokens 256] [--trials 3] [--stock-model DIR] [--no-peer]
//! ```
//! Both sides decode exactly `--gen-tokens` tokens (EOS ignored) after the same random
//! `--prompt-tokens` prompt, and report prefill tok/s (prompt / time to first token), decode tok/s
//! (generated tokens / time after the first token, mlx-lm's formula), time to first token and
//! MLX peak memory. `--stock-model` additionally runs mlx-lm as shipped (quantized model as stored,
//! the wheel's bundled BLAS) to show what the CPU policy (f32 + OpenBLAS) gains.
#[path = "common/prompt_ids.rs"]
mod prompt_ids;

use ollmlx_engine::mlx::{self, memory};
use prompt_ids::prompt_ids;
use ollmlx_engine::{Event, GenerateParams, Generation, LoadOptions, Model};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

#[derive(Default, Clone, Copy)]
struct Run {
    prefill_tps: f64,
    decode_tps: f64,
    ttft_s: f64,
    peak_bytes: f64,
}

struct Args {
    model: PathBuf,
    stock_model: Option<PathBuf>,
    prompt_tokens: usize,
    gen_tokens: usize,
    trials: usize,
    peer: bool,
}

/// The checkout: the current directory when it has the oracle scripts (a copied binary on the GPU
/// machine), else the one this bench was built from.
fn root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    if cwd.join("tests/oracle/bench_mlx_lm.py").is_file() {
        return cwd;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Model paths are handed to a subprocess that may run elsewhere: make them absolute.
fn absolute(p: String) -> PathBuf {
    std::fs::canonicalize(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// The project's venv interpreter, else `python3` (the GPU machine's system Python).
fn python() -> PathBuf {
    let venv = root().join(".venv/bin/python");
    if venv.exists() { venv } else { PathBuf::from("python3") }
}

fn parse() -> Args {
    let mut a = Args {
        model: root().join(".cache/models/smollm2-135m-instruct-f32"),
        stock_model: None,
        prompt_tokens: 512,
        gen_tokens: 256,
        trials: 3,
        peer: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--model" => a.model = absolute(v()),
            "--stock-model" => a.stock_model = Some(absolute(v())),
            "--prompt-tokens" => a.prompt_tokens = v().parse().expect("--prompt-tokens"),
            "--gen-tokens" => a.gen_tokens = v().parse().expect("--gen-tokens"),
            "--trials" => a.trials = v().parse().expect("--trials"),
            "--no-peer" => a.peer = false,
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// Deterministic prompt ids (xorshift), the same for both sides through a JSON file.
fn ours_once(model: &Model, prompt: &[u32], gen: usize) -> Run {
    memory::reset_peak();
    let params = GenerateParams { prompt: prompt.to_vec(), max_tokens: Some(gen), ignore_eos: true, ..Default::default() };
    let t0 = Instant::now();
    let mut g = Generation::new(model, params).expect("generation");
    let mut ttft = None;
    let mut n = 0;
    while let Some(e) = g.step().expect("step") {
        match e {
            Event::Token { .. } => {
                n += 1;
                ttft.get_or_insert_with(|| t0.elapsed().as_secs_f64());
            }
            Event::Done(_) => break,
            Event::Text(_) => {}
        }
    }
    let total = t0.elapsed().as_secs_f64();
    let ttft = ttft.unwrap_or(total);
    Run {
        prefill_tps: prompt.len() as f64 / ttft,
        decode_tps: n as f64 / (total - ttft).max(1e-9),
        ttft_s: ttft,
        peak_bytes: memory::peak() as f64,
    }
}

fn mean(runs: &[Run]) -> Run {
    let k = runs.len().max(1) as f64;
    let s = |f: fn(&Run) -> f64| runs.iter().map(f).sum::<f64>() / k;
    Run { prefill_tps: s(|r| r.prefill_tps), decode_tps: s(|r| r.decode_tps), ttft_s: s(|r| r.ttft_s), peak_bytes: s(|r| r.peak_bytes) }
}

fn peer(model: &Path, ids_file: &Path, trials: usize, dequantize: bool, openblas: bool, gen: usize) -> Option<Run> {
    let mut cmd = Command::new(python());
    cmd.arg(root().join("tests/oracle/bench_mlx_lm.py"))
        .arg("--model")
        .arg(model)
        .arg("--prompt-ids")
        .arg(ids_file)
        .args(["--gen-tokens", &gen.to_string(), "--trials", &trials.to_string()]);
    if dequantize {
        cmd.arg("--dequantize-f32");
    }
    let blas = Path::new("/usr/lib/x86_64-linux-gnu/libopenblas.so.0");
    if openblas && blas.exists() {
        cmd.env("LD_PRELOAD", blas);
    }
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!("mlx-lm peer failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    let f = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    Some(Run { prefill_tps: f("prefill_tps"), decode_tps: f("decode_tps"), ttft_s: f("ttft_s"), peak_bytes: f("peak_memory_bytes") })
}

fn row(name: &str, r: &Run) {
    println!(
        "{name:<28} {:>12.1} {:>12.1} {:>10.1} {:>12.1}",
        r.prefill_tps,
        r.decode_tps,
        r.ttft_s * 1e3,
        r.peak_bytes / 1e6
    );
}

fn main() {
    let args = parse();
    let model = Model::load(&args.model, &LoadOptions::default()).expect("loading the model");
    let prompt = prompt_ids(0, args.prompt_tokens, model.info().vocab_size);
    let ids_file = std::env::temp_dir().join(format!("ollmlx-bench-prompt-{}.json", std::process::id()));
    std::fs::write(&ids_file, serde_json::to_string(&prompt).expect("json")).expect("writing the prompt");
    let device = mlx::device_info().map(|d| format!("{:?} {}", d.device, d.name)).unwrap_or_default();
    println!("model {} | device {device} | MLX {} | BLAS {}", args.model.display(), mlx::mlx_version(), mlx::blas_info());
    println!("prompt {} tokens, {} generated (EOS ignored), {} trials after a warm-up", args.prompt_tokens, args.gen_tokens, args.trials);
    // Warm up with the measured shapes (GPU backends compile kernels per shape on first use).
    ours_once(&model, &prompt, 16);
    let ours = mean(&(0..args.trials).map(|_| ours_once(&model, &prompt, args.gen_tokens)).collect::<Vec<_>>());
    drop(model);
    println!("\n{:<28} {:>12} {:>12} {:>10} {:>12}", "", "prefill tok/s", "decode tok/s", "TTFT ms", "peak MB");
    row("ollmlx", &ours);
    if args.peer {
        let cpu = mlx::Device::default_device() == mlx::Device::Cpu;
        if let Some(p) = peer(&args.model, &ids_file, args.trials, cpu, true, args.gen_tokens) {
            row("mlx-lm (same dtype, BLAS)", &p);
            println!(
                "{:<28} {:>12.2} {:>12.2} {:>10.2} {:>12.2}",
                "ratio ollmlx / mlx-lm",
                ours.prefill_tps / p.prefill_tps,
                ours.decode_tps / p.decode_tps,
                p.ttft_s / ours.ttft_s,
                ours.peak_bytes / p.peak_bytes
            );
        }
        if let Some(stock) = &args.stock_model {
            // Stock mlx-lm on this CPU decodes at well under 1 tok/s: a short prompt and run suffice.
            let (gen, short) = (args.gen_tokens.min(8), &prompt[..prompt.len().min(64)]);
            let short_file = ids_file.with_extension("short.json");
            std::fs::write(&short_file, serde_json::to_string(short).expect("json")).expect("writing the prompt");
            let ours_short = ours_once(&Model::load(&args.model, &LoadOptions::default()).expect("reload"), short, gen);
            if let Some(p) = peer(stock, &short_file, 1, false, false, gen) {
                println!("\nstock comparison: {} prompt tokens, {gen} generated", short.len());
                row("ollmlx (f32 + OpenBLAS)", &ours_short);
                row("mlx-lm stock (as stored)", &p);
                let gain = (ours_short.prefill_tps / p.prefill_tps, ours_short.decode_tps / p.decode_tps);
                println!("{:<28} {:>11.1}x {:>11.1}x", "CPU policy gain", gain.0, gain.1);
            }
            let _ = std::fs::remove_file(short_file);
        }
    }
    let _ = std::fs::remove_file(ids_file);
}
