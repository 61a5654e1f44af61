#!/usr/bin/env bash
# How vecsh's costs grow with vocabulary size, on seeded synthetic embeddings: index build,
# warm whole process, exact and approximate query latency and recall@10, forest build.
# Shows from which size the arroy forest beats the exact scan (SearchMode::Auto follows it).
#
#   bash bench/scaling.sh                   # SIZES="1000000x100 2000000x100" by default
#   SIZES="1000000x300 3000000x300" TREES=30 bash bench/scaling.sh
#
# Needs disk: each size writes the .bin (words × dims × 4 bytes) and an index about 2.5× that.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
sizes=${SIZES:-"1000000x100 2000000x100"}
trees=${TREES:-30}
work=${SCALING_DIR:-$root/bench/out/scaling}
mkdir -p "$work"
cargo build --release --quiet --bin vecsh --example synth --example bench_queries
vecsh=$root/target/release/vecsh
echo "| words × dims | index build | warm process | exact query | forest build ($trees trees) | approx query, oversampling 8 | recall@10 |"
echo "|---|---|---|---|---|---|---|"
for size in $sizes; do
  n=${size%x*} d=${size#*x}
  file=$work/synth-$n-$d.bin
  [[ -s $file ]] || "$root/target/release/examples/synth" "$n" "$d" "$file"
  export VECSH_CACHE=$work/cache-$n-$d
  rm -rf "$VECSH_CACHE"
  build=$( { /usr/bin/time -f '%e' "$vecsh" "$file" -e w1 --quiet >/dev/null; } 2>&1 | tail -n 1)
  warm=$(hyperfine --style none --warmup 2 --runs 10 --export-json "$work/warm.json" "$vecsh $file -e w1" >/dev/null \
    && python3 -c "import json;print(round(json.load(open('$work/warm.json'))['results'][0]['median']*1000,1))")
  "$root/target/release/examples/bench_queries" "$file" --trees "$trees" --queries 200 --oversampling 8 \
    > "$work/queries-$n-$d.json" 2>/dev/null
  python3 - "$work/queries-$n-$d.json" "$n" "$d" "$build" "$warm" <<'PY'
import json, sys
q = json.load(open(sys.argv[1])); n, d, build, warm = sys.argv[2:]
a = q["approx"][0]
print(f"| {int(n):,} × {d} | {float(build):.1f} s | {warm} ms | {q['exact']['median_ms']:.2f} ms "
      f"| {q['forest']['build_seconds']:.0f} s | {a['median_ms']:.2f} ms | {a['recall_at_10']:.3f} |")
PY
done
