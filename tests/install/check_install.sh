#!/bin/sh
# check_install.sh SOURCE_DIR BINARY_DIR: installs the build into a scratch prefix, then builds the
# consumer program twice, once with find_package(afloc) and once with pkg-config, and runs both.
set -eu
src=$1
bin=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$bin" --prefix "$work/prefix" >/dev/null
cmake -S "$src/tests/install/consumer" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib" "$work/cmake-build/consumer"
libdir=$(ls -d "$work"/prefix/lib*/pkgconfig | head -n 1)
flags=$(PKG_CONFIG_PATH="$libdir" pkg-config --define-variable=prefix="$work/prefix" --cflags --libs afloc)
cc -std=c11 -o "$work/consumer-pc" "$src/tests/install/consumer/consumer.c" $flags
LD_LIBRARY_PATH="$(dirname "$libdir")" "$work/consumer-pc"
echo "check_install: find_package and pkg-config consumers OK"
