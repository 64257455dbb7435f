//! Finds `ollmlxd` and `ollmlxctl` for the soak. `CARGO_BIN_EXE_*` only names binaries of the
//! crate under test, so the soak looks in the cargo profile folder its own executable runs from
//! (`target/debug` for `cargo test`, `target/release` for `cargo bench`) and first runs
//! `cargo build` for that profile, so the binaries are never older than the sources.
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Overrides the folder holding `ollmlxd` and `ollmlxctl` (no build then).
pub const BIN_DIR_VAR: &str = "OLLMLX_SOAK_BIN_DIR";

/// The two binaries.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `ollmlxd`.
    pub daemon: PathBuf,
    /// `ollmlxctl`.
    pub ctl: PathBuf,
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// `target/<profile>` of the running executable (tests and benches live in its `deps/`).
fn profile_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the running executable")?;
    let mut dir = exe.parent().context("executable has no folder")?.to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir)
}

/// Builds (if needed) and returns the daemon and ctl binaries of this profile.
pub fn find() -> Result<Binaries> {
    let dir = match std::env::var_os(BIN_DIR_VAR) {
        Some(d) => PathBuf::from(d),
        None => {
            let dir = profile_dir()?;
            build(dir.file_name().is_some_and(|n| n == "release"))?;
            dir
        }
    };
    let bins = Binaries { daemon: dir.join("ollmlxd"), ctl: dir.join("ollmlxctl") };
    for b in [&bins.daemon, &bins.ctl] {
        if !b.is_file() {
            bail!("{} is missing (set {BIN_DIR_VAR} or build the workspace)", b.display());
        }
    }
    Ok(bins)
}

fn build(release: bool) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "ollmlx-daemon", "-p", "ollmlx-ctl", "--bins"]).current_dir(repo_root());
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().context("running cargo build for ollmlxd and ollmlxctl")?;
    if !status.success() {
        bail!("cargo build -p ollmlx-daemon -p ollmlx-ctl failed ({status})");
    }
    Ok(())
}
