#!/usr/bin/env bash
# Load time and index size of a realistic fastText model, vecsh vs gensim (README figures).
#   bash bench/fasttext_load.sh [MODEL.bin]
# Without MODEL, bench/fasttext_model.py trains one (gensim FastText, 100 d, 2M buckets).
set -euo pipefail
model=${1:-/tmp/vecsh-bench/lee2m.bin}  # 806 MB; trained on first use
py=${PYTHON:-python3}
mkdir -p "$(dirname "$model")"
"$py" bench/fasttext_model.py "$model" 2>/dev/null | grep -v -i warn
vecsh=target/release/vecsh
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
export VECSH_CACHE=$cache NO_COLOR=1
start=$(date +%s.%N)
$vecsh --quiet "$model" -k 1 -e the >/dev/null
end=$(date +%s.%N)
echo "vecsh first open (index build incl. the 2M-bucket table): $(echo "$end - $start" | bc) s"
$vecsh info "$model" | grep -E "^(index|subwords|words)"
for expr in the governmnet; do
  best=
  for _ in 1 2 3 4 5; do
    s=$(date +%s%N); $vecsh --quiet "$model" -k 10 -e "$expr" >/dev/null; e=$(date +%s%N)
    ms=$(( (e - s) / 1000000 )); best=$(( ${best:-$ms} < ms ? ${best:-$ms} : ms ))
  done
  echo "vecsh warm -e $expr: best of 5 ${best} ms"
done
