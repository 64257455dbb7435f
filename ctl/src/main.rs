//! ollmlxctl: the command-line client of ollmlx.
//!
//! Talks to `ollmlxd` over HTTP at `OLLMLX_HOST` (Ollama's `/api/*` routes and ollmlx's private
//! `/ollmlx/*` control routes, with the wire types of `ollmlx-api`), runs the daemon in the
//! foreground (`serve`), imports GGUF files straight into the store, and installs the daemon
//! as a per-user service through `ollmlx-launchd`.
//!
//! Layout: `client` (the one HTTP client, `OLLMLX_HOST` parsing), `commands/*` (one file per
//! command group), `table` (aligned tables, human sizes and durations), `exit` (the documented
//! exit codes). Errors are `anyhow` with context and are printed with `{:#}`.
//!
//! Not here: any model math or server logic; every answer comes from the daemon or the store.
#![forbid(unsafe_code)]

mod client;
mod commands;
mod exit;
mod table;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Control ollmlxd: load and unload models, inspect the pool, chat, and manage the service.
#[derive(Debug, Parser)]
#[command(name = "ollmlxctl", version, after_help = exit::HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load a model now and keep it resident
    Load {
        /// Model name, e.g. org/model:tag
        name: String,
        /// How long it stays loaded once idle: "5m", "1h", "300" (seconds), "-1" (forever)
        #[arg(long)]
        keep_alive: Option<String>,
        /// Pin it: never evicted, never expired
        #[arg(long)]
        pin: bool,
        /// Context length to load it for (num_ctx)
        #[arg(long)]
        context: Option<usize>,
    },
    /// Unload a model, or every model with --all
    Unload {
        /// Model name
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        name: Option<String>,
        /// Unload every loaded model
        #[arg(long)]
        all: bool,
        /// Return once the daemon accepted the request, without waiting for the model to go
        #[arg(long)]
        no_wait: bool,
    },
    /// Show the daemon, its memory budget and the resident models
    Status {
        /// Print the daemon's JSON answer
        #[arg(long)]
        json: bool,
    },
    /// List loaded models (as `ollama ps`)
    Ps {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// List the models in the store
    #[command(alias = "ls")]
    List {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Show a model's details
    Show(commands::models::ShowArgs),
    /// Pull a model from the Hugging Face hub
    Pull {
        /// Model name, e.g. mlx-community/SmolLM2-135M-Instruct-4bit
        name: String,
    },
    /// Remove models from the store
    Rm {
        /// Model names
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Copy a model to a new name
    Cp {
        /// Existing model
        source: String,
        /// New name
        destination: String,
    },
    /// Import a GGUF file into the store as an MLX model
    Import {
        /// The .gguf file
        file: PathBuf,
        /// Name for the imported model
        name: String,
    },
    /// Chat with a model: one answer to PROMPT, or an interactive chat without one
    Run(commands::run::RunArgs),
    /// Run the daemon (ollmlxd) in the foreground; arguments are passed to it
    #[command(disable_help_flag = true)]
    Serve {
        /// Arguments for ollmlxd; `ollmlxctl serve --help` shows the daemon's own help
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Install and control ollmlxd as a background service (launchd or systemd)
    Service {
        #[command(subcommand)]
        action: commands::service::Action,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { exit::USAGE } else { exit::OK });
        }
    };
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(exit::code(&e))
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    use commands::{models, pool, pull, run as chat, serve, service, status};
    match command {
        Command::Load { name, keep_alive, pin, context } => pool::load(&name, keep_alive.as_deref(), pin, context),
        Command::Unload { name, all, no_wait } => pool::unload(name.as_deref(), all, !no_wait),
        Command::Status { json } => status::status(json),
        Command::Ps { json } => status::ps(json),
        Command::List { json } => models::list(json),
        Command::Show(args) => models::show(&args),
        Command::Pull { name } => pull::pull(&name),
        Command::Rm { names } => models::remove(&names),
        Command::Cp { source, destination } => models::copy(&source, &destination),
        Command::Import { file, name } => pull::import(&file, &name),
        Command::Run(args) => chat::run(&args),
        Command::Serve { args } => serve::serve(&args),
        Command::Service { action } => service::service(action),
    }
}
