#!/usr/bin/env bash
# The peers at 3M × 300 in pieces that each fit under the shared bench lock (issue 28, "Peers side
# by side"): vecsh and hnswlib / FAISS on the SAME rows, a prefix of the file as a .bin of its own
# (bench/prefix_bin.py) so that vecsh indexes exactly the rows the peers were built on, and vecsh
# (and the FAISS peers that fit) on the whole file.
#
#   bash bench/peers-3m.sh FILE TAG STEP...
#   PEER_ROWS=300000 bash bench/peers-3m.sh /work/data/synth-3m-300.bin clustered prefix vecsh-prefix hnswlib-prefix
#
# Steps (each one takes the bench lock on its own, and logs the load average before and after):
#   prefix          write FILE's first PEER_ROWS rows to OUT/TAG-PEER_ROWS.bin (no lock: I/O only)
#   vecsh-prefix    vecsh on that prefix file: first open with a fresh cache (`/usr/bin/time -v`:
#   vecsh-full      index build wall time, peak RSS), then examples/ivf_bench (exact latency, lists
#                   build, peak RSS, calibrated probes, recall@10 / median latency over PROBES),
#                   under `/usr/bin/time -v` too; the cache is deleted after
#   hnswlib-prefix  `peers.py ann hnswlib` (M 16, ef_construction 200) on the prefix: the index is
#                   saved under OUT and reused by a later run (its build is the long part)
#   faiss-ivf-prefix, faiss-flat-prefix, faiss-ivf-full, faiss-flat-full
#                   `peers.py ann faiss-ivf|faiss-flat` on the prefix or the whole file
# Then `bash bench/peers-3m.sh FILE TAG table` prints the rows ann_table.py makes from what is there.
#
# Query rows: ivf_bench's seeded LCG over the rows indexed (1,000 by default), each one's own row
# excluded, recall@10 against exact, one query at a time on one thread; the peers draw the same.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
file=$1 tag=$2
shift 2
rows=${PEER_ROWS:-300000}
out=${OUT:-/work/data/peers29}
tgt=${CARGO_TARGET_DIR:-$root/target}
vecsh=${VECSH:-$tgt/release/vecsh}
ivf=${IVF_BENCH:-$tgt/release/examples/ivf_bench}
py=${PY:-/work/venv/bin/python}
queries=${QUERIES:-1000}
probes=${PROBES:-4,8,12,16,24,32,48,64,96,128}
efs=${EFS:-"16 32 48 64 96 128 192 256 384"}
nprobes=${NPROBES:-"1 2 4 8 16 32 64 96"}
lock=${LOCK:-/work/coord/bench.lock}
mkdir -p "$out"
prefix=$out/$tag-$rows.bin
log=$out/$tag.log
locked() { if [[ $lock == none ]]; then "$@"; else flock "$lock" "$@"; fi; }
stamp() { echo "$(date -u +%T) $1 load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"; }

vecsh_run() { # FILE NAME
  local f=$1 name=$2
  export VECSH_CACHE=$out/cache-$name
  rm -rf "$VECSH_CACHE"
  stamp "$name: first open"
  /usr/bin/time -v "$vecsh" "$f" -e w1 --quiet > /dev/null 2> "$out/$name-open.time"
  stamp "$name: ivf_bench"
  /usr/bin/time -v "$ivf" "$f" --queries "$queries" --probes "$probes" > "$out/$name-ivf.json" \
    2> "$out/$name-ivf.err"
  stamp "$name: done, index $(du -sh "$VECSH_CACHE" | cut -f1)"
  rm -rf "$VECSH_CACHE"
}

peer_run() { # PEER FILE NAME [--rows]
  local peer=$1 f=$2 name=$3 runs=3
  [[ $peer == faiss-flat && $name == *full* ]] && runs=1
  stamp "$name: $peer"
  /usr/bin/time -v "$py" "$root/bench/peers.py" ann "$peer" --path "$f" --n-words "$queries" \
    --runs "$runs" --ef $efs --nprobe $nprobes --index-dir "$out" --out-dir "$out/peers-out" \
    > "$out/$name-$peer.json" 2> "$out/$name-$peer.err"
  stamp "$name: $peer done"
}

export -f vecsh_run peer_run stamp
export out log vecsh ivf py queries probes efs nprobes root
for step in "$@"; do
  case $step in
    prefix) "$py" "$root/bench/prefix_bin.py" "$file" "$rows" "$prefix" ;;
    vecsh-prefix) locked bash -c "vecsh_run '$prefix' '$tag-$rows'" ;;
    vecsh-full) locked bash -c "vecsh_run '$file' '$tag-full'" ;;
    hnswlib-prefix | faiss-ivf-prefix | faiss-flat-prefix)
      locked bash -c "peer_run '${step%-prefix}' '$prefix' '$tag-$rows'" ;;
    faiss-ivf-full | faiss-flat-full)
      locked bash -c "peer_run '${step%-full}' '$file' '$tag-full'" ;;
    table)
      for name in "$tag-$rows" "$tag-full"; do
        [[ -s $out/$name-ivf.json ]] || continue
        peers=()
        for p in hnswlib faiss-ivf faiss-flat; do
          [[ -s $out/$name-$p.json ]] && peers+=("$out/$name-$p.json")
        done
        python3 - "$out" "$name" <<'PY'
import json, re, sys
out, name = sys.argv[1:]
def tv(path):  # wall seconds, CPU seconds and peak RSS (MB) from `/usr/bin/time -v`
    t = open(path).read()
    g = lambda k: re.search(k + r": (.*)", t).group(1).strip()
    wall = sum(float(x) * 60 ** i for i, x in enumerate(reversed(g(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\)").split(":"))))
    return wall, float(g("User time \\(seconds\\)")) + float(g("System time \\(seconds\\)")), int(g(r"Maximum resident set size \(kbytes\)")) // 1024
o, i = tv(f"{out}/{name}-open.time"), tv(f"{out}/{name}-ivf.err")
v = json.load(open(f"{out}/{name}-ivf.json"))
cal = next(c for c in v["curve"] if c["calibrated"])
curve = ", ".join(f"{c['probes']}: {c['recall_at_10']:.3f} / {c['median_ms']:.3f} ms" for c in v["curve"] if not c["calibrated"])
print(f"| {name} | first open {o[0]:.1f} s ({o[1]:.1f} s CPU), peak RSS {o[2]:,} MB | exact {v['exact_median_ms']:.2f} ms "
      f"| lists {v['lists']['build_seconds']:.1f} s, {v['lists']['lists']:,} lists, ivf_bench peak RSS {i[2]:,} MB "
      f"| calibrated {cal['probes']} probes: {cal['recall_at_10']:.3f} / {cal['median_ms']:.3f} ms | {curve} |")
PY
        python3 "$root/bench/ann_table.py" "$name" "$out/$name-ivf.json" "${peers[@]}"
      done ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
