//! Several embedding spaces in one run (issue 27): `--also [NAME=]FILE`, `:open FILE [as NAME]`,
//! `:use`, the prompt, one store per file however it is named, `in(SPACE, EXPR)` and its
//! errors, and `compare` against numpy (tests/fixtures/compare/gen.py and its expected.json).

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::cargo::cargo_bin;
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

/// `vecsh ARGS --json` in the shared cache of this module: its JSON lines and stderr.
fn json_run(args: &[&str]) -> (Vec<Json>, String) {
    let cache = shared_cache("spaces");
    let mut all: Vec<&str> = args.to_vec();
    all.push("--json");
    let (_, out, err) = run(&cache, &all);
    (lines(&out), err)
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
    let (a, b, t) = (s("a.txt"), s("b.txt"), s("t.txt"));
    let (out, err) = json_run(&[
        &a,
        "--also",
        &b,
        "--also",
        &format!("tee={t}"),
        "-e",
        ":use",
    ]);
    assert_eq!(
        names(&out[0]),
        [("a", 60, true), ("b", 46, false), ("tee", 30, false)],
        "{err}"
    );
    // `:use NAME` makes it active; the next line is looked up there (b2 is only b's).
    let (out, err) = json_run(&[&a, "--also", &b, "-e", ":use b", "-e", "b2", "-e", ":use"]);
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
    let (ok, _, err) = run(
        &cache,
        &[
            &s("a.txt"),
            "--also",
            &format!("a={}", s("b.txt")),
            "-e",
            "w00",
        ],
    );
    assert!(!ok);
    assert!(err.contains("a space named 'a' is open already"), "{err}");
}

#[test]
fn load_options_apply_to_file_only() {
    let (out, err) = json_run(&[
        &s("a.txt"),
        "--limit",
        "10",
        "--also",
        &s("b.txt"),
        "-e",
        ":use",
    ]);
    assert_eq!(names(&out[0]), [("a", 10, true), ("b", 46, false)], "{err}");
}

#[test]
fn a_file_open_by_any_path_is_one_store() {
    // FILE again under --also, and :open by another spelling of its path: heed would refuse to
    // open the environment twice (EnvAlreadyOpened); the store is named again instead.
    let dir = fixture("");
    let other_path = format!("{}/../compare/a.txt", dir.display());
    let (out, err) = json_run(&[
        &s("a.txt"),
        "--also",
        &format!("again={}", s("a.txt")),
        "-e",
        &format!(":open {other_path} as third"),
        "-e",
        ":use",
        "-e",
        "w07",
        "-e",
        "in(again, w07)",
    ]);
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
    let (out, _) = json_run(&[
        &s("a.txt"),
        "-e",
        &format!(":open {}", s("b.txt")),
        "-e",
        ":open nothere.txt",
    ]);
    assert_eq!(out[0]["name"], "b");
    assert_eq!(out[0]["words"], 46);
    assert_eq!(out[0]["reused"], Json::Null);
    assert_eq!(out[1]["kind"], "error");
    assert_eq!(out[1]["error"]["span"]["start"], 6);
    assert_eq!(out[1]["error"]["span"]["end"], 17);
}

#[test]
fn open_refuses_a_bad_name_and_a_taken_one_at_its_span() {
    let line_bad = format!(":open {} as 9/x", s("b.txt"));
    let line_taken = format!(":open {} as a", s("b.txt"));
    let (out, _) = json_run(&[
        &s("a.txt"),
        "-e",
        &line_bad,
        "-e",
        &line_taken,
        "-e",
        ":open",
    ]);
    assert_eq!(out[0]["error"]["message"], "'9/x' cannot name a space");
    let at = line_bad.len() - 3;
    assert_eq!(out[0]["error"]["span"]["start"], at);
    assert!(out[1]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("a space named 'a' is open already"));
    assert_eq!(out[2]["error"]["message"], "expected a file to open");
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
    let (a, b, c) = (s("a.txt"), s("b.txt"), s("c.txt"));
    let (out, err) = json_run(&[
        &a,
        "--also",
        &b,
        "--also",
        &c,
        "-e",
        "in(b, w07)",
        "-e",
        "in(\"b\", w07)",
    ]);
    let (alone, _) = json_run(&[&b, "-e", "w07"]);
    assert_eq!(out[0]["neighbours"], alone[0]["neighbours"], "{err}");
    assert_eq!(out[1]["neighbours"], alone[0]["neighbours"]);
    // b2 is b's word only: known inside in(b, …), unknown outside.
    let (out, _) = json_run(&[&a, "--also", &b, "-e", "in(b, b2 - w01)", "-e", "b2"]);
    assert_eq!(out[0]["kind"], "neighbours");
    assert_eq!(out[1]["error"]["message"], "unknown word 'b2'");
    // A name bound in one space keeps it.
    let (out, _) = json_run(&[&a, "--also", &b, "-e", "let x = in(b, w07)", "-e", "x"]);
    assert_eq!(out[1]["neighbours"], alone[0]["neighbours"]);
}

