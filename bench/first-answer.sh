#!/usr/bin/env bash
# First open of a new embedding file (issue 12): time to the first answer line on stdout, process
# exit, when the index is complete and durable (its final directory appears: vecsh renames it into
# place only after the fsync), peak RSS (/usr/bin/time -v) and the index size.
#
#   bench/first-answer.sh                       # the 3M x 300 .bin and GloVe 6B 50d
#   bench/first-answer.sh FILE WORD [FILE WORD ...]
#
# Indexes go to $BIG/first-answer-cache (default BIG=/work/big/first), never into the repo; each run
# starts from an empty cache. The source is read once beforehand so that it is in the page cache
# (the issue's limits are measured that way). VECSH overrides the binary (default: release build).
set -euo pipefail
cd "$(dirname "$0")/.."
BIG=${BIG:-/work/big/first}
VECSH=${VECSH:-target/release/vecsh}
RUNS=${RUNS:-1}
[ -n "${VECSH_SKIP_BUILD:-}" ] || cargo build --release --quiet
mkdir -p "$BIG"
if [ $# -eq 0 ]; then
  set -- /work/big/synth-3M-300.bin w1 "$HOME/.cache/vecsh-data/glove.6B.50d.txt" the
fi
now() { date +%s.%N; }
echo "machine: $(nproc) cores; $(uptime | sed 's/.*load/load/')"
printf '%-24s %9s %9s %9s %9s %10s %9s\n' file first_s exit_s durable_s warm_ms peak_rss_MB index_MB
while [ $# -ge 2 ]; do
  src=$1 word=$2
  shift 2
  cat "$src" >/dev/null
  for _ in $(seq "$RUNS"); do
    cache=$BIG/first-answer-cache
    rm -rf "$cache"
    mkdir -p "$cache"
    t0=$(now)
    {
      VECSH_CACHE=$cache /usr/bin/time -v -o "$BIG/first-answer.time" "$VECSH" "$src" -e "$word" 2>/dev/null |
        { IFS= read -r _ && now >"$BIG/first-answer.first"; cat >/dev/null; }
      now >"$BIG/first-answer.exit"
    } &
    job=$!
    durable=""
    while kill -0 "$job" 2>/dev/null; do
      if [ -z "$durable" ] && ls -d "$cache"/*/data.mdb 2>/dev/null | grep -qv '\.building-'; then
        durable=$(now)
      fi
      sleep 0.05
    done
    wait "$job"
    [ -n "$durable" ] || durable=$(now)
    first=$(cat "$BIG/first-answer.first")
    exit_t=$(cat "$BIG/first-answer.exit")
    rss=$(awk -F': ' '/Maximum resident/ {print int($2/1024)}' "$BIG/first-answer.time")
    size=$(du -sm "$cache" | cut -f1)
    # Warm one-shot: the same command again, index reused (mean of 10).
    w0=$(now)
    for _ in $(seq 10); do VECSH_CACHE=$cache "$VECSH" "$src" -e "$word" >/dev/null 2>&1; done
    w1=$(now)
    printf '%-24s %9.2f %9.2f %9.2f %9.1f %10s %9s\n' "$(basename "$src")" \
      "$(echo "$first - $t0" | bc)" "$(echo "$exit_t - $t0" | bc)" "$(echo "$durable - $t0" | bc)" \
      "$(echo "($w1 - $w0) * 100" | bc)" "$rss" "$size"
  done
done
