#!/bin/sh
# check_pip_install.sh PYTHON BINDINGS_DIR LIBAFLOC WORKDIR
# Installs the Python bindings offline into a fresh venv and imports them from outside the source
# tree: the exact command a user runs is
#     python3 -m venv --system-site-packages VENV
#     VENV/bin/pip install --no-index --no-build-isolation bindings/python
# The bindings are copied first so that setuptools' build/ and egg-info stay out of the source tree.
set -eu
python=$1 bindings=$2 library=$3 work=$4
rm -rf "$work"
mkdir -p "$work/src"
cp "$bindings/pyproject.toml" "$bindings/README.md" "$work/src/"
mkdir "$work/src/afloc"
cp "$bindings"/afloc/*.py "$work/src/afloc/"
"$python" -m venv --system-site-packages "$work/venv"
"$work/venv/bin/pip" install --no-index --no-build-isolation --disable-pip-version-check -q "$work/src"
cd "$work"
# The installed copy is the one imported, and it finds the library through AFLOC_LIBRARY.
AFLOC_LIBRARY="$library" PYTHONPATH= "$work/venv/bin/python" -c "
import afloc, sys
assert afloc.__file__.startswith(sys.argv[1]), afloc.__file__
print('python_pip_install: afloc', afloc.__version__, 'from', afloc.__file__, 'with libafloc', afloc.version())
" "$work/venv/"
# Without a library anywhere, the error says where it looked.
if AFLOC_LIBRARY="$work/missing.so" PYTHONPATH= "$work/venv/bin/python" -c "import afloc; afloc.version()" 2>"$work/err.txt"; then
    echo "python_pip_install: a missing AFLOC_LIBRARY did not fail" >&2
    exit 1
fi
grep -q "LibraryNotFoundError: libafloc: \$AFLOC_LIBRARY names .*missing.so.*does not exist" "$work/err.txt" || {
    cat "$work/err.txt" >&2
    exit 1
}
echo "python_pip_install: missing library reported: $(tail -n 1 "$work/err.txt")"
