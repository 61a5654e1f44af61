//! Exact-query latency while the approximate-search forest builds in the same process, as in
//! the interactive session after `:exact off`:
//!
//!   cargo run --release --example forest_latency -- FILE [background|shared] [--trees N]
//!
//! `background` (the default) builds as the session does (`ApproxBuilder::build_in_background`:
//! a low-priority pool of its own); `shared` builds on rayon's global pool, which the exact scan
//! also uses (what the session did before). The index is built afresh in a temporary directory.
//! A query runs every 250 ms until the build ends; prints the latency before the build and
//! during it (median, max) and the build time.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use vecsh::index::{ApproxKind, Built, OpenOptions, Store, DEFAULT_TREES};
use vecsh::progress::Silent;
use vecsh::search::Query;

fn main() {
    let mut args = std::env::args().skip(1);
    let file = PathBuf::from(
        args.next()
            .expect("usage: forest_latency FILE [background|shared]"),
    );
    let mut shared = false;
    let mut trees = DEFAULT_TREES;
    while let Some(a) = args.next() {
        match a.as_str() {
            "background" => shared = false,
            "shared" => shared = true,
            "--trees" => trees = args.next().and_then(|n| n.parse().ok()).expect("--trees N"),
            other => panic!("unknown argument {other}"),
        }
    }
    let tmp = std::env::temp_dir().join(format!("vecsh-forest-latency-{}", std::process::id()));
    let opts = OpenOptions {
        index_dir: Some(tmp.clone()),
        writable: true,
        ..Default::default()
    };
    let (store, _) = Store::open(&file, &opts, &Silent).expect("open");
    let words = [
        "king", "queen", "paris", "france", "cat", "dog", "computer", "river",
    ];
    let vectors: Vec<(u32, Vec<f32>)> = words
        .iter()
        .filter_map(|w| store.id(w))
        .map(|id| (id, store.vector(id).unwrap().to_vec()))
        .collect();
    let ask = |i: usize| {
        let (id, v) = &vectors[i % vectors.len()];
        let started = Instant::now();
        store
            .exact_top_k(&Query {
                vector: v,
                k: 10,
                exclude: std::slice::from_ref(id),
                limit: store.len(),
            })
            .unwrap();
        started.elapsed().as_secs_f64() * 1e3
    };
    let before: Vec<f64> = (0..40).map(ask).collect();

    let builder = store.approx_builder().expect("writable store");
    let started = Instant::now();
    let handle = std::thread::spawn(move || {
        let cancel = AtomicBool::new(false);
        if shared {
            builder.build_forest(trees, &Silent, &cancel)
        } else {
            match builder.build_in_background(
                ApproxKind::Forest,
                trees,
                &Silent,
                &cancel,
                &Default::default(),
            ) {
                Ok(Built::Forest(f)) => Ok(f),
                Ok(Built::Lists(_)) => unreachable!("a forest was asked for"),
                Err(e) => Err(e),
            }
        }
    });
    let mut during = Vec::new();
    while !handle.is_finished() {
        std::thread::sleep(Duration::from_millis(250));
        if !handle.is_finished() {
            during.push(ask(during.len()));
        }
    }
    let forest = handle.join().unwrap().expect("forest");
    let build_s = started.elapsed().as_secs_f64();
    drop(store);
    let _ = std::fs::remove_dir_all(&tmp);

    let stats = |mut xs: Vec<f64>| {
        xs.sort_by(f64::total_cmp);
        if xs.is_empty() {
            return "no queries".to_string();
        }
        format!(
            "{} queries, median {:.1} ms, max {:.1} ms",
            xs.len(),
            xs[xs.len() / 2],
            xs[xs.len() - 1]
        )
    };
    println!("{}", file.display());
    println!(
        "build pool: {}",
        if shared {
            "shared (rayon's global pool)"
        } else {
            "its own, low priority"
        }
    );
    println!("exact query before the build: {}", stats(before));
    println!("exact query during the build: {}", stats(during));
    println!("forest: {} trees in {build_s:.1} s", forest.trees);
}
