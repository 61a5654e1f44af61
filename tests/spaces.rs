//! Several embedding spaces in one run (issue 27): `--also [NAME=]FILE`, `:open FILE [as NAME]`,
//! `:use`, the prompt, one store per file however it is named, `in(SPACE, EXPR)` and its
//! errors, and `compare` against numpy (tests/fixtures/compare/gen.py and its expected.json).

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::util::{ask, expect, json, quit, run, shared_cache, PROMPT, TIMEOUT_MS};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/compare")
        .join(name)
}

fn expected() -> Json {
    json(&fixture("expected.json"))
}

/// `s(name)`: the fixture's path as a string argument.
fn s(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

/// The JSON lines of a run's stdout.
fn lines(stdout: &str) -> Vec<Json> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// `vecsh ARGS --json` in this module's cache: its JSON lines and stderr.
fn json_run<S: AsRef<str>>(args: &[S]) -> (Vec<Json>, String) {
    crate::util::json_run("spaces", args)
}

/// The arguments of a run on the fixtures `files` as spaces, the first as FILE and each other
/// after `--also` (`NAME=f.txt` names one), with each of `statements` after `-e`.
fn spaces_args(files: &[&str], statements: &[&str]) -> Vec<String> {
    let path = |f: &str| match f.split_once('=') {
        Some((name, file)) => format!("{name}={}", s(file)),
        None => s(f),
    };
    let mut args = vec![path(files[0])];
    for f in &files[1..] {
        args.extend(["--also".to_string(), path(f)]);
    }
    for line in statements {
        args.extend(["-e".to_string(), line.to_string()]);
    }
    args
}

/// [`spaces_args`] run with `--json`: one value per statement, and stderr.
fn session(files: &[&str], statements: &[&str]) -> (Vec<Json>, String) {
    json_run(&spaces_args(files, statements))
}

/// [`spaces_args`] run as text: success, stdout, stderr.
fn session_text(files: &[&str], statements: &[&str]) -> (bool, String, String) {
    let args = spaces_args(files, statements);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&shared_cache("spaces"), &args)
}

/// A line's error: its message, its span (start, end) and its help.
fn error_at(line: &Json) -> (&str, (u64, u64), &Json) {
    let e = &line["error"];
    let span = (
        e["span"]["start"].as_u64().unwrap_or(u64::MAX),
        e["span"]["end"].as_u64().unwrap_or(u64::MAX),
    );
    (e["message"].as_str().unwrap_or(""), span, &e["help"])
}

/// A neighbour list as (word, score): vecsh's `{word, score}` objects or a generator's
/// `[word, score]` pairs.
pub fn neighbour_pairs(list: &Json) -> Vec<(String, f64)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let (w, s) = match h {
                Json::Array(pair) => (&pair[0], &pair[1]),
                _ => (&h["word"], &h["score"]),
            };
            (w.as_str().unwrap().to_string(), s.as_f64().unwrap())
        })
        .collect()
}

/// Neighbour lists equal: the words in order, the scores within 1e-5.
pub fn assert_neighbours(got: &Json, want: &Json, what: &str) {
    let (got, want) = (neighbour_pairs(got), neighbour_pairs(want));
    let words = |l: &[(String, f64)]| l.iter().map(|(w, _)| w.clone()).collect::<Vec<_>>();
    assert_eq!(words(&got), words(&want), "{what}");
    for ((w, x), (_, y)) in got.iter().zip(&want) {
        assert!((x - y).abs() < 1e-5, "{what}: {w} {x} vs {y}");
    }
}

/// The unit rows of a text file's words (a word2vec header skipped), as vecsh normalises them
/// (f32).
pub fn unit_rows(path: &Path) -> Vec<(String, Vec<f32>)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| l.split_whitespace().count() > 2)
        .map(|l| {
            let mut f = l.split_whitespace();
            let w = f.next().unwrap().to_string();
            let v: Vec<f32> = f.map(|x| x.parse().unwrap()).collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            (w, v.iter().map(|x| x / n).collect())
        })
        .collect()
}

