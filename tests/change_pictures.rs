//! Pictures of change (issue 27): `plot` / `arrows` given a word of two or more aligned
//! spaces draw it in each with its neighbours there and an arrow along its path, every point
//! in the last space's coordinates (HistWords' figures); Tab completion from every open space
//! and of space names; a model directory's space named by its directory.
//!
//! The fixtures are tests/fixtures/compare's (its gen.py): `a` 60 words × 8 dims, `r` a
//! rotated and permuted copy of it, `b` a's rows plus noise, `c` 4 dims, `t` barely sharing.

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::util::{ask, expect, pty_session, quit, run, shared_cache, PROMPT, TIMEOUT_MS};

fn s(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/compare")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(name)
}

/// `vecsh ARGS --json` in this module's cache: its JSON lines and stderr.
fn json_run<S: AsRef<str>>(args: &[S]) -> (Vec<Json>, String) {
    crate::util::json_run("change_pictures", args)
}

/// A map's points as (label, role, x, y).
fn points(map: &Json) -> Vec<(String, String, f64, f64)> {
    map["points"]
        .as_array()
        .unwrap_or_else(|| panic!("no points in {map}"))
        .iter()
        .map(|p| {
            (
                p["label"].as_str().unwrap().to_string(),
                p["role"].as_str().unwrap().to_string(),
                p["x"].as_f64().unwrap(),
                p["y"].as_f64().unwrap(),
            )
        })
        .collect()
}

fn index_of(pts: &[(String, String, f64, f64)], label: &str) -> usize {
    pts.iter()
        .position(|p| p.0 == label)
        .unwrap_or_else(|| panic!("no point '{label}' in {pts:?}"))
}

fn arrows(map: &Json) -> Vec<[usize; 2]> {
    map["arrows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            [
                a[0].as_u64().unwrap() as usize,
                a[1].as_u64().unwrap() as usize,
            ]
        })
        .collect()
}

fn distance(p: &(String, String, f64, f64), q: &(String, String, f64, f64)) -> f64 {
    ((p.2 - q.2).powi(2) + (p.3 - q.3).powi(2)).sqrt()
}

/// A rotated copy aligned back: the word's two ends coincide, and so does each neighbour with
/// its own copy; labels say the space, the map says whose coordinates it is drawn in.
#[test]
fn a_word_of_a_rotated_copy_aligned_is_drawn_where_it_was() {
    let (a, r) = (s("a.txt"), s("r.txt"));
    let (out, err) = json_run(&[
        &a,
        "--also",
        &r,
        "-e",
        ":align a r",
        "-e",
        "arrows(in(a, w07), in(r, w07))",
        "-e",
        "plot(in(a, w07), in(r, w07), k=3)",
        "-e",
        "in(r, in(a, w07))",
        "-e",
        "sim(in(r, w31), w31)",
    ]);
    assert_eq!(out[0]["kind"], "aligned", "{err}");
    let map = &out[1];
    assert_eq!(map["kind"], "map", "{map}");
    assert_eq!(map["coordinates"], "r", "{map}");
    let pts = points(map);
    let (from, to) = (index_of(&pts, "w07 (a)"), index_of(&pts, "w07 (r)"));
    assert_eq!(arrows(map), vec![[from, to]]);
    assert!(distance(&pts[from], &pts[to]) < 1e-4, "{pts:?}");
    assert_eq!(pts[from].1, "input");
    // The word's neighbours in each space (4 by default), each where its copy is.
    let results: Vec<&(String, String, f64, f64)> =
        pts.iter().filter(|p| p.1 == "result").collect();
    assert_eq!(results.len(), 8, "{pts:?}");
    for p in &results {
        let Some(word) = p.0.strip_suffix(" (a)") else {
            continue;
        };
        let copy = &pts[index_of(&pts, &format!("{word} (r)"))];
        assert!(distance(p, copy) < 1e-4, "{p:?} vs {copy:?}");
    }
    // Each point says its space.
    for p in map["points"].as_array().unwrap() {
        let space = p["space"].as_str().unwrap();
        assert!(p["label"]
            .as_str()
            .unwrap()
            .ends_with(&format!(" ({space})")));
    }
    // plot: the same, k neighbours each, and the arrow along the path.
    let pts = points(&out[2]);
    assert_eq!(pts.iter().filter(|p| p.1 == "result").count(), 6);
    assert_eq!(
        arrows(&out[2]),
        vec![[index_of(&pts, "w07 (a)"), index_of(&pts, "w07 (r)")]]
    );
    // A vector carried through the alignment still answers in the other space.
    assert_eq!(out[3]["neighbours"][0]["word"], "w07", "{}", out[3]);
    assert!(
        (out[4]["value"].as_f64().unwrap() - 1.0).abs() < 1e-5,
        "{}",
        out[4]
    );
}

