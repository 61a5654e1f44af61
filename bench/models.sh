#!/usr/bin/env bash
# LLM-size input embeddings (issue 26): a Qwen3-0.6B-size model directory (151,936 x 1,024 BF16,
# 311 MB, a byte-level BPE tokenizer.json of 151,643 + 26 tokens) and a Llama-3-8B-size one
# (128,256 x 4,096 BF16, 1.05 GB, 128,000 + 256 tokens), made by bench/models.py outside the repo;
# then for each, with the release vecsh:
#   - first answer: `vecsh DIR -e WORD` on a fresh VECSH_CACHE (the model read once beforehand, so it
#     is in the page cache): time to the first answer line, to exit, and peak RSS (/usr/bin/time -v);
#   - warm one-shot: the same on the index it wrote, median/fastest/slowest of RUNS (default 20) after
#     3 warm-ups, and the peak RSS of one more run;
#   - a phrase in a session: statements piped on stdin to one process: A = one word; B = one phrase
#     (`"w1 w2"`, which parses tokenizer.json); C = the phrase then PHRASES (default 100) distinct phrases.
#     D = the word then PHRASES distinct single words (each a token: a search without the tokenizer).
#     first phrase = B - A (the tokenizer's parse + one encoding + search); per phrase = (C - B) / PHRASES;
#     per word = (D - A) / PHRASES, so per phrase - per word is what encoding a phrase adds to a search.
#     Each of A, B, C, D is the median of 5 runs.
#
#   bench/models.sh [OUT_DIR]        # default OUT_DIR=/work/data/models
#   VECSH=path/to/vecsh  PYTHON=python-with-numpy-and-tokenizers  WORD=king  ONLY=qwen3-0.6b-size
#
# Indexes go to a temporary cache under OUT_DIR (removed at the end), never the user's cache.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/work/data/models}
VECSH=${VECSH:-${CARGO_TARGET_DIR:-target}/release/vecsh}
VECSH=$(realpath "$VECSH")
PYTHON=${PYTHON:-$( [ -x /work/venv/bin/python ] && echo /work/venv/bin/python || echo python3 )}
WORD=${WORD:-king}
RUNS=${RUNS:-20}
PHRASES=${PHRASES:-100}
only=${ONLY:-"qwen3-0.6b-size llama3-8b-size"}
export NO_COLOR=1
mkdir -p "$out"
# shellcheck disable=SC2086
"$PYTHON" bench/models.py "$out" $only
work=$(mktemp -d "$out/bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

now() { date +%s%N; }
ms() { echo "scale=1; ($2 - $1) / 1000000" | bc; }
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
range() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%s–%s", v[1], v[NR] }'; }

# distinct two-word phrases of common words (GloVe's when present)
"$PYTHON" - "$PHRASES" "$work/words" > "$work/phrases" <<'PY'
import os, sys
n = int(sys.argv[1])
p = os.path.expanduser("~/.cache/vecsh-data/glove.6B.50d.txt")
words = []
if os.path.exists(p):
    with open(p, encoding="utf-8") as f:
        for line in f:
            w = line.split(" ", 1)[0]
            if w.isascii() and w.isalpha():
                words.append(w)
            if len(words) >= 2 * n + 200:
                break
else:
    words = ["w%d" % i for i in range(2 * n + 200)]
for i in range(n):
    print('"%s %s"' % (words[100 + 2 * i], words[101 + 2 * i]))
with open(sys.argv[2], "w") as f:
    for i in range(n):
        print(words[100 + 2 * i], file=f)
PY

echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "vecsh: $VECSH ($("$VECSH" --version 2>/dev/null || echo '?'))"
for name in $only; do
  dir=$out/$name
  cat "$dir/model.safetensors" "$dir/tokenizer.json" > /dev/null
  echo
  echo "== $name: $(du -h "$dir/model.safetensors" | cut -f1) model.safetensors"
  export VECSH_CACHE=$work/cache-$name
  rm -rf "$VECSH_CACHE"
  mkdir -p "$VECSH_CACHE"
  t0=$(now)
  {
    /usr/bin/time -v -o "$work/time" "$VECSH" "$dir" -e "$WORD" 2> "$work/stderr" |
      { IFS= read -r line && now > "$work/first" && printf '%s\n' "$line" > "$work/first_line"; cat > /dev/null; }
    now > "$work/exit"
  }
  if [ ! -s "$work/first" ]; then
    echo "first answer FAILED: $(head -c 600 "$work/stderr")"
    continue
  fi
  rss=$(awk -F': ' '/Maximum resident/ { print int($2 / 1024) }' "$work/time")
  echo "first answer (fresh cache): $(ms "$t0" "$(cat "$work/first")") ms to the first line, $(ms "$t0" "$(cat "$work/exit")") ms to exit; peak RSS $rss MB; first line: $(cat "$work/first_line")"
  rm -f "$work/first"
  echo "index: $(du -sh "$VECSH_CACHE" | cut -f1)"
  for _ in 1 2 3; do "$VECSH" "$dir" -e "$WORD" > /dev/null; done
  times=()
  for _ in $(seq "$RUNS"); do
    t0=$(now); "$VECSH" "$dir" -e "$WORD" > /dev/null; t1=$(now)
    times+=("$(ms "$t0" "$t1")")
  done
  rss=$( { /usr/bin/time -f '%M' "$VECSH" "$dir" -e "$WORD" > /dev/null; } 2>&1 | tail -1)
  echo "warm one-shot -e $WORD: median $(median "${times[@]}") ms ($(range "${times[@]}") ms, $RUNS runs); peak RSS $((rss / 1024)) MB"
  echo "$WORD" > "$work/a"
  head -1 "$work/phrases" > "$work/b"
  { head -1 "$work/phrases"; cat "$work/phrases"; } > "$work/c"
  { echo "$WORD"; cat "$work/words"; } > "$work/d"
  if ! "$VECSH" "$dir" --quiet < "$work/b" > "$work/b.out" 2>&1 || grep -qi error "$work/b.out"; then
    echo "phrase in a session FAILED: $(head -c 600 "$work/b.out")"
    continue
  fi
  declare -A t=()
  for s in a b c d; do
    runs=()
    for _ in 1 2 3 4 5; do
      t0=$(now); "$VECSH" "$dir" --quiet < "$work/$s" > /dev/null; t1=$(now)
      runs+=("$(ms "$t0" "$t1")")
    done
    t[$s]=$(median "${runs[@]}")
  done
  echo "session (median of 5): one word ${t[a]} ms, one phrase ${t[b]} ms, 1 + $PHRASES phrases ${t[c]} ms, 1 + $PHRASES words ${t[d]} ms"
  echo "first phrase (tokenizer parse + encode + search): $(echo "scale=1; ${t[b]} - ${t[a]}" | bc) ms; each further phrase: $(echo "scale=2; (${t[c]} - ${t[b]}) / $PHRASES" | bc) ms; each further word: $(echo "scale=2; (${t[d]} - ${t[a]}) / $PHRASES" | bc) ms"
  echo "sample: $(head -1 "$work/phrases") → $(head -3 "$work/b.out" | tr '\n' ' ' | head -c 300)"
  unset t
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
