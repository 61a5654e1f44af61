//! `:restrict N` / `--restrict N` against gensim's `most_similar(..., restrict_vocab=N)` on the
//! built-in vocabulary (tests/fixtures/restrict/gensim-restrict.json, made by the committed
//! gensim_restrict.py beside it).

use std::path::Path;

use vecsh::eval::{Neighbour, SearchMode, Session, Settings, Value};
use vecsh::index::{ApproxKind, ApproxParams, OpenOptions, Store};
use vecsh::progress::Silent;

use crate::util::{builtin, opts, tiny};

fn neighbours(v: Value) -> Vec<Neighbour> {
    match v {
        Value::Neighbours { neighbours, .. } => neighbours,
        other => panic!("expected neighbours, got {other:?}"),
    }
}

#[test]
fn restricted_answers_equal_gensim_restrict_vocab() {
    let store = builtin();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/restrict/gensim-restrict.json");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 9);
    let mut session = Session::new(&store, Settings::default());
    for case in cases {
        let line = case["line"].as_str().unwrap();
        let n = case["restrict"].as_u64().unwrap();
        session.run_line(&format!(":restrict {n}")).unwrap();
        let got = neighbours(session.run_line(line).unwrap());
        let want = case["neighbours"].as_array().unwrap();
        let got_words: Vec<&str> = got.iter().map(|n| n.word.as_str()).collect();
        let want_words: Vec<&str> = want.iter().map(|p| p[0].as_str().unwrap()).collect();
        assert_eq!(got_words, want_words, "{line} restricted to {n}");
        for (g, w) in got.iter().zip(want) {
            let w = w[1].as_f64().unwrap() as f32;
            assert!(
                (g.score - w).abs() < 1e-4,
                "{line} ({n}): {} {} vs {w}",
                g.word,
                g.score
            );
        }
        // Every answer is among the first n words.
        for g in &got {
            assert!(
                (store.id(&g.word).unwrap() as u64) < n,
                "{line}: {}",
                g.word
            );
        }
    }
}

#[test]
fn restrict_command_and_off() {
    let store = builtin();
    let mut s = Session::new(&store, Settings::default());
    let setting = |v: Value| match v {
        Value::Setting { name, value, .. } => (name, value),
        other => panic!("{other:?}"),
    };
    assert_eq!(setting(s.run_line(":restrict").unwrap()).1, "off");
    assert_eq!(setting(s.run_line(":restrict 300").unwrap()).1, "300");
    assert_eq!(s.settings.restrict, Some(300));
    let restricted = neighbours(s.run_line("king - man + woman").unwrap());
    assert!(restricted.iter().all(|n| store.id(&n.word).unwrap() < 300));
    assert_eq!(setting(s.run_line(":restrict off").unwrap()).1, "off");
    assert_eq!(
        neighbours(s.run_line("king - man + woman").unwrap())[0].word,
        "queen"
    );
    s.run_line(":restrict 0").unwrap();
    assert_eq!(s.settings.restrict, None);
    // More than the vocabulary is all of it.
    s.run_line(":restrict 10000000").unwrap();
    assert_eq!(
        neighbours(s.run_line("king - man + woman").unwrap())[0].word,
        "queen"
    );
    let err = s.run_line(":restrict many").unwrap_err();
    assert!(
        err.message.contains("expected a number of words or off"),
        "{err:?}"
    );
    assert_eq!(err.span.map(|sp| (sp.start, sp.end)), Some((10, 14)));
}

#[test]
fn a_small_restriction_under_approx_scans_exactly() {
    let store = builtin();
    let settings = Settings {
        mode: SearchMode::Approx,
        restrict: Some(1000),
        ..Settings::default()
    };
    let mut s = Session::new(&store, settings);
    // No forest exists; a restricted search does not want one, so there is no fallback note.
    match s.run_line("king").unwrap() {
        Value::Neighbours {
            note,
            search,
            neighbours,
            ..
        } => {
            assert_eq!(note, None);
            assert_eq!(search, vecsh::eval::SearchUsed::Exact);
            assert_eq!(neighbours[0].word, "ii");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn with_a_forest_a_small_restriction_still_scans_exactly() {
    with_an_approximate_index_a_small_restriction_still_scans_exactly(ApproxKind::Forest);
}

#[test]
fn with_lists_a_small_restriction_still_scans_exactly() {
    with_an_approximate_index_a_small_restriction_still_scans_exactly(ApproxKind::Lists);
}

fn with_an_approximate_index_a_small_restriction_still_scans_exactly(kind: ApproxKind) {
    use std::sync::atomic::AtomicBool;
    let tmp = tempfile::tempdir().unwrap();
    let opts = OpenOptions {
        writable: true,
        ..opts(tmp.path())
    };
    let (store, _) = Store::open(&tiny(), &opts, &Silent).unwrap();
    match kind {
        ApproxKind::Forest => {
            store
                .build_forest(4, &Silent, &AtomicBool::new(false))
                .unwrap();
        }
        ApproxKind::Lists => {
            store.build_lists(&Silent, &AtomicBool::new(false)).unwrap();
        }
    }
    let settings = Settings {
        mode: SearchMode::Approx,
        approx: ApproxParams {
            kind,
            ..ApproxParams::default()
        },
        ..Settings::default()
    };
    let mut s = Session::new(&store, settings);
    let search = |v: Value| match v {
        Value::Neighbours {
            search, neighbours, ..
        } => (search, neighbours),
        other => panic!("{other:?}"),
    };
    // Unrestricted, --approx uses the approximate index.
    let (used, _) = search(s.run_line("king").unwrap());
    assert_eq!(used, vecsh::eval::SearchUsed::Approx);
    // Restricted to the first 4 rows (man, woman, king, queen): exact, and only those rows.
    s.run_line(":restrict 4").unwrap();
    let (used, found) = search(s.run_line("king").unwrap());
    assert_eq!(used, vecsh::eval::SearchUsed::Exact);
    let words: Vec<&str> = found.iter().map(|n| n.word.as_str()).collect();
    assert_eq!(words, ["man", "queen", "woman"]);
}
