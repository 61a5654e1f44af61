//! The index's per-row side tables and what uses them: each row's norm (`:vec WORD` shows a row
//! as the file has it, issue 23), the MNIST pickle's labels (shown beside items, issue 24) and
//! `:show ITEM`, which draws a pixel item and its neighbours (issue 24). The raw values are
//! checked against what numpy and gensim read (tests/fixtures/pickles/gen.py,
//! tests/fixtures/formats/generate.py).

use std::path::{Path, PathBuf};

use crate::util::{run, tiny, vecsh};

fn fixture(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
        .join(name)
}

fn json_file(path: PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `FILE --json -e LINE`: the one JSON object it prints.
fn json(cache: &Path, file: &Path, line: &str) -> serde_json::Value {
    let (ok, stdout, stderr) = run(cache, &[file.to_str().unwrap(), "--json", "-e", line]);
    assert!(ok, "{line}: {stdout}{stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{line}: {e}: {stdout}"))
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Equal to within 1e-5 (relative for values above 1).
fn assert_close(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "{what}: value {i}: {g} vs {w}"
        );
    }
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// `:vec WORD --json` gives the row as the file has it (±1e-5), and its norm, for every
/// format: text, word2vec .bin read in place, pickles (Python 2), fastText (a word of the
/// vocabulary, and an unknown word's vector from its n-grams, as gensim composes it).
#[test]
fn vec_gives_the_row_as_the_file_has_it_in_every_format() {
    let cache = tempfile::tempdir().unwrap();
    let c = cache.path();
    // Text.
    let got = json(c, &tiny(), ":vec king");
    assert_eq!(got["kind"], "vector", "{got}");
    assert_eq!(got["word"], "king");
    assert_close(&floats(&got["values"]), &[1.0, 0.0, 1.0], "tiny king");
    assert_close(
        &[got["norm"].as_f64().unwrap()],
        &[2f64.sqrt()],
        "tiny norm",
    );
    let zero = json(c, &tiny(), ":vec zero");
    assert_close(&floats(&zero["values"]), &[0.0; 3], "the zero row");
    // Python 2 pickles, as numpy reads them.
    let want = &json_file(fixture("pickles", "expected.json"))["py2_words_p2.pkl"];
    let file = fixture("pickles", "py2_words_p2.pkl");
    for (word, row) in want["words"]
        .as_array()
        .unwrap()
        .iter()
        .zip(want["rows"].as_array().unwrap())
    {
        let word = word.as_str().unwrap();
        let got = json(c, &file, &format!(":vec \"{word}\""));
        let row = floats(row);
        assert_close(&floats(&got["values"]), &row, word);
        assert_close(&[got["norm"].as_f64().unwrap()], &[norm(&row)], word);
    }
    // gensim's KeyedVectors with its .npy sidecar, as gensim reads it.
    let want = &json_file(fixture("formats", "expected/gensim.json"))["sidecar.kv"];
    let file = fixture("formats", "sidecar.kv");
    for (i, word) in want["words"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .step_by(5)
    {
        let word = word.as_str().unwrap();
        let got = json(c, &file, &format!(":vec \"{word}\""));
        assert_close(&floats(&got["values"]), &floats(&want["vectors"][i]), word);
    }
    // A word2vec .bin, read in place.
    let tmp = tempfile::tempdir().unwrap();
    let rows: Vec<Vec<f32>> = (0..40)
        .map(|i| (0..6).map(|d| (i * 7 + d * 3) as f32 / 9.0 - 2.5).collect())
        .collect();
    let mut bin = format!("{} 6\n", rows.len()).into_bytes();
    for (i, row) in rows.iter().enumerate() {
        bin.extend_from_slice(format!("w{i} ").as_bytes());
        row.iter()
            .for_each(|x| bin.extend_from_slice(&x.to_le_bytes()));
        bin.push(b'\n');
    }
    let bin_path = tmp.path().join("v.bin");
    std::fs::write(&bin_path, bin).unwrap();
    let got = json(c, &bin_path, ":vec w13");
    let want: Vec<f64> = rows[13].iter().map(|&x| x as f64).collect();
    assert_close(&floats(&got["values"]), &want, "bin w13");
    // fastText: a word of the vocabulary and an unknown one, as gensim gives them.
    let want = json_file(fixture("formats", "expected/toy-model.bin.json"));
    let file = fixture("formats", "toy-model.bin");
    let got = json(c, &file, ":vec the");
    assert_close(
        &floats(&got["values"]),
        &floats(&want["vectors"]["the"]),
        "toy the",
    );
    assert!(got.get("oov").is_none(), "{got}");
    let got = json(c, &file, ":vec governmnet");
    assert_close(
        &floats(&got["values"]),
        &floats(&want["unknown"]["governmnet"]["vector"]),
        "toy governmnet",
    );
    assert_eq!(got["oov"], true, "{got}");
}

/// The terminal form: the norm, the first values and a sparkline; an unknown word is an error
/// with a suggestion, never a silent zero row.
#[test]
fn vec_in_the_terminal_shows_norm_first_values_and_a_sparkline() {
    let cache = tempfile::tempdir().unwrap();
    let tiny = tiny();
    let (ok, stdout, stderr) = run(cache.path(), &[tiny.to_str().unwrap(), "-e", ":vec king"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("norm 1.414"), "{stdout}");
    assert!(stdout.contains("3 dims"), "{stdout}");
    assert!(stdout.contains('▁') && stdout.contains('█'), "{stdout}");
    let (ok, _, stderr) = run(cache.path(), &[tiny.to_str().unwrap(), "-e", ":vec kign"]);
    assert!(!ok);
    assert!(
        stderr.contains("'kign'") && stderr.contains("king"),
        "{stderr}"
    );
    let (ok, _, stderr) = run(
        cache.path(),
        &[tiny.to_str().unwrap(), "-e", ":vec king - man"],
    );
    assert!(!ok);
    assert!(stderr.contains(":vec takes one word"), "{stderr}");
}

/// An index built by the previous schema (without the norms) is rebuilt once, with a note,
/// and then reused quietly.
#[test]
fn an_index_of_the_previous_schema_is_rebuilt_once_with_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let src = tmp.path().join("t.txt");
    std::fs::copy(tiny(), &src).unwrap();
    let first = vecsh(&cache)
        .arg(&src)
        .args(["-e", "king"])
        .output()
        .unwrap();
    assert!(first.status.success());
    let dir = vecsh::index::index_dir_for(&src, &crate::util::opts(&cache)).unwrap();
    let data = dir.join("data.mdb");
    let bytes = std::fs::read(&data).unwrap();
    let now = format!("{{\"schema\":{},", vecsh::index::SCHEMA_VERSION);
    let old = format!("{{\"schema\":{},", vecsh::index::SCHEMA_VERSION - 1);
    let at = bytes
        .windows(now.len())
        .rposition(|w| w == now.as_bytes())
        .expect("the meta record");
    let mut patched = bytes;
    patched[at..at + old.len()].copy_from_slice(old.as_bytes());
    std::fs::write(&data, patched).unwrap();
    let again = vecsh(&cache)
        .arg(&src)
        .args(["-e", "king"])
        .output()
        .unwrap();
    assert!(again.status.success());
    assert_eq!(again.stdout, first.stdout);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("older vecsh") && err.contains("rebuilding it once"),
        "stderr: {err}"
    );
    let third = vecsh(&cache)
        .arg(&src)
        .args(["-e", "king"])
        .output()
        .unwrap();
    assert!(third.stderr.is_empty(), "{third:?}");
}

