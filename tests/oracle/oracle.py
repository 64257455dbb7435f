#!/usr/bin/env python3
"""The mlx-lm oracle the Rust tests run as a subprocess.

    oracle.py --model DIR --prompts-json FILE [--max-tokens 64] [--dequantize-f32]

FILE is a JSON list; each item is one prompt, either
  - a list of token ids (what the Rust tests send: they tokenize themselves),
  - {"text": "...", "add_special_tokens": false}: encoded with the model's tokenizer,
  - {"messages": [{"role": ..., "content": ...}, ...]}: rendered with the model's chat
    template (add_generation_prompt=True) and encoded.

For each prompt the oracle runs mlx-lm's own `generate_step` greedily (temperature 0, argmax)
for exactly --max-tokens tokens, WITHOUT stopping at EOS, and prints on stdout one JSON list:

    [{"prompt_tokens": [...],  # the ids actually fed (equal to the input for id lists)
      "tokens": [...],         # exactly max-tokens generated ids
      "first_eos": n | null,   # index in "tokens" of the first EOS id (config eos_token_id(s))
      "logits": [...]}]        # float32 logits at the last prompt position (the first step),
                               # written in shortest float32 form

Dtype policy:
  - default: the model runs as stored (quantized layers stay quantized; float16/bfloat16 stay
    as they are; mixed dtypes promote as MLX promotes them);
  - --dequantize-f32: after loading, every quantized layer is replaced by a float32
    Linear/Embedding holding its dequantized weight, and every parameter is cast to float32.
    This mirrors the engine's CPU policy, so tokens and logits compare with tight tolerances.

The logits are captured inside generate_step (through a logits processor that returns them
unchanged), so they come from exactly the computation that picked the first token, including
mlx-lm's chunked prefill.

Run with LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libopenblas.so.0 on Linux (a warning goes to stderr
otherwise). Everything but the JSON result goes to stderr.
"""

import argparse
import json
import sys
from pathlib import Path

import mlx.core as mx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oracle_common import load_model, warn_without_openblas  # noqa: E402


def prompt_ids(item, tokenizer):
    """Token ids of one prompt item (see the module docs for the accepted forms)."""
    if isinstance(item, list):
        if not item or not all(isinstance(t, int) and t >= 0 for t in item):
            raise ValueError(f"prompt must be a non-empty list of token ids, got {item!r}")
        return item
    if isinstance(item, dict) and "messages" in item:
        ids = tokenizer.apply_chat_template(item["messages"], add_generation_prompt=True)
        return list(ids)
    if isinstance(item, dict) and "text" in item:
        return tokenizer.encode(item["text"], add_special_tokens=item.get("add_special_tokens", False))
    raise ValueError(f"unsupported prompt item {item!r}")


def run_prompt(model, ids, max_tokens, eos_ids):
    from mlx_lm.generate import generate_step

    captured = []

    def capture_first_logits(_tokens, logits):
        if not captured:
            captured.append(logits[0].astype(mx.float32))
        return logits

    tokens = [
        token
        for token, _ in generate_step(
            mx.array(ids), model, max_tokens=max_tokens, logits_processors=[capture_first_logits]
        )
    ]
    first_eos = next((i for i, t in enumerate(tokens) if t in eos_ids), None)
    logits = np.array(captured[0], dtype=np.float32)
    if not np.isfinite(logits).all():
        raise ValueError("non-finite logits")
    return {"prompt_tokens": list(ids), "tokens": tokens, "first_eos": first_eos, "logits": logits}


def write_json(results, out):
    """json.dumps, except logits go out as shortest-round-trip float32 text (half the size)."""
    out.write("[")
    for n, result in enumerate(results):
        logits = result.pop("logits")
        head = json.dumps(result)[:-1]
        floats = ",".join(str(v) for v in logits)  # str(np.float32) is the shortest repr
        out.write(("," if n else "") + f'{head}, "logits": [{floats}]}}')
    out.write("]\n")
    out.flush()


def main():
    parser = argparse.ArgumentParser(description="mlx-lm greedy oracle (see module docs)")
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--prompts-json", required=True, type=Path)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--dequantize-f32", action="store_true")
    args = parser.parse_args()
    if args.max_tokens < 1:
        parser.error("--max-tokens must be >= 1")
    warn_without_openblas()

    # mlx-lm and transformers may print to stdout; keep stdout for the JSON result only.
    result_out, sys.stdout = sys.stdout, sys.stderr
    prompts = json.loads(args.prompts_json.read_text())
    if not isinstance(prompts, list) or not prompts:
        raise SystemExit(f"{args.prompts_json}: expected a non-empty JSON list of prompts")
    model, tokenizer = load_model(args.model, args.dequantize_f32)
    eos_ids = set(tokenizer.eos_token_ids)
    results = [
        run_prompt(model, prompt_ids(item, tokenizer), args.max_tokens, eos_ids) for item in prompts
    ]
    write_json(results, result_out)


if __name__ == "__main__":
    main()
