//! Issue 24's readers: gensim 3.x FastText models with a pruned n-gram matrix, gensim sidecars
//! (missing, short, hostile), fastText headers that would make hashing explode, the tutorial's
//! Annoy index with its LMDB map, item embeddings. Fixtures and the reference answers come from
//! the generator script beside each (tests/fixtures/*/gen.py), run with the real packages.

use std::path::{Path, PathBuf};

use vecsh::eval::Value;
use vecsh::loader::{self, LoadOptions};

use crate::util::{
    assert_close, fixture, floats, json, load, load_err as err, load_with, opts, pairs, ranked,
    session, strings, Loaded,
};

fn open(path: &Path, cache: &tempfile::TempDir) -> vecsh::index::Store {
    vecsh::index::Store::open(path, &opts(cache.path()), &vecsh::progress::Silent)
        .unwrap()
        .0
}

/// Same words in the same order (near-ties may swap), scores within 1e-5.
fn assert_same_ranking(got: &[(String, f32)], want: &[(String, f32)], what: &str) {
    crate::util::assert_same_ranking(got, want, 1e-5, what)
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
    let words = strings(&want["words"]);
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

// ---------------------------------------------------------------------------------------
// fastText headers
// ---------------------------------------------------------------------------------------

/// A current-layout fastText model (dim 2, skipgram) with one dictionary word and the given
/// minn / maxn; its matrix rows are all 0.5.
fn fasttext_model(word: &[u8], minn: i32, maxn: i32, bucket: i32) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&793_712_314i32.to_le_bytes());
    b.extend_from_slice(&12i32.to_le_bytes());
    // dim ws epoch minCount neg wordNgrams loss model bucket minn maxn lrUpdateRate
    for v in [2, 5, 5, 1, 5, 1, 2, 2, bucket, minn, maxn, 100] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&1e-4f64.to_le_bytes());
    for v in [1i32, 1, 0] {
        b.extend_from_slice(&v.to_le_bytes()); // size, nwords, nlabels
    }
    b.extend_from_slice(&100i64.to_le_bytes()); // ntokens
    b.extend_from_slice(&(-1i64).to_le_bytes()); // pruneidx_size
    b.extend_from_slice(word);
    b.push(0);
    b.extend_from_slice(&7i64.to_le_bytes());
    b.push(0); // a word
    b.push(0); // not quantized
    let rows = 1 + bucket as i64;
    b.extend_from_slice(&rows.to_le_bytes());
    b.extend_from_slice(&2i64.to_le_bytes());
    for _ in 0..rows * 2 {
        b.extend_from_slice(&0.5f32.to_le_bytes());
    }
    b
}

/// Loads `path` on a thread and gives up after `secs` seconds (a hang is a failure, not a
/// stuck test run).
fn load_within(path: &Path, secs: u64) -> Result<Loaded, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_owned();
    std::thread::spawn(move || {
        let _ = tx.send(load(&path).map_err(|e| e.to_string()));
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("not answered within {secs} s"))
}

/// The audit's model: 60 KB, one 60,000-byte word, maxn 2^31 − 1. Refused at once, at the byte
/// offset of `maxn` in the header (8 + 10 × 4).
#[test]
fn a_fasttext_header_with_maxn_beyond_64_is_refused_at_its_offset_at_once() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("huge-maxn.bin");
    std::fs::write(&path, fasttext_model(&[b'a'; 60_000], 3, i32::MAX, 10)).unwrap();
    let msg = load_within(&path, 10).err().expect("loaded");
    assert!(msg.contains("byte offset 48"), "{msg}");
    assert!(msg.contains("maxn = 2147483647"), "{msg}");
    assert!(msg.contains("64"), "{msg}");
}

/// minn above maxn is refused at `minn`'s offset; maxn 0 (fastText's "no subwords", which
/// keeps the default minn 3) is a real model and loads.
#[test]
fn a_fasttext_header_with_minn_above_maxn_is_refused_unless_maxn_is_0() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("minn.bin");
    std::fs::write(&path, fasttext_model(b"word", 5, 4, 10)).unwrap();
    let msg = err(&path);
    assert!(msg.contains("byte offset 44"), "{msg}");
    assert!(msg.contains("minn = 5") && msg.contains("maxn"), "{msg}");
    std::fs::write(&path, fasttext_model(b"word", 3, 0, 0)).unwrap();
    assert_eq!(load(&path).unwrap().words, ["word"]);
}

/// A 60,000-byte word under maxn 64 loads, its vector the mean of its rows.
#[test]
fn a_long_word_with_maxn_64_loads() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("long.bin");
    std::fs::write(&path, fasttext_model(&[b'a'; 60_000], 1, 64, 10)).unwrap();
    let loaded = load_within(&path, 30).unwrap();
    assert_eq!(loaded.words.len(), 1);
    // Every n-gram row is 0.5, as is the word row: the word's vector is 0.5 too.
    assert_close(&loaded.vectors, &[0.5, 0.5], "long word");
}

/// Hashing is incremental: a 3,000-byte word with n-grams up to 3,000 characters is 4.5
/// million byte steps (hashing each n-gram afresh was 4.5 billion: minutes).
#[test]
fn ngram_hashing_costs_length_times_maxn() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        vecsh::loader::formats::fasttext::ngram_buckets(&[b'x'; 3000], 1, 3000, 1000, &mut out);
        let _ = tx.send(out.len());
    });
    let n = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("not hashed within 20 s");
    // 3,002 characters with the brackets: from each start, n-grams of 1 to 3,000 characters
    // that fit (3 × 3,000 + 2,999 + … + 1), less the lone "<" and ">".
    assert_eq!(n, 3 * 3000 + 2999 * 3000 / 2 - 2);
}

