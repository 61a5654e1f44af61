#!/usr/bin/env bash
# Two vecsh binaries side by side on one file, alternately, in one run: a layout change must
# cost nothing. For each of RUNS rounds (default 5), OLD then NEW:
#   - first open: a fresh cache, `vecsh FILE -e WORD --quiet` (load + index + first answer);
#   - warm one-shot: `vecsh FILE -e WORD --exact` on the index that first open wrote;
#   - exact query: QUERIES words (default 200) on standard input, one process, `--exact`;
#     per query = (that process − the warm one-shot) / (QUERIES − 1).
# Prints one line per measure and binary (median, fastest, slowest) and the load average.
#
#   bench/ab.sh OLD_VECSH NEW_VECSH FILE WORD [WORDS_FILE]
#
# WORDS_FILE holds the query words, one a line (default: WORD repeated). Every index goes under
# a temporary cache removed at the end (AB_DIR sets where: it needs about 2.5x the file's size).
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: bench/ab.sh OLD_VECSH NEW_VECSH FILE WORD [WORDS_FILE]" >&2; exit 2; }
old=$1 new=$2 file=$3 word=$4 words=${5:-}
runs=${RUNS:-5} queries=${QUERIES:-200}
work=$(mktemp -d "${AB_DIR:-${TMPDIR:-/tmp}}/vecsh-ab.XXXXXX")
trap 'rm -rf "$work"' EXIT
if [[ -n $words ]]; then
  head -n "$queries" "$words" > "$work/words"
else
  yes "$word" | head -n "$queries" > "$work/words"
fi
queries=$(wc -l < "$work/words")
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }
now() { date +%s%N; }
declare -A first oneshot query
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$runs"); do
  for which in old new; do
    bin=$old
    [[ $which == new ]] && bin=$new
    export VECSH_CACHE=$work/cache-$which
    rm -rf "$VECSH_CACHE"
    t0=$(now); "$bin" "$file" -e "$word" --quiet > /dev/null; t1=$(now)
    first[$which]+="$(ms "$t0" "$t1") "
    "$bin" "$file" -e "$word" --exact --quiet > /dev/null # warm the page cache
    t0=$(now); "$bin" "$file" -e "$word" --exact --quiet > /dev/null; t1=$(now)
    one=$(ms "$t0" "$t1")
    oneshot[$which]+="$one "
    t0=$(now); "$bin" "$file" --exact --quiet < "$work/words" > /dev/null; t1=$(now)
    all=$(ms "$t0" "$t1")
    query[$which]+="$(echo "scale=3; ($all - $one) / ($queries - 1)" | bc) "
  done
  echo "round $r done: load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
stats() {
  printf '%s\n' $1 | sort -n | awk '{ v[NR] = $1 } END {
    printf "median %.2f, fastest %.2f, slowest %.2f (n = %d)", v[int((NR + 1) / 2)], v[1], v[NR], NR }'
}
echo "file: $(basename "$file") ($runs rounds, old and new alternately; $queries queries)"
for which in old new; do
  echo "$which first open (ms):        $(stats "${first[$which]}")"
done
for which in old new; do
  echo "$which warm one-shot (ms):     $(stats "${oneshot[$which]}")"
done
for which in old new; do
  echo "$which exact query (ms/query): $(stats "${query[$which]}")"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