/// `vecsh info --verify` hashes the norms (and, for the MNIST pickle, the labels) like every
/// other table.
#[test]
fn verify_covers_the_norms_and_labels() {
    let cache = tempfile::tempdir().unwrap();
    let file = fixture("pickles", "py2_mnist_small_p2.pkl");
    let file = file.to_str().unwrap();
    assert!(run(cache.path(), &[file, "-e", "\"1\""]).0);
    let (ok, stdout, stderr) = run(cache.path(), &["info", file, "--verify"]);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("norms") && stdout.contains("labels"),
        "{stdout}"
    );
}

/// The MNIST layout's labels are kept: beside each item in the table (`17  label 7`) and as
/// `"label"` in JSON; a word file has none.
#[test]
fn mnist_items_are_shown_with_their_labels() {
    let cache = tempfile::tempdir().unwrap();
    let labels: Vec<i64> = json_file(fixture("pickles", "expected.json"))["digits"]["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    let file = fixture("pickles", "py2_digits_mnist.pkl.gz");
    let got = json(cache.path(), &file, "\"17\"");
    for n in got["neighbours"].as_array().unwrap() {
        let item: usize = n["word"].as_str().unwrap().parse().unwrap();
        assert_eq!(n["label"].as_i64(), Some(labels[item]), "{n}");
    }
    let (ok, stdout, stderr) = run(
        cache.path(),
        &[file.to_str().unwrap(), "-k", "3", "-e", "\"17\""],
    );
    assert!(ok, "{stderr}");
    let first = stdout.lines().next().unwrap();
    let item: usize = first.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(
        first.contains(&format!("label {}", labels[item])),
        "{stdout}"
    );
    let words = json(cache.path(), &tiny(), "king");
    assert!(words["neighbours"][0].get("label").is_none(), "{words}");
    // `vecsh info` says the items have labels.
    let (ok, stdout, stderr) = run(cache.path(), &["info", file.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("labels    1,797 items")),
        "{stdout}"
    );
}

/// `:show ITEM` draws a pixel item (64 values: an 8 × 8 digit) with its label and neighbours;
/// its values, from the unit row times the row norm, are the file's (±1e-5).
#[test]
fn show_draws_a_pixel_item_whose_values_are_the_files() {
    let cache = tempfile::tempdir().unwrap();
    let expected = json_file(fixture("pickles", "expected.json"));
    // The small pickle holds the digits' first ten rows, as numpy read them.
    let small = &expected["py2_mnist_small_p2.pkl"]["rows"];
    let labels = &expected["digits"]["labels"];
    let file = fixture("pickles", "py2_digits_mnist.pkl.gz");
    for item in [0usize, 3, 9] {
        let got = json(cache.path(), &file, &format!(":show \"{item}\""));
        assert_eq!(got["kind"], "picture", "{got}");
        assert_eq!(got["item"], item.to_string());
        assert_eq!(got["label"], labels[item]);
        assert_eq!(
            (got["width"].as_u64(), got["height"].as_u64()),
            (Some(8), Some(8))
        );
        assert_close(&floats(&got["values"]), &floats(&small[item]), "digit");
        let neighbours = got["neighbours"].as_array().unwrap();
        assert!(!neighbours.is_empty(), "{got}");
        assert!(neighbours[0]["label"].is_i64(), "{got}");
    }
    let (ok, stdout, stderr) = run(
        cache.path(),
        &[file.to_str().unwrap(), "-k", "3", "-e", ":show \"17\""],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("17  label 7"), "{stdout}");
    assert!(
        stdout.chars().any(|c| matches!(c, '▀' | '▄' | '█')),
        "{stdout}"
    );
    // A word is no picture: said, with why.
    let (ok, _, stderr) = run(
        cache.path(),
        &[tiny().to_str().unwrap(), "-e", ":show king"],
    );
    assert!(!ok);
    assert!(
        stderr.contains("not a picture") && stderr.contains("3 values"),
        "{stderr}"
    );
}

/// `:help :vec` and `:help :show` print their entries (from the command table).
#[test]
fn help_has_entries_for_vec_and_show() {
    let cache = tempfile::tempdir().unwrap();
    for (topic, want) in [(":vec", ":vec WORD"), (":show", ":show ITEM")] {
        let (ok, stdout, stderr) = run(cache.path(), &["-e", &format!(":help {topic}")]);
        assert!(ok, "{stderr}");
        assert!(stdout.contains(want), "{topic}: {stdout}");
    }
}

/// A 28 × 28 item in 0..1 (MNIST's layout, here in a `.npy`) is a picture too, its values the
/// file's; a row of 784 values with a negative one is not, and `:show` says why.
#[test]
fn show_draws_28_by_28_items_in_0_to_1() {
    let tmp = tempfile::tempdir().unwrap();
    let rows: Vec<Vec<f32>> = (0..5)
        .map(|r| {
            (0..784)
                .map(|i| ((i * 37 + r * 101) % 256) as f32 / 255.0)
                .collect()
        })
        .collect();
    let write = |name: &str, rows: &[Vec<f32>]| {
        let mut header = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, 784), }}",
            rows.len()
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for row in rows {
            row.iter()
                .for_each(|x| bytes.extend_from_slice(&x.to_le_bytes()));
        }
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let file = write("mnist.npy", &rows);
    let cache = tmp.path().join("c");
    let got = json(&cache, &file, ":show \"3\"");
    assert_eq!(
        (got["width"].as_u64(), got["height"].as_u64()),
        (Some(28), Some(28))
    );
    let want: Vec<f64> = rows[3].iter().map(|&x| x as f64).collect();
    assert_close(&floats(&got["values"]), &want, "item 3");
    let mut negative = rows.clone();
    negative[1][5] = -0.5;
    let file = write("signed.npy", &negative);
    let (ok, _, stderr) = run(&cache, &[file.to_str().unwrap(), "-e", ":show \"1\""]);
    assert!(!ok);
    assert!(
        stderr.contains("not a picture") && stderr.contains("-0.5"),
        "{stderr}"
    );
}

