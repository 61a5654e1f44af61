#!/usr/bin/env python3
"""The Python "peer" side of the vecsh benchmark: what gensim and annoy do on the same data.

Run it with the venv that bench/setup-peers.sh creates:

    bench/.venv/bin/python bench/peers.py SUBCOMMAND [options] [--out FILE]

Subcommands (each prints one JSON document on stdout and, with --out, also writes it to FILE):

    load-txt, load-bin   whole fresh-process time to load the vectors and answer most_similar('king')
                         (--once: do it once in this process, for hyperfine to time)
    exact-latency        gensim most_similar(w, topn=10) latency over 1,000 seeded random words;
                         writes the word list (bench/out/words1000.txt) for vecsh to use
    exact-topk           gensim's exact top-10 for those words -> bench/out/gensim-top10.json
    annoy                Annoy (angular, 30 trees) build time/size/RSS, latency and recall@10 per search_k
    analogy              gensim evaluate_word_analogies + evaluate_word_pairs, and word2vec's
                         compute-accuracy protocol -> bench/out/reference-analogy.json
    reference-queries    gensim's answers to a few fixed queries -> bench/out/reference-queries.json
    ann PEER             hnswlib (M 16, ef_construction 200) over ef, FAISS IVFFlat (2·sqrt(n) lists)
                         over nprobe, or FAISS IndexFlatIP: build time, peak RSS, recall@10 and median
                         latency, on the rows examples/ivf_bench.rs queries (its seeded LCG)
    all                  everything above, in that order, into bench/out/peers.json

Every figure that is a time is the median of --runs repetitions (other work shares this 2-core
machine, so single timings are noisy); the individual runs are kept in the JSON as well.
The harness can interleave these with vecsh by running one subcommand (or --runs 1) at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_OUT_DIR = BENCH / "out"
# The repo's eval sets live in ../shared beside the repo (see ../shared/README.md).
DEFAULT_EVAL_DIR = REPO.parent / "shared" / "eval"
GLOVE_STEM = "glove.6B.50d"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def data_dir(args) -> Path:
    """Same default as ../shared/data/fetch-glove.sh: $VECSH_DATA or ~/.cache/vecsh-data."""
    if args.data:
        return Path(args.data)
    return Path(os.environ.get("VECSH_DATA", Path.home() / ".cache" / "vecsh-data"))


def model_path(args, kind: str) -> Path:
    """kind is 'txt' (GloVe text, no header) or 'bin' (word2vec C binary)."""
    if getattr(args, "path", None):
        return Path(args.path)
    name = {"txt": f"{GLOVE_STEM}.txt", "bin": f"{GLOVE_STEM}.w2v.bin"}[kind]
    return data_dir(args) / name


def has_header(path: Path) -> bool:
    """A word2vec text file starts with "COUNT DIM"; a GloVe text file starts with a vector."""
    import gzip
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        first = f.readline().split()
    return len(first) == 2 and all(t.isdigit() for t in first)


def load_kv(path: Path, binary: bool):
    """Load with gensim the way a user would. GloVe text has no header line, so it needs
    no_header=True (gensim then reads the file twice: once to count lines, once to parse)."""
    from gensim.models import KeyedVectors
    no_header = False if binary else not has_header(path)
    return KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=no_header)


def load_default_kv(args):
    """The word2vec binary holds exactly the same f32 values as the text (fetch-glove.sh writes
    the text as shortest round-trip decimals), so the measures that are not about loading use
    the binary: it loads several times faster."""
    return load_kv(model_path(args, "bin"), binary=True)


def median(xs):
    return statistics.median(xs) if xs else None


def cpu_s() -> float:
    """CPU seconds (user + system, all threads) this process has used since it started. On a
    shared, oversubscribed machine this is steadier than wall time, so it is reported beside it."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def environment() -> dict:
    """What the figures depend on, so a JSON file can be read without its run's context."""
    import numpy
    import scipy
    import gensim
    env = {
        "python": platform.python_version(),
        "gensim": gensim.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        # numpy's BLAS may use both cores for one most_similar; recorded, not forced.
        "blas_threads_env": {k: os.environ.get(k) for k in
                             ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
                             if os.environ.get(k) is not None},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        import annoy  # noqa: F401
        from importlib.metadata import version
        env["annoy"] = version("annoy")
    except ImportError:
        pass
    return env


def write_json(obj, path: Path | None):
    text = json.dumps(obj, indent=2, ensure_ascii=False) + "\n"
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return text


def log(*a):
    """Progress goes to stderr so stdout stays one clean JSON document."""
    print(*a, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# load-txt / load-bin
# --------------------------------------------------------------------------------------------

def load_once(args, kind: str) -> dict:
    """Load in this process and answer most_similar('king'): what one hyperfine run times."""
    ti = time.perf_counter()
    from gensim.models import KeyedVectors  # noqa: F401  (timed apart: ~1 s of scipy/numpy imports)
    t0 = time.perf_counter()
    path = model_path(args, kind)
    kv = load_kv(path, binary=(kind == "bin"))
    t1 = time.perf_counter()
    top = kv.most_similar(args.word, topn=10)  # includes computing the norms on first use
    t2 = time.perf_counter()
    return {
        "path": str(path),
        "words": len(kv),
        "dim": kv.vector_size,
        "import_s": t0 - ti,
        "load_s": t1 - t0,
        "first_query_s": t2 - t1,
        "top1": [top[0][0], float(top[0][1])],
        "peak_rss_mib": peak_rss_mib(),
        "cpu_s": cpu_s(),  # includes interpreter start and imports
    }


def cmd_load(args, kind: str) -> dict:
    if args.once:
        return load_once(args, kind)
    # Whole fresh processes, timed from outside: interpreter start + imports + load + first
    # answer, which is what a user waits for and what `vecsh` is compared against.
    cmd = [sys.executable, str(Path(__file__).resolve()), f"load-{kind}", "--once"]
    if args.data:
        cmd += ["--data", args.data]
    if args.path:
        cmd += ["--path", args.path]
    cmd += ["--word", args.word]
    runs = []
    for i in range(args.runs):
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate()
        # The child reports its own peak RSS and CPU time (getrusage of itself), since
        # RUSAGE_CHILDREN would mix all children's figures together.
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"load-{kind} --once failed:\n{err.decode()}")
        inner = json.loads(out)
        runs.append({"wall_s": wall, **{k: inner[k] for k in ("import_s", "load_s", "first_query_s", "peak_rss_mib", "cpu_s")}})
        log(f"load-{kind} run {i + 1}/{args.runs}: {wall:.2f} s")
    return {
        "measure": f"load-{kind}",
        "what": f"fresh python process: import gensim, load_word2vec_format, most_similar('{args.word}'); wall clock",
        "path": inner["path"],
        "words": inner["words"],
        "top1": inner["top1"],
        "runs": len(runs),
        "median_wall_s": median([r["wall_s"] for r in runs]),
        "median_import_s": median([r["import_s"] for r in runs]),
        "median_load_s": median([r["load_s"] for r in runs]),
        "median_first_query_s": median([r["first_query_s"] for r in runs]),
        "median_cpu_s": median([r["cpu_s"] for r in runs]),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "all_runs": runs,
    }


# --------------------------------------------------------------------------------------------
# The 1,000 query words, shared with vecsh
# --------------------------------------------------------------------------------------------

def query_words(kv, args) -> list[str]:
    """1,000 distinct words drawn uniformly (seeded) from the whole vocabulary, in draw order.

    Uniform over all 400,000 words means most are rare tokens: that is deliberate, since it is
    where approximate search struggles, and latency of an exact scan does not depend on the word.
    The list is written to a file so that vecsh queries exactly the same words."""
    import numpy as np
    path = Path(args.words_file)
    if path.exists() and not args.new_words:
        words = path.read_text(encoding="utf-8").split("\n")
        words = [w for w in words if w]
        missing = [w for w in words if w not in kv.key_to_index]
        if missing:
            raise SystemExit(f"{path}: {len(missing)} words not in the model, e.g. {missing[:3]}")
        return words
    rng = np.random.default_rng(args.seed)
    idx = rng.choice(len(kv), size=args.n_words, replace=False)
    words = [kv.index_to_key[i] for i in idx]
    # No word in GloVe contains whitespace (the text format splits on spaces), so one per line
    # is unambiguous.
    assert all(w and not any(c.isspace() for c in w) for w in words)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(words) + "\n", encoding="utf-8")
    log(f"wrote {len(words)} query words (seed {args.seed}) to {path}")
    return words


