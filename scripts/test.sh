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

if [ -d "$ROOT/tests/python" ] && ls "$ROOT"/tests/python/test_*.py >/dev/null 2>&1; then
    # The debug ollmlxd that `cargo test` just built.
    OLLMLXD="$ROOT/target/debug/ollmlxd" "$ROOT/.venv/bin/python" -m pytest -q "$ROOT/tests/python"
fi
