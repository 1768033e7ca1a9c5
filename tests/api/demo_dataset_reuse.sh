#!/bin/sh
# demo_dataset_reuse.sh AFLOC MODELS DIR: `afloc demo` reuses a dataset folder only when its
# dataset.json matches what the demo would write (modality, seed, size, counts, generator version)
# and writes any other folder again, so that a stale folder (an older build's prompts, or a
# --quick set under a full run) is never scored as the current one. Three --quick --no-train
# demos of about 6 s each.
set -u
afloc=$1 models=$2 dir=$3
status=0
run() { "$afloc" demo "$dir" --quick --no-train --threads 2 --models "$models" > "$dir/$1.txt" 2>&1; }
expect() { # expect RUN PATTERN: the run's output holds PATTERN (a fixed string)
    if grep -qF "$2" "$dir/$1.txt"; then echo "ok: $1: $2"; else
        echo "FAIL: $1: no \"$2\" in its output:"; cat "$dir/$1.txt"; status=1; fi
}
marker() { printf '{"modality":"cxr","seed":1,"size":256,"train":%s,"test":%s,"generator_version":%s}\n' \
    "$1" "$2" "$3" > "$dir/data/dataset.json"; }

rm -rf "$dir" && mkdir -p "$dir/data" || exit 1
marker 200 60 0          # an older generator
run old_version
expect old_version "out of date (generator version 0 wrote it, this build writes version"
expect old_version "afloc synth cxr $dir/data --seed 1"
expect old_version "demo finished in"

run current              # the folder just written is current
expect current "synthetic dataset: reusing $dir/data"
expect current "demo finished in"

version=$(sed -n 's/.*"generator_version":\([0-9]*\).*/\1/p' "$dir/data/dataset.json")
marker 2000 300 "$version"   # the full demo's counts under a --quick run
run other_counts
expect other_counts "out of date (it holds 2000 training and 300 held-out images, not 200 and 60)"
expect other_counts "afloc synth cxr $dir/data --seed 1"
exit $status
