//! Issue 27's several spaces against a hostile tester's findings (/work/coord/findings27.md in
//! the stop that made them): `:align` with a number of words below the dimensions, an `--also`
//! argument that is a file with `=` in its name, a model directory given where a script goes.
//! Each test failed on the code before its fix.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::util::run;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/compare")
        .join(name)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn vecsh(args: &[&str]) -> (bool, String, String) {
    let cache = TempDir::new().unwrap();
    run(cache.path(), args)
}

/// Finding 1: `:align a r 1` said the spaces "share 1 words" (they share 60), and `0` was "not a
/// number"; the message says N is below the dimensions and how many words they share.
#[test]
fn align_with_fewer_words_than_dimensions_says_so_and_how_many_are_shared() {
    let (a, r) = (s(&fixture("a.txt")), s(&fixture("r.txt")));
    for n in ["1", "0"] {
        let out = vecsh(&[&a, "--also", &r, "-e", &format!(":align a r {n}")]);
        assert!(!out.0, "{}", out.1);
        assert!(
            out.2.contains(&format!("N = {n}")) && out.2.contains("at least 8"),
            "{n}: {}",
            out.2
        );
        assert!(out.2.contains("they share 60 words"), "{n}: {}", out.2);
        assert!(!out.2.contains("1 words"), "{}", out.2);
    }
    // a number too large for any count means every shared word
    let out = vecsh(&[&a, "--also", &r, "-e", ":align a r 99999999999999999999999"]);
    assert!(out.0, "{}", out.2);
    assert!(out.1.contains("60"), "{}", out.1);
}

