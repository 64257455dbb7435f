#!/usr/bin/env python3
"""What a prompt-shaped attention call costs the first time MLX meets its shapes, on CUDA.

    python3 scripts/gpu-sdpa-shapes.py            (MLX_CUDA_USE_CUDNN_SDPA=0 to compare)

MLX's CUDA backend runs attention over more than one query through cuDNN, and builds a cuDNN
graph for every new combination of query/key shapes and strides (an LRU of 256). A server
meets a new combination with almost every prompt: the chunk length and the cached length
differ from request to request. This times, for a few such combinations in Llama 3.2 1B's
attention shape, the first call and a repeat, keys and values sliced from a cache buffer as a
server's are.
"""
import os
import random
import time

import mlx.core as mx

HEADS, KV_HEADS, DIM = 32, 8, 64


def call(tq, tkv, cap, dtype):
    q = mx.random.normal((1, HEADS, tq, DIM)).astype(dtype)
    buf = mx.random.normal((1, KV_HEADS, cap, DIM)).astype(dtype)
    k = buf[:, :, :tkv]
    mx.eval(q, k)
    start = time.perf_counter()
    out = mx.fast.scaled_dot_product_attention(q, k, k, scale=DIM ** -0.5, mask="causal")
    mx.eval(out)
    return (time.perf_counter() - start) * 1e3


def main():
    random.seed(0)
    print(f"mlx {mx.__version__} {mx.default_device()}, MLX_CUDA_USE_CUDNN_SDPA={os.environ.get('MLX_CUDA_USE_CUDNN_SDPA', '1 (default)')}")
    call(32, 64, 256, mx.bfloat16)  # the first call pays one-time setup, not measured
    print("| query | keys | buffer | first call ms | repeat ms |\n|---|---|---|---|---|")
    for _ in range(8):
        tq = random.randint(2, 200)
        tkv = tq + random.randint(0, 300)
        cap = -(-tkv // 256) * 256
        first = call(tq, tkv, cap, mx.bfloat16)
        repeat = call(tq, tkv, cap, mx.bfloat16)
        print(f"| {tq} | {tkv} | {cap} | {first:.1f} | {repeat:.1f} |")


if __name__ == "__main__":
    main()
