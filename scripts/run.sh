#!/usr/bin/env bash
# The main job: sets everything up (idempotent), builds in release mode and runs the daemon in the
# foreground with the default model (SmolLM2-135M-Instruct) in its store. Any arguments go to
# ollmlxd. Try it from another shell:
#   curl http://127.0.0.1:11434/api/chat -d '{"model":"HuggingFaceTB/SmolLM2-135M-Instruct","messages":[{"role":"user","content":"Why is the sky blue?"}]}'
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

STORE="${OLLMLX_MODELS:-$HOME/.ollmlx/models}"
DEFAULT="$STORE/HuggingFaceTB/SmolLM2-135M-Instruct"
if [ ! -f "$DEFAULT/config.json" ]; then
    # A plain MLX folder copied into the store is a model (the watcher registers it).
    echo "run: adding the default model to $STORE"
    mkdir -p "$(dirname "$DEFAULT")"
    tmp="$(mktemp -d "$STORE/.incoming.XXXXXX")"
    cp -R "$ROOT/.cache/models/smollm2-135m-instruct-q4/." "$tmp/"
    mv "$tmp" "$DEFAULT"
fi

cargo build --release -p ollmlx-daemon
export OLLMLX_MODELS="$STORE"
exec "$ROOT/target/release/ollmlxd" "$@"
