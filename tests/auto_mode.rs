//! The auto search mode chooses by what the forest measured on the file at hand (issue 12),
//! not by a fixed vocabulary size: `build_forest` times the forest against the exact scan and
//! stores the result; auto uses the forest only when that measurement says it pays.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use vecsh::eval::{SearchMode, SearchUsed, Session, Settings, Value};
use vecsh::index::{ForestCalibration, OpenOptions, Store, DEFAULT_OVERSAMPLING};
use vecsh::progress::Silent;

fn write_bin(dir: &Path, n: usize, dims: usize) -> PathBuf {
    let mut bytes = format!("{n} {dims}\n").into_bytes();
    for i in 0..n {
        bytes.extend_from_slice(format!("w{i} ").as_bytes());
        for d in 0..dims {
            let x = (((i * 31 + d * 17) % 23) as f32 - 11.0) / 7.0 + (i % 7) as f32 * 0.1;
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        bytes.push(b'\n');
    }
    let path = dir.join("v.bin");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn used(s: &mut Session, line: &str) -> SearchUsed {
    match s.run_line(line).unwrap() {
        Value::Neighbours { search, .. } => search,
        other => panic!("{other:?}"),
    }
}

#[test]
fn auto_follows_the_forests_measurement_on_this_file() {
    let tmp = tempfile::tempdir().unwrap();
    let src = write_bin(tmp.path(), 5_000, 16);
    let opts = OpenOptions {
        cache_dir: Some(tmp.path().join("cache")),
        writable: true,
        ..Default::default()
    };
    let (store, _) = Store::open(&src, &opts, &Silent).unwrap();
    assert_eq!(store.forest_calibration(), None);
    store
        .build_forest(8, &Silent, &AtomicBool::new(false))
        .unwrap();
    // Measured and stored by the build.
    let measured = store.forest_calibration().expect("calibrated");
    assert_eq!(measured.oversampling, DEFAULT_OVERSAMPLING);
    assert!(measured.queries >= 30);
    assert!((0.0..=1.0).contains(&measured.recall));
    assert!(measured.exact_ms > 0.0 && measured.approx_ms > 0.0);
    assert!(store.verify().unwrap().is_intact());

    let auto = Settings {
        mode: SearchMode::Auto,
        ..Settings::default()
    };
    // A forest that does not pay (slower than exact, or missing answers): auto stays exact.
    let slow = ForestCalibration {
        approx_ms: measured.exact_ms * 2.0,
        ..measured
    };
    store.store_forest_calibration(&slow).unwrap();
    assert_eq!(
        used(&mut Session::new(&store, auto.clone()), "w10"),
        SearchUsed::Exact
    );
    let inexact = ForestCalibration {
        approx_ms: measured.exact_ms / 10.0,
        recall: 0.8,
        ..measured
    };
    store.store_forest_calibration(&inexact).unwrap();
    assert_eq!(
        used(&mut Session::new(&store, auto.clone()), "w10"),
        SearchUsed::Exact
    );

    // One that pays: auto uses it, but only at the oversampling it was measured with.
    let fast = ForestCalibration {
        approx_ms: measured.exact_ms / 10.0,
        recall: 0.97,
        ..measured
    };
    store.store_forest_calibration(&fast).unwrap();
    assert_eq!(
        used(&mut Session::new(&store, auto.clone()), "w10"),
        SearchUsed::Approx
    );
    let other = Settings {
        oversampling: DEFAULT_OVERSAMPLING * 2,
        ..auto.clone()
    };
    assert_eq!(
        used(&mut Session::new(&store, other), "w10"),
        SearchUsed::Exact
    );

    // A measurement of another (older) forest does not count.
    let stale = ForestCalibration {
        forest_built_at: fast.forest_built_at.wrapping_sub(1),
        ..fast
    };
    store.store_forest_calibration(&stale).unwrap();
    assert_eq!(store.forest_calibration(), None);
    assert_eq!(
        used(&mut Session::new(&store, auto), "w10"),
        SearchUsed::Exact
    );
}

#[test]
fn what_pays() {
    let c = ForestCalibration {
        forest_built_at: 1,
        queries: 32,
        oversampling: 8,
        exact_ms: 12.0,
        approx_ms: 8.0,
        recall: 0.9,
    };
    assert!(c.pays());
    assert!(c.pays_at(8));
    assert!(!c.pays_at(16), "measured at another oversampling");
    assert!(!ForestCalibration {
        approx_ms: 8.1,
        ..c
    }
    .pays());
    assert!(!ForestCalibration { recall: 0.89, ..c }.pays());
}
