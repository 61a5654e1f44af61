#!/usr/bin/env bash
# Damage campaign: flips one random bit of an index's data.mdb per trial, on indexes of a
# generated 2,000 × 32 file read as word2vec text, word2vec binary (rows read in place), a pickled
# dict, word2vec text after `vecsh build` (with its lists) and a safetensors model directory; each trial must give the intact
# answers, report the damage or rebuild — a wrong answer, a crash or a hang fails the run.
#
#   MODE=ci bash bench/damage.sh      # 30 flips per kind (the default; about a minute)
#   MODE=long bash bench/damage.sh    # 200 flips per kind
#   VECSH=path/to/vecsh ...           # default: cargo build --release, target/release/vecsh
#   TRIALS=N SEED=S FLIP=byte KINDS=w2v-text,lists,model ONLY=KIND:SEED KEEP=1  (see bench/damage.py)
#
# Uses a fresh VECSH_CACHE in a temporary directory and --index DIR; never the user's cache.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${VECSH:-}" ]]; then
  cargo build --release --quiet
  VECSH="${CARGO_TARGET_DIR:-target}/release/vecsh"
fi
VECSH="$(realpath "$VECSH")"
export VECSH
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); $(uptime)"
python3 bench/damage.py
