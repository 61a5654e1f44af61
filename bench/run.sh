#!/usr/bin/env bash
# vecsh against gensim and Annoy on the real GloVe 6B 50d, on this machine, in one run.
# Prints a markdown table (measure, vecsh, peer, ratio) — the README's performance section —
# and keeps every raw figure in bench/out/*.json.
#
#   bash bench/run.sh            # RUNS=N repetitions per whole-process measure (default 3)
#
# Measures alternate (a vecsh measure, then the peer's same measure) so drift on a shared
# machine hits both sides alike; times are medians. Not part of the test suite.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
runs=${RUNS:-3}
out=bench/out
mkdir -p "$out"
log() { printf '==> %s\n' "$*" >&2; }

data=$(bash ../shared/data/fetch-glove.sh | tail -n 1)
questions=../shared/eval/questions-words.txt
py=$(bash bench/setup-peers.sh | tail -n 1)
command -v hyperfine >/dev/null || apt-get install -y hyperfine >/dev/null
log "building vecsh (release)"
cargo build --release --quiet --bin vecsh --example bench_queries
vecsh=$root/target/release/vecsh
txt=$data/glove.6B.50d.txt
bin=$data/glove.6B.50d.w2v.bin
words=$out/words1000.txt

# Runs a command with /usr/bin/time; prints "wall_seconds peak_rss_kib".
timed() { /usr/bin/time -f '%e %M' -o "$out/.time" "$@" >/dev/null 2>&1; cat "$out/.time"; }

# Time to first answer on a file never seen: a fresh cache each run, so the index is built.
first_answer() {
  local file=$1 name=$2 result=()
  for ((i = 0; i < runs; i++)); do
    local cache; cache=$(mktemp -d)
    result+=("$(VECSH_CACHE=$cache timed "$vecsh" "$file" -e king --quiet)")
    if ((i == 0)); then
      du -sb "$cache" | cut -f1 > "$out/vecsh-index-bytes-$name"
    fi
    rm -rf "$cache"
  done
  printf '%s\n' "${result[@]}" > "$out/vecsh-first-$name.txt"
}

log "time to first answer: .txt (vecsh, then gensim)"
first_answer "$txt" txt
"$py" bench/peers.py load-txt --runs "$runs" --out "$out/gensim-load-txt.json" >/dev/null
log "time to first answer: .w2v.bin (vecsh, then gensim)"
first_answer "$bin" bin
"$py" bench/peers.py load-bin --runs "$runs" --out "$out/gensim-load-bin.json" >/dev/null

log "warm whole process: vecsh FILE -e king"
export VECSH_CACHE=$out/cache
"$vecsh" "$bin" -e king --quiet >/dev/null
hyperfine --style none --warmup 3 --runs 30 --export-json "$out/vecsh-warm.json" "$vecsh $bin -e king" >/dev/null

log "forest build: vecsh build --trees (default), fresh cache"
cache=$(mktemp -d)
VECSH_CACHE=$cache "$vecsh" "$bin" -e king --quiet >/dev/null
VECSH_CACHE=$cache timed "$vecsh" build "$bin" --quiet > "$out/vecsh-forest-time.txt"
VECSH_CACHE=$cache "$vecsh" info "$bin" --json > "$out/vecsh-info-forest.json"
rm -rf "$cache"

log "exact and approximate query latency, recall@10 (gensim's 1,000 words)"
"$py" bench/peers.py exact-latency --out "$out/gensim-exact.json" >/dev/null
"$root/target/release/examples/bench_queries" "$bin" --words "$words" --oversampling 1,4,8,16,32,64 \
  > "$out/vecsh-queries.json"
"$py" bench/peers.py annoy --out "$out/annoy.json" >/dev/null

log "analogy evaluation (gensim protocol, 19,544 questions)"
VECSH_CACHE=$out/cache timed "$vecsh" eval analogy "$bin" "$questions" --json --quiet > "$out/vecsh-analogy-time.txt"
"$vecsh" eval analogy "$bin" "$questions" --json --quiet > "$out/vecsh-analogy.json"
"$py" bench/peers.py analogy --out "$out/gensim-analogy.json" >/dev/null

python3 bench/table.py "$out"
