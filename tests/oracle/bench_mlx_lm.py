#!/usr/bin/env python3
"""mlx-lm's speed on one model: the peer our engine's benchmarks compare against.

    bench_mlx_lm.py --model DIR [--dequantize-f32] [--prompt-tokens 512] [--gen-tokens 256]
                    [--trials 3] [--prompt-ids FILE]

Measures the way `mlx_lm.benchmark` / `stream_generate` report it: EOS is ignored so exactly
--gen-tokens tokens are decoded; prefill tok/s = prompt tokens / time to the first token;
decode tok/s = generated tokens / time after the first token (mlx-lm's own formula, which
counts the first token in the numerator); peak memory = mx.get_peak_memory() (reset before
each trial, so it covers weights plus that trial's activations and KV cache). One untimed
warm-up run comes first. The prompt is --prompt-tokens random ids drawn after mx.random.seed(0)
exactly as mlx_lm.benchmark draws them, or the JSON id list in --prompt-ids (to feed the
engine's benchmark the same ids).

Prints one JSON object on stdout: averages over the trials plus each trial. Run with
LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libopenblas.so.0 on Linux.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import mlx.core as mx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from oracle_common import load_model, warn_without_openblas  # noqa: E402


def bench_prompt(args, vocab_size):
    if args.prompt_ids:
        ids = json.loads(args.prompt_ids.read_text())
        if not isinstance(ids, list) or not all(isinstance(t, int) for t in ids):
            raise SystemExit(f"{args.prompt_ids}: expected a JSON list of token ids")
        return ids
    # The same draw as mlx_lm.benchmark: seed 0, then randint over the whole vocabulary.
    mx.random.seed(0)
    return mx.random.randint(0, vocab_size, (1, args.prompt_tokens)).tolist()[0]


def one_trial(model, tokenizer, prompt, gen_tokens):
    from mlx_lm import stream_generate

    mx.reset_peak_memory()
    start = time.perf_counter()
    last = None
    for response in stream_generate(model, tokenizer, prompt, max_tokens=gen_tokens):
        last = response
    total = time.perf_counter() - start
    if last is None or last.generation_tokens != gen_tokens:
        raise RuntimeError(f"expected {gen_tokens} tokens, got {last and last.generation_tokens}")
    return {
        "prefill_tps": last.prompt_tps,
        "decode_tps": last.generation_tps,
        "ttft_s": last.prompt_tokens / last.prompt_tps,
        "peak_memory_bytes": mx.get_peak_memory(),
        "total_s": total,
    }


def main():
    parser = argparse.ArgumentParser(description="mlx-lm speed peer (see module docs)")
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--dequantize-f32", action="store_true")
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--gen-tokens", type=int, default=256)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--prompt-ids", type=Path, help="JSON list of prompt token ids")
    args = parser.parse_args()
    if args.prompt_tokens < 1 or args.gen_tokens < 2 or args.trials < 1:
        parser.error("need --prompt-tokens >= 1, --gen-tokens >= 2, --trials >= 1")
    warn_without_openblas()
    result_out, sys.stdout = sys.stdout, sys.stderr

    model, tokenizer = load_model(args.model, args.dequantize_f32)
    # Like mlx_lm.benchmark: no EOS, so every trial decodes exactly --gen-tokens tokens.
    tokenizer._eos_token_ids = set()
    config = json.loads((args.model / "config.json").read_text())
    vocab = config.get("vocab_size") or config["text_config"]["vocab_size"]
    prompt = bench_prompt(args, vocab)

    one_trial(model, tokenizer, prompt, args.gen_tokens)  # warm-up
    trials = [one_trial(model, tokenizer, prompt, args.gen_tokens) for _ in range(args.trials)]
    mean = lambda key: statistics.fmean(t[key] for t in trials)  # noqa: E731
    report = {
        "model": str(args.model),
        "engine": "mlx-lm",
        "device": str(mx.default_device()),
        "mlx_version": mx.__version__,
        "dequantize_f32": args.dequantize_f32,
        "prompt_tokens": len(prompt),
        "gen_tokens": args.gen_tokens,
        "prefill_tps": mean("prefill_tps"),
        "decode_tps": mean("decode_tps"),
        "ttft_s": mean("ttft_s"),
        "peak_memory_bytes": max(t["peak_memory_bytes"] for t in trials),
        "trials": trials,
    }
    result_out.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