/// Neighbours' pictures go beside the item as far as the width holds; the others are listed
/// below it, ranked on from there.
#[test]
fn show_puts_as_many_neighbours_beside_the_item_as_the_width_holds() {
    use vecsh::eval::{PictureNeighbour, Value};
    use vecsh::render::Renderer;
    let digit: Vec<f32> = (0..64).map(|i| (i % 17) as f32).collect();
    let neighbours: Vec<PictureNeighbour> = (0..5)
        .map(|i| PictureNeighbour {
            word: format!("{}", 100 + i),
            score: 0.9 - i as f32 / 100.0,
            label: Some(i),
            values: digit.clone(),
        })
        .collect();
    let value = Value::Picture {
        item: "17".into(),
        label: Some(7),
        width: 8,
        height: 8,
        values: digit.clone(),
        neighbours,
    };
    let at = |width: usize| {
        Renderer {
            color: false,
            width,
            terminal: false,
        }
        .value(&value)
    };
    let wide = at(120);
    assert!(wide.lines().all(|l| l.chars().count() <= 120), "{wide}");
    assert!(wide.contains("104  label 4"), "{wide}");
    assert!(!wide.contains("█▌"), "all drawn, no table: {wide}");
    let narrow = at(40);
    assert!(narrow.lines().all(|l| l.chars().count() <= 40), "{narrow}");
    assert!(narrow.contains("100  label 0"), "{narrow}");
    // The four others, ranked 2 to 5, in a table below.
    let table: Vec<&str> = narrow.lines().filter(|l| l.contains("0.8")).collect();
    assert_eq!(table.len(), 4, "{narrow}");
    assert!(table[0].trim_start().starts_with("2 101"), "{narrow}");
    // In colour, grey levels: the brightest pixel (16 of 16) white, an empty one black.
    let colour = Renderer {
        color: true,
        width: 120,
        terminal: false,
    }
    .value(&value);
    assert!(colour.contains("\x1b[38;5;255m"), "{colour:?}");
    assert!(colour.contains("\x1b[48;5;232m▀"), "{colour:?}");
}

