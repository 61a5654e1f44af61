//! Pickles as Python 2 and Python 3 wrote them (issue 24): Python 2 `str` data kept as bytes,
//! protocols 0 and 1, OrderedDict and numpy scalars, gzipped pickles and gensim files, the
//! empty word, and the tutorial's MNIST-layout `.pkl`. Fixtures and numpy's answers come from
//! tests/fixtures/pickles/gen.py (which runs gen_py2.py under a real Python 2.7.18).

use std::path::{Path, PathBuf};

use vecsh::loader::{self, Format, LoadOptions, LoadReport};

use crate::util::vecsh;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pickles")
        .join(name)
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

struct Loaded {
    report: LoadReport,
    words: Vec<String>,
    vectors: Vec<f32>,
}

fn load(path: &Path) -> Result<Loaded, loader::LoadError> {
    let mut words = Vec::new();
    let mut vectors = Vec::new();
    let report = loader::load(path, &LoadOptions::default(), &|_, _| {}, &mut |batch| {
        words.extend(batch.words);
        vectors.extend(batch.vectors);
        Ok(())
    })?;
    Ok(Loaded {
        report,
        words,
        vectors,
    })
}

/// The file's words and rows are exactly what Python 3 reads (`encoding='latin1'`).
fn assert_as_python_reads(name: &str) -> Loaded {
    let want = &expected()[name];
    let loaded = load(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let words: Vec<&str> = want["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(loaded.words, words, "{name}: words in file order");
    let rows = want["rows"].as_array().unwrap();
    let dims = loaded.report.dims;
    assert_eq!(dims, rows[0].as_array().unwrap().len(), "{name}");
    for (i, row) in rows.iter().enumerate() {
        let row: Vec<f32> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(
            loaded.vectors[i * dims..(i + 1) * dims],
            row[..],
            "{name}: row {i} ({})",
            words[i]
        );
    }
    loaded
}

fn run(cache: &Path, args: &[&str]) -> (bool, String, String) {
    let out = vecsh(cache).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path_arg(name: &str) -> String {
    fixture(name).display().to_string()
}

// ------------------------------------------------------------------ Python 2 str is bytes

#[test]
fn python2_arrays_keep_their_bytes() {
    // The file: {'king': array([1,2,3],'f4'), 'queen': array([1,2,4],'f4')}, protocol 2.
    let loaded = assert_as_python_reads("py2_two_p2.pkl");
    assert_eq!(loaded.report.format, Format::Pickle);
    // 50-dim arrays whose bytes are anything (they were refused as "holds 189 bytes").
    assert_as_python_reads("py2_words_p2.pkl");

    let cache = tempfile::TempDir::new().unwrap();
    let file = path_arg("py2_two_p2.pkl");
    let (ok, stdout, stderr) = run(cache.path(), &[&file, "-e", "sim(king, queen)"]);
    assert!(ok, "{stderr}");
    let want = expected()["sim(king, queen)"].as_f64().unwrap();
    assert!((want - 0.9915).abs() < 5e-5, "numpy says {want}");
    assert_eq!(stdout.trim(), format!("{want:.4}"));
    let (ok, stdout, stderr) = run(cache.path(), &["export", &file, "-o", "-"]);
    assert!(ok, "{stderr}");
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    assert_eq!(lines, ["king 1 2 3", "queen 1 2 4"]);
}

#[test]
fn python2_str_keys_are_utf8_when_valid_else_latin1_and_info_says_so() {
    // 'na\xc3\xafve' is UTF-8 (naïve); 'caf\xe9' is not, so it is latin-1 (café).
    let loaded = assert_as_python_reads("py2_words_p2.pkl");
    assert!(loaded.words.iter().any(|w| w == "naïve"));
    assert!(loaded.words.iter().any(|w| w == "café"));
    assert!(loaded.words.iter().any(|w| w == "žluť"), "a unicode key");
    assert_eq!(loaded.report.latin1_words, 1);
    assert_eq!(loaded.report.lossy_words, 0);

    let cache = tempfile::TempDir::new().unwrap();
    let (ok, stdout, stderr) = run(cache.path(), &["info", &path_arg("py2_words_p2.pkl")]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("1 word decoded as latin-1 (a Python 2 str that is not UTF-8)"),
        "{stdout}"
    );
}
