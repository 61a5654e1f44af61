#!/usr/bin/env bash
# How vecsh's costs grow with vocabulary size, on seeded synthetic embeddings: index build,
# warm whole process, exact and approximate query latency and recall@10, forest build.
# Shows from which size the arroy forest beats the exact scan (SearchMode::Auto follows it).
#
#   bash bench/scaling.sh                   # SIZES="1000000x100 2000000x100" by default
#   SIZES="1000000x300 3000000x300" TREES=30 bash bench/scaling.sh
#   SIZES="1000000x300 hard:1000000x300" APPROX=0 bash bench/scaling.sh   # exact stages only
#
# A size prefixed "hard:" uses examples/synth_hard.rs (more centres, heavier noise) instead of
# examples/synth.rs. The exact columns show the principal-component stage the index chose
# (p; 0 = none) and the median fraction of rows each exact stage passes on.
# Needs disk: each size writes the .bin (words × dims × 4 bytes) and an index about 2.5× that.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
sizes=${SIZES:-"1000000x100 2000000x100"}
trees=${TREES:-30}
work=${SCALING_DIR:-$root/bench/out/scaling}
mkdir -p "$work"
approx=${APPROX:-1}
cargo build --release --quiet --bin vecsh --example synth --example synth_hard --example bench_queries
vecsh=$root/target/release/vecsh
echo "load: $(uptime)"
echo "| set | words × dims | index build | warm process | exact query | stage p | pc stage passes | int8 stage passes | forest build ($trees trees) | approx query, oversampling 8 | recall@10 |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for size in $sizes; do
  gen=synth
  [[ $size == hard:* ]] && gen=synth_hard size=${size#hard:}
  n=${size%x*} d=${size#*x}
  file=$work/$gen-$n-$d.bin
  [[ -s $file ]] || "$root/target/release/examples/$gen" "$n" "$d" "$file"
  export VECSH_CACHE=$work/cache-$gen-$n-$d
  rm -rf "$VECSH_CACHE"
  build=$( { /usr/bin/time -f '%e' "$vecsh" "$file" -e w1 --quiet >/dev/null; } 2>&1 | tail -n 1)
  warm=$(hyperfine --style none --warmup 2 --runs 10 --export-json "$work/warm.json" "$vecsh $file -e w1" >/dev/null \
    && python3 -c "import json;print(round(json.load(open('$work/warm.json'))['results'][0]['median']*1000,1))")
  flags=(--trees "$trees" --oversampling 8)
  [[ $approx == 1 ]] || flags=(--no-approx)
  "$root/target/release/examples/bench_queries" "$file" --queries 200 "${flags[@]}" \
    > "$work/queries-$gen-$n-$d.json" 2>/dev/null
  python3 - "$work/queries-$gen-$n-$d.json" "$gen" "$n" "$d" "$build" "$warm" <<'PY'
import json, sys
q = json.load(open(sys.argv[1])); gen, n, d, build, warm = sys.argv[2:]
e = q["exact"]
approx = "| — | — | — |"
if "approx" in q:
    a = q["approx"][0]
    approx = f"| {q['forest']['build_seconds']:.0f} s | {a['median_ms']:.2f} ms | {a['recall_at_10']:.3f} |"
print(f"| {gen} | {int(n):,} × {d} | {float(build):.1f} s | {warm} ms | {e['median_ms']:.2f} ms "
      f"| {e['pc_dims']} | {e['pc_pass_median']:.4f} | {e['int8_pass_median']:.6f} {approx}")
PY
done