// ---------------------------------------------------------------------------------------
// gensim files saved gzipped: large arrays beside them as compressed .npz
// ---------------------------------------------------------------------------------------

/// gensim saves a `.kv.gz` whose arrays pass its size limit (10 MB: GloVe 6B 50d's vectors)
/// with those arrays beside it in `NAME.ATTR.npz` (`numpy.savez_compressed`, member `val`),
/// not `.npy`. tests/fixtures/gensim_gz/small.kv.gz is saved so (sep_limit=0); its neighbours
/// equal gensim's `most_similar` on the file loaded back. (It was refused: "'vectors' was saved
/// separately, in small.kv.gz.vectors.npy, which is missing".)
#[test]
fn a_gzipped_gensim_file_with_its_vectors_in_a_compressed_sidecar_equals_gensim() {
    let kv = fixture("gensim_gz", "small.kv.gz");
    let want = json(&fixture("gensim_gz", "expected.json"));
    let cache = tempfile::TempDir::new().unwrap();
    let store = open(&kv, &cache);
    let want = want.as_object().unwrap();
    assert_eq!(want.len(), 4);
    for (word, expected) in want {
        let got = ranked(&session(&store, 5).run_line(word).unwrap());
        assert_same_ranking(&got, &pairs(expected), word);
    }
    // The .npz is a companion: part of the index's identity and staleness proof.
    let companions = vecsh::loader::companions(&kv, &LoadOptions::default());
    assert!(
        companions.contains(&fixture("gensim_gz", "small.kv.gz.vectors.npz")),
        "{companions:?}"
    );
}

/// The compressed sidecar missing, or not a regular file: named, as a `.npy` sidecar is.
#[test]
fn a_gzipped_gensim_files_compressed_sidecar_missing_or_a_fifo_is_named() {
    let dir = tempfile::TempDir::new().unwrap();
    let kv = dir.path().join("small.kv.gz");
    std::fs::copy(fixture("gensim_gz", "small.kv.gz"), &kv).unwrap();
    let msg = err(&kv);
    assert!(
        msg.contains("small.kv.gz.vectors.npz") && msg.contains("missing"),
        "{msg}"
    );
    let npz = dir.path().join("small.kv.gz.vectors.npz");
    let c = std::ffi::CString::new(npz.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(load(&kv).err().map(|e| e.to_string()));
    });
    let msg = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the load waited on the FIFO")
        .expect("loaded");
    assert!(
        msg.contains("small.kv.gz.vectors.npz") && msg.contains("not a regular file"),
        "{msg}"
    );
    let _ = std::fs::remove_file(&npz);
}

// ---------------------------------------------------------------------------------------
// gensim's .npy sidecars get the main file's protections
// ---------------------------------------------------------------------------------------

/// tests/fixtures/formats/sidecar.kv copied into `dir`, its vectors sidecar left to the caller.
fn sidecar_kv(dir: &Path) -> PathBuf {
    let kv = dir.join("sidecar.kv");
    std::fs::copy(fixture("formats", "sidecar.kv"), &kv).unwrap();
    std::fs::copy(
        fixture("formats", "sidecar.kv.vectors_lockf.npy"),
        dir.join("sidecar.kv.vectors_lockf.npy"),
    )
    .unwrap();
    kv
}

/// A FIFO as the sidecar: refused at once as not a regular file (it used to hang in a read).
#[test]
fn a_fifo_sidecar_is_refused_not_waited_on() {
    let dir = tempfile::TempDir::new().unwrap();
    let kv = sidecar_kv(dir.path());
    let fifo = dir.path().join("sidecar.kv.vectors.npy");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let msg = load_within(&kv, 10).err().expect("loaded");
    assert!(msg.contains("sidecar.kv.vectors.npy"), "{msg}");
    assert!(msg.contains("not a regular file"), "{msg}");
}

/// A symlink to /dev/zero as the sidecar: refused without reading (it used to grow to GBs).
#[test]
fn a_sidecar_linked_to_dev_zero_is_refused_without_reading() {
    let dir = tempfile::TempDir::new().unwrap();
    let kv = sidecar_kv(dir.path());
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("sidecar.kv.vectors.npy")).unwrap();
    let msg = load_within(&kv, 10).err().expect("loaded");
    assert!(msg.contains("not a regular file"), "{msg}");
}

/// A sidecar whose header announces more than the file holds: refused naming both sizes
/// before its body is read.
#[test]
fn a_sidecar_shorter_than_its_header_says_is_refused_naming_both_sizes() {
    let dir = tempfile::TempDir::new().unwrap();
    let kv = sidecar_kv(dir.path());
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 8), }";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
    npy.extend_from_slice(header.as_bytes());
    npy.extend_from_slice(&[0u8; 64]);
    std::fs::write(dir.path().join("sidecar.kv.vectors.npy"), &npy).unwrap();
    let msg = load_within(&kv, 10).err().expect("loaded");
    assert!(msg.contains("32000000000000 bytes"), "{msg}");
    assert!(msg.contains("the file has 64"), "{msg}");
}

