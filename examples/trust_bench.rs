//! What trusting the store costs (issue 10), on one embedding file:
//! the whole-content source hash (run whenever the source's stat changed), a full
//! verification of the index (every table and chunk hashed; after builds, at session and
//! `vecsh eval` opens, and at a one-shot open whose stat proof no longer holds), and opening
//! with the stat proof (what a warm one-shot process does).
//!
//!   cargo run --release --example trust_bench -- FILE [RUNS]
//!
//! Prints medians (and min..max) over RUNS (default 5). The file's index is built first
//! (in $VECSH_CACHE or the default cache) if needed. Page cache warm: every figure is for
//! data already in memory, the usual case right after a build or a previous run.

use std::path::PathBuf;
use std::time::Instant;

use vecsh::index::{hash_file, OpenOptions, Store, Verify};
use vecsh::progress::Silent;

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

fn time(runs: usize, mut f: impl FnMut()) -> (f64, f64, f64) {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let file = PathBuf::from(args.next().expect("usage: trust_bench FILE [RUNS]"));
    let runs: usize = args.next().map_or(5, |r| r.parse().expect("RUNS"));
    let size = std::fs::metadata(&file)?.len();
    let full = OpenOptions::default();
    let (store, origin) = Store::open(&file, &full, &Silent)?;
    println!(
        "{}: {} words x {} dims, source {:.1} MB, index {:.1} MB ({origin:?})",
        file.display(),
        store.len(),
        store.dims(),
        size as f64 / 1e6,
        store.disk_size() as f64 / 1e6
    );
    drop(store);

    let (m, lo, hi) = time(runs, || {
        hash_file(&file).unwrap();
    });
    println!(
        "source hash (xxh3, whole file)   {m:9.1} ms  ({lo:.1}..{hi:.1})  {:.2} GB/s",
        size as f64 / 1e6 / m
    );

    let (store, _) = Store::open(&file, &full, &Silent)?;
    let mut bytes = 0;
    let (m, lo, hi) = time(runs, || {
        let report = store.verify().unwrap();
        assert!(report.is_intact(), "{report:?}");
        bytes = report.bytes;
    });
    println!(
        "full verification (all tables)   {m:9.1} ms  ({lo:.1}..{hi:.1})  {:.1} MB hashed",
        bytes as f64 / 1e6
    );
    drop(store);

    let (m, lo, hi) = time(runs, || {
        drop(Store::open(&file, &full, &Silent).unwrap());
    });
    println!("open, verifying fully (sessions) {m:9.1} ms  ({lo:.1}..{hi:.1})");

    let proof = OpenOptions {
        verify: Verify::Proof,
        ..OpenOptions::default()
    };
    let (m, lo, hi) = time(runs.max(20), || {
        let (store, _) = Store::open(&file, &proof, &Silent).unwrap();
        assert!(!store.verified_now());
    });
    println!("open with the stat proof (-e)    {m:9.3} ms  ({lo:.3}..{hi:.3})");
    Ok(())
}
