//! Loader property test (issue 10): valid files of every format, mutated (truncated, bytes
//! flipped, fields / newlines / NULs inserted), never panic, never hang, never use memory out
//! of proportion to the input: the result is `Ok` or an error that says where.
//!
//! CI-sized by default (256 cases per format, about 6 s); `VECSH_FUZZ_CASES=N`
//! runs N cases per format for a longer session.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use vecsh::loader::{load, Batch, LoadError, LoadOptions};

fn cases() -> u32 {
    std::env::var("VECSH_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

fn rows() -> Vec<(String, Vec<f32>)> {
    (0..12)
        .map(|i| {
            let word = match i {
                3 => "new york".to_string(),
                7 => "ünï".to_string(),
                _ => format!("w{i}"),
            };
            (
                word,
                (0..4).map(|d| (i * 4 + d) as f32 / 7.0 - 3.0).collect(),
            )
        })
        .collect()
}

fn glove() -> Vec<u8> {
    let mut out = String::new();
    for (w, v) in rows() {
        out.push_str(&w);
        for x in v {
            out.push_str(&format!(" {x:.5}"));
        }
        out.push('\n');
    }
    out.into_bytes()
}

fn w2v_text() -> Vec<u8> {
    let rows: Vec<_> = rows()
        .into_iter()
        .filter(|(w, _)| !w.contains(' '))
        .collect();
    let mut out = format!("{} 4\n", rows.len());
    for (w, v) in rows {
        out.push_str(&w);
        for x in v {
            out.push_str(&format!(" {x}"));
        }
        out.push('\n');
    }
    out.into_bytes()
}

fn w2v_bin() -> Vec<u8> {
    let rows: Vec<_> = rows()
        .into_iter()
        .filter(|(w, _)| !w.contains(' '))
        .collect();
    let mut out = format!("{} 4\n", rows.len()).into_bytes();
    for (w, v) in rows {
        out.extend_from_slice(w.as_bytes());
        out.push(b' ');
        for x in v {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.push(b'\n');
    }
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn zipped(bytes: &[u8]) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    out.start_file("vectors.txt", options).unwrap();
    out.write_all(bytes).unwrap();
    out.finish().unwrap().into_inner()
}

fn fasttext() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/formats/toy-model.bin");
    std::fs::read(path).unwrap()
}

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Flip(usize, u8),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let inserted = prop_oneof![
        Just(b"\n".to_vec()),
        Just(b"\0".to_vec()),
        Just(b" ".to_vec()),
        Just(b" 1.5".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(b"x".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"99999999999 ".to_vec()),
        Just(b" nan".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1..=255u8).prop_map(|(at, x)| Mutation::Flip(at, x)),
        (any::<usize>(), inserted).prop_map(|(at, b)| Mutation::Insert(at, b)),
        (any::<usize>(), 1..16usize).prop_map(|(at, n)| Mutation::Delete(at, n)),
    ]
}

fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len().max(1);
        match m {
            Mutation::Truncate(at) => bytes.truncate(at % len),
            Mutation::Flip(at, x) => {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] ^= x;
                }
            }
            Mutation::Insert(at, b) => {
                let i = at % (bytes.len() + 1);
                bytes.splice(i..i, b.iter().copied());
            }
            Mutation::Delete(at, n) => {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    let end = (i + n).min(bytes.len());
                    bytes.drain(i..end);
                }
            }
        }
    }
    bytes
}

/// Loads `bytes` as file `name`: never a panic; `Ok` with consistent rows, or an error that
/// names the file; bounded time and output.
fn check(name: &str, bytes: &[u8], decompressed_bound: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let started = Instant::now();
    let mut floats = 0usize;
    let mut words = 0usize;
    let result = load(
        &path,
        &LoadOptions::default(),
        &|_, _| {},
        &mut |b: Batch| {
            assert!(!b.words.is_empty());
            assert_eq!(b.vectors.len() % b.words.len(), 0);
            words += b.words.len();
            floats += b.vectors.len();
            Ok(())
        },
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{name}: took {:?}",
        started.elapsed()
    );
    // Output in proportion to the input: a value takes at least 2 bytes of text or 4 of
    // binary; a word at least 1 byte.
    assert!(
        floats * 2 <= decompressed_bound * 4 + 64 && words <= decompressed_bound + 1,
        "{name}: {words} words, {floats} values from {} bytes",
        bytes.len()
    );
    match result {
        Ok(report) => {
            assert_eq!(report.words, words);
            assert!(report.dims > 0);
            assert_eq!(floats, words * report.dims);
        }
        Err(e) => {
            let msg = e.to_string();
            let file = path.to_string_lossy();
            match &e {
                LoadError::Sink(_) => panic!("{name}: sink error {msg}"),
                _ => assert!(msg.starts_with(&*file), "{name}: unlocated error: {msg}"),
            }
            assert!(!msg.contains('\x1b') && !msg.contains('\0'), "{msg:?}");
        }
    }
}

fn run(name: &'static str, base: fn() -> Vec<u8>, wrap: fn(&[u8]) -> Vec<u8>) {
    let config = ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(mutations in proptest::collection::vec(mutation(), 1..4))| {
        let plain = apply(base(), &mutations);
        // Mutate the plain content (then compress) and, separately, the wrapped bytes.
        let wrapped = wrap(&plain);
        check(name, &wrapped, plain.len().max(wrapped.len()));
        let raw = apply(wrap(&base()), &mutations);
        check(name, &raw, 64 * raw.len() + 4096);
    });
}

fn id(b: &[u8]) -> Vec<u8> {
    b.to_vec()
}

#[test]
fn mutated_glove_text() {
    run("v.txt", glove, id);
}

#[test]
fn mutated_word2vec_text() {
    run("v.vec", w2v_text, id);
}

#[test]
fn mutated_word2vec_binary() {
    run("v.bin", w2v_bin, id);
}

#[test]
fn mutated_gzip() {
    run("v.txt.gz", glove, gz);
}

#[test]
fn mutated_zip() {
    run("v.zip", glove, zipped);
}

#[test]
fn mutated_fasttext_model() {
    run("m.bin", fasttext, id);
}

fn formats_fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/formats")
        .join(name);
    std::fs::read(path).unwrap()
}

#[test]
fn mutated_pickled_dict_of_arrays() {
    run("v.pkl", || formats_fixture("dict_f32_p4.pkl"), id);
}

#[test]
fn mutated_pickled_dict_of_lists_protocol_2() {
    run("v.pkl", || formats_fixture("dict_list_p2.pkl"), id);
}

#[test]
fn mutated_gensim_keyed_vectors() {
    run("v.kv", || formats_fixture("inline.kv"), id);
}

#[test]
fn mutated_gensim_word2vec_model() {
    run("v.model", || formats_fixture("w2v.model"), id);
}

fn pickles_fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pickles")
        .join(name);
    std::fs::read(path).unwrap()
}

#[test]
fn mutated_python2_pickle_protocol_0() {
    run("v.pkl", || pickles_fixture("py2_two_p0.pkl"), id);
}

#[test]
fn mutated_python2_pickle_protocol_1() {
    run("v.pkl", || pickles_fixture("py2_words_p1.pkl"), id);
}

#[test]
fn mutated_mnist_layout_pickle() {
    run("v.pkl", || pickles_fixture("py2_mnist_small_p2.pkl"), id);
}

#[test]
fn mutated_gzipped_pickle() {
    run("v.pkl.gz", || pickles_fixture("py2_two_p2.pkl"), gz);
}
