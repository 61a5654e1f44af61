//! Issue 27's several spaces against a hostile tester's findings (/work/coord/findings27.md in
//! the stop that made them): `:align` with a number of words below the dimensions, an `--also`
//! argument that is a file with `=` in its name, a model directory given where a script goes.
//! Each test failed on the code before its fix.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use tempfile::TempDir;
use vecsh::eval::{Session, Settings, Value};
use vecsh::index::Store;

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

/// A session of `file` (its store open before anything else is read) fed `before`, then `between`
/// runs, then `after`: stdout and stderr of the whole run.
fn session_with_pause(
    cache: &Path,
    args: &[&str],
    before: &str,
    between: impl FnOnce(),
    after: &str,
) -> (String, String) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut child = crate::util::vecsh_process(cache)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // `:use` answers one line a space: once read, the session's stores are open.
    writeln!(stdin, "{before}").unwrap();
    stdin.flush().unwrap();
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    between();
    writeln!(stdin, "{after}").unwrap();
    drop(stdin);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    (first + &rest, err)
}

/// Finding 23: with the cache directory deleted under a session, every `:open` was taken for the
/// file already open (two missing index directories compared equal), so a 4-d file answered with
/// the 8-d FILE's vectors; it opens as itself.
#[test]
fn open_after_the_cache_is_deleted_opens_the_new_file() {
    let tmp = TempDir::new().unwrap();
    let cache = tmp.path().join("cache");
    let (a, c) = (s(&fixture("a.txt")), s(&fixture("c.txt")));
    let (out, err) = session_with_pause(
        &cache,
        &["-q", &a],
        ":use",
        || std::fs::remove_dir_all(&cache).unwrap(),
        &format!(":open {c}\n:use"),
    );
    assert!(!out.contains("already open"), "{out}\n{err}");
    assert!(out.contains("20 words × 4 dims"), "{out}\n{err}");
    // the file already open, by its own path, is still one store
    let (out, err) = session_with_pause(
        &cache,
        &["-q", &a],
        ":use",
        || std::fs::remove_dir_all(&cache).unwrap(),
        &format!(":open {a} as again"),
    );
    assert!(out.contains("already open"), "{out}\n{err}");
}

/// Finding 15: `:open FILE` after FILE was rewritten handed back the old store under the new
/// name (the old vectors, the old dimensions); it says the file changed instead.
#[test]
fn open_of_a_file_changed_since_it_opened_is_not_the_old_store() {
    let tmp = TempDir::new().unwrap();
    let file = tmp.path().join("epoch.txt");
    std::fs::copy(fixture("a.txt"), &file).unwrap();
    let (out, err) = session_with_pause(
        &tmp.path().join("cache"),
        &["-q", &s(&file)],
        ":use",
        || {
            // a new mtime even on coarse clocks
            std::thread::sleep(std::time::Duration::from_millis(20));
            std::fs::copy(fixture("c.txt"), &file).unwrap();
        },
        &format!(":open {} as e2\n:use", s(&file)),
    );
    assert!(!out.contains("already open"), "{out}\n{err}");
    assert!(
        out.contains("20 words × 4 dims") || err.contains("changed"),
        "{out}\n{err}"
    );
    assert!(
        !out.lines()
            .any(|l| l.contains("e2") && l.contains("8 dims")),
        "{out}\n{err}"
    );
}

/// Finding 16: `--index DIR` naming an `--also` file's own cache directory gave that space FILE's
/// vectors; the clash is an error that names the directory.
#[test]
fn also_file_whose_index_directory_is_files_index_is_refused() {
    let tmp = TempDir::new().unwrap();
    let cache = tmp.path().join("cache");
    let (c, r) = (s(&fixture("c.txt")), s(&fixture("r.txt")));
    assert!(run(&cache, &["-q", &r, "-e", ":use"]).0);
    let dir = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.is_dir()
                && p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("r.txt-")
        })
        .unwrap();
    let out = run(
        &cache,
        &["-q", "--index", &s(&dir), &c, "--also", &r, "-e", ":use"],
    );
    assert!(
        !out.1
            .lines()
            .any(|l| l.contains("r.txt") && l.contains("4 dims")),
        "{}",
        out.1
    );
    assert!(!out.0, "{}", out.1);
    assert!(out.2.contains("index directory"), "{}", out.2);
}

