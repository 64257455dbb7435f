"""Checks an imported GGUF folder against MLX's own GGUF loader.

Usage: compare_gguf.py GGUF FOLDER
Every GGUF tensor is dequantized by MLX (mx.load on the .gguf) and compared,
after undoing llama.cpp's Q/K row permutation here in numpy, with the
dequantized tensor of the same name in FOLDER/model.safetensors. The
quantization bits recorded in config.json must match the tensors. Prints a
JSON summary; exits 1 on any mismatch.
"""
import json
import sys

import mlx.core as mx
import numpy as np

NAMES = {
    "token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head",
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
}


def hf_base(gguf_base):
    if gguf_base.startswith("blk."):
        _, layer, part = gguf_base.split(".", 2)
        return f"model.layers.{layer}.{NAMES[part]}"
    return NAMES[gguf_base]


def dequant(d, base):
    w = d[base + ".weight"]
    if base + ".scales" not in d:
        return np.array(w.astype(mx.float32)), None
    s, b = d[base + ".scales"], d[base + ".biases"]
    bits = w.shape[-1] * 32 // (s.shape[-1] * 32)
    x = mx.dequantize(w, s, b, group_size=32, bits=bits).astype(mx.float32)
    return np.array(x), bits


def unpermute(x, n_head):
    hd = x.shape[0] // n_head
    return x.reshape(n_head, hd // 2, 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)


def main():
    gguf_path, folder = sys.argv[1], sys.argv[2]
    cfg = json.load(open(f"{folder}/config.json"))
    quant = cfg.get("quantization", {})
    ref = mx.load(gguf_path)
    mine = mx.load(f"{folder}/model.safetensors")
    bases = sorted(k[: -len(".weight")] for k in ref if k.endswith(".weight"))
    mismatches, compared, max_diff = [], 0, 0.0
    for base in bases:
        if base == "rope_freqs":
            continue
        r, _ = dequant(ref, base)
        if cfg["model_type"] == "llama" and base.endswith(("attn_q", "attn_k")):
            heads = cfg["num_attention_heads"] if base.endswith("attn_q") else cfg["num_key_value_heads"]
            r = unpermute(r, heads)
        name = hf_base(base)
        m, bits = dequant(mine, name)
        if bits is not None:
            want = quant.get(name, {}).get("bits", quant.get("bits"))
            if want != bits:
                mismatches.append(f"{name}: config bits {want}, tensor bits {bits}")
        if r.shape != m.shape:
            mismatches.append(f"{name}: shape {m.shape} vs {r.shape}")
            continue
        diff = float(np.max(np.abs(r - m))) if r.size else 0.0
        max_diff = max(max_diff, diff)
        if not np.array_equal(r, m):
            mismatches.append(f"{name}: max abs diff {diff}")
        compared += 1
    extra = sorted(set(k.rsplit(".", 1)[0] for k in mine) - set(hf_base(b) for b in bases if b != "rope_freqs"))
    if extra:
        mismatches.append(f"tensors not in the GGUF: {extra[:5]}")
    print(json.dumps({"compared": compared, "max_abs_diff": max_diff, "mismatches": mismatches[:20]}))
    sys.exit(1 if mismatches or compared == 0 else 0)


if __name__ == "__main__":
    main()