def cmd_exact_latency(args, kv=None) -> dict:
    kv = kv or load_default_kv(args)
    words = query_words(kv, args)
    # Normalise once up front and warm up, so the figure is the steady-state query cost and not
    # the one-off norm computation or first-touch page faults.
    kv.fill_norms()
    for w in words[:20]:
        kv.most_similar(positive=[w], topn=10)
    passes = []
    for r in range(args.runs):
        lat = []
        c0 = time.process_time()
        for w in words:
            t0 = time.perf_counter()
            kv.most_similar(positive=[w], topn=10)
            lat.append(time.perf_counter() - t0)
        cpu = time.process_time() - c0
        lat.sort()
        p = {
            # CPU of all threads (numpy's BLAS may use two) per query: steadier under contention.
            "cpu_ms_per_query": cpu / len(words) * 1e3,
            "median_ms": statistics.median(lat) * 1e3,
            "mean_ms": statistics.fmean(lat) * 1e3,
            "p90_ms": lat[int(0.90 * len(lat))] * 1e3,
            "p99_ms": lat[int(0.99 * len(lat))] * 1e3,
            "total_s": sum(lat),
        }
        passes.append(p)
        log(f"exact-latency pass {r + 1}/{args.runs}: median {p['median_ms']:.3f} ms")
    return {
        "measure": "exact-latency",
        "what": "gensim most_similar(positive=[w], topn=10), per query, after fill_norms() and warm-up",
        "words_file": str(args.words_file),
        "n_words": len(words),
        "seed": args.seed,
        "passes": len(passes),
        # Median over passes of each pass's statistic.
        **{k: median([p[k] for p in passes]) for k in passes[0]},
        "all_passes": passes,
    }