/// `vecsh::eval::align::procrustes` over the words `a` and `b` share (a's order) equals the
/// generator's scipy answer: `want["words"]` pairs and the rotation `want["r"]` within 1e-5.
pub fn assert_procrustes_equals_scipy(a: &Path, b: &Path, want: &Json) {
    let (a, b) = (unit_rows(a), unit_rows(b));
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    for (w, v) in &a {
        if let Some((_, u)) = b.iter().find(|(x, _)| x == w) {
            ra.push(v.clone());
            rb.push(u.clone());
        }
    }
    assert_eq!(ra.len() as u64, want["words"].as_u64().unwrap());
    let r = vecsh::eval::align::procrustes(&ra, &rb);
    for (i, row) in want["r"].as_array().unwrap().iter().enumerate() {
        for (j, x) in row.as_array().unwrap().iter().enumerate() {
            let (got, x) = (r[(i, j)], x.as_f64().unwrap());
            assert!((got - x).abs() < 1e-5, "R[{i},{j}] {got} vs scipy {x}");
        }
    }
}

fn names(spaces: &Json) -> Vec<(&str, u64, bool)> {
    spaces["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["words"].as_u64().unwrap(),
                s["active"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn also_opens_spaces_named_from_their_files_or_as_asked() {
    let (out, err) = session(&["a.txt", "b.txt", "tee=t.txt"], &[":use"]);
    assert_eq!(
        names(&out[0]),
        [("a", 60, true), ("b", 46, false), ("tee", 30, false)],
        "{err}"
    );
    // `:use NAME` makes it active; the next line is looked up there (b2 is only b's).
    let (out, err) = session(&["a.txt", "b.txt"], &[":use b", "b2", ":use"]);
    assert_eq!(names(&out[0]), [("b", 46, true)], "{err}");
    assert_eq!(out[1]["kind"], "neighbours", "{err}");
    assert_eq!(names(&out[2]), [("a", 60, false), ("b", 46, true)]);
}

#[test]
fn name_equals_file_splits_only_when_the_left_side_is_a_name() {
    // A file whose own name holds `=`: `./x=y.txt` is a path (its left side `./x` is no name).
    let dir = tempfile::tempdir().unwrap();
    let odd = dir.path().join("x=y.txt");
    std::fs::copy(fixture("b.txt"), &odd).unwrap();
    let cache = shared_cache("spaces");
    let out = crate::util::vecsh(&cache)
        .current_dir(dir.path())
        .args([&s("a.txt"), "--also", "./x=y.txt", "-e", ":use", "--json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        names(&lines(&stdout)[0]),
        [("a", 60, true), ("x_y", 46, false)]
    );
    // A name that is taken fails the run before anything is answered.
    let (ok, _, err) = session_text(&["a.txt", "a=b.txt"], &["w00"]);
    assert!(!ok);
    assert!(err.contains("a space named 'a' is open already"), "{err}");
}

#[test]
fn load_options_apply_to_file_only() {
    let mut args = spaces_args(&["a.txt", "b.txt"], &[":use"]);
    args.extend(["--limit".to_string(), "10".to_string()]);
    let (out, err) = json_run(&args);
    assert_eq!(names(&out[0]), [("a", 10, true), ("b", 46, false)], "{err}");
}

#[test]
fn a_file_open_by_any_path_is_one_store() {
    // FILE again under --also, and :open by another spelling of its path: heed would refuse to
    // open the environment twice (EnvAlreadyOpened); the store is named again instead.
    let other_path = format!("{}/../compare/a.txt", fixture("").display());
    let (out, err) = session(
        &["a.txt", "again=a.txt"],
        &[
            &format!(":open {other_path} as third"),
            ":use",
            "w07",
            "in(again, w07)",
        ],
    );
    assert_eq!(out[0]["kind"], "space_opened", "{err}");
    assert_eq!(out[0]["reused"], "a", "{err}");
    assert_eq!(out[0]["active"], true);
    assert_eq!(
        names(&out[1]),
        [("a", 60, false), ("again", 60, false), ("third", 60, true)]
    );
    // One store, one answer, and no warning about alignment.
    assert_eq!(out[2]["neighbours"], out[3]["neighbours"]);
    assert!(!err.contains("warning"), "{err}");
    // :open of a new file adds it and makes it active; a missing one is an error at its span.
    let (out, _) = session(
        &["a.txt"],
        &[&format!(":open {}", s("b.txt")), ":open nothere.txt"],
    );
    assert_eq!(out[0]["name"], "b");
    assert_eq!(out[0]["words"], 46);
    assert_eq!(out[0]["reused"], Json::Null);
    assert_eq!(out[1]["kind"], "error");
    assert_eq!(error_at(&out[1]).1, (6, 17));
}

#[test]
fn open_refuses_a_bad_name_and_a_taken_one_at_its_span() {
    let line_bad = format!(":open {} as 9/x", s("b.txt"));
    let line_taken = format!(":open {} as a", s("b.txt"));
    let (out, _) = session(&["a.txt"], &[&line_bad, &line_taken, ":open"]);
    let (message, span, _) = error_at(&out[0]);
    assert_eq!(message, "'9/x' cannot name a space");
    assert_eq!(span.0 as usize, line_bad.len() - 3);
    assert!(error_at(&out[1])
        .0
        .contains("a space named 'a' is open already"));
    assert_eq!(error_at(&out[2]).0, "expected a file to open");
}

#[test]
fn a_second_embedding_file_is_no_script() {
    let cache = shared_cache("spaces");
    let (ok, out, err) = run(&cache, &[&s("a.txt"), &s("b.txt")]);
    assert!(!ok);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("is an embedding file, not a script: did you mean --also"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one error, not one per line: {err}");
    // A real script still runs.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("lines.txt");
    std::fs::write(&script, "w00\nsim(w00, w01)\n").unwrap();
    let (ok, out, err) = run(&cache, &[&s("a.txt"), script.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("w"), "{out}");
}

#[test]
fn in_evaluates_in_the_named_space() {
    let (out, err) = session(
        &["a.txt", "b.txt", "c.txt"],
        &["in(b, w07)", "in(\"b\", w07)"],
    );
    let (alone, _) = session(&["b.txt"], &["w07"]);
    assert_eq!(out[0]["neighbours"], alone[0]["neighbours"], "{err}");
    assert_eq!(out[1]["neighbours"], alone[0]["neighbours"]);
    // b2 is b's word only: known inside in(b, …), unknown outside.
    let (out, _) = session(&["a.txt", "b.txt"], &["in(b, b2 - w01)", "b2"]);
    assert_eq!(out[0]["kind"], "neighbours");
    assert_eq!(error_at(&out[1]).0, "unknown word 'b2'");
    // A name bound in one space keeps it.
    let (out, _) = session(&["a.txt", "b.txt"], &["let x = in(b, w07)", "x"]);
    assert_eq!(out[1]["neighbours"], alone[0]["neighbours"]);
}

#[test]
fn in_errors_name_the_space_and_the_span() {
    let (out, _) = session(
        &["a.txt", "b.txt", "c.txt"],
        &[
            "in(bb, w07)",
            "in(zzz, w07)",
            "sim(w07, in(c, w07))",
            "w07 + in(c, w01)",
            "in(c, in(a, w07))",
            "let in = w07",
            "in(b)",
            "in(w00 + w01, w07)",
        ],
    );
    let err = |i: usize| error_at(&out[i]);
    assert_eq!(err(0).0, "no space is named 'bb'");
    assert_eq!(err(0).2, "did you mean 'b'?");
    assert_eq!(err(0).1 .0, 3);
    assert_eq!(err(1).0, "no space is named 'zzz'");
    assert_eq!(err(1).2, "the open spaces: a, b, c");
    // Different dimensions: an error at the vector carried.
    assert_eq!(
        err(2).0,
        "this is a vector of space 'c' (4 dimensions); space 'a' has 8"
    );
    assert_eq!(err(2).1, (9, 19));
    assert_eq!(err(3).1 .0, 6);
    assert_eq!(
        err(4).0,
        "this is a vector of space 'a' (8 dimensions); space 'c' has 4"
    );
    assert_eq!(err(5).0, "'in' is a function name");
    assert!(err(6).0.starts_with("in takes a space and an expression"));
    assert_eq!(err(7).0, "expected the name of an open space here");
}

/// Bad input about spaces, each a clear error at its span: a name no space has (with a
/// did-you-mean), vectors of spaces of other dimensions in `sim`, an alignment over fewer words
/// than dimensions, whether the spaces share too few or fewer were asked for.
#[test]
fn bad_space_input_is_an_error_at_its_span() {
    let (out, _) = session(
        &["a.txt", "b.txt", "c.txt", "t.txt"],
        &[
            ":use bb",
            ":align a tt",
            "sim(in(c, w01), w07)",
            ":align a t",
            ":align a b 5",
        ],
    );
    assert_eq!(
        error_at(&out[0]),
        (
            "no space is named 'bb'",
            (5, 7),
            &"did you mean 'b'?".into()
        )
    );
    assert_eq!(
        error_at(&out[1]),
        (
            "no space is named 'tt'",
            (9, 11),
            &"did you mean 't'?".into()
        )
    );
    // sim in the first vector's space: the second, of 8 dimensions, is the error.
    let (message, span, _) = error_at(&out[2]);
    assert_eq!(
        message,
        "this is a vector of space 'a' (8 dimensions); space 'c' has 4"
    );
    assert_eq!(span, (16, 19));
    // Fewer shared words than dimensions: at the two spaces named.
    let (message, span, _) = error_at(&out[3]);
    assert_eq!(
        message,
        "'a' and 't' share 3 words, fewer than their 8 dimensions: a rotation needs at least as many"
    );
    assert_eq!(span, (7, 10));
    // Fewer words asked for than dimensions (a and b share 40): at N, and not said to be all
    // they share.
    let (message, span, _) = error_at(&out[4]);
    assert_eq!(
        message,
        "N = 5 is fewer than the 8 dimensions: a rotation needs at least 8 words (they share 40 words)"
    );
    assert_eq!(span, (11, 12));
}

#[test]
fn same_dimensions_unaligned_is_answered_with_a_warning() {
    let run_json = |statement: &str| {
        let mut args = spaces_args(&["a.txt", "b.txt"], &[statement]);
        args.push("--json".to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (ok, out, err) = run(&shared_cache("spaces"), &args);
        assert!(ok, "{err}");
        (lines(&out), err)
    };
    let (v, err) = run_json("in(b, in(a, w07))");
    assert!(
        err.contains("warning: 'a' and 'b' are not aligned"),
        "{err}"
    );
    // a's w07 read in b's coordinates: numpy's cosine of the raw vector with b's rows.
    let got: Vec<&str> = v[0]["neighbours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["word"].as_str().unwrap())
        .collect();
    // b's own w07 is nearest (b's rows are a's plus noise) and is not left out: its id is b's.
    assert_eq!(got[0], "w07");
    // sim across spaces of one dimension: the same warning, a number.
    let (v, err) = run_json("sim(w07, in(b, w07))");
    assert!(err.contains("not aligned"), "{err}");
    let x = v[0]["value"].as_f64().unwrap();
    assert!(x > 0.5 && x <= 1.0, "{x}");
}

/// The lists, Jaccard, RBO and shared vocabularies of `compare` equal numpy's.
#[test]
fn compare_equals_numpy() {
    let want = expected();
    for (word, q) in want["queries"].as_object().unwrap() {
        let (out, err) = session(
            &["a.txt", "b.txt", "t.txt"],
            &[&format!("compare({word})"), &format!(":compare {word}")],
        );
        let got = &out[0];
        assert_eq!(got["kind"], "compare", "{word}: {got} {err}");
        assert_eq!(
            out[1]["spaces"], got["spaces"],
            "{word}: :compare and compare() agree"
        );
        assert_eq!(got["k"], 10);
        for column in got["spaces"].as_array().unwrap() {
            let name = column["space"].as_str().unwrap();
            let list = &q["lists"][name];
            if list.is_null() {
                assert!(
                    column["missing"].as_str().unwrap().contains("unknown word"),
                    "{word} in {name}: {column}"
                );
                assert!(column["neighbours"].as_array().unwrap().is_empty());
                continue;
            }
            assert_neighbours(&column["neighbours"], list, &format!("{word} in {name}"));
        }
        let pairs = got["pairs"].as_array().unwrap();
        let wanted = q["pairs"].as_array().unwrap();
        assert_eq!(pairs.len(), wanted.len());
        for (p, w) in pairs.iter().zip(wanted) {
            let what = format!("{word}: {} ~ {}", w["a"], w["b"]);
            assert_eq!((&p["a"], &p["b"]), (&w["a"], &w["b"]), "{what}");
            assert_eq!(p["shared_vocabulary"], w["shared_vocabulary"], "{what}");
            for key in ["jaccard", "rbo"] {
                if w[key].is_null() {
                    assert!(p[key].is_null(), "{what}: {key} {}", p[key]);
                } else {
                    let (x, y) = (p[key].as_f64().unwrap(), w[key].as_f64().unwrap());
                    assert!((x - y).abs() < 1e-9, "{what}: {key} {x} vs {y}");
                }
            }
            if !w["common"].is_null() {
                assert_eq!(p["common"], w["common"], "{what}");
            }
        }
    }
}

#[test]
fn overlap_and_rbo_equal_numpy_on_random_lists() {
    use vecsh::eval::compare::{jaccard, rbo, RBO_P};
    let want = expected();
    assert_eq!(want["p"].as_f64().unwrap(), RBO_P);
    for case in want["metrics"].as_array().unwrap() {
        let list = |k: &str| -> Vec<&str> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect()
        };
        let (a, b) = (list("a"), list("b"));
        let (j, r) = (jaccard(&a, &b), rbo(&a, &b, RBO_P));
        assert!(
            (j - case["jaccard"].as_f64().unwrap()).abs() < 1e-12,
            "{case}: {j}"
        );
        assert!(
            (r - case["rbo"].as_f64().unwrap()).abs() < 1e-12,
            "{case}: {r}"
        );
    }
}

#[test]
fn compare_marks_shared_and_absent_words_and_says_how_few_words_are_shared() {
    let files = ["a.txt", "b.txt", "t.txt"];
    let (ok, out, err) = session_text(&files, &[":compare w01"]);
    assert!(ok, "{err}");
    // The table's head names the spaces; the pairs' lines give counts even where the lists
    // cannot overlap, with a warning, never an empty table alone.
    assert!(
        out.lines()
            .next()
            .unwrap()
            .split_whitespace()
            .eq(["a", "b", "t"]),
        "{out}"
    );
    assert!(out.contains("a ~ t: top-10 Jaccard"), "{out}");
    assert!(out.contains("3 words shared (of 60 and 30)"), "{out}");
    assert!(
        out.contains("warning: a and t share only 3 words, 10.0% of the smaller vocabulary"),
        "{out}"
    );
    assert!(out.contains("* in another space's list too"), "{out}");
    // In JSON: each word says which other lists hold it and which vocabularies lack it.
    let (v, _) = session(&files, &["compare(w01)"]);
    let a_col = &v[0]["spaces"][0];
    for hit in a_col["neighbours"].as_array().unwrap() {
        let w = hit["word"].as_str().unwrap();
        let absent: Vec<&str> = hit["missing_from"]
            .as_array()
            .map(|x| x.iter().map(|s| s.as_str().unwrap()).collect())
            .unwrap_or_default();
        // t holds only w00..w02 of a's words; b lacks w03, w08, … and w50..w59.
        let n: usize = w[1..].parse().unwrap();
        assert_eq!(absent.contains(&"t"), n > 2, "{w}");
        assert_eq!(absent.contains(&"b"), n >= 50 || n % 5 == 3, "{w}");
    }
    // A word no space knows is the line's error.
    let (v, _) = session(&["a.txt", "b.txt"], &["compare(nothing)"]);
    assert_eq!(error_at(&v[0]).0, "unknown word 'nothing'");
}

#[test]
fn the_prompt_shows_the_active_space() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = crate::util::pty_session(
        &dir.path().join("cache"),
        dir.path(),
        &[s("a.txt"), "--quiet".into(), "--also".into(), s("b.txt")],
        TIMEOUT_MS,
    );
    expect(&mut p, "a> ").expect("the prompt names the active space");
    ask(&mut p, ":use b", "* b");
    p.send_line(&format!(":open {} as third", s("t.txt")))
        .unwrap();
    expect(&mut p, "space third = 30 words").unwrap();
    expect(&mut p, &format!("third{PROMPT}")).unwrap();
    quit(p);
}

#[test]
fn procrustes_equals_scipy() {
    assert_procrustes_equals_scipy(&fixture("a.txt"), &fixture("b.txt"), &expected()["align"]);
}

#[test]
fn align_carries_vectors_by_the_rotation() {
    let want = &expected()["align"];
    let (out, err) = session(
        &["a.txt", "b.txt"],
        &[":align a b", "in(b, in(a, w07))", "in(b, in(a, w13))"],
    );
    assert_eq!(out[0]["kind"], "aligned", "{err}");
    assert_eq!(out[0]["words"], want["words"]);
    for key in ["cosine_before", "cosine_after"] {
        let (x, y) = (out[0][key].as_f64().unwrap(), want[key].as_f64().unwrap());
        assert!((x - y).abs() < 1e-5, "{key}: {x} vs {y}");
    }
    // Aligned: no warning, and a's words answer in b as numpy's rotation says.
    assert!(!err.contains("not aligned"), "{err}");
    for (i, word) in ["w07", "w13"].iter().enumerate() {
        assert_neighbours(
            &out[i + 1]["neighbours"],
            &want["neighbours_in_b"][word],
            word,
        );
    }
    // A rotated, permuted copy of a aligns back: cosine 1, each word nearest its own copy.
    let (out, err) = session(
        &["a.txt", "r.txt"],
        &[":align a r", "in(r, in(a, w07))", "sim(in(r, w31), w31)"],
    );
    assert!(out[0]["cosine_before"].as_f64().unwrap() < 0.9, "{err}");
    assert!((out[0]["cosine_after"].as_f64().unwrap() - 1.0).abs() < 1e-5);
    assert_eq!(out[1]["neighbours"][0]["word"], "w07");
    assert!((out[1]["neighbours"][0]["score"].as_f64().unwrap() - 1.0).abs() < 1e-5);
    assert!(
        (out[2]["value"].as_f64().unwrap() - 1.0).abs() < 1e-5,
        "{}",
        out[2]
    );
}

#[test]
fn align_refuses_other_dimensions_and_too_few_shared_words() {
    let (out, _) = session(
        &["a.txt", "c.txt", "t.txt"],
        &[
            ":align a c",
            ":align a t",
            ":align a",
            ":align a tt",
            ":align a t x",
        ],
    );
    let err = |i: usize| error_at(&out[i]);
    assert_eq!(
        err(0).0,
        "'a' has 8 dimensions and 'c' 4: only spaces of one dimension can be aligned"
    );
    assert_eq!(err(0).1 .0, 9);
    assert_eq!(
        err(1).0,
        "'a' and 't' share 3 words, fewer than their 8 dimensions: a rotation needs at least as many"
    );
    assert_eq!(err(2).0, "expected two spaces to align");
    assert_eq!(err(3).0, "no space is named 'tt'");
    assert_eq!(err(4).0, "expected a number of words, found 'x'");
    assert_eq!(err(4).1 .0, 11);
}
