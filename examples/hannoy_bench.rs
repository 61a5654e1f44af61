//! hannoy (HNSW on heed/LMDB, from arroy's authors) measured beside vecsh's exact search, for
//! issue 12: build time, peak RSS and index size, then latency and recall@10 per `ef`.
//!
//!   cargo run --release --example hannoy_bench -- FILE [--queries N] [--m M]
//!       [--ef-construction E] [--ef 16,32,64,128,256] [--rows N] [--dir SCRATCH_DIR]
//!       [--alpha A] [--commit-items] [--cancel-after SECONDS] [--keep]
//!
//! e.g. `VECSH_CACHE=/work/big/hannoy-cache cargo run --release --example hannoy_bench --
//! ~/.cache/vecsh-data/glove.6B.50d.txt --rows 100000 --queries 200`
//!
//! FILE is opened through vecsh's own store (built under `$VECSH_CACHE` if missing); `--rows N`
//! keeps its first N words (vecsh's `--limit`: an index of that prefix of its own). N query
//! words are drawn with a fixed seed (the generator bench_queries uses: the same words every
//! run) and their exact top 10 (the word itself excluded) comes from `Store::exact_top_k`.
//!
//! The store's unit rows, all-zero rows left out, then go into a fresh LMDB environment in a
//! temporary directory (under the temp dir, or under `--dir`; removed at the end unless
//! `--keep`), and hannoy builds its graph there with Cosine distance: `--m M` links per node
//! above layer 0 and 2M in layer 0 (hannoy's `build::<M, M0>`, const generics: M is one of
//! 4, 8, 12, 16, 24, 32, 48, 64), `--ef-construction E` (hannoy's default 100), `--alpha A`
//! (1.0: plain HNSW pruning). The build runs on rayon's global pool, i.e. on every core.
//! The rows and the graph go in one write transaction, as vecsh builds its forest (nothing is
//! committed before the end); `--commit-items` commits the rows first and builds the graph in a
//! second transaction, so that hannoy's reads find clean pages in the map instead of searching
//! the transaction's dirty pages. Printed: seconds to add the rows, to build the graph (with hannoy's own steps) and to commit;
//! peak RSS (VmHWM) before and during the build (the peak is reset before hannoy starts where
//! the kernel allows); data.mdb's size.
//!
//! Then for each `ef` the queries run one at a time on this thread, like an interactive user:
//! ask for 11, drop the query word, keep 10; median and p90 latency, recall@10 against exact.
//! The reader is opened once; what opening one costs (vecsh's `approx_top_k` opens one per
//! query) is printed too. One JSON object closes the output.
//!
//! `--cancel-after S` sets the cancel flag S seconds into the graph build and reports how long
//! hannoy took to stop (nothing is committed, no queries run).

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hannoy::distances::Cosine;
use heed::{CommitOrAbort, EnvFlags, EnvOpenOptions};
use rand::SeedableRng;
use vecsh::index::{OpenOptions, Store};
use vecsh::loader::LoadOptions;
use vecsh::progress::Silent;
use vecsh::search::Query;

const K: usize = 10;

struct Args {
    file: PathBuf,
    queries: usize,
    m: usize,
    ef_construction: usize,
    alpha: f32,
    ef: Vec<usize>,
    rows: Option<usize>,
    dir: Option<PathBuf>,
    cancel_after: Option<f64>,
    commit_items: bool,
    keep: bool,
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        file: PathBuf::new(),
        queries: 1000,
        m: 16,
        ef_construction: 100,
        alpha: 1.0,
        ef: vec![16, 32, 64, 128, 256],
        rows: None,
        dir: None,
        cancel_after: None,
        commit_items: false,
        keep: false,
    };
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--queries" => parsed.queries = value().parse().expect("--queries N"),
            "--m" => parsed.m = value().parse().expect("--m M"),
            "--ef-construction" => {
                parsed.ef_construction = value().parse().expect("--ef-construction E")
            }
            "--alpha" => parsed.alpha = value().parse().expect("--alpha A"),
            "--ef" => {
                parsed.ef = value()
                    .split(',')
                    .map(|s| s.trim().parse().expect("--ef 16,32,64"))
                    .collect()
            }
            "--rows" => parsed.rows = Some(value().parse().expect("--rows N")),
            "--dir" => parsed.dir = Some(value().into()),
            "--cancel-after" => {
                parsed.cancel_after = Some(value().parse().expect("--cancel-after SECONDS"))
            }
            "--commit-items" => parsed.commit_items = true,
            "--keep" => parsed.keep = true,
            flag if flag.starts_with("--") => panic!("unknown flag {flag}"),
            _ => parsed.file = a.into(),
        }
    }
    assert!(
        parsed.file.is_file(),
        "usage: hannoy_bench FILE [--queries N] [--m M] [--ef-construction E] [--ef 16,32] \
         [--rows N] [--dir SCRATCH_DIR]"
    );
    parsed
}