#[test]
fn in_errors_name_the_space_and_the_span() {
    let (a, b, c) = (s("a.txt"), s("b.txt"), s("c.txt"));
    let (out, _) = json_run(&[
        &a,
        "--also",
        &b,
        "--also",
        &c,
        "-e",
        "in(bb, w07)",
        "-e",
        "in(zzz, w07)",
        "-e",
        "sim(w07, in(c, w07))",
        "-e",
        "w07 + in(c, w01)",
        "-e",
        "in(c, in(a, w07))",
        "-e",
        "let in = w07",
        "-e",
        "in(b)",
        "-e",
        "in(w00 + w01, w07)",
    ]);
    let err = |i: usize| &out[i]["error"];
    assert_eq!(err(0)["message"], "no space is named 'bb'");
    assert_eq!(err(0)["help"], "did you mean 'b'?");
    assert_eq!(err(0)["span"]["start"], 3);
    assert_eq!(err(1)["message"], "no space is named 'zzz'");
    assert_eq!(err(1)["help"], "the open spaces: a, b, c");
    // Different dimensions: an error at the vector carried.
    assert_eq!(
        err(2)["message"],
        "this is a vector of space 'c' (4 dimensions); space 'a' has 8"
    );
    assert_eq!(err(2)["span"]["start"], 9);
    assert_eq!(err(2)["span"]["end"], 19);
    assert_eq!(err(3)["span"]["start"], 6);
    assert_eq!(
        err(4)["message"],
        "this is a vector of space 'a' (8 dimensions); space 'c' has 4"
    );
    assert_eq!(err(5)["message"], "'in' is a function name");
    assert!(err(6)["message"]
        .as_str()
        .unwrap()
        .starts_with("in takes a space and an expression"));
    assert_eq!(err(7)["message"], "expected the name of an open space here");
}

/// Bad input about spaces, each a clear error at its span: a name no space has (with a
/// did-you-mean), vectors of spaces of other dimensions in `sim`, an alignment over fewer words
/// than dimensions, whether the spaces share too few or fewer were asked for.
#[test]
fn bad_space_input_is_an_error_at_its_span() {
    let (a, b, c, t) = (s("a.txt"), s("b.txt"), s("c.txt"), s("t.txt"));
    let (out, _) = json_run(&[
        &a,
        "--also",
        &b,
        "--also",
        &c,
        "--also",
        &t,
        "-e",
        ":use bb",
        "-e",
        ":align a tt",
        "-e",
        "sim(in(c, w01), w07)",
        "-e",
        ":align a t",
        "-e",
        ":align a b 5",
    ]);
    let at = |i: usize| -> (&Json, (u64, u64), &Json) {
        let e = &out[i]["error"];
        let span = (
            e["span"]["start"].as_u64().unwrap(),
            e["span"]["end"].as_u64().unwrap(),
        );
        (&e["message"], span, &e["help"])
    };
    assert_eq!(
        at(0),
        (
            &"no space is named 'bb'".into(),
            (5, 7),
            &"did you mean 'b'?".into()
        )
    );
    assert_eq!(
        at(1),
        (
            &"no space is named 'tt'".into(),
            (9, 11),
            &"did you mean 't'?".into()
        )
    );
    // sim in the first vector's space: the second, of 8 dimensions, is the error.
    let (message, span, _) = at(2);
    assert_eq!(
        message,
        "this is a vector of space 'a' (8 dimensions); space 'c' has 4"
    );
    assert_eq!(span, (16, 19));
    // Fewer shared words than dimensions: at the two spaces named.
    let (message, span, _) = at(3);
    assert_eq!(
        message,
        "'a' and 't' share 3 words, fewer than their 8 dimensions: a rotation needs at least as many"
    );
    assert_eq!(span, (7, 10));
    // Fewer words asked for than dimensions (a and b share 40): at N, and not said to be all
    // they share.
    let (message, span, _) = at(4);
    assert_eq!(
        message,
        "5 words are fewer than the 8 dimensions of 'a' and 'b': a rotation needs at least as many"
    );
    assert_eq!(span, (11, 12));
}

