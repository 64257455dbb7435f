"""Tests of oracle.py as the Rust tests use it: a subprocess printing JSON.

Run: LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libopenblas.so.0 .venv/bin/python -m pytest tests/oracle
(after scripts/setup.sh has built .cache/models/).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
MODELS = HERE.parents[1] / ".cache" / "models"
# "<|im_start|>user\nHello, who are you?<|im_end|>\n<|im_start|>assistant\n"
CHAT_IDS = [1, 4093, 198, 19556, 28, 617, 359, 346, 47, 2, 198, 1, 520, 9531, 198]


def oracle(model, prompts, tmp_path, max_tokens, *flags):
    path = MODELS / model
    if not (path / "config.json").is_file():
        pytest.fail(f"{path} missing: run scripts/setup.sh")
    prompts_file = tmp_path / "prompts.json"
    prompts_file.write_text(json.dumps(prompts))
    cmd = [sys.executable, str(HERE / "oracle.py"), "--model", str(path), "--prompts-json",
           str(prompts_file), "--max-tokens", str(max_tokens), *flags]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=os.environ)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_output_shape_and_greedy_consistency(tmp_path):
    prompts = [CHAT_IDS, {"text": "Hello there"},
               {"messages": [{"role": "user", "content": "Hello, who are you?"}]}]
    results = oracle("tiny/tiny-llama-f32", prompts, tmp_path, 8)
    assert len(results) == 3
    for result in results:
        assert len(result["tokens"]) == 8
        assert len(result["logits"]) == 49152
        # The first generated token is the argmax of the reported first-step logits.
        assert int(np.argmax(result["logits"])) == result["tokens"][0]
    assert results[0]["prompt_tokens"] == CHAT_IDS
    # The chat template of SmolLM2 prepends its default system prompt.
    assert results[2]["prompt_tokens"][:3] == [1, 9690, 198]
    assert results[2]["prompt_tokens"][-4:] == [1, 520, 9531, 198]


def test_bad_prompt_is_an_error(tmp_path):
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps([[-1, 5]]))
    cmd = [sys.executable, str(HERE / "oracle.py"), "--model", str(MODELS / "tiny/tiny-llama-f32"),
           "--prompts-json", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode != 0 and "token ids" in done.stderr


def test_smollm2_dequantized_equals_f32_folder_and_reports_eos(tmp_path):
    prompts = [{"text": "The capital of France is"}]
    deq = oracle("smollm2-135m-instruct-q4", prompts, tmp_path, 32, "--dequantize-f32")[0]
    f32 = oracle("smollm2-135m-instruct-f32", prompts, tmp_path, 32)[0]
    assert deq["tokens"] == f32["tokens"]
    assert np.abs(np.array(deq["logits"]) - np.array(f32["logits"])).max() < 1e-4
    # Greedy SmolLM2 answers " Paris." and ends its turn: EOS (<|im_end|> = 2) is reported,
    # and generation went on past it (exactly max-tokens tokens).
    assert deq["first_eos"] is not None and deq["tokens"][deq["first_eos"]] == 2
    assert 2 not in deq["tokens"][: deq["first_eos"]]
    assert len(deq["tokens"]) == 32
