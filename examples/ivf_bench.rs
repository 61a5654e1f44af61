//! Approximate search with the inverted lists, through the store as vecsh searches: the
//! lists' build (time, size, and the process's peak RSS at the end), then recall@10 against
//! the exact answers and median latency for each number of probed lists, over seeded words.
//!
//!   cargo run --release --example ivf_bench -- FILE [--queries 200] [--probes 16,32,64,128]
//!
//! The figures go to stderr as lines, and to stdout as one JSON object (bench/scaling.sh reads it).
//!
//! It opens the same index `vecsh FILE` does (building it if needed); lists already built are
//! reused, so run it on a fresh index to time the build.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use vecsh::index::{ApproxParams, OpenOptions, Store, CALIBRATION_QUERIES};
use vecsh::progress::Silent;
use vecsh::search::Query;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut file, mut queries, mut probes) = (PathBuf::new(), 200usize, vec![8, 16, 32, 64, 128]);
    while let Some(a) = args.next() {
        let mut value = || args.next().expect("flag needs a value");
        match a.as_str() {
            "--queries" => queries = value().parse().expect("--queries N"),
            "--probes" => {
                probes = value()
                    .split(',')
                    .map(|s| s.parse().expect("numbers"))
                    .collect()
            }
            _ => file = a.into(),
        }
    }
    assert!(
        file.is_file(),
        "usage: ivf_bench FILE [--queries N] [--probes 8,16]"
    );
    let opts = OpenOptions {
        writable: true,
        ..OpenOptions::default()
    };
    let (store, _) = Store::open(&file, &opts, &Silent).expect("open");
    let mut seed = 0x5eed_u64;
    let ids: Vec<u32> = (0..queries)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) % store.len() as u64) as u32
        })
        .collect();
    let vectors: Vec<Vec<f32>> = ids
        .iter()
        .map(|&id| store.vector(id).unwrap().to_vec())
        .collect();
    let query = |i: usize| Query {
        vector: &vectors[i],
        k: 10,
        exclude: std::slice::from_ref(&ids[i]),
        limit: store.len(),
    };
    let truth: Vec<Vec<u32>> = (0..ids.len())
        .map(|i| {
            let hits = store.exact_top_k(&query(i)).expect("exact");
            hits.iter().map(|h| h.id).collect()
        })
        .collect();
    let mut exact_ms = Vec::new();
    for i in 0..ids.len() {
        let t = Instant::now();
        store.exact_top_k(&query(i)).expect("exact");
        exact_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let exact_median_ms = median(exact_ms);
    eprintln!("exact: median {exact_median_ms:.3} ms");
    let t = Instant::now();
    let lists = store
        .build_lists(&Silent, &AtomicBool::new(false))
        .expect("lists");
    eprintln!(
        "lists: {} over {} rows, {:.0} MB, built in {:.1} s (this run: {:.1} s incl. calibration), peak RSS {} MB",
        lists.lists,
        lists.rows,
        lists.bytes as f64 / 1e6,
        lists.seconds,
        t.elapsed().as_secs_f64(),
        peak_rss_mb()
    );
    // The calibration vecsh runs after a build, run again here (lists built earlier may carry
    // an older one): it picks the probes that `--probes 0`, the default, searches with.
    let t = Instant::now();
    let c = store
        .calibrate(&ApproxParams::default(), CALIBRATION_QUERIES)
        .expect("calibrate")
        .expect("lists exist");
    eprintln!(
        "calibration ({:.1} s, {} queries): {} probes, recall@10 {:.3} at {:.3} ms, exact {:.3} ms",
        t.elapsed().as_secs_f64(),
        c.queries,
        c.setting,
        c.recall,
        c.approx_ms,
        c.exact_ms
    );
    let mut curve = Vec::new();
    for p in std::iter::once(0).chain(probes.iter().copied()) {
        let params = ApproxParams {
            probes: p,
            ..ApproxParams::default()
        };
        let run = |i: usize| store.approx_top_k(&query(i), &params).unwrap().unwrap();
        for i in 0..ids.len().min(20) {
            run(i);
        }
        let (mut ms, mut found, mut total) = (Vec::new(), 0usize, 0usize);
        for (i, want) in truth.iter().enumerate() {
            let t = Instant::now();
            let hits = run(i);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            found += hits.iter().filter(|h| want.contains(&h.id)).count();
            total += want.len();
        }
        let (recall, median_ms) = (found as f64 / total.max(1) as f64, median(ms));
        curve.push(serde_json::json!({
            "probes": if p == 0 { c.setting } else { p },
            "calibrated": p == 0,
            "recall_at_10": recall,
            "median_ms": median_ms,
        }));
        let p = if p == 0 {
            format!("{} (calibrated, the default)", c.setting)
        } else {
            p.to_string()
        };
        eprintln!("probes {p:>4}: recall@10 {recall:.3}, median {median_ms:.3} ms");
    }
    let report = serde_json::json!({
        "queries": ids.len(),
        "exact_median_ms": exact_median_ms,
        "lists": {
            "lists": lists.lists,
            "rows": lists.rows,
            "bytes": lists.bytes,
            "build_seconds": lists.seconds,
            "peak_rss_mb": peak_rss_mb(),
        },
        "calibration": {
            "probes": c.setting,
            "recall_at_10": c.recall,
            "approx_ms": c.approx_ms,
            "exact_ms": c.exact_ms,
        },
        "curve": curve,
    });
    println!("{report}");
}

/// VmHWM of this process, in MB.
fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}
