#!/usr/bin/env bash
# Acceptance test for `vecsh eval` on the real GloVe 6B 50d vectors: every section's counts must
# equal what gensim 4.4 and word2vec's compute-accuracy.c compute on the same file, and the
# similarity correlations what gensim's evaluate_word_pairs computes
# (tests/acceptance/expected-analogy.json; how each number was made is recorded there).
#
#   bash tests/acceptance/analogy.sh          (from anywhere; needs python3 and cargo)
#
# VECSH_ACCEPT_TIMING=1 also enforces the speed goals (gensim protocol ≤ 5 s, word2vec ≤ 0.3 s
# of evaluation on 2 cores); without it the times are only printed, since a loaded machine
# cannot promise them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
data=$(bash ../shared/data/fetch-glove.sh | tail -n 1)
glove=$data/glove.6B.50d.txt
eval_dir=../shared/eval
expected=tests/acceptance/expected-analogy.json
cargo build --release --quiet
# Ask cargo where it puts binaries: CARGO_TARGET_DIR or a workspace may move target/.
target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
vecsh=$target_dir/release/vecsh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The index is built once (and reused by later runs); time the evaluations after it exists.
"$vecsh" info "$glove" --quiet >/dev/null

python3 - "$expected" >"$out/cases" <<'EOF'
import json, sys
for i, case in enumerate(json.load(open(sys.argv[1]))["analogy"]):
    print(i, " ".join(case["args"]))
EOF
while read -r i args; do
  # shellcheck disable=SC2086  # args is a list of flags
  "$vecsh" eval analogy "$glove" "$eval_dir/questions-words.txt" $args --quiet --json >"$out/analogy-$i.json"
done <"$out/cases"
for name in simlex999.txt wordsim353.tsv; do
  "$vecsh" eval similarity "$glove" "$eval_dir/$name" --quiet --json >"$out/similarity-$name.json"
done

python3 - "$expected" "$out" <<'EOF'
import json, os, sys
expected = json.load(open(sys.argv[1]))
out = sys.argv[2]
timing = os.environ.get("VECSH_ACCEPT_TIMING") == "1"
failures = []
for i, case in enumerate(expected["analogy"]):
    got = json.load(open(os.path.join(out, f"analogy-{i}.json")))
    label = case["name"]
    sections = [[s["name"], s["correct"], s["seen"]] for s in got["sections"]]
    if sections != case["sections"]:
        for want, have in zip(case["sections"], sections):
            if want != have:
                failures.append(f"{label}: section {want[0]}: expected {want[1]}/{want[2]}, got {have[1]}/{have[2]}")
        if len(sections) != len(case["sections"]):
            failures.append(f"{label}: {len(sections)} sections, expected {len(case['sections'])}")
    for key in ("correct", "seen"):
        if got["total"][key] != case[key]:
            failures.append(f"{label}: total {key} {got['total'][key]}, expected {case[key]}")
    if got["questions_total"] != case["questions_total"]:
        failures.append(f"{label}: {got['questions_total']} questions, expected {case['questions_total']}")
    if got["skipped_unknown"] != case["questions_total"] - case["seen"]:
        failures.append(f"{label}: {got['skipped_unknown']} skipped, expected {case['questions_total'] - case['seen']}")
    limit = case.get("max_seconds")
    note = ""
    if limit is not None and got["seconds"] > limit:
        note = f" (goal ≤ {limit} s)"
        if timing:
            failures.append(f"{label}: {got['seconds']:.2f} s, goal ≤ {limit} s")
    print(f"{label:<28} {got['total']['correct']:>5} / {got['total']['seen']:<5} "
          f"{100 * got['total']['accuracy']:6.2f} %  {got['seconds']:.2f} s{note}")
for case in expected["similarity"]:
    got = json.load(open(os.path.join(out, f"similarity-{case['file']}.json")))
    for key in ("pearson", "spearman"):
        if abs(got[key] - case[key]) > 1e-6:
            failures.append(f"{case['file']}: {key} {got[key]:.8f}, expected {case[key]:.8f}")
    if abs(got["unknown_percent"] - case["unknown_percent"]) > 1e-9:
        failures.append(f"{case['file']}: unknown {got['unknown_percent']} %, expected {case['unknown_percent']} %")
    print(f"{case['file']:<28} pearson {got['pearson']:.4f}  spearman {got['spearman']:.4f}  "
          f"unknown {got['unknown_percent']:.1f} %")
if failures:
    print("\n".join(["FAILED:"] + failures), file=sys.stderr)
    sys.exit(1)
n = len(expected["analogy"]) + len(expected["similarity"])
print(f"{n} passed, 0 failed")
EOF
