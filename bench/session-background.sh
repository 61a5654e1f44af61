#!/usr/bin/env bash
# Query latency while a session builds the lists and the principal-component stage by itself
# behind its prompt (issue 28): idle (--no-background), during each build (one query a second;
# the build pauses while each runs), and after it; with BUILT=1, also on `vecsh build`'s index;
# the load average beside each figure. A fresh index in $CACHE (removed after).
#
#   flock /work/coord/bench.lock bash bench/session-background.sh /work/data/synth-3m-300.bin
#   WORDS=king,queen,paris,france,computer,music TRIGGER=':exact off' \
#     bash bench/session-background.sh ~/.cache/vecsh-data/glove.6B.50d.w2v.bin
#
# GloVe 6B 50d is below the session's own build's floor (128 dims): TRIGGER=':exact off' starts
# the same build (same pool, priority and pause) there. Needs python3 (standard library only).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
file=${1:?usage: session-background.sh FILE}
cache=${CACHE:-/work/data/bg-session-cache}
target=${CARGO_TARGET_DIR:-$root/target}
rm -rf "$cache" "$cache-history" "$cache-built" "$cache-built-history"
cargo build --release --quiet --bin vecsh --manifest-path "$root/Cargo.toml"
args=()
[[ -n ${WORDS:-} ]] && args+=(--words "$WORDS")
[[ -n ${TRIGGER:-} ]] && args+=(--trigger "$TRIGGER")
[[ -n ${ROWS:-} ]] && args+=(--rows "$ROWS")
echo "load before: $(cat /proc/loadavg)"
python3 "$root/bench/session_background.py" "$target/release/vecsh" "$file" "$cache" "${args[@]}"
rm -rf "$cache" "$cache-history" "$cache-built" "$cache-built-history"