/// One changed byte in the norms table is damage, found by `info --verify` and, at the next
/// open, rebuilt with a note, like any other table's.
#[test]
fn a_changed_norm_is_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let src = tmp.path().join("t.txt");
    std::fs::copy(tiny(), &src).unwrap();
    let src_arg = src.to_str().unwrap();
    let good = run(&cache, &[src_arg, "--json", "-e", ":vec king"]);
    assert!(good.0, "{}", good.2);
    let dir = vecsh::index::index_dir_for(&src, &crate::util::opts(&cache)).unwrap();
    let data = dir.join("data.mdb");
    // The norms of man, woman and king, as the table holds them.
    let norms: Vec<u8> = [1f32, 1.0, 2f32.sqrt()]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let mut bytes = std::fs::read(&data).unwrap();
    let at = bytes
        .windows(norms.len())
        .position(|w| w == norms.as_slice())
        .expect("the norms chunk");
    bytes[at + 9] ^= 0x01;
    std::fs::write(&data, bytes).unwrap();
    let (ok, stdout, _) = run(&cache, &["info", src_arg, "--verify"]);
    assert!(!ok || stdout.contains("damaged"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("norms") && l.contains("checksum mismatch")),
        "{stdout}"
    );
    let again = run(&cache, &[src_arg, "--json", "-e", ":vec king"]);
    assert!(again.0, "{}", again.2);
    assert_eq!(again.1, good.1);
    assert!(again.2.contains("is damaged"), "{}", again.2);
}

