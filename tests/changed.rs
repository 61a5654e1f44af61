//! `:changed [A B] [N] [k=K] [top=T] [by=local|global]` (issue 27): the words whose
//! neighbourhoods differ most between two spaces, by Hamilton, Leskovec & Jurafsky's (2016)
//! local neighbourhood measure and, once aligned, the global one; against numpy
//! (tests/fixtures/compare/gen.py and its changed.json), a rotated copy that changes nothing, a
//! copy with 50 words swapped, and bad input.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::util::{json, run, shared_cache};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/compare")
        .join(name)
}

fn s(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

fn expected() -> Json {
    json(&fixture("changed.json"))
}

/// `vecsh ARGS --json` in this module's cache: its JSON lines and stderr.
fn json_run<S: AsRef<str>>(args: &[S]) -> (Vec<Json>, String) {
    crate::util::json_run("changed", args)
}

/// The numpy case of changed.json for spaces `a`, `b`, N and k.
fn case(a: &str, b: &str, n: u64, k: u64) -> Json {
    expected()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["a"] == a && c["b"] == b && c["n"] == n && c["k"] == k)
        .unwrap_or_else(|| panic!("no case {a} {b} {n} {k}"))
        .clone()
}

fn words(v: &Json) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect()
}

/// The rows of a `changed` answer as (word, measure) for `column` ("local" or "global").
fn column(out: &Json, column: &str) -> Vec<(String, f64)> {
    out["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{out}"))
        .iter()
        .map(|r| {
            (
                r["word"].as_str().unwrap().to_string(),
                r[column].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// Same measures within 1e-5 and the same ranking as numpy (near-ties within 1e-9 may swap).
fn assert_matches(got: &Json, want: &Json, measure: &str, ranking: &str) {
    let rows = column(got, measure);
    let order = words(&want[ranking]);
    assert_eq!(rows.len(), order.len(), "{got}");
    let value = |w: &str| want["rows"][w][measure].as_f64().unwrap();
    for ((word, got_value), want_word) in rows.iter().zip(&order) {
        let close = (got_value - value(word)).abs() <= 1e-5;
        assert!(close, "{word}: {got_value} vs numpy {}", value(word));
        assert!(
            word == want_word || (value(word) - value(want_word)).abs() < 1e-9,
            "ranking: {word} where numpy has {want_word}"
        );
    }
}

#[test]
fn local_measure_equals_numpy() {
    let (a, b, c) = (s("a.txt"), s("b.txt"), s("c.txt"));
    let (out, err) = json_run(&[
        &a,
        "--also",
        &b,
        "--also",
        &c,
        "-e",
        ":changed a b top=100",
        "-e",
        ":changed a b k=5 top=100",
        "-e",
        ":changed a b 20 k=10 top=100",
        "-e",
        ":changed b a k=10 top=100",
        // Other dimensions: the local measure needs none in common.
        "-e",
        ":changed a c k=5 top=100",
    ]);
    let cases = [
        case("a", "b", 10000, 25),
        case("a", "b", 10000, 5),
        case("a", "b", 20, 10),
        case("b", "a", 10000, 10),
        case("a", "c", 10000, 5),
    ];
    assert_eq!(out.len(), cases.len(), "{err}");
    for (got, want) in out.iter().zip(&cases) {
        assert_eq!(got["kind"], "changed", "{got}");
        assert_eq!(got["shared"], want["shared"], "{got}");
        assert_eq!(got["k"], want["k"]);
        assert_matches(got, want, "local", "ranking");
        // The neighbours each space gave, in order (numpy's: ties by file order).
        for row in got["rows"].as_array().unwrap() {
            let w = &want["rows"][row["word"].as_str().unwrap()];
            assert_eq!(row["neighbours_a"], w["neighbours_a"], "{row}");
            assert_eq!(row["neighbours_b"], w["neighbours_b"], "{row}");
            assert!(row.get("global").is_none(), "not aligned: {row}");
        }
    }
    assert_eq!(out[0]["a"], "a");
    assert_eq!(out[0]["b"], "b");
    assert_eq!(out[0]["words"], 40);
    assert_eq!(out[2]["words"], 20);
}

#[test]
fn with_two_spaces_the_active_one_is_first() {
    let (a, b) = (s("a.txt"), s("b.txt"));
    let (out, err) = json_run(&[
        &a,
        "--also",
        &b,
        "-e",
        ":changed k=5 top=100",
        "-e",
        ":use b",
        "-e",
        ":changed k=10 top=100",
        "-e",
        ":changed a k=10 top=100",
    ]);
    assert_eq!(out.len(), 4, "{err}");
    assert_eq!((&out[0]["a"], &out[0]["b"]), (&"a".into(), &"b".into()));
    assert_matches(&out[0], &case("a", "b", 10000, 5), "local", "ranking");
    assert_eq!((&out[2]["a"], &out[2]["b"]), (&"b".into(), &"a".into()));
    assert_matches(&out[2], &case("b", "a", 10000, 10), "local", "ranking");
    // One name: the active space against it.
    assert_eq!(out[3]["a"], "b");
    assert_matches(&out[3], &case("b", "a", 10000, 10), "local", "ranking");
}

#[test]
fn global_measure_after_align_equals_numpy_and_ranks_by_choice() {
    let (a, b) = (s("a.txt"), s("b.txt"));
    let want = case("a", "b", 10000, 25);
    let (out, err) = json_run(&[
        &a,
        "--also",
        &b,
        "-e",
        ":align a b",
        "-e",
        ":changed top=100",
        "-e",
        ":changed top=100 by=global",
        // Aligned in either direction: b's vectors carried into a by Rᵀ, the same distances.
        "-e",
        ":changed b a top=3",
    ]);
    assert_eq!(out.len(), 4, "{err}");
    assert_eq!(out[1]["aligned"], true);
    assert_eq!(out[1]["by"], "local");
    assert_matches(&out[1], &want, "local", "ranking");
    assert_matches(&out[1], &want, "global", "ranking");
    assert_eq!(out[2]["by"], "global");
    assert_matches(&out[2], &want, "global", "ranking_global");
    for row in out[3]["rows"].as_array().unwrap() {
        let w = row["word"].as_str().unwrap();
        let g = want["rows"][w]["global"].as_f64().unwrap();
        assert!((row["global"].as_f64().unwrap() - g).abs() < 1e-5, "{row}");
    }
}

#[test]
fn a_rotated_permuted_copy_changes_nothing() {
    let (a, r) = (s("a.txt"), s("r.txt"));
    let (out, err) = json_run(&[
        &a,
        "--also",
        &r,
        "-e",
        ":changed top=100",
        "-e",
        ":align a r",
        "-e",
        ":changed top=100 by=global",
    ]);
    assert_eq!(out.len(), 3, "{err}");
    assert_eq!(out[0]["shared"], 60);
    for (word, d) in column(&out[0], "local") {
        assert!(d.abs() < 1e-5, "{word}: {d}");
    }
    assert!(out[1]["cosine_after"].as_f64().unwrap() > 1.0 - 1e-6);
    for m in ["local", "global"] {
        for (word, d) in column(&out[2], m) {
            assert!(d.abs() < 1e-5, "{m} {word}: {d}");
        }
    }
}

#[test]
fn fifty_swapped_words_are_exactly_the_top_fifty() {
    let (g, h) = (s("g.txt"), s("h.txt"));
    let want = expected();
    let (out, err) = json_run(&[&g, "--also", &h, "-e", ":changed top=500"]);
    assert_eq!(out.len(), 1, "{err}");
    assert_matches(&out[0], &case("g", "h", 10000, 25), "local", "ranking");
    let mut top: Vec<&str> = out[0]["rows"].as_array().unwrap()[..50]
        .iter()
        .map(|r| r["word"].as_str().unwrap())
        .collect();
    top.sort_unstable();
    assert_eq!(top, words(&want["swapped"]));
}

#[test]
fn the_text_table_shows_words_measures_and_neighbours() {
    let (a, b) = (s("a.txt"), s("b.txt"));
    let cache = shared_cache("changed");
    let (ok, out, err) = run(
        &cache,
        &[
            &a,
            "--also",
            &b,
            "-e",
            ":align a b",
            "-e",
            ":changed k=5 top=3",
        ],
    );
    assert!(ok, "{err}");
    let want = case("a", "b", 10000, 5);
    let top = words(&want["ranking"]);
    assert!(out.contains("local"), "{out}");
    assert!(out.contains("global"), "{out}");
    for w in &top[..3] {
        assert!(out.contains(w), "{w}: {out}");
    }
    assert!(!out.contains(top[3]) || out.contains("neighbours"), "{out}");
    // How many words were compared, of how many shared.
    assert!(out.contains("40"), "{out}");
}

#[test]
fn bad_input_is_a_clear_error_at_its_span() {
    let (a, b, c, t) = (s("a.txt"), s("b.txt"), s("c.txt"), s("t.txt"));
    // One space only.
    let (out, _) = json_run(&[&a, "-e", ":changed"]);
    let msg = out[0]["error"]["message"].as_str().unwrap();
    assert!(msg.contains("two spaces"), "{msg}");
    let (out, err) = json_run(&[
        &a,
        "--also",
        &b,
        "--also",
        &c,
        "-e",
        ":changed",
        "-e",
        ":changed a bb",
        "-e",
        ":changed a b 0",
        "-e",
        ":changed a b k=0",
        "-e",
        ":changed a b k=x",
        "-e",
        ":changed a b top=-1",
        "-e",
        ":changed a b by=size",
        "-e",
        ":changed a b q=3",
        "-e",
        ":changed a b c",
        "-e",
        ":changed a b by=global",
        "-e",
        ":changed a c by=global",
        "-e",
        ":changed a a",
    ]);
    assert_eq!(out.len(), 12, "{err}");
    let err = |i: usize| &out[i]["error"];
    let msg = |i: usize| err(i)["message"].as_str().unwrap().to_string();
    let start = |i: usize| err(i)["span"]["start"].as_u64().unwrap();
    assert!(msg(0).contains("3 spaces are open"), "{}", msg(0));
    assert!(err(0)["help"].as_str().unwrap().contains(":changed a b"));
    assert_eq!(msg(1), "no space is named 'bb'");
    assert_eq!(err(1)["help"], "did you mean 'b'?");
    assert_eq!(start(1), 11);
    assert_eq!(msg(2), "expected a positive number of words, found '0'");
    assert_eq!(start(2), 13);
    assert_eq!(msg(3), "expected k=K with K a positive number, found '0'");
    assert_eq!(start(3), 15);
    assert_eq!(msg(4), "expected k=K with K a positive number, found 'x'");
    assert_eq!(
        msg(5),
        "expected top=T with T a positive number, found '-1'"
    );
    assert_eq!(msg(6), "expected by=local or by=global, found 'size'");
    assert_eq!(start(6), 16);
    assert!(msg(7).starts_with("unknown option 'q'"), "{}", msg(7));
    assert_eq!(start(7), 13);
    assert!(msg(8).contains("at most two spaces"), "{}", msg(8));
    assert_eq!(start(8), 13);
    assert_eq!(
        msg(9),
        "'a' and 'b' are not aligned: the global measure needs :align a b first"
    );
    assert_eq!(start(9), 13);
    assert!(
        msg(10).contains("'a' has 8 dimensions and 'c' 4"),
        "{}",
        msg(10)
    );
    assert!(msg(11).contains("the same space"), "{}", msg(11));

    // Vocabularies that barely overlap: said, never an empty table; none at all: an error.
    let (out, err) = json_run(&[&a, "--also", &t, "-e", ":changed"]);
    assert_eq!(out[0]["shared"], 3, "{err}");
    assert_eq!(out[0]["k"], 2);
    assert!(
        out[0]["note"].as_str().unwrap().contains("3 words"),
        "{}",
        out[0]
    );
    let dir = tempfile::tempdir().unwrap();
    let none = dir.path().join("none.txt");
    let lines: String = (0..10)
        .map(|i| format!("zz{i} {}\n", ["0.5"; 8].join(" ")))
        .collect();
    std::fs::write(&none, lines).unwrap();
    let none = none.to_string_lossy().into_owned();
    let (out, _) = json_run(&[&a, "--also", &none, "-e", ":changed"]);
    assert_eq!(
        out[0]["error"]["message"],
        "'a' and 'none' share no words (a has 60, none 10): there is nothing to compare"
    );
}

#[test]
fn words_from_the_files_are_escaped_in_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..12 {
        let word = if i == 3 {
            "evil\u{1b}[31m".to_string()
        } else {
            format!("w{i}")
        };
        let row: Vec<String> = (0..4)
            .map(|d| format!("{}", ((i * 7 + d * 3) % 11) as f32 - 5.0))
            .collect();
        text.push_str(&format!("{word} {}\n", row.join(" ")));
    }
    let x = dir.path().join("x.txt");
    std::fs::write(&x, &text).unwrap();
    let y = dir.path().join("y.txt");
    std::fs::write(&y, text.replace("w1 ", "w1x ")).unwrap();
    let cache = shared_cache("changed");
    let (ok, out, err) = run(
        &cache,
        &[
            &x.to_string_lossy(),
            "--also",
            &y.to_string_lossy(),
            "-e",
            ":changed k=3",
        ],
    );
    assert!(ok, "{err}");
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(out.contains("evil"), "{out}");
}

/// `:changed 10000` on two 30,000-word spaces takes long in a debug build; Ctrl-C stops the
/// scans (the flag is checked per block of rows), the prompt comes back at once with a note,
/// and the session goes on.
#[test]
fn ctrl_c_stops_the_scan_and_returns_to_the_prompt() {
    use crate::util::{ask, expect, quit, write_glove_mod19, write_glove_random, PROMPT};
    const BOUND: std::time::Duration = std::time::Duration::from_secs(10);
    let tmp = tempfile::tempdir().unwrap();
    let x = write_glove_random(tmp.path(), "x.txt", 30_000, 50);
    let y = write_glove_mod19(tmp.path(), "y.txt", 30_000, 50);
    let mut p = crate::util::pty_session(
        &tmp.path().join("cache"),
        tmp.path(),
        &[
            x.as_os_str(),
            "--also".as_ref(),
            y.as_os_str(),
            "--quiet".as_ref(),
        ],
        120_000,
    );
    expect(&mut p, PROMPT).expect("first prompt");
    p.send_line(":changed 10000").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let pressed = std::time::Instant::now();
    p.send_control('c').unwrap();
    let before = expect(&mut p, "(Ctrl-C)").unwrap();
    assert!(
        !before.contains("most changed"),
        "it finished first: {before}"
    );
    expect(&mut p, PROMPT).unwrap();
    let took = pressed.elapsed();
    assert!(took < BOUND, "back at the prompt {took:?} after Ctrl-C");
    ask(&mut p, ":k 1", "k = 1");
    quit(p);
}

/// N × k neighbours are held for every word measured: past 20,000,000 it is an error before
/// any scan, not a process that grows until it is killed.
#[test]
fn too_many_neighbours_to_hold_is_an_error() {
    use crate::util::{write_glove_mod19, write_glove_random};
    let tmp = tempfile::tempdir().unwrap();
    let x = write_glove_random(tmp.path(), "x.txt", 21_000, 4);
    let y = write_glove_mod19(tmp.path(), "y.txt", 21_000, 4);
    let (x, y) = (x.to_string_lossy(), y.to_string_lossy());
    let (out, err) = json_run(&[&x, "--also", &y, "-e", ":changed 21000 k=1000"]);
    assert_eq!(
        out[0]["error"]["message"],
        "21000 words with 1000 neighbours each in each space is more than 20000000 to hold",
        "{err}"
    );
    let (out, _) = json_run(&[&x, "--also", &y, "-e", ":changed 5 k=1001"]);
    assert_eq!(
        out[0]["error"]["message"],
        "k=1001 is more than 1000 neighbours"
    );
}

/// A model's special tokens (`[PAD]`, `[UNK]`) are left out of answers unless `:alltokens on`:
/// of `:changed`'s words and neighbours too.
#[test]
fn a_models_hidden_tokens_are_neither_words_nor_neighbours() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/glove20k");
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for name in ["model.safetensors", "tokenizer.json", "config.json"] {
        std::fs::copy(model.join(name), copy.join(name)).unwrap();
    }
    let (model, copy) = (model.to_string_lossy(), copy.to_string_lossy());
    let (out, err) = json_run(&[
        &model,
        "--also",
        &copy,
        "-e",
        ":changed 5 top=5 k=3",
        "-e",
        ":alltokens on",
        "-e",
        ":changed 5 top=5 k=3",
    ]);
    assert_eq!(out.len(), 3, "{err}");
    assert_eq!(out[0]["shared"], 20_000, "{}", out[0]);
    for row in out[0]["rows"].as_array().unwrap() {
        let all = std::iter::once(&row["word"])
            .chain(row["neighbours_a"].as_array().unwrap())
            .chain(row["neighbours_b"].as_array().unwrap());
        for w in all {
            assert!(!w.as_str().unwrap().starts_with('['), "{row}");
        }
    }
    assert_eq!(out[0]["rows"][0]["word"], "the");
    assert_eq!(out[2]["shared"], 20_002);
    assert_eq!(out[2]["rows"][0]["word"], "[PAD]");
}
