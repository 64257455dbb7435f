"""A minimal numpy GGUF reader and GGML dequantizers, written from the block
layouts in llama.cpp's ggml-common.h, as an oracle independent of the Rust
importer and of MLX (which cannot load Q5_0, Q5_1, Q3_K or Q5_K).

Usage: gguf_ref.py GGUF FOLDER  -- compares every tensor of FOLDER (an
imported model) with the dequantized GGUF tensor; for tensors MLX's own
loader also reads, MLX is checked against this reader too. Prints a JSON
summary; exits 1 on any mismatch.
"""
import json
import struct
import sys

import mlx.core as mx
import numpy as np

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
         10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210)}


def read_gguf(path):
    buf = open(path, "rb").read()
    pos = 8
    n_t, n_kv = struct.unpack_from("<QQ", buf, pos)
    pos += 16

    def string(p):
        (n,) = struct.unpack_from("<Q", buf, p)
        return buf[p + 8:p + 8 + n].decode("utf-8", "replace"), p + 8 + n

    def value(t, p):
        if t == 8:
            return string(p)
        if t == 9:
            it, n = struct.unpack_from("<IQ", buf, p)
            p += 12
            items = []
            for _ in range(n):
                v, p = value(it, p)
                items.append(v)
            return items, p
        (v,) = struct.unpack_from(SCALAR[t], buf, p)
        return v, p + struct.calcsize(SCALAR[t])

    meta = {}
    for _ in range(n_kv):
        k, pos = string(pos)
        (t,) = struct.unpack_from("<I", buf, pos)
        meta[k], pos = value(t, pos + 4)
    infos = []
    for _ in range(n_t):
        name, pos = string(pos)
        (nd,) = struct.unpack_from("<I", buf, pos)
        dims = struct.unpack_from(f"<{nd}Q", buf, pos + 4)
        t, off = struct.unpack_from("<IQ", buf, pos + 4 + 8 * nd)
        pos += 4 + 8 * nd + 12
        infos.append((name, dims, t, off))
    align = meta.get("general.alignment", 32)
    start = (pos + align - 1) // align * align
    tensors = {}
    for name, dims, t, off in infos:
        n = int(np.prod(dims))
        be, bb = BLOCK[t]
        raw = np.frombuffer(buf, np.uint8, n // be * bb, start + off)
        tensors[name] = (t, tuple(reversed(dims)), raw)
    return meta, tensors


def f16(b, i):
    return b[:, i:i + 2].copy().view(np.float16).astype(np.float32)


def nib(qs):
    return np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.int32)


def f32(x):
    """GGML computes in float32: keep every product and sum there."""
    return np.asarray(x).astype(np.float32)


def high_bits(qh_u32):
    return ((qh_u32[:, None] >> np.arange(32, dtype=np.uint32)) & 1).astype(np.int32)


