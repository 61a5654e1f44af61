#!/usr/bin/env bash
# Text parsed at the machine's speed (issue 28): time to a first answer, `vecsh FILE -e WORD` on a
# new index (empty cache), source in the page cache, for one or two binaries run alternately in
# the same run (before/after), with the load average at each figure.
#
#   bench/parse.sh                                  # GloVe 6B 50d .txt and /work/data/text-2M-300.vec
#   bench/parse.sh FILE WORD [FILE WORD ...]
#
# BEFORE=path/to/old/vecsh adds it as a second binary (e.g. main's release build); VECSH is the
# binary measured (default target/release/vecsh); RUNS runs of each (default 5). Indexes go to
# $BIG/parse-cache (default /work/data), never into the repo. The 2M x 300 text file comes from
#   cargo run --release --example synth -- 2000000 300 /work/data/text-2M-300.vec
set -euo pipefail
cd "$(dirname "$0")/.."
BIG=${BIG:-/work/data}
VECSH=${VECSH:-${CARGO_TARGET_DIR:-target}/release/vecsh}
RUNS=${RUNS:-5}
if [ $# -eq 0 ]; then
  set -- "$HOME/.cache/vecsh-data/glove.6B.50d.txt" the /work/data/text-2M-300.vec w1
fi
bins=("$VECSH")
names=(after)
if [ -n "${BEFORE:-}" ]; then
  bins=("$BEFORE" "$VECSH")
  names=(before after)
fi
now() { date +%s.%N; }
cache=$BIG/parse-cache
echo "machine: $(nproc) cores; $(uptime | sed 's/.*load/load/')"
printf '%-22s %-7s %s\n' file binary 'wall seconds (runs) | median | CPU median | load average after each run'
while [ $# -ge 2 ]; do
  src=$1 word=$2
  shift 2
  cat "$src" >/dev/null
  declare -A times=() loads=() cpus=()
  for _ in $(seq "$RUNS"); do
    for i in "${!bins[@]}"; do
      rm -rf "$cache"
      mkdir -p "$cache"
      VECSH_CACHE=$cache /usr/bin/time -f '%e %U %S' -o "$BIG/parse.time" "${bins[$i]}" "$src" -e "$word" >/dev/null 2>&1
      read -r wall user sys <"$BIG/parse.time"
      times[$i]+="$wall "
      cpus[$i]+="$(echo "$user + $sys" | bc) "
      loads[$i]+="$(cut -d' ' -f1 /proc/loadavg) "
    done
  done
  for i in "${!bins[@]}"; do
    med=$(echo "${times[$i]}" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    cmed=$(echo "${cpus[$i]}" | tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    printf '%-22s %-7s %s| median %.2f s | CPU (user+sys) median %.2f s | load %s\n' "$(basename "$src")" \
      "${names[$i]}" "$(printf '%.2f ' ${times[$i]})" "$med" "$cmed" "${loads[$i]}"
  done
  unset times loads cpus
done
rm -rf "$cache"
