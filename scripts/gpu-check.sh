#!/bin/sh
# gpu-check.sh: the one-call check to run first whenever a GPU machine is lent (device tool `run`).
# It builds libafloc with the CUDA plugin (or uses a build carried in .gpu-carry/build), asks the
# plugin for the device, runs every ctest labelled `cuda`, and writes one report file,
# $OUT/gpu-report.txt (or ./gpu-report.txt when OUT is unset). Foundation version: the plugin only
# answers a device query; the op parity tests and benchmarks join as the CUDA backend grows.
# Call: run(command="sh scripts/gpu-check.sh", carry=[".gpu-carry"], timeout_s=480)
set -u
cd "$(dirname "$0")/.."
out=${OUT:-.}
report="$out/gpu-report.txt"
start=$(date +%s)
{
  echo "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi failed"
  build=build-gpu
  if [ -d .gpu-carry/build ]; then
    build=.gpu-carry/build
    echo "using carried build $build"
    [ -d .gpu-carry/lib ] && export LD_LIBRARY_PATH=$PWD/.gpu-carry/lib:${LD_LIBRARY_PATH:-}
  else
    echo "== configure + build (AFLOC_CUDA=ON) =="
    cmake -S . -B "$build" -DAFLOC_CUDA=ON -DAFLOC_WERROR=OFF 2>&1 | grep -E '✓|✗|Error' || true
    cmake --build "$build" -j "$(nproc)" 2>&1 | tail -n 20
  fi
  echo "== afloc info cuda =="
  "$build/afloc" info cuda 2>&1
  echo "== ctest -L cuda =="
  (cd "$build" && ctest -L cuda --output-on-failure 2>&1 | tail -n 40)
  echo "== ctest -L api =="
  (cd "$build" && ctest -L api --output-on-failure 2>&1 | tail -n 20)
  echo "gpu-check finished in $(( $(date +%s) - start )) s"
} > "$report" 2>&1
cat "$report"