def exact_top10(kv, words) -> list[dict]:
    kv.fill_norms()
    return [{"query": w, "top": [[n, float(s)] for n, s in kv.most_similar(positive=[w], topn=10)]}
            for w in words]


def cmd_exact_topk(args, kv=None) -> dict:
    kv = kv or load_default_kv(args)
    words = query_words(kv, args)
    results = exact_top10(kv, words)
    out = Path(args.topk_file)
    head = json.dumps({
        "what": "gensim 4 KeyedVectors.most_similar(positive=[query], topn=10): cosine, query word excluded",
        "model": str(model_path(args, "bin")),
        "gensim": environment()["gensim"],
        "seed": args.seed,
        "words_file": str(args.words_file),
    }, ensure_ascii=False)
    # One query per line: the file stays greppable and diffable (1,000 lines, not 40,000).
    body = ",\n".join("    " + json.dumps(r, ensure_ascii=False) for r in results)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(head[:-1] + ',\n  "results": [\n' + body + "\n  ]\n}\n", encoding="utf-8")
    log(f"wrote exact top-10 for {len(results)} words to {out}")
    return {"measure": "exact-topk", "file": str(out), "n_words": len(results)}


# --------------------------------------------------------------------------------------------
# annoy
# --------------------------------------------------------------------------------------------

def cmd_annoy(args, kv=None) -> dict:
    import numpy as np
    from annoy import AnnoyIndex

    kv = kv or load_default_kv(args)
    words = query_words(kv, args)
    rss_after_load = peak_rss_mib()

    # Ground truth: reuse gensim-top10.json if it matches these words, else compute it.
    topk_path = Path(args.topk_file)
    truth = None
    if topk_path.exists():
        saved = json.loads(topk_path.read_text(encoding="utf-8"))["results"]
        if [r["query"] for r in saved] == words:
            truth = saved
    if truth is None:
        truth = exact_top10(kv, words)
    truth_sets = [{n for n, _ in r["top"]} for r in truth]

    # Annoy's "angular" metric is Euclidean distance between unit vectors (sqrt(2 - 2 cos)), so
    # on unit-normalised input its order is the cosine order gensim uses.
    vecs = kv.get_normed_vectors()
    n, dim = vecs.shape
    index = AnnoyIndex(dim, "angular")
    index.set_seed(args.seed)  # reproducible forest, hence reproducible recall figures
    t0 = time.perf_counter()
    for i in range(n):
        index.add_item(i, vecs[i])
    t1 = time.perf_counter()
    c1 = time.process_time()
    index.build(args.trees, n_jobs=args.n_jobs)
    t2 = time.perf_counter()
    build_cpu = time.process_time() - c1  # all build threads together
    ann_path = Path(args.out_dir) / f"annoy-{args.trees}.ann"
    ann_path.parent.mkdir(parents=True, exist_ok=True)
    index.save(str(ann_path))  # save() also mmaps the file back, as a user's later load would
    t3 = time.perf_counter()
    rss_after_build = peak_rss_mib()
    log(f"annoy: add {t1 - t0:.1f} s, build {t2 - t1:.1f} s, save {t3 - t2:.1f} s, "
        f"{ann_path.stat().st_size / 2**20:.1f} MiB")

    ids = [kv.key_to_index[w] for w in words]

    def query(i, search_k):
        # Ask for 11 and drop the query word itself, as most_similar excludes it; if it is not
        # among them (a duplicate vector can outrank it), keep the first 10.
        got = index.get_nns_by_item(i, 11, search_k=search_k)
        got = [j for j in got if j != i][:10]
        return got

    def measure(search_k):
        # Count hits as integers: a float sum of 1,000 tenths can land just under 0.99.
        hits = sum(len({kv.index_to_key[j] for j in query(i, search_k)} & want)
                   for i, want in zip(ids, truth_sets))
        recall = hits / (10 * len(ids))
        medians, cpus = [], []
        for _ in range(args.runs):
            lat = []
            c0 = time.process_time()
            for i in ids:
                t = time.perf_counter()
                index.get_nns_by_item(i, 11, search_k=search_k)
                lat.append(time.perf_counter() - t)
            cpus.append((time.process_time() - c0) / len(ids) * 1e3)
            medians.append(statistics.median(lat) * 1e3)
        return {"search_k": search_k, "recall_at_10": recall, "hits": hits, "median_ms": median(medians),
                "cpu_ms_per_query": median(cpus), "pass_medians_ms": medians}

    curve = []
    for sk in args.search_k:
        row = measure(sk)
        curve.append(row)
        log(f"annoy search_k={sk}: recall@10 {row['recall_at_10']:.4f}, median {row['median_ms']:.3f} ms")

    # The smallest search_k on the grid reaching the target, then a bisection between it and the
    # grid point below (recall is monotone in search_k up to noise) to tighten it to ~5 %.
    target = args.target_recall
    reach = next((r for r in curve if r["recall_at_10"] >= target), None)
    refined = None
    if reach is not None:
        below = [r for r in curve if r["search_k"] < reach["search_k"] and r["recall_at_10"] < target]
        lo = max((r["search_k"] for r in below), default=None)
        hi_row = reach
        if lo is not None and lo > 0:
            hi = reach["search_k"]
            while hi - lo > max(0.05 * hi, 100):
                mid = (lo + hi) // 2
                row = measure(mid)
                curve.append(row)
                log(f"annoy search_k={mid}: recall@10 {row['recall_at_10']:.4f}, median {row['median_ms']:.3f} ms")
                if row["recall_at_10"] >= target:
                    hi, hi_row = mid, row
                else:
                    lo = mid
        refined = hi_row
    curve.sort(key=lambda r: (r["search_k"] if r["search_k"] >= 0 else -1))

    return {
        "measure": "annoy",
        "annoy_version": environment().get("annoy"),
        "metric": "angular on unit-normalised vectors",
        "trees": args.trees,
        "n_jobs": args.n_jobs,
        "seed": args.seed,
        "items": n,
        "add_items_s": t1 - t0,
        "build_s": t2 - t1,
        "add_plus_build_s": t2 - t0,
        "build_cpu_s": build_cpu,
        "save_s": t3 - t2,
        "index_file": str(ann_path),
        "index_bytes": ann_path.stat().st_size,
        "peak_rss_mib_after_load": rss_after_load,
        "peak_rss_mib_after_build": rss_after_build,
        "n_queries": len(ids),
        "recall_note": "recall@10 vs gensim exact top-10 by word; annoy asked for 11, query word dropped",
        "default_search_k_note": "search_k=-1 means annoy's default, trees * n = 30 * 11 = 330 nodes",
        "curve": curve,
        "target_recall": target,
        "first_grid_search_k_reaching_target": reach["search_k"] if reach else None,
        "search_k_reaching_target": refined,
    }


