#!/bin/sh
# gpu-check.sh: the one call to make first whenever a GPU machine is lent (device tool `run`).
# Prepare here with scripts/gpu-carry-prepare.sh, then:
#     run(command="sh scripts/gpu-check.sh", carry=[".gpu-carry"], timeout_s=480)
# It uses the carried binaries (or builds with AFLOC_CUDA=ON when none were carried and the
# machine has every dependency), asks the plugin for the device, runs a CPU sanity localize, runs
# every carried *cuda* test binary, and writes one report: $OUT/gpu-report.txt (./gpu-report.txt
# without OUT). Current scope: the plugin answers a device query only; the op parity tests and
# the GPU benchmarks join as the CUDA backend grows (issue 6).
set -u
cd "$(dirname "$0")/.."
out=${OUT:-.}
report="$out/gpu-report.txt"
start=$(date +%s)
{
  echo "gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ) commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi failed"
  if [ -d .gpu-carry/bin ]; then
    bin=$PWD/.gpu-carry/bin
    libs=$(mktemp -d)
    [ -f .gpu-carry/libs.tar.xz ] && tar -C "$libs" -xJf .gpu-carry/libs.tar.xz
    export LD_LIBRARY_PATH="$bin:$libs/libs:${LD_LIBRARY_PATH:-}"
    echo "using carried binaries in $bin"
  else
    echo "== no .gpu-carry: configure + build (AFLOC_CUDA=ON) =="
    cmake -S . -B build-gpu -DAFLOC_CUDA=ON -DAFLOC_WERROR=OFF 2>&1 | grep -E '✓|✗|Error' || true
    cmake --build build-gpu -j "$(nproc)" 2>&1 | tail -n 20
    bin=$PWD/build-gpu
  fi
  echo "== afloc info cuda =="
  "$bin/afloc" info cuda 2>&1
  echo "== CPU sanity: tiny model, localize =="
  data=.gpu-carry/data
  [ -d "$data" ] || data=tests/model
  work=$(mktemp -d)
  "$bin/afloc" init "$work/tiny.safetensors" --vocab "$data/cli_vocab.txt" --config "$data/cli_config.json" 2>&1
  "$bin/afloc" demo "$work/demo" >/dev/null 2>&1 && \
    "$bin/afloc" localize "$work/tiny.safetensors" "$work/demo/radiograph16.png" "small left pleural effusion" --out "$work" 2>&1
  echo "== CUDA test binaries =="
  found=0
  for t in "$bin"/*cuda*; do
    case "$t" in *libafloc_cuda.so) continue ;; esac
    [ -x "$t" ] || continue
    found=1
    echo "-- $(basename "$t")"
    timeout 300 "$t" 2>&1 | tail -n 40
    echo "exit $?"
  done
  [ $found -eq 1 ] || echo "(no CUDA test binaries yet)"
  echo "gpu-check finished in $(( $(date +%s) - start )) s"
} > "$report" 2>&1
cat "$report"
