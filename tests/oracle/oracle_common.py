"""Shared by oracle.py and bench_mlx_lm.py: load a model folder with mlx-lm under one of the two
dtype policies, and warn when MLX runs on its slow bundled BLAS."""

import os
import sys

import mlx.core as mx

OPENBLAS = "/usr/lib/x86_64-linux-gnu/libopenblas.so.0"


def warn_without_openblas():
    """On Linux the mlx-cpu wheel's bundled reference BLAS makes matmuls ~10x slower; callers
    should run us with LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libopenblas.so.0 (as the Rust binaries
    link OpenBLAS). Results are the same either way, only speed differs."""
    if sys.platform.startswith("linux") and "openblas" not in os.environ.get("LD_PRELOAD", ""):
        print(
            f"warning: LD_PRELOAD does not name OpenBLAS; set LD_PRELOAD={OPENBLAS} for speed",
            file=sys.stderr,
        )


def to_float32(model):
    """Our engine's CPU policy: every quantized layer becomes a float32 Linear/Embedding, and
    every floating parameter (norms, biases, scales of nothing left) is cast to float32."""
    from mlx_lm.utils import dequantize_model

    model = dequantize_model(model)
    model.set_dtype(mx.float32)
    mx.eval(model.parameters())
    return model


def load_model(path, dequantize_f32):
    """(model, tokenizer) from mlx_lm.load, optionally converted by `to_float32`."""
    from mlx_lm import load

    model, tokenizer = load(str(path))
    if dequantize_f32:
        model = to_float32(model)
    return model, tokenizer
