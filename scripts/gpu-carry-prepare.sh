#!/bin/sh
# gpu-carry-prepare.sh: prepares .gpu-carry/ (git-ignored) for scripts/gpu-check.sh on a GPU
# machine that cannot reach a package registry. It builds libafloc with the CUDA plugin here
# (AFLOC_CUDA=ON, nvcc at /usr/local/cuda) and puts beside it what that machine may lack:
#   .gpu-carry/bin/       afloc, libafloc.so.0, libafloc_cuda.so, every test_cuda_* binary (the
#                         device training step's test_cuda_train among them), bench_gpu_localize
#                         and bench_gpu_train (the training-step benchmark, step 5 of the check;
#                         CUDA runtime linked in statically)
#   .gpu-carry/libs.tar.xz  the non-system shared libraries libafloc.so needs (oneDNN, OpenBLAS,
#                         cJSON, libgfortran ...), compressed to fit the device tool's 64 MiB carry
#   .gpu-carry/data/      the tiny model config and vocabulary the check uses
# Then call the device tool: run(command="sh scripts/gpu-check.sh", carry=[".gpu-carry"]).
set -eu
cd "$(dirname "$0")/.."
build=${AFLOC_GPU_BUILD:-build-gpu} # an existing AFLOC_CUDA=ON build can be reused
cmake -S . -B "$build" -DAFLOC_CUDA=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
rm -rf .gpu-carry
mkdir -p .gpu-carry/bin .gpu-carry/libs .gpu-carry/data
cp -L "$build/afloc" "$build/libafloc.so.0" .gpu-carry/bin/
[ -f "$build/libafloc_cuda.so" ] && cp "$build/libafloc_cuda.so" .gpu-carry/bin/
find "$build/tests" -type f -perm -u+x -name 'test_cuda_*' -exec cp {} .gpu-carry/bin/ \; 2>/dev/null || true
cp "$build/benchmarks/bench_gpu_localize" "$build/benchmarks/bench_gpu_train" .gpu-carry/bin/
cp tests/model/cli_config.json tests/model/cli_vocab.txt .gpu-carry/data/
# Shared libraries outside glibc/libstdc++ that the GPU machine's base image may not have.
ldd "$build/libafloc.so.0" | awk '/=> \// {print $3}' |
  grep -Ev '/(libc|libm|libdl|libpthread|librt|ld-linux|libstdc\+\+|libgcc_s)\.so' |
  while read -r lib; do cp -L "$lib" .gpu-carry/libs/; done
tar -C .gpu-carry -cJf .gpu-carry/libs.tar.xz libs
rm -rf .gpu-carry/libs
du -sh .gpu-carry
