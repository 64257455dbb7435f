#!/usr/bin/env python3
"""Our few-row 4-bit matmul (engine/src/mlx/kernels/qmv_rows.cu, through mx.fast.cuda_kernel)
checked against and timed beside MLX's quantized_matmul for M = 1..16 rows on Llama 1B/8B
shapes. Run where MLX has a CUDA GPU:

    python3 scripts/gpu-qmv-rows.py engine/src/mlx/kernels/qmv_rows.cu

Caveat: the 20 calls of one timed eval do not depend on each other, and MLX's CUDA graph lets
independent kernels overlap, so a kernel with too few blocks looks faster here than in a model,
where each matmul waits for the one before. The engine's batch bench is the real measure."""
import os, sys, time, mlx.core as mx

SOURCE = open(sys.argv[1]).read() if len(sys.argv) > 1 else None
# QMV_CHECK_ONLY=1: compare with quantized_matmul for group sizes 32, 64 and 128, no timings;
# exits 1 when they disagree.
CHECK_ONLY = os.environ.get("QMV_CHECK_ONLY") == "1"


def kernel():
    src = SOURCE
    return mx.fast.cuda_kernel(name="qmv_rows", input_names=["x", "w", "scales", "biases"],
                               output_names=["y"], source=src)


def qmv_rows(k, x, wq, s, b, group):
    M, K = x.shape
    N = wq.shape[0]
    (y,) = k(inputs=[x, wq, s, b], output_shapes=[(M, N)], output_dtypes=[x.dtype],
             grid=(256, (N + 15) // 16, 1), threadgroup=(256, 1, 1),
             template=[("T", x.dtype), ("BF16", x.dtype == mx.bfloat16), ("G", group)])
    return y


def bench(f, reps=20, n=10):
    for _ in range(3):
        mx.eval([f() for _ in range(reps)])
    mx.synchronize()
    t = time.perf_counter()
    for _ in range(n):
        mx.eval([f() for _ in range(reps)])
    mx.synchronize()
    return (time.perf_counter() - t) / (n * reps) * 1e3


k = kernel()
if CHECK_ONLY:
    worst = 0.0
    for group in [32, 64, 128]:
        for (N, K) in [(203, 256), (4096, 4096), (1024, 14336)]:
            w = (mx.random.normal((N, K)) * 0.02).astype(mx.bfloat16)
            wq, s, b = mx.quantize(w, group_size=group, bits=4)
            errs = []
            for M in [2, 3, 5, 8, 9, 16]:
                x = mx.random.normal((M, K)).astype(mx.bfloat16)
                ref = mx.quantized_matmul(x, wq, s, b, transpose=True, group_size=group, bits=4).astype(mx.float32)
                ours = qmv_rows(k, x, wq, s, b, group).astype(mx.float32)
                errs.append((mx.max(mx.abs(ours - ref)) / mx.max(mx.abs(ref))).item())
            print(f"group {group} W {N}x{K}: max relative error over M=2..16 {max(errs):.1e}", flush=True)
            worst = max(worst, max(errs))
    # bf16 rounding gives up to about 7e-3; anything near the test's bound is a wrong result.
    print("qmv_rows agrees with quantized_matmul" if worst < 2e-2 else "qmv_rows DISAGREES with quantized_matmul")
    sys.exit(0 if worst < 2e-2 else 1)
# Four copies of each weight, used in turn, so a matrix is not still in L2 from the call before
# (as in a real step, where every layer has its own weights).
for (N, K) in [(2048, 2048), (512, 2048), (8192, 2048), (2048, 8192), (4096, 4096), (1024, 4096), (14336, 4096), (4096, 14336), (128256, 4096)]:
    copies = []
    for _ in range(4):
        w = (mx.random.normal((N, K)) * 0.02).astype(mx.bfloat16)
        copies.append(mx.quantize(w, group_size=64, bits=4))
    mx.eval(copies)
    turn = [0]

    def weights():
        turn[0] += 1
        return copies[turn[0] % 4]

    row = []
    for M in [1, 2, 4, 8, 16]:
        x = mx.random.normal((M, K)).astype(mx.bfloat16)
        wq, s, b = copies[0]
        ref = mx.quantized_matmul(x, wq, s, b, transpose=True, group_size=64, bits=4)
        ms_ref = bench(lambda: mx.quantized_matmul(x, *weights(), transpose=True, group_size=64, bits=4))
        if M == 1:
            row.append(f"M=1 mlx {ms_ref*1e3:.0f}us")
            continue
        ours = qmv_rows(k, x, wq, s, b, 64)
        err = mx.max(mx.abs(ours.astype(mx.float32) - ref.astype(mx.float32))).item()
        scale = mx.max(mx.abs(ref.astype(mx.float32))).item()
        ms = bench(lambda: qmv_rows(k, x, *weights(), 64))
        row.append(f"M={M} mlx {ms_ref*1e3:.0f}us ours {ms*1e3:.0f}us (err {err/scale:.1e})")
    print(f"W {N}x{K}:", "; ".join(row), flush=True)
