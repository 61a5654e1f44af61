//! Times the inverted lists' k-means alone (`ivf::build`: training, assigning every row,
//! splitting the lists into cells), phase by phase, without writing them: for profiling the
//! build (`perf record -g`) and comparing its variants quickly.
//!
//!   cargo run --release --example ivf_build_bench -- FILE [--runs 1]
//!
//! It opens the same index `vecsh FILE` does (building it if needed; set VECSH_CACHE to keep
//! it apart), then builds the layout `--runs` times and prints each phase's seconds.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Instant;

use vecsh::index::{OpenOptions, Store};
use vecsh::ivf::{self, BuildStep};
use vecsh::progress::Silent;

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut file, mut runs) = (PathBuf::new(), 1usize);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            _ => file = a.into(),
        }
    }
    assert!(file.is_file(), "usage: ivf_build_bench FILE [--runs N]");
    let (store, _) = Store::open(&file, &OpenOptions::default(), &Silent).expect("open");
    let quant = store.quant_rows().expect("int8 rows");
    for _ in 0..runs {
        let start = Instant::now();
        let marks = Mutex::new(Vec::new());
        let layout = ivf::build(&quant, 0x001f_5eed, &AtomicBool::new(false), &|step| {
            let name = match step {
                BuildStep::Training { .. } => "training",
                BuildStep::Assigning { .. } => "assigning",
                BuildStep::Splitting { .. } => "cells",
                _ => return,
            };
            marks
                .lock()
                .unwrap()
                .push((name, start.elapsed().as_secs_f64()));
        })
        .expect("not cancelled");
        let total = start.elapsed().as_secs_f64();
        let mut marks = marks.into_inner().unwrap();
        marks.push(("end", total));
        let phases: Vec<String> = marks
            .windows(2)
            .map(|w| format!("{} {:.2} s", w[0].0, w[1].1 - w[0].1))
            .collect();
        eprintln!(
            "{} lists over {} rows in {total:.2} s: {}",
            layout.lists(),
            layout.ids.len(),
            phases.join(", ")
        );
    }
}