/// In a session (a pseudo-terminal), `:show` fits the terminal: at 120 columns five neighbours'
/// pictures stand beside the item and the sixth is listed below; at 60, two, and four below.
#[test]
fn show_in_a_session_fits_the_terminals_width() {
    use crate::session::{answer, start_sized};
    let file = fixture("pickles", "py2_digits_mnist.pkl.gz");
    for (cols, beside) in [(120usize, 5usize), (60, 2)] {
        let tmp = tempfile::tempdir().unwrap();
        let (mut p, _) = start_sized(
            tmp.path(),
            cols as u16,
            &[file.to_str().unwrap(), "-k", "6"],
        );
        let out = answer(&mut p, ":show \"17\"");
        let lines: Vec<&str> = out.lines().map(|l| l.trim_end_matches('\r')).collect();
        assert!(
            lines.iter().all(|l| l.chars().count() <= cols),
            "{cols} columns:\n{out}"
        );
        let captions = lines
            .iter()
            .find(|l| l.starts_with("17  label 7"))
            .expect(&out);
        assert_eq!(captions.matches("label").count(), 1 + beside, "{out}");
        let listed = lines
            .iter()
            .filter(|l| l.contains('█') && l.contains("label"))
            .count();
        assert_eq!(listed, 6 - beside, "{cols} columns:\n{out}");
        crate::util::quit(p);
    }
}

/// `info --verify` on an index of the previous schema (its norms table empty, as the old layout
/// had none) says it will be rebuilt, not that it is damaged.
#[test]
fn verify_of_an_older_index_says_it_will_be_rebuilt() {
    use heed::types::{Bytes, Str};
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let src = tmp.path().join("t.txt");
    std::fs::copy(tiny(), &src).unwrap();
    let src_arg = src.to_str().unwrap();
    assert!(run(&cache, &[src_arg, "-e", "king"]).0);
    let dir = vecsh::index::index_dir_for(&src, &crate::util::opts(&cache)).unwrap();
    // Rewritten as schema 5 wrote it: the meta record says 5, with its checksum, and no norms.
    let env = unsafe { heed::EnvOpenOptions::new().max_dbs(16).open(&dir) }.unwrap();
    let (meta_db, norms_db) = env
        .create_databases_and_commit(
            env.write_txn().unwrap(),
            |opener, wtxn| -> heed::Result<_> {
                Ok(heed::CommitOrAbort::<_, ()>::Commit((
                    opener.create_database::<Str, Bytes>(wtxn, Some("meta"))?,
                    opener.create_database::<Bytes, Bytes>(wtxn, Some("norms"))?,
                )))
            },
        )
        .unwrap()
        .unwrap_commit();
    let mut wtxn = env.write_txn().unwrap();
    let mut meta: serde_json::Value =
        serde_json::from_slice(meta_db.get(&wtxn, "meta").unwrap().unwrap()).unwrap();
    // Schema 5: the last without the norms (6 added them; 7, models, kept them).
    meta["schema"] = 5.into();
    let meta = serde_json::to_vec(&meta).unwrap();
    let mut sums: serde_json::Value =
        serde_json::from_slice(meta_db.get(&wtxn, "checksums").unwrap().unwrap()).unwrap();
    sums["meta"] = xxhash_rust::xxh3::xxh3_64(&meta).into();
    sums.as_object_mut().unwrap().remove("norms");
    let sums = serde_json::to_vec(&sums).unwrap();
    meta_db.put(&mut wtxn, "meta", &meta).unwrap();
    meta_db.put(&mut wtxn, "checksums", &sums).unwrap();
    norms_db.clear(&mut wtxn).unwrap();
    wtxn.commit().unwrap();
    drop(env);
    let (_, stdout, stderr) = run(&cache, &["info", src_arg, "--verify"]);
    assert!(!stdout.contains("norms"), "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .all(|l| !l.contains("DAMAGED") || l.starts_with("  source")),
        "{stdout}{stderr}"
    );
    assert!(stdout.contains("it will be rebuilt"), "{stdout}{stderr}");
}

/// Labels as a Python list and as big-endian int32 are kept as given; a set with fewer labels
/// than rows is an error naming both counts (tests/fixtures/pickles/gen_labels.py).
#[test]
fn labels_of_every_integer_kind_are_kept_and_a_short_set_is_refused() {
    let cache = tempfile::tempdir().unwrap();
    let file = fixture("pickles", "py3_mnist_labels_mixed.pkl");
    for (item, label) in [(0, 7), (1, -2), (2, 9), (3, 300), (4, 4)] {
        let got = json(cache.path(), &file, &format!(":vec \"{item}\""));
        assert_eq!(got["label"].as_i64(), Some(label), "{got}");
    }
    let file = fixture("pickles", "py3_mnist_labels_short.pkl");
    let (ok, _, stderr) = run(cache.path(), &[file.to_str().unwrap(), "-e", "\"1\""]);
    assert!(!ok);
    assert!(stderr.contains("set 1 has 2 labels for 3 rows"), "{stderr}");
}
