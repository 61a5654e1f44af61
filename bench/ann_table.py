#!/usr/bin/env python3
"""The peers table of `bench/scaling.sh PEERS=1`: hnswlib and FAISS beside vecsh's lists.

    python3 bench/ann_table.py SET IVF_BENCH.json PEER.json...

IVF_BENCH.json is examples/ivf_bench.rs's output (vecsh's recall@10 / latency curve over its
probes); each PEER.json is `bench/peers.py ann PEER`'s. For every peer and recall target
(0.95, 0.98; 1.0 for FAISS's flat index), the peer's first setting reaching it, then vecsh's
first probes reaching the same recall (within 0.002), and the latency ratio (vecsh ÷ peer: below 1, vecsh is
faster). Both ran on the same query rows (ivf_bench's seeded LCG), one query at a time.
"""
import json
import sys


def first_reaching(curve, target, key):
    rows = sorted((c for c in curve if c["recall_at_10"] >= target), key=lambda c: c[key])
    return rows[0] if rows else None


def main():
    name, ivf_path, *peer_paths = sys.argv[1:]
    ivf = json.load(open(ivf_path))
    vcurve = [c for c in ivf.get("curve", []) if not c["calibrated"]]
    lists = ivf.get("lists", {})
    for path in peer_paths:
        p = json.load(open(path))
        rows = f"{p['rows']:,} × {p['dims']}"
        params = ", ".join(f"{k} {v}" for k, v in p["params"].items()) or "exact"
        built = f"{p['build_s']:.1f} s" + (" (earlier run)" if p.get("build_reused") else "")
        targets = [1.0] if p["peer"] == "faiss-flat" else [0.95, 0.98]
        for t in targets:
            hit = first_reaching(p["curve"], t, "setting")
            if p["peer"] == "faiss-flat":
                v = {"probes": "exact", "recall_at_10": 1.0, "median_ms": ivf["exact_median_ms"]}
            else:
                # Within 0.002: over 1,000 queries that is 20 of 10,000 neighbours, below the
                # difference one more probe or ef step makes.
                v = first_reaching(vcurve, hit["recall_at_10"] - 0.002, "probes") if hit else None
            setting = f"{p['setting_name']} {hit['setting']}: " if hit and p["peer"] != "faiss-flat" else ""
            peer_at = (f"{setting}{hit['recall_at_10']:.3f}, {hit['median_ms']:.3f} ms" if hit else "not reached")
            v_at = (f"{v['probes']}: {v['recall_at_10']:.3f}, {v['median_ms']:.3f} ms" if v else "not reached")
            ratio = f"{v['median_ms'] / hit['median_ms']:.2f}×" if hit and v else "—"
            print(f"| {name} | {rows} | {p['peer']} ({params}) | {built} | "
                  f"{p['peak_rss_mib_build']:,.0f} MiB | ≥ {t:.2f} | {peer_at} | {v_at} | {ratio} | "
                  f"{lists.get('build_seconds', 0):.1f} s, {lists.get('peak_rss_mb', 0):,} MB |")


if __name__ == "__main__":
    main()
