//! The auto search mode chooses by what approximate search measured on the file at hand
//! (issue 12), not by a fixed vocabulary size: `build_lists` / `build_forest` time the
//! structure against the exact scan and store the result; auto searches approximately only
//! when that measurement says it pays, for the structure and setting it searches with.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use vecsh::eval::{SearchMode, SearchUsed, Session, Settings, Value};
use vecsh::index::{
    ApproxCalibration, ApproxKind, ApproxParams, OpenOptions, Store, DEFAULT_OVERSAMPLING,
};
use vecsh::ivf::{DEFAULT_PROBES, PROBE_STEPS, TARGET_RECALL};
use vecsh::progress::Silent;

use crate::util::opts;

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
fn auto_follows_the_lists_measurement_on_this_file() {
    auto_follows_the_measurement(ApproxKind::Lists);
}

#[test]
fn auto_follows_the_forests_measurement_on_this_file() {
    auto_follows_the_measurement(ApproxKind::Forest);
}

fn auto_follows_the_measurement(kind: ApproxKind) {
    let tmp = tempfile::tempdir().unwrap();
    let src = write_bin(tmp.path(), 5_000, 16);
    let opts = OpenOptions {
        writable: true,
        ..opts(&tmp.path().join("cache"))
    };
    let (store, _) = Store::open(&src, &opts, &Silent).unwrap();
    assert_eq!(store.calibration(kind), None);
    let no = AtomicBool::new(false);
    match kind {
        ApproxKind::Lists => drop(store.build_lists(&Silent, &no).unwrap()),
        ApproxKind::Forest => drop(store.build_forest(8, &Silent, &no).unwrap()),
    }
    // Measured and stored by the build.
    let measured = store.calibration(kind).expect("calibrated");
    let params = ApproxParams {
        kind,
        ..ApproxParams::default()
    };
    assert_eq!(measured.kind, kind);
    match kind {
        // Tuned: the fewest probes of the steps that reach the target recall (or all lists).
        ApproxKind::Lists => {
            let lists = store.lists().unwrap().lists;
            assert!(
                PROBE_STEPS.contains(&measured.setting) || measured.setting == lists,
                "{measured:?}"
            );
            assert!(measured.recall >= TARGET_RECALL || measured.setting == lists);
            assert!(measured.setting <= DEFAULT_PROBES.max(lists));
        }
        ApproxKind::Forest => assert_eq!(measured.setting, DEFAULT_OVERSAMPLING),
    }
    assert!(measured.queries >= 30);
    assert!((0.0..=1.0).contains(&measured.recall));
    assert!(measured.exact_ms > 0.0 && measured.approx_ms > 0.0);
    assert!(store.verify().unwrap().is_intact());

    let auto = Settings {
        mode: SearchMode::Auto,
        approx: params,
        ..Settings::default()
    };
    // A structure that does not pay (slower than exact, or missing answers): auto stays exact.
    let slow = ApproxCalibration {
        approx_ms: measured.exact_ms * 2.0,
        ..measured
    };
    store.store_calibration(&slow).unwrap();
    assert_eq!(
        used(&mut Session::new(&store, auto.clone()), "w10"),
        SearchUsed::Exact
    );
    let inexact = ApproxCalibration {
        approx_ms: measured.exact_ms / 10.0,
        recall: 0.8,
        ..measured
    };
    store.store_calibration(&inexact).unwrap();
    assert_eq!(
        used(&mut Session::new(&store, auto.clone()), "w10"),
        SearchUsed::Exact
    );

    // One that pays: auto uses it, but only at the setting it was measured with.
    let fast = ApproxCalibration {
        approx_ms: measured.exact_ms / 10.0,
        recall: 0.97,
        ..measured
    };
    store.store_calibration(&fast).unwrap();
    assert_eq!(
        used(&mut Session::new(&store, auto.clone()), "w10"),
        SearchUsed::Approx
    );
    let other = Settings {
        approx: ApproxParams {
            probes: measured.setting * 2,
            oversampling: params.oversampling * 2,
            ..params
        },
        ..auto.clone()
    };
    assert_eq!(
        used(&mut Session::new(&store, other), "w10"),
        SearchUsed::Exact
    );
    // Nor for the other kind of structure, which is not built.
    let other_kind = Settings {
        approx: ApproxParams {
            kind: match kind {
                ApproxKind::Lists => ApproxKind::Forest,
                ApproxKind::Forest => ApproxKind::Lists,
            },
            ..params
        },
        ..auto.clone()
    };
    assert_eq!(
        used(&mut Session::new(&store, other_kind), "w10"),
        SearchUsed::Exact
    );

    // A measurement of another (older) structure does not count.
    let stale = ApproxCalibration {
        built_at: fast.built_at.wrapping_sub(1),
        ..fast
    };
    store.store_calibration(&stale).unwrap();
    assert_eq!(store.calibration(kind), None);
    assert_eq!(
        used(&mut Session::new(&store, auto), "w10"),
        SearchUsed::Exact
    );
}

#[test]
fn what_pays() {
    let c = ApproxCalibration {
        kind: ApproxKind::Lists,
        built_at: 1,
        queries: 32,
        setting: 64,
        exact_ms: 12.0,
        approx_ms: 4.0,
        recall: 0.9,
        exact_by_cells: None,
    };
    let at = |kind, probes, oversampling| ApproxParams {
        kind,
        probes,
        oversampling,
    };
    assert!(c.pays());
    assert!(c.pays_for(&at(ApproxKind::Lists, 64, 8)));
    assert!(c.pays_for(&at(ApproxKind::Lists, 0, 8)), "as calibrated");
    assert!(
        !c.pays_for(&at(ApproxKind::Lists, 32, 8)),
        "measured at other probes"
    );
    assert!(
        !c.pays_for(&at(ApproxKind::Forest, 64, 64)),
        "measured on the lists"
    );
    assert!(!ApproxCalibration {
        approx_ms: 4.1,
        ..c
    }
    .pays());
    assert!(!ApproxCalibration { recall: 0.89, ..c }.pays());
}
