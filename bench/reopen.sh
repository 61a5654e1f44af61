#!/usr/bin/env bash
# A session's reopen of an indexed file (issue 25, "a session that takes up to 17 s to reopen"):
# in a pseudo-terminal (a session is interactive only on a terminal), RUNS warm and RUNS cold
# sessions, each printing the banner's `ready in`, the wall time to the first prompt, and the time
# from a query typed at the prompt to its answer. Cold: the index's files and the source dropped
# from the page cache first (posix_fadvise(DONTNEED); no root needed). Prints the load average
# before and after: the figures are wall times on a shared machine.
#
#   bench/reopen.sh FILE QUERY [FLAGS...]     # e.g. bench/reopen.sh big.bin w1
#
# VECSH overrides the binary (default: release build), RUNS the runs of each kind (default 6),
# MODES the kinds ("warm cold"; "cold" for the cold runs only).
# The index is opened once first (a one-shot) if it does not exist yet.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: bench/reopen.sh FILE QUERY [FLAGS...]" >&2; exit 2; }
file=$1 query=$2
shift 2
VECSH=${VECSH:-target/release/vecsh}
RUNS=${RUNS:-6}
[ -n "${VECSH_SKIP_BUILD:-}" ] || cargo build --release --quiet
"$VECSH" "$file" "$@" -e "$query" >/dev/null
echo "# $(date -u +%FT%TZ) $VECSH $file, query '$query'; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/reopen.py "$VECSH" "$file" "$query" "$RUNS" "$@"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
