//! Maps and `--restrict` from the command line: `--svg` files and their numbering, `:svg`,
//! `--json` coordinates, plain output when piped, `--restrict N`.

use std::path::{Path, PathBuf};

use crate::util::{shared_cache, tiny};

/// One cache for the file's tests, so the built-in index is built once.
fn cache() -> PathBuf {
    shared_cache("maps_cli")
}

/// Runs vecsh in `dir` (NO_COLOR unset); (stdout, stderr, exit code).
fn vecsh(dir: &Path, args: &[&str]) -> (String, String, i32) {
    let out = crate::util::vecsh(&cache())
        .env_remove("NO_COLOR")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn labels(svg: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    doc.descendants()
        .filter(|n| n.attribute("class") == Some("label"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

#[test]
fn one_map_one_file_several_maps_numbered_files() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tiny();
    let tiny = t.to_str().unwrap();
    let (_, err, code) = vecsh(
        tmp.path(),
        &[tiny, "--svg", "one.svg", "-e", "plot(king, queen)"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(labels(&tmp.path().join("one.svg")), ["king", "queen"]);

    let (_, err, code) = vecsh(
        tmp.path(),
        &[
            tiny,
            "--svg",
            "map.svg",
            "-e",
            "plot(king, queen)",
            "-e",
            "king",
            "-e",
            "arrows(man, king, woman, queen)",
            "-e",
            "plot(apple, k=2)",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!tmp.path().join("map.svg").exists(), "renamed to map-1.svg");
    assert_eq!(labels(&tmp.path().join("map-1.svg")), ["king", "queen"]);
    assert_eq!(
        labels(&tmp.path().join("map-2.svg")),
        ["man", "king", "woman", "queen"]
    );
    assert_eq!(labels(&tmp.path().join("map-3.svg")).len(), 3);
    assert!(!tmp.path().join("map-4.svg").exists());
    // The title is the input.
    let text = std::fs::read_to_string(tmp.path().join("map-2.svg")).unwrap();
    assert!(text.contains("arrows(man, king, woman, queen)"));

    // --svg takes only .svg names, so a slip cannot overwrite a script.
    let (_, err, code) = vecsh(tmp.path(), &[tiny, "--svg", "demo.vsh", "-e", "plot(king)"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected a file name ending in .svg"), "{err}");
}

#[test]
fn svg_command_writes_the_named_file() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tiny();
    let (out, err, code) = vecsh(
        tmp.path(),
        &[
            t.to_str().unwrap(),
            "-e",
            ":svg pair.svg arrows(man, king, woman, queen)",
            "-e",
            ":svg bad.txt plot(king)",
        ],
    );
    assert_eq!(code, 1, "the second line fails");
    assert!(out.contains("king"), "the map is shown too: {out}");
    assert!(
        err.contains("expected a file name ending in .svg, found 'bad.txt'"),
        "{err}"
    );
    assert_eq!(
        labels(&tmp.path().join("pair.svg")),
        ["man", "king", "woman", "queen"]
    );
    assert!(!tmp.path().join("bad.txt").exists());
    // A file that can't be written is an error on that line, not a crash.
    let (_, err, code) = vecsh(
        tmp.path(),
        &[
            t.to_str().unwrap(),
            "-e",
            ":svg no/such/dir/x.svg plot(king)",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("cannot write no/such/dir/x.svg"), "{err}");
}

#[test]
fn json_gives_the_projected_coordinates() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tiny();
    let (out, err, code) = vecsh(
        tmp.path(),
        &[
            t.to_str().unwrap(),
            "--json",
            "-e",
            "plot(king - man + woman, k=2)",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["kind"], "map");
    let points = v["points"].as_array().unwrap();
    let roles: Vec<&str> = points.iter().map(|p| p["role"].as_str().unwrap()).collect();
    assert_eq!(
        roles,
        ["expression", "input", "input", "input", "result", "result"]
    );
    assert!(points.iter().all(|p| p["x"].is_f64() && p["y"].is_f64()));
    let shares: Vec<f64> = v["variance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert!(shares[0] >= shares[1] && shares[0] + shares[1] <= 1.0 + 1e-9);
}

#[test]
fn maps_are_plain_when_piped_and_coloured_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tiny();
    let (out, _, _) = vecsh(
        tmp.path(),
        &[t.to_str().unwrap(), "-e", "plot(king, queen, k=2)"],
    );
    assert!(!out.contains('\u{1b}') && out.contains("╭") && out.contains("of the variance"));
    let (out, _, _) = vecsh(
        tmp.path(),
        &[
            t.to_str().unwrap(),
            "--color",
            "always",
            "-e",
            "plot(king, queen, k=2)",
        ],
    );
    assert!(out.contains('\u{1b}') && out.contains("● input") && out.contains("● result"));
}

#[test]
fn restrict_flag_restricts_every_search() {
    let tmp = tempfile::tempdir().unwrap();
    // On the built-in vocabulary: gensim's most_similar('king', restrict_vocab=1000) starts
    // ii 0.7746, son 0.7667 (tests/fixtures/restrict/gensim-restrict.json).
    let (out, err, code) = vecsh(
        tmp.path(),
        &["--restrict", "1000", "-k", "2", "--json", "-e", "king"],
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let words: Vec<&str> = v["neighbours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["word"].as_str().unwrap())
        .collect();
    assert_eq!(words, ["ii", "son"]);
    // 0 means every word; the map's neighbours are restricted too.
    let (out, _, _) = vecsh(
        tmp.path(),
        &["--restrict", "0", "-k", "1", "-e", "king - man + woman"],
    );
    assert!(out.contains("queen"), "{out}");
    let (out, _, _) = vecsh(
        tmp.path(),
        &[
            "--restrict",
            "1000",
            "--json",
            "-e",
            "plot(king - man + woman, k=3)",
        ],
    );
    assert!(
        !out.contains("\"queen\""),
        "queen is row 2,060: outside the first 1,000: {out}"
    );
}

/// README: "`:restrict N` (flag `--restrict N`; `0` or `off`: every word)": the flag takes
/// `off` like the command, and a bad value says what it expects.
#[test]
fn restrict_flag_takes_off_like_the_command() {
    let tmp = tempfile::tempdir().unwrap();
    let tiny = tiny();
    let tiny = tiny.to_str().unwrap();
    let (all, _, _) = vecsh(tmp.path(), &[tiny, "-k", "3", "-e", "king"]);
    let (off, err, code) = vecsh(
        tmp.path(),
        &[tiny, "--restrict", "off", "-k", "3", "-e", "king"],
    );
    assert_eq!((code, off.as_str()), (0, all.as_str()), "{err}");
    let (_, err, code) = vecsh(tmp.path(), &[tiny, "--restrict", "1e3", "-e", "king"]);
    assert_eq!(code, 2);
    assert!(err.contains("expected a number of words or off"), "{err}");
}

/// When the first of several `--svg` maps could not be written, the second is not reported
/// as a failed rename of a file that never existed: it says which file it could not write.
#[test]
fn an_unwritable_svg_target_names_the_file_each_time() {
    let tmp = tempfile::tempdir().unwrap();
    let tiny = tiny();
    let (_, err, code) = vecsh(
        tmp.path(),
        &[
            tiny.to_str().unwrap(),
            "--svg",
            "nodir/map.svg",
            "-e",
            "plot(king, queen)",
            "-e",
            "plot(man, woman)",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot write nodir/map.svg"), "{err}");
    assert!(err.contains("cannot write nodir/map-2.svg"), "{err}");
    assert!(!err.contains("rename"), "{err}");
}

/// A map shows directions: an expression whose vector is zero (`king - king`) has none, so it
/// is an error at its span, not a point drawn at the origin as if it were a unit vector.
#[test]
fn a_point_without_direction_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for expr in ["plot(king - king, queen)", "arrows(king - king, queen)"] {
        let (stdout, stderr, code) = vecsh(dir.path(), &["-e", expr]);
        assert_eq!(code, 1, "{expr}: {stdout}{stderr}");
        assert!(stderr.contains("no direction"), "{expr}: {stderr}");
        assert!(stdout.is_empty(), "{expr}: {stdout}");
    }
}

#[test]
fn one_point_is_one_unit_vector() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, _, code) = vecsh(dir.path(), &["-e", "plot(king)"]);
    assert_eq!(code, 0);
    assert!(
        stdout.trim_end().ends_with("PCA of 1 unit vector"),
        "{stdout}"
    );
}

/// A file the user already has is never overwritten: not by `--svg FILE`, not by the numbered
/// files of several maps, not by `:svg FILE EXPR`. The map is refused with the file's name (or
/// the first map keeps its name when its numbered name is taken), and the user's file stays.
#[test]
fn svg_never_overwrites_a_file_the_user_has() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tiny();
    let tiny = t.to_str().unwrap();
    let mine = |name: &str| {
        std::fs::write(tmp.path().join(name), "mine").unwrap();
    };
    let kept = |name: &str| std::fs::read_to_string(tmp.path().join(name)).unwrap() == "mine";

    // Refused before anything is drawn (issue 23): a usage error.
    mine("map.svg");
    let (out, err, code) = vecsh(
        tmp.path(),
        &[tiny, "--svg", "map.svg", "-e", "plot(king, queen)"],
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(out, "");
    assert!(err.contains("map.svg already exists"), "{err}");
    assert!(kept("map.svg"));

    // The numbered names: a taken map-1.svg keeps the first map under its own name; a taken
    // map-2.svg refuses the second map and the third goes on to map-3.svg.
    mine("n-1.svg");
    mine("n-2.svg");
    let (out, err, code) = vecsh(
        tmp.path(),
        &[
            tiny,
            "--svg",
            "n.svg",
            "-e",
            "plot(king, queen)",
            "-e",
            "plot(man, woman)",
            "-e",
            "plot(apple, queen)",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(kept("n-1.svg") && kept("n-2.svg"));
    assert_eq!(labels(&tmp.path().join("n.svg")), ["king", "queen"]);
    assert!(err.contains("n-2.svg already exists"), "{err}");
    // A warning, shown even when notes are not (stderr is no terminal here).
    assert!(
        err.contains("n-1.svg already exists"),
        "says why n.svg was not renamed: {out} {err}"
    );
    assert_eq!(labels(&tmp.path().join("n-3.svg")), ["apple", "queen"]);

    mine("pair.svg");
    let (_, err, code) = vecsh(tmp.path(), &[tiny, "-e", ":svg pair.svg plot(king)"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pair.svg already exists"), "{err}");
    assert!(kept("pair.svg"));
}

/// `plot(a, b, k=3, k=4)`: the second `k` is an error at its own span, not silently the winner.
#[test]
fn a_repeated_option_is_an_error_at_the_second() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tiny();
    let line = "plot(king, queen, k=1, k=2)";
    let (out, err, code) = vecsh(
        tmp.path(),
        &[t.to_str().unwrap(), "--color", "never", "-e", line],
    );
    assert_eq!(code, 1, "{out}");
    assert!(err.contains("k is given twice"), "{err}");
    // The caret line sits under `k=2` (the source line is shown indented by two spaces).
    let caret = err
        .lines()
        .find(|l| l.trim_start().starts_with('^'))
        .unwrap();
    assert_eq!(
        caret.find('^').unwrap() - 2,
        line.rfind("k=2").unwrap(),
        "{err}"
    );
    assert_eq!(caret.trim(), "^^^", "{err}");
}

/// `:svg "my map.svg" EXPR` writes a file whose name has spaces; a `--svg` name that is not
/// UTF-8 is written too (and named escaped), not refused by clap's generic message.
#[test]
fn svg_paths_with_spaces_and_non_utf8_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tiny();
    let (out, err, code) = vecsh(
        tmp.path(),
        &[
            t.to_str().unwrap(),
            "-e",
            r#":svg "my map.svg" plot(king, queen)"#,
        ],
    );
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(labels(&tmp.path().join("my map.svg")), ["king", "queen"]);

    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.svg");
        let out = crate::util::vecsh(&cache())
            .current_dir(tmp.path())
            .arg(&t)
            .arg("--svg")
            .arg(name)
            .args(["-e", "plot(king, queen)"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(!text.contains("invalid UTF-8"), "{text}");
        assert_eq!(labels(&tmp.path().join(name)), ["king", "queen"]);
    }
}
