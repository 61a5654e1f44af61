//! Pickles as Python 2 and Python 3 wrote them (issue 24): Python 2 `str` data kept as bytes,
//! protocols 0 and 1, OrderedDict and numpy scalars, gzipped pickles and gensim files, the
//! empty word, and the tutorial's MNIST-layout `.pkl`. Fixtures and numpy's answers come from
//! tests/fixtures/pickles/gen.py (which runs gen_py2.py under a real Python 2.7.18).

use std::path::PathBuf;

use vecsh::loader::{self, Format, LoadOptions};

use crate::util::{load, load_err as err, run, vecsh, Loaded};

fn fixture(name: &str) -> PathBuf {
    crate::util::fixture("pickles", name)
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
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

fn path_arg(name: &str) -> String {
    fixture(name).display().to_string()
}

// ------------------------------------------------------------------ Python 2 str is bytes

#[test]
fn python2_arrays_keep_their_bytes() {
    // The issue's file: {'king': array([1,2,3],'f4'), 'queen': array([1,2,4],'f4')}, protocol 2.
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
    // Counted among the words kept: café is the sixth.
    for (limit, want) in [(5, 0), (6, 1)] {
        let report = loader::load(
            &fixture("py2_words_p2.pkl"),
            &LoadOptions {
                limit: Some(limit),
                ..Default::default()
            },
            &|_, _| {},
            &mut |_| Ok(()),
        )
        .unwrap();
        assert_eq!(report.latin1_words, want, "--limit {limit}");
    }

    let cache = tempfile::TempDir::new().unwrap();
    let (ok, stdout, stderr) = run(cache.path(), &["info", &path_arg("py2_words_p2.pkl")]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("1 word decoded as latin-1 (a Python 2 str that is not UTF-8)"),
        "{stdout}"
    );
}

// ------------------------------------------------------------------ protocols 0 and 1

#[test]
fn protocols_0_and_1_are_read_as_python_reads_them() {
    // Python 2's default `cPickle.dump(d, f)` is protocol 0: text opcodes, S'…' escapes.
    for name in [
        "py2_two_p0.pkl",
        "py2_two_p1.pkl",
        "py2_words_p0.pkl",
        "py2_words_p1.pkl",
        "py2_lists_p0.pkl",
        "py2_lists_p1.pkl",
        // Python 3's protocol 0 and 1: raw-unicode-escape V lines, bytes through _codecs.
        "py3_words_p0.pkl",
        "py3_words_p1.pkl",
    ] {
        let loaded = assert_as_python_reads(name);
        assert_eq!(loaded.report.format, Format::Pickle, "{name}");
    }
    let loaded = assert_as_python_reads("py2_words_p0.pkl");
    assert_eq!(loaded.report.latin1_words, 1);
    // The issue's file in protocol 0 answers as in protocol 2.
    let cache = tempfile::TempDir::new().unwrap();
    let file = path_arg("py2_two_p0.pkl");
    let (ok, stdout, stderr) = run(cache.path(), &[&file, "-e", "sim(king, queen)"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "0.9915");
    // --format pickle takes it too.
    let (ok, _, stderr) = run(
        cache.path(),
        &["export", &file, "-o", "-", "--format", "pickle"],
    );
    assert!(ok, "{stderr}");
}

#[test]
fn hostile_protocol_0_and_1_pickles_are_refused_and_nothing_runs() {
    let dir = tempfile::TempDir::new().unwrap();
    let marker = dir.path().join("pwned");
    let command = format!("touch {}", marker.display());
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let refused: Vec<(&str, Vec<u8>, &str)> = vec![
        // REDUCE of os.system, protocol 0 (what pickle.dumps(obj, 0) writes) and 1.
        (
            "reduce_p0.pkl",
            format!("cos\nsystem\np0\n(S'{command}'\np1\ntp2\nRp3\n.").into_bytes(),
            "os.system",
        ),
        (
            "reduce_p1.pkl",
            [
                b"cposix\nsystem\nq\x00(U".to_vec(),
                vec![command.len() as u8],
                command.clone().into_bytes(),
                b"q\x01tq\x02Rq\x03.".to_vec(),
            ]
            .concat(),
            "posix.system",
        ),
        // Inside a dict that looks like word vectors.
        (
            "dict_eval_p0.pkl",
            b"(dp0\nS'king'\np1\nc__builtin__\neval\np2\n(S'1'\ntRp3\ns.".to_vec(),
            "__builtin__.eval",
        ),
        // INST and OBJ: the old ways to build a class instance.
        (
            "inst_p0.pkl",
            format!("(S'{command}'\nios\nsystem\np0\n.").into_bytes(),
            "OBJ/INST",
        ),
        (
            "obj_p1.pkl",
            format!("(cos\nsystem\nS'{command}'\no.").into_bytes(),
            "OBJ/INST",
        ),
    ];
    for (name, bytes, what) in &refused {
        let path = write(name, bytes);
        let msg = err(&path);
        assert!(
            msg.contains(&format!("this pickle calls {what}"))
                || what == &"OBJ/INST" && msg.contains("a class through the OBJ/INST opcodes"),
            "{name}: {msg}"
        );
        assert!(!marker.exists(), "{name}: the command ran");
    }
    // Deep nesting in text opcodes: 100,000 nested lists.
    let mut deep = b"(l".repeat(100_000);
    deep.extend(b"a".repeat(99_999));
    deep.push(b'.');
    let msg = err(&write("deep_p0.pkl", &deep));
    assert!(msg.contains("nests deeper than 1000 levels"), "{msg}");
    // Malformed text arguments: errors with an offset, never a panic.
    for (i, bytes) in [
        &b"(dp0\nS'king\np1\n."[..],
        b"(dp0\nS'king'\nFnot-a-float\ns.",
        b"(dp0\nS'king'\nI9999999999999999999999x\ns.",
        b"(dp0\nS'king'\ng99\ns.",
        b"(dp0\nS'\\x4'\np1\n.",
        b"(dp0\nVab\\u12\np1\n.",
        b"(dp0\np99999999999999999999\n.",
        b"(lp0\n",
    ]
    .iter()
    .enumerate()
    {
        let msg = err(&write(&format!("bad{i}.pkl"), bytes));
        assert!(
            msg.contains("byte offset") || msg.contains("pickle"),
            "{i}: {msg}"
        );
    }
}

#[test]
fn text_files_that_start_like_protocol_0_stay_text() {
    // Words that begin with opcode characters: '(' 'c' '}' ']'.
    let dir = tempfile::TempDir::new().unwrap();
    for (i, first) in ["( 0.5 1", "cat 0.5 1", "} 0.5 1", "(dp1 0.5 1", "(l 0.5 1"]
        .iter()
        .enumerate()
    {
        let path = dir.path().join(format!("t{i}.txt"));
        std::fs::write(&path, format!("{first}\ndog 1 0.5\n")).unwrap();
        let loaded = load(&path).unwrap_or_else(|e| panic!("{first}: {e}"));
        assert_eq!(loaded.report.format, Format::Glove, "{first}");
        assert_eq!(loaded.words.len(), 2);
    }
}

// ------------------------------------------------------------------ OrderedDict, numpy scalars

#[test]
fn python2_ordered_dicts_carry_their_items_in_the_constructor_call() {
    // Python 2's OrderedDict.__reduce__ passes [[key, value], …] to the constructor.
    for name in ["py2_ordered_p2.pkl", "py2_ordered_p0.pkl"] {
        let loaded = assert_as_python_reads(name);
        assert_eq!(loaded.words.len(), 8, "{name}");
        assert_eq!(
            loaded.words[..2],
            ["king", "queen"],
            "{name}: insertion order"
        );
    }
}

#[test]
fn lists_of_numpy_scalars_are_data_not_calls() {
    // list(arr): numpy.core.multiarray.scalar(dtype, bytes) (numpy 1), numpy._core (numpy 2).
    for name in [
        "py2_scalars_p2.pkl",
        "py2_scalars_p0.pkl",
        "py3_scalars_p2.pkl",
        "py3_scalars_p4.pkl",
    ] {
        assert_as_python_reads(name);
    }
}

// ------------------------------------------------------------------ large dicts load in linear time

/// A protocol 4 pickle of `n` words → (i, 1), set in SETITEMS batches of 1,000 as Python
/// writes them, with the first word set again at the end (Python keeps its place, new value).
fn big_dict_pickle(n: usize) -> Vec<u8> {
    let mut p = b"\x80\x04}".to_vec();
    let item = |p: &mut Vec<u8>, i: usize, v: u8| {
        let w = format!("w{i}");
        p.push(0x8c);
        p.push(w.len() as u8);
        p.extend_from_slice(w.as_bytes());
        p.extend_from_slice(&[b'M', (i & 0xff) as u8, (i >> 8 & 0xff) as u8, b'K', v, 0x86]);
    };
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        p.push(b'(');
        for &i in chunk {
            item(&mut p, i, 1);
        }
        p.push(b'u');
    }
    item(&mut p, 0, 9);
    p.extend_from_slice(b"s.");
    p
}

#[test]
fn a_pickled_dict_of_200k_words_loads_in_linear_time() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("big.pkl");
    std::fs::write(&path, big_dict_pickle(200_000)).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let started = std::time::Instant::now();
    std::thread::spawn(move || {
        let loaded = load(&path).map(|l| (l.words.len(), l.words[0].clone(), l.vectors[1]));
        let _ = tx.send(loaded.map_err(|e| e.to_string()));
    });
    // Linear: well under a second in release, a few in debug; the quadratic search took
    // minutes here (the issue measured 344 s for 400k words).
    let got = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("not loaded after {:?}", started.elapsed()));
    assert_eq!(got.unwrap(), (200_000, "w0".to_owned(), 9.0));
}

