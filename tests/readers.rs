//! Issue 24's readers: gensim 3.x FastText models with a pruned n-gram matrix, gensim sidecars
//! (missing, short, hostile), fastText headers that would make hashing explode, the tutorial's
//! Annoy index with its LMDB map, item embeddings. Fixtures and the reference answers come from
//! the generator script beside each (tests/fixtures/*/gen.py), run with the real packages.

use std::path::{Path, PathBuf};

use vecsh::eval::{Session, Settings, Value};
use vecsh::loader::{self, LoadOptions, LoadReport};

use crate::util::opts;

fn fixture(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(name)
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

struct Loaded {
    report: LoadReport,
    words: Vec<String>,
    vectors: Vec<f32>,
    ngrams: Vec<f32>,
}

fn load_with(path: &Path, opts: &LoadOptions) -> Result<Loaded, loader::LoadError> {
    let (mut words, mut vectors, mut ngrams) = (Vec::new(), Vec::new(), Vec::new());
    let report = loader::load_with_subwords(
        path,
        opts,
        &|_, _| {},
        &mut |batch| {
            words.extend(batch.words);
            vectors.extend(batch.vectors);
            Ok(())
        },
        &mut |batch| {
            ngrams.extend(batch.vectors);
            Ok(())
        },
    )?;
    Ok(Loaded {
        report,
        words,
        vectors,
        ngrams,
    })
}

fn load(path: &Path) -> Result<Loaded, loader::LoadError> {
    load_with(path, &LoadOptions::default())
}

fn err(path: &Path) -> String {
    match load(path) {
        Ok(_) => panic!("{} loaded", path.display()),
        Err(e) => e.to_string(),
    }
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-5, "{what}[{i}]: {g} vs {w}");
    }
}

fn open(path: &Path, cache: &tempfile::TempDir) -> vecsh::index::Store {
    vecsh::index::Store::open(path, &opts(cache.path()), &vecsh::progress::Silent)
        .unwrap()
        .0
}

fn session(store: &vecsh::index::Store, k: usize) -> Session<'_> {
    Session::new(
        store,
        Settings {
            k,
            ..Settings::default()
        },
    )
}

fn ranked(value: &Value) -> Vec<(String, f32)> {
    match value {
        Value::Neighbours { neighbours, .. } => neighbours
            .iter()
            .map(|n| (n.word.clone(), n.score))
            .collect(),
        other => panic!("not neighbours: {other:?}"),
    }
}

/// Same words in the same order (near-ties may swap), scores within 1e-5.
fn assert_same_ranking(got: &[(String, f32)], want: &[(String, f32)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        let tie = want.iter().any(|o| o.0 == g.0 && (o.1 - w.1).abs() < 1e-5);
        assert!(g.0 == w.0 || tie, "{what}: {got:?} vs {want:?}");
        assert!((g.1 - w.1).abs() <= 1e-5, "{what}: {got:?} vs {want:?}");
    }
}

fn pairs(v: &serde_json::Value) -> Vec<(String, f32)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_f64().unwrap() as f32,
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// gensim FastText
// ---------------------------------------------------------------------------------------

/// gensim's compatible-hash-true.model: a gensim 3.x FastText whose n-gram matrix is pruned
/// (85 rows for 100 buckets, `hash2index` between them). Its word vectors are the saved
/// `vectors`, as gensim 4.4 uses them; every word's vector and neighbours equal gensim's.
#[test]
fn gensim_3_fasttext_with_a_pruned_ngram_matrix_equals_gensim_on_every_word() {
    let path = fixture("gensim3", "compatible-hash-true.model");
    let want = json(&fixture("gensim3", "expected.json"));
    let loaded = load(&path).unwrap();
    let words: Vec<&str> = want["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(loaded.words, words);
    let dims = loaded.report.dims;
    for (i, word) in words.iter().enumerate() {
        assert_close(
            &loaded.vectors[i * dims..(i + 1) * dims],
            &floats(&want["vectors"][word]),
            word,
        );
    }
    // The n-gram table has the model's `bucket` rows, hashed as the model hashes.
    let sub = loaded.report.subwords.clone().unwrap();
    assert_eq!(sub.buckets, 100);
    assert_eq!(loaded.ngrams.len(), 100 * dims);

    let cache = tempfile::TempDir::new().unwrap();
    let store = open(&path, &cache);
    let mut s = session(&store, 5);
    let mut queries = 0;
    for word in &words {
        let got = ranked(&s.run_line(&format!("\"{word}\"")).unwrap());
        assert_same_ranking(&got, &pairs(&want["neighbours"][word]), word);
        queries += 1;
    }
    assert_eq!(queries, 22);
    match s.run_line("sim(the, of)").unwrap() {
        Value::Scalar { value, .. } => {
            let w = want["sim(the, of)"].as_f64().unwrap();
            assert!((value - w).abs() <= 1e-5, "{value} vs {w}");
        }
        other => panic!("{other:?}"),
    }
}

/// A gensim 4 FastText (bucket 300) whose `vectors_ngrams.npy` was cut to 200 rows: gensim
/// raises; vecsh refuses, naming both numbers, instead of hashing into the rows it has.
#[test]
fn a_gensim_fasttext_with_fewer_ngram_rows_than_buckets_is_refused() {
    let msg = err(&fixture("gensim3", "short-ngrams.model"));
    assert!(
        msg.contains("200 rows") && msg.contains("bucket 300"),
        "{msg}"
    );
}

/// A KeyedVectors whose vectors gensim saved in a sidecar that is gone: the message names it.
#[test]
fn a_missing_gensim_sidecar_is_named() {
    let msg = err(&fixture("gensim3", "missing-sidecar.kv"));
    assert!(
        msg.contains("missing-sidecar.kv.vectors.npy") && msg.contains("missing"),
        "{msg}"
    );
}

/// `1e39` is a number, too large for f32: said so, not "not finite".
#[test]
fn a_text_value_beyond_f32_is_said_to_overflow() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("big.txt");
    std::fs::write(&path, "a 1 2\nb 1e39 2\n").unwrap();
    let msg = err(&path);
    assert!(msg.contains("big.txt:2"), "{msg}");
    assert!(msg.contains("'1e39' overflows f32"), "{msg}");
    assert!(!msg.contains("not finite"), "{msg}");
    // A real infinity or NaN is still "not finite".
    std::fs::write(&path, "a 1 2\nb inf 2\n").unwrap();
    assert!(err(&path).contains("not finite"), "{}", err(&path));
}
