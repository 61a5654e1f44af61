//! Query benchmark: exact top-10 latency, and approximate latency and recall@10 against exact,
//! over the same 1,000 words. Prints JSON (one object) for bench/run.sh and a readable summary
//! on stderr.
//!
//!   cargo run --release --example bench_queries -- FILE [--words WORDS.txt] [--trees N]
//!       [--oversampling 1,4,8,16] [--queries 1000] [--pc 0,64,96,112,128] [--no-approx]
//!
//! --pc sweeps the principal-component first stage of the exact search: for each p (0: none,
//! today's int8 + f32 scan) the stage is computed in memory from the stored unit rows and the
//! exact top-10 is timed, with the fraction of rows each stage passes (checked equal to the
//! plain two-stage answer for every query). Like the store's search, the staged scan is seeded
//! from the inverted lists when the index has them.
//!
//! Without --words, 1,000 words are drawn with a fixed seed from the vocabulary. The forest is
//! built first if missing (with --trees, default vecsh's default).

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use vecsh::index::{ApproxKind, ApproxParams, OpenOptions, Store, DEFAULT_TREES};
use vecsh::progress::Silent;
use vecsh::search::Query;

struct Args {
    file: PathBuf,
    words: Option<PathBuf>,
    trees: usize,
    oversampling: Vec<usize>,
    queries: usize,
    pc: Vec<usize>,
    approx: bool,
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        file: PathBuf::new(),
        words: None,
        trees: DEFAULT_TREES,
        oversampling: vec![1, 4, 8, 16, 32],
        queries: 1000,
        pc: Vec::new(),
        approx: true,
    };
    while let Some(a) = args.next() {
        let mut value = || args.next().expect("flag needs a value");
        match a.as_str() {
            "--words" => parsed.words = Some(value().into()),
            "--trees" => parsed.trees = value().parse().expect("--trees N"),
            "--queries" => parsed.queries = value().parse().expect("--queries N"),
            "--no-approx" => parsed.approx = false,
            "--pc" => {
                parsed.pc = value()
                    .split(',')
                    .map(|s| s.parse().expect("numbers"))
                    .collect()
            }
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
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
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
        store.exact_top_k(&query(i)).expect("exact search");
    }
    let mut exact_ms = Vec::new();
    let mut truth = Vec::new();
    let (mut pc_pass, mut int8_pass) = (Vec::new(), Vec::new());
    let (mut by_lists, mut cells_read) = (0usize, Vec::new());
    for i in 0..ids.len() {
        let t = Instant::now();
        let (hits, counts) = store.exact_top_k_counted(&query(i)).expect("exact search");
        exact_ms.push(t.elapsed().as_secs_f64() * 1e3);
        if counts.cells_read > 0 {
            by_lists += 1;
            cells_read.push(counts.cells_read as f64);
        }
        truth.push(hits.iter().map(|h| h.id).collect::<Vec<_>>());
        pc_pass.push(counts.pc_passed as f64 / counts.scanned.max(1) as f64);
        int8_pass.push(counts.int8_passed as f64 / counts.scanned.max(1) as f64);
    }
    let stage_p = store.pc_stage().map_or(0, |s| s.p);
    let lists_total = store.lists().map_or(0, |l| l.lists);
    eprintln!(
        "exact: {by_lists} of {} queries answered through the lists' cells (median {:.0} of {} cells read); the others scanned every row",
        ids.len(),
        median(cells_read.clone()),
        lists_total * vecsh::ivf::CELLS_PER_LIST,
    );
    eprintln!(
        "exact: {} queries, median {:.3} ms, p90 {:.3} ms; stage p = {stage_p}, rows passed: pc stage {:.4}, int8 stage {:.6}",
        ids.len(),
        median(exact_ms.clone()),
        percentile(exact_ms.clone(), 0.9),
        median(pc_pass.clone()),
        median(int8_pass.clone()),
    );
    let exact_json = serde_json::json!({
        "median_ms": median(exact_ms.clone()), "p90_ms": percentile(exact_ms.clone(), 0.9),
        "pc_dims": stage_p, "pc_pass_median": median(pc_pass), "int8_pass_median": median(int8_pass),
        "by_lists": by_lists, "cells_read_median": median(cells_read), "lists": lists_total,
    });

    let mut pc_report = Vec::new();
    let (unit, quant) = (
        store.unit_rows().expect("unit rows"),
        store.quant_rows().expect("quant rows"),
    );
    for &p in &args.pc {
        let built = Instant::now();
        let stage = if p == 0 {
            None
        } else {
            match vecsh::search::pc_stage_from_rows(&unit, p) {
                Some(s) => Some(s),
                None => {
                    eprintln!("pc {p}: no orthonormal basis, skipped");
                    continue;
                }
            }
        };
        let build_s = built.elapsed().as_secs_f64();
        // Seeded from the inverted lists when the index has them, as the store's search is.
        let run = |i: usize| {
            let query = query(i);
            let seeds = store.exact_seeds(&query).expect("seeds");
            vecsh::search::exact_top_k_seeded(&unit, &quant, stage.as_ref(), &query, &seeds)
        };
        for i in 0..ids.len().min(50) {
            run(i);
        }
        let (mut ms, mut pc_pass, mut int8_pass) = (Vec::new(), Vec::new(), Vec::new());
        for (i, want) in truth.iter().enumerate() {
            let t = Instant::now();
            let (hits, counts) = run(i);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            let got: Vec<u32> = hits.iter().map(|h| h.id).collect();
            assert_eq!(
                &got, want,
                "pc {p}: query {i} differs from the two-stage answer"
            );
            pc_pass.push(counts.pc_passed as f64 / counts.scanned as f64);
            int8_pass.push(counts.int8_passed as f64 / counts.scanned as f64);
        }
        eprintln!(
            "exact, pc {p:>3}: median {:.3} ms, p90 {:.3} ms; rows passed: pc stage {:.4} (p90 {:.4}), int8 stage {:.6}; stage build {build_s:.1} s",
            median(ms.clone()),
            percentile(ms.clone(), 0.9),
            median(pc_pass.clone()),
            percentile(pc_pass.clone(), 0.9),
            median(int8_pass.clone()),
        );
        pc_report.push(serde_json::json!({
            "p": p, "median_ms": median(ms.clone()), "p90_ms": percentile(ms, 0.9),
            "pc_pass_median": median(pc_pass.clone()), "pc_pass_p90": percentile(pc_pass, 0.9),
            "int8_pass_median": median(int8_pass), "stage_build_seconds": build_s,
        }));
    }
    if !args.approx {
        let report = serde_json::json!({
            "file": args.file, "words": store.len(), "dims": store.dims(), "queries": ids.len(),
            "exact": exact_json,
            "pc": pc_report,
        });
        println!("{report}");
        return;
    }

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
                .approx_top_k(
                    &query(i),
                    &ApproxParams {
                        kind: ApproxKind::Forest,
                        oversampling: os,
                        ..ApproxParams::default()
                    },
                )
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
        "exact": exact_json,
        "forest": { "trees": forest.trees, "build_seconds": forest.seconds },
        "approx": approx, "pc": pc_report,
    });
    println!("{report}");
}