/// Fields of /proc/self/status in KiB (VmHWM, VmRSS, RssAnon, RssFile), 0 when absent.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Resets VmHWM to the current RSS (Linux 4.0+, `/proc/self/clear_refs` value 5).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn percentile(xs: &[f64], p: f64) -> f64 {
    let mut xs = xs.to_vec();
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() - 1) as f64 * p).round() as usize]
}

/// One of hannoy's build steps and when it was reported.
type Reported = (Instant, Box<dyn steppe::Step>);

/// hannoy's build steps as they are reported; the last one is polled for progress.
#[derive(Clone, Default)]
struct Steps(Arc<Mutex<Vec<Reported>>>);

impl steppe::Progress for Steps {
    fn update(&self, step: impl steppe::Step) {
        let mut steps = self.0.lock().unwrap_or_else(|e| e.into_inner());
        steps.push((Instant::now(), Box::new(step)));
    }
}

impl Steps {
    fn now(&self) -> Option<(Cow<'static, str>, u64, u64)> {
        let steps = self.0.lock().unwrap_or_else(|e| e.into_inner());
        steps
            .last()
            .map(|(_, s)| (s.name(), s.current(), s.total()))
    }

    /// (name, seconds) of each step, up to `end`. A sub-step (hannoy's "inserting items"
    /// counter) is reported right after its step, so it takes that step's time.
    fn durations(&self, end: Instant) -> Vec<(String, f64)> {
        let steps = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, f64)> = Vec::new();
        for (i, (at, step)) in steps.iter().enumerate() {
            let until = steps.get(i + 1).map_or(end, |(t, _)| *t);
            out.push((step.name().into_owned(), (until - *at).as_secs_f64()));
        }
        out
    }
}

/// `builder.build::<M, 2M>` for the M values this bench is compiled for.
fn build_graph<P: steppe::Progress>(
    builder: &mut hannoy::HannoyBuilder<'_, '_, Cosine, rand::rngs::StdRng, P>,
    wtxn: &mut heed::RwTxn,
    m: usize,
) -> hannoy::Result<()> {
    macro_rules! dispatch {
        ($($m:literal => $m0:literal),*) => {
            match m {
                $($m => builder.build::<$m, $m0>(wtxn),)*
                other => panic!("--m {other}: this bench is compiled for M in 4, 8, 12, 16, 24, 32, 48, 64"),
            }
        };
    }
    dispatch!(4 => 8, 8 => 16, 12 => 24, 16 => 32, 24 => 48, 32 => 64, 48 => 96, 64 => 128)
}