// ---------------------------------------------------------------------------------------
// One diagnosis for a file and its gzipped copy
// ---------------------------------------------------------------------------------------

/// 9 MB of blank lines (more than the 8 MB block a stream's format is detected from), then
/// rows: the plain file and its gzipped copy get the same message, "line 1: blank line" (the
/// gzipped one said "empty file: no rows"). Only blank lines: "empty" for both.
#[test]
fn leading_blank_lines_get_one_diagnosis_plain_or_gzipped() {
    use std::io::Write;
    let dir = tempfile::TempDir::new().unwrap();
    let mut text = vec![b'\n'; 9 << 20];
    text.extend_from_slice(b"a 1 2\nb 3 4\n");
    let message = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        let mut data = bytes.to_vec();
        if name.ends_with(".gz") {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(bytes).unwrap();
            data = gz.finish().unwrap();
        }
        std::fs::write(&path, data).unwrap();
        err(&path)
            .strip_prefix(path.to_str().unwrap())
            .unwrap()
            .to_owned()
    };
    let plain = message("blank.txt", &text);
    assert_eq!(
        plain,
        ":1: blank line (blank lines are only allowed at the end of the file)"
    );
    assert_eq!(message("blank.txt.gz", &text), plain);
    let blank = vec![b'\n'; 9 << 20];
    assert_eq!(message("empty.txt", &blank), ": empty file: no rows");
    assert_eq!(message("empty.txt.gz", &blank), ": empty file: no rows");
}

// ---------------------------------------------------------------------------------------
// The tutorial's index: X.annoy with its LMDB map X.lmdb
// ---------------------------------------------------------------------------------------

const GLOVE_1K: &str = "glove.1k.50d.txt";

/// The fixture pair copied into `dir` (the map without lock.mdb, as a user's folder may hold
/// it after the tutorial ran); returns the `.annoy` path.
fn annoy_pair(dir: &Path) -> PathBuf {
    let annoy = dir.join(format!("{GLOVE_1K}.annoy"));
    std::fs::copy(fixture("annoy", &format!("{GLOVE_1K}.annoy")), &annoy).unwrap();
    let map = dir.join(format!("{GLOVE_1K}.lmdb"));
    std::fs::create_dir(&map).unwrap();
    std::fs::copy(
        fixture("annoy", &format!("{GLOVE_1K}.lmdb/data.mdb")),
        map.join("data.mdb"),
    )
    .unwrap();
    annoy
}

/// Vocabulary from the map, vectors from the Annoy item nodes: the text file's, row for row.
#[test]
fn the_tutorials_annoy_index_reads_as_the_text_it_was_built_from() {
    let text = load(&fixture("annoy", GLOVE_1K)).unwrap();
    let dir = tempfile::TempDir::new().unwrap();
    let annoy = annoy_pair(dir.path());
    let loaded = load(&annoy).unwrap();
    assert_eq!(loaded.report.format, loader::Format::Annoy);
    assert_eq!(loaded.report.dims, 50);
    assert_eq!(loaded.words, text.words);
    assert_close(&loaded.vectors, &text.vectors, "annoy vs text");
    // `X.lmdb` opens the same pair.
    let via_map = load(&dir.path().join(format!("{GLOVE_1K}.lmdb"))).unwrap();
    assert_eq!(via_map.words, text.words);
    assert_eq!(via_map.vectors, loaded.vectors);
    // --dims 50 says what the layout says.
    let opts = LoadOptions {
        dims: Some(50),
        ..Default::default()
    };
    assert_eq!(load_with(&annoy, &opts).unwrap().words, text.words);
}

/// The answers equal numpy's exact cosine over the text (the tutorial's Annoy answers only
/// approximate them: for `king` it misses `ii`, the nearest).
#[test]
fn the_tutorials_annoy_index_answers_exactly() {
    let want = json(&fixture("annoy", "expected.json"));
    let dir = tempfile::TempDir::new().unwrap();
    let annoy = annoy_pair(dir.path());
    let cache = tempfile::TempDir::new().unwrap();
    let store = open(&annoy, &cache);
    let mut s = session(&store, 10);
    let mut checked = 0;
    for (word, answer) in want.as_object().unwrap() {
        if word.starts_with("annoy: ") {
            continue;
        }
        let quoted = word.replace('\\', "\\\\").replace('"', "\\\"");
        let got = ranked(&s.run_line(&format!("\"{quoted}\"")).unwrap());
        assert_same_ranking(&got, &pairs(answer), word);
        checked += 1;
    }
    assert_eq!(checked, want.as_object().unwrap().len() - 1);
    assert!(checked >= 20, "{checked}");
    let tutorial = strings(&want["annoy: king"]);
    assert!(!tutorial.contains(&"ii"));
    assert_eq!(pairs(&want["king"])[0].0, "ii");
}

