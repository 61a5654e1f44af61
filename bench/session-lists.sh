#!/usr/bin/env bash
# A session that builds the approximate-search lists in its background, as a user starts it:
# opens FILE on a fresh index (in $BIG/session-cache), types `:exact off`, then a query every
# 20 s while the lists are built, and reports how long each answer took to appear on the
# screen, the session's resident set during the build (sampled every second from /proc), when
# `lists ready` appeared, and the peak RSS of the whole session (/usr/bin/time -v).
#
#   bash bench/session-lists.sh /work/big/hard-3M-300.bin
#   WORD=king bash bench/session-lists.sh glove.6B.50d.w2v.bin   # queries WORD (default w<N>)
#
# Needs tmux. The index (about 1.9 GB at 3M x 300) goes under $BIG, default /work/big.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
file=${1:?usage: session-lists.sh FILE}
big=${BIG:-/work/big}
cache=$big/session-cache
out=$big/session-lists
mkdir -p "$out"
rm -rf "$cache"
cargo build --release --quiet --bin vecsh --manifest-path "$root/Cargo.toml"
vecsh=$root/target/release/vecsh
tmux kill-session -t lists 2>/dev/null || true
tmux new-session -d -s lists -x 150 -y 50 \
  "VECSH_CACHE=$cache /usr/bin/time -v -o $out/time.txt $vecsh $file --color never"
pane() { tmux capture-pane -pt lists -S -2000; }
wait_for() { # TEXT TIMEOUT_S
  local t0=$SECONDS
  until pane | grep -q -- "$1"; do
    (( SECONDS - t0 < $2 )) || { echo "timed out waiting for: $1" >&2; return 1; }
    sleep 0.05
  done
}
start=$(date +%s.%N)
wait_for "ready in" 120
echo "session ready after $(echo "$(date +%s.%N) - $start" | bc) s"
pid=$(pgrep -f "^$vecsh $file" | head -n 1)
tmux send-keys -t lists ':exact off' Enter
build_start=$(date +%s.%N)
peak=0 q=0
while ! pane | grep -q "lists ready"; do
  rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
  (( rss > peak )) && peak=$rss
  if (( q * 20 <= SECONDS )); then
    q=$((q + 1))
    word=${WORD:-w$((q * 7919))}
    t=$(date +%s.%N)
    tmux send-keys -t lists "$word" Enter
    # The first neighbour line of this answer (the earlier answers' are counted).
    until [[ $(pane | grep -c "^ 1 ") -ge $q ]]; do sleep 0.02; done
    echo "query $q ($word) during the build: answered in $(echo "($(date +%s.%N) - $t) * 1000" | bc | cut -d. -f1) ms, session RSS $rss MB"
  fi
  sleep 1
done
echo "lists ready after $(echo "$(date +%s.%N) - $build_start" | bc) s; peak sampled RSS during the build $peak MB"
pane | grep "lists ready"
tmux send-keys -t lists "${WORD:-w12345}" Enter
sleep 1
tmux send-keys -t lists ':info' Enter
sleep 1
pane | grep -v "^$" | tail -n 12
tmux send-keys -t lists C-d
sleep 2
grep -E "Maximum resident|Elapsed" "$out/time.txt"