fn main() {
    let args = parse_args();
    let wall = Instant::now();
    let opts = OpenOptions {
        load: LoadOptions {
            limit: args.rows,
            ..Default::default()
        },
        ..Default::default()
    };
    let opened = Instant::now();
    let (store, origin) = Store::open(&args.file, &opts, &Silent).expect("open");
    let open_s = opened.elapsed().as_secs_f64();
    let (n, dims) = (store.len(), store.dims());
    eprintln!(
        "{}: {n} words x {dims} ({origin:?} index in {open_s:.1} s)",
        args.file.display()
    );

    // Query words: the LCG bench_queries uses, so the same words every run; zero rows skipped.
    let mut seed = 0x5eed_u64;
    let mut ids = Vec::with_capacity(args.queries);
    let mut vectors = Vec::with_capacity(args.queries);
    let mut draws = 0;
    while ids.len() < args.queries && draws < args.queries * 10 {
        draws += 1;
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let id = ((seed >> 33) % n as u64) as u32;
        let v = store.unit_row(id).expect("row").expect("id in range");
        if v.iter().any(|&x| x != 0.0) {
            ids.push(id);
            vectors.push(v.into_owned());
        }
    }
    let query = |i: usize| Query {
        vector: &vectors[i],
        k: K,
        exclude: std::slice::from_ref(&ids[i]),
        limit: n,
    };
    let exact_started = Instant::now();
    let truth: Vec<Vec<u32>> = (0..ids.len())
        .map(|i| {
            let hits = store.exact_top_k(&query(i)).expect("exact search");
            hits.iter().map(|h| h.id).collect()
        })
        .collect();
    let exact_ms = exact_started.elapsed().as_secs_f64() * 1e3 / ids.len().max(1) as f64;
    eprintln!(
        "exact truth: {} queries, {exact_ms:.2} ms each (rayon, all cores)",
        ids.len()
    );

    // Scratch environment, never inside the repository unless asked to.
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent).expect("scratch parent");
    let scratch = tempfile::Builder::new()
        .prefix("vecsh-hannoy-")
        .tempdir_in(&parent)
        .expect("scratch dir");
    let env = {
        let mut eo = EnvOpenOptions::new().read_txn_without_tls();
        // Virtual only: the file grows as LMDB writes.
        eo.map_size(1 << 40).max_dbs(1);
        // SAFETY: a new directory of this process's own, opened once.
        unsafe {
            eo.flags(EnvFlags::NO_READ_AHEAD);
            eo.open(scratch.path())
        }
        .expect("open scratch LMDB env")
    };
    let wtxn = env.write_txn().expect("write txn");
    let db: hannoy::Database<Cosine> = env
        .create_databases_and_commit(wtxn, |dbo, wtxn| -> heed::Result<_> {
            dbo.create_database(wtxn, Some("hannoy"))
                .map(CommitOrAbort::<_, ()>::Commit)
        })
        .expect("create database")
        .unwrap_commit();

    let rss_before = status_kib("VmHWM");
    let reset = reset_peak_rss();
    let started = Instant::now();
    let mut wtxn = env.write_txn().expect("write txn");
    let writer = hannoy::Writer::<Cosine>::new(db, 0, dims);
    let (mut added, mut zero) = (0usize, 0usize);
    {
        let rows = store.unit_rows().expect("unit rows");
        for id in 0..rows.len {
            let row = rows.row(id);
            // Zero vectors stay out of the graph, as they stay out of vecsh's forest.
            if row.iter().all(|&x| x == 0.0) {
                zero += 1;
                continue;
            }
            writer
                .add_item(&mut wtxn, id as u32, row)
                .expect("add_item");
            added += 1;
        }
    }
    if args.commit_items {
        wtxn.commit().expect("commit items");
        wtxn = env.write_txn().expect("write txn");
    }
    let add_s = started.elapsed().as_secs_f64();
    eprintln!(
        "added {added} rows ({zero} zero rows left out) in {add_s:.1} s{}",
        if args.commit_items {
            ", committed"
        } else {
            ", graph built in the same transaction"
        }
    );

    let steps = Steps::default();
    let cancel = AtomicBool::new(false);
    let graph_started = Instant::now();
    let done = AtomicBool::new(false);
    let mut cancel_requested: Option<Instant> = None;
    let built = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut last_report = Instant::now();
            let mut requested = None;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                let t = graph_started.elapsed().as_secs_f64();
                if requested.is_none() && args.cancel_after.is_some_and(|s| t >= s) {
                    cancel.store(true, Ordering::Relaxed);
                    requested = Some(Instant::now());
                    eprintln!("  [{t:6.1} s] cancel requested");
                }
                if last_report.elapsed() >= Duration::from_secs(10) {
                    last_report = Instant::now();
                    if let Some((name, cur, total)) = steps.now() {
                        eprintln!("  [{t:6.1} s] {name}: {cur}/{total}");
                    }
                }
            }
            requested
        });
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let mut builder = writer.builder(&mut rng).progress(steps.clone());
        builder
            .ef_construction(args.ef_construction)
            .alpha(args.alpha)
            .cancel(|| cancel.load(Ordering::Relaxed));
        let built = build_graph(&mut builder, &mut wtxn, args.m);
        done.store(true, Ordering::Relaxed);
        cancel_requested = watcher.join().expect("watcher");
        built
    });
    let graph_end = Instant::now();
    let graph_s = (graph_end - graph_started).as_secs_f64();
    let rss_build = status_kib("VmHWM");
    for (name, s) in steps.durations(graph_end) {
        eprintln!("  {name}: {s:.1} s");
    }
    if let Some(asked) = cancel_requested {
        let stopped = (graph_end - asked).as_secs_f64();
        match built {
            Err(e) => println!(
                "cancelled: hannoy returned `{e}` {:.3} s after the flag was set ({graph_s:.1} s into the build)",
                stopped
            ),
            Ok(()) => println!("build finished ({graph_s:.1} s) {stopped:.3} s after the cancel flag without cancelling"),
        }
        drop(wtxn);
        return;
    }
    built.expect("hannoy build");
    let committed = Instant::now();
    wtxn.commit().expect("commit");
    let commit_s = committed.elapsed().as_secs_f64();
    let build_s = started.elapsed().as_secs_f64();
    let mdb_bytes = std::fs::metadata(scratch.path().join("data.mdb"))
        .map(|m| m.len())
        .unwrap_or(0);
    // Each item is its f32 vector and a 4-byte norm header (Cosine), in its own LMDB entry.
    let vector_bytes = added as u64 * (dims as u64 * 4 + 4);
    let (rss_now, anon, file) = (
        status_kib("VmRSS"),
        status_kib("RssAnon"),
        status_kib("RssFile"),
    );
    eprintln!(
        "hannoy build (M {}, M0 {}, ef_construction {}, alpha {}): {build_s:.1} s = add {add_s:.1} + graph {graph_s:.1} + commit {commit_s:.1}; {} threads",
        args.m,
        args.m * 2,
        args.ef_construction,
        args.alpha,
        rayon::current_num_threads()
    );
    eprintln!(
        "peak RSS: {:.0} MiB before hannoy, {:.0} MiB {} the build; after it RSS {:.0} MiB (anon {:.0}, file {:.0})",
        mib(rss_before),
        mib(rss_build),
        if reset { "during" } else { "by the end of (not reset)" },
        mib(rss_now),
        mib(anon),
        mib(file),
    );
    eprintln!(
        "data.mdb: {:.1} MiB ({:.1} MiB of it would be the raw f32 vectors + norms)",
        mdb_bytes as f64 / 1048576.0,
        vector_bytes as f64 / 1048576.0
    );

    // Queries: one at a time on this thread.
    let rtxn = env.read_txn().expect("read txn");
    let mut open_ms = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let reader = hannoy::Reader::<Cosine>::open(&rtxn, 0, db).expect("reader");
        open_ms.push(t.elapsed().as_secs_f64() * 1e3);
        drop(reader);
    }
    let reader = hannoy::Reader::<Cosine>::open(&rtxn, 0, db).expect("reader");
    let search = |i: usize, ef: usize| -> Vec<u32> {
        let found = reader
            .nns(K + 1)
            .ef_search(ef)
            .by_vector(&rtxn, &vectors[i])
            .expect("hannoy search")
            .into_nns();
        found
            .into_iter()
            .map(|(id, _)| id)
            .filter(|&id| id != ids[i])
            .take(K)
            .collect()
    };
    // Warm-up: the pages the widest search touches.
    let widest = args.ef.iter().copied().max().unwrap_or(64);
    for i in 0..ids.len().min(50) {
        search(i, widest);
    }
    let mut results = Vec::new();
    println!(
        "{n} x {dims}, M {} / M0 {}, ef_construction {}: build {build_s:.1} s, peak RSS {:.0} MiB, data.mdb {:.1} MiB",
        args.m,
        args.m * 2,
        args.ef_construction,
        mib(rss_build.max(rss_before)),
        mdb_bytes as f64 / 1048576.0
    );
    println!(
        "{:>6} {:>11} {:>9} {:>10}",
        "ef", "median ms", "p90 ms", "recall@10"
    );
    for &ef in &args.ef {
        let mut ms = Vec::with_capacity(ids.len());
        let mut found = 0usize;
        for (i, want) in truth.iter().enumerate() {
            let t = Instant::now();
            let got = search(i, ef);
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            found += got.iter().filter(|id| want.contains(id)).count();
        }
        let recall = found as f64 / (K * ids.len()).max(1) as f64;
        let (med, p90) = (percentile(&ms, 0.5), percentile(&ms, 0.9));
        println!("{ef:>6} {med:>11.3} {p90:>9.3} {recall:>10.4}");
        results.push(serde_json::json!({
            "ef": ef, "median_ms": med, "p90_ms": p90, "recall_at_10": recall,
        }));
    }
    println!(
        "reader open {:.3} ms (median); exact search {exact_ms:.2} ms a query (all cores)",
        percentile(&open_ms, 0.5)
    );
    let report = serde_json::json!({
        "file": args.file, "words": n, "dims": dims, "rows_indexed": added, "zero_rows": zero,
        "queries": ids.len(), "threads": rayon::current_num_threads(),
        "m": args.m, "m0": args.m * 2, "ef_construction": args.ef_construction, "alpha": args.alpha,
        "commit_items": args.commit_items,
        "build": {
            "seconds": build_s, "add_seconds": add_s, "graph_seconds": graph_s,
            "commit_seconds": commit_s,
            "steps": steps.durations(graph_end).into_iter()
                .map(|(name, s)| serde_json::json!({ "step": name, "seconds": s }))
                .collect::<Vec<_>>(),
        },
        "peak_rss_mib": { "before_build": mib(rss_before), "build": mib(rss_build), "reset_before_build": reset },
        "data_mdb_bytes": mdb_bytes, "vector_bytes": vector_bytes,
        "reader_open_ms": percentile(&open_ms, 0.5),
        "exact_ms": exact_ms,
        "search": results,
        "wall_seconds": wall.elapsed().as_secs_f64(),
    });
    println!("{report}");
    drop(reader);
    drop(rtxn);
    drop(env);
    if args.keep {
        eprintln!("kept {}", scratch.keep().display());
    }
}
