#!/usr/bin/env python3
"""Times MLX quantized_matmul (4-bit, group 64, bf16) for 1-16 input rows on weights of
Llama 3.1 8B shapes: the cost of a decode step's projections for a batch of rows
(BENCHMARKS.md, "Serving on the GPU"). Run where MLX has a GPU: python3 scripts/gpu-qmm-rows.py"""
import time, mlx.core as mx
def bench(f, n=50):
    for _ in range(5): mx.eval(f())
    mx.synchronize(); t=time.perf_counter()
    for _ in range(n): mx.eval(f())
    mx.synchronize(); return (time.perf_counter()-t)/n*1e3
for (N,K) in [(14336,4096),(4096,14336),(128256,4096)]:
    w=mx.random.normal((N,K)).astype(mx.bfloat16)
    wq,s,b=mx.quantize(w,group_size=64,bits=4)
    row=[]
    for M in [1,2,4,8,16]:
        x=mx.random.normal((M,K)).astype(mx.bfloat16)
        ms=bench(lambda: mx.quantized_matmul(x,wq,s,b,transpose=True,group_size=64,bits=4))
        row.append(f"M={M}: {ms:.3f} ms")
    xb=mx.random.normal((8,1,K)).astype(mx.bfloat16)
    ms=bench(lambda: mx.quantized_matmul(xb,wq,s,b,transpose=True,group_size=64,bits=4))
    row.append(f"[8,1,K]: {ms:.3f} ms")
    print(f"W {N}x{K} 4-bit:", "; ".join(row), flush=True)
