//! `ollmlxd`: a foreground daemon (launchd/systemd supervise it) serving the Ollama API.
//! Settings: flags > `OLLMLX_*` environment > `~/.ollmlx/config.toml`; `ollmlxd --help`
//! lists them. An invalid setting stops the start with a message and exit code 2.

use clap::Parser;

fn main() {
    // Before any thread exists: it sets an environment variable MLX reads.
    ollmlx_engine::mlx::prefer_unfused_prompt_attention();
    let flags = ollmlx_daemon::config::Flags::parse();
    if let Err(e) = ollmlx_daemon::server::run(flags) {
        eprintln!("ollmlxd: error: {e:#}");
        std::process::exit(2);
    }
}
