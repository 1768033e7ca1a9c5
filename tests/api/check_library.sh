#!/bin/sh
# check_library.sh LIB: host etiquette of libafloc.so (RELIABILITY T21, STYLE.md §5):
#  - every exported dynamic symbol starts with afloc_;
#  - SONAME is libafloc.so.0;
#  - no CUDA library among the NEEDED entries (the CUDA backend is a dlopen'ed plugin);
#  - no undefined reference to functions that would take down or reconfigure the host process.
set -u
lib=$1
status=0
exports=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}')
bad=$(printf '%s\n' "$exports" | grep -v '^afloc_' | grep -v '^$' || true)
if [ -n "$bad" ]; then echo "FAIL: exported symbols without the afloc_ prefix:"; echo "$bad"; status=1; fi
count=$(printf '%s\n' "$exports" | grep -c '^afloc_')
echo "exported afloc_ symbols: $count"
[ "$count" -gt 0 ] || { echo "FAIL: no afloc_ symbol exported"; status=1; }
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
echo "SONAME: $soname"
[ "$soname" = "libafloc.so.0" ] || { echo "FAIL: SONAME is '$soname'"; status=1; }
needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
echo "NEEDED:" $needed
if printf '%s\n' "$needed" | grep -Eqi 'cuda|cublas|cudnn|nvrtc'; then
  echo "FAIL: libafloc.so needs a CUDA library"; status=1
fi
forbidden=$(nm -D --undefined-only "$lib" | awk '{print $2}' | sed 's/@.*//' |
  grep -Ex 'exit|_exit|_Exit|quick_exit|signal|sigaction|setenv|putenv|unsetenv|setlocale|cudaDeviceReset|cudaSetDeviceFlags|system|printf|puts|putchar' || true)
if [ -n "$forbidden" ]; then echo "FAIL: forbidden imports:" $forbidden; status=1; fi
[ $status -eq 0 ] && echo "check_library: OK"
exit $status
