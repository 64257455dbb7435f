#!/usr/bin/env bash
# The serving bench on the GPU machine (BENCHMARKS.md, "Serving"): ours vs mlx_lm.server on
# random-weight 4-bit models of real shapes. Run there from the repo root, after
# ../shared/device/prepare-mlx-cuda.sh staged the CUDA wheel (run 1 copies .mlx-cuda-1 to
# /tmp/stage) and the binaries built here with OLLMLX_NO_OPENBLAS=1 were unpacked to $BIN:
#
#   scripts/gpu-serving.sh OUT_DIR SHAPE...     (SHAPE: llama-3.2-1b, llama-3.1-8b, ...)
#
# $BIN (default /tmp/gpubin) holds ollmlxd, the serving bench binary `serving`, the engine's
# batch bench binary `batch` (optional) and `tok/`, the SmolLM2 tokenizer files the shape models
# use; for llama.cpp also `llama-server` (CUDA=1 scripts/build-peers.sh) and the `gguf` wheel.
# First the few-row CUDA kernel is checked against MLX's quantized_matmul, and the batched decode
# attention kernel against MLX's masked attention (the run stops if either disagrees); then, per
# shape, the engine batch bench with and without qmv_rows (BATCH=0 skips it), and the serving
# bench. PEERS (default ours,mlx_lm; add llamacpp) picks the servers; llama.cpp serves a GGUF
# written from the very same weights (tests/fixtures/shape_model_gguf.py).
# CHECK=0, BATCH=0, PROBE=0 and SERVE=0 skip those parts, so a long run can be split over several
# device calls on the same warm machine (models are kept under /tmp/models).
set -euo pipefail
out=$1
shift
bin=${BIN:-/tmp/gpubin}
if ! python3 -c 'import mlx.core as mx, sys; sys.exit(mx.default_device() != mx.gpu)' 2>/dev/null; then
  bash .mlx-cuda-2/install.sh
fi
MLX_DIR=$(python3 -c 'import mlx; print(list(mlx.__path__)[0])')
# llama-server links the CUDA runtime and cuBLAS: the machine's CUDA install, or NVIDIA's wheels.
nv_libs=$(python3 -c 'import glob, site; print(":".join(sorted(set(d for p in site.getsitepackages() for d in glob.glob(p + "/nvidia/**/lib", recursive=True)))))')
export LD_LIBRARY_PATH=$MLX_DIR/lib${nv_libs:+:$nv_libs}:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
peers=${PEERS:-ours,mlx_lm}
llama=()
if [[ $peers == *llamacpp* ]]; then
  python3 -c 'import gguf' 2>/dev/null || python3 -m pip install -q --no-index --no-deps "$bin"/gguf-*.whl
  "$bin/llama-server" --version 2>&1 | tail -n 2 | tee "$out/llama-server-version.txt"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
if [ "${CHECK:-1}" = 1 ]; then
  QMV_CHECK_ONLY=1 python3 scripts/gpu-qmv-rows.py engine/src/mlx/kernels/qmv_rows.cu | tee "$out/qmv-check.txt"
  ATTEND_CHECK_ONLY=1 python3 scripts/gpu-attend-rows.py engine/src/mlx/kernels/attend_rows.cu | tee "$out/attend-check.txt"
fi
for shape in "$@"; do
  dir=/tmp/models/$shape
  [ -f "$dir/config.json" ] || python3 tests/fixtures/make_shape_model.py --shape "$shape" --bits 4 --tokenizer-from "$bin/tok" "$dir"
  if [[ $peers == *llamacpp* ]]; then
    [ -f "$dir.gguf" ] || python3 tests/fixtures/shape_model_gguf.py "$dir" "$dir.gguf"
    llama=(--gguf "$dir.gguf" --llama-server "$bin/llama-server")
  fi
  if [ -x "$bin/batch" ] && [ "${BATCH:-1}" = 1 ]; then
    for q in 1 0; do
      OLLMLX_QMV_ROWS=$q timeout 120 "$bin/batch" --model "$dir" --streams 1,4,8,16 --gen-tokens 48 \
        | tee "$out/batch-$shape-qmv$q.txt" || echo "batch bench on $shape (OLLMLX_QMV_ROWS=$q) ended with $?"
    done
  fi
  if [ "${PROBE:-1}" = 1 ]; then
    # Where simultaneous requests' first-token time goes (scripts/ttft-probe.py): the model
    # served alone, streamed answers as in the serving bench, with the prefix cache off (every
    # prompt computed again) and on (repeated prompts found in it).
    store=/tmp/probe-$shape
    mkdir -p "$store/library/bench" /tmp/probe-home && ln -f "$dir"/* "$store/library/bench/"
    for cache in off on; do
      HOME=/tmp/probe-home OLLMLX_HOST=127.0.0.1:18434 OLLMLX_MODELS=$store OLLMLX_PREFIX_CACHE=$cache \
        OLLMLX_NUM_PARALLEL=16 "$bin/ollmlxd" >"$out/probe-daemon-$shape-cache-$cache.log" 2>&1 &
      daemon=$!
      timeout 200 python3 scripts/ttft-probe.py --base http://127.0.0.1:18434 --streams 1,4,8 --rounds 2 \
        --tokens "${PROBE_TOKENS:-64}" | tee "$out/probe-$shape-cache-$cache.txt" || echo "ttft probe on $shape ended with $?"
      kill $daemon; wait $daemon || true
    done
  fi
  [ "${SERVE:-1}" = 1 ] || continue
  # A first pass on a fresh machine pays MLX's CUDA kernel compilation inside the measured
  # requests (TTFT up to 50 s at 4 streams, both servers): run a bounded throwaway pass first.
  timeout "${WARM_TIMEOUT:-100}" "$bin/serving" --model-dir "$dir" --ollmlxd "$bin/ollmlxd" --python python3 \
    --no-openblas --peers "$peers" "${llama[@]}" --streams 4,8,16 --prefix-tokens 0 >"$out/warm-$shape.txt" 2>&1 || true
  # Each bench bounded, so one slow shape still leaves the others' reports in $out.
  timeout "${SHAPE_TIMEOUT:-280}" "$bin/serving" --model-dir "$dir" --ollmlxd "$bin/ollmlxd" --python python3 \
    --no-openblas --peers "$peers" "${llama[@]}" ${SERVING_ARGS:-} 2>&1 | tee "$out/serving-$shape.txt" || echo "serving bench on $shape ended with $?"
done