/// Finding 21 (hard link): a hard link to an open file was a second store with its own index;
/// it is the same file, so the same store.
#[test]
fn a_hard_link_to_an_open_file_is_the_same_store() {
    let tmp = TempDir::new().unwrap();
    let file = tmp.path().join("orig.txt");
    std::fs::copy(fixture("a.txt"), &file).unwrap();
    let link = tmp.path().join("link.txt");
    std::fs::hard_link(&file, &link).unwrap();
    let out = vecsh(&["-q", &s(&file), "-e", &format!(":open {}", s(&link))]);
    assert!(out.0, "{}", out.2);
    assert!(out.1.contains("already open"), "{}", out.1);
}

/// Finding 13: an empty list (a zero vector, `w00 - w00`, `:restrict` leaving nothing) was
/// reported as RBO 1.000 — perfect agreement — even beside Jaccard 0.000; an empty list's
/// agreement is undefined: "no agreement" with the reason, JSON null and `no_agreement`.
#[test]
fn compare_with_an_empty_list_reports_no_agreement() {
    let tmp = TempDir::new().unwrap();
    let z = tmp.path().join("z.txt");
    let mut text = "w00 0 0 0 0 0 0 0 0\n".to_string();
    for i in 1..6 {
        let v: Vec<String> = (0..8).map(|d| format!("{}", (i * 3 + d) % 7)).collect();
        text.push_str(&format!("w{i:02} {}\n", v.join(" ")));
    }
    std::fs::write(&z, text).unwrap();
    let (a, r) = (s(&fixture("a.txt")), s(&fixture("r.txt")));
    for (other, expr) in [(s(&z), "compare(w00)"), (r.clone(), "compare(w00 - w00)")] {
        let out = vecsh(&["-q", "-k", "3", &a, "--also", &other, "-e", expr]);
        assert!(out.0, "{}", out.2);
        assert!(!out.1.contains("1.000"), "{expr}:\n{}", out.1);
        assert!(out.1.contains("no agreement"), "{expr}:\n{}", out.1);
        assert!(out.1.contains("(no neighbours)"), "{expr}:\n{}", out.1);
        let out = vecsh(&["-q", "--json", "-k", "3", &a, "--also", &other, "-e", expr]);
        assert!(out.0, "{}", out.2);
        let v: serde_json::Value = serde_json::from_str(out.1.trim()).unwrap();
        let pair = &v["pairs"][0];
        assert!(pair["rbo"].is_null() && pair["jaccard"].is_null(), "{pair}");
        assert!(pair["no_agreement"].is_string(), "{pair}");
    }
    // a list cut to nothing by :restrict
    let out = vecsh(&[
        "-q",
        "-k",
        "3",
        &a,
        "--also",
        &r,
        "-e",
        ":restrict 1",
        "-e",
        "compare(w00)",
    ]);
    assert!(!out.1.contains("RBO 1.000"), "{}", out.1);
    assert!(
        out.1.contains("no agreement: 'a' found no neighbours"),
        "{}",
        out.1
    );
}

/// Finding 11: `k = 0` printed an empty numbered row and "Jaccard 1.000 … RBO 1.000"; compare
/// needs at least one neighbour and says so.
#[test]
fn compare_with_k_zero_is_refused() {
    let (a, r) = (s(&fixture("a.txt")), s(&fixture("r.txt")));
    let out = vecsh(&["-q", "-k", "0", &a, "--also", &r, "-e", "compare(w00)"]);
    assert!(!out.0, "{}", out.1);
    assert!(!out.1.contains("1.000"), "{}", out.1);
    assert!(out.2.contains("k = 0"), "{}", out.2);
}

