//! `:restrict N` speed: the same analogy queries (`b - a + c`, three words drawn with a fixed
//! seed from the first 10,000) through the evaluator, with every word and with the search
//! restricted to the first N, for 3CosAdd and 3CosMul. Prints one line per setting: the median
//! and mean time per query.
//!
//!   cargo run --release --example restrict_bench -- FILE [--queries 300]

use std::path::PathBuf;
use std::time::Instant;

use vecsh::eval::{Method, SearchMode, Session, Settings};
use vecsh::index::{OpenOptions, Store};
use vecsh::progress::Silent;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut file = PathBuf::new();
    let mut queries = 300usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--queries" => {
                queries = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--queries N")
            }
            _ => file = a.into(),
        }
    }
    assert!(file.is_file(), "usage: restrict_bench FILE [--queries N]");
    let (store, _) = Store::open(&file, &OpenOptions::default(), &Silent).expect("open");
    let pool = store.len().min(10_000) as u64;
    let mut seed = 14u64;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % pool
    };
    let lines: Vec<String> = (0..queries)
        .map(|_| {
            let [a, b, c] =
                [next(), next(), next()].map(|id| store.word(id as u32).unwrap().to_string());
            format!("\"{b}\" - \"{a}\" + \"{c}\"")
        })
        .collect();
    println!(
        "{} words × {} dims, {queries} analogy queries, k = 10, exact scan",
        store.len(),
        store.dims()
    );
    for method in [Method::Add, Method::Mul] {
        for restrict in [None, Some(100_000), Some(30_000), Some(10_000)] {
            let settings = Settings {
                mode: SearchMode::Exact,
                method,
                restrict,
                ..Settings::default()
            };
            let mut session = Session::new(&store, settings);
            // One warm-up pass so the pages are in memory.
            for line in lines.iter().take(20) {
                session.run_line(line).expect("query");
            }
            let mut times = Vec::with_capacity(queries);
            for line in &lines {
                let t = Instant::now();
                session.run_line(line).expect("query");
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            let mean = times.iter().sum::<f64>() / times.len() as f64;
            times.sort_by(f64::total_cmp);
            println!(
                "{:<4} restrict {:>7}: median {:>7.3} ms, mean {:>7.3} ms",
                if method == Method::Add { "add" } else { "mul" },
                restrict.map_or("all".to_string(), |n| n.to_string()),
                times[times.len() / 2],
                mean
            );
        }
    }
}