# --------------------------------------------------------------------------------------------
# ann: hnswlib and FAISS on the rows examples/ivf_bench.rs queries
# --------------------------------------------------------------------------------------------

def read_w2v_bin(path: Path, rows: int | None = None):
    """The rows of a word2vec C binary as one float32 matrix (the first `rows` only, if given),
    read with numpy rather than gensim: no vocabulary dict, so 3M x 300 fits in memory."""
    import mmap
    import numpy as np
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        eol = m.find(b"\n")
        n, d = (int(x) for x in m[:eol].split())
        n = min(n, rows) if rows else n
        out = np.empty((n, d), dtype=np.float32)
        row_bytes, at = 4 * d, eol + 1
        for i in range(n):
            # Optional newline, a word, one space, then d little-endian float32.
            while m[at] == 0x0A:
                at += 1
            sp = m.find(b" ", at)
            if sp < 0 or sp + 1 + row_bytes > len(m):
                raise SystemExit(f"{path}: ends in row {i} of {n}")
            out[i] = np.frombuffer(m, dtype="<f4", count=d, offset=sp + 1)
            at = sp + 1 + row_bytes
    return out


def ivf_bench_ids(n: int, count: int) -> list[int]:
    """The query rows examples/ivf_bench.rs draws (its seeded LCG), so that vecsh and the peers
    answer the same queries."""
    seed, ids, mask = 0x5EED, [], (1 << 64) - 1
    for _ in range(count):
        seed = (seed * 6364136223846793005 + 1442695040888963407) & mask
        ids.append((seed >> 33) % n)
    return ids


def exact_neighbours(unit, ids, k=10):
    """Each query row's exact top k by cosine, itself left out (as ivf_bench's truth)."""
    import numpy as np
    truth = []
    # Eight queries a block: larger blocks' score matrices (64 x 400k) raised the process's peak
    # RSS above any peer's own build, hiding it.
    for lo in range(0, len(ids), 8):
        block = ids[lo:lo + 8]
        scores = unit[block] @ unit.T
        scores[np.arange(len(block)), block] = -np.inf
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        truth.extend(set(t.tolist()) for t in top)
    return truth


