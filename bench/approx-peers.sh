#!/usr/bin/env bash
# vecsh's approximate search beside hnswlib on the same query rows, alternately in one run:
# REPS rounds of examples/ivf_bench.rs (vecsh's lists over PROBES) then `peers.py ann hnswlib`
# (M 16, ef_construction 200, over EFS; its index built once and kept under OUT), each one query
# at a time in one process. Prints, per setting, the median over the rounds of each round's
# median latency, the load average after each round, and at recall@10 0.95 and 0.98 each
# one's first setting reaching it and the latency ratio.
#
#   bash bench/approx-peers.sh [FILE]     # default GloVe 6B 50d's .w2v.bin
#   REPS=5 PROBES=48,64,96,128 EFS="48 64 96 128" BIN=target/release/examples/ivf_bench bash bench/approx-peers.sh
#
# Takes the bench lock (/work/coord/bench.lock if it exists) for each round; LOCK=none runs
# without it (each round is ~15 s of CPU).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
file=${1:-${VECSH_DATA:-$HOME/.cache/vecsh-data}/glove.6B.50d.w2v.bin}
reps=${REPS:-3}
probes=${PROBES:-32,48,64,96,128,192}
efs=${EFS:-"32 48 64 96 128 192"}
out=${OUT:-$root/bench/out/approx-peers}
bin=${BIN:-$root/target/release/examples/ivf_bench}
py=${PY:-/work/venv/bin/python}
mkdir -p "$out"
lock=${LOCK:-/work/coord/bench.lock}
[[ $lock == none || -e $lock ]] || lock=$out/lock
locked() { if [[ $lock == none ]]; then "$@"; else flock "$lock" "$@"; fi; }
[[ -x $bin ]] || (cd "$root" && cargo build --release --quiet --example ivf_bench)
for r in $(seq 1 "$reps"); do
  locked bash -c "'$bin' '$file' --queries 1000 --probes $probes > '$out/vecsh-$r.json' 2>/dev/null
    '$py' '$root/bench/peers.py' ann hnswlib --path '$file' --runs 1 --ef $efs --index-dir '$out' \
      --out-dir '$out' > '$out/hnswlib-$r.json' 2>/dev/null"
  echo "round $r: load $(cut -d' ' -f1-3 /proc/loadavg)"
done
python3 - "$out" "$reps" <<'PY'
import json, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
v = [json.load(open(f"{out}/vecsh-{r}.json")) for r in range(1, reps + 1)]
h = [json.load(open(f"{out}/hnswlib-{r}.json")) for r in range(1, reps + 1)]
def table(runs, key, pick):
    rows = {}
    for run in runs:
        for c in pick(run):
            rows.setdefault(c[key], {"recall": c["recall_at_10"], "ms": []})["ms"].append(c["median_ms"])
    return {k: (r["recall"], statistics.median(r["ms"]), r["ms"]) for k, r in sorted(rows.items())}
vt = table(v, "probes", lambda j: [c for c in j["curve"] if not c["calibrated"]])
ht = table(h, "setting", lambda j: j["curve"])
print("| vecsh probes | recall@10 | median ms (rounds) |\n|---|---|---|")
for k, (rec, ms, all_) in vt.items():
    print(f"| {k} | {rec:.3f} | {ms:.3f} ({', '.join(f'{x:.3f}' for x in all_)}) |")
print("\n| hnswlib ef | recall@10 | median ms (rounds) |\n|---|---|---|")
for k, (rec, ms, all_) in ht.items():
    print(f"| {k} | {rec:.3f} | {ms:.3f} ({', '.join(f'{x:.3f}' for x in all_)}) |")
print(f"\nhnswlib build: {h[0]['build_s']:.0f} s, peak RSS {h[0]['peak_rss_mib_build']:.0f} MiB; "
      f"vecsh lists build: {v[0]['lists']['build_seconds']:.1f} s, peak RSS {v[0]['lists']['peak_rss_mb']} MB")
for target in (0.95, 0.98):
    vk = next(((k, r) for k, r in vt.items() if r[0] >= target), None)
    hk = next(((k, r) for k, r in ht.items() if r[0] >= target), None)
    if vk and hk:
        print(f"recall ≥ {target}: vecsh {vk[0]} probes {vk[1][0]:.3f} at {vk[1][1]:.3f} ms; "
              f"hnswlib ef {hk[0]} {hk[1][0]:.3f} at {hk[1][1]:.3f} ms; vecsh ÷ hnswlib {vk[1][1] / hk[1][1]:.2f}×")
PY
