"""Loads FOLDER with mlx-lm and prints greedy tokens for one chat prompt as JSON.

Usage: generate.py FOLDER PROMPT N
"""
import json
import sys

import mlx.core as mx
from mlx_lm import load
from mlx_lm.generate import generate_step


def main():
    folder, prompt, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model, tok = load(folder)
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=False)
    ids = tok.encode(text, add_special_tokens=False)
    out = []
    for token, _ in generate_step(mx.array(ids), model, max_tokens=n, sampler=lambda x: mx.argmax(x, axis=-1)):
        t = int(token)
        out.append(t)
        if t in tok.eos_token_ids:
            break
    print(json.dumps({"prompt_ids": ids, "tokens": out, "text": tok.decode(out)}))


if __name__ == "__main__":
    main()