def cmd_ann(args) -> dict:
    """One peer's build time, peak RSS, and recall@10 / median latency (one query at a time,
    one thread) over its search setting, on the rows ivf_bench queries."""
    import numpy as np
    path = Path(args.path) if args.path else model_path(args, "bin")
    t0 = time.perf_counter()
    data = read_w2v_bin(path, args.rows)
    n, d = data.shape
    norms = np.linalg.norm(data, axis=1, keepdims=True)
    unit = data / np.where(norms == 0, 1, norms)
    del data
    log(f"ann: read {n:,} x {d} in {time.perf_counter() - t0:.1f} s")
    ids = ivf_bench_ids(n, args.n_words)
    truth = exact_neighbours(unit, ids)
    rss_data = peak_rss_mib()
    cache = Path(args.index_dir) if args.index_dir else None
    peer = args.peer

    def build():
        if peer == "hnswlib":
            import hnswlib
            index = hnswlib.Index(space="ip", dim=d)
            stored = cache / f"hnswlib-{path.stem}-{n}-M{args.m}-ef{args.ef_construction}.bin" if cache else None
            if stored and stored.exists():
                index.load_index(str(stored), max_elements=n)
                meta = json.loads(stored.with_suffix(".json").read_text())
                return index, meta["build_s"], meta["peak_rss_mib"], True
            index.init_index(max_elements=n, M=args.m, ef_construction=args.ef_construction, random_seed=args.seed)
            index.set_num_threads(os.cpu_count())
            t = time.perf_counter()
            index.add_items(unit, np.arange(n))
            build_s = time.perf_counter() - t
            rss = peak_rss_mib()
            if stored:
                stored.parent.mkdir(parents=True, exist_ok=True)
                index.save_index(str(stored))
                stored.with_suffix(".json").write_text(json.dumps({"build_s": build_s, "peak_rss_mib": rss}))
            return index, build_s, rss, False
        import faiss
        faiss.omp_set_num_threads(os.cpu_count())
        t = time.perf_counter()
        if peer == "faiss-flat":
            index = faiss.IndexFlatIP(d)
        else:
            lists = max(1, round(2 * n ** 0.5))
            quantizer = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quantizer, d, lists, faiss.METRIC_INNER_PRODUCT)
            # FAISS's k-means samples 256 rows a list by default (it says so); that is its usual setting.
            index.train(unit)
        index.add(unit)
        return index, time.perf_counter() - t, peak_rss_mib(), False

    index, build_s, rss_build, reused = build()
    log(f"ann: {peer} built in {build_s:.1f} s{' (reused)' if reused else ''}, peak RSS {rss_build:,.0f} MiB")
    settings = {"hnswlib": args.ef, "faiss-ivf": args.nprobe, "faiss-flat": [0]}[peer]
    if peer.startswith("faiss"):
        import faiss
        faiss.omp_set_num_threads(1)
    else:
        index.set_num_threads(1)
    queries = unit[ids]

    def search(i):
        q = queries[i:i + 1]
        if peer == "hnswlib":
            got, _ = index.knn_query(q, k=11)
        else:
            _, got = index.search(q, 11)
        return [j for j in got[0].tolist() if j != ids[i]][:10]

    curve = []
    for setting in settings:
        if peer == "hnswlib":
            index.set_ef(max(setting, 11))
        elif peer == "faiss-ivf":
            index.nprobe = setting
        hits = sum(len(set(search(i)) & truth[i]) for i in range(len(ids)))
        medians = []
        for _ in range(args.runs):
            lat = []
            for i in range(len(ids)):
                t = time.perf_counter()
                search(i)
                lat.append(time.perf_counter() - t)
            medians.append(statistics.median(lat) * 1e3)
        row = {"setting": setting, "recall_at_10": hits / (10 * len(ids)),
               "median_ms": median(medians), "pass_medians_ms": medians}
        curve.append(row)
        log(f"ann: {peer} {setting}: recall@10 {row['recall_at_10']:.3f}, median {row['median_ms']:.3f} ms")
    return {
        "measure": "ann",
        "peer": peer,
        "setting_name": {"hnswlib": "ef", "faiss-ivf": "nprobe", "faiss-flat": "-"}[peer],
        "params": ({"M": args.m, "ef_construction": args.ef_construction} if peer == "hnswlib" else
                   {"lists": index.nlist} if peer == "faiss-ivf" else {}),
        "path": str(path),
        "rows": n,
        "dims": d,
        "queries": len(ids),
        "build_s": build_s,
        "build_reused": reused,
        "peak_rss_mib_data": rss_data,
        "peak_rss_mib_build": rss_build,
        "loadavg": os.getloadavg(),
        "curve": curve,
    }


# --------------------------------------------------------------------------------------------
# analogy + word pairs
# --------------------------------------------------------------------------------------------

SEMANTIC_SECTIONS = 5  # questions-words.txt: the first 5 sections are semantic, the other 9 syntactic


def read_questions(path: Path):
    """[(section, [a, b, c, d])...] in file order, keeping the original case."""
    section, out = None, []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
        elif line.strip():
            out.append((section, line.split()))
    return out


def gensim_analogy(kv, qpath: Path, restrict_vocab: int) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    score, sections = kv.evaluate_word_analogies(str(qpath), restrict_vocab=restrict_vocab)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    per = []
    for s in sections:
        per.append({"section": s["section"], "correct": len(s["correct"]), "incorrect": len(s["incorrect"])})
    total = per[-1]  # gensim appends a "Total accuracy" pseudo-section
    assert total["section"] == "Total accuracy", total
    per = per[:-1]
    sem = [p for i, p in enumerate(per) if i < SEMANTIC_SECTIONS]
    syn = [p for i, p in enumerate(per) if i >= SEMANTIC_SECTIONS]
    n_questions = len(read_questions(qpath))
    seen = total["correct"] + total["incorrect"]

    def acc(ps):
        c = sum(p["correct"] for p in ps)
        s = sum(p["correct"] + p["incorrect"] for p in ps)
        return {"correct": c, "seen": s, "accuracy": c / s if s else None}

    return {
        "time_s": elapsed,
        "cpu_s": cpu,  # all threads: numpy's BLAS uses both cores here
        "score": score,
        "sections": per,
        "total": {"correct": total["correct"], "incorrect": total["incorrect"], "seen": seen,
                  "questions": n_questions, "accuracy": total["correct"] / seen},
        "semantic": acc(sem),
        "syntactic": acc(syn),
        "oov_ratio": 1 - seen / n_questions,
    }


