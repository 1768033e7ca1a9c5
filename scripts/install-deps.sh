#!/bin/sh
# install-deps.sh: installs the Debian packages libafloc builds and tests with. Idempotent; uses
# sudo when not root. The CUDA toolkit (nvcc, cuBLAS, cuDNN) is not a Debian package: when
# /usr/local/cuda/bin/nvcc exists the CUDA plugin is built too, otherwise it is skipped.
set -eu
packages="build-essential cmake pkg-config libpng-dev zlib1g-dev libcjson-dev libssl-dev
  libopenblas-dev libdnnl-dev libomp-dev clang libclang-rt-14-dev
  python3-numpy python3-opencv python3-scipy python3-torch python3-torchvision
  python3-pytest python3-venv python3-setuptools python3-wheel"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
if [ -n "$missing" ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "install-deps: installing$missing"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
fi
echo "install-deps: all dependencies present"