/// Three spaces: the path goes through each in turn, in the last one's coordinates; a noisy
/// copy's word is near but not on its original.
#[test]
fn a_path_through_three_spaces_in_the_last_ones_coordinates() {
    let (a, r, b) = (s("a.txt"), s("r.txt"), s("b.txt"));
    let (out, err) = json_run(&[
        &a,
        "--also",
        &r,
        "--also",
        &b,
        "-e",
        ":align a b",
        "-e",
        ":align r b",
        "-e",
        "arrows(in(a, w07), in(r, w07), in(b, w07), k=2)",
    ]);
    let map = &out[2];
    assert_eq!(map["coordinates"], "b", "{map} {err}");
    let pts = points(map);
    let ends = ["w07 (a)", "w07 (r)", "w07 (b)"].map(|l| index_of(&pts, l));
    assert_eq!(arrows(map), vec![[ends[0], ends[1]], [ends[1], ends[2]]]);
    assert!(distance(&pts[ends[0]], &pts[ends[1]]) < 1e-4, "{pts:?}");
    assert!(distance(&pts[ends[1]], &pts[ends[2]]) > 1e-3, "{pts:?}");
    assert_eq!(pts.len(), 3 + 3 * 2, "{pts:?}");
}

/// A space not aligned with the last one is an error at its argument, naming the command
/// that aligns them; other dimensions are an error there too.
#[test]
fn an_unaligned_space_is_an_error_at_its_argument() {
    let (a, r, b, c) = (s("a.txt"), s("r.txt"), s("b.txt"), s("c.txt"));
    let (out, _) = json_run(&[
        &a,
        "--also",
        &r,
        "--also",
        &b,
        "--also",
        &c,
        "-e",
        "arrows(in(a, w07), in(r, w07))",
        "-e",
        ":align r b",
        "-e",
        "plot(in(a, w07), in(r, w07), in(b, w07))",
        "-e",
        "plot(in(c, w07), in(b, w07))",
    ]);
    let err = &out[0]["error"];
    assert_eq!(
        err["message"],
        "space 'a' is not aligned with 'r', whose coordinates this picture is drawn in"
    );
    assert_eq!(err["span"]["start"], 7);
    assert_eq!(err["span"]["end"], 17);
    assert!(
        err["help"].as_str().unwrap().contains(":align a r"),
        "{err}"
    );
    // r is aligned with b, a is not: the error is at a's argument.
    let err = &out[2]["error"];
    assert_eq!(err["span"]["start"], 5, "{err}");
    assert!(err["help"].as_str().unwrap().contains(":align a b"));
    let err = &out[3]["error"];
    assert!(
        err["message"].as_str().unwrap().contains("4 dimensions"),
        "{err}"
    );
    assert_eq!(err["span"]["start"], 5, "{err}");
}

/// The terminal picture and the SVG file carry the labels and say whose coordinates.
#[test]
fn terminal_and_svg_pictures_say_whose_coordinates() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("change.svg");
    let (a, r) = (s("a.txt"), s("r.txt"));
    let cache = shared_cache("change_pictures");
    let svg_line = format!(":svg {} arrows(in(a, w07), in(r, w07))", svg.display());
    let (ok, out, err) = run(
        &cache,
        &[
            &a,
            "--also",
            &r,
            "-e",
            ":align a r",
            "-e",
            "arrows(in(a, w07), in(r, w07), k=1)",
            "-e",
            &svg_line,
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("w07 (a)") && out.contains("w07 (r)"), "{out}");
    assert!(out.contains("in the coordinates of r"), "{out}");
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("well-formed XML");
    let caption = doc
        .descendants()
        .find(|n| n.attribute("class") == Some("caption"))
        .and_then(|n| n.text())
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    assert!(caption.contains("in the coordinates of r"), "{caption}");
    let labels: Vec<&str> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("label"))
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    assert!(
        labels.contains(&"w07 (a)") && labels.contains(&"w07 (r)"),
        "{labels:?}"
    );
}

