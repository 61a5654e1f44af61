#!/usr/bin/env bash
# First open of GloVe 6B 50d's 400k words saved as a pickled dict and by gensim's
# KeyedVectors.save, beside the same vectors as a word2vec .bin (issue 24: pickled dicts and .kv
# files loaded in quadratic time, 344 s for these 400k words).
#   bash bench/pickle_load.sh [GLOVE.w2v.bin]
# Needs a Python with gensim (PYTHON=…, default /work/venv/bin/python or python3) and a release
# build (VECSH=… overrides target/release/vecsh). Prints the best of 3 first opens of each file
# (a fresh index cache each time: the load, the index build, one query) with its CPU time, the
# load alone, and Python's own loads. On a shared machine, compare the CPU times.
set -euo pipefail
bin=${1:-$HOME/.cache/vecsh-data/glove.6B.50d.w2v.bin}
py=${PYTHON:-$( [ -x /work/venv/bin/python ] && echo /work/venv/bin/python || echo python3 )}
vecsh=${VECSH:-${CARGO_TARGET_DIR:-target}/release/vecsh}
out=${OUT:-/tmp/vecsh-bench/pickles}
"$py" bench/pickle_files.py "$bin" "$out"
export NO_COLOR=1
for file in "$bin" "$out/glove400k.pkl" "$out/glove400k.kv"; do
  best=
  for _ in 1 2 3; do
    cache=$(mktemp -d)
    s=$(date +%s%N)
    VECSH_CACHE=$cache /usr/bin/time -o "$cache.cpu" -f "%U %S" \
      "$vecsh" --quiet "$file" -k 1 -e the >/dev/null
    e=$(date +%s%N)
    cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$cache.cpu")
    rm -rf "$cache" "$cache.cpu"
    ms=$(( (e - s) / 1000000 ))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; best_cpu=$cpu; fi
  done
  echo "vecsh first open of $(basename "$file") (load + index build + one query):" \
    "best of 3 ${best} ms (${best_cpu} s CPU)"
done
# The load alone (no index): export reads the whole file; --limit 1 writes one row (to stdout,
# which is the default: `-o /dev/null` is refused as an existing file).
for file in "$out/glove400k.pkl" "$out/glove400k.kv"; do
  /usr/bin/time -f "vecsh load alone of $(basename "$file"): %e s wall (%U s user, %S s sys)" \
    "$vecsh" export "$file" --limit 1 >/dev/null
done