def word2vec_compute_accuracy(kv, qpath: Path, threshold: int = 30000) -> dict:
    """word2vec's compute-accuracy.c, reproduced (its behaviour, not gensim's):

    - only the first `threshold` words of the file are read; each is upper-cased with C's
      toupper (ASCII only, hence bytes.upper(), not str.upper(): 'ß' stays 'ß');
    - vectors are normalised to unit length; questions are upper-cased too;
    - a question is skipped (counted in 'total' but not 'seen') if any of its four words is not
      among those words; the word lookup takes the FIRST vocabulary entry with that spelling;
    - prediction = argmax over all kept words except the three input ids of
      dot(b - a + c, w) (the sum is not re-normalised; that does not change the argmax),
      with a strict '>' scan from 0, so ties go to the lower id, and a best score <= 0 leaves
      an empty prediction, which is never correct;
    - correct iff the predicted spelling equals the 4th word's;
    - sections 1-5 count as semantic, the rest as syntactic.

    Scores are computed in float64 from the normalised f32 vectors; C sums in f32, so a question
    whose best and second-best scores are closer than ~1e-6 could go either way. Those are
    counted in `near_ties` so that a test can allow for them."""
    import numpy as np

    words = kv.index_to_key[:threshold]
    upper = [w.encode("utf-8").upper().decode("utf-8") for w in words]
    lookup = {}
    for i, w in enumerate(upper):
        lookup.setdefault(w, i)  # first occurrence wins, as the C linear search does
    m = kv.vectors[:threshold].astype(np.float32)
    m = m / np.sqrt((m * m).sum(axis=1, keepdims=True))
    m64 = m.astype(np.float64)

    sections = []  # [{section, correct, seen, questions}]
    seen_q = []    # (section_no, ia, ib, ic, expected_id) for questions that are scored
    for section, q in read_questions(qpath):
        if not sections or sections[-1]["section"] != section:
            sections.append({"section": section, "correct": 0, "seen": 0, "questions": 0})
        sections[-1]["questions"] += 1
        ids = [lookup.get(w.encode("utf-8").upper().decode("utf-8")) for w in q]
        if any(i is None for i in ids):
            continue
        seen_q.append((len(sections) - 1, *ids))

    t0 = time.perf_counter()
    near_ties = 0
    chunk = 512
    for s in range(0, len(seen_q), chunk):
        batch = np.array(seen_q[s:s + chunk])
        sec, a, b, c, d = batch.T
        q = m64[b] - m64[a] + m64[c]
        scores = q @ m64.T
        rows = np.arange(len(batch))
        for col in (a, b, c):
            scores[rows, col] = -np.inf
        # argmax returns the first maximum: same tie rule as the C scan.
        best = scores.argmax(axis=1)
        best_score = scores[rows, best]
        scores[rows, best] = -np.inf
        second = scores.max(axis=1)
        near_ties += int(((best_score - second) < 1e-6).sum())
        for k in range(len(batch)):
            sections[sec[k]]["seen"] += 1
            # Compare spellings, not ids, as C's strcmp does (two ids could share a spelling).
            if best_score[k] > 0 and upper[best[k]] == upper[d[k]]:
                sections[sec[k]]["correct"] += 1
    elapsed = time.perf_counter() - t0

    def acc(ps):
        c = sum(p["correct"] for p in ps)
        n = sum(p["seen"] for p in ps)
        return {"correct": c, "seen": n, "accuracy": c / n if n else None}

    total = acc(sections)
    total["questions"] = sum(p["questions"] for p in sections)
    return {
        "threshold": threshold,
        "time_s": elapsed,
        "sections": sections,
        "total": total,
        "semantic": acc(sections[:SEMANTIC_SECTIONS]),
        "syntactic": acc(sections[SEMANTIC_SECTIONS:]),
        "seen_ratio": total["seen"] / total["questions"],
        "near_ties": near_ties,
    }


