#!/usr/bin/env python3
"""Our batched decode attention (engine/src/mlx/kernels/attend_rows.cu, through
mx.fast.cuda_kernel) checked against MLX's scaled_dot_product_attention under the padding mask
the engine used before, then timed beside it on Llama 1B/8B head shapes. Run where MLX has a
CUDA GPU:

    python3 scripts/gpu-attend-rows.py engine/src/mlx/kernels/attend_rows.cu

ATTEND_CHECK_ONLY=1 checks without timings and exits 1 when they disagree. Timings chain each
call's output into the next query, so calls do not overlap as independent kernels would."""
import os, sys, time, mlx.core as mx

SOURCE = open(sys.argv[1]).read()
CHECK_ONLY = os.environ.get("ATTEND_CHECK_ONLY") == "1"
THREADS = 256  # the kernel's THREADS
kernel = mx.fast.cuda_kernel(name="attend_rows", input_names=["q", "k", "v", "offsets", "scale"],
                             output_names=["o"], source=SOURCE)


def ours(q, k, v, offsets, scale):
    R, H, _, D = q.shape
    (o,) = kernel(inputs=[q, k, v, offsets, mx.array([scale], dtype=mx.float32)],
                  output_shapes=[(1, R, H * D)], output_dtypes=[q.dtype],
                  grid=(THREADS * H, R, 1), threadgroup=(THREADS, 1, 1),
                  template=[("T", q.dtype), ("D", D)])
    return o


def masked(q, k, v, offsets, scale):
    """What the engine does without the kernel: keys cut to the longest row, a boolean mask."""
    R, H, _, D = q.shape
    visible = int(mx.max(offsets).item()) + 1
    mask = mx.arange(visible)[None, :] <= offsets[:, None]
    o = mx.fast.scaled_dot_product_attention(q, k[:, :, :visible], v[:, :, :visible], scale=scale,
                                             mask=mask.reshape(R, 1, 1, visible))
    return o.transpose(0, 2, 1, 3).reshape(1, R, H * D)


def case(R, H, KVH, D, lens, cap, dtype):
    q = mx.random.normal((R, H, 1, D)).astype(dtype)
    k = mx.random.normal((R, KVH, cap, D)).astype(dtype)
    v = mx.random.normal((R, KVH, cap, D)).astype(dtype)
    return q, k, v, mx.array(lens, dtype=mx.int32)


worst = 0.0
for dtype in [mx.bfloat16, mx.float16, mx.float32]:
    for (H, KVH, D) in [(32, 8, 64), (32, 8, 128), (4, 1, 32), (8, 8, 256)]:
        for lens in [[0, 5], [17, 300, 1, 255, 1023, 1024, 2500, 40], [4000]]:
            cap = (max(lens) + 1 + 255) // 256 * 256
            q, k, v, off = case(len(lens), H, KVH, D, lens, cap, dtype)
            scale = D ** -0.5
            ref = masked(q, k, v, off, scale).astype(mx.float32)
            got = ours(q, k, v, off, scale).astype(mx.float32)
            err = (mx.max(mx.abs(got - ref)) / mx.max(mx.abs(ref))).item()
            worst = max(worst, err)
        print(f"{dtype} H {H} KVH {KVH} D {D}: max relative error so far {worst:.1e}", flush=True)
ok = worst < 2e-2
print("attend_rows agrees with masked attention" if ok else "attend_rows DISAGREES with masked attention")
if CHECK_ONLY or not ok:
    sys.exit(0 if ok else 1)


def bench(f, q, n=200):
    def chain():
        x = q
        for _ in range(16):  # a layer each, like a 1B step
            o = f(x)
            x = o.reshape(x.shape)
        return x
    for _ in range(3):
        mx.eval(chain())
    mx.synchronize()
    t = time.perf_counter()
    for _ in range(n // 16):
        mx.eval(chain())
    mx.synchronize()
    return (time.perf_counter() - t) / (n // 16 * 16) * 1e6


print("us per call (16 chained per eval): rows, context, masked, ours")
for (H, KVH, D) in [(32, 8, 64), (32, 8, 128)]:
    for R in [2, 8, 16]:
        for ctx in [300, 2200]:
            q, k, v, off = case(R, H, KVH, D, [ctx - 1 - 7 * i for i in range(R)], (ctx + 255) // 256 * 256, mx.bfloat16)
            scale = D ** -0.5
            m = bench(lambda x: masked(x, k, v, off, scale), q)
            o = bench(lambda x: ours(x, k, v, off, scale), q)
            print(f"H {H} D {D} rows {R:2d} ctx {ctx:5d}: {m:8.1f} {o:8.1f}  ({m / o:.2f}x)", flush=True)
