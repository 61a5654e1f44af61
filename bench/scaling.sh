#!/usr/bin/env bash
# How vecsh's costs grow with vocabulary size, on seeded synthetic embeddings: index build,
# warm whole process, exact query latency and the exact stages' pass fractions, and the
# approximate search's inverted lists (examples/ivf_bench.rs: build time and size, the probes the
# calibration chose, and the recall@10 / latency curve against the exact answers).
#
#   bash bench/scaling.sh                   # SIZES="1000000x100 2000000x100" by default
#   SIZES="1000000x300 3000000x300 hard:3000000x300" bash bench/scaling.sh
#   FOREST=1 TREES=30 bash bench/scaling.sh  # + the arroy forest (--forest) at oversampling 8
#   SIZES="1000000x300 hard:1000000x300" APPROX=0 bash bench/scaling.sh   # exact stages only
#   SIZES="1000000x300 3000000x300" PEERS=1 bash bench/scaling.sh          # + gensim, Annoy, hnswlib, FAISS
#   SIZES="glove" PEERS=1 bash bench/scaling.sh   # GloVe 6B 50d's .bin (~/.cache/vecsh-data) as a set
#
# PEERS=1 also measures, on each same .bin, gensim 4.4 (fresh process: load_word2vec_format +
# first most_similar; then most_similar latency over 200 seeded words) and Annoy (30 trees on
# both cores: build time, and the query latency at the first search_k reaching recall@10 0.95
# against gensim's exact answers), in the venv of bench/setup-peers.sh, and prints a second
# table with ratios (peer ÷ vecsh: above 1, vecsh is faster). gensim holds the whole file in
# memory (7.4 GB at 3M x 300); Annoy's index goes under SCALING_DIR.
#
# PEERS=1 then adds hnswlib (M 16, ef_construction 200; recall@10 / latency over ef) and FAISS
# (IVFFlat with 2·√n lists over nprobe, and IndexFlatIP exact) through `peers.py ann`, on the
# query rows ivf_bench draws, one query at a time on one thread, and prints a third table: each
# peer's build time and peak RSS, its first setting reaching recall@10 0.95 and 0.98 (1 for the
# flat index), vecsh's first probes reaching the same recall (exact search for the flat index),
# and the latency ratio. hnswlib builds for hours at millions of rows on 2 cores: above
# PEER_ROWS rows (default 400000) the peers are built on the file's first PEER_ROWS rows only
# (the table's rows column says so), and vecsh's side of that table is measured on the same
# rows, written as a .bin of their own (bench/prefix_bin.py). hnswlib's index is kept under
# SCALING_DIR and reused. bench/peers-3m.sh runs the same pieces one bench-lock turn at a time.
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
forest=${FOREST:-0}
cargo build --release --quiet --bin vecsh --example synth --example synth_hard --example bench_queries --example ivf_bench
vecsh=$root/target/release/vecsh
# SIZE ("NxD" or "hard:NxD") -> the generator, words, dims and the .bin it writes.
set_size() {
  gen=synth size=$1
  [[ $size == hard:* ]] && gen=synth_hard size=${size#hard:}
  n=${size%x*} d=${size#*x}
  file=$work/$gen-$n-$d.bin
  if [[ $size == glove ]]; then
    gen=glove n=400000 d=50
    file=${VECSH_DATA:-$HOME/.cache/vecsh-data}/glove.6B.50d.w2v.bin
  fi
}
echo "load: $(uptime)"
echo "| set | words × dims | index build | warm process | exact query | stage p | pc stage passes | int8 stage passes | lists build | lists size | calibrated probes | recall@10 | approx query | recall / latency at other probes | forest ($trees trees): build, oversampling 8, recall |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for size in $sizes; do
  set_size "$size"
  [[ -s $file ]] || "$root/target/release/examples/$gen" "$n" "$d" "$file"
  export VECSH_CACHE=$work/cache-$gen-$n-$d
  rm -rf "$VECSH_CACHE"
  build=$( { /usr/bin/time -f '%e' "$vecsh" "$file" -e w1 --quiet >/dev/null; } 2>&1 | tail -n 1)
  warm=$(hyperfine -N --style none --warmup 2 --runs 10 --export-json "$work/warm.json" "$vecsh $file -e w1" >/dev/null \
    && python3 -c "import json;print(round(json.load(open('$work/warm.json'))['results'][0]['median']*1000,1))")
  flags=(--trees "$trees" --oversampling 8)
  [[ $forest == 1 ]] || flags=(--no-approx)
  # `vecsh build` adds the exact search's principal-component stage the first open leaves out.
  "$vecsh" build "$file" --quiet >/dev/null
  "$root/target/release/examples/bench_queries" "$file" --queries 200 "${flags[@]}" \
    > "$work/queries-$gen-$n-$d.json" 2>/dev/null
  lists=$work/lists-$gen-$n-$d.json
  echo '{}' > "$lists"
  probes=8,16,32,64
  [[ ${PEERS:-0} == 1 ]] && probes=8,16,24,32,48,64,96,128,192,256
  queries=200
  [[ ${PEERS:-0} == 1 ]] && queries=1000
  [[ $approx == 1 ]] && "$root/target/release/examples/ivf_bench" "$file" --queries $queries \
    --probes $probes > "$lists" 2>/dev/null
  python3 - "$work/queries-$gen-$n-$d.json" "$lists" "$gen" "$n" "$d" "$build" "$warm" <<'PY'
import json, sys
q = json.load(open(sys.argv[1])); l = json.load(open(sys.argv[2])); gen, n, d, build, warm = sys.argv[3:]
e = q["exact"]
lists = "| — | — | — | — | — | — "
if "curve" in l:
    cal = next(c for c in l["curve"] if c["calibrated"])
    others = ", ".join(f"{c['probes']}: {c['recall_at_10']:.3f} / {c['median_ms']:.2f} ms"
                       for c in l["curve"] if not c["calibrated"])
    lists = (f"| {l['lists']['build_seconds']:.0f} s | {l['lists']['bytes'] / 1e6:,.0f} MB "
             f"| {cal['probes']} | {cal['recall_at_10']:.3f} | {cal['median_ms']:.2f} ms | {others} ")
forest = "| — |"
if "approx" in q:
    a = q["approx"][0]
    forest = f"| {q['forest']['build_seconds']:.0f} s, {a['median_ms']:.2f} ms, {a['recall_at_10']:.3f} |"
print(f"| {gen} | {int(n):,} × {d} | {float(build):.1f} s | {warm} ms | {e['median_ms']:.2f} ms "
      f"| {e['pc_dims']} | {e['pc_pass_median']:.4f} | {e['int8_pass_median']:.6f} {lists}{forest}")
PY
done

[[ ${PEERS:-0} == 1 ]] || exit 0
py=$("$root/bench/setup-peers.sh" | tail -n 1)
echo
echo "| words × dims | first answer: vecsh / gensim (load + query) | exact query: vecsh / gensim | peak RSS of the first answer: vecsh / gensim | Annoy ($trees trees) build | Annoy at recall ≥ 0.95 | vecsh exact (recall 1) vs Annoy |"
echo "|---|---|---|---|---|---|---|"
for size in $sizes; do
  set_size "$size"
  peers=$work/peers-$gen-$n-$d
  mkdir -p "$peers"
  export VECSH_CACHE=$work/cache-$gen-$n-$d
  rm -rf "$VECSH_CACHE"
  first=$( { /usr/bin/time -f '%e %M' "$vecsh" "$file" -e w1 --quiet >/dev/null; } 2>&1 | tail -n 1)
  "$py" "$root/bench/peers.py" load-bin --path "$file" --word w1 --runs 1 --out-dir "$peers" --out "$peers/load.json" >/dev/null
  "$py" "$root/bench/peers.py" exact-latency --path "$file" --runs 1 --n-words 200 --out-dir "$peers" \
    --out "$peers/exact.json" >/dev/null
  "$py" "$root/bench/peers.py" annoy --path "$file" --runs 1 --n-words 200 --trees "$trees" \
    --target-recall 0.95 --out-dir "$peers" --out "$peers/annoy.json" >/dev/null
  rm -f "$peers"/annoy-*.ann
  python3 - "$peers" "$work/queries-$gen-$n-$d.json" "$n" "$d" $first <<'PY'
import json, sys
peers, queries, n, d, first_s, first_kb = sys.argv[1:]
load = json.load(open(f"{peers}/load.json"))
exact = json.load(open(f"{peers}/exact.json"))
annoy = json.load(open(f"{peers}/annoy.json"))
v_exact = json.load(open(queries))["exact"]["median_ms"]
hit = annoy.get("search_k_reaching_target")
a_ms = f"{hit['median_ms']:.2f} ms (search_k {hit['search_k']}, recall {hit['recall_at_10']:.3f})" if hit else "not reached"
vs = f"{hit['median_ms'] / v_exact:.2f}×" if hit else "—"
g_first = load["median_wall_s"]
print(f"| {int(n):,} × {d} | {float(first_s):.1f} s / {g_first:.1f} s ({g_first / float(first_s):.1f}×) "
      f"| {v_exact:.2f} ms / {exact['median_ms']:.1f} ms ({exact['median_ms'] / v_exact:.0f}×) "
      f"| {int(first_kb) // 1024:,} MB / {load['peak_rss_mib']:,.0f} MiB "
      f"| {annoy['build_s']:.0f} s | {a_ms} | {vs} |")
PY
done

peer_rows=${PEER_ROWS:-400000}
echo
echo "load: $(cat /proc/loadavg)"
echo "| set | peer rows | peer (parameters) | peer build | peer peak RSS | recall@10 target | peer: setting, recall, median | vecsh: probes, recall, median | vecsh ÷ peer | vecsh lists: build, peak RSS |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for size in $sizes; do
  set_size "$size"
  peers=$work/peers-$gen-$n-$d
  mkdir -p "$peers"
  export VECSH_CACHE=$work/cache-$gen-$n-$d
  # Above PEER_ROWS the peers are built on the file's first rows; vecsh then answers on the same
  # rows, written as a .bin of their own (bench/prefix_bin.py), so that the ratios compare one set.
  pfile=$file vlists=$work/lists-$gen-$n-$d.json
  if (( n > peer_rows )); then
    pfile=$work/$gen-$peer_rows-$d.bin vlists=$work/lists-$gen-$peer_rows-$d.json
    [[ -s $pfile ]] || "$py" "$root/bench/prefix_bin.py" "$file" "$peer_rows" "$pfile"
    VECSH_CACHE=$work/cache-$gen-$peer_rows-$d "$root/target/release/examples/ivf_bench" "$pfile" \
      --queries 1000 --probes 8,16,24,32,48,64,96,128,192,256 > "$vlists" 2>/dev/null
  fi
  for peer in hnswlib faiss-ivf faiss-flat; do
    "$py" "$root/bench/peers.py" ann "$peer" --path "$pfile" --n-words 1000 --runs 3 \
      --index-dir "$work" --out-dir "$peers" --out "$peers/ann-$peer.json" >/dev/null
  done
  python3 "$root/bench/ann_table.py" "$gen" "$vlists" "$peers"/ann-{hnswlib,faiss-ivf,faiss-flat}.json
done
