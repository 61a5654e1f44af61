#!/usr/bin/env python3
"""Prints bench/run.sh's figures as one markdown table: measure, vecsh, peer, ratio.

Ratios are peer / vecsh for times and sizes (above 1: vecsh is faster or smaller) and
vecsh / peer for recall and accuracy. Reads bench/out/ (or the folder given); stdlib only."""
import json
import statistics
import sys
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/out")


def load(name):
    return json.loads((out / name).read_text())


def timed_runs(name):
    """Median wall seconds and peak RSS (MiB) of the `/usr/bin/time` lines in a file."""
    rows = [line.split() for line in (out / name).read_text().splitlines() if line.strip()]
    return statistics.median(float(r[0]) for r in rows), max(int(r[1]) for r in rows) / 1024


def fmt_s(x):
    return f"{x * 1000:.1f} ms" if x < 1 else f"{x:.2f} s"


def fmt_ms(x):
    return f"{x:.3f} ms" if x < 1 else f"{x:.2f} ms"


rows = []


def row(measure, vecsh, peer, ratio, peer_name):
    rows.append((measure, vecsh, f"{peer} ({peer_name})" if peer else "—", ratio))


first_txt, _ = timed_runs("vecsh-first-txt.txt")
g_txt = load("gensim-load-txt.json")
row("time to first answer, new `.txt` (171 MB)", fmt_s(first_txt), fmt_s(g_txt["median_wall_s"]),
    f"{g_txt['median_wall_s'] / first_txt:.1f}×", "gensim load_word2vec_format")
first_bin, _ = timed_runs("vecsh-first-bin.txt")
g_bin = load("gensim-load-bin.json")
row("time to first answer, new `.w2v.bin` (84 MB)", fmt_s(first_bin), fmt_s(g_bin["median_wall_s"]),
    f"{g_bin['median_wall_s'] / first_bin:.1f}×", "gensim")
warm = load("vecsh-warm.json")["results"][0]["median"]
row("whole process `vecsh FILE -e king`, index built", fmt_s(warm), fmt_s(g_bin["median_wall_s"]),
    f"{g_bin['median_wall_s'] / warm:.0f}×", "gensim load .bin + query")

q = load("vecsh-queries.json")
g_exact = load("gensim-exact.json")
row("exact top-10 query, median of 1,000 words", fmt_ms(q["exact"]["median_ms"]), fmt_ms(g_exact["median_ms"]),
    f"{g_exact['median_ms'] / q['exact']['median_ms']:.1f}×", "gensim most_similar")

annoy = load("annoy.json")
default_os = 8
approx = {a["oversampling"]: a for a in q["approx"]}
a_def = approx.get(default_os) or q["approx"][0]
annoy_default = annoy["curve"][0]
row(f"approximate query, default ({q['forest']['trees']} trees, oversampling {a_def['oversampling']})",
    f"{fmt_ms(a_def['median_ms'])}, recall {a_def['recall_at_10']:.3f}",
    f"{fmt_ms(annoy_default['median_ms'])}, recall {annoy_default['recall_at_10']:.3f}",
    f"recall {a_def['recall_at_10'] / annoy_default['recall_at_10']:.2f}×", "Annoy 30 trees, default search_k")
best = max(q["approx"], key=lambda a: a["recall_at_10"])
reaching = [a for a in q["approx"] if a["recall_at_10"] >= 0.99]
pick = reaching[0] if reaching else best
a99 = annoy["search_k_reaching_target"]
row("approximate query at recall ≥ 0.99" if reaching else f"approximate query, highest recall measured",
    f"{fmt_ms(pick['median_ms'])}, recall {pick['recall_at_10']:.3f} (oversampling {pick['oversampling']})",
    f"{fmt_ms(a99['median_ms'])}, recall {a99['recall_at_10']:.3f} (search_k {a99['search_k']})",
    f"{a99['median_ms'] / pick['median_ms']:.1f}×", "Annoy")
row("exact query vs Annoy at recall 0.99", fmt_ms(q["exact"]["median_ms"]) + ", recall 1",
    fmt_ms(a99["median_ms"]), f"{a99['median_ms'] / q['exact']['median_ms']:.1f}×", "Annoy")

info = load("vecsh-info-forest.json")
forest_wall, forest_rss = timed_runs("vecsh-forest-time.txt")
row(f"forest build ({info['forest']['trees']} trees)", fmt_s(info["forest"]["seconds"]),
    fmt_s(annoy["add_plus_build_s"]), f"{annoy['add_plus_build_s'] / info['forest']['seconds']:.2f}×",
    "Annoy 30 trees, both cores")
row("peak RSS of the forest build", f"{forest_rss:.0f} MiB", f"{annoy['peak_rss_mib_after_build']:.0f} MiB",
    f"{annoy['peak_rss_mib_after_build'] / forest_rss:.2f}×", "Annoy, incl. gensim")
index_bytes = int((out / "vecsh-index-bytes-bin").read_text())
row("index on disk, without / with forest",
    f"{index_bytes / 2**20:.0f} / {info['size_bytes'] / 2**20:.0f} MiB", f"{annoy['index_bytes'] / 2**20:.0f} MiB",
    "—", "Annoy file")

va = load("vecsh-analogy.json")
va_time, _ = timed_runs("vecsh-analogy-time.txt")
ga = load("gensim-analogy.json")["gensim_evaluate_word_analogies"]
v_total = va["total"] if "total" in va else va["report"]["total"]
v_acc = v_total["correct"] / v_total["seen"]
g_acc = ga["total"]["correct"] / ga["total"]["seen"]
row("analogy evaluation, 19,544 questions (whole process)", f"{fmt_s(va_time)}, accuracy {v_acc:.4f}",
    f"{fmt_s(ga['time_s'])}, accuracy {g_acc:.4f}", f"{ga['time_s'] / va_time:.0f}×",
    "gensim evaluate_word_analogies")

print("| measure | vecsh | peer | ratio |")
print("|---|---|---|---|")
for r in rows:
    print("| " + " | ".join(r) + " |")
