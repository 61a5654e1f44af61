#!/usr/bin/env bash
# The disk a first open needs (issue 25: a 47 MB index refused a 60 MB tmpfs, "needs about
# 146 MB"). For each FILE: the index's size and the peak use during the first open on a roomy
# tmpfs (statvfs polled every 2 ms), then the smallest tmpfs (1 MiB steps, bisected) on which the
# first open succeeds, and what the full disk's message says below it.
#   sudo bash bench/disk_need.sh [FILE...]      (mounting a tmpfs needs root)
# Default files: GloVe 6B 50d as text and as a word2vec .bin (~/.cache/vecsh-data).
# VECSH=… overrides target/release/vecsh (a debug build gives the same sizes).
set -euo pipefail
data=$HOME/.cache/vecsh-data
[ $# -gt 0 ] || set -- "$data/glove.6B.50d.txt" "$data/glove.6B.50d.w2v.bin"
vecsh=${VECSH:-${CARGO_TARGET_DIR:-target}/release/vecsh}
export NO_COLOR=1
mib() { echo "scale=1; $1 / 1048576" | bc; }

# first_open FILE SIZE_MIB: exit status of a first open on a new tmpfs of SIZE_MIB; sets
# $used (bytes in use after it), $peak (bytes, polled) and $msg (stderr's first line).
first_open() {
  local mnt; mnt=$(mktemp -d /tmp/disk-need.XXXX)
  mount -t tmpfs -o "size=$2m" tmpfs "$mnt"
  local out
  out=$(python3 - "$mnt" "$vecsh" "$1" <<'PY'
import os, subprocess, sys, time
mnt, vecsh, src = sys.argv[1:]
def used():
    s = os.statvfs(mnt)
    return (s.f_blocks - s.f_bfree) * s.f_frsize
env = dict(os.environ, VECSH_CACHE=os.path.join(mnt, "cache"))
p = subprocess.Popen([vecsh, src, "-e", "king"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
peak = 0
while p.poll() is None:
    peak = max(peak, used())
    time.sleep(0.002)
err = p.stderr.read().decode().strip().splitlines()
print(p.returncode, used(), max(peak, used()), (err or [""])[0])
PY
)
  umount "$mnt"; rmdir "$mnt"
  read -r rc used peak msg <<<"$out"
  return "$rc"
}

for file in "$@"; do
  echo "== $file"
  first_open "$file" 4096 || { echo "the first open failed: $msg"; exit 1; }
  index=$used
  echo "index: $(mib "$index") MiB; peak use during the first open on a roomy disk: $(mib "$peak") MiB"
  lo=$((index / 1048576)) hi=$((index * 2 / 1048576 + 8))
  first_open "$file" "$lo" && { echo "the index's own size suffices?"; exit 1; }
  below=$msg
  first_open "$file" "$hi" || { echo "twice the index does not suffice: $msg"; exit 1; }
  while [ $((hi - lo)) -gt 1 ]; do
    mid=$(((lo + hi) / 2))
    if first_open "$file" "$mid"; then hi=$mid; else lo=$mid; below=$msg; fi
  done
  echo "smallest tmpfs that holds the first open: $hi MiB ($(echo "scale=2; $hi * 1048576 / $index" | bc)x the index)"
  echo "at $lo MiB: $below"
done