/// A session over a.txt (named `a`) and r.txt (`r`) through the library, whose Ctrl-C flag is
/// `cancel`.
fn with_session(cancel: &'static std::sync::atomic::AtomicBool, check: impl FnOnce(&mut Session)) {
    let cache = TempDir::new().unwrap();
    let opts = crate::util::opts(cache.path());
    let (sa, _) = Store::open(&fixture("a.txt"), &opts, &vecsh::progress::Silent).unwrap();
    let (sr, _) = Store::open(&fixture("r.txt"), &opts, &vecsh::progress::Silent).unwrap();
    let mut session = Session::with_space(&sa, Settings::default(), "a".into(), None);
    session.add_space(Some("r".into()), fixture("r.txt"), Ok((sr, None)), false);
    session.set_cancel(cancel);
    check(&mut session);
}

/// Finding 5: a `:align` interrupted with Ctrl-C was installed anyway (the next `sim` across the
/// spaces was rotated, without the "not aligned" warning); interrupted, the alignment stays as
/// it was. Finding 6: the work checks the flag as it goes, so it stops at once.
#[test]
fn an_interrupted_align_leaves_the_alignment_as_it_was() {
    static RAISED: AtomicBool = AtomicBool::new(true);
    with_session(&RAISED, |session| {
        assert!(session.run_line(":align a r").is_err());
        assert!(session.spaces().alignment(0, 1).is_none());
        RAISED.store(false, Ordering::Relaxed);
        assert!(session.run_line(":align a r").is_ok());
        assert!(session.spaces().alignment(0, 1).is_some());
        // an interrupted re-alignment keeps the one before
        let before = session.spaces().alignment(0, 1).cloned();
        RAISED.store(true, Ordering::Relaxed);
        assert!(session.run_line(":align a r 20").is_err());
        assert_eq!(session.spaces().alignment(0, 1).cloned(), before);
    });
}

/// Finding 6: `compare` ran to its end through Ctrl-C (the flag was looked at only when the answer
/// was printed), and its count of the shared vocabulary, cut short, was cached all the same; it
/// stops on the flag, and the count is made whole later.
#[test]
fn an_interrupted_compare_stops_and_caches_no_count() {
    static RAISED: AtomicBool = AtomicBool::new(true);
    with_session(&RAISED, |session| {
        let err = session.run_line("compare(w00)").unwrap_err();
        assert!(err.message.contains("Ctrl-C"), "{}", err.message);
        RAISED.store(false, Ordering::Relaxed);
        let Ok(Value::Compare(c)) = session.run_line("compare(w00)") else {
            panic!("no comparison")
        };
        assert_eq!(c.pairs[0].shared_vocabulary, 60);
    });
}

/// Finding 14: Ctrl-C during `:open`'s index build printed "(Ctrl-C)", then the build ended
/// and the space opened and became active; the prompt is back at once, the space is not
/// opened (the build goes on in the background, silent, and its index is kept).
#[test]
fn ctrl_c_during_open_leaves_the_space_unopened() {
    use crate::util::{ask, expect, quit, write_glove_random, PROMPT};
    let tmp = TempDir::new().unwrap();
    let big = write_glove_random(tmp.path(), "big.txt", 150_000, 50);
    let mut p = crate::util::pty_session(
        &tmp.path().join("cache"),
        tmp.path(),
        &[fixture("a.txt").as_os_str(), "-k".as_ref(), "2".as_ref()],
        120_000,
    );
    expect(&mut p, PROMPT).expect("first prompt");
    p.send_line(&format!(":open {}", s(&big))).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let pressed = std::time::Instant::now();
    p.send_control('c').unwrap();
    let before = expect(&mut p, "(Ctrl-C)").unwrap();
    assert!(!before.contains("space big"), "it finished first: {before}");
    expect(&mut p, "not opened").unwrap();
    expect(&mut p, PROMPT).unwrap();
    assert!(
        pressed.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        pressed.elapsed()
    );
    // the session stays in `a`, without `big`
    p.send_line(":use").unwrap();
    let listed = expect(&mut p, PROMPT).unwrap();
    assert!(!listed.contains("big"), "{listed}");
    ask(&mut p, ":k 1", "k = 1");
    quit(p);
}