// ------------------------------------------------------------------ gzipped pickles and gensim files

#[test]
fn gzipped_pickles_and_gensim_files_are_read_by_their_content() {
    // pickle.dump to gzip.open, and gensim's KeyedVectors.save("x.kv.gz") (gensim gzips it).
    let loaded = assert_as_python_reads("py3_dict.pkl.gz");
    assert_eq!(loaded.report.format, Format::Pickle);
    assert_eq!(loaded.report.compression, "gzip");
    let loaded = load(&fixture("gensim_small.kv.gz")).unwrap();
    assert_eq!(loaded.report.format, Format::Gensim);
    assert_eq!(loaded.report.compression, "gzip");
    assert_eq!(loaded.words, ["king", "queen", "man"]);
    assert_eq!(loaded.vectors, [1., 2., 3., 1., 2., 4., 3., 1., 0.]);
    // Content decides, not the name; and --format pickle takes a gzipped pickle.
    let dir = tempfile::TempDir::new().unwrap();
    let renamed = dir.path().join("vectors.dat");
    std::fs::copy(fixture("py2_two_p0.pkl"), &renamed).unwrap();
    let gz = dir.path().join("p0.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &std::fs::read(&renamed).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let loaded = load(&gz).unwrap();
    assert_eq!(loaded.report.format, Format::Pickle);
    let forced = loader::load(
        &gz,
        &LoadOptions {
            format: Some(Format::Pickle),
            ..Default::default()
        },
        &|_, _| {},
        &mut |_| Ok(()),
    )
    .unwrap();
    assert_eq!(forced.words, 2);
    // A hostile gzipped pickle is refused as the plain one is.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, b"cos\nsystem\n(S'true'\ntR.").unwrap();
    let hostile = dir.path().join("h.pkl.gz");
    std::fs::write(&hostile, enc.finish().unwrap()).unwrap();
    assert!(
        err(&hostile).contains("this pickle calls os.system"),
        "{}",
        err(&hostile)
    );
}

// ------------------------------------------------------------------ the empty word

#[test]
fn the_empty_word_is_kept_shown_and_typed_as_quotes() {
    // {'': [1, 0, 0], 'a': [1, 1, 0], 'b': [0, 1, 1]}: gensim keeps '' as a word.
    let loaded = assert_as_python_reads("py3_empty_word.pkl");
    assert_eq!(loaded.words, ["", "a", "b"]);
    let cache = tempfile::TempDir::new().unwrap();
    let file = path_arg("py3_empty_word.pkl");
    let (ok, stdout, stderr) = run(cache.path(), &[&file, "-e", "a"]);
    assert!(ok, "{stderr}");
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.contains(r#" ""  "#) && first.contains("0.707"),
        "{stdout}"
    );
    let (ok, stdout, stderr) = run(cache.path(), &[&file, "-e", r#"sim("", a)"#]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "0.7071");
    let (ok, stdout, stderr) = run(cache.path(), &[&file, "-e", r#""""#, "-k", "1"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(" a ") && stdout.contains("0.707"),
        "{stdout}"
    );

    // gensim's toy-model-pretrained.bin (a fastText model) has '' (a zero vector) as word 23.
    let toy = path_arg("toy-model-pretrained.bin");
    let want = &expected()["toy-model-pretrained.bin"];
    let (ok, stdout, stderr) = run(cache.path(), &[&toy, "-e", "the", "-k", "5"]);
    assert!(ok, "{stderr}");
    let got: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    let names: Vec<&str> = want["the"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    assert_eq!(got, names, "{stdout}");
    let (ok, stdout, stderr) = run(cache.path(), &["info", &toy]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("24"), "{stdout}");
}

#[test]
fn an_empty_quoted_word_without_an_empty_word_is_an_error() {
    let cache = tempfile::TempDir::new().unwrap();
    let file = path_arg("py2_two_p2.pkl");
    let out = vecsh(cache.path())
        .args([&file, "-e", r#"king + """#])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("empty quoted word"), "{stderr}");
    assert!(stderr.contains("this vocabulary has none"), "{stderr}");
}

// ------------------------------------------------------------------ the tutorial's MNIST .pkl

#[test]
fn the_tutorials_mnist_pickle_numbers_its_items_across_the_sets() {
    // ((X_train, y_train), (X_valid, y_valid), (X_test, y_test)), as cPickle wrote it (protocols
    // 2 and 0): items 0, 1, 2, … across the three sets, as the tutorial's reader numbers them.
    for name in ["py2_mnist_small_p2.pkl", "py2_mnist_small_p0.pkl"] {
        let loaded = assert_as_python_reads(name);
        assert_eq!(loaded.words.len(), 10, "{name}");
        assert_eq!(loaded.report.format, Format::Pickle, "{name}");
    }
    // A single 2-D array, and a tuple of arrays: rows are items too.
    assert_as_python_reads("py3_array2d.pkl");
    assert_as_python_reads("py3_tuple_arrays.pkl");
}

#[test]
fn mnist_layout_digits_neighbours_equal_numpys_exact_cosine() {
    // scikit-learn's digits (1,797 × 64) in the MNIST layout, cPickle protocol 2, gzipped.
    let name = "py2_digits_mnist.pkl.gz";
    let loaded = load(&fixture(name)).unwrap();
    assert_eq!((loaded.words.len(), loaded.report.dims), (1797, 64));
    assert_eq!(loaded.report.compression, "gzip");
    assert_eq!(loaded.words[17], "17");
    let want = &expected()["digits"]["neighbours"];
    let cache = tempfile::TempDir::new().unwrap();
    let file = path_arg(name);
    for (item, answer) in want.as_object().unwrap() {
        // "17" always names the item; bare 17 does too, away from * and /.
        for typed in [format!("\"{item}\""), item.clone()] {
            let (ok, stdout, stderr) = run(cache.path(), &[&file, "-e", &typed, "--json"]);
            assert!(ok, "{stderr}");
            let got: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
            let got = got["neighbours"].as_array().unwrap();
            let answer = answer.as_array().unwrap();
            assert_eq!(got.len(), answer.len(), "{typed}");
            for (rank, (g, w)) in got.iter().zip(answer).enumerate() {
                let (gs, ws) = (g["score"].as_f64().unwrap(), w[1].as_f64().unwrap());
                assert!(
                    (gs - ws).abs() <= 1e-5,
                    "{typed} rank {rank}: {g} vs numpy {w}"
                );
                // Names must agree unless numpy's scores tie at this rank.
                let tied = answer
                    .iter()
                    .enumerate()
                    .any(|(r, o)| r != rank && (o[1].as_f64().unwrap() - ws).abs() <= 1e-5);
                if !tied {
                    assert_eq!(g["word"].as_str(), w[0].as_str(), "{typed} rank {rank}");
                }
            }
        }
    }
    // In arithmetic, a bare number beside * or / is a number; "17" is the item.
    let (ok, stdout, stderr) = run(cache.path(), &[&file, "-e", r#"sim(2 * "17", "17")"#]);
    assert!(ok, "{stderr}");
    let sim: f64 = stdout.trim().parse().unwrap();
    assert!((sim - 1.0).abs() < 1e-6, "{stdout}");
    // 2 * 17 is the number 34, not item 17 scaled.
    let (ok, stdout, stderr) = run(cache.path(), &[&file, "-e", "2 * 17"]);
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "34");
}

#[test]
fn item_arrays_that_are_not_float_rows_are_refused_naming_the_array() {
    for (name, want) in [
        (
            "py3_items_bad_dims.pkl",
            "array 2 has rows of 3 values, the first array 4",
        ),
        (
            "py3_items_int.pkl",
            "the array holds int64 (i8), not floats (float16, float32 or float64)",
        ),
        (
            "py3_items_3d.pkl",
            "the array has shape [2, 2, 2]; items are the rows of 2-D arrays",
        ),
    ] {
        let msg = err(&fixture(name));
        assert!(msg.ends_with(want), "{name}: {msg}");
    }
}
