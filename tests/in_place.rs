//! A word2vec .bin read in place (issue 12): its index stores each row's offset in the source
//! instead of an f32 copy, and the f32 stage reads the rows it rescores from the source with
//! `pread`. Answers must be the bits an f32 copy gives; a source truncated or rewritten under
//! an open store is an error, never a panic, a SIGBUS or another file's rows.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use vecsh::index::{ApproxKind, ApproxParams, OpenOptions, Origin, Store};
use vecsh::progress::Silent;
use vecsh::search::{brute_force_top_k, Query};

use crate::util::opts;

/// `n` rows of `dims` values as a word2vec binary file and as word2vec text (the text form is
/// indexed with an f32 copy: the reference). Every 11th word repeats an earlier one, so ids and
/// file rows differ (duplicates are dropped), and some rows are zero.
fn write_pair(dir: &Path, n: usize, dims: usize) -> (PathBuf, PathBuf) {
    let value = |i: usize, d: usize| {
        if i % 97 == 5 {
            0.0
        } else {
            (((i * 31 + d * 17) % 23) as f32 - 11.0) / 7.0 + (i % 5) as f32 * 0.1 + d as f32 * 1e-3
        }
    };
    write_pair_of(dir, n, dims, value)
}

/// [`write_pair`] with row `i`'s value `d` given by `value`.
fn write_pair_of(
    dir: &Path,
    n: usize,
    dims: usize,
    value: impl Fn(usize, usize) -> f32,
) -> (PathBuf, PathBuf) {
    let word = |i: usize| {
        if i % 11 == 10 {
            format!("w{}", i - 3)
        } else {
            format!("w{i}")
        }
    };
    let mut bin = format!("{n} {dims}\n").into_bytes();
    let mut text = format!("{n} {dims}\n");
    for i in 0..n {
        bin.extend_from_slice(format!("{} ", word(i)).as_bytes());
        text.push_str(&word(i));
        for d in 0..dims {
            let x = value(i, d);
            bin.extend_from_slice(&x.to_le_bytes());
            // `{:?}` prints the shortest text that parses back to the same f32.
            text.push_str(&format!(" {x:?}"));
        }
        bin.push(b'\n');
        text.push('\n');
    }
    let (b, t) = (dir.join("v.bin"), dir.join("v.txt"));
    std::fs::write(&b, bin).unwrap();
    std::fs::write(&t, text).unwrap();
    (b, t)
}

fn query<'a>(v: &'a [f32], exclude: &'a [u32], n: usize) -> Query<'a> {
    Query {
        vector: v,
        k: 10,
        exclude,
        limit: n,
    }
}

#[test]
fn rows_read_in_place_give_the_f32_copys_answers_bit_for_bit() {
    let tmp = tempfile::tempdir().unwrap();
    // Three chunks of 65,536 rows: offsets and reads cross chunk boundaries.
    let (bin, txt) = write_pair(tmp.path(), 140_000, 24);
    let cache = tmp.path().join("cache");
    let (in_place, origin) = Store::open(&bin, &opts(&cache), &Silent).unwrap();
    assert_eq!(origin, Origin::Built);
    assert!(
        in_place.rows_in_source(),
        "a word2vec .bin is read in place"
    );
    let (copied, _) = Store::open(&txt, &opts(&cache), &Silent).unwrap();
    assert!(!copied.rows_in_source(), "a text file keeps its f32 copy");
    assert_eq!(in_place.len(), copied.len());
    assert!(in_place.len() < 140_000, "duplicates were dropped");
    assert!(in_place.verify().unwrap().is_intact());
    // No f32 copy: the index is smaller than the text file's by about that copy (24 f32 a row,
    // less the 8-byte offset kept instead). Both keep the rest, the norms too (schema 6), so a
    // ratio of the two sizes would say less.
    let saved = copied.disk_size() as f64 - in_place.disk_size() as f64;
    let copy = (in_place.len() * (24 * 4 - 8)) as f64;
    assert!(
        saved > 0.8 * copy,
        "{} vs {} bytes",
        in_place.disk_size(),
        copied.disk_size()
    );

    let unit = copied.unit_rows().unwrap();
    let n = in_place.len();
    for id in [0u32, 1, 5, 9, 10, 65_535, 65_536, 100_000, n as u32 - 1] {
        let a = in_place.vector(id).unwrap().into_owned();
        let b = copied.vector(id).unwrap().into_owned();
        assert_eq!(a, b, "row {id}");
        let ex = [id];
        let q = query(&a, &ex, n);
        let got = in_place.exact_top_k(&q).unwrap();
        assert_eq!(got, copied.exact_top_k(&q).unwrap(), "query {id}");
        assert_eq!(got, brute_force_top_k(&unit, &q), "query {id}");
    }
    // A whole-table read (evaluations, builds) gives the same rows too.
    let all = in_place.unit_rows().unwrap();
    for id in (0..n).step_by(4_999) {
        assert_eq!(all.row(id), unit.row(id));
    }
    drop((in_place, copied));
    let (again, origin) = Store::open(&bin, &opts(&cache), &Silent).unwrap();
    assert_eq!(origin, Origin::Reused);
    assert!(again.rows_in_source());
    let v = again.vector(3).unwrap().into_owned();
    assert_eq!(again.exact_top_k(&query(&v, &[3], n)).unwrap().len(), 10);
}