/// Finding 3: `--also a=b.txt` when a file `a=b.txt` exists read `b.txt` and failed with the OS's
/// "No such file"; it names the file and says how to open it.
#[test]
fn also_name_equals_file_that_is_itself_a_file_gets_a_hint() {
    let tmp = TempDir::new().unwrap();
    std::fs::copy(fixture("b.txt"), tmp.path().join("x=b.txt")).unwrap();
    let out = crate::util::vecsh(&tmp.path().join("cache"))
        .current_dir(tmp.path())
        .args([&s(&fixture("a.txt")), "--also", "x=b.txt", "-e", ":use"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--also ./x=b.txt"), "{err}");
    assert!(!err.contains("os error"), "{err}");
}

/// Finding 7: a model directory where a script goes (`vecsh FILE DIR`) was the OS's "Is a
/// directory (os error 21)"; it is the `--also` hint that files get.
#[test]
fn a_model_directory_as_the_script_gets_the_also_hint() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/wordpiece");
    let out = vecsh(&[&s(&fixture("a.txt")), &s(&model)]);
    assert!(!out.0);
    assert!(out.2.contains("did you mean --also"), "{}", out.2);
    assert!(!out.2.contains("os error"), "{}", out.2);
    let out = vecsh(&[&s(&fixture("a.txt")), env!("CARGO_MANIFEST_DIR")]);
    assert!(!out.0);
    assert!(out.2.contains("a directory, not a script"), "{}", out.2);
    assert!(!out.2.contains("os error"), "{}", out.2);
}

/// Finding 2: `in(c, sim(x, y))` computed c's similarity and then refused it ("expected a vector
/// here, found the number …"); a number computed in a space is that space's answer.
#[test]
fn a_number_computed_in_a_space_is_its_answer() {
    let (a, c) = (s(&fixture("a.txt")), s(&fixture("c.txt")));
    let words = std::fs::read_to_string(fixture("c.txt")).unwrap();
    let mut words = words.lines().map(|l| l.split(' ').next().unwrap());
    let (x, y) = (words.next().unwrap(), words.next().unwrap());
    let inside = vecsh(&[&a, "--also", &c, "-e", &format!("in(c, sim({x}, {y}))")]);
    assert!(inside.0, "{}", inside.2);
    let outside = vecsh(&[
        &a,
        "--also",
        &c,
        "-e",
        &format!("sim(in(c, {x}), in(c, {y}))"),
    ]);
    assert!(outside.0, "{}", outside.2);
    assert_eq!(inside.1, outside.1);
    let there = vecsh(&[&c, "-e", &format!("2 * sim({x}, {y})")]);
    let nested = vecsh(&[&a, "--also", &c, "-e", &format!("2 * in(c, sim({x}, {y}))")]);
    assert!(nested.0, "{}", nested.2);
    assert_eq!(nested.1, there.1);
}

/// Finding 9: `compare` over five spaces on an 80-column terminal cut every word to 4–5 letters
/// (`europ…`); words are the point of the table, so each space gets its own block instead.
#[test]
fn compare_over_many_spaces_never_cuts_words_to_a_few_letters() {
    let tmp = TempDir::new().unwrap();
    let words: Vec<String> = (0..12)
        .map(|i| format!("internationalisation_{i:02}"))
        .collect();
    let mut files = Vec::new();
    for f in 0..5 {
        let path = tmp.path().join(format!("space{f}.txt"));
        let text: String = words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let v: Vec<String> = (0..4)
                    .map(|d| format!("{:.3}", ((i * 7 + d * 3 + f) % 11) as f32 - 5.0))
                    .collect();
                format!("{w} {}\n", v.join(" "))
            })
            .collect();
        std::fs::write(&path, text).unwrap();
        files.push(s(&path));
    }
    let mut args: Vec<&str> = vec![&files[0]];
    for f in &files[1..] {
        args.extend(["--also", f]);
    }
    args.extend(["-k", "3", "-e", "compare(internationalisation_00)"]);
    let out = vecsh(&args);
    assert!(out.0, "{}", out.2);
    assert!(!out.1.contains('…'), "a word was cut:\n{}", out.1);
    // the table's lines (the pairs' sentences below it are prose, wrapped by the terminal)
    for line in out.1.lines().filter(|l| !l.contains(" ~ ")) {
        assert!(
            line.chars().count() <= 80,
            "wider than the terminal: {line}"
        );
    }
    // two spaces still fit side by side
    let out = vecsh(&[
        &files[0],
        "--also",
        &files[1],
        "-k",
        "3",
        "-e",
        "compare(internationalisation_00)",
    ]);
    assert!(out.0, "{}", out.2);
    assert!(
        out.1.lines().next().unwrap().contains("space0")
            && out.1.lines().next().unwrap().contains("space1"),
        "{}",
        out.1
    );
}

/// Finding 22: a source truncated while it was read killed the process with SIGBUS (in a
/// session, every space and alignment with it): GloVe text, word2vec text and binary. The load
/// is now an error saying the file shrank, and nothing is kept. The sink truncates the file at
/// its first batch, so the rest of the read meets pages that are gone.
#[test]
fn a_source_truncated_while_it_is_read_is_an_error_not_a_sigbus() {
    let tmp = TempDir::new().unwrap();
    let text = tmp.path().join("big.txt");
    let bin = tmp.path().join("big.bin");
    crate::util::write_glove_random(tmp.path(), "big.txt", 60_000, 50);
    crate::util::write_w2v_bin(tmp.path(), "big.bin", 60_000, 50);
    for path in [&text, &bin] {
        let len = std::fs::metadata(path).unwrap().len();
        let mut first = true;
        let got = vecsh::loader::load(
            path,
            &vecsh::loader::LoadOptions::default(),
            &|_, _| {},
            &mut |_batch| {
                if std::mem::take(&mut first) {
                    std::fs::File::options()
                        .write(true)
                        .open(path)
                        .unwrap()
                        .set_len(len / 10)
                        .unwrap();
                }
                Ok(())
            },
        );
        let err = got
            .err()
            .unwrap_or_else(|| panic!("{} loaded", path.display()));
        assert!(
            err.to_string().contains("shrank while it was read"),
            "{err}"
        );
    }
}