/// Opening the user's map writes nothing in their folder: no lock.mdb, data.mdb unchanged.
#[test]
fn opening_the_tutorials_map_creates_no_lock_file_and_changes_nothing() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::TempDir::new().unwrap();
    let annoy = annoy_pair(dir.path());
    let map = dir.path().join(format!("{GLOVE_1K}.lmdb"));
    let data = map.join("data.mdb");
    let before = std::fs::read(&data).unwrap();
    let stat = std::fs::metadata(&data).unwrap();
    let cache = tempfile::TempDir::new().unwrap();
    let out = crate::util::vecsh(cache.path())
        .arg(&annoy)
        .args(["-e", "king"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ii"), "{stdout}");
    let out = crate::util::vecsh(cache.path())
        .arg(&map)
        .args(["-e", "king"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Both opened the one index of the `.annoy`, cached.
    let indexes: Vec<String> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".lock"))
        .collect();
    assert_eq!(indexes.len(), 1, "{indexes:?}");
    assert!(
        indexes[0].starts_with(&format!("{GLOVE_1K}.annoy-")),
        "{indexes:?}"
    );
    let names: Vec<String> = std::fs::read_dir(&map)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["data.mdb"]);
    assert_eq!(std::fs::read(&data).unwrap(), before);
    let after = std::fs::metadata(&data).unwrap();
    assert_eq!(
        (after.mtime(), after.mtime_nsec(), after.ino()),
        (stat.mtime(), stat.mtime_nsec(), stat.ino())
    );
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [format!("{GLOVE_1K}.annoy"), format!("{GLOVE_1K}.lmdb")]
    );
}

/// Without its map, an Annoy index numbers its items; a map without its index names the
/// missing file.
#[test]
fn an_annoy_index_without_a_map_numbers_its_items_and_a_map_alone_names_the_index() {
    let dir = tempfile::TempDir::new().unwrap();
    let annoy = dir.path().join("items.annoy");
    std::fs::copy(fixture("annoy", &format!("{GLOVE_1K}.annoy")), &annoy).unwrap();
    let loaded = load(&annoy).unwrap();
    assert_eq!(loaded.words.len(), 1000);
    assert_eq!(loaded.words[..3], ["0", "1", "2"]);
    assert_eq!(loaded.words[999], "999");

    let map = dir.path().join("alone.lmdb");
    std::fs::create_dir(&map).unwrap();
    std::fs::copy(
        fixture("annoy", &format!("{GLOVE_1K}.lmdb/data.mdb")),
        map.join("data.mdb"),
    )
    .unwrap();
    let msg = err(&map);
    assert!(
        msg.contains("alone.annoy") && msg.contains("missing"),
        "{msg}"
    );
}

/// Euclidean and dot-product indexes have other nodes: refused, naming the metric.
#[test]
fn annoy_indexes_of_other_metrics_are_refused_naming_them() {
    let msg = err(&fixture("annoy", &format!("{GLOVE_1K}.euclidean.annoy")));
    assert!(msg.contains("Euclidean or Manhattan"), "{msg}");
    assert!(msg.contains("100 items of 50 dimensions"), "{msg}");
    let msg = err(&fixture("annoy", &format!("{GLOVE_1K}.dot.annoy")));
    assert!(msg.contains("dot-product"), "{msg}");
    assert!(msg.contains("100 items of 50 dimensions"), "{msg}");
    // Under --dims too.
    let opts = LoadOptions {
        dims: Some(51),
        ..Default::default()
    };
    let e = load_with(
        &fixture("annoy", &format!("{GLOVE_1K}.euclidean.annoy")),
        &opts,
    );
    assert!(e.err().unwrap().to_string().contains("Euclidean"));
}