def gensim_pairs(kv, path: Path) -> dict:
    t0 = time.perf_counter()
    pearson, spearman, oov = kv.evaluate_word_pairs(str(path))
    elapsed = time.perf_counter() - t0
    pairs = sum(1 for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#"))
    return {
        "file": path.name,
        "pairs": pairs,
        "pearson": float(pearson.statistic), "pearson_p": float(pearson.pvalue),
        "spearman": float(spearman.statistic), "spearman_p": float(spearman.pvalue),
        "oov_percent": float(oov),  # gensim returns a percentage
        "time_s": elapsed,
    }


def cmd_analogy(args, kv=None) -> dict:
    kv = kv or load_default_kv(args)
    kv.fill_norms()
    eval_dir = Path(args.eval_dir)
    qpath = eval_dir / "questions-words.txt"

    g_runs = []
    for r in range(args.runs):
        g_runs.append(gensim_analogy(kv, qpath, args.restrict_vocab))
        log(f"gensim analogy run {r + 1}/{args.runs}: {g_runs[-1]['time_s']:.1f} s, "
            f"{g_runs[-1]['total']['correct']}/{g_runs[-1]['total']['seen']}")
    # The counts are deterministic; only the time varies.
    assert all(g["sections"] == g_runs[0]["sections"] for g in g_runs)
    g = dict(g_runs[0])
    g["time_s"] = median([x["time_s"] for x in g_runs])
    g["all_times_s"] = [x["time_s"] for x in g_runs]
    g["cpu_s"] = median([x["cpu_s"] for x in g_runs])
    g["restrict_vocab"] = args.restrict_vocab

    w_runs = [word2vec_compute_accuracy(kv, qpath, args.w2v_threshold) for _ in range(args.runs)]
    w = dict(w_runs[0])
    w["time_s"] = median([x["time_s"] for x in w_runs])
    log(f"word2vec protocol: {w['total']['correct']}/{w['total']['seen']} in {w['time_s']:.2f} s")

    pairs = [gensim_pairs(kv, eval_dir / f) for f in ("simlex999.txt", "wordsim353.tsv")]

    reference = {
        "what": "Reference analogy counts on GloVe 6B 50d for vecsh's acceptance tests",
        "model": str(model_path(args, "bin")),
        "questions_file": "questions-words.txt",
        "gensim": environment()["gensim"],
        "gensim_3cosadd": {k: g[k] for k in ("restrict_vocab", "sections", "total", "semantic",
                                              "syntactic", "oov_ratio")},
        "word2vec_protocol": {k: w[k] for k in ("threshold", "sections", "total", "semantic",
                                                 "syntactic", "seen_ratio", "near_ties")},
        "word_pairs": [{k: p[k] for k in p if k != "time_s"} for p in pairs],
    }
    ref_path = Path(args.out_dir) / "reference-analogy.json"
    write_json(reference, ref_path)
    log(f"wrote {ref_path}")
    return {"measure": "analogy", "gensim_evaluate_word_analogies": g, "word2vec_protocol": w,
            "word_pairs": pairs, "reference_file": str(ref_path)}


# --------------------------------------------------------------------------------------------
# reference-queries
# --------------------------------------------------------------------------------------------

def cmd_reference_queries(args, kv=None) -> dict:
    kv = kv or load_default_kv(args)

    def top(pairs):
        return [{"word": w, "score": float(s), "score_4dp": f"{s:.4f}"} for w, s in pairs]

    queries = [
        {"name": "king - man + woman", "gensim": "most_similar(positive=['king', 'woman'], negative=['man'])",
         "result": top(kv.most_similar(positive=["king", "woman"], negative=["man"], topn=10))},
        {"name": "paris - france + italy", "gensim": "most_similar(positive=['paris', 'italy'], negative=['france'])",
         "result": top(kv.most_similar(positive=["paris", "italy"], negative=["france"], topn=10))},
        {"name": "king", "gensim": "most_similar('king')",
         "result": top(kv.most_similar("king", topn=10))},
        {"name": "king - man + woman (3CosMul)",
         "gensim": "most_similar_cosmul(positive=['king', 'woman'], negative=['man'])",
         "result": top(kv.most_similar_cosmul(positive=["king", "woman"], negative=["man"], topn=10))},
        {"name": "doesnt_match breakfast cereal dinner lunch",
         "gensim": "doesnt_match(['breakfast', 'cereal', 'dinner', 'lunch'])",
         "result": kv.doesnt_match(["breakfast", "cereal", "dinner", "lunch"])},
        {"name": "similarity king queen", "gensim": "similarity('king', 'queen')",
         "result": {"score": float(kv.similarity("king", "queen")),
                    "score_4dp": f"{kv.similarity('king', 'queen'):.4f}"}},
    ]
    for q in queries:
        log(f"{q['gensim']}:")
        r = q["result"]
        if isinstance(r, list):
            for e in r:
                log(f"    {e['word']:<14} {e['score_4dp']}")
        else:
            log(f"    {r if isinstance(r, str) else r['score_4dp']}")
    ref = {
        "what": "gensim's answers on GloVe 6B 50d, for vecsh's acceptance tests. Input words are excluded "
                "from most_similar results (gensim's rule); scores are cosines (3CosMul: gensim's "
                "(1+cos)/2 product with epsilon 1e-6).",
        "model": str(model_path(args, "bin")),
        "gensim": environment()["gensim"],
        "queries": queries,
    }
    path = Path(args.out_dir) / "reference-queries.json"
    write_json(ref, path)
    log(f"wrote {path}")
    return {"measure": "reference-queries", "file": str(path), "queries": queries}


# --------------------------------------------------------------------------------------------
# all
# --------------------------------------------------------------------------------------------

def cmd_all(args) -> dict:
    out = {"environment": environment()}
    out["load-txt"] = cmd_load(args, "txt")
    out["load-bin"] = cmd_load(args, "bin")
    kv = load_default_kv(args)  # one load for the in-process measures
    out["exact-latency"] = cmd_exact_latency(args, kv)
    out["exact-topk"] = cmd_exact_topk(args, kv)
    # annoy before analogy: ru_maxrss is a high-water mark, and the analogy measures allocate
    # more than loading does, which would hide annoy's own peak.
    out["annoy"] = cmd_annoy(args, kv)
    out["reference-queries"] = cmd_reference_queries(args, kv)
    out["analogy"] = cmd_analogy(args, kv)
    return out


def main(argv=None):
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", help="folder with the glove.6B.50d.* files "
                        "(default $VECSH_DATA or ~/.cache/vecsh-data, as fetch-glove.sh)")
    common.add_argument("--out", type=Path, help="also write the result JSON to this file")
    common.add_argument("--out-dir", default=str(DEFAULT_OUT_DIR),
                        help="where side files go (words, top-10, references, annoy index)")
    common.add_argument("--runs", type=int, default=3, help="repetitions; times are their median")
    common.add_argument("--seed", type=int, default=42)
    common.add_argument("--n-words", type=int, default=1000)
    common.add_argument("--words-file", help="query word list (default OUT_DIR/words1000.txt); "
                        "reused if it exists")
    common.add_argument("--new-words", action="store_true", help="redraw the word list even if it exists")
    common.add_argument("--topk-file", help="exact top-10 file (default OUT_DIR/gensim-top10.json)")

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for kind in ("txt", "bin"):
        s = sub.add_parser(f"load-{kind}", parents=[common],
                           help=f"fresh-process load of the {kind} file + most_similar('king')")
        s.add_argument("--once", action="store_true",
                       help="load and answer once in this process (for hyperfine)")
        s.add_argument("--path", help="another file of the same format (text: header auto-detected)")
        s.add_argument("--word", default="king", help="the word whose neighbours are asked for")
    e = sub.add_parser("exact-latency", parents=[common])
    t = sub.add_parser("exact-topk", parents=[common])
    a = sub.add_parser("annoy", parents=[common])
    for s in (e, t, a):
        # bench/scaling.sh measures its synthetic word2vec binaries this way.
        s.add_argument("--path", help="a word2vec binary to measure instead of GloVe's")
    for s in (a, all_p := sub.add_parser("all", parents=[common])):
        s.add_argument("--trees", type=int, default=30)
        s.add_argument("--n-jobs", type=int, default=-1, help="annoy build threads (-1: all cores)")
        s.add_argument("--search-k", type=int, nargs="+",
                       default=[-1, 1000, 2000, 3000, 5000, 7500, 10000, 15000, 20000, 30000, 50000, 100000])
        s.add_argument("--target-recall", type=float, default=0.99)
    an = sub.add_parser("analogy", parents=[common])
    for s in (an, all_p):
        s.add_argument("--eval-dir", default=str(DEFAULT_EVAL_DIR))
        s.add_argument("--restrict-vocab", type=int, default=300000)
        s.add_argument("--w2v-threshold", type=int, default=30000)
    sub.add_parser("reference-queries", parents=[common])
    ann = sub.add_parser("ann", parents=[common],
                         help="hnswlib / FAISS: build, RSS, recall@10 and latency over their setting")
    ann.add_argument("peer", choices=["hnswlib", "faiss-ivf", "faiss-flat"])
    ann.add_argument("--path", help="a word2vec binary (default GloVe 6B 50d's)")
    ann.add_argument("--rows", type=int, help="only the first ROWS rows (a time-box for large files)")
    ann.add_argument("--m", type=int, default=16)
    ann.add_argument("--ef-construction", type=int, default=200)
    ann.add_argument("--ef", type=int, nargs="+", default=[16, 32, 48, 64, 96, 128, 192, 256])
    ann.add_argument("--nprobe", type=int, nargs="+", default=[8, 16, 32, 64, 96, 128, 192])
    ann.add_argument("--index-dir", help="keep hnswlib's index here and reuse it (its build takes minutes)")

    args = p.parse_args(argv)
    args.words_file = args.words_file or str(Path(args.out_dir) / f"words{args.n_words}.txt")
    args.topk_file = args.topk_file or str(Path(args.out_dir) / "gensim-top10.json")
    if not hasattr(args, "path"):
        args.path = None
    if not hasattr(args, "word"):
        args.word = "king"

    if args.cmd == "all":
        args.once = False
        result = cmd_all(args)
    else:
        handler = {
            "load-txt": lambda: cmd_load(args, "txt"),
            "load-bin": lambda: cmd_load(args, "bin"),
            "exact-latency": lambda: cmd_exact_latency(args),
            "exact-topk": lambda: cmd_exact_topk(args),
            "annoy": lambda: cmd_annoy(args),
            "analogy": lambda: cmd_analogy(args),
            "reference-queries": lambda: cmd_reference_queries(args),
            "ann": lambda: cmd_ann(args),
        }[args.cmd]
        result = handler()
        if not getattr(args, "once", False):
            result = {"environment": environment(), **result}
    sys.stdout.write(write_json(result, args.out))


if __name__ == "__main__":
    main()