def scale_min_k(s):
    s = s.astype(np.int32)
    sc = np.empty((s.shape[0], 8), np.int32)
    mn = np.empty_like(sc)
    sc[:, :4], mn[:, :4] = s[:, 0:4] & 63, s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def deq(t, raw):
    be, bb = BLOCK[t]
    if t == 0:
        return raw.view(np.float32)
    if t == 1:
        return raw.view(np.float16).astype(np.float32)
    if t == 30:
        return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    b = raw.reshape(-1, bb)
    if t == 2:
        return (f16(b, 0) * f32(nib(b[:, 2:18]) - 8)).ravel()
    if t == 3:
        return (f16(b, 0) * f32(nib(b[:, 4:20])) + f16(b, 2)).ravel()
    if t == 6:
        q = nib(b[:, 6:22]) | (high_bits(b[:, 2:6].copy().view(np.uint32)[:, 0]) << 4)
        return (f16(b, 0) * f32(q - 16)).ravel()
    if t == 7:
        q = nib(b[:, 8:24]) | (high_bits(b[:, 4:8].copy().view(np.uint32)[:, 0]) << 4)
        return (f16(b, 0) * f32(q) + f16(b, 2)).ravel()
    if t == 8:
        return (f16(b, 0) * b[:, 2:34].view(np.int8).astype(np.float32)).ravel()
    if t in (12, 13):
        sc, mn = scale_min_k(b[:, 4:16])
        qs = b[:, 48:176] if t == 13 else b[:, 16:144]
        qs = qs.reshape(-1, 4, 32).astype(np.int32)
        q = np.stack([qs & 15, qs >> 4], axis=2).reshape(-1, 8, 32)
        if t == 13:
            qh = b[:, 16:48].astype(np.int32)
            q = q | (((qh[:, None, :] >> np.arange(8)[None, :, None]) & 1) << 4)
        return ((f16(b, 0)[:, :, None] * f32(sc[:, :, None])) * f32(q) - f16(b, 2)[:, :, None] * f32(mn[:, :, None])).ravel()
    if t == 14:
        ql, qh, sc = b[:, 0:128].astype(np.int32), b[:, 128:192].astype(np.int32), b[:, 192:208].view(np.int8)
        parts = []
        for h in range(2):
            l, hh = ql[:, 64 * h:64 * h + 64], qh[:, 32 * h:32 * h + 32]
            parts += [(l[:, :32] & 15) | ((hh & 3) << 4), (l[:, 32:] & 15) | (((hh >> 2) & 3) << 4),
                      (l[:, :32] >> 4) | (((hh >> 4) & 3) << 4), (l[:, 32:] >> 4) | (((hh >> 6) & 3) << 4)]
        q = np.concatenate(parts, axis=1).reshape(-1, 16, 16) - 32
        return (f16(b, 208)[:, :, None] * sc.astype(np.float32)[:, :, None] * f32(q)).ravel()
    if t == 10:
        sc, qs = b[:, 0:16].astype(np.int32), b[:, 16:80].astype(np.int32)
        groups = [(qs[:, 32 * h + 16 * p:32 * h + 16 * p + 16] >> (2 * j)) & 3 for h in range(2) for j in range(4) for p in range(2)]
        q = np.stack(groups, axis=1)
        return ((f16(b, 80)[:, :, None] * f32((sc & 15)[:, :, None])) * f32(q) - f16(b, 82)[:, :, None] * f32((sc >> 4)[:, :, None])).ravel()
    if t == 11:
        hm, qs, s = b[:, 0:32].astype(np.int32), b[:, 32:96].astype(np.int32), b[:, 96:108].astype(np.int32)
        i = np.arange(16)
        low = np.where(i < 8, s[:, np.minimum(i, 7)] & 15, s[:, np.maximum(i - 8, 0)] >> 4)
        high = (s[:, 8 + i % 4] >> (2 * (i // 4))) & 3
        sc = (low | (high << 4)) - 32
        groups = []
        for h in range(2):
            for j in range(4):
                m = 1 << (4 * h + j)
                for p in range(2):
                    q = (qs[:, 32 * h + 16 * p:32 * h + 16 * p + 16] >> (2 * j)) & 3
                    groups.append(q - np.where(hm[:, 16 * p:16 * p + 16] & m, 0, 4))
        q = np.stack(groups, axis=1)
        return ((f16(b, 108)[:, :, None] * f32(sc[:, :, None])) * f32(q)).ravel()
    raise ValueError(f"type {t}")


def mine_dense(d, base):
    w = d[base + ".weight"]
    if base + ".scales" not in d:
        return np.array(w.astype(mx.float32)), w.dtype
    s, b = d[base + ".scales"], d[base + ".biases"]
    bits = w.shape[-1] * 32 // (s.shape[-1] * 32)
    # Dequantize in float32 (with float16 scales MLX would round to float16).
    s, b = s.astype(mx.float32), b.astype(mx.float32)
    return np.array(mx.dequantize(w, s, b, group_size=32, bits=bits)), "quantized"


def main():
    sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0])
    from compare_gguf import hf_base, unpermute

    gguf_path, folder = sys.argv[1], sys.argv[2]
    cfg = json.load(open(f"{folder}/config.json"))
    _, tensors = read_gguf(gguf_path)
    mine = mx.load(f"{folder}/model.safetensors")
    bad, seen = [], {}
    for name, (t, shape, raw) in sorted(tensors.items()):
        ref = deq(t, raw).reshape(shape)
        base = name[: -len(".weight")] if name.endswith(".weight") else name
        if cfg["model_type"] == "llama" and base.endswith(("attn_q", "attn_k")):
            heads = cfg["num_attention_heads"] if base.endswith("attn_q") else cfg["num_key_value_heads"]
            ref = unpermute(ref, heads)
        m, kind = mine_dense(mine, hf_base(base))
        if kind == mx.float16 and t not in (1,):
            ok = np.array_equal(m, ref.astype(np.float16).astype(np.float32))
        else:
            ok = np.array_equal(m, ref)
        seen[name] = t
        if not ok:
            bad.append(f"{name} (type {t}): max abs diff {float(np.max(np.abs(m - ref)))}")
    print(json.dumps({"compared": len(seen), "types": sorted(set(seen.values())), "mismatches": bad}))
    sys.exit(1 if bad or not seen else 0)


if __name__ == "__main__":
    main()
