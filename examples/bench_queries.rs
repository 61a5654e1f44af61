//! Query benchmark: exact top-10 latency, and approximate latency and recall@10 against exact,
//! over the same 1,000 words. Prints JSON (one object) for bench/run.sh and a readable summary
//! on stderr.
//!
//!   cargo run --release --example bench_queries -- FILE [--words WORDS.txt] [--trees N]
//!       [--oversampling 1,4,8,16] [--queries 1000]
//!
//! Without --words, 1,000 words are drawn with a fixed seed from the vocabulary. The forest is
//! built first if missing (with --trees, default vecsh's default).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use vecsh::index::{OpenOptions, Store, DEFAULT_TREES};
use vecsh::progress::Silent;
use vecsh::search::Query;

struct Args {
    file: PathBuf,
    words: Option<PathBuf>,
    trees: usize,
    oversampling: Vec<usize>,
    queries: usize,
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        file: PathBuf::new(),
        words: None,
        trees: DEFAULT_TREES,
        oversampling: vec![1, 4, 8, 16, 32],
        queries: 1000,
    };
    while let Some(a) = args.next() {
        let mut value = || args.next().expect("flag needs a value");
        match a.as_str() {
            "--words" => parsed.words = Some(value().into()),
            "--trees" => parsed.trees = value().parse().expect("--trees N"),
            "--queries" => parsed.queries = value().parse().expect("--queries N"),
            "--oversampling" => {
                parsed.oversampling = value()
                    .split(',')
                    .map(|s| s.parse().expect("numbers"))
                    .collect()
            }
            _ => parsed.file = a.into(),
        }
    }
    assert!(
        parsed.file.is_file(),
        "usage: bench_queries FILE [--words FILE] [--trees N] [--oversampling 1,8]"
    );
    parsed
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn percentile(mut xs: Vec<f64>, p: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() - 1) as f64 * p) as usize]
}

fn main() {
    let args = parse_args();
    let opts = OpenOptions {
        writable: true,
        // As `vecsh build` makes it: with the exact search's principal-component stage.
        exact_stage: true,
        ..Default::default()
    };
    let (store, _) = Store::open(&args.file, &opts, &Silent).expect("open");
    let ids: Vec<u32> = match &args.words {
        Some(path) => std::fs::read_to_string(path)
            .expect("words file")
            .lines()
            .filter_map(|w| store.id(w.trim()))
            .take(args.queries)
            .collect(),
        None => {
            // A fixed LCG so every run queries the same words.
            let mut seed = 0x5eed_u64;
            (0..args.queries)
                .map(|_| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 33) % store.len() as u64) as u32
                })
                .collect()
        }
    };
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

    // Exact: one warm-up pass (page cache, rayon pool), then the timed pass.
    for i in 0..ids.len().min(50) {
        store.exact_top_k(&query(i));
    }
    let mut exact_ms = Vec::new();
    let mut truth = Vec::new();
    for i in 0..ids.len() {
        let t = Instant::now();
        let hits = store.exact_top_k(&query(i));
        exact_ms.push(t.elapsed().as_secs_f64() * 1e3);
        truth.push(hits.iter().map(|h| h.id).collect::<Vec<_>>());
    }
    eprintln!(
        "exact: {} queries, median {:.3} ms, p90 {:.3} ms",
        ids.len(),
        median(exact_ms.clone()),
        percentile(exact_ms.clone(), 0.9)
    );

    let forest = match store.forest() {
        Some(f) => f,
        None => {
            eprintln!("building the forest ({} trees)...", args.trees);
            store
                .build_forest(args.trees, &Silent, &AtomicBool::new(false))
                .expect("forest")
        }
    };
    let mut approx = Vec::new();
    for &os in &args.oversampling {
        let mut ms = Vec::new();
        let mut found = 0usize;
        for (i, exact) in truth.iter().enumerate() {
            let t = Instant::now();
            let hits = store
                .approx_top_k(&query(i), os)
                .expect("approx")
                .expect("forest exists");
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            found += hits.iter().filter(|h| exact.contains(&h.id)).count();
        }
        let recall = found as f64 / (10 * ids.len()) as f64;
        eprintln!(
            "approx: {} trees, oversampling {os:>2}: median {:.3} ms, recall@10 {recall:.3}",
            forest.trees,
            median(ms.clone())
        );
        approx.push(serde_json::json!({ "oversampling": os, "median_ms": median(ms), "recall_at_10": recall }));
    }
    let report = serde_json::json!({
        "file": args.file, "words": store.len(), "dims": store.dims(), "queries": ids.len(),
        "exact": { "median_ms": median(exact_ms.clone()), "p90_ms": percentile(exact_ms, 0.9) },
        "forest": { "trees": forest.trees, "build_seconds": forest.seconds },
        "approx": approx,
    });
    println!("{report}");
}