/// Finding 24: `vecsh FILE X` called any binary X (a program, random bytes, a fake zip) "an
/// embedding file" and suggested `--also X`, which then failed; the hint is given only when X
/// opens as embeddings, and other binary data is "neither a script nor an embedding file".
#[test]
fn binary_data_as_the_script_is_not_called_an_embedding_file() {
    let tmp = TempDir::new().unwrap();
    let a = s(&fixture("a.txt"));
    let mut noise = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..3000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.push((x >> 16) as u8);
    }
    noise[100] = 0;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("rnd.bin", noise),
        ("fake.zip", b"PK\x03\x04junk".to_vec()),
        ("prog", std::fs::read("/bin/ls").unwrap()),
    ];
    for (name, bytes) in cases {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = vecsh(&["-q", &a, &s(&path)]);
        assert!(!out.0, "{name}: {}", out.1);
        assert!(!out.2.contains("did you mean --also"), "{name}: {}", out.2);
        assert!(
            out.2.contains("neither a script nor an embedding file"),
            "{name}: {}",
            out.2
        );
    }
    // a real embedding file, gzipped, keeps the hint
    let gz = tmp.path().join("r.txt.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &std::fs::read(fixture("r.txt")).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let out = vecsh(&["-q", &a, &s(&gz)]);
    assert!(out.2.contains("did you mean --also"), "{}", out.2);
}

/// Finding 17: without FILE, `--format`/`--member`/`--limit`/`--index` (meant for an `--also`
/// file) hit the built-in vocabulary, with errors naming its cache copy; they are refused, said
/// to apply to FILE.
#[test]
fn file_flags_without_file_are_refused() {
    let r = s(&fixture("r.txt"));
    for flags in [
        &["--format", "w2v-bin"][..],
        &["--limit", "10"],
        &["--member", "x.txt"],
    ] {
        let mut args = vec!["-q"];
        args.extend_from_slice(flags);
        args.extend(["--also", &r, "-e", ":use"]);
        let out = vecsh(&args);
        assert!(!out.0, "{flags:?}: {}", out.1);
        assert!(
            out.2.contains(&format!("{} applies to FILE", flags[0])),
            "{flags:?}: {}",
            out.2
        );
        assert!(!out.2.contains("builtin"), "{flags:?}: {}", out.2);
    }
}