#[test]
fn same_dimensions_unaligned_is_answered_with_a_warning() {
    let (a, b) = (s("a.txt"), s("b.txt"));
    let cache = shared_cache("spaces");
    let (ok, out, err) = run(
        &cache,
        &[&a, "--also", &b, "-e", "in(b, in(a, w07))", "--json"],
    );
    assert!(ok, "{err}");
    assert!(
        err.contains("warning: 'a' and 'b' are not aligned"),
        "{err}"
    );
    // a's w07 read in b's coordinates: numpy's cosine of the raw vector with b's rows.
    let v = lines(&out);
    let got: Vec<&str> = v[0]["neighbours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["word"].as_str().unwrap())
        .collect();
    // b's own w07 is nearest (b's rows are a's plus noise) and is not left out: its id is b's.
    assert_eq!(got[0], "w07");
    // sim across spaces of one dimension: the same warning, a number.
    let (ok, out, err) = run(
        &cache,
        &[&a, "--also", &b, "-e", "sim(w07, in(b, w07))", "--json"],
    );
    assert!(ok && err.contains("not aligned"), "{err}");
    let x = lines(&out)[0]["value"].as_f64().unwrap();
    assert!(x > 0.5 && x <= 1.0, "{x}");
}

/// The lists, Jaccard, RBO and shared vocabularies of `compare` equal numpy's.
#[test]
fn compare_equals_numpy() {
    let want = expected();
    let (a, b, t) = (s("a.txt"), s("b.txt"), s("t.txt"));
    for (word, q) in want["queries"].as_object().unwrap() {
        let (out, err) = json_run(&[
            &a,
            "--also",
            &b,
            "--also",
            &t,
            "-e",
            &format!("compare({word})"),
            "-e",
            &format!(":compare {word}"),
        ]);
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
            let hits = column["neighbours"].as_array().unwrap();
            let wanted = list.as_array().unwrap();
            assert_eq!(hits.len(), wanted.len(), "{word} in {name}");
            for (h, w) in hits.iter().zip(wanted) {
                assert_eq!(h["word"], w[0], "{word} in {name}");
                let (x, y) = (h["score"].as_f64().unwrap(), w[1].as_f64().unwrap());
                assert!((x - y).abs() < 1e-5, "{word} in {name}: {x} vs {y}");
            }
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
    let (a, b, t) = (s("a.txt"), s("b.txt"), s("t.txt"));
    let cache = shared_cache("spaces");
    let (ok, out, err) = run(
        &cache,
        &[&a, "--also", &b, "--also", &t, "-e", ":compare w01"],
    );
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
    let (v, _) = json_run(&[&a, "--also", &b, "--also", &t, "-e", "compare(w01)"]);
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
    let (v, _) = json_run(&[&a, "--also", &b, "-e", "compare(nothing)"]);
    assert_eq!(v[0]["error"]["message"], "unknown word 'nothing'");
}

#[test]
fn the_prompt_shows_the_active_space() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(cargo_bin("vecsh"));
    cmd.arg(fixture("a.txt"))
        .arg("--quiet")
        .args(["--also", &s("b.txt")])
        .env("VECSH_CACHE", dir.path().join("cache"))
        .env("VECSH_HISTORY", dir.path().join("history"))
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    let mut p = rexpect::session::spawn_command(cmd, Some(TIMEOUT_MS)).expect("spawn vecsh");
    expect(&mut p, "a> ").expect("the prompt names the active space");
    ask(&mut p, ":use b", "* b");
    p.send_line(&format!(":open {} as third", s("t.txt")))
        .unwrap();
    expect(&mut p, "space third = 30 words").unwrap();
    expect(&mut p, &format!("third{PROMPT}")).unwrap();
    quit(p);
}

/// The unit rows of a fixture's words, as vecsh normalises them (f32).
fn unit_rows(name: &str) -> Vec<(String, Vec<f32>)> {
    std::fs::read_to_string(fixture(name))
        .unwrap()
        .lines()
        .map(|l| {
            let mut f = l.split_whitespace();
            let w = f.next().unwrap().to_string();
            let v: Vec<f32> = f.map(|x| x.parse().unwrap()).collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            (w, v.iter().map(|x| x / n).collect())
        })
        .collect()
}

#[test]
fn procrustes_equals_scipy() {
    let want = &expected()["align"];
    let (a, b) = (unit_rows("a.txt"), unit_rows("b.txt"));
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

#[test]
fn align_carries_vectors_by_the_rotation() {
    let want = &expected()["align"];
    let (a, b, r) = (s("a.txt"), s("b.txt"), s("r.txt"));
    let (out, err) = json_run(&[
        &a,
        "--also",
        &b,
        "-e",
        ":align a b",
        "-e",
        "in(b, in(a, w07))",
        "-e",
        "in(b, in(a, w13))",
    ]);
    assert_eq!(out[0]["kind"], "aligned", "{err}");
    assert_eq!(out[0]["words"], want["words"]);
    for key in ["cosine_before", "cosine_after"] {
        let (x, y) = (out[0][key].as_f64().unwrap(), want[key].as_f64().unwrap());
        assert!((x - y).abs() < 1e-5, "{key}: {x} vs {y}");
    }
    // Aligned: no warning, and a's words answer in b as numpy's rotation says.
    assert!(!err.contains("not aligned"), "{err}");
    for (i, word) in ["w07", "w13"].iter().enumerate() {
        let got = out[i + 1]["neighbours"].as_array().unwrap();
        let wanted = want["neighbours_in_b"][word].as_array().unwrap();
        assert_eq!(got.len(), wanted.len(), "{word}");
        for (g, w) in got.iter().zip(wanted) {
            assert_eq!(g["word"], w[0], "{word}");
            let (x, y) = (g["score"].as_f64().unwrap(), w[1].as_f64().unwrap());
            assert!((x - y).abs() < 1e-5, "{word}: {x} vs {y}");
        }
    }
    // A rotated, permuted copy of a aligns back: cosine 1, each word nearest its own copy.
    let (out, err) = json_run(&[
        &a,
        "--also",
        &r,
        "-e",
        ":align a r",
        "-e",
        "in(r, in(a, w07))",
        "-e",
        "sim(in(r, w31), w31)",
    ]);
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
    let (a, c, t) = (s("a.txt"), s("c.txt"), s("t.txt"));
    let (out, _) = json_run(&[
        &a,
        "--also",
        &c,
        "--also",
        &t,
        "-e",
        ":align a c",
        "-e",
        ":align a t",
        "-e",
        ":align a",
        "-e",
        ":align a tt",
        "-e",
        ":align a t x",
    ]);
    let err = |i: usize| &out[i]["error"];
    assert_eq!(
        err(0)["message"],
        "'a' has 8 dimensions and 'c' 4: only spaces of one dimension can be aligned"
    );
    assert_eq!(err(0)["span"]["start"], 9);
    assert_eq!(
        err(1)["message"],
        "'a' and 't' share 3 words, fewer than their 8 dimensions: a rotation needs at least as many"
    );
    assert_eq!(err(2)["message"], "expected two spaces to align");
    assert_eq!(err(3)["message"], "no space is named 'tt'");
    assert_eq!(err(4)["message"], "expected a number of words, found 'x'");
    assert_eq!(err(4)["span"]["start"], 11);
}