#[test]
fn a_source_truncated_or_rewritten_under_an_open_store_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let (bin, _) = write_pair(tmp.path(), 3_000, 16);
    let cache = tmp.path().join("cache");
    let (store, _) = Store::open(&bin, &opts(&cache), &Silent).unwrap();
    let v = store.vector(7).unwrap().into_owned();
    let n = store.len();
    assert!(store.exact_top_k(&query(&v, &[7], n)).is_ok());

    // Truncated to half: reads past the end fail; the error names the source.
    let len = std::fs::metadata(&bin).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&bin).unwrap();
    file.set_len(len / 2).unwrap();
    let err = store
        .exact_top_k(&query(&v, &[7], n))
        .unwrap_err()
        .to_string();
    assert!(err.contains("v.bin"), "{err}");
    assert!(store.unit_row(n as u32 - 1).is_err());
    assert!(store.vector(n as u32 - 1).is_none());
    assert!(store.unit_rows().is_err());

    // Restored to its length with other bytes (same size, rewritten in place): also refused,
    // rather than answering from rows that are no longer the indexed ones.
    let mut file = file;
    file.set_len(len).unwrap();
    file.seek(SeekFrom::Start(len / 2)).unwrap();
    file.write_all(&vec![0x3f; (len - len / 2) as usize])
        .unwrap();
    drop(file);
    let err = store.unit_row(n as u32 - 1).unwrap_err().to_string();
    assert!(err.contains("changed"), "{err}");
    drop(store);

    // The next open sees a different file and reads it again: here that is garbage, which is
    // a loader error with its place, not the old index's answers.
    let err = Store::open(&bin, &opts(&cache), &Silent)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("v.bin"), "{err}");
}

#[test]
fn an_index_dir_shared_by_a_copy_reads_the_copy_it_was_opened_with() {
    let tmp = tempfile::tempdir().unwrap();
    let (bin, _) = write_pair(tmp.path(), 2_000, 8);
    let index = tmp.path().join("idx");
    let o = OpenOptions {
        index_dir: Some(index.clone()),
        ..Default::default()
    };
    let (store, _) = Store::open(&bin, &o, &Silent).unwrap();
    let want = store.vector(11).unwrap().into_owned();
    drop(store);
    // The same content under another name; the original is gone.
    let copy = tmp.path().join("copy.bin");
    std::fs::rename(&bin, &copy).unwrap();
    let (store, origin) = Store::open(&copy, &o, &Silent).unwrap();
    assert_eq!(origin, Origin::Reused);
    assert_eq!(store.vector(11).unwrap().into_owned(), want);
    let n = store.len();
    assert_eq!(
        store.exact_top_k(&query(&want, &[11], n)).unwrap().len(),
        10
    );
}

#[test]
fn the_forest_and_the_lists_over_rows_read_in_place_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let (bin, _) = write_pair(tmp.path(), 4_000, 16);
    let cache = tmp.path().join("cache");
    let o = OpenOptions {
        writable: true,
        ..opts(&cache)
    };
    let (store, _) = Store::open(&bin, &o, &Silent).unwrap();
    let no = std::sync::atomic::AtomicBool::new(false);
    store.build_forest(4, &Silent, &no).unwrap();
    store.build_lists(&Silent, &no).unwrap();
    let v = store.vector(21).unwrap().into_owned();
    let n = store.len();
    let exact = store.exact_top_k(&query(&v, &[21], n)).unwrap();
    for kind in [ApproxKind::Forest, ApproxKind::Lists] {
        let params = ApproxParams {
            kind,
            ..ApproxParams::default()
        };
        let approx = store
            .approx_top_k(&query(&v, &[21], n), &params)
            .unwrap()
            .unwrap();
        assert!(!approx.is_empty(), "{kind:?}");
        // The candidates are rescored from the source: the same scores as exact's.
        for hit in &approx {
            if let Some(e) = exact.iter().find(|e| e.id == hit.id) {
                assert_eq!(e.score, hit.score, "{kind:?}");
            }
        }
    }
    assert!(store.verify().unwrap().is_intact());
}

