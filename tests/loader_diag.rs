//! Loader diagnoses (issue 10): inputs that were misdiagnosed, accepted wrongly or hung.
//! Each test failed on the loader before the fix.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use vecsh::loader::{load, Batch, Format, LoadError, LoadOptions, LoadReport};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn load_words(path: &Path, opts: &LoadOptions) -> Result<(LoadReport, Vec<String>), LoadError> {
    let mut words = Vec::new();
    let report = load(path, opts, &|_, _| {}, &mut |batch: Batch| {
        words.extend(batch.words);
        Ok(())
    })?;
    Ok((report, words))
}

fn error_of(bytes: &[u8], opts: &LoadOptions) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), "e.txt", bytes);
    match load_words(&path, opts) {
        Ok((_, words)) => panic!("accepted: {words:?}"),
        Err(e) => e.to_string().replace(&*tmp.path().to_string_lossy(), "DIR"),
    }
}

#[test]
fn ragged_glove_rows_are_errors_with_their_line() {
    let e = error_of(b"a 1 2\nb 3 4 5\n", &LoadOptions::default());
    assert!(e.starts_with("DIR/e.txt:2: "), "{e}");
    assert!(e.contains("3 values") && e.contains("expected 2"), "{e}");
    let e = error_of(b"2 2\na 1 2\nb 3 4 5\n", &LoadOptions::default());
    assert!(e.starts_with("DIR/e.txt:3: "), "{e}");
}

#[test]
fn words_with_spaces_still_load_and_are_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let path = write(tmp.path(), "s.txt", b"a 1 2\nnew york 3 4\nat&t inc. 5 6\n");
    let (report, words) = load_words(&path, &LoadOptions::default()).unwrap();
    assert_eq!(words, ["a", "new york", "at&t inc."]);
    assert_eq!(report.spaced_words, 2);
    assert_eq!(report.spaced_examples, ["new york", "at&t inc."]);
}

#[test]
fn forcing_glove_on_a_word2vec_header_says_so() {
    let opts = LoadOptions {
        format: Some(Format::Glove),
        ..Default::default()
    };
    let e = error_of(b"2 3\na 1 2 3\nb 4 5 6\n", &opts);
    assert!(
        e.contains("word2vec header") && e.contains("--format w2v-text"),
        "{e}"
    );
}

#[test]
fn one_dimension_limit_for_headers_and_rows() {
    let mut row = b"a".to_vec();
    for _ in 0..(1 << 20) + 1 {
        row.extend_from_slice(b" 0");
    }
    row.push(b'\n');
    let e = error_of(&row, &LoadOptions::default());
    assert!(e.contains("1048577 values") && e.contains("1048576"), "{e}");
}

#[test]
fn utf16_files_say_convert_with_iconv() {
    let text = "a 1 2\nb 3 4\n";
    let mut le = vec![0xff, 0xfe];
    le.extend(text.encode_utf16().flat_map(|u| u.to_le_bytes()));
    let mut be_no_bom = Vec::new();
    be_no_bom.extend(text.encode_utf16().flat_map(|u| u.to_be_bytes()));
    for bytes in [le, be_no_bom] {
        let e = error_of(&bytes, &LoadOptions::default());
        assert!(
            e.contains("UTF-16") && e.contains("iconv -f UTF-16 -t UTF-8"),
            "{e}"
        );
    }
}

#[test]
fn a_header_smaller_than_the_rows_suggests_limit() {
    let e = error_of(b"1 2\na 1 2\nb 3 4\n", &LoadOptions::default());
    assert!(e.contains("--limit 1"), "{e}");
}

#[test]
fn a_binary_file_whose_first_word_is_empty() {
    let mut bytes = b"2 2\n ".to_vec();
    bytes.extend_from_slice(&1f32.to_le_bytes());
    bytes.extend_from_slice(&2f32.to_le_bytes());
    bytes.extend_from_slice(b"\nb ");
    bytes.extend_from_slice(&3f32.to_le_bytes());
    bytes.extend_from_slice(&4f32.to_le_bytes());
    let e = error_of(&bytes, &LoadOptions::default());
    assert!(
        e.contains("byte offset 4") && e.contains("empty word"),
        "{e}"
    );
}

#[test]
fn file_bytes_in_errors_are_escaped() {
    let e = error_of(b"a 1 2\nb 3 \x1b[31mx\n", &LoadOptions::default());
    assert!(!e.contains('\x1b'), "{e:?}");
    assert!(e.contains("\\e[31mx"), "{e}");
}

#[test]
fn an_os_error_is_printed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("vecsh")
        .unwrap()
        .env("VECSH_CACHE", tmp.path())
        .arg(tmp.path().join("missing.txt"))
        .args(["-e", "a"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    let gz = write(
        tmp.path(),
        "bad.txt.gz",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage!",
    );
    let out = Command::cargo_bin("vecsh")
        .unwrap()
        .env("VECSH_CACHE", tmp.path().join("c"))
        .arg(&gz)
        .args(["-e", "a"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.lines().count() == 1, "{err}");
    let msg = err.trim_end();
    let tail = msg.rsplit(": ").next().unwrap();
    assert_eq!(msg.matches(tail).count(), 1, "{err}");
}

fn vecsh(cache: &Path) -> Command {
    let mut cmd = crate::util::vecsh(cache);
    cmd.timeout(Duration::from_secs(20));
    cmd
}

#[test]
fn a_fifo_without_a_writer_does_not_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("f");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let out = vecsh(&tmp.path().join("c"))
        .arg(&fifo)
        .args(["-e", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty"));
}

#[test]
fn a_process_substitution_is_read_as_a_stream_into_a_temporary_index() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("c");
    let src = write(tmp.path(), "v.txt", b"a 1 2\nb 3 4\nc -1 0.5\n");
    let bin = assert_cmd::cargo::cargo_bin("vecsh");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} <(cat {}) -e a -k 1 && {} <(gzip -c {}) -e a -k 1",
            bin.display(),
            src.display(),
            bin.display(),
            src.display()
        ))
        .env("VECSH_CACHE", &cache)
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches(" b ").count(), 2, "{text}");
    let left: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "v.txt" && n != "c")
        .collect();
    assert!(left.is_empty(), "temporary index left behind: {left:?}");
    assert!(!cache.exists() || std::fs::read_dir(&cache).unwrap().next().is_none());
}

#[test]
fn dev_zero_is_not_an_empty_file_and_does_not_hang() {
    let tmp = tempfile::tempdir().unwrap();
    let out = vecsh(&tmp.path().join("c"))
        .env("TMPDIR", tmp.path())
        .arg("/dev/zero")
        .args(["-e", "a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("empty file"), "{err}");
    assert!(err.contains("NUL"), "{err}");
}

/// A stream without line ends (a first line, or a later one, longer than 64 MiB) is an error
/// that says so, never a read of the whole stream into one line. (A plain file is mapped, not
/// copied line by line: its long line is an ordinary row error.)
#[test]
fn a_line_without_an_end_stops_at_64_mib() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("vecsh");
    let endless = "head -c 100000000 /dev/zero | tr '\\0' a";
    for stream in [endless.to_string(), format!("printf 'w 1 2\\n'; {endless}")] {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("{} <({stream}) -e w", bin.display()))
            .env("VECSH_CACHE", tmp.path().join("c"))
            .env("TMPDIR", tmp.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no line end in the first 67108864 bytes"),
            "{err}"
        );
    }
}
