//! `--restrict N` on the real GloVe 6B 50d (400,000 words) against gensim 4.4's
//! `most_similar(..., restrict_vocab=N)` (tests/acceptance/expected-restrict.json, made by
//! tests/fixtures/restrict/gensim_restrict.py on glove.6B.50d.txt).
//! Run with `VECSH_DATA=DIR cargo test --release --test acceptance restrict_real -- --ignored`
//! (.ci/run does).

use std::path::Path;

use vecsh::eval::{Neighbour, Session, Settings, Value};
use vecsh::index::{OpenOptions, Store};
use vecsh::progress::Silent;

#[test]
#[ignore = "needs the real GloVe 6B 50d in VECSH_DATA"]
fn restricted_answers_equal_gensim_on_real_glove() {
    let data: std::path::PathBuf = std::env::var_os("VECSH_DATA")
        .expect("set VECSH_DATA to the folder fetch-glove.sh prints")
        .into();
    let glove = data.join("glove.6B.50d.txt");
    assert!(glove.exists(), "missing {}", glove.display());
    let (store, _) = Store::open(&glove, &OpenOptions::default(), &Silent).unwrap();
    assert_eq!(store.len(), 400_000);
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/acceptance/expected-restrict.json");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 13);
    let mut session = Session::new(&store, Settings::default());
    for case in cases {
        let line = case["line"].as_str().unwrap();
        let n = case["restrict"].as_u64().unwrap();
        session.run_line(&format!(":restrict {n}")).unwrap();
        let got = match session.run_line(line).unwrap() {
            Value::Neighbours { neighbours, .. } => neighbours,
            other => panic!("{line}: {other:?}"),
        };
        let want = case["neighbours"].as_array().unwrap();
        let words = |n: &[Neighbour]| n.iter().map(|n| n.word.clone()).collect::<Vec<_>>();
        let want_words: Vec<String> = want
            .iter()
            .map(|p| p[0].as_str().unwrap().to_string())
            .collect();
        assert_eq!(words(&got), want_words, "{line} restricted to {n}");
        for (g, w) in got.iter().zip(want) {
            let w = w[1].as_f64().unwrap() as f32;
            assert!(
                (g.score - w).abs() < 1e-4,
                "{line} ({n}): {} {} vs {w}",
                g.word,
                g.score
            );
        }
    }
}