/// Finding 20 (`:vars`): a name bound while another space was active keeps answering in that
/// space, but `:vars` hid it (`y = king`); with several spaces open it names the space.
#[test]
fn vars_name_the_space_of_each_binding() {
    let (a, r) = (s(&fixture("a.txt")), s(&fixture("r.txt")));
    let out = vecsh(&[
        "-q",
        &a,
        "--also",
        &r,
        "-e",
        ":use r",
        "-e",
        "let y = w00",
        "-e",
        ":use a",
        "-e",
        "let z = w01",
        "-e",
        ":vars",
    ]);
    assert!(out.0, "{}", out.2);
    assert!(out.1.contains("y = w00 (r)"), "{}", out.1);
    assert!(out.1.contains("z = w01 (a)"), "{}", out.1);
    let out = vecsh(&[
        "-q",
        "--json",
        &a,
        "--also",
        &r,
        "-e",
        "let y = w00",
        "-e",
        ":vars",
    ]);
    assert!(
        out.1.contains(r#"{"name":"y","query":"w00","space":"a"}"#),
        "{}",
        out.1
    );
    // one space: as before
    let out = vecsh(&["-q", &a, "-e", "let y = w00", "-e", ":vars"]);
    assert_eq!(out.1.trim_end().lines().last().unwrap(), "y = w00");
}

/// Finding 8 (its `:info` part): while FILE's approximate-search lists were building in the
/// background, `:info` in another space said "lists building …" — FILE's build; each space's
/// `:info` reports its own state.
#[test]
fn info_of_another_space_does_not_show_files_build() {
    use vecsh::render::Renderer;
    use vecsh::settings::{Output, Resolved, Source};
    let cache = TempDir::new().unwrap();
    let resolved = Resolved {
        source: Source::File(fixture("a.txt")),
        typed: Some(fixture("a.txt")),
        also: vec![(None, fixture("r.txt"))],
        open: crate::util::opts(cache.path()),
        settings: Settings::default(),
        output: Output {
            json: false,
            renderer: Renderer {
                color: false,
                width: 100,
                terminal: false,
            },
            quiet: true,
            svg: None,
        },
    };
    let (store, _) =
        Store::open(&fixture("a.txt"), &resolved.open, &vecsh::progress::Silent).unwrap();
    let mut runner = vecsh::runner::Runner::new(&store, &resolved, false);
    runner.open_also(&resolved).unwrap();
    let building = || Some("training 1.0 s so far".to_string());
    let info = |runner: &mut vecsh::runner::Runner| {
        let mut out = Vec::new();
        runner.run(":info", None, &mut out, &building).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert!(
        info(&mut runner).contains("training 1.0 s"),
        "FILE's own build"
    );
    runner
        .run(":use r", None, &mut Vec::new(), &building)
        .unwrap();
    let shown = info(&mut runner);
    assert!(!shown.contains("training 1.0 s"), "{shown}");
}

/// Finding 18: a member of a multi-member zip could not be a second space (`--also`/`:open` said
/// "choose one with --member", which neither accepts); `ZIP::MEMBER` names it, and the error
/// says so.
#[test]
fn a_zip_member_opens_beside_file() {
    use std::io::Write;
    let tmp = TempDir::new().unwrap();
    let zip_path = tmp.path().join("two.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    for name in ["r.txt", "c.txt"] {
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&std::fs::read(fixture(name)).unwrap())
            .unwrap();
    }
    zip.finish().unwrap();
    let (a, z) = (s(&fixture("a.txt")), s(&zip_path));
    let out = vecsh(&["-q", &a, "--also", &z, "-e", ":use"]);
    assert!(!out.0);
    assert!(out.2.contains(&format!("{z}::r.txt")), "{}", out.2);
    assert!(out.2.contains("ZIP::MEMBER"), "{}", out.2);
    let member = format!("{z}::c.txt");
    let out = vecsh(&["-q", &a, "--also", &member, "-e", ":use"]);
    assert!(out.0, "{}", out.2);
    assert!(
        out.1
            .lines()
            .any(|l| l.contains("c ") && l.contains("20 words × 4 dims")),
        "{}",
        out.1
    );
    let out = vecsh(&[
        "-q",
        &a,
        "-e",
        &format!(":open {z}::r.txt as zr"),
        "-e",
        ":use",
    ]);
    assert!(out.0, "{}", out.2);
    assert!(out.1.contains("zr  60 words × 8 dims"), "{}", out.1);
}

/// Finding 21 (`:open` again): `:open FILE` of a file already open, without `as`, added another
/// name (`a-2`, `a-3`, … one per repeat); it makes the open space active.
#[test]
fn open_of_an_open_file_without_a_name_adds_no_name() {
    let (a, r) = (s(&fixture("a.txt")), s(&fixture("r.txt")));
    let out = vecsh(&[
        "-q",
        &a,
        "--also",
        &r,
        "-e",
        &format!(":open {a}"),
        "-e",
        &format!(":open {r}"),
        "-e",
        ":use",
    ]);
    assert!(out.0, "{}", out.2);
    assert!(
        !out.1.contains("a-2") && !out.1.contains("r-2"),
        "{}",
        out.1
    );
    assert!(
        out.1
            .contains("space r = 60 words × 8 dims (already open), active"),
        "{}",
        out.1
    );
    assert!(out.1.contains("* r "), "{}", out.1);
}

/// Finding 21 (`~`): `:open ~/x` did not expand `~` (there is no Tab completion for its paths,
/// so they are typed in full); a leading `~/` is the home directory, as in a shell.
#[test]
fn open_expands_a_leading_tilde() {
    let tmp = TempDir::new().unwrap();
    std::fs::copy(fixture("c.txt"), tmp.path().join("x.txt")).unwrap();
    let out = crate::util::vecsh(&tmp.path().join("cache"))
        .env("HOME", tmp.path())
        .args([
            "-q",
            &s(&fixture("a.txt")),
            "-e",
            ":open ~/x.txt",
            "-e",
            ":use",
        ])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("space x = 20 words × 4 dims"), "{stdout}");
}

