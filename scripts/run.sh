#!/usr/bin/env bash
# The main job: sets everything up (idempotent), builds in release mode and generates an answer
# from the default model (SmolLM2-135M-Instruct) through the engine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/setup.sh"
exec cargo run --release -p ollmlx-engine --example generate -- "$@"
