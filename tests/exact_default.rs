//! The default answer is the exact one, always (issue 23): what `vecsh build` adds (the lists,
//! their calibration, the principal-component stage) may make exact search faster but never
//! changes an answer. Approximate answers come only when asked (`--approx`, `:exact off`); the
//! lists' calibration still chooses how many lists `--approx` probes.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use vecsh::eval::{SearchMode, SearchUsed, Session, Settings, Value};
use vecsh::index::{
    ApproxCalibration, ApproxKind, ApproxParams, OpenOptions, Store, DEFAULT_OVERSAMPLING,
};
use vecsh::ivf::{DEFAULT_PROBES, PROBE_STEPS, TARGET_RECALL};
use vecsh::progress::Silent;

use crate::util::{opts, vecsh};
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

fn neighbours(s: &mut Session, line: &str) -> (SearchUsed, Vec<String>) {
    match s.run_line(line).unwrap() {
        Value::Neighbours {
            search, neighbours, ..
        } => (search, neighbours.into_iter().map(|n| n.word).collect()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_default_stays_exact_whatever_the_lists_measured() {
    stays_exact(ApproxKind::Lists);
}

#[test]
fn the_default_stays_exact_whatever_the_forest_measured() {
    stays_exact(ApproxKind::Forest);
}

fn stays_exact(kind: ApproxKind) {
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
    // Measured and stored by the build: it still chooses `--approx`'s setting.
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

    // A structure measured to pay handsomely: the default answer is still the exact one.
    let fast = ApproxCalibration {
        approx_ms: measured.exact_ms / 10.0,
        recall: 0.97,
        ..measured
    };
    store.store_calibration(&fast).unwrap();
    let default = Settings {
        approx: params,
        ..Settings::default()
    };
    assert_eq!(default.mode, SearchMode::Exact);
    let exact = Settings {
        mode: SearchMode::Exact,
        ..default.clone()
    };
    for word in ["w10", "w77", "w4999"] {
        let got = neighbours(&mut Session::new(&store, default.clone()), word);
        assert_eq!(got.0, SearchUsed::Exact, "{word}");
        assert_eq!(
            got,
            neighbours(&mut Session::new(&store, exact.clone()), word)
        );
    }
    // Asked for, the approximate search is used.
    let approx = Settings {
        mode: SearchMode::Approx,
        ..default
    };
    assert_eq!(
        neighbours(&mut Session::new(&store, approx), "w10").0,
        SearchUsed::Approx
    );
}

/// End to end: `vecsh build` on a file that gets lists measured to pay, then the default
/// answers equal `--exact`'s and carry no "(approximate)".
#[test]
fn after_vecsh_build_answers_equal_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let src = write_bin(tmp.path(), 5_000, 16);
    let built = vecsh(&cache).arg("build").arg(&src).assert().success();
    let said = String::from_utf8_lossy(&built.get_output().stdout).into_owned();
    assert!(!said.contains("auto"), "{said}");
    {
        let opts = OpenOptions {
            writable: true,
            ..opts(&cache)
        };
        let (store, _) = Store::open(&src, &opts, &Silent).unwrap();
        let measured = store.calibration(ApproxKind::Lists).expect("calibrated");
        store
            .store_calibration(&ApproxCalibration {
                approx_ms: measured.exact_ms / 10.0,
                recall: 0.97,
                ..measured
            })
            .unwrap();
    }
    // `vecsh info` and `:info` say how exact search runs and what it costs.
    for args in [
        vec!["info".into(), src.clone().into_os_string()],
        vec![src.clone().into_os_string(), "-e".into(), ":info".into()],
    ] {
        let out = vecsh(&cache).args(&args).assert().success();
        let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        let line = text
            .lines()
            .find(|l| l.starts_with("exact "))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(line.contains("rows, rescored in f32; "), "{line}");
        assert!(
            line.contains(" ms a query (measured by the build)"),
            "{line}"
        );
    }
    let run = |extra: &[&str]| {
        let out = vecsh(&cache)
            .arg(&src)
            .args(["-e", "w10", "-e", "w123 - w5 + w77", "-k", "20"])
            .args(extra)
            .assert()
            .success();
        String::from_utf8_lossy(&out.get_output().stdout).into_owned()
    };
    let default = run(&[]);
    assert!(!default.contains("approximate"), "{default}");
    assert_eq!(default, run(&["--exact"]));
    let approx = run(&["--approx"]);
    assert!(approx.contains("approximate"), "{approx}");
    // `:exact` says on; `:exact auto` is taken as on, with a note.
    let setting = vecsh(&cache)
        .arg(&src)
        .args(["-e", ":exact", "-e", ":exact auto", "-e", ":exact"])
        .assert()
        .success();
    let out = String::from_utf8_lossy(&setting.get_output().stdout).into_owned();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "exact = on", "{out}");
    assert_eq!(lines[1], "exact = on", "{out}");
    assert!(
        lines[2].starts_with("note: ") && lines[2].contains("auto"),
        "{out}"
    );
    assert_eq!(lines[3], "exact = on", "{out}");
    assert_eq!(lines.len(), 4, "{out}");
}
