#!/usr/bin/env bash
# `:changed 10000` on two 400k x 50 spaces (issue 27: "at N = 10,000 and two 400k x 50 spaces
# in <= 10 s on 2 cores"): GloVe 6B 50d against a second 400k x 50 space, by default the one
# /work/data/changed/make_pair.py writes (GloVe rotated, 10% noise per row, 50 frequent words
# swapped; outside the repository). Both indexes are built first (`vecsh build`). Each run is a
# whole process, `vecsh A --also B -e ':changed 10000'`; the same process with `-e ':use'`
# (opening both, no scan) is the baseline subtracted; one more run's CPU time (user + sys,
# /usr/bin/time) is printed too. Prints the load average before and after: the machine may be
# shared.
#
#   bench/changed.sh [A B]        # RUNS (default 3) runs of each, medians
#
# VECSH overrides the binary (default: release build).
set -euo pipefail
cd "$(dirname "$0")/.."
a=${1:-$HOME/.cache/vecsh-data/glove.6B.50d.txt}
b=${2:-/work/data/changed/glove.changed.txt}
VECSH=${VECSH:-${CARGO_TARGET_DIR:-target}/release/vecsh}
RUNS=${RUNS:-3}
[ -n "${VECSH_SKIP_BUILD:-}" ] || cargo build --release --quiet
"$VECSH" build "$a" >/dev/null 2>&1 || true
"$VECSH" build "$b" >/dev/null 2>&1 || true
echo "before: $(uptime)"
median() {
  local -a times=()
  for _ in $(seq "$RUNS"); do
    local start end
    start=$(date +%s%N)
    "$VECSH" "$a" --also "$b" "$@" >/dev/null
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}
base=$(median -e ':use')
full=$(median -e ':changed 10000')
cpu=$( { /usr/bin/time -f '%U %S %e' "$VECSH" "$a" --also "$b" -e ':changed 10000' >/dev/null; } 2>&1 | tail -1)
echo "after: $(uptime)"
printf ':changed 10000 on %s vs %s: %d ms (process %d ms, open-only process %d ms), median of %d\n' \
  "$(basename "$a")" "$(basename "$b")" $(( full - base )) "$full" "$base" "$RUNS"
read -r user sys wall <<<"$cpu"
echo "one more run: user $user s + sys $sys s of CPU in $wall s wall (on an idle 2-core machine the wall time is about half the CPU time)"
"$VECSH" "$a" --also "$b" -e ':changed 10000 top=10'
