#!/usr/bin/env bash
# Warm one-shot processes (issue 12: "warm whole process `-e word` ≤ 30 ms"): runs
# `vecsh FILE [FLAGS] -e WORD` RUNS times (default 20) after 3 warm-ups, on the index vecsh
# already has for FILE (run `vecsh build FILE` first), and prints the median, fastest and slowest
# wall time (of the bare process, from bash) and the peak RSS of one more run (/usr/bin/time).
#
#   bench/one-shot.sh FILE WORD [FLAGS...]      # e.g. bench/one-shot.sh big.bin w1 --exact
#
# VECSH overrides the binary (default: release build).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: bench/one-shot.sh FILE WORD [FLAGS...]" >&2; exit 2; }
file=$1 word=$2
shift 2
VECSH=${VECSH:-target/release/vecsh}
RUNS=${RUNS:-20}
[ -n "${VECSH_SKIP_BUILD:-}" ] || cargo build --release --quiet
for _ in 1 2 3; do "$VECSH" "$file" "$@" -e "$word" >/dev/null; done
times=()
for _ in $(seq "$RUNS"); do
  start=$(date +%s%N)
  "$VECSH" "$file" "$@" -e "$word" >/dev/null
  end=$(date +%s%N)
  times+=($(( (end - start) / 1000 )))
done
rss=$( { /usr/bin/time -f '%M' "$VECSH" "$file" "$@" -e "$word" >/dev/null; } 2>&1 | tail -1)
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(echo "$sorted" | sed -n "$(( (RUNS + 1) / 2 ))p")
fastest=$(echo "$sorted" | head -1)
slowest=$(echo "$sorted" | tail -1)
printf '%s %s -e %s: median %.1f ms, fastest %.1f ms, slowest %.1f ms over %d runs; peak RSS %d MB\n' \
  "$(basename "$file")" "$*" "$word" "$(echo "$median / 1000" | bc -l)" \
  "$(echo "$fastest / 1000" | bc -l)" "$(echo "$slowest / 1000" | bc -l)" "$RUNS" $((rss / 1024))
