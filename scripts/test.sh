#!/usr/bin/env bash
# The test command: sets everything up (idempotent) and runs every test — the Rust workspace
# (unit, integration, end-to-end against the real daemon, mlx-lm oracle comparisons) and the
# Python client-compatibility suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

"$ROOT/scripts/setup.sh"
"$ROOT/scripts/setup-test-tools.sh"

# MLX's CPU backend and the oracle share the machine's cores; one test binary at a time keeps
# the timings of the tests that wait on a daemon sane.
cargo test --workspace --no-fail-fast -- --test-threads="${OLLMLX_TEST_THREADS:-2}"

# Python: the fixture builders and the oracle (tests/fixtures, tests/oracle), and the official
# ollama/openai clients against the debug ollmlxd that `cargo test` just built (tests/python).
blas=/usr/lib/x86_64-linux-gnu/libopenblas.so.0
[ -e "$blas" ] && export LD_PRELOAD="$blas"
OLLMLXD="$ROOT/target/debug/ollmlxd" "$ROOT/.venv/bin/python" -m pytest -q \
    "$ROOT/tests/fixtures" "$ROOT/tests/oracle" "$ROOT/tests/python"