/// A damaged map is refused before anything trusts it, naming the map: truncated, its pages
/// overwritten, an item without a word.
#[test]
fn a_damaged_annoy_map_is_refused_naming_it() {
    let dir = tempfile::TempDir::new().unwrap();
    let annoy = annoy_pair(dir.path());
    let data = dir.path().join(format!("{GLOVE_1K}.lmdb/data.mdb"));
    let good = std::fs::read(&data).unwrap();
    // Truncated.
    std::fs::write(&data, &good[..good.len() / 2]).unwrap();
    let msg = err(&annoy);
    assert!(
        msg.contains("data.mdb") && msg.contains("truncated"),
        "{msg}"
    );
    // Every byte of page 3 flipped, then every 97th byte of the file: errors, never a panic.
    let mut bad = good.clone();
    bad[3 * 4096..4 * 4096].iter_mut().for_each(|b| *b ^= 0xff);
    std::fs::write(&data, &bad).unwrap();
    assert!(err(&annoy).contains("data.mdb"));
    for step in [97, 1013, 4099] {
        let mut bad = good.clone();
        for i in (2 * 4096..bad.len()).step_by(step) {
            bad[i] ^= 0x5a;
        }
        std::fs::write(&data, &bad).unwrap();
        let _ = load(&annoy);
    }
    // A map that names only the first 10 of the 1,000 items (made by gen.py).
    std::fs::copy(fixture("annoy", "partial.lmdb/data.mdb"), &data).unwrap();
    let msg = err(&annoy);
    assert!(
        msg.contains("names 10 of the Annoy index's 1000 items (item 10 has no word)"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------
// Item embeddings: .npy, .npz, the Embedding Projector's pair
// ---------------------------------------------------------------------------------------

fn items_expected() -> serde_json::Value {
    json(&fixture("items", "expected.json"))
}

fn labels() -> Vec<String> {
    items_expected()["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect()
}

/// Every item's neighbours equal numpy's exact cosine answers.
fn answers_equal_numpy(path: &Path, opts: vecsh::index::OpenOptions, want: &serde_json::Value) {
    let store = vecsh::index::Store::open(path, &opts, &vecsh::progress::Silent)
        .unwrap()
        .0;
    let mut s = session(&store, 5);
    for (item, answer) in want.as_object().unwrap() {
        let got = ranked(&s.run_line(&format!("\"{item}\"")).unwrap());
        assert_same_ranking(&got, &pairs(answer), item);
    }
}

/// A 2-D `.npy`: rows are items, named by the sidecar `x.labels.txt`.
#[test]
fn a_npy_array_with_a_labels_sidecar_is_items_named_by_their_labels() {
    let path = fixture("items", "songs.npy");
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.report.format, loader::Format::Items);
    assert_eq!(loaded.report.dims, 8);
    assert_eq!(loaded.words, labels());
    let tsv = load(&fixture("items", "projector1/vectors.tsv")).unwrap();
    assert_close(&loaded.vectors, &tsv.vectors, "npy vs tsv");
    let cache = tempfile::TempDir::new().unwrap();
    answers_equal_numpy(&path, opts(cache.path()), &items_expected()["songs"]);
}

/// Without labels, items are numbered; float64 in Fortran order is read as numpy reads it.
#[test]
fn a_npy_array_without_labels_numbers_its_items() {
    let path = fixture("items", "photos.npy");
    let loaded = load(&path).unwrap();
    assert_eq!(loaded.words.len(), 60);
    assert_eq!(loaded.words[..2], ["0", "1"]);
    let cache = tempfile::TempDir::new().unwrap();
    answers_equal_numpy(&path, opts(cache.path()), &items_expected()["photos"]);
}

/// `--labels FILE` names the rows; a count that differs is an error naming both.
#[test]
fn labels_given_must_number_the_rows() {
    let dir = tempfile::TempDir::new().unwrap();
    let names = dir.path().join("names.txt");
    let mut text: String = (0..60).map(|i| format!("photo {i}\n")).collect();
    std::fs::write(&names, &text).unwrap();
    let opts = LoadOptions {
        labels: Some(names.clone()),
        ..Default::default()
    };
    let loaded = load_with(&fixture("items", "photos.npy"), &opts).unwrap();
    assert_eq!(loaded.words[59], "photo 59");
    text.push_str("photo 60\n");
    std::fs::write(&names, &text).unwrap();
    let msg = load_with(&fixture("items", "photos.npy"), &opts)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("names.txt"), "{msg}");
    assert!(
        msg.contains("61 labels") && msg.contains("60 rows"),
        "{msg}"
    );
    // A sidecar with one label too few.
    let npy = dir.path().join("songs.npy");
    std::fs::copy(fixture("items", "songs.npy"), &npy).unwrap();
    let sidecar: Vec<String> = labels()[..119].to_vec();
    std::fs::write(dir.path().join("songs.labels.txt"), sidecar.join("\n")).unwrap();
    let msg = err(&npy);
    assert!(msg.contains("songs.labels.txt"), "{msg}");
    assert!(
        msg.contains("119 labels") && msg.contains("120 rows"),
        "{msg}"
    );
}

/// `.npz`: one array is read as it is; of several, `--member` names one (else the error lists
/// them).
#[test]
fn npz_archives_hold_item_arrays() {
    let single = load(&fixture("items", "single.npz")).unwrap();
    assert_eq!(single.words.len(), 120);
    assert_eq!(single.words[0], "0");
    let npy = load(&fixture("items", "songs.npy")).unwrap();
    assert_eq!(single.vectors, npy.vectors);
    let msg = err(&fixture("items", "songs.npz"));
    assert!(
        msg.contains("vectors") && msg.contains("ids") && msg.contains("--member"),
        "{msg}"
    );
    let opts = LoadOptions {
        member: Some("vectors".into()),
        labels: Some(fixture("items", "songs.labels.txt")),
        ..Default::default()
    };
    let loaded = load_with(&fixture("items", "songs.npz"), &opts).unwrap();
    assert_eq!(loaded.words, labels());
    assert_eq!(loaded.vectors, npy.vectors);
}

/// The TensorFlow Embedding Projector's pair: `vectors.tsv` (no word column) and `metadata.tsv`
/// beside it (a header row when it has several columns; the first column is the label).
#[test]
fn the_projector_pair_reads_as_labelled_items() {
    for dir in ["projector", "projector1"] {
        let path = fixture("items", &format!("{dir}/vectors.tsv"));
        let loaded = load(&path).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!(loaded.report.format, loader::Format::Items, "{dir}");
        assert_eq!(loaded.report.dims, 8, "{dir}");
        assert_eq!(loaded.words, labels(), "{dir}");
    }
    let cache = tempfile::TempDir::new().unwrap();
    answers_equal_numpy(
        &fixture("items", "projector/vectors.tsv"),
        opts(cache.path()),
        &items_expected()["songs"],
    );
}

// ---------------------------------------------------------------------------------------
// HistWords' decade files
// ---------------------------------------------------------------------------------------

/// `1990-w.npy` with `1990-vocab.pkl` beside it (a Python 2 pickled list): the words present
/// that decade (all-zero rows left out), answering as numpy does over them.
#[test]
fn histwords_decade_files_are_the_words_present_that_decade() {
    let want = json(&fixture("histwords", "expected.json"));
    let path = fixture("histwords", "1990-w.npy");
    let loaded = load(&path).unwrap();
    let words = strings(&want["1990"]["words"]);
    assert_eq!(loaded.words, words);
    assert_eq!(loaded.words.len(), 41);
    let cache = tempfile::TempDir::new().unwrap();
    answers_equal_numpy(&path, opts(cache.path()), &want["1990"]["neighbours"]);
}

/// HistWords' own code pickles its vocabularies with protocol 0 (`pickle.dump(data, open(f,
/// "w"))` in Python 2): the 1900 decade's list is such a file, read by the pickle reader's
/// protocol 0 opcodes.
#[test]
fn histwords_protocol_0_vocabularies_are_read() {
    let want = json(&fixture("histwords", "expected.json"));
    let path = fixture("histwords", "1900-w.npy");
    let loaded = load(&path).unwrap();
    let words = strings(&want["1900"]["words"]);
    assert_eq!(loaded.words, words);
    let cache = tempfile::TempDir::new().unwrap();
    answers_equal_numpy(&path, opts(cache.path()), &want["1900"]["neighbours"]);
}

/// The files an index of each new format depends on besides the one named: what its identity
/// and staleness proof must cover.
#[test]
fn companion_files_are_listed_for_each_format() {
    let dir = tempfile::TempDir::new().unwrap();
    let annoy = annoy_pair(dir.path());
    let map = dir.path().join(format!("{GLOVE_1K}.lmdb"));
    let none = LoadOptions::default();
    assert_eq!(loader::companions(&annoy, &none), [map.join("data.mdb")]);
    assert_eq!(
        loader::companions(&map, &none),
        [annoy.clone(), map.join("data.mdb")]
    );
    assert_eq!(
        loader::companions(&fixture("items", "songs.npy"), &none),
        [fixture("items", "songs.labels.txt")]
    );
    assert_eq!(
        loader::companions(&fixture("items", "projector/vectors.tsv"), &none),
        [fixture("items", "projector/metadata.tsv")]
    );
    assert_eq!(
        loader::companions(&fixture("histwords", "1990-w.npy"), &none),
        [fixture("histwords", "1990-vocab.pkl")]
    );
    let given = LoadOptions {
        labels: Some(fixture("items", "songs.labels.txt")),
        ..Default::default()
    };
    assert_eq!(
        loader::companions(&fixture("items", "photos.npy"), &given),
        [fixture("items", "songs.labels.txt")]
    );
    let sidecars = loader::companions(&fixture("formats", "sidecar.kv"), &none);
    assert_eq!(
        sidecars,
        [
            fixture("formats", "sidecar.kv.vectors.npy"),
            fixture("formats", "sidecar.kv.vectors_lockf.npy")
        ]
    );
    assert!(loader::companions(&fixture("annoy", GLOVE_1K), &none).is_empty());
}

/// Opens `path` (under `load`) with the cache `cache`, verifying by the stat proof as a
/// one-shot command does: the store and how it was obtained.
fn open_with(
    path: &Path,
    cache: &Path,
    load: &LoadOptions,
) -> Result<(vecsh::index::Store, vecsh::index::Origin), String> {
    let options = vecsh::index::OpenOptions {
        load: load.clone(),
        verify: vecsh::index::Verify::Proof,
        ..opts(cache)
    };
    vecsh::index::Store::open(path, &options, &vecsh::progress::Silent).map_err(|e| e.to_string())
}

/// The top-5 answer to `line`, or its error.
fn answer(store: &vecsh::index::Store, line: &str) -> Result<Vec<(String, f32)>, String> {
    session(store, 5)
        .run_line(line)
        .map(|v| ranked(&v))
        .map_err(|e| e.to_string())
}

/// gensim's `.npy` sidecar holds the vectors: rewritten with other values of the same size,
/// the index is rebuilt and answers from the new ones (it used to answer from the old ones:
/// only the `.kv` was proved current). Rewritten with the same bytes, it is reused; removed,
/// the open names the missing sidecar.
#[test]
fn a_changed_gensim_sidecar_rebuilds_the_index() {
    let dir = tempfile::TempDir::new().unwrap();
    let cache = tempfile::TempDir::new().unwrap();
    let kv = sidecar_kv(dir.path());
    let npy = dir.path().join("sidecar.kv.vectors.npy");
    std::fs::copy(fixture("formats", "sidecar.kv.vectors.npy"), &npy).unwrap();
    let none = LoadOptions::default();
    let loaded = load(&kv).unwrap();
    let query = format!("\"{}\"", loaded.words[0]);
    let (store, origin) = open_with(&kv, cache.path(), &none).unwrap();
    assert_eq!(origin, vecsh::index::Origin::Built);
    let before = answer(&store, &query).unwrap();
    drop(store);

    // The same bytes written again (a new ctime): its content decides, and it is the same.
    let bytes = std::fs::read(&npy).unwrap();
    std::fs::write(&npy, &bytes).unwrap();
    let (store, origin) = open_with(&kv, cache.path(), &none).unwrap();
    assert_eq!(origin, vecsh::index::Origin::Reused);
    drop(store);

    // The rows in reverse order: same header, same size, other vectors for each word.
    let header = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let row = (bytes.len() - header) / loaded.words.len();
    let mut reversed = bytes[..header].to_vec();
    for r in bytes[header..].chunks(row).rev() {
        reversed.extend_from_slice(r);
    }
    assert_eq!(reversed.len(), bytes.len());
    std::fs::write(&npy, &reversed).unwrap();
    let verified = vecsh::index::verify_index(&kv, &opts(cache.path())).unwrap();
    assert_eq!(
        verified.first_problem().as_deref(),
        Some("source: changed since the index was built (it will be rebuilt)")
    );
    let (store, origin) = open_with(&kv, cache.path(), &none).unwrap();
    assert_eq!(origin, vecsh::index::Origin::Built);
    let after = answer(&store, &query).unwrap();
    drop(store);
    assert_ne!(after, before, "the answers still come from the old sidecar");
    let fresh = tempfile::TempDir::new().unwrap();
    let (store, _) = open_with(&kv, fresh.path(), &none).unwrap();
    assert_eq!(after, answer(&store, &query).unwrap());
    drop(store);

    std::fs::remove_file(&npy).unwrap();
    let msg = open_with(&kv, cache.path(), &none).err().unwrap();
    assert!(
        msg.contains("sidecar.kv.vectors.npy") && msg.contains("missing"),
        "{msg}"
    );

    // Built again, then the sidecar replaced by a FIFO: refused at once, never read to hash it.
    std::fs::write(&npy, &reversed).unwrap();
    drop(open_with(&kv, cache.path(), &none).unwrap());
    std::fs::remove_file(&npy).unwrap();
    let c = std::ffi::CString::new(npy.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (tx, rx) = std::sync::mpsc::channel();
    let (kv2, cache2) = (kv.clone(), cache.path().to_path_buf());
    std::thread::spawn(move || {
        let _ = tx.send(open_with(&kv2, &cache2, &LoadOptions::default()).err());
    });
    let msg = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the open waited on the FIFO")
        .expect("opened");
    assert!(msg.contains("not a regular file"), "{msg}");
    // Unblock a reader stuck on the FIFO, if any, so the thread ends.
    let _ = std::fs::remove_file(&npy);
}

/// A labels file names the rows: changed (`x.labels.txt`, or `--labels FILE`), the index is
/// rebuilt and answers to the new names; two `--labels` files are two indexes.
#[test]
fn a_changed_labels_file_rebuilds_the_index() {
    let dir = tempfile::TempDir::new().unwrap();
    let cache = tempfile::TempDir::new().unwrap();
    let npy = dir.path().join("songs.npy");
    std::fs::copy(fixture("items", "songs.npy"), &npy).unwrap();
    let sidecar = dir.path().join("songs.labels.txt");
    let text = std::fs::read_to_string(fixture("items", "songs.labels.txt")).unwrap();
    std::fs::write(&sidecar, &text).unwrap();
    let first = labels()[0].clone();
    let none = LoadOptions::default();
    let (store, _) = open_with(&npy, cache.path(), &none).unwrap();
    assert!(answer(&store, &format!("\"{first}\"")).is_ok());
    drop(store);
    std::fs::write(&sidecar, text.replacen(&first, "renamed", 1)).unwrap();
    let (store, origin) = open_with(&npy, cache.path(), &none).unwrap();
    assert_eq!(origin, vecsh::index::Origin::Built);
    assert!(answer(&store, "\"renamed\"").is_ok());
    assert!(answer(&store, &format!("\"{first}\"")).is_err());
    drop(store);

    let photos = dir.path().join("photos.npy");
    std::fs::copy(fixture("items", "photos.npy"), &photos).unwrap();
    let names = dir.path().join("names.txt");
    let other = dir.path().join("other.txt");
    std::fs::write(
        &names,
        (0..60).map(|i| format!("photo {i}\n")).collect::<String>(),
    )
    .unwrap();
    std::fs::write(
        &other,
        (0..60).map(|i| format!("image {i}\n")).collect::<String>(),
    )
    .unwrap();
    let given = |file: &Path| LoadOptions {
        labels: Some(file.to_path_buf()),
        ..Default::default()
    };
    let (store, _) = open_with(&photos, cache.path(), &given(&names)).unwrap();
    assert!(answer(&store, "\"photo 1\"").is_ok());
    drop(store);
    let (store, origin) = open_with(&photos, cache.path(), &given(&other)).unwrap();
    assert_eq!(origin, vecsh::index::Origin::Built);
    assert!(answer(&store, "\"image 1\"").is_ok());
    drop(store);
    let (store, origin) = open_with(&photos, cache.path(), &given(&names)).unwrap();
    assert_eq!(
        origin,
        vecsh::index::Origin::Reused,
        "one index per labels file"
    );
    drop(store);
    std::fs::write(
        &names,
        (0..60).map(|i| format!("song {i}\n")).collect::<String>(),
    )
    .unwrap();
    let (store, origin) = open_with(&photos, cache.path(), &given(&names)).unwrap();
    assert_eq!(origin, vecsh::index::Origin::Built);
    assert!(answer(&store, "\"song 1\"").is_ok());
    assert!(answer(&store, "\"photo 1\"").is_err());
}

/// HistWords' `D-vocab.pkl` names the rows of `D-w.npy`: rewritten (the same words pickled
/// with protocol 0 instead of 2) the index is rebuilt; removed, it is rebuilt with numbered rows.
#[test]
fn a_changed_histwords_vocabulary_rebuilds_the_index() {
    let dir = tempfile::TempDir::new().unwrap();
    let cache = tempfile::TempDir::new().unwrap();
    let npy = dir.path().join("d-w.npy");
    let vocab = dir.path().join("d-vocab.pkl");
    std::fs::copy(fixture("histwords", "1990-w.npy"), &npy).unwrap();
    std::fs::copy(fixture("histwords", "1990-vocab.pkl"), &vocab).unwrap();
    let none = LoadOptions::default();
    let (store, _) = open_with(&npy, cache.path(), &none).unwrap();
    let named = answer(&store, "\"gay\"").unwrap();
    drop(store);
    std::fs::copy(fixture("histwords", "1900-vocab.pkl"), &vocab).unwrap();
    let (store, origin) = open_with(&npy, cache.path(), &none).unwrap();
    assert_eq!(origin, vecsh::index::Origin::Built);
    assert_eq!(answer(&store, "\"gay\"").unwrap(), named);
    drop(store);
    std::fs::remove_file(&vocab).unwrap();
    let (store, origin) = open_with(&npy, cache.path(), &none).unwrap();
    assert_eq!(origin, vecsh::index::Origin::Built);
    assert!(
        answer(&store, "\"gay\"").is_err(),
        "still named by the removed vocabulary"
    );
}

/// The tutorial's map names the Annoy index's items: copied again it is reused; removed, the
/// index is rebuilt and numbers its items.
#[test]
fn a_changed_annoy_map_rebuilds_the_index() {
    let dir = tempfile::TempDir::new().unwrap();
    let cache = tempfile::TempDir::new().unwrap();
    let annoy = annoy_pair(dir.path());
    let map = dir.path().join(format!("{GLOVE_1K}.lmdb"));
    let none = LoadOptions::default();
    let (store, _) = open_with(&annoy, cache.path(), &none).unwrap();
    let named = answer(&store, "\"the\"").unwrap();
    drop(store);
    let data = std::fs::read(map.join("data.mdb")).unwrap();
    std::fs::write(map.join("data.mdb"), &data).unwrap();
    let (store, origin) = open_with(&annoy, cache.path(), &none).unwrap();
    assert_eq!(origin, vecsh::index::Origin::Reused);
    assert_eq!(answer(&store, "\"the\"").unwrap(), named);
    drop(store);
    std::fs::remove_dir_all(&map).unwrap();
    let (store, origin) = open_with(&annoy, cache.path(), &none).unwrap();
    assert_eq!(origin, vecsh::index::Origin::Built);
    assert!(
        answer(&store, "\"the\"").is_err(),
        "still named by the removed map"
    );
    assert!(answer(&store, "\"0\"").is_ok());
}

// ---------------------------------------------------------------------------------------
// Export to the Embedding Projector
// ---------------------------------------------------------------------------------------

/// `vecsh export FILE --to projector -o DIR` writes the Projector's pair, which reads back as
/// the same rows; a word holding a tab or a line end is refused (it would split a row), and
/// nothing is left behind.
#[test]
fn export_to_the_projector_writes_the_pair_and_refuses_tabs() {
    let cache = tempfile::TempDir::new().unwrap();
    let out = cache.path().join("proj");
    let run = crate::util::vecsh(cache.path())
        .arg("export")
        .arg(fixture("annoy", GLOVE_1K))
        .args(["--to", "projector", "--limit", "50", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let back = load(&out.join("vectors.tsv")).unwrap();
    let text = load_with(
        &fixture("annoy", GLOVE_1K),
        &LoadOptions {
            limit: Some(50),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(back.words, text.words);
    assert_close(&back.vectors, &text.vectors, "projector round trip");

    // A word2vec binary whose first word holds a tab.
    let bad = cache.path().join("tab.bin");
    let mut bytes = b"2 2\na\tb ".to_vec();
    for x in [1f32, 2., 3., 4.] {
        if x == 3. {
            bytes.extend_from_slice(b"c ");
        }
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(&bad, bytes).unwrap();
    assert_eq!(load(&bad).unwrap().words, ["a\tb", "c"]);
    let out2 = cache.path().join("proj2");
    let run = crate::util::vecsh(cache.path())
        .arg("export")
        .arg(&bad)
        .args(["--to", "projector", "-o"])
        .arg(&out2)
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("row 1") && stderr.contains("tab"),
        "{stderr}"
    );
    assert!(!out2.join("vectors.tsv").exists() && !out2.join("metadata.tsv").exists());
}

// ---------------------------------------------------------------------------------------
// Damaged files of the new formats: errors, never a panic
// ---------------------------------------------------------------------------------------

/// Truncated and bit-flipped copies of each new format's fixtures load or fail with an error;
/// none panics or hangs.
#[test]
fn damaged_annoy_npy_npz_and_projector_files_never_panic() {
    let dir = tempfile::TempDir::new().unwrap();
    let cases = [
        ("annoy", format!("{GLOVE_1K}.annoy"), "x.annoy"),
        ("items", "songs.npy".to_owned(), "x.npy"),
        ("items", "single.npz".to_owned(), "x.npz"),
        ("items", "projector/vectors.tsv".to_owned(), "vectors.tsv"),
    ];
    let mut runs = 0;
    for (fixture_dir, name, target) in cases {
        let good = std::fs::read(fixture(fixture_dir, &name)).unwrap();
        let path = dir.path().join(target);
        let step = (good.len() / 40).max(1);
        for cut in (0..good.len()).step_by(step) {
            std::fs::write(&path, &good[..cut]).unwrap();
            let _ = load(&path);
            runs += 1;
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..40 {
            let mut bad = good.clone();
            for _ in 0..8 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed % bad.len() as u64) as usize;
                bad[i] ^= (seed >> 32) as u8 | 1;
            }
            std::fs::write(&path, &bad).unwrap();
            let _ = load(&path);
            runs += 1;
        }
    }
    assert!(runs > 300);
}