/// Finding 21 (`-k` past the vocabulary): the pair line said "top-1000 Jaccard …" though the
/// lists held 59 words each; it says the lengths used.
#[test]
fn compare_says_the_list_lengths_when_k_exceeds_them() {
    let (a, c) = (s(&fixture("a.txt")), s(&fixture("c.txt")));
    let out = vecsh(&["-q", "-k", "1000", &a, "--also", &c, "-e", "compare(w00)"]);
    assert!(out.0, "{}", out.2);
    let pair = out.1.lines().find(|l| l.contains(" ~ ")).unwrap();
    assert!(pair.contains("lists of 59 and 19"), "{pair}");
    assert!(pair.contains("RBO over the first 19"), "{pair}");
}

/// Finding 21 (one space): a compare with FILE alone printed the `*`/`†` legend, with nothing that
/// could carry either mark; it says one space is open and how to add others.
#[test]
fn compare_with_one_space_says_how_to_add_others() {
    let out = vecsh(&["-q", "-k", "2", &s(&fixture("a.txt")), "-e", "compare(w00)"]);
    assert!(out.0, "{}", out.2);
    assert!(
        !out.1.contains("not in another space's vocabulary"),
        "{}",
        out.1
    );
    assert!(out.1.contains("one space open"), "{}", out.1);
}

/// Finding 21 (names): a name of combining marks only (`U+0345 U+0345`) was accepted and shown
/// as an invisible name; a name starts with a visible letter, digit or `_`.
#[test]
fn a_name_of_combining_marks_only_is_refused() {
    let arg = format!("\u{345}\u{345}={}", s(&fixture("r.txt")));
    let out = vecsh(&["-q", &s(&fixture("a.txt")), "--also", &arg, "-e", ":use"]);
    assert!(!out.0, "{}", out.1);
    let line = format!(":open {} as \u{345}\u{345}", s(&fixture("r.txt")));
    let out = vecsh(&["-q", &s(&fixture("a.txt")), "-e", &line, "-e", ":use"]);
    assert!(!out.0, "{}", out.1);
    assert!(out.2.contains("cannot name a space"), "{}", out.2);
    assert!(!out.1.contains("r.txt"), "{}", out.1);
}

/// Finding 19: under `--approx`, compare mixed search error into its overlap (two copies of the
/// same vectors "differed": Jaccard 0.333 with `--probes 1`); compare searches exactly in every
/// space, so identical vectors agree fully.
#[test]
fn compare_under_approx_searches_exactly() {
    let tmp = TempDir::new().unwrap();
    let cache = tmp.path().join("cache");
    let (g1, g2) = (tmp.path().join("g1.txt"), tmp.path().join("g2.txt"));
    std::fs::copy(fixture("g.txt"), &g1).unwrap();
    std::fs::copy(fixture("g.txt"), &g2).unwrap();
    assert!(run(&cache, &["build", "-q", &s(&g1)]).0);
    let words: Vec<String> = std::fs::read_to_string(&g1)
        .unwrap()
        .lines()
        .take(20)
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    let mut args: Vec<String> = ["-q", "--approx", "--probes", "1", "-k", "10"]
        .map(String::from)
        .to_vec();
    args.extend([s(&g1), "--also".into(), s(&g2)]);
    for w in &words {
        args.extend(["-e".into(), format!("compare({w})")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&cache, &args);
    assert!(out.0, "{}", out.2);
    for line in out.1.lines().filter(|l| l.contains(" ~ ")) {
        assert!(
            line.contains("top-10 Jaccard 1.000") && line.contains("RBO 1.000"),
            "{line}"
        );
    }
}