/// Found by hand in a session: after the source was truncated, a word's vector failed to read
/// and the evaluator's "ids from the table have vectors" expectation panicked. Every kind of
/// line is now an error at its span, and the session goes on.
#[test]
fn a_session_over_a_truncated_source_gives_errors_not_panics() {
    use vecsh::eval::{Session, Settings};
    let tmp = tempfile::tempdir().unwrap();
    let (bin, _) = write_pair(tmp.path(), 3_000, 16);
    let cache = tmp.path().join("cache");
    let (store, _) = Store::open(&bin, &opts(&cache), &Silent).unwrap();
    let mut s = Session::new(&store, Settings::default());
    assert!(s.run_line("w1 - w2 + w3").is_ok());
    let len = std::fs::metadata(&bin).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&bin)
        .unwrap()
        .set_len(len / 3)
        .unwrap();
    for line in [
        "w1",
        "w1 - w2 + w3",
        "w2 : w1 :: w3 : ?",
        "sim(w1, w2)",
        "odd(w1, w2, w3)",
        "cosmul(w1 - w2 + w3)",
        "plot(w1, w2, w3)",
        "x = w1 + w2",
    ] {
        let err = s
            .run_line(line)
            .err()
            .unwrap_or_else(|| panic!("{line} answered"));
        assert!(err.message.contains("v.bin"), "{line}: {}", err.message);
    }
    assert!(s.run_line("2 + 3").is_ok());
}

/// The principal-component stage of rows read in place (built chunk by chunk from the source)
/// is the text copy's, byte for byte, over several chunks, and answers the same.
#[test]
fn the_stage_of_rows_read_in_place_is_the_f32_copys() {
    let tmp = tempfile::tempdir().unwrap();
    // Two chunks of 65,536 rows (72,728 words), 128 d (the stage's floor), in 300 loose
    // clusters so that the stage prunes (the build keeps it only then).
    let hash = |x: usize| {
        let mut z = (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z ^= z >> 29;
        z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        ((z >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let value = |i: usize, d: usize| hash((i % 300) * 131 + d) + 0.3 * hash(i * 1_000 + d + 7);
    let (bin, txt) = write_pair_of(tmp.path(), 80_000, 128, value);
    let staged = OpenOptions {
        exact_stage: true,
        pc_min_rows: Some(1000),
        ..opts(&tmp.path().join("cache"))
    };
    let (in_place, _) = Store::open(&bin, &staged, &Silent).unwrap();
    let (copied, _) = Store::open(&txt, &staged, &Silent).unwrap();
    assert!(in_place.rows_in_source() && !copied.rows_in_source());
    let (a, b) = (
        in_place.pc_stage().expect("a stage for the .bin"),
        copied.pc_stage().expect("a stage for the text"),
    );
    assert_eq!((a.p, a.rows.len), (b.p, b.rows.len));
    assert_eq!(a.basis, b.basis);
    assert_eq!(a.rows.chunks.len(), 2);
    for c in 0..a.rows.chunks.len() {
        assert_eq!(a.rows.chunks[c], b.rows.chunks[c], "chunk {c}: rows");
        assert_eq!(a.scales.chunks[c], b.scales.chunks[c], "chunk {c}: scales");
        assert_eq!(
            a.resid.chunks[c], b.resid.chunks[c],
            "chunk {c}: residual bounds"
        );
    }
    let n = in_place.len();
    for id in [0u32, 4_999, 65_540, 69_000] {
        let v = in_place.vector(id).unwrap().to_vec();
        let exclude = [id];
        let got = in_place.exact_top_k(&query(&v, &exclude, n)).unwrap();
        assert_eq!(
            got,
            copied.exact_top_k(&query(&v, &exclude, n)).unwrap(),
            "row {id}"
        );
    }
}

/// A source replaced by a rename under an open store (`mv new.bin v.bin`): the store keeps
/// answering from the file it opened, and says once that the path names another file now.
/// The file it holds must not change after that.
#[test]
fn a_source_replaced_by_a_rename_keeps_the_file_it_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let (bin, _) = write_pair(tmp.path(), 3_000, 16);
    let cache = tmp.path().join("cache");
    let (store, _) = Store::open(&bin, &opts(&cache), &Silent).unwrap();
    let v = store.vector(7).unwrap().into_owned();
    let n = store.len();
    let before = store.exact_top_k(&query(&v, &[7], n)).unwrap();
    assert_eq!(store.take_source_note(), None);
    let held = std::fs::File::options().write(true).open(&bin).unwrap();
    // Another file of the same size, renamed over the path.
    let other = tmp.path().join("other.bin");
    let mut bytes = std::fs::read(&bin).unwrap();
    let len = bytes.len();
    bytes[len / 2..].iter_mut().for_each(|b| *b = 0x3f);
    std::fs::write(&other, &bytes).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::rename(&other, &bin).unwrap();
    let after = store.exact_top_k(&query(&v, &[7], n)).unwrap();
    assert_eq!(after, before);
    assert!(store.vector(n as u32 - 1).is_some());
    let note = store.take_source_note().expect("said once");
    assert!(
        note.contains("v.bin") && note.contains("another file"),
        "{note}"
    );
    assert_eq!(store.take_source_note(), None);
    // The file it holds, written through a descriptor opened before: an error, as before.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let mut held = held;
    held.seek(SeekFrom::Start(len as u64 / 2)).unwrap();
    held.write_all(&[0x3f; 64]).unwrap();
    drop(held);
    let err = store.unit_row(n as u32 - 1).unwrap_err().to_string();
    assert!(err.contains("changed"), "{err}");
}