/// A word holding a terminal control, from the file, is escaped in the terminal picture and in
/// the SVG.
#[test]
fn words_from_files_are_escaped_in_pictures_of_change() {
    let dir = tempfile::tempdir().unwrap();
    let words = ["x\u{1b}[2Jy", "p", "q", "s", "u", "v"];
    let rows: [[f32; 3]; 6] = [
        [1.0, 0.2, 0.1],
        [0.1, 1.0, 0.3],
        [0.2, 0.1, 1.0],
        [0.7, 0.7, 0.1],
        [0.1, 0.6, 0.8],
        [0.5, 0.1, 0.9],
    ];
    // The second file: each row turned 90° in its first two coordinates.
    let write = |name: &str, turn: bool| {
        let mut text = String::new();
        for (w, r) in words.iter().zip(rows) {
            let r = if turn { [-r[1], r[0], r[2]] } else { r };
            text.push_str(&format!("{w} {} {} {}\n", r[0], r[1], r[2]));
        }
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let (one, two) = (write("one.txt", false), write("two.txt", true));
    let svg = dir.path().join("e.svg");
    let svg_line = format!(":svg {} plot(in(one, p), in(two, p), k=5)", svg.display());
    let cache = shared_cache("change_pictures");
    let (ok, out, err) = run(
        &cache,
        &[
            &one,
            "--also",
            &two,
            "-e",
            ":align one two",
            "-e",
            "plot(in(one, p), in(two, p), k=5)",
            "-e",
            &svg_line,
        ],
    );
    assert!(ok, "{err}");
    assert!(!out.contains('\u{1b}'), "{out:?}");
    assert!(out.contains("x\\e[2Jy (one)"), "{out}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(!text.contains('\u{1b}'));
    assert!(text.contains("x\\e[2Jy (two)"), "{text}");
}

/// A model directory's space is named by the directory the user typed, as FILE, with
/// `--also` and with `:open`.
#[test]
fn a_model_directory_is_named_by_its_directory() {
    let (wp, bpe, sp) = (model("wordpiece"), model("bpe"), model("sentencepiece"));
    let open = format!(":open {}", sp.display());
    let (out, err) = json_run(&[
        &wp.to_string_lossy(),
        "--also",
        &bpe.to_string_lossy(),
        "-e",
        &open,
        "-e",
        ":use",
    ]);
    let names: Vec<&str> = out.last().unwrap_or_else(|| panic!("{err}"))["spaces"]
        .as_array()
        .unwrap_or_else(|| panic!("{out:?} {err}"))
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["wordpiece", "bpe", "sentencepiece"], "{err}");
    // `.` is the directory it stands for.
    let cache = shared_cache("change_pictures");
    let out = crate::util::vecsh(&cache)
        .current_dir(&wp)
        .args([".", "-e", ":use", "--json"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"name\":\"wordpiece\""),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
/// Tab completes the words of every open space, inside `in(NAME, …)` the named one's, and
/// space names after `in(` and `:use`.
#[test]
fn tab_completes_from_every_space_and_space_names() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = pty_session(
        &shared_cache("change_pictures"),
        dir.path(),
        &[
            s("a.txt"),
            "--quiet".into(),
            "--also".into(),
            format!("third={}", s("t.txt")),
        ],
        TIMEOUT_MS,
    );
    expect(&mut p, "a> ").unwrap();
    let typed = |p: &mut rexpect::session::PtySession, text: &str| {
        p.send(text).unwrap();
        p.flush().unwrap();
    };
    // A word of the other space, in a session on a: t20 … t26 are third's alone.
    typed(&mut p, "t2");
    expect(&mut p, "t2").unwrap();
    typed(&mut p, "\t");
    typed(&mut p, "\t");
    expect(&mut p, "t26").expect("third's words are offered");
    // (the list is followed by the line drawn again)
    expect(&mut p, "a> t2").unwrap();
    p.send_control('c').unwrap();
    expect(&mut p, "a> ").unwrap();
    // A space's name after `in(`, then a word of that space.
    typed(&mut p, "let x = in(thi");
    expect(&mut p, "thi").unwrap();
    typed(&mut p, "\t");
    expect(&mut p, "third").expect("in(thi<Tab> names third");
    p.send_line(", t15)").unwrap();
    expect(&mut p, "x = in(third, t15)").unwrap();
    expect(&mut p, PROMPT).unwrap();
    // `:use` completes a space's name.
    typed(&mut p, ":use th");
    expect(&mut p, ":use th").unwrap();
    typed(&mut p, "\t");
    expect(&mut p, "third").expect(":use th<Tab> names third");
    p.send_line("").unwrap();
    expect(&mut p, "* third").unwrap();
    expect(&mut p, &format!("third{PROMPT}")).unwrap();
    ask(&mut p, "in(a, w03)", "w");
    quit(p);
}

/// On a picture across spaces a long label's word is cut, never its space's tag.
#[test]
fn a_cut_label_keeps_its_space() {
    use vecsh::eval::{MapPoint, Role};
    let point = |label: &str, space: &str, x: f64| MapPoint {
        label: format!("{label} ({space})"),
        role: Role::Input,
        x,
        y: x,
        space: Some(space.to_string()),
    };
    let points = [
        point("awful", "glove.6B.50d", 0.0),
        point("incomprehensibilities", "rot", 1.0),
    ];
    let text = vecsh::render::Renderer {
        width: 100,
        ..Default::default()
    }
    .map_in(&points, &[[0, 1]], [0.9, 0.1], Some("rot"));
    assert!(text.contains("awful (glove.6B.50d)"), "{text}");
    assert!(text.contains("incomprehensibili… (rot)"), "{text}");
    assert!(text.contains("in the coordinates of rot"), "{text}");
}

/// The session's banner names a model directory by itself (it said `model.safetensors`), and a
/// file name holding a terminal control escaped.
#[test]
fn the_banner_names_a_model_directory_and_escapes_a_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let evil = dir.path().join("e\u{1b}[2Jvil.txt");
    std::fs::copy(s("c.txt"), &evil).unwrap();
    for (file, banner) in [
        (model("wordpiece"), "wordpiece, 1,225 tokens"),
        (evil, "e\\e[2Jvil.txt, 20 words"),
    ] {
        let mut p = pty_session(
            &shared_cache("change_pictures"),
            dir.path(),
            &[file.as_os_str(), "--quiet".as_ref()],
            TIMEOUT_MS,
        );
        expect(&mut p, banner).unwrap_or_else(|e| panic!("{banner}: {e}"));
        expect(&mut p, PROMPT).unwrap();
        quit(p);
    }
}
