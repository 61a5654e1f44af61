//! `vecsh export`'s output file: never the input (through links), written aside and renamed into
//! place, an existing file replaced only with `--force`, a directory refused, stdout without `-o`.

use std::path::Path;

use crate::util::{tiny, vecsh};

/// A copy of tiny.txt in `dir`, so that a test may lose it without harm.
fn input(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("in.txt");
    std::fs::copy(tiny(), &path).unwrap();
    path
}

/// Only these names are in `dir` (no temporary file left behind).
fn holds_only(dir: &Path, names: &[&str]) {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "cache")
        .collect();
    found.sort();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(found, want);
}

/// `-o F` where F is the input, by its name, through a symbolic link or a hard link: refused
/// before anything is opened for writing, even with `--force`; the input keeps every byte.
#[test]
fn the_output_is_never_the_input() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let src = input(tmp.path());
    let before = std::fs::read(&src).unwrap();
    std::os::unix::fs::symlink(&src, tmp.path().join("link.txt")).unwrap();
    std::fs::hard_link(&src, tmp.path().join("hard.txt")).unwrap();
    for out in ["in.txt", "./in.txt", "link.txt", "hard.txt"] {
        for force in [false, true] {
            let mut cmd = vecsh(&cache);
            cmd.current_dir(tmp.path())
                .args(["export", "in.txt", "-o", out]);
            if force {
                cmd.arg("--force");
            }
            let err = cmd.assert().failure().code(2).get_output().stderr.clone();
            let err = String::from_utf8_lossy(&err);
            assert!(err.contains("is the input file"), "{out} {force}: {err}");
            assert_eq!(std::fs::read(&src).unwrap(), before, "{out} {force}");
        }
    }
    holds_only(tmp.path(), &["in.txt", "link.txt", "hard.txt"]);
}

/// An existing output is replaced only with `--force`, and then as a whole (renamed into place:
/// a new inode, never the old file truncated).
#[test]
fn an_existing_output_needs_force() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    input(tmp.path());
    let out = tmp.path().join("out.txt");
    std::fs::write(&out, "keep me\n").unwrap();
    let err = vecsh(&cache)
        .current_dir(tmp.path())
        .args(["export", "in.txt", "-o", "out.txt"])
        .assert()
        .failure()
        .code(2)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8_lossy(&err);
    assert!(
        err.contains("out.txt exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "keep me\n");
    // Someone still reading the old file keeps reading the old bytes.
    let old = std::fs::File::open(&out).unwrap();
    vecsh(&cache)
        .current_dir(tmp.path())
        .args(["export", "in.txt", "-o", "out.txt", "--force"])
        .assert()
        .success();
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("man 1 0 0\n"), "{text}");
    assert_eq!(text.lines().count(), 9);
    let mut kept = String::new();
    std::io::Read::read_to_string(&mut &old, &mut kept).unwrap();
    assert_eq!(kept, "keep me\n");
    holds_only(tmp.path(), &["in.txt", "out.txt"]);
}

/// A new output is written (gzipped for .gz) and nothing else is left beside it.
#[test]
fn a_new_output_is_written_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    input(tmp.path());
    vecsh(&cache)
        .current_dir(tmp.path())
        .args(["export", "in.txt", "-o", "out.txt.gz"])
        .assert()
        .success();
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(
            std::fs::File::open(tmp.path().join("out.txt.gz")).unwrap(),
        ),
        &mut text,
    )
    .unwrap();
    assert_eq!(text.lines().count(), 9);
    holds_only(tmp.path(), &["in.txt", "out.txt.gz"]);
}

/// `-o DIR` is an error naming the directory; nothing is written into it.
#[test]
fn a_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    input(tmp.path());
    std::fs::create_dir(tmp.path().join("outdir")).unwrap();
    for force in [false, true] {
        let mut cmd = vecsh(&cache);
        cmd.current_dir(tmp.path())
            .args(["export", "in.txt", "-o", "outdir"]);
        if force {
            cmd.arg("--force");
        }
        let err = cmd.assert().failure().code(2).get_output().stderr.clone();
        let err = String::from_utf8_lossy(&err);
        assert!(err.contains("outdir is a directory"), "{err}");
    }
    assert_eq!(
        std::fs::read_dir(tmp.path().join("outdir"))
            .unwrap()
            .count(),
        0
    );
    holds_only(tmp.path(), &["in.txt", "outdir"]);
}

/// Without `-o`, the rows go to standard output, as Unix tools do (`-o -` too).
#[test]
fn without_output_it_writes_to_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    input(tmp.path());
    let out = vecsh(&cache)
        .current_dir(tmp.path())
        .args(["export", "in.txt"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.starts_with("man 1 0 0\n"), "{stdout}");
    assert_eq!(stdout.lines().count(), 9);
    holds_only(tmp.path(), &["in.txt"]);
}

/// A failed export (the input cannot be read) leaves no output and no temporary file behind.
#[test]
fn a_failed_export_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    std::fs::write(tmp.path().join("bad.txt"), "a 1 2\nb 1\n").unwrap();
    vecsh(&cache)
        .current_dir(tmp.path())
        .args(["export", "bad.txt", "-o", "out.txt"])
        .assert()
        .failure();
    holds_only(tmp.path(), &["bad.txt"]);
}

/// `vecsh export F >> F`: standard output is the input file, refused before a byte is written.
#[test]
fn standard_output_that_is_the_input_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let src = input(tmp.path());
    let before = std::fs::read(&src).unwrap();
    let appended = std::fs::File::options().append(true).open(&src).unwrap();
    let out = crate::util::vecsh_process(&cache)
        .current_dir(tmp.path())
        .args(["export", "in.txt"])
        .stdout(appended)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("standard output is the input file"), "{err}");
    assert_eq!(std::fs::read(&src).unwrap(), before);
}
