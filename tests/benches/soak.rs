//! The long soak: `cargo bench -p ollmlx-tests --bench soak -- [--requests N] [--seconds S]
//! [--workers W] [--seed X]` (defaults: 2000 requests, at most 1800 s, 4 workers). Prints the
//! table and exits non-zero when a must-be-zero count is not zero (docs/reliability.md).
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use ollmlx_tests::soak::{self, Config};

fn parse_args() -> Result<Config> {
    let mut cfg = Config { requests: 2000, seconds: 1800, workers: 4, seed: 1 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| -> Result<u64> {
            let v = args.next().with_context(|| format!("{what} needs a value"))?;
            v.parse().with_context(|| format!("{what} {v:?} is not a number"))
        };
        match arg.as_str() {
            "--requests" => cfg.requests = value("--requests")?,
            "--seconds" => cfg.seconds = value("--seconds")?,
            "--workers" => cfg.workers = usize::try_from(value("--workers")?)?,
            "--seed" => cfg.seed = value("--seed")?,
            // cargo bench passes --bench to every bench binary.
            "--bench" => {}
            other => bail!("unknown argument {other:?} (expected --requests, --seconds, --workers, --seed)"),
        }
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let run = || -> Result<bool> {
        let cfg = parse_args()?;
        eprintln!("soak: {cfg:?}");
        let report = soak::run(&cfg)?;
        println!("{}", report.table());
        let violations = report.violations();
        for p in &report.stats.problems {
            println!("problem: {p}");
        }
        for v in &violations {
            println!("VIOLATION: {v}");
        }
        if !violations.is_empty() {
            println!("daemon log: {}", report.log);
        }
        Ok(violations.is_empty())
    };
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak failed: {e:#}");
            ExitCode::FAILURE
        }
    }
}
